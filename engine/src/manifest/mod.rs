//! `berth manifest`: Docker's manifest verbs. A local list (`create`, `annotate`, `rm`) names images, each
//! with the descriptor an index entry will carry (media type, digest, size, platform) and its manifest's
//! bytes; `push` sends the images the registry lacks and then the index over them; `inspect` shows a
//! local list, or a registry's manifest or index.
//!
//! Docker looks its images up only in registries. berth first looks for a local image of the name, so an
//! image built or committed here can be a list entry before it was ever pushed: its manifest is made as
//! a push would make it (layer blobs compressed once and kept), and `manifest push` pushes the image by
//! digest before the index.

mod index;
mod inspect;
mod json;
mod push;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::images::ImageRecord;
use crate::reference::Reference;
use crate::registry::RegistryError;
use crate::store::StoreError;
use crate::{Engine, Error};

pub use push::ManifestPushed;

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("No such manifest: {name}")]
    NoSuchList { name: String },
    #[error("refusing to amend an existing manifest list with no --amend flag")]
    Exists { name: String },
    #[error("{image} is a manifest list")]
    IsList { image: String },
    #[error("manifest for image {image} does not exist in {list}")]
    NotInList { image: String, list: String },
    #[error("manifest entry for image has unsupported os/arch combination: {os}/{arch}")]
    BadPlatform { os: String, arch: String },
    #[error("manifest {image} must have an OS and Architecture to be pushed to a registry")]
    NoPlatform { image: String },
    #[error("cannot use source images from a different registry than the target image: {from} != {target}")]
    OtherRegistry { from: String, target: String },
    #[error("error mounting {blob} to {target}: the registry started an upload instead")]
    Mount { blob: String, target: String },
    #[error("{name} not found")]
    Empty { name: String },
    /// Several failures of one command (`rm` of several lists), one per line.
    #[error("{messages}")]
    Several { messages: String },
    #[error("manifest list {name}: {reason}")]
    Corrupt { name: String, reason: String },
    #[error("manifest list {list}: image {image} ({id}) is no longer stored")]
    ImageGone { list: String, image: String, id: String },
    #[error("{image}: {source}")]
    Registry { image: String, source: Box<RegistryError> },
    #[error("manifest list {name}: {source}")]
    Store { name: String, source: StoreError },
}

impl From<ManifestError> for Error {
    fn from(e: ManifestError) -> Self {
        Error::Manifest(Box::new(e))
    }
}

/// An index entry's platform, under the OCI field names (`os.version`, `os.features`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A manifest as an index (or `manifest inspect --verbose`) names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
}

/// One image of a local list, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ListEntry {
    /// The image's full reference, as `create` was given it.
    #[serde(rename = "Ref")]
    pub reference: String,
    /// A local image's ID; None for an image only the registry has.
    #[serde(rename = "ImageID", default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(rename = "Descriptor")]
    pub descriptor: Descriptor,
    /// The manifest's bytes, base64 (as Docker's `Raw`).
    #[serde(rename = "Raw")]
    pub raw: String,
}

impl ListEntry {
    fn raw_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(&self.raw).unwrap_or_default()
    }
}

/// What `manifest annotate` sets; empty fields leave the entry's value.
#[derive(Debug, Clone, Default)]
pub struct Annotation {
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    pub os_version: Option<String>,
    pub os_features: Vec<String>,
}

/// Operating systems and architectures Go (and so Docker) knows; `annotate` refuses others.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];
const KNOWN_ARCH: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "riscv64",
    "s390x", "wasm",
];

impl Engine {
    /// `manifest create [--amend] LIST IMAGE...`: records (or with `amend` extends) the local list and
    /// returns its full name. An image named again replaces its entry.
    pub async fn manifest_create(&self, list: &str, images: &[String], amend: bool) -> Result<String, Error> {
        let name = Reference::parse(list)?.to_string();
        let mut entries = match self.list_entries(&name)? {
            Some(_) if !amend => return Err(ManifestError::Exists { name }.into()),
            Some(entries) => entries,
            None => Vec::new(),
        };
        for image in images {
            let entry = self.list_entry(image).await?;
            entries.retain(|e| e.reference != entry.reference);
            entries.push(entry);
        }
        self.save_list(&name, &entries)?;
        Ok(name)
    }

    /// `manifest annotate LIST IMAGE`: changes the platform an image's index entry carries.
    pub fn manifest_annotate(&self, list: &str, image: &str, annotation: &Annotation) -> Result<(), Error> {
        let name = Reference::parse(list)?.to_string();
        let reference = Reference::parse(image)?.to_string();
        let not_in_list = || ManifestError::NotInList { image: image.to_string(), list: list.to_string() };
        let mut entries = self.list_entries(&name)?.ok_or_else(not_in_list)?;
        let entry = entries.iter_mut().find(|e| e.reference == reference).ok_or_else(not_in_list)?;
        let platform = entry.descriptor.platform.get_or_insert_with(PlatformSpec::default);
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                *field = v.to_string();
            }
        };
        set(&mut platform.os, &annotation.os);
        set(&mut platform.architecture, &annotation.arch);
        for feature in &annotation.os_features {
            if !platform.os_features.contains(feature) {
                platform.os_features.push(feature.clone());
            }
        }
        if let Some(v) = annotation.variant.as_deref().filter(|v| !v.is_empty()) {
            platform.variant = Some(v.to_string());
        }
        if let Some(v) = annotation.os_version.as_deref().filter(|v| !v.is_empty()) {
            platform.os_version = Some(v.to_string());
        }
        if !KNOWN_OS.contains(&platform.os.as_str()) || !KNOWN_ARCH.contains(&platform.architecture.as_str()) {
            return Err(
                ManifestError::BadPlatform { os: platform.os.clone(), arch: platform.architecture.clone() }.into()
            );
        }
        self.save_list(&name, &entries)
    }

    /// `manifest rm LIST...`: removes each local list; every one missing is reported, one per line.
    pub fn manifest_rm(&self, lists: &[String]) -> Result<(), Error> {
        let mut problems = Vec::new();
        for list in lists {
            let removed = Reference::parse(list).map_err(Error::from).and_then(|r| {
                let name = r.to_string();
                self.store()
                    .remove_manifest_list(&name)
                    .map_err(|source| ManifestError::Store { name: name.clone(), source }.into())
                    .and_then(|gone| if gone { Ok(()) } else { Err(ManifestError::NoSuchList { name }.into()) })
            });
            if let Err(e) = removed {
                problems.push(e.to_string());
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(ManifestError::Several { messages: problems.join("\n") }.into()),
        }
    }

    /// The entries of the local list `name` (full form), None when there is no such list.
    pub(crate) fn list_entries(&self, name: &str) -> Result<Option<Vec<ListEntry>>, Error> {
        let stored =
            self.store().manifest_list(name).map_err(|source| ManifestError::Store { name: name.into(), source })?;
        let Some(json) = stored else { return Ok(None) };
        let entries = serde_json::from_str(&json)
            .map_err(|e| ManifestError::Corrupt { name: name.into(), reason: format!("entries do not parse: {e}") })?;
        Ok(Some(entries))
    }

    fn save_list(&self, name: &str, entries: &[ListEntry]) -> Result<(), Error> {
        let json = serde_json::to_string(entries)
            .map_err(|e| ManifestError::Corrupt { name: name.into(), reason: e.to_string() })?;
        self.store()
            .put_manifest_list(name, &json)
            .map_err(|source| ManifestError::Store { name: name.into(), source }.into())
    }

    /// The entry for `image`: a local image of that name, else the registry's manifest.
    async fn list_entry(&self, image: &str) -> Result<ListEntry, Error> {
        let reference = Reference::parse(image)?;
        match self.store().find_image(image) {
            Ok(record) => return self.local_entry(&reference, &record),
            Err(StoreError::ImageNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let entry = self.remote_entry(&reference).await?;
        match entry {
            Some(entry) => Ok(entry),
            None => Err(ManifestError::IsList { image: image.to_string() }.into()),
        }
    }

    /// The registry's manifest of `reference` as a list entry, its platform from its config; None when
    /// the reference names an index.
    pub(crate) async fn remote_entry(&self, reference: &Reference) -> Result<Option<ListEntry>, Error> {
        let registry_err = |source| ManifestError::Registry { image: reference.to_string(), source: Box::new(source) };
        let registry = self.registry()?;
        let doc = registry.manifest_document(reference).await.map_err(registry_err)?;
        if doc.is_index {
            return Ok(None);
        }
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&doc.bytes).map_err(|e| {
            registry_err(RegistryError::BadManifest { reference: reference.to_string(), reason: e.to_string() })
        })?;
        let config_digest = manifest.config().digest().to_string();
        let config = registry.config_blob(reference, &config_digest).await.map_err(registry_err)?;
        let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&config).map_err(|e| {
            registry_err(RegistryError::BadConfig {
                reference: reference.to_string(),
                digest: config_digest.clone(),
                reason: e.to_string(),
            })
        })?;
        let platform = PlatformSpec {
            architecture: config.architecture().to_string(),
            os: config.os().to_string(),
            os_version: config.os_version().clone(),
            os_features: Vec::new(),
            variant: config.variant().clone(),
        };
        Ok(Some(entry(reference, None, doc.media_type, &doc.bytes, platform)))
    }

    /// The local list a multi-platform build leaves under its tag: one entry per image, each named
    /// `NAME@DIGEST` by its own manifest.
    pub(crate) fn record_build_list(&self, tag: &Reference, image_ids: &[String]) -> Result<(), Error> {
        let mut entries = Vec::new();
        for id in image_ids {
            let image = self.store().image(id)?;
            let mut entry = self.local_entry(tag, &image)?;
            entry.reference = format!("{}@{}", tag.name(), entry.descriptor.digest);
            entries.push(entry);
        }
        self.save_list(&tag.to_string(), &entries)
    }

    fn local_entry(&self, reference: &Reference, image: &ImageRecord) -> Result<ListEntry, Error> {
        let (media_type, bytes) = self.image_manifest(image)?;
        let platform = PlatformSpec {
            architecture: image.architecture.clone(),
            os: image.os.clone(),
            os_version: image.config.os_version().clone(),
            os_features: Vec::new(),
            variant: image.variant.clone(),
        };
        Ok(entry(reference, Some(image.id.clone()), media_type, &bytes, platform))
    }
}

fn entry(
    reference: &Reference,
    image_id: Option<String>,
    media_type: String,
    bytes: &[u8],
    platform: PlatformSpec,
) -> ListEntry {
    ListEntry {
        reference: reference.to_string(),
        image_id,
        descriptor: Descriptor {
            media_type,
            digest: crate::digest::sha256_digest(bytes),
            size: bytes.len() as u64,
            platform: Some(platform),
        },
        raw: base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}
