//! `manifest push`: every image of the list into the target repository by digest, then the index under
//! the list's tag. A local image goes through the image push (`Engine::push_image`: blobs found, mounted
//! or uploaded, its manifest by digest); an image only the registry has must live on the target's
//! registry, and when it is in another repository its blobs are mounted and its manifest put there (as
//! Docker does). The registry's Docker-Content-Digest is checked for each manifest and for the index.

use bytes::Bytes;

use super::{ListEntry, ManifestError, index};
use crate::reference::Reference;
use crate::registry::{MountOutcome, Registry};
use crate::{Engine, Error};

/// What a `manifest push` did.
#[derive(Debug, Clone)]
pub struct ManifestPushed {
    /// `name@digest` of each image manifest put into the target repository, with its digest.
    pub refs: Vec<(String, String)>,
    /// The index's digest.
    pub digest: String,
}

impl Engine {
    /// `manifest push [--purge] LIST [DEST]`: pushes the local list to DEST (the list's own name by
    /// default). With `purge` the local list goes once the index is pushed; otherwise its entries keep
    /// the descriptors the push used.
    pub async fn manifest_push(&self, list: &str, dest: Option<&str>, purge: bool) -> Result<ManifestPushed, Error> {
        let name = Reference::parse(list)?.to_string();
        let mut entries = self.list_entries(&name)?.ok_or_else(|| ManifestError::NoSuchList { name: name.clone() })?;
        if entries.is_empty() {
            return Err(ManifestError::Empty { name }.into());
        }
        let target = Reference::parse(dest.unwrap_or(list))?;
        // Refused before anything is sent: an entry without a platform, or from another registry.
        index::document(&name, &entries)?;
        for entry in entries.iter().filter(|e| e.image_id.is_none()) {
            let source = Reference::parse(&entry.reference)?;
            if source.registry != target.registry {
                return Err(
                    ManifestError::OtherRegistry { from: source.registry, target: target.registry.clone() }.into()
                );
            }
        }
        let registry = self.registry()?;
        let mut refs = Vec::new();
        for entry in &mut entries {
            if let Some(pushed) = self.push_entry(&registry, &name, &target, entry).await? {
                refs.push(pushed);
            }
        }
        let (media_type, bytes) = index::document(&name, &entries)?;
        let digest = registry
            .push_manifest(&target, &media_type, Bytes::from(bytes))
            .await
            .map_err(|source| ManifestError::Registry { image: target.to_string(), source: Box::new(source) })?;
        match purge {
            true => {
                self.store()
                    .remove_manifest_list(&name)
                    .map_err(|source| ManifestError::Store { name: name.clone(), source })?;
            }
            false => self.save_list(&name, &entries)?,
        }
        Ok(ManifestPushed { refs, digest })
    }

    /// Puts one entry's image into the target repository; the `name@digest` and digest it put, or None
    /// when the image is already in that repository.
    async fn push_entry(
        &self,
        registry: &Registry,
        list: &str,
        target: &Reference,
        entry: &mut ListEntry,
    ) -> Result<Option<(String, String)>, Error> {
        if let Some(id) = &entry.image_id {
            let image = self.store().image(id).map_err(|_| ManifestError::ImageGone {
                list: list.to_string(),
                image: entry.reference.clone(),
                id: id.clone(),
            })?;
            let pushed = self.push_image(registry, target.clone(), image, true).await?;
            let raw = self.store().blobs().get(&pushed.digest).ok();
            entry.descriptor.media_type = pushed.media_type;
            entry.descriptor.digest = pushed.digest.clone();
            entry.descriptor.size = pushed.size as u64;
            if let Some(raw) = raw {
                entry.raw = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
            }
            return Ok(Some((format!("{}@{}", target.name(), pushed.digest), pushed.digest)));
        }
        let source = Reference::parse(&entry.reference)?;
        if source.repository == target.repository {
            return Ok(None);
        }
        let registry_err =
            |source| ManifestError::Registry { image: entry.reference.clone(), source: Box::new(source) };
        let raw = entry.raw_bytes();
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&raw).map_err(|e| {
            ManifestError::Corrupt { name: list.to_string(), reason: format!("manifest of {}: {e}", entry.reference) }
        })?;
        let blobs = std::iter::once(manifest.config()).chain(manifest.layers()).map(|d| d.digest().to_string());
        for blob in blobs {
            if registry.blob_exists(target, &blob).await.map_err(registry_err)? {
                continue;
            }
            if registry.mount_blob(target, &blob, &source.repository).await.map_err(registry_err)?
                != MountOutcome::Mounted
            {
                return Err(
                    ManifestError::Mount { blob: format!("{}@{blob}", source.name()), target: target.name() }.into()
                );
            }
        }
        let by_digest = target.with_digest(&entry.descriptor.digest);
        let digest = registry
            .push_manifest(&by_digest, &entry.descriptor.media_type, Bytes::from(raw))
            .await
            .map_err(registry_err)?;
        Ok(Some((by_digest.to_string(), digest)))
    }
}
