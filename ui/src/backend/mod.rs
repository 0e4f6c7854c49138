//! The seam between the UI and whatever does the container work: typed rows in, operations out.
//!
//! The UI never calls the engine directly; it talks to a [`Backend`], implemented for the real engine in
//! `engine.rs` and by a fake in the tests, so every pane and dialog can be driven without a kernel.

mod cli;
mod docker_api;
mod engine;
mod follow;
mod listed;
mod run_request;
mod usage;

use std::collections::HashMap;
use std::fmt;

use berth_engine::local::ImageChanges;
use futures_util::future::BoxFuture;
use thiserror::Error;
use tokio::sync::mpsc;

pub use cli::{CliRunner, OUTPUT_LIMIT};
pub use docker_api::{ConnectError, DockerApiBackend, Endpoint, tls_dir};
pub use engine::EngineBackend;
pub use run_request::run_spec;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The engine refused or failed an operation; `target` names the image or container.
    #[error("{operation} {target}: {message}")]
    Failed { operation: &'static str, target: String, message: String },
}

impl BackendError {
    /// The same error with a container's ID (whole or short) replaced by its name, as the user knows it.
    pub fn naming(self, id: &str, name: &str) -> BackendError {
        let BackendError::Failed { operation, target, message } = self;
        let swap = |text: String| text.replace(id, name).replace(short_id(id), name);
        BackendError::Failed { operation, target: swap(target), message: swap(message) }
    }
}

/// One row of the Images pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// `sha256:` + hex, Docker's image ID.
    pub id: String,
    /// `name:tag` forms; empty for an untagged image.
    pub tags: Vec<String>,
    pub size: u64,
    /// RFC 3339, as the image config says.
    pub created: Option<String>,
    /// Names of containers made from this image.
    pub used_by: Vec<String>,
}

/// One layer of an image, bottom first, with the history entry that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    /// The compressed blob digest; empty for history entries that made no layer and for layers made here
    /// (a local layer has no blob until one is asked for).
    pub digest: String,
    pub size: u64,
    pub created_by: String,
    /// The history entry made no layer (`ENV`, `CMD` ...).
    pub empty: bool,
}

/// One row of the Networks pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// CIDR form.
    pub subnet: String,
    pub gateway: String,
    /// No route out of the host.
    pub internal: bool,
    /// Names of the containers attached now.
    pub containers: Vec<String>,
}

/// One row of the Volumes pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    /// 64 hex digits for an anonymous volume.
    pub name: String,
    pub anonymous: bool,
    pub driver: String,
    pub mountpoint: String,
    /// Names of the containers that mount it.
    pub used_by: Vec<String>,
    /// RFC 3339.
    pub created: String,
}

/// What a prune removed: network or volume names, and the bytes given back (none for networks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<String>,
    pub reclaimed: u64,
}

/// A container's lifecycle state, with the guards that decide which operations the UI offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Removing => "removing",
        }
    }

    /// Whether it has processes, whose CPU and memory can be read: running or paused.
    pub fn is_up(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused)
    }

    pub fn can_start(self) -> bool {
        matches!(self, ContainerState::Created | ContainerState::Exited)
    }

    pub fn can_stop(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting)
    }

    pub fn can_pause(self) -> bool {
        self == ContainerState::Running
    }

    pub fn can_unpause(self) -> bool {
        self == ContainerState::Paused
    }

    pub fn can_exec(self) -> bool {
        self == ContainerState::Running
    }

    pub fn can_remove(self) -> bool {
        self != ContainerState::Removing
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the Containers pane.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    /// RFC 3339 start time while running, for the uptime column.
    pub started_at: Option<String>,
    /// RFC 3339 time of the last exit, for `Exited (0) 3 minutes ago`.
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    /// Published ports as `ps` shows them: `127.0.0.1:8080->80/tcp`.
    pub ports: Vec<String>,
    /// The healthcheck's state, shown in STATUS as `ps` does; None without a healthcheck.
    pub health: Option<berth_engine::health::HealthStatus>,
    /// The kube pod or compose project the container belongs to (`pod web-pod`), which the list groups by.
    pub group: Option<String>,
    /// The command and its arguments, joined with spaces as `ps` shows them.
    pub command: String,
    /// RFC 3339 creation time.
    pub created_at: Option<String>,
    /// The engine that listed it, in the all-engines view (its ENGINE column); None when one engine shows.
    pub engine: Option<String>,
}

/// What the Containers pane's CPU and MEM columns show for a running container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerUsage {
    /// Percent of one core since the previous reading; `None` until there are two.
    pub cpu_percent: Option<f64>,
    pub memory_bytes: u64,
}

/// A lifecycle operation on one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOp {
    Start,
    Stop,
    Restart,
    Pause,
    Unpause,
    Kill,
    Remove,
    /// Remove a running container: killed first, as `rm -f`.
    ForceRemove,
}

impl ContainerOp {
    pub fn verb(self) -> &'static str {
        match self {
            ContainerOp::Start => "start",
            ContainerOp::Stop => "stop",
            ContainerOp::Restart => "restart",
            ContainerOp::Pause => "pause",
            ContainerOp::Unpause => "unpause",
            ContainerOp::Kill => "kill",
            ContainerOp::Remove | ContainerOp::ForceRemove => "remove",
        }
    }

    /// What a row shows while the engine works on it.
    pub fn progress(self) -> &'static str {
        match self {
            ContainerOp::Start => "starting…",
            ContainerOp::Stop => "stopping…",
            ContainerOp::Restart => "restarting…",
            ContainerOp::Pause => "pausing…",
            ContainerOp::Unpause => "unpausing…",
            ContainerOp::Kill => "killing…",
            ContainerOp::Remove | ContainerOp::ForceRemove => "removing…",
        }
    }
}

/// An operation on a whole compose project, as `berth compose` does it (the engine's compose use-cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectOp {
    /// `up -d`: what the files say now, changing only what changed.
    Up,
    /// `down`: containers and networks go (named volumes stay).
    Down,
    /// `restart`, dependents with `restart: true` too.
    Restart,
    /// `up -d --scale SERVICE=N SERVICE`.
    Scale { service: String, replicas: u64 },
}

impl ProjectOp {
    pub fn verb(&self) -> String {
        match self {
            ProjectOp::Up => "up".into(),
            ProjectOp::Down => "down".into(),
            ProjectOp::Restart => "restart".into(),
            ProjectOp::Scale { service, replicas } => format!("scale {service}={replicas}"),
        }
    }
}

/// What `run` needs, as the run dialog collects it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    pub image: String,
    pub name: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    /// `HOST:CONTAINER[/proto]` forms.
    pub ports: Vec<String>,
    /// `SRC:DST[:ro]` forms.
    pub volumes: Vec<String>,
    pub network: Option<String>,
    pub restart: Option<String>,
}

/// What `build` needs, as the build dialog collects it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRequest {
    /// The context directory.
    pub context: String,
    /// The Dockerfile's path; `CONTEXT/Dockerfile` when `None`.
    pub dockerfile: Option<String>,
    /// `name[:tag]` forms.
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    /// `--no-cache`: every step runs again.
    pub no_cache: bool,
    /// `--pull`: base images are pulled even when stored.
    pub pull: bool,
}

/// A build's progress as the engine reports it; `number` is BuildKit's `#N` of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildProgress {
    Step {
        number: usize,
        name: String,
    },
    Cached {
        number: usize,
    },
    Output {
        number: usize,
        line: String,
    },
    Done {
        number: usize,
        seconds: f64,
    },
    /// A base image is being pulled.
    Pulling {
        image: String,
    },
}

/// How a berth CLI run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliExit {
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl CliExit {
    pub fn success(self) -> bool {
        self == CliExit::Code(0)
    }
}

impl fmt::Display for CliExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliExit::Code(code) => write!(f, "exit status {code}"),
            CliExit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What a berth CLI run printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOutput {
    pub exit: CliExit,
    /// stdout and stderr as the command wrote them, interleaved, cut at [`OUTPUT_LIMIT`] bytes.
    pub output: String,
    /// Bytes read past the limit and dropped.
    pub dropped: u64,
}

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds.
    pub time: String,
    pub stderr: bool,
    pub text: String,
}

/// One stats sample of a container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSample {
    /// Percent of one core.
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
}

/// Where one layer of a pull stands, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    Waiting,
    AlreadyExists,
    Downloading { done: u64, total: u64 },
    Retrying { attempt: u32, reason: String },
    Verifying,
    Done,
}

/// Which followed stream of a container an [`BackendEvent::Interrupted`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    Logs,
    Stats,
}

/// Something the backend reports without being asked.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    PullProgress {
        reference: String,
        layer: String,
        state: LayerState,
    },
    /// A layer of a push (named by its diffID, as docker's push lines name it).
    PushProgress {
        reference: String,
        layer: String,
        state: berth_engine::events::PushLayerProgress,
    },
    /// Lines of the followed container's log, oldest first.
    Log {
        container: String,
        lines: Vec<LogLine>,
    },
    Stats {
        container: String,
        sample: StatsSample,
    },
    /// Bytes from a shell session's pty.
    ShellOutput {
        session: u64,
        bytes: Vec<u8>,
    },
    ShellClosed {
        session: u64,
    },
    /// A followed log or stats stream of `container` was lost (`message` says so, naming the engine) and is
    /// being asked for again; `None` once it flows again.
    Interrupted {
        container: String,
        stream: Followed,
        message: Option<String>,
    },
    /// The engine recorded something (a container created, started, died ...): lists are worth reading again.
    Changed,
    /// Progress of the build the UI numbered `build`.
    Build {
        build: u64,
        progress: BuildProgress,
    },
}

/// Everything the UI asks of the engine. Every call returns a future the UI runs in the background, so a slow
/// engine never blocks a redraw.
pub trait Backend: Send + Sync + 'static {
    /// Sends every unsolicited event to `tx` until the receiver is dropped.
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>);

    /// The canonical form of a reference (`busybox` → `docker.io/library/busybox:latest`), as pull events
    /// name it.
    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError>;

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>>;
    fn image_layers(&self, id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>>;
    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>>;
    /// What each layer of the image adds, modifies and removes (the layer explorer). A backend that cannot
    /// read layer files says so.
    fn layer_changes(&self, id: String) -> BoxFuture<'_, Result<std::sync::Arc<ImageChanges>, BackendError>> {
        Box::pin(async move {
            Err(BackendError::Failed {
                operation: "explore",
                target: id,
                message: "this engine cannot read layer files".into(),
            })
        })
    }
    /// Pulls an image; progress arrives as [`BackendEvent::PullProgress`]. Returns the image ID.
    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>>;
    /// Pushes a tag (a canonical reference) to its registry; progress arrives as
    /// [`BackendEvent::PushProgress`]. Returns the pushed manifest's digest.
    fn push(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>>;
    /// Returns the IDs and names removed.
    fn remove_image(&self, id: String, force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>>;
    /// Builds an image; progress arrives as [`BackendEvent::Build`] under the caller's number `build`. Returns
    /// the image ID.
    fn build(&self, build: u64, request: BuildRequest) -> BoxFuture<'_, Result<String, BackendError>>;
    /// Removes dangling images (every unused one when `all`); returns the bytes reclaimed.
    fn prune_images(&self, all: bool) -> BoxFuture<'_, Result<u64, BackendError>>;

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>>;
    /// CPU and memory of the given running containers (full IDs), keyed by ID; a container that is not
    /// running is left out. CPU % is over the time since the previous call that named the container.
    fn container_usage(&self, ids: Vec<String>)
    -> BoxFuture<'_, Result<HashMap<String, ContainerUsage>, BackendError>>;
    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>>;
    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>>;
    /// A compose project's operation, on the project its containers' labels name. An engine without
    /// compose refuses it.
    fn project_op(&self, project: String, op: ProjectOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            Err(BackendError::Failed {
                operation: "compose",
                target: project,
                message: format!("{} is not available on this engine", op.verb()),
            })
        })
    }
    /// Creates and starts a container; returns its ID.
    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>>;
    /// Sends the last `tail` lines, then follows: lines arrive as [`BackendEvent::Log`] until
    /// [`Backend::unfollow_logs`].
    fn follow_logs(&self, id: String, tail: usize) -> BoxFuture<'_, Result<(), BackendError>>;
    fn unfollow_logs(&self, id: String);
    /// Up to `count` log lines written before the line stamped `before` (RFC 3339), oldest first, leaving out
    /// the `skip` last ones stamped `before` itself (the caller holds those already): older history read
    /// from the log file on demand.
    fn older_logs(
        &self,
        id: String,
        before: String,
        skip: usize,
        count: usize,
    ) -> BoxFuture<'_, Result<Vec<LogLine>, BackendError>>;
    /// Samples arrive as [`BackendEvent::Stats`] about once a second until [`Backend::unfollow_stats`].
    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>>;
    fn unfollow_stats(&self, id: String);
    /// Opens an interactive shell (bash if present, else sh) in a running container on a pty of the given
    /// size; output arrives as [`BackendEvent::ShellOutput`]. Returns the session number.
    fn open_shell(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>>;
    /// Attaches a pane to the container's main process (its pty when it has one), sized like a shell;
    /// closing the pane detaches and leaves the container running. Returns the session number.
    fn attach(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>>;
    fn shell_input(&self, session: u64, bytes: Vec<u8>);
    fn resize_shell(&self, session: u64, cols: u16, rows: u16);
    /// Ends a shell session: the connection drops, so the shell gets SIGHUP as when a terminal closes.
    fn close_shell(&self, session: u64);

    /// Every network, the default one first.
    fn networks(&self) -> BoxFuture<'_, Result<Vec<NetworkRow>, BackendError>>;
    /// Refused for the default network and while a container names the network.
    fn remove_network(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Removes every user network no container uses.
    fn prune_networks(&self) -> BoxFuture<'_, Result<Pruned, BackendError>>;

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<VolumeRow>, BackendError>>;
    /// Refused while a container mounts the volume; the error names the containers.
    fn remove_volume(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Removes the anonymous volumes no container mounts.
    fn prune_volumes(&self) -> BoxFuture<'_, Result<Pruned, BackendError>>;

    /// Runs `berth ARGS` over the same state root and config as this UI: stdin is /dev/null, and the
    /// output is read up to [`OUTPUT_LIMIT`]. Err only when it could not run at all.
    fn run_cli(&self, args: Vec<String>) -> BoxFuture<'_, Result<CliOutput, BackendError>>;

    /// Shows the next engine, after the last one every engine at once; returns what is shown now, or `None`
    /// when there is only one engine.
    fn switch_engine(&self) -> Option<String> {
        None
    }
}

/// A short, stable ID for display (`sha256:abc…` → 12 hex digits).
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_id_strips_the_algorithm_and_cuts_to_twelve() {
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn guards_follow_the_lifecycle() {
        use ContainerState::*;
        assert!(Created.can_start() && Exited.can_start() && !Running.can_start());
        assert!(Running.can_pause() && !Paused.can_pause());
        assert!(Paused.can_unpause() && !Running.can_unpause());
        assert!(Running.can_stop() && Paused.can_stop() && !Exited.can_stop());
        assert!(Running.can_exec() && !Paused.can_exec());
        assert!(!Removing.can_remove() && Dead.can_remove());
        assert!(Running.is_up() && Paused.is_up() && !Restarting.is_up() && !Exited.is_up());
    }
}
