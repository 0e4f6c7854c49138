//! Sessions: a process's terminal or stdio served over a Unix socket, shared by `attach` (the monitor serves
//! `ROOT/containers/<id>/attach.sock`) and `exec` (an exec helper serves `.../exec/<exec-id>.sock`).
//!
//! The serving side ([`server`]) is a poll loop for the single-threaded monitor and exec helper; the client
//! side ([`Session`]) is async, for the CLI and the TUI. Several clients may be connected at once: each gets
//! the output from the moment it connected, and input from any of them reaches the process.

mod client;
mod console;
mod frame;
pub mod server;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub use client::{Output, Session};
pub use console::ConsoleSocket;
pub(crate) use console::wait_readable;
pub use frame::{Frame, MAX_PAYLOAD};

/// Failures of a session, naming the socket or process concerned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{action} session socket {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("session protocol error: {reason}")]
    Protocol { reason: String },
    #[error("waiting for process {pid}: {source}")]
    Wait {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("session connection lost: {source}")]
    Connection {
        #[source]
        source: std::io::Error,
    },
    #[error("exec in container {id}: {message}")]
    Exec { id: String, message: String, exit_code: i32 },
    #[error(transparent)]
    Engine(Box<crate::Error>),
}

impl From<crate::Error> for SessionError {
    fn from(e: crate::Error) -> Self {
        SessionError::Engine(Box::new(e))
    }
}

impl SessionError {
    /// The exit code Docker's CLI uses for this failure: the exec's own (126/127) or 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            SessionError::Exec { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}

/// Socket addresses are limited to 108 bytes; a deep state root would exceed that. Longer paths are reached
/// through `/proc/self/fd/<dir fd>/<name>`, which resolves to the same place.
fn short_path(path: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    if path.as_os_str().len() < 100 {
        return Ok((path.to_path_buf(), None));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok((path.to_path_buf(), None));
    };
    let dir = std::fs::File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir))).join(name);
    Ok((short, Some(dir)))
}

pub(crate) fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let (addr, _dir) = short_path(path)?;
    UnixListener::bind(addr)
}

async fn connect(path: &Path) -> std::io::Result<tokio::net::UnixStream> {
    let (addr, _dir) = short_path(path)?;
    tokio::net::UnixStream::connect(addr).await
}
