//! Stage two: libcontainer creates the container (namespaces, pivot_root, mounts, cgroups, seccomp,
//! capabilities) from the bundle and starts the command, with stdout/stderr on pipes the monitor reads.

use std::fs::File;
use std::io::{PipeReader, pipe};
use std::path::Path;

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::prepare::Bundle;
use super::{MonitorError, STATE_ROOT};
use crate::container::ContainerRecord;
use crate::network::Networks;

/// A started container and the read ends of its output.
pub(super) struct Running {
    pub(super) container: Container,
    pub(super) pid: i32,
    pub(super) stdout: PipeReader,
    pub(super) stderr: PipeReader,
}

pub(super) fn launch(
    networks: &Networks,
    rec: &ContainerRecord,
    dir: &Path,
    bundle: &Bundle,
) -> Result<Running, MonitorError> {
    let io_err = |action: &'static str, source: std::io::Error| MonitorError::Io {
        id: rec.id.clone(),
        action,
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(STATE_ROOT).map_err(|e| io_err("create runtime state dir", e))?;
    let (stdout_r, stdout_w) = pipe().map_err(|e| io_err("create stdout pipe", e))?;
    let (stderr_r, stderr_w) = pipe().map_err(|e| io_err("create stderr pipe", e))?;
    let stdin = File::open("/dev/null").map_err(|e| io_err("open /dev/null", e))?;

    let failed = |err: libcontainer::error::LibcontainerError| classify(&err, &bundle.executable);
    let mut container = ContainerBuilder::new(rec.id.clone(), SyscallType::default())
        .with_root_path(STATE_ROOT)
        .map_err(failed)?
        .with_stdin(stdin)
        .with_stdout(stdout_w)
        .with_stderr(stderr_w)
        .validate_id()
        .map_err(failed)?
        .as_init(&bundle.dir)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(failed)?;
    if let Some(pid) = container.pid()
        && let Err(err) = super::wiring::wire(networks, rec, pid.as_raw(), &bundle.network, dir)
    {
        let _ = container.delete(true);
        return Err(err);
    }
    if let Err(err) = container.start() {
        let _ = container.delete(true);
        return Err(failed(err));
    }
    let Some(pid) = container.pid() else {
        let _ = container.delete(true);
        return Err(MonitorError::Launch { message: "container started without a pid".into(), exit_code: 125 });
    };
    Ok(Running { container, pid: pid.as_raw(), stdout: stdout_r, stderr: stderr_r })
}

/// Turns libcontainer's failure into Docker's message and exit code for the common cases.
fn classify(err: &dyn std::error::Error, executable: &str) -> MonitorError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if chain.contains("not found in $PATH") {
        MonitorError::Launch {
            message: format!("exec: \"{executable}\": executable file not found in $PATH"),
            exit_code: 127,
        }
    } else if chain.contains("does not have correct permissions") || chain.contains("Permission denied") {
        MonitorError::Launch { message: format!("exec: \"{executable}\": permission denied"), exit_code: 126 }
    } else {
        MonitorError::Launch { message: format!("OCI runtime create failed: {chain}"), exit_code: 125 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Msg(&'static str);
    impl std::fmt::Display for Msg {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Msg {}

    #[test]
    fn docker_exit_codes() {
        let e = classify(&Msg("executable 'nope' not found in $PATH"), "nope");
        assert!(matches!(&e, MonitorError::Launch { exit_code: 127, message } if message.contains("\"nope\"")), "{e}");
        let e = classify(&Msg("executable 'x' at path '/x' does not have correct permissions"), "/x");
        assert!(matches!(e, MonitorError::Launch { exit_code: 126, .. }));
        let e = classify(&Msg("mount failed"), "sh");
        assert!(matches!(e, MonitorError::Launch { exit_code: 125, .. }));
    }
}
