//! The index document a list becomes: Docker's manifest list when every image is a Docker v2 schema 2
//! manifest (as `docker manifest push` makes it), an OCI index otherwise. Entries keep the list's order.

use serde::Serialize;

use super::{ListEntry, ManifestError, PlatformSpec};
use crate::registry::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX};

#[derive(Serialize)]
struct Index<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<IndexEntry<'a>>,
}

/// Field order as Docker's manifest list writes it.
#[derive(Serialize)]
struct IndexEntry<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: &'a str,
    platform: &'a PlatformSpec,
}

/// The index's media type and bytes (indented by three spaces, as Docker's are).
pub(super) fn document(name: &str, entries: &[ListEntry]) -> Result<(String, Vec<u8>), ManifestError> {
    let docker = entries.iter().all(|e| e.descriptor.media_type == DOCKER_MANIFEST);
    let media_type = if docker { DOCKER_MANIFEST_LIST } else { OCI_INDEX };
    let mut manifests = Vec::new();
    for entry in entries {
        let platform = entry
            .descriptor
            .platform
            .as_ref()
            .filter(|p| !p.os.is_empty() && !p.architecture.is_empty())
            .ok_or_else(|| ManifestError::NoPlatform { image: entry.reference.clone() })?;
        manifests.push(IndexEntry {
            media_type: &entry.descriptor.media_type,
            size: entry.descriptor.size,
            digest: &entry.descriptor.digest,
            platform,
        });
    }
    let index = Index { schema_version: 2, media_type, manifests };
    let mut bytes = Vec::new();
    let mut writer =
        serde_json::Serializer::with_formatter(&mut bytes, serde_json::ser::PrettyFormatter::with_indent(b"   "));
    index
        .serialize(&mut writer)
        .map_err(|e| ManifestError::Corrupt { name: name.to_string(), reason: e.to_string() })?;
    Ok((media_type.to_string(), bytes))
}
