//! Stage two: libcontainer creates the container (namespaces, pivot_root, mounts, cgroups, seccomp,
//! capabilities) from the bundle and starts the command, with stdout/stderr on pipes the monitor reads, or
//! with a pty whose master libcontainer hands over on a console socket (`-t`).

use std::fs::File;
use std::io::pipe;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::prepare::Bundle;
use super::{MonitorError, STATE_ROOT};
use crate::container::ContainerRecord;
use crate::network::{NetworkMode, Networks};
use crate::runtime::{ExecReport, Workload};
use crate::session::server::ProcessIo;

/// A started container and the monitor's ends of its stdio. libcontainer's part ends there: the teardown
/// kills what is left in the cgroup, removes it and libcontainer's state itself, without libcontainer's
/// delete (whose cgroup managers read the mount table a dozen times each, on every run's critical path).
pub(super) struct Running {
    pub(super) pid: i32,
    pub(super) io: ProcessIo,
    /// The container's mount namespace, held so it outlives the init (see `cleanup::Held`).
    pub(super) mount_ns: Option<OwnedFd>,
}

/// Makes the procfs handle libcontainer's processes open /proc through (pathrs makes one on first use and
/// keeps it for the process): made once here, the intermediate and init processes inherit it rather than
/// each mounting a procfs of their own, which the init would unmount as it execs the command, waiting out
/// an RCU grace period before the command runs. Its fd is close-on-exec, as the init's own would be.
pub(super) fn share_procfs() {
    if let Err(err) = pathrs::procfs::ProcfsHandle::new() {
        tracing::debug!(%err, "making the procfs handle libcontainer shares");
    }
}

pub(super) fn launch(
    networks: &Networks,
    rec: &ContainerRecord,
    dir: &Path,
    bundle: Bundle,
) -> Result<Running, MonitorError> {
    let io_err = |action: &'static str, source: std::io::Error| MonitorError::Io {
        id: rec.id.clone(),
        action,
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(STATE_ROOT).map_err(|e| io_err("create runtime state dir", e))?;
    // Each container's libcontainer state is a directory made and deleted here, like the state root's.
    crate::store::spread_children(Path::new(STATE_ROOT));
    let failed = |err: libcontainer::error::LibcontainerError| explain(rec, classify(&err));
    let report = ExecReport::new().map_err(|e| io_err("create the exec report pipe", e))?;
    let builder = ContainerBuilder::new(rec.id.clone(), SyscallType::default())
        .with_root_path(STATE_ROOT)
        .map_err(failed)?
        .with_executor(Workload { seccomp: bundle.seccomp.clone(), report: report.fd() });
    let (builder, io) = if rec.options.tty {
        let console = crate::session::ConsoleSocket::bind(&dir.join("console.sock"))
            .map_err(|e| io_err("listen on console socket", e))?;
        (builder.with_console_socket(Some(console.path())), Stdio::Tty(console))
    } else {
        let (stdout_r, stdout_w) = pipe().map_err(|e| io_err("create stdout pipe", e))?;
        let (stderr_r, stderr_w) = pipe().map_err(|e| io_err("create stderr pipe", e))?;
        let (stdin, stdin_w): (OwnedFd, Option<OwnedFd>) = if rec.options.open_stdin {
            let (r, w) = pipe().map_err(|e| io_err("create stdin pipe", e))?;
            (r.into(), Some(w.into()))
        } else {
            (File::open("/dev/null").map_err(|e| io_err("open /dev/null", e))?.into(), None)
        };
        let builder = builder.with_stdin(stdin).with_stdout(stdout_w).with_stderr(stderr_w);
        (builder, Stdio::Pipes(ProcessIo::Pipes { stdout: stdout_r.into(), stderr: stderr_r.into(), stdin: stdin_w }))
    };
    let builder = builder.validate_id().map_err(failed)?.as_init(&bundle.dir).with_systemd(false).with_detach(true);
    // A namespace made beforehand is joined to bridge networks meanwhile; on `none`, it is a standby's, its
    // `lo` up already (see `prepare`).
    let plugging = match (&bundle.netns, &bundle.network) {
        (Some(ns), NetworkMode::Networks(_)) => Some(super::wiring::plug(networks, rec, ns, &bundle.network)?),
        _ => None,
    };
    let set_up_already = bundle.netns.is_some() && bundle.network == NetworkMode::None;
    let built = builder.build();
    // Waited for whatever libcontainer did: a failed start's teardown must find every network joined.
    let plugged = plugging.map(super::wiring::Plugging::wait).transpose();
    let mut container = built.map_err(failed)?;
    let plugged = match plugged {
        Ok(plugged) => plugged.is_some() || set_up_already,
        Err(err) => {
            let _ = container.delete(true);
            return Err(err);
        }
    };
    let io = match io {
        Stdio::Pipes(io) => io,
        Stdio::Tty(console) => match console.receive_master(CONSOLE_TIMEOUT) {
            Ok(master) => ProcessIo::Tty { master },
            Err(e) => {
                let _ = container.delete(true);
                return Err(io_err("receive the pty master on the console socket", e));
            }
        },
    };
    if let Some(pid) = container.pid()
        && let Err(err) = super::wiring::wire(networks, rec, pid.as_raw(), &bundle.network, dir, plugged)
    {
        let _ = container.delete(true);
        return Err(err);
    }
    // Opened while the init waits to be started, so it is there to open.
    let mount_ns =
        container.pid().and_then(|pid| File::open(format!("/proc/{}/ns/mnt", pid.as_raw())).ok()).map(OwnedFd::from);
    if let Err(err) = container.start() {
        let _ = container.delete(true);
        return Err(failed(err));
    }
    // Started means the command runs, as in Docker: one that cannot be exec'd is a failed start.
    if let Some(failure) = report.outcome() {
        let _ = container.delete(true);
        return Err(MonitorError::Launch { message: failure.message, exit_code: failure.exit_code });
    }
    let Some(pid) = container.pid() else {
        let _ = container.delete(true);
        return Err(MonitorError::Launch { message: "container started without a pid".into(), exit_code: 125 });
    };
    Ok(Running { pid: pid.as_raw(), io, mount_ns })
}

/// How long the container's init may take to send its pty master once created.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The monitor's ends of the container's stdio while the container is being created.
enum Stdio {
    Pipes(ProcessIo),
    Tty(crate::session::ConsoleSocket),
}

/// What libcontainer cannot say: its init process could not be forked because the container's pids limit
/// leaves no room for the two processes starting a container takes (the runtime's and the command).
fn explain(rec: &ContainerRecord, err: MonitorError) -> MonitorError {
    match (&err, rec.options.pids_limit) {
        (MonitorError::Launch { message, exit_code }, Some(limit))
            if limit < MIN_PIDS_TO_START && message.contains("failed to launch init process") =>
        {
            MonitorError::Launch {
                message: format!(
                    "the pids limit of container {} ({limit}) is too low to start its process: starting takes \
                     {MIN_PIDS_TO_START} (use --pids-limit {MIN_PIDS_TO_START} or more, or -1 for no limit)",
                    rec.id
                ),
                exit_code: *exit_code,
            }
        }
        _ => err,
    }
}

/// Processes a container holds while it starts: libcontainer's intermediate process and the init.
const MIN_PIDS_TO_START: i64 = 2;

/// libcontainer's failure to create or start the container: Docker's 125. A command that cannot run is not
/// one: the exec's errno comes back through the [`ExecReport`] with 126 or 127.
pub(crate) fn classify(err: &dyn std::error::Error) -> MonitorError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    MonitorError::Launch { message: format!("OCI runtime create failed: {chain}"), exit_code: 125 }
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
    fn runtime_failures_are_125() {
        let e = classify(&Msg("mount failed"));
        assert!(matches!(&e, MonitorError::Launch { exit_code: 125, message } if message.contains("mount failed")));
    }
}
