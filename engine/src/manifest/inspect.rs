//! `manifest inspect`: a local list first, then the registry's manifest or index, printed as Docker
//! prints them. Without `--verbose`: an image manifest's own bytes indented by tabs, an index by three
//! spaces (a local list as the index it would push). With it: Docker's `ImageManifest` objects (`Ref`,
//! `Descriptor` with the platform, `Raw` base64, and the manifest under `SchemaV2Manifest` or
//! `OCIManifest`), one for an image, an array for a list or index.

use super::json::indent;
use super::{ListEntry, ManifestError, PlatformSpec, index};
use crate::reference::Reference;
use crate::registry::DOCKER_MANIFEST;
use crate::{Engine, Error};

/// Entries of an index that hold no runnable image (BuildKit's attestations).
const UNKNOWN: &str = "unknown";

impl Engine {
    /// The text `manifest inspect [--verbose] REF` prints.
    pub async fn manifest_inspect(&self, reference: &str, verbose: bool) -> Result<String, Error> {
        let r = Reference::parse(reference)?;
        if let Some(entries) = self.list_entries(&r.to_string())? {
            if verbose {
                return Ok(verbose_list(&entries));
            }
            let (_, bytes) = index::document(&r.to_string(), &entries)?;
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        let registry = self.registry()?;
        let doc = registry
            .manifest_document(&r)
            .await
            .map_err(|source| ManifestError::Registry { image: r.to_string(), source: Box::new(source) })?;
        if !doc.is_index {
            if !verbose {
                return Ok(indent(&doc.bytes, "\t"));
            }
            let entry = self.remote_entry(&r.with_digest(&doc.digest)).await?;
            let entry = entry.ok_or_else(|| ManifestError::IsList { image: reference.to_string() })?;
            return Ok(indent(verbose_entry(&entry).as_bytes(), "\t"));
        }
        if !verbose {
            return Ok(indent(&doc.bytes, "   "));
        }
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&doc.bytes).map_err(|e| {
            let reason = format!("index {} does not parse: {e}", doc.digest);
            ManifestError::Registry {
                image: r.to_string(),
                source: Box::new(crate::registry::RegistryError::BadManifest { reference: r.to_string(), reason }),
            }
        })?;
        let mut entries = Vec::new();
        for child in index.manifests() {
            let platform = child.platform().as_ref().map(|p| PlatformSpec {
                architecture: p.architecture().to_string(),
                os: p.os().to_string(),
                os_version: p.os_version().clone(),
                os_features: p.os_features().clone().unwrap_or_default(),
                variant: p.variant().clone(),
            });
            if platform.as_ref().is_some_and(|p| p.os == UNKNOWN && p.architecture == UNKNOWN) {
                continue;
            }
            let Some(mut entry) = self.remote_entry(&r.with_digest(child.digest().as_ref())).await? else {
                continue;
            };
            if platform.is_some() {
                entry.descriptor.platform = platform;
            }
            entries.push(entry);
        }
        Ok(verbose_list(&entries))
    }

    /// The text `manifest inspect LIST IMAGE` prints: one entry of a local list, as Docker's verbose
    /// form without `--verbose` shows the manifest's own bytes.
    pub fn manifest_inspect_entry(&self, list: &str, image: &str, verbose: bool) -> Result<String, Error> {
        let name = Reference::parse(list)?.to_string();
        let reference = Reference::parse(image)?.to_string();
        let entries = self.list_entries(&name)?.ok_or_else(|| ManifestError::NoSuchList { name: name.clone() })?;
        let entry = entries
            .iter()
            .find(|e| e.reference == reference)
            .ok_or_else(|| ManifestError::NoSuchList { name: format!("{name} {reference}") })?;
        Ok(match verbose {
            true => indent(verbose_entry(entry).as_bytes(), "\t"),
            false => indent(&entry.raw_bytes(), "\t"),
        })
    }
}

fn verbose_list(entries: &[ListEntry]) -> String {
    let items: Vec<String> = entries.iter().map(verbose_entry).collect();
    indent(format!("[{}]", items.join(",")).as_bytes(), "\t")
}

/// Docker's `ImageManifest` JSON for one entry, the manifest embedded as its own bytes.
fn verbose_entry(entry: &ListEntry) -> String {
    let key = if entry.descriptor.media_type == DOCKER_MANIFEST { "SchemaV2Manifest" } else { "OCIManifest" };
    let raw = entry.raw_bytes();
    format!(
        "{{\"Ref\":{},\"Descriptor\":{},\"Raw\":{},\"{key}\":{}}}",
        compact(&entry.reference),
        compact(&entry.descriptor),
        compact(&entry.raw),
        String::from_utf8_lossy(&raw)
    )
}

/// A value as compact JSON (strings and descriptors, which always serialize).
fn compact<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
