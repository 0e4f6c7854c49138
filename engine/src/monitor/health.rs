//! Healthchecks, run by the container's monitor inside its serving loop ([`Sidework`]): the monitor is the
//! one process that lives exactly as long as the container runs and is already single-threaded, so a probe
//! is started the way the exec helper starts an exec (libcontainer's tenant builder, forked from this
//! thread) with no extra process per container. Between checks the loop sleeps in `poll` until the next
//! one is due; a running probe adds its pidfd and output pipes to that poll, so the container's own output
//! keeps flowing while a check runs, and a probe past its timeout is killed and reaped without blocking.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use crate::container::{ContainerRecord, ExecOptions, Records, Status};
use crate::health::{Health, HealthConfig, HealthResult, HealthStatus};
use crate::session::server::{ProcessIo, Sidework, reap, reap_strays, try_reap};
use crate::store::Store;

/// The probes' exec id: one probe runs at a time, so one name serves them all.
const PROBE_EXEC_ID: &str = "healthcheck";

/// After a probe failed to start: how long, and how often, to look for its half-made processes to reap.
const STRAY_WATCH: Duration = Duration::from_secs(5);
const STRAY_POLL: Duration = Duration::from_millis(20);

/// One container's checks while it runs.
pub(super) struct Checks<'a> {
    store: &'a Store,
    id: String,
    /// The container as the monitor started it: names the `health_status` events.
    rec: ContainerRecord,
    /// The container's init: the serving loop reaps it, never the stray reaper.
    init: i32,
    dir: PathBuf,
    config: HealthConfig,
    exec: ExecOptions,
    /// When this run of the container started: the start period counts from here.
    started: Instant,
    health: Health,
    next: Instant,
    probe: Option<Probe>,
    /// Until when a failed probe start may still leave processes to reap (see [`reap_strays`]).
    strays_until: Option<Instant>,
}

/// A check in progress: a child of the monitor inside the container.
struct Probe {
    pid: i32,
    pidfd: OwnedFd,
    outputs: Vec<File>,
    kept: Vec<u8>,
    truncated: bool,
    start: String,
    started: Instant,
    /// When it must have finished; past it the probe is killed.
    deadline: Instant,
    /// The result recorded for a probe killed for its timeout, once it is reaped.
    timed_out: Option<String>,
}

impl<'a> Checks<'a> {
    /// The checks of a container that has an enabled healthcheck, state reset to starting (a restart
    /// included, the earlier log kept); None when it has none.
    pub(super) fn new(store: &'a Store, rec: &ContainerRecord, init: i32, dir: &Path) -> Option<Checks<'a>> {
        let config = rec.options.healthcheck.clone().filter(HealthConfig::enabled)?;
        let argv = config.argv(&rec.options.health_shell)?;
        let health = Health::starting(rec.health.clone());
        let mut checks = Checks {
            store,
            id: rec.id.clone(),
            rec: rec.clone(),
            init,
            dir: dir.to_path_buf(),
            exec: ExecOptions { cmd: argv, ..ExecOptions::default() },
            config,
            started: Instant::now(),
            health,
            next: Instant::now(),
            probe: None,
            strays_until: None,
        };
        checks.save();
        checks.next = Instant::now() + checks.interval();
        Some(checks)
    }

    /// Docker's schedule: the start interval while starting within the start period, else the interval.
    fn interval(&self) -> Duration {
        let in_start_period = self.started.elapsed() < nanos(self.config.start_period);
        let ns = if in_start_period && self.health.status == HealthStatus::Starting {
            self.config.start_interval_ns()
        } else {
            self.config.interval_ns()
        };
        nanos(ns)
    }

    /// Writes the state where inspect and `ps` read it.
    fn save(&self) {
        if let Err(err) = Records::new(self.store).set_health(&self.id, &self.health) {
            tracing::warn!(container = %self.id, %err, "recording the health state");
        }
    }

    fn begin(&mut self) {
        let start = now_text();
        let started = Instant::now();
        // A frozen container would hold the probe until thawed: a paused container is not checked.
        if Records::new(self.store).get(&self.id).is_ok_and(|r| r.status == Status::Paused) {
            self.next = started + self.interval();
            return;
        }
        let root = self.store.root().to_path_buf();
        match crate::container::start_process(&root, &self.id, self.init, &self.dir, PROBE_EXEC_ID, &self.exec) {
            Ok((pid, io)) => match probe(pid, io, start.clone(), started, nanos(self.config.timeout_ns())) {
                Ok(p) => self.probe = Some(p),
                Err(err) => {
                    // Without a pidfd it cannot be watched: kill it and wait, as at the container's exit.
                    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                    let _ = reap(pid);
                    self.finish(start, started, -1, format!("watching the health check process: {err}"));
                }
            },
            Err(message) => {
                self.strays_until = Some(Instant::now() + STRAY_WATCH);
                self.finish(start, started, -1, message);
            }
        }
    }

    /// Records a result and schedules the next check, counted from now as Docker does.
    fn finish(&mut self, start: String, started: Instant, exit_code: i64, output: String) {
        let in_start_period = started.duration_since(self.started) < nanos(self.config.start_period);
        let result = HealthResult { start, end: now_text(), exit_code, output };
        let changed = self.health.record(result, in_start_period, self.config.retries());
        self.save();
        self.transition(changed);
        self.next = Instant::now() + self.interval();
    }

    /// The container stopped: a probe still running is killed, and the state reads unhealthy, as Docker's
    /// does once its checks stop.
    pub(super) fn stop(mut self) {
        if let Some(p) = self.probe.take() {
            let _ = rustix::process::pidfd_send_signal(&p.pidfd, rustix::process::Signal::KILL);
            let _ = reap(p.pid);
        }
        let changed = self.health.stopped();
        self.save();
        self.transition(changed);
    }

    /// A status change, recorded already: what Docker announces as its `health_status: <status>` event.
    fn transition(&self, changed: Option<HealthStatus>) {
        if let Some(status) = changed {
            tracing::debug!(container = %self.id, status = status.as_str(), "health status changed");
            let action = format!("health_status: {}", status.as_str());
            let event = crate::journal::container_event(&self.rec, action);
            crate::journal::record_container(self.store.root(), &self.rec, event);
        }
    }
}

impl Sidework for Checks<'_> {
    fn deadline(&self) -> Option<Instant> {
        let due = match &self.probe {
            Some(p) if p.timed_out.is_some() => None,
            Some(p) => Some(p.deadline),
            None => Some(self.next),
        };
        match self.strays_until {
            Some(_) => {
                let look = Instant::now() + STRAY_POLL;
                Some(due.map_or(look, |d| d.min(look)))
            }
            None => due,
        }
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        match &self.probe {
            Some(p) => std::iter::once(p.pidfd.as_fd()).chain(p.outputs.iter().map(File::as_fd)).collect(),
            None => Vec::new(),
        }
    }

    fn wake(&mut self) {
        if let Some(until) = self.strays_until {
            let probe = self.probe.as_ref().map_or(0, |p| p.pid);
            reap_strays(&[self.init, probe]);
            if Instant::now() >= until {
                self.strays_until = None;
            }
        }
        let Some(p) = self.probe.as_mut() else {
            if Instant::now() >= self.next {
                self.begin();
            }
            return;
        };
        p.drain();
        match try_reap(p.pid) {
            Ok(Some(code)) => {
                let Some(mut p) = self.probe.take() else { return };
                p.drain_to_end();
                let (code, output) = match p.timed_out.take() {
                    Some(message) => (-1, message),
                    None => (i64::from(code), crate::health::output_text(&p.kept, p.truncated)),
                };
                self.finish(p.start, p.started, code, output);
            }
            Ok(None) if p.timed_out.is_none() && Instant::now() >= p.deadline => {
                let _ = rustix::process::pidfd_send_signal(&p.pidfd, rustix::process::Signal::KILL);
                p.timed_out =
                    Some(format!("Health check exceeded timeout ({})", go_duration_text(self.config.timeout_ns())));
            }
            Ok(None) => {}
            Err(err) => {
                let Some(p) = self.probe.take() else { return };
                self.finish(p.start, p.started, -1, format!("waiting for the health check process: {err}"));
            }
        }
    }
}

/// Watches a started probe: its pidfd, and its output pipes made non-blocking.
fn probe(pid: i32, io: ProcessIo, start: String, started: Instant, timeout: Duration) -> std::io::Result<Probe> {
    let pidfd = super::procfs::pidfd_open(pid)?;
    let outputs: Vec<File> = match io {
        ProcessIo::Pipes { stdout, stderr, .. } => vec![stdout.into(), stderr.into()],
        ProcessIo::Tty { master } => vec![master.into()],
    };
    for f in &outputs {
        fcntl_setfl(f, fcntl_getfl(f)? | OFlags::NONBLOCK)?;
    }
    Ok(Probe {
        pid,
        pidfd,
        outputs,
        kept: Vec::new(),
        truncated: false,
        start,
        started,
        deadline: started + timeout,
        timed_out: None,
    })
}

impl Probe {
    /// Reads what the probe wrote so far, keeping Docker's first 4 KiB; closed pipes are dropped.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        self.outputs.retain_mut(|f| {
            loop {
                match f.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        let room = crate::health::MAX_OUTPUT_LEN.saturating_sub(self.kept.len());
                        self.kept.extend_from_slice(&buf[..n.min(room)]);
                        self.truncated |= n > room;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
        });
    }

    /// After the exit: what is left in the pipes. A descendant that keeps a pipe open cannot hold this up,
    /// since the reads never block.
    fn drain_to_end(&mut self) {
        self.drain();
        self.outputs.clear();
    }
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A duration as Go prints it (`30s`, `1.5s`, `2m0s`, `500ms`), for Docker's timeout message.
fn go_duration_text(ns: i64) -> String {
    let ns = ns.max(0) as u128;
    if ns < 1_000_000_000 {
        let ms = ns as f64 / 1e6;
        return format!("{}ms", trim(ms));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let s = trim(rest as f64 / 1e9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_print_as_go_durations() {
        assert_eq!(go_duration_text(30_000_000_000), "30s");
        assert_eq!(go_duration_text(1_500_000_000), "1.5s");
        assert_eq!(go_duration_text(120_000_000_000), "2m0s");
        assert_eq!(go_duration_text(500_000_000), "500ms");
        assert_eq!(go_duration_text(3_723_000_000_000), "1h2m3s");
    }
}
