//! Stage three: serve the container's stdio until its init exits, then reap it. Output goes to the log and
//! to every client attached on `attach.sock`; their input and window sizes go to the container.

use std::path::Path;

use super::MonitorError;
use crate::container::ContainerRecord;
use crate::logs::LogWriter;
use crate::session::server::{ProcessIo, Server, Sidework, serve_with};

/// The attach socket of a container directory.
pub(crate) fn attach_socket(dir: &Path) -> std::path::PathBuf {
    dir.join("attach.sock")
}

/// Listens for attach clients. An interactive container (`-i`/`-t`) keeps its first output for the first
/// client, so `run -it` shows the shell's first prompt although it connects just after the start.
pub(super) fn listen(rec: &ContainerRecord, dir: &Path) -> Result<Server, MonitorError> {
    let interactive = rec.options.tty || rec.options.open_stdin;
    Server::bind(&attach_socket(dir), interactive, rec.options.open_stdin)
        .map_err(|e| MonitorError::Session { id: rec.id.clone(), source: e })
}

/// Pumps output until the container's init exits (waking `side`, the healthchecks, when due); returns its exit code (128 + signal when killed).
pub(super) fn pump(
    id: &str,
    pid: i32,
    io: ProcessIo,
    server: &mut Server,
    mut log: LogWriter,
    side: Option<&mut dyn Sidework>,
) -> Result<i32, MonitorError> {
    // A full disk must not stop the container; the output is lost, the container lives on.
    let mut sink = |stream, data: &[u8]| {
        let _ = log.write_output(stream, data);
    };
    let code = serve_with(pid, io, Some(server), &mut sink, side)
        .map_err(|e| MonitorError::Session { id: id.to_string(), source: e });
    let _ = log.finish();
    code
}
