//! The exec helper process (`berth __exec ROOT ID EXEC-ID`, detached and single-threaded like the monitor):
//! joins the container with libcontainer's tenant builder (namespaces, cgroup, capabilities, and the
//! container's seccomp profile, loaded by [`Workload`] since the tenant builder drops it), holds the
//! process's pty or pipes, and serves `exec/<exec-id>.sock` until the process exits.

use std::fs::File;
use std::io::pipe;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{Process, Spec, UserBuilder};

use super::ContainerRecord;
use super::exec::{ExecOptions, HelperRequest, exec_dir, exec_options_path, exec_socket_path};
use super::migration::Warming;
use crate::monitor::{Ready, ReadyMessage, STATE_ROOT};
use crate::runtime::{ExecReport, Workload};
use crate::session::ConsoleSocket;
use crate::session::server::{ProcessIo, Server, serve, set_window_size};

/// How long the engine may take to connect after the helper said it listens.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the exec's process may take to send its pty master.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an exec could not start, with Docker's exit code (126/127 for the command, 125 otherwise).
struct Failure {
    message: String,
    exit_code: i32,
}

fn fail(message: impl std::fmt::Display) -> Failure {
    Failure { message: message.to_string(), exit_code: 125 }
}

/// The helper's main; `ready` tells the engine "listening" (or why not). Returns the helper's exit code.
pub fn run_exec_helper(root: &Path, id: &str, exec_id: &str, ready: Option<Ready>) -> i32 {
    // First thing, so a cold lock's grace period passes while the helper reads its options.
    let warming = super::migration::warm();
    let mut ready = ready;
    let dir = super::records::container_dir(root, id);
    let options_path = exec_options_path(&dir, exec_id);
    let prepared = prepare(id, &dir, &options_path);
    let _ = std::fs::remove_file(&options_path);
    let (options, process, rec) = match prepared {
        Ok(p) => p,
        Err(f) => return report(&mut ready, f),
    };
    let process_path = exec_dir(&dir).join(format!("{exec_id}.process.json"));
    let written = || write_process(root, &process_path, &process);
    let died = {
        let (root, exec_id) = (root.to_path_buf(), exec_id.to_string());
        move |code: i32| {
            let event = crate::journal::container_event(&rec, "exec_die")
                .attr("execID", exec_id)
                .attr("exitCode", code.to_string());
            crate::journal::record_container(&root, &rec, event);
        }
    };
    let result = if options.detach {
        run_detached(root, id, &dir, exec_id, &options, written, &process_path, &mut ready, warming)
            .inspect(|&code| died(code))
    } else {
        run_attached(root, id, &dir, exec_id, &options, written, &process_path, &mut ready, warming, died)
    };
    let _ = std::fs::remove_file(&process_path);
    match result {
        Ok(code) => code,
        Err(f) => report(&mut ready, f),
    }
}

fn report(ready: &mut Option<Ready>, failure: Failure) -> i32 {
    if let Some(mut r) = ready.take() {
        r.send(&ReadyMessage::Failed { error: failure.message, exit_code: failure.exit_code });
    }
    1
}

/// Reads the engine's request and builds the process it runs from the container's own.
fn prepare(id: &str, dir: &Path, options_path: &Path) -> Result<(ExecOptions, Process, ContainerRecord), Failure> {
    let text = std::fs::read(options_path).map_err(|e| fail(format!("reading {}: {e}", options_path.display())))?;
    let HelperRequest { options, container: rec } =
        serde_json::from_slice(&text).map_err(|e| fail(format!("parsing {}: {e}", options_path.display())))?;
    let spec = Spec::load(dir.join("config.json")).map_err(|e| fail(format!("loading the spec of {id}: {e}")))?;
    let process = exec_process(id, &spec, &options, rec.pid)?;
    let (args, env) = (process.args().as_deref().unwrap_or_default(), process.env().as_deref().unwrap_or_default());
    crate::runtime::check_exec_size(id, args, env).map_err(fail)?;
    Ok((options, process, rec))
}

/// The container's process with the exec's command, environment, user, directory, terminal and capabilities.
/// `pid` is the container's init, through whose root the user is resolved: the rootfs is mounted only in
/// its monitor's mount namespace (see `monitor::namespace`), and the container's own view includes its
/// volumes, as the exec sees them.
fn exec_process(id: &str, spec: &Spec, options: &ExecOptions, pid: i32) -> Result<Process, Failure> {
    let mut process = spec.process().clone().ok_or_else(|| fail(format!("container {id} has no process")))?;
    process.set_args(Some(options.cmd.clone()));
    let key = |e: &str| e.split_once('=').map_or(e.to_string(), |(k, _)| k.to_string());
    let mut env = process.env().clone().unwrap_or_default();
    for entry in &options.env {
        env.retain(|e| key(e) != key(entry));
        env.push(entry.clone());
    }
    if options.tty && !env.iter().any(|e| key(e) == "TERM") {
        env.push("TERM=xterm".to_string());
    }
    process.set_env(Some(env));
    if let Some(dir) = &options.workdir {
        if !dir.starts_with('/') {
            return Err(fail(format!("the working directory {dir:?} is not absolute")));
        }
        process.set_cwd(PathBuf::from(dir));
    }
    if let Some(user) = &options.user {
        let rootfs = PathBuf::from(format!("/proc/{pid}/root"));
        let (uid, gid, gids) = crate::runtime::resolve_user_in(id, &rootfs, user).map_err(fail)?;
        let mut builder = UserBuilder::default().uid(uid).gid(gid);
        if !gids.is_empty() {
            builder = builder.additional_gids(gids);
        }
        process.set_user(builder.build().map_err(fail)?);
    }
    if options.privileged {
        // The engine's spec types and libcontainer's are different oci-spec versions; JSON is their common form.
        let caps = serde_json::to_value(crate::runtime::privileged_capabilities().map_err(fail)?).map_err(fail)?;
        process.set_capabilities(Some(serde_json::from_value(caps).map_err(fail)?));
    }
    process.set_terminal(Some(options.tty));
    crate::runtime::within_bounding_set(&mut process);
    Ok(process)
}

/// Starts `options`' command in running container `id` (whose init is `init`) as a child of this
/// single-threaded process, the way the exec helper starts an exec (the container's namespaces, cgroup,
/// user, environment and seccomp profile): the monitor's healthcheck probes. Returns the pid and the
/// process's stdio, or why it could not start.
pub(crate) fn start_process(
    root: &Path,
    id: &str,
    init: i32,
    dir: &Path,
    exec_id: &str,
    options: &ExecOptions,
) -> Result<(i32, ProcessIo), String> {
    let spec = Spec::load(dir.join("config.json")).map_err(|e| format!("loading the spec of {id}: {e}"))?;
    let process = exec_process(id, &spec, options, init).map_err(|f| f.message)?;
    std::fs::create_dir_all(exec_dir(dir)).map_err(|e| format!("creating {}: {e}", exec_dir(dir).display()))?;
    let process_path = exec_dir(dir).join(format!("{exec_id}.process.json"));
    let started = write_process(root, &process_path, &process)
        .and_then(|()| start(root, id, dir, exec_id, options, &process_path))
        .map_err(|f| f.message);
    let _ = std::fs::remove_file(&process_path);
    started
}

/// Writes the process for libcontainer; on a full disk the state root's space reserve makes room for it.
fn write_process(root: &Path, path: &Path, process: &Process) -> Result<(), Failure> {
    let json = serde_json::to_vec(process).map_err(fail)?;
    crate::store::reserve::with_room(root, || std::fs::write(path, &json))
        .map_err(|e| fail(format!("writing {}: {e}", path.display())))
}

/// Serves the session: waits for the first client, then starts the process and pumps it until it exits.
/// `died` runs with the exit code (Docker's 126/127 for a command that could not run) before the client
/// hears it.
#[allow(clippy::too_many_arguments)]
fn run_attached(
    root: &Path,
    id: &str,
    dir: &Path,
    exec_id: &str,
    options: &ExecOptions,
    write_process: impl FnOnce() -> Result<(), Failure>,
    process_path: &Path,
    ready: &mut Option<Ready>,
    warming: Warming,
    died: impl FnOnce(i32) + Send + 'static,
) -> Result<i32, Failure> {
    let mut server =
        Server::bind(&exec_socket_path(dir, exec_id), false, options.stdin).map_err(fail)?.hang_up_when_alone();
    if let Some(r) = ready.as_mut() {
        r.send(&ReadyMessage::Started { pid: std::process::id() as i32 });
    }
    server.wait_for_client(CLIENT_TIMEOUT, ready.as_ref().map(|r| r.as_fd())).map_err(fail)?;
    *ready = None;
    let started = write_process().and_then(|()| start(root, id, dir, exec_id, options, process_path));
    drop(warming);
    let (pid, io) = match started {
        Ok(s) => s,
        Err(f) => {
            died(f.exit_code);
            server.fail(&f.message, f.exit_code);
            return Ok(f.exit_code);
        }
    };
    server.set_before_exit(died);
    serve(pid, io, Some(&mut server), &mut |_, _| {}).map_err(fail)
}

/// `exec -d`: reports once the process runs, discards its output, reaps it.
#[allow(clippy::too_many_arguments)]
fn run_detached(
    root: &Path,
    id: &str,
    dir: &Path,
    exec_id: &str,
    options: &ExecOptions,
    write_process: impl FnOnce() -> Result<(), Failure>,
    process_path: &Path,
    ready: &mut Option<Ready>,
    warming: Warming,
) -> Result<i32, Failure> {
    write_process()?;
    let started = start(root, id, dir, exec_id, options, process_path);
    drop(warming);
    let (pid, io) = started?;
    if let Some(mut r) = ready.take() {
        r.send(&ReadyMessage::Started { pid });
    }
    serve(pid, io, None, &mut |_, _| {}).map_err(fail)
}

/// Creates the process inside the container; returns its pid and the helper's ends of its stdio.
fn start(
    root: &Path,
    id: &str,
    dir: &Path,
    exec_id: &str,
    options: &ExecOptions,
    process_path: &Path,
) -> Result<(i32, ProcessIo), Failure> {
    let failed = |e: libcontainer::error::LibcontainerError| {
        let err = crate::monitor::classify(&e);
        Failure { exit_code: err.exit_code(), message: err.to_string() }
    };
    let spec = Spec::load(dir.join("config.json")).map_err(|e| fail(format!("loading the spec of {id}: {e}")))?;
    let seccomp = if options.privileged {
        None
    } else {
        crate::runtime::exec_seccomp(root, dir, &spec).map_err(|e| fail(format!("seccomp profile of {id}: {e}")))?
    };
    let report = ExecReport::new().map_err(|e| fail(format!("creating the exec report pipe: {e}")))?;
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(STATE_ROOT)
        .map_err(failed)?
        .with_executor(Workload { seccomp, report: report.fd() });
    let console_path = exec_dir(dir).join(format!("{exec_id}.console.sock"));
    let (builder, console, pipes) = if options.tty {
        let console = ConsoleSocket::bind(&console_path).map_err(|e| fail(format!("console socket: {e}")))?;
        (builder.with_console_socket(Some(console.path())), Some(console), None)
    } else {
        let pipe_err = |e: std::io::Error| fail(format!("creating stdio pipes: {e}"));
        let (out_r, out_w) = pipe().map_err(pipe_err)?;
        let (err_r, err_w) = pipe().map_err(pipe_err)?;
        let (stdin, stdin_w): (OwnedFd, Option<OwnedFd>) = if options.stdin && !options.detach {
            let (r, w) = pipe().map_err(pipe_err)?;
            (r.into(), Some(w.into()))
        } else {
            (File::open("/dev/null").map_err(|e| fail(format!("opening /dev/null: {e}")))?.into(), None)
        };
        let io = ProcessIo::Pipes { stdout: out_r.into(), stderr: err_r.into(), stdin: stdin_w };
        (builder.with_stdin(stdin).with_stdout(out_w).with_stderr(err_w), None, Some(io))
    };
    let built =
        builder.validate_id().map_err(failed)?.as_tenant().with_process(Some(process_path)).with_detach(true).build();
    // libcontainer says only "failed to execute workload" or "failed to launch init process": say why.
    let pid = match (built, report.outcome()) {
        (Ok(pid), None) => pid.as_raw(),
        (_, Some(exec)) => return Err(Failure { message: exec.message, exit_code: exec.exit_code }),
        (Err(e), None) => match super::Cgroup::for_container(id).pids_limit_reached() {
            Some(limit) => {
                return Err(fail(format!(
                    "cannot start a process in container {id}: its pids limit ({limit}) is reached"
                )));
            }
            None => return Err(failed(e)),
        },
    };
    let io = match (console, pipes) {
        (Some(console), _) => {
            let master =
                console.receive_master(CONSOLE_TIMEOUT).map_err(|e| fail(format!("receiving the pty: {e}")))?;
            if options.cols > 0 && options.rows > 0 {
                set_window_size(&master, options.cols, options.rows);
            }
            ProcessIo::Tty { master }
        }
        (None, Some(io)) => io,
        (None, None) => return Err(fail("no stdio for the exec")),
    };
    Ok((pid, io))
}
