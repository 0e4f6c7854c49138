//! Containers: records in the state store and every lifecycle operation, from any berth process.
//!
//! The engine never forks a container itself: `start` launches a detached monitor process (berth
//! re-executed, see [`crate::monitor`]) that creates the container, holds its stdio and records its exit.
//! Any process can then stop, kill, pause or inspect it through the store, the cgroup and the pid.

mod cgroup;
#[cfg(test)]
mod decisions_tests;
mod exec;
mod exec_helper;
mod follow;
mod inspect;
mod lifecycle;
mod list;
pub mod migration;
mod names;
mod networking;
mod output;
mod reconcile;
mod records;
pub(crate) mod schema;
pub(crate) mod shared;
mod size;
mod spawn;
pub(crate) use size::dir_size;

/// What `attach` and `exec` hand back: a connection to the process's session.
pub use crate::session::{Output, Session, SessionError};
mod status;
mod top;
mod update;

pub use exec::{EXEC_SUBCOMMAND, ExecOptions, PendingExec};
pub use exec_helper::run_exec_helper;
pub(crate) use exec_helper::start_process;
pub use follow::LogTail;
pub use inspect::inspect_json;
pub(crate) use lifecycle::{CreateRequest, MonitorEnd, validate_options};
pub use lifecycle::{StartOutcome, parse_signal};
pub use list::{ListFilter, ListOptions};
pub use records::ContainerRecord;
pub(crate) use spawn::Standby;
pub use status::Status;
pub use top::TopProcess;
pub use update::{Update, UpdateFlags};

pub(crate) use cgroup::Cgroup;
pub(crate) use records::{Exit, Records};

use std::path::PathBuf;

/// Failures of container operations, each naming the container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {name}")]
    NotFound { name: String },
    #[error("container name or id prefix {name:?} is ambiguous: it matches {count} containers")]
    Ambiguous { name: String, count: usize },
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName { name: String },
    /// `name` is the container as the user named it (name, id or id prefix), as in every message below.
    #[error("container {name} is already running")]
    AlreadyRunning { name: String },
    #[error("container {name} is {status}: cannot {action}")]
    InvalidState { name: String, status: Status, action: &'static str },
    #[error(
        "You cannot remove a running container {name}. Stop the container before attempting removal or force remove"
    )]
    RemoveRunning { name: String },
    #[error("invalid signal {signal:?}")]
    InvalidSignal { signal: String },
    #[error("invalid filter {filter:?}: {reason}")]
    InvalidFilter { filter: String, reason: String },
    #[error("failed to start container {id}: {message}")]
    StartFailed { id: String, message: String, exit_code: i32 },
    #[error("starting the monitor for container {id}: {source}")]
    Monitor {
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} {path} for container {id}: {source}")]
    Io {
        id: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup of container {id}: {message}")]
    Cgroup { id: String, message: String },
    #[error("you must provide one or more flags when using this command")]
    NothingToUpdate,
    #[error("Cannot update container {id}: {reason}")]
    UpdateRefused { id: String, reason: String },
    #[error("container {id} has a damaged record: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("timed out waiting for container {name} to {what}")]
    Timeout { name: String, what: &'static str },
    #[error("could not remove container {id}: {problems}; it is marked dead, remove it again once fixed")]
    RemoveFailed { id: String, problems: String },
    #[error("image {image} is in use by container {id}: remove the container first")]
    ImageInUse { image: String, id: String },
    #[error("container {id} cannot join the {kind} namespace of container {target}: {reason}")]
    Join { id: String, kind: crate::runtime::SharedNamespace, target: String, reason: String },
    #[error("cannot remove container {name}: container {joiner} shares its {kind} namespace (stop it first)")]
    SharedBy { name: String, joiner: String, kind: crate::runtime::SharedNamespace },
}

impl ContainerError {
    /// The process exit code Docker uses for this failure (125 for engine errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            ContainerError::StartFailed { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}
