//! Image operations beyond pulling, shaped the way Docker reports them (the CLI and the API server share them).

use serde_json::{Value, json};

use crate::store::{ImageRecord, PruneReport, RemovedImage, StoreError};
use crate::{Engine, Error, reference::Reference};

/// One row of `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUsage {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    /// Bytes on disk, shared layers counted once.
    pub size: u64,
    pub reclaimable: u64,
}

impl Engine {
    pub fn list_images(&self) -> Result<Vec<ImageRecord>, Error> {
        Ok(self.store().list_images()?)
    }

    pub fn image(&self, name_or_id: &str) -> Result<ImageRecord, Error> {
        Ok(self.store().find_image(name_or_id)?)
    }

    /// `docker image inspect` JSON for one image.
    pub fn inspect_image(&self, name_or_id: &str) -> Result<Value, Error> {
        let image = self.image(name_or_id)?;
        let store = self.store();
        let mut lower: Vec<String> =
            image.layers.iter().rev().map(|c| store.layer_dir(c).to_string_lossy().into_owned()).collect();
        if lower.is_empty() {
            lower.push(String::new());
        }
        let config = &image.config;
        let mut out = json!({
            "Id": image.id,
            "RepoTags": image.repo_tags,
            "RepoDigests": image.repo_digests,
            "Parent": "",
            "Comment": config.history().as_ref().and_then(|h| h.last()).and_then(|h| h.comment().clone()).unwrap_or_default(),
            "Created": image.created.clone().unwrap_or_default(),
            "DockerVersion": "",
            "Author": config.author().clone().unwrap_or_default(),
            "Config": config.config().as_ref().map(serde_json::to_value).transpose().map_err(|e| {
                StoreError::CorruptImage { id: image.id.clone(), reason: format!("config: {e}") }
            })?,
            "Architecture": image.architecture,
            "Os": image.os,
            "Size": image.size,
            "GraphDriver": { "Name": "overlay", "Data": { "LowerDir": lower.join(":") } },
            "RootFS": { "Type": "layers", "Layers": config.rootfs().diff_ids() },
            "Metadata": { "LastTagTime": image.pulled_at },
            "Descriptor": { "mediaType": image.manifest_media_type, "digest": image.manifest_digest },
        });
        if let Some(variant) = &image.variant {
            out["Variant"] = json!(variant);
        }
        Ok(out)
    }

    pub fn tag_image(&self, source: &str, target: &str) -> Result<(), Error> {
        let target = Reference::parse(target)?;
        Ok(self.store().tag_image(source, &target)?)
    }

    pub fn remove_image(&self, name_or_id: &str, force: bool) -> Result<Vec<RemovedImage>, Error> {
        // Removing one of several tags leaves the image; anything else would delete an image a container runs.
        let image = self.image(name_or_id)?;
        let by_id = image.id.trim_start_matches("sha256:").starts_with(name_or_id.trim_start_matches("sha256:"));
        if by_id || image.repo_tags.len() <= 1 {
            self.ensure_image_unused(&image.id, name_or_id)?;
        }
        Ok(self.store().remove_image(name_or_id, force)?)
    }

    pub fn prune_images(&self, all: bool) -> Result<PruneReport, Error> {
        Ok(self.store().prune_images(all)?)
    }

    /// `system df`: what images take on disk and how much of it nothing needs.
    pub fn disk_usage(&self) -> Result<Vec<DiskUsage>, Error> {
        let images = self.list_images()?;
        let mut chains: Vec<&String> = images.iter().flat_map(|i| &i.layers).collect();
        chains.sort();
        chains.dedup();
        let mut size = 0;
        for chain in chains {
            size += self.store().layer(chain)?.map_or(0, |l| l.size);
        }
        Ok(vec![DiskUsage { kind: "Images", total: images.len(), active: 0, size, reclaimable: size }])
    }

    /// The records of an image's layers, bottom first; `None` for one the store lacks.
    pub fn image_layers(&self, image: &ImageRecord) -> Result<Vec<Option<crate::store::LayerRecord>>, Error> {
        Ok(image.layers.iter().map(|chain| self.store().layer(chain)).collect::<Result<_, _>>()?)
    }
}
