//! The per-container monitor: `berth` re-executed through a hidden subcommand, one per running container.
//!
//! Stages, in order: [`seal`] (re-exec from a read-only bind mount of itself, against CVE-2019-5736),
//! [`detach`] (fork away from the launching process), a mount namespace of its own ([`namespace`]), then per
//! run of the container: [`prepare`] (overlay rootfs + `config.json`), [`launch`] (libcontainer create +
//! start), [`pump`] (stdio into the log file until the process exits, running the [`health`] checks on
//! schedule in the same loop), and [`cleanup`] (cgroup, libcontainer state, unmount), after which the
//! restart policy decides whether to loop.
//! It stays single-threaded (no tokio) so libcontainer's clone happens in a fork-safe process; the one
//! thread it starts, deleting the veths of a container that exited beside the rest of its teardown, is joined
//! before the teardown (for `--rm`, once the `run` is answered), and always before a restart.

pub(crate) mod cleanup;
mod exe;
mod health;
mod launch;
pub(crate) mod namespace;
pub mod phases;
mod prepare;
pub(crate) mod procfs;
pub(crate) mod pump;
mod ready;
mod wiring;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::container::{ContainerRecord, Exit, Records, Status, migration};
use crate::network::{NetworkConfig, Networks};
use crate::runtime::RuntimeError;
use crate::store::Store;

pub use exe::{release_sealed, sealed_self};
pub use ready::{READY_ON_STDOUT, Ready, ReadyMessage, cloexec_from};

/// The hidden first argument that turns `berth` into a monitor: `berth __monitor ROOT ID`. The binary must
/// check for it before starting any async runtime.
pub const MONITOR_SUBCOMMAND: &str = "__monitor";

/// The container operand of a monitor started ahead of its container: it reads the id on its stdin once the
/// container is made, and exits without one when its launcher hangs up. As long as an id, so the id can take
/// its place in the command line (see [`show_in_command_line`]).
pub const ASSIGNED_LATER: &str = "----------------------------------------------------------------";

/// Where libcontainer keeps its per-container state (pids, status) while a container exists.
pub const STATE_ROOT: &str = "/run/berth/libcontainer";

/// Docker's restart backoff: 100 ms doubling up to a minute, reset after ten seconds of running.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("protecting the monitor binary (read-only re-exec): {0}")]
    Seal(#[source] std::io::Error),
    #[error("detaching the monitor of container {id}: {source}")]
    Detach {
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(#[from] crate::Error),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{message}")]
    Launch { message: String, exit_code: i32 },
    #[error("{action} {path} for container {id}: {source}")]
    Io {
        id: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serving the stdio of container {id}: {source}")]
    Session {
        id: String,
        #[source]
        source: crate::session::SessionError,
    },
}

impl MonitorError {
    /// Docker's exit codes for a start that never ran the command: 127 not found, 126 not executable.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            MonitorError::Launch { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}

/// Re-executes this binary from a read-only bind mount of itself unless already running from one, so a
/// container process that reaches `/proc/<monitor pid>/exe` cannot overwrite the berth binary on the host.
pub fn seal() -> Result<(), MonitorError> {
    exe::protect()
}

pub(crate) use launch::classify;

/// The monitor's main: runs the container with id `id` ([`ASSIGNED_LATER`]: the one named on stdin) under the
/// state root `root` until it is done for good, then returns the process exit code. `ready` receives the
/// first start's outcome.
pub fn run(root: &Path, id: &str, ready: Option<ready::Ready>) -> i32 {
    let mut ready = ready;
    match supervise(root, id, &mut ready) {
        Ok(()) => 0,
        Err(err) => {
            if let Some(mut r) = ready.take() {
                r.send(&ReadyMessage::Failed { error: err.to_string(), exit_code: err.exit_code() });
            }
            1
        }
    }
}

/// Forks; the parent (the process `berth start` spawned and waits for) exits at once, the child lives on in
/// its own session, reparented to init, so the container outlives the CLI or TUI that started it.
pub fn detach(id: &str) -> Result<(), MonitorError> {
    // libc: rustix offers fork only to libc implementors (its unstable `runtime` module).
    // SAFETY: the monitor is single-threaded here (no runtime started), so fork cannot deadlock.
    match unsafe { libc::fork() } {
        -1 => Err(MonitorError::Detach { id: id.to_string(), source: std::io::Error::last_os_error() }),
        0 => Ok(()),
        _ => {
            // SAFETY: leaving without running destructors or atexit handlers that belong to the child.
            unsafe { libc::_exit(0) }
        }
    }
}

fn supervise(root: &Path, operand: &str, ready: &mut Option<ready::Ready>) -> Result<(), MonitorError> {
    phases::mark(root, operand, "detached");
    // A standby's container is made meanwhile: its network namespace is made ahead, and the migration
    // lock's grace period passes while it waits, the longer before the launch the better
    // (`container::migration`).
    let spare = if operand == ASSIGNED_LATER { wiring::SpareNetns::start() } else { None };
    let mut warming = (operand == ASSIGNED_LATER).then(migration::warm);
    launch::share_procfs();
    let store = Arc::new(Store::open(root).map_err(crate::Error::from)?);
    // The launching berth passes its environment down, so BERTH_CONFIG names the same config file.
    let config = crate::Config::load().map_err(crate::Error::from)?;
    let networks = Networks::new(store.clone(), NetworkConfig::from_config(&config)).map_err(crate::Error::from)?;
    let records = Records::new(&store);
    let assigned;
    let mut spare_netns = None;
    let id = match operand {
        ASSIGNED_LATER => match assignment() {
            Some(id) => {
                assigned = id;
                // Joined before the process leaves its mount namespace, which only a single thread may.
                spare_netns = spare.and_then(wiring::SpareNetns::wait);
                show_in_command_line(&assigned);
                phases::mark(root, &assigned, "assigned");
                assigned.as_str()
            }
            // Not needed. Exiting at once, with the ready pipe still open: the launcher waits for its end,
            // which then comes with the process's own (its memory, command line included, already gone).
            None => {
                drop(warming);
                std::process::exit(0)
            }
        },
        id => id,
    };
    // Once the container is made, so the namespace holds what its launcher mounted for it until then (a
    // build's bind mount of another stage): a standby started earlier would miss such mounts.
    namespace::enter_own(id)?;
    let me = std::process::id() as i32;
    records.set_monitor(id, me, procfs::start_time(me).unwrap_or(0), procfs::own_pidfs_ino())?;
    phases::mark(root, id, "opened");
    let mut backoff = BACKOFF_START;
    loop {
        let rec = records.get(id)?;
        let started = Instant::now();
        let mut background = Vec::new();
        let exit = match run_once(&store, &networks, &rec, ready, warming.take(), spare_netns.take(), &mut background) {
            Ok(exit) => exit,
            Err(err) => {
                join(background);
                let status = if rec.status == Status::Restarting { Status::Exited } else { rec.status };
                records.set_start_failure(id, status, err.exit_code(), &err.to_string())?;
                return Err(err);
            }
        };
        let now = chrono::Utc::now().to_rfc3339();
        let rec = records.get(id)?;
        if started.elapsed() >= BACKOFF_RESET_AFTER {
            backoff = BACKOFF_START;
            records.reset_restart_count(id)?;
        }
        let restart = rec.options.restart.should_restart(exit.code, rec.restart_count, rec.stop_requested);
        if !restart {
            records.set_exit(id, exit, Status::Exited, &now)?;
            // Claimed as `rm` claims it, so a racing `rm -f` and this removal never both tear it down.
            let mut moved = None;
            if rec.options.auto_remove && records.transition(id, Status::Exited, Status::Removing)? {
                moved = cleanup::remove_record(&store, &networks, &crate::host::Linux, &rec)?;
                crate::volume::remove_anonymous(&store, &rec.options.mounts).map_err(crate::Error::from)?;
                phases::mark(root, id, "removed");
            }
            // After the removal, so a foreground `run --rm` returns only once the container is gone; its
            // directory, already out of sight, is deleted after that. A build step's exit was answered before
            // its teardown: the channel's end, here, tells the build its container is gone.
            if let Some(mut r) = ready.take()
                && !rec.options.build_step
            {
                r.send(&ReadyMessage::Exited { exit_code: exit.code });
            }
            join(background);
            if let Some(moved) = moved {
                cleanup::remove_moved(&moved);
            }
            return Ok(());
        }
        join(background);
        if let Some(mut r) = ready.take() {
            r.send(&ReadyMessage::Exited { exit_code: exit.code });
        }
        records.set_exit(id, exit, Status::Restarting, &now)?;
        records.bump_restart_count(id)?;
        if !wait_backoff(&records, id, backoff)? {
            records.set_status(id, Status::Exited)?;
            return Ok(());
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The container id a standby monitor's launcher sends once it has made the container; `None` when it hung
/// up instead. Stdin is `/dev/null` afterwards, as a monitor spawned for its container has it.
fn assignment() -> Option<String> {
    use std::io::BufRead;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    let id = line.trim();
    (read.is_ok() && !id.is_empty()).then(|| id.to_string())
}

/// Writes the assigned id over the placeholder operand in this process's command line, in place (the two
/// are the same length), so `ps`, and whatever finds a container's monitor by its id, see a standby as any
/// monitor spawned for its container.
fn show_in_command_line(id: &str) {
    if id.len() != ASSIGNED_LATER.len() {
        return;
    }
    let Ok(cmdline) = std::fs::read("/proc/self/cmdline") else { return };
    // The placeholder is the last argument, NUL-terminated.
    let Some(offset) = cmdline.len().checked_sub(ASSIGNED_LATER.len() + 1) else { return };
    if !cmdline[offset..].starts_with(ASSIGNED_LATER.as_bytes()) {
        return;
    }
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // `arg_start` is field 48; the fields after the name's closing parenthesis start at field 3.
    let arg_start = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(45)?.parse::<usize>().ok());
    let Some(arg_start) = arg_start else { return };
    // SAFETY: [arg_start, arg_start + cmdline.len()) is this process's argument area, mapped writable at the top
    // of its stack and never freed; the monitor is single-threaded, and the write stays within the bytes of
    // the placeholder, which were just read back through /proc as they are.
    unsafe { std::ptr::copy_nonoverlapping(id.as_ptr(), (arg_start + offset) as *mut u8, id.len()) }
}

/// Waits for a disposable container's last teardown steps: its veths' deletion (see
/// `Networks::unplug_in_background`) and its overlay's unmount.
fn join(background: Vec<std::thread::JoinHandle<()>>) {
    for handle in background {
        let _ = handle.join();
    }
}

/// Renames a build step's upper over the build's work dir for its layer (`RunOptions::build_layer_dir`).
fn hand_over_upper(rec: &ContainerRecord, dir: &Path) -> Result<(), MonitorError> {
    let Some(to) = &rec.options.build_layer_dir else { return Ok(()) };
    let upper = dir.join("upper");
    match std::fs::rename(&upper, to) {
        Ok(()) => Ok(()),
        // No upper, no changes: the work dir stays empty.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !upper.exists() => Ok(()),
        Err(source) => {
            Err(MonitorError::Io { id: rec.id.clone(), action: "move the changes out of", path: upper, source })
        }
    }
}

/// Docker's `oom` (when the kernel's OOM killer ended it) and `die` events, with the exit code and how long
/// the run took in whole seconds.
fn record_exit(root: &Path, rec: &ContainerRecord, exit: Exit, ran: Duration) {
    use crate::journal::{container_event, record_container};
    if exit.oom_killed {
        record_container(root, rec, container_event(rec, "oom"));
    }
    let die = container_event(rec, "die")
        .attr("exitCode", exit.code.to_string())
        .attr("execDuration", ran.as_secs().to_string());
    record_container(root, rec, die);
}

/// Docker's `unmount` event for each volume the run had mounted.
fn record_unmounts(root: &Path, rec: &ContainerRecord) {
    for m in rec.options.mounts.iter().filter(|m| m.kind == crate::volume::MountKind::Volume) {
        let event = crate::journal::volume_event("unmount", &m.source).attr("container", rec.id.clone());
        crate::journal::record(root, event);
    }
}

/// Sleeps before a restart; false when a user stopped the container meanwhile.
fn wait_backoff(records: &Records, id: &str, backoff: Duration) -> Result<bool, MonitorError> {
    let deadline = Instant::now() + backoff;
    while Instant::now() < deadline {
        if records.get(id)?.stop_requested {
            return Ok(false);
        }
        std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(50)));
    }
    Ok(!records.get(id)?.stop_requested)
}

/// One run: rootfs up, container created and started, output pumped until exit, everything torn down.
fn run_once(
    store: &Store,
    networks: &Networks,
    rec: &ContainerRecord,
    ready: &mut Option<ready::Ready>,
    warming: Option<migration::Warming>,
    spare_netns: Option<std::os::fd::OwnedFd>,
    background: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<Exit, MonitorError> {
    let dir = rec.dir(store.root());
    // The init joins its cgroups at the end of the launch: a cold migration lock's grace period passes
    // meanwhile instead of there (`container::migration`), from the standby's start when it still warms.
    let warming = warming.and_then(|mut early| early.still_warming().then_some(early)).unwrap_or_else(migration::warm);
    let bundle = prepare::prepare(store, rec, &dir, spare_netns);
    phases::mark(store.root(), &rec.id, "prepared");
    let mut bundle = match bundle {
        Ok(b) => b,
        Err(err) => {
            cleanup::teardown(networks, rec, &dir);
            return Err(err);
        }
    };
    let mut held = cleanup::Held { layers: std::mem::take(&mut bundle.layers), mount_ns: None };
    let log = crate::logs::LogWriter::with_options(&crate::logs::log_path(&dir), &rec.options.log)
        .map_err(|source| MonitorError::Io { id: rec.id.clone(), action: "open log", path: dir.clone(), source })?;
    let launched = launch::launch(networks, rec, &dir, bundle);
    drop(warming);
    let mut running = match launched {
        Ok(r) => {
            phases::mark(store.root(), &rec.id, "launched");
            r
        }
        Err(err) => {
            cleanup::teardown(networks, rec, &dir);
            return Err(err);
        }
    };
    held.mount_ns = running.mount_ns.take();
    // Listening before "started" is reported, so `run -it` can attach as soon as it hears.
    let mut server = match pump::listen(rec, &dir) {
        Ok(s) => s,
        Err(err) => {
            cleanup::teardown(networks, rec, &dir);
            return Err(err);
        }
    };
    // An init that already exited has no start time: 0 makes later signals check the monitor instead.
    let pid_start = procfs::start_time(running.pid).unwrap_or(0);
    Records::new(store).set_running(&rec.id, running.pid, pid_start, &chrono::Utc::now().to_rfc3339())?;
    // Before the starter hears of it, so what it does next comes after in the journal.
    crate::journal::record_container(store.root(), rec, crate::journal::container_event(rec, "start"));
    // Before "started" is reported, so a `run` that returns finds the health state reset to starting.
    let mut checks = health::Checks::new(store, rec, running.pid, &dir);
    if let Some(r) = ready.as_mut() {
        r.send(&ReadyMessage::Started { pid: running.pid });
    }
    phases::mark(store.root(), &rec.id, "started");
    let running_since = Instant::now();
    store.release_memory();
    let side = checks.as_mut().map(|c| c as &mut dyn crate::session::server::Sidework);
    let result = pump::pump(&rec.id, running.pid, running.io, &mut server, log, side);
    drop(server);
    if let Some(checks) = checks {
        checks.stop();
    }
    phases::mark(store.root(), &rec.id, "exited");
    // What the run held ends now, before the teardown removes the cgroups the container's namespace has
    // mounted (a removal that would detach those mounts itself, waiting out a grace period there): with a
    // disposable container's overlay on a thread, since nothing needs them back; another's namespace here,
    // its layers once its overlay is unmounted.
    let (unmounting, layers) = if rec.options.is_disposable() {
        (cleanup::unmount_in_background(&dir, held), None)
    } else {
        drop(held.mount_ns);
        (None, Some(held.layers))
    };
    // A build step's exit is answered before its teardown, which then overlaps the build's making of the
    // step's layer, once its upper is out of the container's directory (which its removal takes): nothing
    // writes through the overlay any more, the init's pid namespace being empty once it is reaped.
    if rec.options.build_step
        && let (Ok(code), Some(r)) = (&result, ready.as_mut())
    {
        match hand_over_upper(rec, &dir) {
            Ok(()) => r.send(&ReadyMessage::Exited { exit_code: *code }),
            Err(err) => r.send(&ReadyMessage::Failed { error: err.to_string(), exit_code: 125 }),
        }
    }
    // Joined before the teardown (and so before any restart's clone): the monitor forks only single-threaded.
    let unplugging = networks.unplug_in_background(&rec.id);
    let oom_killed = crate::container::Cgroup::for_container(&rec.id).oom_killed();
    // Before the teardown's network disconnects and volume unmounts, in Docker's order.
    if let Ok(code) = result {
        record_exit(store.root(), rec, Exit { code, oom_killed }, running_since.elapsed());
    }
    if rec.options.is_disposable() {
        // Its last run. Joined after the exit is answered (a `run --rm` returns, a build goes on to the
        // step's layer): the address and port rules go now, the veths and the overlay, whose deletion and
        // unmount wait out kernel grace periods, a moment later on threads.
        background.extend(unplugging);
        background.extend(unmounting);
        cleanup::teardown_disposable(networks, rec, &dir);
    } else {
        if let Some(handle) = unplugging {
            let _ = handle.join();
        }
        cleanup::teardown(networks, rec, &dir);
        drop(layers);
    }
    phases::mark(store.root(), &rec.id, "torn down");
    record_unmounts(store.root(), rec);
    let code = result?;
    // A SIGKILL'd container under a memory limit that hit it was killed by the OOM killer.
    Ok(Exit { code, oom_killed })
}
