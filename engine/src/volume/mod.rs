//! Volumes: named and anonymous data directories under `ROOT/volumes/<name>/_data` that outlive containers,
//! the mounts a container asks for (`-v`, `--mount`, `--tmpfs`), their OCI mounts, seeding a fresh volume
//! from the image, and `cp` between the host and a container.

mod copy;
mod mounts;
#[cfg(test)]
mod proptests;
mod records;
pub(crate) mod schema;
mod seed;
mod setup;

pub(crate) use copy::mount_privately;
pub use mounts::{MountKind, MountSpec};
pub use records::{PruneOptions, VolumeCreate, VolumeFilter, VolumeRecord};
pub(crate) use records::{attach, remove_anonymous, resolve_for_create};
pub use records::{inspect_json, mounts_json};
pub(crate) use seed::seed_volumes;
pub(crate) use setup::oci_mounts;

use std::path::{Path, PathBuf};

/// Failures of volume and mount operations, each naming the volume, spec or container.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume specification {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters")]
    InvalidName { name: String },
    #[error("invalid mount config for type \"bind\": bind source path does not exist: {path}")]
    BindSourceMissing { path: String },
    #[error("Duplicate mount point: {target}")]
    DuplicateTarget { target: String },
    #[error("volume driver option {option:?} is not supported: the local driver takes no options")]
    UnsupportedOption { option: String },
    #[error("invalid filter {filter:?}: {reason}")]
    InvalidFilter { filter: String, reason: String },
    #[error("get {name}: no such volume")]
    NotFound { name: String },
    #[error("volume {name} already exists")]
    Exists { name: String },
    #[error("remove {name}: volume is in use - [{containers}]")]
    InUse { name: String, containers: String },
    #[error("mount destination {target} of container {id} resolves outside its rootfs")]
    Escapes { id: String, target: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("copying {path} of container {id}: {reason}")]
    Copy { id: String, path: String, reason: String },
}

impl VolumeError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> VolumeError {
        let path = path.into();
        move |source| VolumeError::Io { action, path, source }
    }
}

/// Docker's rule for local volume names.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `ROOT/volumes/<name>/_data`: what the container sees.
pub fn volume_data_dir(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name).join("_data")
}
