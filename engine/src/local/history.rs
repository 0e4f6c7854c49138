//! `history`: an image's history entries, newest first, as `docker history` lists them.

use crate::{Engine, Error};

/// One line of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image this entry made, when berth knows one (`<missing>` otherwise, as Docker prints it).
    pub id: Option<String>,
    /// That image's tags, familiar form.
    pub tags: Vec<String>,
    pub created: Option<String>,
    pub created_by: String,
    pub comment: String,
    /// Bytes of the entry's layer; 0 for an `empty_layer` entry.
    pub size: u64,
    pub empty_layer: bool,
}

impl Engine {
    /// Docker's `history`: the config's history, newest first, each non-empty entry with its layer's size.
    /// The newest entry carries the image's ID and the next ones its parents' (images made here from
    /// another local image), as Docker's image store does; the rest are `<missing>`.
    pub fn image_history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, Error> {
        let image = self.image(name_or_id)?;
        let store = self.store();
        let mut layers = image.layers.iter();
        let mut entries = Vec::new();
        for h in image.config.history().iter().flatten() {
            let empty_layer = h.empty_layer().unwrap_or(false);
            let size = match (empty_layer, layers.next()) {
                (false, Some(chain)) => store.layer(chain)?.map_or(0, |l| l.size),
                _ => 0,
            };
            entries.push(HistoryEntry {
                id: None,
                tags: Vec::new(),
                created: h.created().clone(),
                created_by: h.created_by().clone().unwrap_or_default(),
                comment: h.comment().clone().unwrap_or_default(),
                size,
                empty_layer,
            });
        }
        entries.reverse();
        let mut current = Some(image);
        for entry in &mut entries {
            let Some(img) = current.take() else { break };
            entry.id = Some(img.id.clone());
            entry.tags = img.repo_tags.clone();
            current = match store.image_parent(&img.id)? {
                Some(parent) => store.image(&parent).ok(),
                None => None,
            };
        }
        Ok(entries)
    }
}
