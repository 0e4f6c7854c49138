//! `save`: Docker 25's archive. An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…` with
//! each image's config, uncompressed layer tars and an OCI manifest) plus docker's own `manifest.json`
//! (`Config`, `RepoTags`, `Layers` as paths into `blobs/`) and `repositories`, so both docker-archive and
//! OCI readers (podman, skopeo, containerd) load it.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use serde_json::{Value, json};

use super::ArchiveError;
use super::tarfile::TarWriter;
use crate::reference::Reference;
use crate::store::{ImageRecord, LayerRecord};
use crate::{Engine, Error};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// One image to save with the names it is saved under.
struct Saved {
    image: ImageRecord,
    layers: Vec<LayerRecord>,
    tags: Vec<Reference>,
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest, "size": size})
}

impl Engine {
    /// Docker's `save`: writes the named images (names, IDs or ID prefixes) as one archive to `out`. A
    /// name that is a tag is saved under that tag; an ID under none. Layers shared by several images are
    /// written once.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<(), Error> {
        let store = self.store();
        // Held shared, as a pull does: nothing the archive needs is collected while it is written.
        let _gc = store.gc_shared_lock()?;
        let mut saved: Vec<Saved> = Vec::new();
        for name in names {
            let image = store.find_image(name)?;
            let tag = Reference::parse(name)
                .ok()
                .filter(|r| r.digest.is_none())
                .map(|r| r.with_tag(r.tag.as_deref().unwrap_or("latest")))
                .filter(|r| r.familiar_tagged().is_some_and(|t| image.repo_tags.contains(&t)));
            match saved.iter_mut().find(|s| s.image.id == image.id) {
                Some(s) => s.tags.extend(tag.filter(|t| !s.tags.contains(t))),
                None => {
                    let layers = store.image_layers(&image.id)?;
                    saved.push(Saved { image, layers, tags: tag.into_iter().collect() });
                }
            }
        }
        // Every layer's tar length first: the archive's headers need them, and a layer that cannot give
        // its exact tar fails the save before anything is written.
        let mut lengths: BTreeMap<String, u64> = BTreeMap::new();
        for layer in saved.iter().flat_map(|s| &s.layers) {
            if !lengths.contains_key(&layer.diff_id) {
                lengths.insert(layer.diff_id.clone(), self.layer_tar_len(layer)?);
            }
        }

        let write_err = |source| Error::from(ArchiveError::Write { source });
        let mut tar = TarWriter::new(std::io::BufWriter::with_capacity(1 << 20, out));
        tar.dir("blobs/").map_err(write_err)?;
        tar.dir("blobs/sha256/").map_err(write_err)?;
        let mut written: HashSet<String> = HashSet::new();
        let mut index = Vec::new();
        let mut docker_manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for s in &saved {
            for layer in &s.layers {
                if written.insert(layer.diff_id.clone()) {
                    let len = lengths[&layer.diff_id];
                    tar.stream(&blob_path(&layer.diff_id), len, |w| self.write_layer_tar(layer, w), write_err)?;
                }
            }
            let config = store.blobs().get(&s.image.id)?;
            if written.insert(s.image.id.clone()) {
                tar.file(&blob_path(&s.image.id), &config).map_err(write_err)?;
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, &s.image.id, config.len() as u64),
                "layers": s.layers.iter().map(|l| descriptor(OCI_LAYER, &l.diff_id, lengths[&l.diff_id])).collect::<Vec<_>>(),
            });
            let manifest = serde_json::to_vec(&manifest).map_err(|e| write_err(e.into()))?;
            let manifest_digest = crate::digest::sha256_digest(&manifest);
            if written.insert(manifest_digest.clone()) {
                tar.file(&blob_path(&manifest_digest), &manifest).map_err(write_err)?;
            }
            let manifest_descriptor = descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64);
            if s.tags.is_empty() {
                index.push(manifest_descriptor.clone());
            }
            for tag in &s.tags {
                let mut entry = manifest_descriptor.clone();
                entry["annotations"] = json!({
                    "io.containerd.image.name": tag.to_string(),
                    "org.opencontainers.image.ref.name": tag.tag.clone().unwrap_or_default(),
                });
                index.push(entry);
                if let Some(top) = s.layers.last() {
                    repositories
                        .entry(tag.familiar_name())
                        .or_default()
                        .insert(tag.tag.clone().unwrap_or_default(), top.diff_id.trim_start_matches("sha256:").into());
                }
            }
            docker_manifest.push(json!({
                "Config": blob_path(&s.image.id),
                "RepoTags": if s.tags.is_empty() { Value::Null } else { json!(s.tags.iter().filter_map(Reference::familiar_tagged).collect::<Vec<_>>()) },
                "Layers": s.layers.iter().map(|l| blob_path(&l.diff_id)).collect::<Vec<_>>(),
            }));
        }
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
        let to_vec = |v: &Value| serde_json::to_vec(v).map_err(|e| write_err(e.into()));
        tar.file("index.json", &to_vec(&index)?).map_err(write_err)?;
        tar.file("manifest.json", &to_vec(&json!(docker_manifest))?).map_err(write_err)?;
        tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(write_err)?;
        if !repositories.is_empty() {
            tar.file("repositories", &to_vec(&json!(repositories))?).map_err(write_err)?;
        }
        tar.finish().map_err(write_err)?;
        Ok(())
    }
}
