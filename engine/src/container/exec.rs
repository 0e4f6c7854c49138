//! `exec` and `attach` as engine operations. An exec's process lives in a helper process (`berth __exec`,
//! detached like the monitor), never in the caller, so a TUI pane or a second client can join it; the caller
//! gets a [`Session`] on the helper's socket.

use std::ffi::OsStr;
use std::io::{BufReader, PipeReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lifecycle::read_message;
use super::{ContainerError, ContainerRecord, Status};
use crate::monitor::ReadyMessage;
use crate::session::{Session, SessionError};
use crate::{Engine, Error};

/// The hidden first argument of the exec helper: `berth __exec ROOT CONTAINER-ID EXEC-ID`.
pub const EXEC_SUBCOMMAND: &str = "__exec";

/// What `berth exec` asks for, as Docker names it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    /// `-e KEY=VALUE`, over the container's environment.
    pub env: Vec<String>,
    /// `-u user[:group]`; the container's user when None.
    pub user: Option<String>,
    /// `-w`; the container's working directory when None.
    pub workdir: Option<String>,
    /// Every capability, as the container's `--privileged` would give.
    pub privileged: bool,
    /// `-t`: a pty.
    pub tty: bool,
    /// `-i`: the session's input reaches the process.
    pub stdin: bool,
    /// `-d`: run in the background; output is discarded and no session is returned.
    pub detach: bool,
    /// Initial window size with `tty` (0 leaves the pty's default).
    pub cols: u16,
    pub rows: u16,
}

/// What the engine leaves its exec helper in `exec/<exec-id>.json`: the options, and the container as the
/// engine just read it (the helper's events name it), so the helper starts without opening the store.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HelperRequest {
    pub options: ExecOptions,
    pub container: ContainerRecord,
}

/// Where an exec helper finds its options and serves its session.
pub(crate) fn exec_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("exec")
}

pub(crate) fn exec_options_path(container_dir: &Path, exec_id: &str) -> PathBuf {
    exec_dir(container_dir).join(format!("{exec_id}.json"))
}

pub(crate) fn exec_socket_path(container_dir: &Path, exec_id: &str) -> PathBuf {
    exec_dir(container_dir).join(format!("{exec_id}.sock"))
}

/// An exec whose helper listens; its process starts once [`PendingExec::connect`] joins it. Dropped
/// unconnected (an API client that left before its stream began), the helper gives up at once and the
/// process never runs.
pub struct PendingExec {
    socket: PathBuf,
    /// A tty's window size, sent as soon as the session is joined.
    size: Option<(u16, u16)>,
    /// The helper's ready channel, held open until a client is connected: its closing tells the helper
    /// that none is coming (see `Server::wait_for_client`).
    _starter: BufReader<PipeReader>,
}

impl PendingExec {
    /// Joins the exec's session, which starts its process.
    pub async fn connect(self) -> Result<Session, SessionError> {
        let mut session = Session::connect(&self.socket).await?;
        if let Some((cols, rows)) = self.size {
            session.resize(cols, rows).await?;
        }
        Ok(session)
    }
}

/// Exec and attach are refused unless the container runs, with its state named.
fn ensure_running(rec: &ContainerRecord, action: &'static str) -> Result<(), ContainerError> {
    if rec.status == Status::Running {
        return Ok(());
    }
    Err(ContainerError::InvalidState { name: rec.name.clone(), status: rec.status, action })
}

impl Engine {
    /// Runs a process inside a running container. Returns its session, or None with `detach`.
    pub async fn exec(&self, container: &str, options: ExecOptions) -> Result<Option<Session>, SessionError> {
        match self.exec_pending(container, options).await? {
            Some(pending) => pending.connect().await.map(Some),
            None => Ok(None),
        }
    }

    /// As [`Engine::exec`], up to the helper listening: the process starts when the returned session is
    /// connected. The API server answers its client first, so no output can come with that answer (docker-py
    /// reads the answer's headers through a buffer and the socket beyond it: bytes that came with them are
    /// lost).
    pub async fn exec_pending(
        &self,
        container: &str,
        options: ExecOptions,
    ) -> Result<Option<PendingExec>, SessionError> {
        // Whole: the helper runs the process from this record and must not guess at a damaged part.
        let rec = super::Records::new(self.store()).get(&self.container(container)?.id)?;
        ensure_running(&rec, "exec")?;
        if options.cmd.is_empty() {
            return Err(SessionError::Exec { id: rec.id, message: "no command given".into(), exit_code: 125 });
        }
        if let Some(bad) = options.env.iter().find(|e| crate::runtime::check_env(e).is_err()) {
            let message = format!("invalid environment variable: {bad}");
            return Err(SessionError::Exec { id: rec.id, message, exit_code: 125 });
        }
        let dir = rec.dir(self.store().root());
        let exec_id: String = super::names::new_id().chars().take(16).collect();
        let id = rec.id.clone();
        let io = |action: &'static str, path: PathBuf| {
            let id = id.clone();
            move |source| ContainerError::Io { id, action, path, source }
        };
        // On a full disk (the container may have filled it) the space reserve makes room for these small files.
        let store = self.store();
        store.with_room(|| std::fs::create_dir_all(exec_dir(&dir))).map_err(io("create", exec_dir(&dir)))?;
        let options_path = exec_options_path(&dir, &exec_id);
        let request = HelperRequest { options: options.clone(), container: rec.clone() };
        let json =
            serde_json::to_vec(&request).map_err(|e| io("encode", options_path.clone())(std::io::Error::other(e)))?;
        store.with_room(|| std::fs::write(&options_path, &json)).map_err(io("write", options_path.clone()))?;

        let event = |action: &str| {
            let action = format!("{action}: {} {}", options.cmd[0], options.cmd[1..].join(" "));
            crate::journal::container_event(&rec, action).attr("execID", exec_id.clone())
        };
        crate::journal::record_container(store.root(), &rec, event("exec_create"));
        let root = self.store().root().as_os_str();
        let args = [OsStr::new(EXEC_SUBCOMMAND), root, OsStr::new(&rec.id), OsStr::new(&exec_id)];
        let mut channel = match self.spawn_helper(&rec.id, &args) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&options_path);
                return Err(e.into());
            }
        };
        let (message, channel) = tokio::task::spawn_blocking(move || (read_message(&mut channel), channel))
            .await
            .map_err(|e| ContainerError::Monitor { id: rec.id.clone(), source: std::io::Error::other(e) })?;
        if let Some(ReadyMessage::Started { .. }) = message {
            crate::journal::record_container(store.root(), &rec, event("exec_start"));
        }
        match message {
            Some(ReadyMessage::Started { .. }) if options.detach => Ok(None),
            Some(ReadyMessage::Started { .. }) => Ok(Some(PendingExec {
                socket: exec_socket_path(&dir, &exec_id),
                size: (options.tty && options.cols > 0 && options.rows > 0).then_some((options.cols, options.rows)),
                _starter: channel,
            })),
            Some(ReadyMessage::Failed { error, exit_code }) => {
                Err(SessionError::Exec { id: rec.id, message: error, exit_code })
            }
            Some(ReadyMessage::Exited { .. }) | None => {
                let _ = std::fs::remove_file(&options_path);
                Err(SessionError::Exec {
                    id: rec.id,
                    message: "the exec helper exited before the process started".into(),
                    exit_code: 125,
                })
            }
        }
    }

    /// Attaches to a running container's main process: its output from now on, and (with `-i`) its input.
    pub async fn attach(&self, container: &str) -> Result<Session, SessionError> {
        let rec = self.container(container)?;
        ensure_running(&rec, "attach")?;
        let session = Session::connect(&crate::monitor::pump::attach_socket(&rec.dir(self.store().root()))).await?;
        crate::journal::record_container(self.root(), &rec, crate::journal::container_event(&rec, "attach"));
        Ok(session)
    }
}

impl From<ContainerError> for SessionError {
    fn from(e: ContainerError) -> Self {
        SessionError::from(Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_gets_the_container_exactly_as_the_engine_read_it() {
        let mut options = crate::runtime::RunOptions::default();
        options.labels.insert("tier".into(), "web".into());
        let mut container = ContainerRecord::new(
            "c0ffee".into(),
            "web".into(),
            "sha256:1".into(),
            "busybox".into(),
            options,
            vec!["sleep".into(), "1000".into()],
        );
        container.status = Status::Running;
        container.health = Some(crate::health::Health::starting(None));
        let options = ExecOptions { cmd: vec!["true".into()], tty: true, cols: 80, rows: 24, ..ExecOptions::default() };
        let request = HelperRequest { options: options.clone(), container: container.clone() };
        let read: HelperRequest = serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
        assert_eq!((read.options, read.container), (options, container));
    }
}
