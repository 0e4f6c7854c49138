//! `diff`: what a container changed over its image, in `docker diff`'s A/C/D lines.

use super::{LocalError, container_pack_options};
use crate::{Engine, Error};

pub use crate::layer::ChangeKind;

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute in the container (`/etc/passwd`).
    pub path: String,
}

impl Change {
    /// Docker's letter: A added, C changed, D deleted.
    pub fn letter(&self) -> char {
        match self.kind {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl Engine {
    /// Docker's `diff`: the container's upper against its image's layers, running or not.
    pub fn container_diff(&self, container: &str) -> Result<Vec<Change>, Error> {
        let rec = self.container(container)?;
        let store = self.store();
        let upper = rec.dir(store.root()).join("upper");
        if !upper.exists() {
            return Ok(Vec::new());
        }
        let image = store.image(&rec.image_id)?;
        let lowers = self.image_lowers(&image)?;
        let changes = crate::layer::changes(&upper, lowers.paths(), &container_pack_options(None))
            .map_err(|source| LocalError::Layer { what: format!("container {}", rec.name), source })?;
        Ok(changes.into_iter().map(|(path, kind)| Change { kind, path: format!("/{}", path.display()) }).collect())
    }
}
