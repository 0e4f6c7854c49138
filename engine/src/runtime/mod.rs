//! OCI runtime bundles: what a container is made of before libcontainer creates it.
//!
//! The engine turns an image config and the user's run options into an OCI runtime spec
//! (`config.json`) with Docker's security defaults, and stacks the image layers into a rootfs.
//! Nothing here forks; container creation itself happens only in the monitor process.

mod caps;
mod host_options;
mod options;
#[cfg(test)]
mod proptests;
mod rootfs;
mod seccomp;
mod seccomp_bpf;
mod spec;
pub(crate) mod user;
mod workload;

pub(crate) use seccomp_bpf::{
    Seccomp, bounded as within_bounding_set, for_exec as exec_seccomp, take_for_init as take_init_seccomp,
};
pub(crate) use workload::{ExecReport, Workload, check_exec_size};

pub use caps::parse_capability;
pub use host_options::{
    DeviceMapping, LogOptions, Ulimit, check_namespace_mode, check_sysctl, parse_dns, parse_dns_search,
    parse_extra_host, parse_shm_size, split_extra_host,
};
pub use options::{
    EndpointOptions, RestartPolicy, RunOptions, SeccompChoice, check_env, host_cpus, parse_cpus, parse_memory,
};
pub use rootfs::{Rootfs, Upper};
pub use seccomp::SeccompProfile;
pub use spec::{
    SharedNamespace, SpecInput, build_spec, effective_command, find_init_binary, privileged_capabilities,
    resolve_user_in,
};

/// Creates `path` (and parents) inside `root` without following symlinks out of it.
pub fn create_dir_in_root(root: &std::path::Path, path: &str) -> Result<(), RuntimeError> {
    crate::inroot::Root::open(root)
        .and_then(|dir| dir.create_dir_all(path, crate::inroot::ParentTimes::Touch, &mut Vec::new()))
        .map(drop)
        .map_err(|err| RuntimeError::io("create directory", root.join(path.trim_start_matches('/')), err))
}

use std::path::PathBuf;

/// Failures while preparing a container's bundle or rootfs.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("unknown capability {name:?}")]
    UnknownCapability { name: String },
    #[error("invalid seccomp profile {source_name}: {reason}")]
    SeccompProfile { source_name: String, reason: String },
    #[error("no command specified for container {id}: the image has no Entrypoint or Cmd")]
    NoCommand { id: String },
    #[error("invalid working directory {dir:?}: it must be an absolute path")]
    RelativeWorkdir { dir: String },
    #[error("unable to find user {user}: no matching entries in passwd file of container {id}")]
    UnknownUser { id: String, user: String },
    #[error("unable to find group {group}: no matching entries in group file of container {id}")]
    UnknownGroup { id: String, group: String },
    #[error("invalid {option} value {value:?}: {reason}")]
    InvalidOption { option: &'static str, value: String, reason: String },
    #[error("--init needs an init binary (catatonit or tini); none found at {searched}")]
    NoInitBinary { searched: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rootfs of container {id} needs at least one image layer")]
    NoLayers { id: String },
    #[error("the command's arguments and environment are too large for the kernel ({reason})")]
    ExecTooLarge { id: String, reason: String },
}

impl RuntimeError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io { action, path: path.into(), source }
    }
}
