//! Which store new layers go to: EROFS images where the kernel mounts file-backed EROFS, else unpacked
//! directories. Layers already stored keep their form (see [`Store::layer_path`]).

use std::sync::OnceLock;

use super::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerDriver {
    /// Each layer unpacked into a directory, an overlay lowerdir as it is.
    Dir,
    /// Each layer one EROFS image file, mounted read-only when a container needs it.
    Erofs,
}

impl Store {
    /// The driver the `layer_store` setting (`auto`, `dir` or `erofs`, checked by the config) asks for;
    /// `auto` probes the kernel once per process.
    pub fn layer_driver(&self, setting: &str) -> LayerDriver {
        static PROBED: OnceLock<bool> = OnceLock::new();
        match setting {
            "dir" => LayerDriver::Dir,
            "erofs" => LayerDriver::Erofs,
            _ => {
                let erofs = *PROBED.get_or_init(|| {
                    crate::layer::erofs::probe(&self.root.join("tmp")).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot probe for file-backed EROFS; storing layers as directories");
                        false
                    })
                });
                if erofs { LayerDriver::Erofs } else { LayerDriver::Dir }
            }
        }
    }
}
