//! Manifest media types, how a fetched manifest is recognised, and how an index entry is picked.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;

use super::{Platform, RegistryError};
pub(crate) use crate::digest::sha256_digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The `Accept` header of manifest requests: every type berth can pull.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Annotation BuildKit puts on index entries that hold attestations rather than runnable images.
const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// What a fetched manifest document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ManifestKind {
    /// A single image: config plus layers.
    Image,
    /// A list of images, one per platform.
    Index,
}

fn kind_of(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// Identifies a manifest from its `Content-Type`, or from the document's own `mediaType` field when
/// the header is missing or generic (some registries and proxies send `application/json`).
/// Returns the media type that identified it along with its kind.
pub(crate) fn classify(
    reference: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(String, ManifestKind), RegistryError> {
    let header = content_type.map(|ct| ct.split(';').next().unwrap_or(ct).trim().to_ascii_lowercase());
    if let Some(header) = &header
        && let Some(kind) = kind_of(header)
    {
        return Ok((header.clone(), kind));
    }
    #[derive(Deserialize)]
    struct MediaTypeField {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let field = serde_json::from_slice::<MediaTypeField>(body).ok().and_then(|f| f.media_type);
    if let Some(field) = &field
        && let Some(kind) = kind_of(field)
    {
        return Ok((field.clone(), kind));
    }
    let media_type = match (field, header) {
        (Some(field), _) => field,
        (None, Some(header)) if !header.is_empty() => header,
        _ => "none given".to_string(),
    };
    Err(RegistryError::UnsupportedMediaType { reference: reference.to_string(), media_type })
}

/// Reads an index (or Docker manifest list) whose digest is `digest`.
pub(crate) fn read_index(reference: &str, digest: &str, body: &[u8]) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::BadManifest {
        reference: reference.to_string(),
        reason: format!("index {digest} does not parse: {e}"),
    })
}

/// Reads an image manifest (OCI or Docker v2s2) whose digest is `digest`.
pub(crate) fn read_manifest(reference: &str, digest: &str, body: &[u8]) -> Result<ImageManifest, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::BadManifest {
        reference: reference.to_string(),
        reason: format!("manifest {digest} does not parse: {e}"),
    })
}

/// Reads an image config. Its diff IDs must be sha256 digests: the first one names the layer's directory
/// in the store, so anything else (a path, say) is refused here rather than met as a path later.
pub(crate) fn read_config(reference: &str, digest: &str, body: &[u8]) -> Result<ImageConfiguration, RegistryError> {
    let bad = |reason: String| RegistryError::BadConfig {
        reference: reference.to_string(),
        digest: digest.to_string(),
        reason,
    };
    let config: ImageConfiguration = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if let Some(diff_id) = config.rootfs().diff_ids().iter().find(|d| !crate::reference::is_valid_digest(d)) {
        return Err(bad(format!("diff ID {diff_id:?} is not a sha256 digest")));
    }
    Ok(config)
}

/// The index entry to pull for `wanted`, skipping attestation entries. When none fits, the error lists
/// the platforms the index does offer.
pub(crate) fn select_platform<'a>(
    reference: &str,
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<&'a Descriptor, RegistryError> {
    let mut available = Vec::new();
    for entry in index.manifests() {
        if is_attestation(entry) {
            continue;
        }
        let Some(p) = entry.platform() else { continue };
        let platform = Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref());
        if wanted.matches(&platform) {
            return Ok(entry);
        }
        available.push(platform.to_string());
    }
    Err(RegistryError::NoPlatform { reference: reference.to_string(), wanted: wanted.to_string(), available })
}

fn is_attestation(entry: &Descriptor) -> bool {
    let annotated = entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE_ANNOTATION))
        .is_some_and(|t| t == ATTESTATION_MANIFEST);
    let unknown = entry
        .platform()
        .as_ref()
        .is_some_and(|p| p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown");
    annotated || unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn index() -> ImageIndex {
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": D3, "size": 500,
                 "platform": {"architecture": "unknown", "os": "unknown"}},
                {"mediaType": OCI_MANIFEST, "digest": D3, "size": 500,
                 "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                 "vnd.docker.reference.digest": D2},
                 "platform": {"architecture": "arm64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": D1, "size": 500,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": D2, "size": 500,
                 "platform": {"architecture": "arm64", "os": "linux"}},
            ]
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn picks_the_matching_platform_and_skips_attestations() {
        let index = index();
        let pick =
            |p: &str| select_platform("ref", &index, &Platform::parse(p).unwrap()).map(|d| d.digest().to_string());
        assert_eq!(pick("linux/amd64").unwrap(), D1);
        assert_eq!(pick("linux/arm64/v8").unwrap(), D2);
        assert_eq!(pick("linux/aarch64").unwrap(), D2);
    }

    #[test]
    fn no_match_lists_available_platforms() {
        let err =
            select_platform("127.0.0.1:5000/app:1", &index(), &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("127.0.0.1:5000/app:1")
                && msg.contains("linux/s390x")
                && msg.contains("available: linux/amd64, linux/arm64/v8"),
            "{msg}"
        );
        assert!(!msg.contains("unknown"), "{msg}");
    }

    #[test]
    fn media_type_from_header_then_body() {
        let body = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[]}}"#);
        let got = classify("r", Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"), b"{}").unwrap();
        assert_eq!(got, (OCI_MANIFEST.to_string(), ManifestKind::Image));
        let got = classify("r", Some("application/json"), body.as_bytes()).unwrap();
        assert_eq!(got, (DOCKER_MANIFEST_LIST.to_string(), ManifestKind::Index));
        let got = classify("r", None, body.as_bytes()).unwrap();
        assert_eq!(got.1, ManifestKind::Index);
    }

    #[test]
    fn unknown_media_type_names_type_and_reference() {
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let err = classify("host/app:old", Some(schema1), br#"{"schemaVersion":1}"#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("host/app:old") && msg.contains(schema1), "{msg}");
        let err = classify("host/app:x", Some("text/plain"), br#"{"mediaType":"application/x-thing"}"#).unwrap_err();
        assert!(err.to_string().contains("application/x-thing"), "{err}");
        let err = classify("host/app:x", None, b"not json").unwrap_err();
        assert!(err.to_string().contains("none given"), "{err}");
    }

    #[test]
    fn digest_of_bytes() {
        assert_eq!(sha256_digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
