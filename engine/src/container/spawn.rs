//! Starting berth's helper processes (a container's monitor, an exec helper), and monitors started ahead of
//! their container ([`Standby`]).

use std::ffi::OsStr;
use std::io::{BufReader, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ContainerError;
use crate::monitor::{ASSIGNED_LATER, MONITOR_SUBCOMMAND, READY_ON_STDOUT};
use crate::{Engine, Error};

/// A monitor started before its container exists (its id operand a placeholder), so that its own start (berth's
/// exec, the detach, the store's opening: a few milliseconds) overlaps what its launcher does meanwhile (making
/// the container, a build's previous step) instead of following it. It reads the container's id on its stdin;
/// one never given an id exits when its launcher hangs up, and is waited for when the [`Standby`] is dropped.
pub(crate) struct Standby {
    spawned: Option<Spawned>,
}

struct Spawned {
    /// The half that forks the monitor away and exits.
    first_half: Child,
    channel: BufReader<PipeReader>,
    assign: PipeWriter,
}

/// A started monitor's ready channel, with the first half to reap before reading it (blocking).
pub(super) struct Channel {
    pub(super) reader: BufReader<PipeReader>,
    first_half: Option<Child>,
}

impl Channel {
    /// Reaps the first half, if not yet: to be called where blocking is fine, before reading.
    pub(super) fn reap(&mut self) {
        if let Some(mut child) = self.first_half.take() {
            let _ = child.wait();
        }
    }
}

/// How long dropping an unused standby waits for its monitor to be gone (it exits as soon as it reads the
/// hang-up, after the store's opening).
const DISMISS_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Starts a monitor for a container about to be made (see [`Standby`]). A standby that cannot be started
    /// is empty: the start then spawns its monitor as usual, and reports any failure there.
    pub(crate) fn standby(&self) -> Standby {
        let pipe = std::io::pipe()
            .map_err(|source| Error::from(ContainerError::Monitor { id: ASSIGNED_LATER.to_string(), source }));
        let spawned = pipe.and_then(|(read, assign)| {
            let args = [OsStr::new(MONITOR_SUBCOMMAND), self.store().root().as_os_str(), OsStr::new(ASSIGNED_LATER)];
            let (first_half, channel) = self.launch_helper(ASSIGNED_LATER, &args, OwnedFd::from(read).into())?;
            Ok(Spawned { first_half, channel, assign })
        });
        match spawned {
            Ok(spawned) => Standby { spawned: Some(spawned) },
            Err(err) => {
                tracing::debug!(%err, "starting a standby monitor");
                Standby { spawned: None }
            }
        }
    }

    /// The ready channel of a monitor for container `id`: the standby's when there is one still alive, else a
    /// monitor spawned now.
    pub(super) fn monitor_for(&self, id: &str, standby: Option<Standby>) -> Result<Channel, Error> {
        if let Some(channel) = standby.and_then(|s| s.assign(id)) {
            return Ok(channel);
        }
        let root = self.store().root().as_os_str();
        let reader = self.spawn_helper(id, &[OsStr::new(MONITOR_SUBCOMMAND), root, OsStr::new(id)])?;
        Ok(Channel { reader, first_half: None })
    }

    /// Runs `berth ARGS` (the monitor, an exec helper) for container `id` in a new session with the ready
    /// pipe at fd 3, and reaps the short-lived first half (the helper forks away from it).
    pub(super) fn spawn_helper(&self, id: &str, args: &[&OsStr]) -> Result<BufReader<PipeReader>, Error> {
        let (mut first_half, reader) = self.launch_helper(id, args, Stdio::null())?;
        first_half.wait().map_err(|source| ContainerError::Monitor { id: id.to_string(), source })?;
        Ok(reader)
    }

    /// [`Engine::spawn_helper`] without the wait, with `stdin` as the helper's.
    fn launch_helper(&self, id: &str, args: &[&OsStr], stdin: Stdio) -> Result<(Child, BufReader<PipeReader>), Error> {
        let fail = |source: std::io::Error| ContainerError::Monitor { id: id.to_string(), source };
        let exe = monitor_executable().map_err(fail)?;
        // Executed through a sealed descriptor, the helper starts read-only already and needs no re-exec of its
        // own (CVE-2019-5736); if sealing fails here, the helper seals itself.
        // A test's berth binary seals itself (this process's own executable is the test).
        let sealed = match test_monitor() {
            Some(_) => None,
            None => crate::monitor::sealed_self()
                .inspect_err(|err| tracing::debug!(%err, "sealing the helper binary in the launcher"))
                .ok(),
        };
        let (reader, writer) = std::io::pipe().map_err(fail)?;
        let mut cmd = match &sealed {
            Some(fd) => {
                let mut cmd = Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                cmd.arg0(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        // The ready pipe goes as stdout, which the helper takes it off first thing (`Ready::inherit`): with
        // nothing to run between fork and exec, the spawn is a posix_spawn (a vfork), which copies none of
        // this process's page tables (for a CLI or TUI with its runtime's threads ~0.5 ms, then a fault for
        // each page it writes). The helper makes its own session.
        cmd.args(args).stdin(stdin).stdout(writer).stderr(Stdio::null()).env(READY_ON_STDOUT, "1");
        // The helper reads the config file this engine was opened with, whatever the environment says.
        match helper_config(self.config()) {
            HelperConfig::File(path) => cmd.env("BERTH_CONFIG", path),
            HelperConfig::Defaults => cmd.env_remove("BERTH_CONFIG"),
            HelperConfig::Inherited => &mut cmd,
        };
        let child = cmd.spawn().map_err(fail);
        // This process's end of the pipe, in the command, goes before the channel is read.
        drop(cmd);
        if let Some(fd) = sealed {
            crate::monitor::release_sealed(fd);
        }
        Ok((child?, BufReader::new(reader)))
    }
}

impl Standby {
    /// Hands the monitor container `id`: its ready channel, or `None` when it was never started or is gone.
    fn assign(mut self, id: &str) -> Option<Channel> {
        let Spawned { first_half, channel, mut assign } = self.spawned.take()?;
        let written = assign.write_all(format!("{id}\n").as_bytes());
        let channel = Channel { reader: channel, first_half: Some(first_half) };
        match written {
            Ok(()) => Some(channel),
            Err(err) => {
                tracing::debug!(%err, id, "handing a standby monitor its container");
                dismiss(channel);
                None
            }
        }
    }
}

impl Drop for Standby {
    /// An unused monitor hears the hang-up and is waited for: it may be opening the store, and nothing of a
    /// berth command may outlive it.
    fn drop(&mut self) {
        if let Some(Spawned { first_half, channel, assign }) = self.spawned.take() {
            drop(assign);
            dismiss(Channel { reader: channel, first_half: Some(first_half) });
        }
    }
}

/// Waits (up to [`DISMISS_TIMEOUT`]) for a monitor told to go to close its ready channel, that is, to exit.
fn dismiss(mut channel: Channel) {
    channel.reap();
    let deadline = Instant::now() + DISMISS_TIMEOUT;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(err) = crate::session::wait_readable(channel.reader.get_ref(), left, "the monitor's exit") {
            tracing::debug!(%err, "waiting for a dismissed standby monitor");
            return;
        }
        match channel.reader.get_mut().read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// What a helper is told of the engine's config file.
#[derive(Debug, PartialEq, Eq)]
enum HelperConfig<'a> {
    /// The file the settings were read from.
    File(&'a Path),
    /// None: there was no file where the settings would have come from, so they are the defaults. Named
    /// anyway, it would be refused by the helper as a BERTH_CONFIG that does not exist.
    Defaults,
    /// Nothing is known of a file (settings made in code): the helper looks as this process did.
    Inherited,
}

fn helper_config(config: &crate::Config) -> HelperConfig<'_> {
    match config.path.as_deref() {
        Some(path) if path.exists() => HelperConfig::File(path),
        Some(_) => HelperConfig::Defaults,
        None => HelperConfig::Inherited,
    }
}

/// The berth binary to run as monitor: this executable (the CLI, the TUI and the API server are one binary).
fn monitor_executable() -> std::io::Result<PathBuf> {
    match test_monitor() {
        Some(berth) => Ok(berth),
        None => std::env::current_exe(),
    }
}

/// The berth binary a test process named to run as the monitor (see `testing::use_monitor_executable`).
fn test_monitor() -> Option<PathBuf> {
    #[cfg(any(test, feature = "testing"))]
    return crate::testing::monitor_executable();
    #[cfg(not(any(test, feature = "testing")))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_are_named_the_config_file_only_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("config.toml");
        // A default file that does not exist gives the defaults, and its path for messages.
        let defaults = crate::Config::load_from(&missing).unwrap();
        assert_eq!(defaults.path.as_deref(), Some(missing.as_path()));
        assert_eq!(helper_config(&defaults), HelperConfig::Defaults);
        std::fs::write(&missing, "max_concurrent_downloads = 2\n").unwrap();
        let read = crate::Config::load_from(&missing).unwrap();
        assert_eq!(helper_config(&read), HelperConfig::File(&missing));
        assert_eq!(helper_config(&crate::Config::default()), HelperConfig::Inherited);
    }
}
