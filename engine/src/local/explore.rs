//! The layer explorer's reading: every layer of an image, entry by entry, marked against the layers below.

use super::LocalError;
use crate::layer::TarIndex;
use crate::layer::erofs::MountedLowers;
use crate::{Engine, Error};

pub use crate::layer::{EntryKind, ImageChanges, LayerChange, LayerEntry, Mark, MergedEntry, path_cmp};

impl Engine {
    /// What each layer of the image adds, modifies and removes, with its wasted space and efficiency as
    /// dive counts them ([`ImageChanges`]). Blocking and proportional to the image's entry count, not its
    /// bytes: a pulled layer is read from its tar index, one made here walked on disk.
    pub fn layer_changes(&self, name_or_id: &str) -> Result<ImageChanges, Error> {
        let image = self.image(name_or_id)?;
        let mut layers = Vec::with_capacity(image.layers.len());
        for chain_id in &image.layers {
            layers.push(self.layer_entries(chain_id)?);
        }
        Ok(ImageChanges::compute(layers))
    }

    fn layer_entries(&self, chain_id: &str) -> Result<Vec<LayerEntry>, Error> {
        let store = self.store();
        let err = |source| LocalError::Entries { what: format!("layer {chain_id}"), source: Box::new(source) };
        let index = store.layer_index(chain_id);
        if TarIndex::open(&index).map_err(err)?.is_some() {
            return Ok(crate::layer::entries_from_index(&index).map_err(err)?);
        }
        let path = store.layer_path(chain_id);
        if path.is_file() {
            let mounted = MountedLowers::mount(std::slice::from_ref(&path)).map_err(err)?;
            let root = mounted.paths().first().cloned().unwrap_or_default();
            return Ok(crate::layer::entries_from_dir(&root).map_err(err)?);
        }
        Ok(crate::layer::entries_from_dir(&path).map_err(err)?)
    }
}
