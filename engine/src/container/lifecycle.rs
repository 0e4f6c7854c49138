//! Lifecycle operations as `Engine` methods: create, start, stop, kill, pause, unpause, restart, remove,
//! wait, rename, prune. Each works from any berth process: state lives in the store, the container's
//! processes are reached by pid and cgroup, and only the monitor ever creates a container.

use std::io::{BufRead, BufReader, PipeReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::records::container_dir;
use super::spawn::Standby;
use super::{ContainerError, ContainerRecord, Records, Status, names, reconcile};
use crate::health::HealthConfig;
use crate::host::Host;
use crate::journal::{container_event, record_container};
use crate::monitor::ReadyMessage;
use crate::monitor::procfs;
use crate::runtime::{RestartPolicy, RunOptions, SeccompChoice, SeccompProfile, parse_capability};
use crate::volume::MountSpec;
use crate::{Engine, Error};

/// How a wait for a container to stop ended.
enum Waited {
    Inactive(Box<ContainerRecord>),
    /// Its `--rm` monitor (or another berth) removed it meanwhile.
    Removed,
    TimedOut,
}

/// How often waiting operations look at the store again.
const POLL: Duration = Duration::from_millis(20);

/// Docker's default seconds between the stop signal and SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// What `create` needs: an image already in the store, an optional name, the run options. Callers outside
/// the engine go through [`crate::run::RunSpec`] and `Engine::create`/`Engine::run`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateRequest {
    /// The image as the user named it (what `ps` and inspect's `Config.Image` show).
    pub image: String,
    /// The image itself when the name alone does not say which (`run --platform` picked one of a
    /// multi-platform name's images).
    pub image_id: Option<String>,
    pub name: Option<String>,
    pub options: RunOptions,
}

/// A started container. Keep it to learn the first run's exit code (a foreground `run`); drop it otherwise.
#[derive(Debug)]
pub struct StartOutcome {
    pub id: String,
    pub pid: i32,
    channel: BufReader<PipeReader>,
}

impl StartOutcome {
    /// Blocks until the first run of the container ends; `None` if its monitor died first.
    pub fn wait_exit_blocking(self) -> Option<i32> {
        self.exit_and_end().0.ok()
    }

    /// Blocks until the first run ends: its exit code (or why there is none), with the rest of the channel.
    fn exit_and_end(mut self) -> (Result<i32, String>, MonitorEnd) {
        let exit = match read_message(&mut self.channel) {
            Some(ReadyMessage::Exited { exit_code }) => Ok(exit_code),
            Some(ReadyMessage::Failed { error, .. }) => Err(error),
            _ => Err(format!("the monitor of container {} ended before the command did", self.id)),
        };
        (exit, MonitorEnd(Some(self.channel)))
    }

    /// Waits without blocking the async runtime.
    pub async fn wait_exit(self) -> Option<i32> {
        tokio::task::spawn_blocking(move || self.wait_exit_blocking()).await.ok().flatten()
    }

    /// [`StartOutcome::wait_exit`] for a build step, whose monitor answers before its teardown: the exit code
    /// (or why there is none), with the channel, which ends once the monitor has removed the container.
    pub(crate) async fn wait_exit_before_teardown(self) -> (Result<i32, String>, MonitorEnd) {
        let id = self.id.clone();
        match tokio::task::spawn_blocking(move || self.exit_and_end()).await {
            Ok(waited) => waited,
            Err(e) => (Err(format!("waiting for container {id}: {e}")), MonitorEnd::default()),
        }
    }
}

/// The rest of a monitor's ready channel.
#[derive(Default)]
pub(crate) struct MonitorEnd(Option<BufReader<PipeReader>>);

impl MonitorEnd {
    /// Blocks until the monitor has closed the channel.
    pub(crate) fn wait(self) {
        if let Some(mut channel) = self.0 {
            let _ = std::io::copy(&mut channel, &mut std::io::sink());
        }
    }
}

pub(super) fn read_message(reader: &mut BufReader<PipeReader>) -> Option<ReadyMessage> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(n) if n > 0 => serde_json::from_str(line.trim()).ok(),
        _ => None,
    }
}

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(text: &str) -> Result<i32, ContainerError> {
    const SIGNALS: &[(&str, i32)] = &[
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("WINCH", libc::SIGWINCH),
        ("IO", libc::SIGIO),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    let invalid = || ContainerError::InvalidSignal { signal: text.to_string() };
    let upper = text.trim().to_ascii_uppercase();
    if let Ok(n) = upper.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(invalid()) };
    }
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.iter().find(|(name, _)| *name == bare).map(|(_, n)| *n).ok_or_else(invalid)
}

/// Checks what can be checked before anything is stored, so a bad `run` leaves nothing behind.
pub(crate) fn validate_options(options: &RunOptions) -> Result<(), Error> {
    options.validate()?;
    for cap in options.cap_add.iter().chain(&options.cap_drop) {
        if !cap.eq_ignore_ascii_case("ALL") {
            parse_capability(cap)?;
        }
    }
    if let SeccompChoice::Profile { path, json } = &options.seccomp {
        SeccompProfile::parse(path, json)?;
    }
    if options.auto_remove && options.restart != RestartPolicy::No {
        return Err(crate::runtime::RuntimeError::InvalidOption {
            option: "--restart",
            value: options.restart.name().to_string(),
            reason: "conflicting options: --restart and --rm".to_string(),
        }
        .into());
    }
    if let Some(sig) = &options.stop_signal {
        parse_signal(sig)?;
    }
    Ok(())
}

/// Signals the container's init through a pidfd, and only while it is the process berth started (its
/// recorded start time matches): a pid the kernel gave to another process after the container exited never
/// gets the signal. A container recorded before start times were (`pid_start` 0) is signalled only while its
/// monitor lives, since the monitor records the exit the moment the init is gone.
fn send_signal(host: &dyn Host, rec: &ContainerRecord, signal: i32) -> Result<(), ContainerError> {
    if rec.pid <= 0 {
        return Ok(());
    }
    let start = match rec.pid_start {
        0 if host.monitor_alive(rec) => host.start_time(rec.pid),
        0 => None,
        start => Some(start),
    };
    let Some(start) = start else { return Ok(()) };
    let sig = procfs::to_signal(signal).ok_or_else(|| ContainerError::InvalidSignal { signal: signal.to_string() })?;
    host.signal(rec.pid, start, sig).map(drop).map_err(|source| ContainerError::Io {
        id: rec.id.clone(),
        action: "signal",
        path: PathBuf::from(format!("/proc/{}", rec.pid)),
        source,
    })
}

impl Engine {
    fn records(&self) -> Records<'_> {
        Records::new(self.store())
    }

    /// Records Docker's `kill` event, then signals the container's init (see [`send_signal`]): in that
    /// order so the monitor's `die` never comes first in the journal.
    fn signal(&self, rec: &ContainerRecord, signal: i32) -> Result<(), ContainerError> {
        record_container(self.root(), rec, container_event(rec, "kill").attr("signal", signal.to_string()));
        send_signal(self.host(), rec, signal)
    }

    /// A container by name, id or unique id prefix, with its state checked against reality.
    /// Takes the container's operation lock (a flock on its directory), then reads its record as it is now.
    /// start, stop, kill, restart and rm hold it for their whole run, so the same operations from other
    /// berth processes (a CLI, the TUI, an API server) take turns: two starts never launch two monitors, a
    /// stop's SIGKILL never reaches the instance another process started meanwhile, and restart's stop and
    /// start are one step. The monitor never takes it (a stop holding it waits for the monitor to record
    /// the exit).
    async fn lock_container(
        &self,
        name_or_id: &str,
    ) -> Result<(crate::store::lock::LockGuard, ContainerRecord), Error> {
        let rec = self.container(name_or_id)?;
        let dir = rec.dir(self.store().root());
        let gone = || ContainerError::NotFound { name: name_or_id.to_string() };
        let locked = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || crate::store::lock::exclusive_dir(&dir)
        })
        .await
        .map_err(|e| ContainerError::Io {
            id: rec.id.clone(),
            action: "lock",
            path: dir.clone(),
            source: std::io::Error::other(e),
        })?;
        let guard = match locked {
            Ok(guard) => guard,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone().into()),
            Err(source) => return Err(ContainerError::Io { id: rec.id, action: "lock", path: dir, source }.into()),
        };
        // It may have changed, or gone, while this process waited for the lock.
        match self.container(&rec.id) {
            Ok(now) => Ok((guard, now)),
            Err(Error::Container(ContainerError::NotFound { .. })) => Err(gone().into()),
            Err(e) => Err(e),
        }
    }

    pub fn container(&self, name_or_id: &str) -> Result<ContainerRecord, Error> {
        let rec = self.records().find(name_or_id)?;
        reconcile::reconcile(self.store(), self.networks(), self.host(), rec)?
            .ok_or_else(|| ContainerError::NotFound { name: name_or_id.to_string() }.into())
    }

    /// Records a container for an image already in the store. Nothing runs yet.
    pub(crate) fn create_container(&self, req: CreateRequest) -> Result<ContainerRecord, Error> {
        self.create_recording(req).map(|(rec, _)| rec)
    }

    /// Creates the container; with it the anonymous volumes create made for it, which a failed run
    /// removes again.
    pub(crate) fn create_recording(&self, req: CreateRequest) -> Result<(ContainerRecord, Vec<MountSpec>), Error> {
        validate_options(&req.options)?;
        if let Some(name) = &req.name
            && !names::valid(name)
        {
            return Err(ContainerError::InvalidName { name: name.clone() }.into());
        }
        let image = match &req.image_id {
            Some(id) => self.store().image(id)?,
            None => self.store().find_image(&req.image)?,
        };
        // A bad -p or an unknown network fails here, before anything is stored.
        if let crate::network::NetworkMode::Networks(requests) = req.options.network_mode(&image.config)? {
            for request in requests {
                self.networks().get(&request.network)?;
            }
        }
        let command = crate::runtime::effective_command(&image.config, &req.options);
        if command.is_empty() {
            return Err(crate::runtime::RuntimeError::NoCommand { id: req.image.clone() }.into());
        }
        let name = req.name.as_deref().map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default();
        let mut options = req.options;
        super::shared::resolve_targets(&self.records(), &mut options)?;
        if !options.build_step {
            options.merge_exposed_ports(&image.config)?;
        }
        // The image's Healthcheck and SHELL are not in the OCI config type: read from the config blob.
        let raw: Option<serde_json::Value> =
            self.store().blobs().get(&image.id).ok().and_then(|b| serde_json::from_slice(&b).ok());
        // A build's RUN step runs no checks, as in BuildKit.
        let image_health = raw.as_ref().filter(|_| !options.build_step).and_then(HealthConfig::from_image_config);
        options.healthcheck = HealthConfig::merge(options.healthcheck.take(), image_health);
        options.health_shell = raw
            .as_ref()
            .and_then(|c| serde_json::from_value(c.get("config")?.get("Shell")?.clone()).ok())
            .unwrap_or_default();
        let anonymous = if options.build_step {
            Vec::new()
        } else {
            crate::volume::resolve_for_create(self.store(), &image.config, &mut options.mounts)?
        };
        let mut rec = ContainerRecord::new(names::new_id(), name, image.id, req.image.clone(), options, command);
        let dir = rec.dir(self.store().root());
        std::fs::create_dir_all(&dir).map_err(|source| ContainerError::Io {
            id: rec.id.clone(),
            action: "create",
            path: dir.clone(),
            source,
        })?;
        let inserted = self.records().insert(&mut rec, req.name.is_some());
        let attached = inserted.and_then(|()| Ok(crate::volume::attach(self.store(), &rec.id, &rec.options.mounts)?));
        if let Err(err) = attached {
            let _ = self.records().delete(&rec.id);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = crate::volume::remove_anonymous(self.store(), &anonymous);
            return Err(err);
        }
        record_container(self.root(), &rec, container_event(&rec, "create"));
        Ok((rec, anonymous))
    }

    /// `berth start`: launches the container's monitor and returns once the command runs (or failed to).
    /// A running container is refused with [`ContainerError::AlreadyRunning`], which `berth start` (like
    /// `docker start`) takes as success.
    pub async fn start_container(&self, name_or_id: &str) -> Result<StartOutcome, Error> {
        self.start_container_with(name_or_id, None).await
    }

    /// [`Engine::start_container`] by a monitor started ahead, if there is one.
    pub(crate) async fn start_container_with(
        &self,
        name_or_id: &str,
        standby: Option<Standby>,
    ) -> Result<StartOutcome, Error> {
        let (_lock, rec) = self.lock_container(name_or_id).await?;
        self.start_locked(name_or_id, rec, standby).await
    }

    async fn start_locked(
        &self,
        name_or_id: &str,
        rec: ContainerRecord,
        standby: Option<Standby>,
    ) -> Result<StartOutcome, Error> {
        if rec.status == Status::Running {
            return Err(ContainerError::AlreadyRunning { name: name_or_id.to_string() }.into());
        }
        if !rec.status.can_start() {
            return Err(ContainerError::InvalidState {
                name: name_or_id.to_string(),
                status: rec.status,
                action: "start",
            }
            .into());
        }
        // Read under the operation lock, which every stop request takes too, the row is current: only a
        // request there is needs clearing (a new container's start then writes nothing before its monitor's).
        if rec.stop_requested {
            self.records().set_stop_requested(&rec.id, false)?;
        }
        crate::monitor::phases::mark(self.store().root(), &rec.id, "spawn");
        let mut channel = self.monitor_for(&rec.id, standby)?;
        let (message, channel) = tokio::task::spawn_blocking(move || {
            channel.reap();
            (read_message(&mut channel.reader), channel.reader)
        })
        .await
        .map_err(|e| ContainerError::Monitor { id: rec.id.clone(), source: std::io::Error::other(e) })?;
        crate::monitor::phases::mark(self.store().root(), &rec.id, "ready");
        match message {
            Some(ReadyMessage::Started { pid }) => Ok(StartOutcome { id: rec.id, pid, channel }),
            Some(ReadyMessage::Failed { error, exit_code }) => {
                Err(ContainerError::StartFailed { id: rec.id, message: error, exit_code }.into())
            }
            Some(ReadyMessage::Exited { .. }) | None => {
                let after = self.records().get(&rec.id).map(|r| r.error).unwrap_or_default();
                let message = if after.is_empty() {
                    "the monitor exited before the container started".to_string()
                } else {
                    after
                };
                Err(ContainerError::StartFailed { id: rec.id, message, exit_code: 125 }.into())
            }
        }
    }

    /// `berth stop`: the stop signal, then SIGKILL after the timeout (seconds; negative: wait however long it
    /// takes, as Docker does). Stopping a stopped container is fine.
    pub async fn stop_container(&self, name_or_id: &str, timeout: Option<i64>) -> Result<ContainerRecord, Error> {
        let (_lock, rec) = self.lock_container(name_or_id).await?;
        self.stop_locked(name_or_id, rec, timeout).await
    }

    async fn stop_locked(
        &self,
        name_or_id: &str,
        rec: ContainerRecord,
        timeout: Option<i64>,
    ) -> Result<ContainerRecord, Error> {
        if !rec.status.can_stop() {
            return Ok(rec);
        }
        let signal = self.stop_signal(&rec)?;
        let seconds = timeout.or(rec.options.stop_timeout).unwrap_or(DEFAULT_STOP_TIMEOUT);
        let timeout = u64::try_from(seconds).map_or(Duration::MAX, Duration::from_secs);
        // The intent goes first so the restart policy sees it, but the signal goes whether or not it could be
        // recorded (on a full disk too): a failed record is reported after acting. So in kill and rm -f.
        let recorded = self.records().set_stop_requested(&rec.id, true);
        self.signal(&rec, signal)?;
        if rec.status == Status::Paused {
            self.thaw(&rec)?;
        }
        recorded?;
        let stopped = |done: ContainerRecord| {
            record_container(self.root(), &rec, container_event(&rec, "stop"));
            Ok(done)
        };
        match self.wait_inactive(&rec.id, timeout).await? {
            Waited::Inactive(done) => return stopped(*done),
            Waited::Removed => return stopped(rec.clone()),
            Waited::TimedOut => {}
        }
        // The same instance: the lock keeps other berths from starting it, stop_requested its restart policy.
        let now = match self.container(&rec.id) {
            Ok(now) => now,
            Err(Error::Container(ContainerError::NotFound { .. })) => return stopped(rec.clone()),
            Err(e) => return Err(e),
        };
        self.signal(&now, libc::SIGKILL)?;
        let done = self.finish_waiting(name_or_id, rec.clone(), "stop").await?;
        stopped(done)
    }

    /// Waits (up to 30 s) for a container sent SIGKILL to be inactive; a removed one is done as `last`.
    async fn finish_waiting(
        &self,
        name_or_id: &str,
        last: ContainerRecord,
        what: &'static str,
    ) -> Result<ContainerRecord, Error> {
        match self.wait_inactive(&last.id, Duration::from_secs(30)).await? {
            Waited::Inactive(done) => Ok(*done),
            Waited::Removed => Ok(last),
            Waited::TimedOut => Err(ContainerError::Timeout { name: name_or_id.to_string(), what }.into()),
        }
    }

    fn stop_signal(&self, rec: &ContainerRecord) -> Result<i32, Error> {
        if let Some(sig) = &rec.options.stop_signal {
            return Ok(parse_signal(sig)?);
        }
        let image_signal = self
            .store()
            .image(&rec.image_id)
            .ok()
            .and_then(|i| i.config.config().as_ref().and_then(|c| c.stop_signal().clone()));
        match image_signal {
            Some(sig) => Ok(parse_signal(&sig)?),
            None => Ok(libc::SIGTERM),
        }
    }

    fn thaw(&self, rec: &ContainerRecord) -> Result<(), Error> {
        self.host().freeze(&rec.id, false)?;
        self.records().transition(&rec.id, Status::Paused, Status::Running)?;
        Ok(())
    }

    /// Polls until the container is no longer active (a timeout past the clock's range never comes).
    async fn wait_inactive(&self, id: &str, timeout: Duration) -> Result<Waited, Error> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.container(id) {
                Ok(rec) if !rec.status.is_active() => return Ok(Waited::Inactive(Box::new(rec))),
                Ok(_) => {}
                Err(Error::Container(ContainerError::NotFound { .. })) => return Ok(Waited::Removed),
                Err(e) => return Err(e),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Waited::TimedOut);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `berth kill`: sends a signal (SIGKILL by default) to the container's main process.
    /// With SIGKILL it returns once the container is no longer running, as `docker kill` does, so
    /// `kill X && rm X` works; other signals are only sent.
    pub async fn kill_container(&self, name_or_id: &str, signal: Option<&str>) -> Result<ContainerRecord, Error> {
        let (_lock, rec) = self.lock_container(name_or_id).await?;
        if !matches!(rec.status, Status::Running | Status::Paused) {
            return Err(ContainerError::InvalidState {
                name: name_or_id.to_string(),
                status: rec.status,
                action: "kill",
            }
            .into());
        }
        let signal = match signal {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        let recorded = match signal {
            libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                self.records().set_stop_requested(&rec.id, true)
            }
            _ => Ok(()),
        };
        self.signal(&rec, signal)?;
        if rec.status == Status::Paused && signal == libc::SIGKILL {
            self.thaw(&rec)?;
        }
        recorded?;
        if signal != libc::SIGKILL {
            return Ok(rec);
        }
        self.finish_waiting(name_or_id, rec, "kill").await
    }

    /// `berth pause`: freezes every process of the container with the cgroup freezer.
    pub fn pause_container(&self, name_or_id: &str) -> Result<ContainerRecord, Error> {
        let rec = self.container(name_or_id)?;
        if !rec.status.can_pause() {
            return Err(ContainerError::InvalidState {
                name: name_or_id.to_string(),
                status: rec.status,
                action: "pause",
            }
            .into());
        }
        self.host().freeze(&rec.id, true)?;
        self.records().transition(&rec.id, Status::Running, Status::Paused)?;
        record_container(self.root(), &rec, container_event(&rec, "pause"));
        Ok(rec)
    }

    /// `berth unpause`: thaws a paused container.
    pub fn unpause_container(&self, name_or_id: &str) -> Result<ContainerRecord, Error> {
        let rec = self.container(name_or_id)?;
        if !rec.status.can_unpause() {
            return Err(ContainerError::InvalidState {
                name: name_or_id.to_string(),
                status: rec.status,
                action: "unpause",
            }
            .into());
        }
        self.thaw(&rec)?;
        record_container(self.root(), &rec, container_event(&rec, "unpause"));
        Ok(rec)
    }

    /// `berth restart`: stop (if running), then start, as one step under the container's lock.
    pub async fn restart_container(&self, name_or_id: &str, timeout: Option<i64>) -> Result<StartOutcome, Error> {
        let (_lock, rec) = self.lock_container(name_or_id).await?;
        let stopped = self.stop_locked(name_or_id, rec, timeout).await?;
        let now = self.container(&stopped.id)?;
        let started = self.start_locked(name_or_id, now.clone(), None).await?;
        record_container(self.root(), &now, container_event(&now, "restart"));
        Ok(started)
    }

    /// `berth rm`: removes a stopped container; `force` kills a running one first.
    pub async fn remove_container(&self, name_or_id: &str, force: bool) -> Result<ContainerRecord, Error> {
        let (_lock, mut rec) = self.lock_container(name_or_id).await?;
        if rec.status == Status::Removing && self.host().monitor_alive(&rec) {
            return self.removed_meanwhile(name_or_id, rec).await;
        }
        if let Some((joiner, kind)) = super::shared::joiner_of(&self.records(), &rec.id)? {
            return Err(ContainerError::SharedBy { name: name_or_id.to_string(), joiner, kind }.into());
        }
        if rec.status.is_active() {
            if !force {
                return Err(ContainerError::RemoveRunning { name: name_or_id.to_string() }.into());
            }
            let recorded = self.records().set_stop_requested(&rec.id, true);
            self.signal(&rec, libc::SIGKILL)?;
            if rec.status == Status::Paused {
                self.thaw(&rec)?;
            }
            recorded?;
            match self.wait_inactive(&rec.id, Duration::from_secs(30)).await? {
                Waited::Inactive(done) => rec = *done,
                // An --rm container's monitor removed it meanwhile: done.
                Waited::Removed => return Ok(rec),
                Waited::TimedOut => {
                    return Err(ContainerError::Timeout { name: name_or_id.to_string(), what: "die" }.into());
                }
            }
        }
        if !self.records().transition(&rec.id, rec.status, Status::Removing)? {
            return self.removed_meanwhile(name_or_id, rec).await;
        }
        crate::monitor::cleanup::remove_container(self.store(), self.networks(), self.host(), &rec)?;
        if rec.options.auto_remove {
            // What the monitor's own `--rm` removal would have done, had this `rm` not claimed it first.
            crate::volume::remove_anonymous(self.store(), &rec.options.mounts)?;
        }
        Ok(rec)
    }

    /// `rm` lost the claim on a container: an `--rm` monitor (or another `rm`) is removing it. Done once
    /// the row is gone; any other change is refused.
    async fn removed_meanwhile(&self, name_or_id: &str, rec: ContainerRecord) -> Result<ContainerRecord, Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = match self.container(&rec.id) {
                Err(Error::Container(ContainerError::NotFound { .. })) => return Ok(rec),
                Err(e) => return Err(e),
                Ok(now) => now.status,
            };
            if status != Status::Removing || Instant::now() >= deadline {
                return Err(ContainerError::InvalidState {
                    name: name_or_id.to_string(),
                    status,
                    action: "remove (it changed meanwhile)",
                }
                .into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `berth wait`: blocks until the container stops, returning its exit code.
    pub async fn wait_container(&self, name_or_id: &str) -> Result<i32, Error> {
        let since = crate::journal::now_nanos();
        let rec = self.container(name_or_id)?;
        loop {
            let now = match self.container(&rec.id) {
                Ok(now) => now,
                Err(Error::Container(ContainerError::NotFound { .. })) => {
                    return self.exit_code_of_removed(name_or_id, &rec.id, since).await;
                }
                Err(e) => return Err(e),
            };
            // An `--rm` container's exit code is kept while its removal runs.
            if matches!(now.status, Status::Exited | Status::Dead | Status::Removing) {
                return Ok(now.exit_code);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// An `--rm` container can be gone between two looks; the journal's `die` event since `since` still
    /// tells how it ended, as Docker's `wait` reports it.
    async fn exit_code_of_removed(&self, name_or_id: &str, id: &str, since: i64) -> Result<i32, Error> {
        use futures_util::StreamExt;
        let filters = crate::journal::EventFilters::parse(&[format!("container={id}"), "event=die".to_string()])?;
        let until = crate::journal::now_nanos();
        let query = crate::journal::EventQuery { since: Some(since), until: Some(until), filters };
        let mut events = std::pin::pin!(self.journal_events(query).await?.into_stream());
        let mut code = None;
        while let Some(event) = events.next().await {
            code = event?.actor.attributes.get("exitCode").and_then(|c| c.parse().ok()).or(code);
        }
        code.ok_or_else(|| ContainerError::NotFound { name: name_or_id.to_string() }.into())
    }

    /// `berth rename`.
    pub fn rename_container(&self, name_or_id: &str, new_name: &str) -> Result<ContainerRecord, Error> {
        if !names::valid(new_name) {
            return Err(ContainerError::InvalidName { name: new_name.to_string() }.into());
        }
        let rec = self.container(name_or_id)?;
        let new_name = new_name.trim_start_matches('/');
        self.records().rename(&rec.id, new_name)?;
        let renamed = ContainerRecord { name: new_name.to_string(), ..rec.clone() };
        let event = container_event(&renamed, "rename").attr("oldName", format!("/{}", rec.name));
        record_container(self.root(), &renamed, event);
        Ok(rec)
    }

    /// `berth container prune`: removes every stopped container; returns their ids.
    pub async fn prune_containers(&self) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        for rec in self.records().all()? {
            let Some(rec) = reconcile::reconcile(self.store(), self.networks(), self.host(), rec)? else {
                continue;
            };
            if matches!(rec.status, Status::Created | Status::Exited | Status::Dead) {
                self.remove_container(&rec.id, false).await?;
                removed.push(rec.id);
            }
        }
        self.record_event(crate::journal::prune_event(crate::journal::EventType::Container, None));
        Ok(removed)
    }

    /// Refuses image removal while a container uses the image (for `rmi`).
    pub fn ensure_image_unused(&self, image_id: &str, image: &str) -> Result<(), Error> {
        match self.records().using_image(image_id)?.into_iter().next() {
            Some(id) => {
                Err(ContainerError::ImageInUse { image: image.to_string(), id: id.chars().take(12).collect() }.into())
            }
            None => Ok(()),
        }
    }

    /// The container's log file.
    pub fn container_log_path(&self, rec: &ContainerRecord) -> PathBuf {
        crate::logs::log_path(&container_dir(self.store().root(), &rec.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("HUP").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn validation_catches_bad_options_before_anything_is_stored() {
        assert!(validate_options(&RunOptions { cap_add: vec!["NOPE".into()], ..RunOptions::default() }).is_err());
        assert!(validate_options(&RunOptions { cap_drop: vec!["all".into()], ..RunOptions::default() }).is_ok());
        assert!(
            validate_options(&RunOptions {
                auto_remove: true,
                restart: RestartPolicy::Always,
                ..RunOptions::default()
            })
            .is_err()
        );
        assert!(
            validate_options(&RunOptions { stop_signal: Some("SIGWHAT".into()), ..RunOptions::default() }).is_err()
        );
        let bad = SeccompChoice::Profile { path: "/p.json".into(), json: "[]".into() };
        assert!(validate_options(&RunOptions { seccomp: bad, ..RunOptions::default() }).is_err());
    }
}
