//! Images as files: `save` writes Docker 25's archive (an OCI layout plus docker's `manifest.json` and
//! `repositories`), `load` reads docker, podman and OCI archives and layouts through the pull's unpacker.
//!
//! Layers travel as their exact tars, the ones their diffIDs name ([`crate::Engine::write_layer_tar`]), so
//! an image saved and loaded again keeps its ID.

mod flat;
mod load;
mod save;
mod tarfile;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use flat::ImportOptions;
pub use load::Loaded;

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the archive: {source}")]
    Write {
        #[source]
        source: io::Error,
    },
    #[error("reading the archive: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("the archive's {entry}: {reason}")]
    Entry { entry: String, reason: String },
    #[error("the archive's {entry} names {target:?}, which is outside the archive")]
    Outside { entry: String, target: String },
    #[error("the archive's {entry} names {target:?}, which the archive does not hold")]
    Missing { entry: String, target: String },
    #[error("layer {layer} of image {image}: its tar has diffID {actual}, the image's config says {expected}")]
    DiffId { image: String, layer: String, expected: String, actual: String },
    #[error("layer {layer} of image {image}: blob digest {actual}, the manifest says {expected}")]
    Digest { image: String, layer: String, expected: String, actual: String },
    #[error("layer {layer} of the archive: {source}")]
    Layer {
        layer: String,
        #[source]
        source: crate::layer::LayerError,
    },
    #[error("the archive holds no image (no manifest.json, no index.json)")]
    Empty,
    #[error("the archive's {entry}: no image for {platform}")]
    NoPlatform { entry: String, platform: String },
}
