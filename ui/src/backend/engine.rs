//! [`Backend`] over the in-process engine: images, pulls, containers, their logs and stats, networks, volumes,
//! shells (exec sessions with a pty, pumped into [`BackendEvent::ShellOutput`]), and berth CLI command lines
//! (the binary re-executed over the same state root, `cli.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_engine::builder::{BuildEvent, BuildOptions};
use berth_engine::compose::{DownOptions, UpOptions};
use berth_engine::container::{ContainerRecord, ExecOptions, ListOptions, Status};
use berth_engine::container::{Output, Session};
use berth_engine::events::{Event, LayerProgress};
use berth_engine::images::{ImageRecord, RemovedImage};
use berth_engine::logs::{LogFilter, LogFollower};
use berth_engine::network::{Endpoint, NetworkRecord, PortMapping};
use berth_engine::push::PushOptions;
use berth_engine::reference::Reference;
use berth_engine::stats::StatsSnapshot;
use berth_engine::volume::{PruneOptions, VolumeFilter, VolumeRecord};
use berth_engine::{Engine, pull::PullOptions};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;

use super::cli::CliRunner;
use super::follow::{self, Subscribers, Tasks};
use super::listed::Listed;
use super::run_request::run_spec;
use super::usage::UsageTracker;
use super::{
    Backend, BackendError, BackendEvent, BuildProgress, BuildRequest, CliOutput, ContainerOp, ContainerRow,
    ContainerState, ContainerUsage, ImageRow, LayerRow, LayerState, LogLine, NetworkRow, ProjectOp, Pruned, RunRequest,
    StatsSample, VolumeRow,
};

/// The shell a pane opens: bash when the image has it, else sh.
const SHELL: &str = "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi";

/// How often a followed container's stats are sampled, as `docker stats` does.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

pub struct EngineBackend {
    engine: Arc<Engine>,
    subscribers: Subscribers,
    log_tasks: Tasks,
    stats_tasks: Tasks,
    shells: Shells,
    cli: CliRunner,
    usage: std::sync::Mutex<UsageTracker>,
    /// The container list, kept between changes the journal reports.
    listed: Arc<Listed>,
}

/// What a shell pane sends to its session.
enum ShellInput {
    Bytes(Vec<u8>),
    Resize(u16, u16),
}

/// One open shell: the sender feeding its writer task, and its reader task. Dropping both drops the
/// session's connection.
struct ShellHandle {
    input: mpsc::UnboundedSender<ShellInput>,
    reader: AbortHandle,
}

type ShellMap = Arc<std::sync::Mutex<HashMap<u64, ShellHandle>>>;

/// Open shell sessions by number.
#[derive(Default)]
struct Shells {
    next: std::sync::atomic::AtomicU64,
    open: ShellMap,
}

impl Shells {
    fn send(&self, session: u64, input: ShellInput) {
        if let Some(shell) = self.open.lock().unwrap_or_else(|e| e.into_inner()).get(&session) {
            let _ = shell.input.send(input);
        }
    }

    /// Stops the reader and, by dropping the sender, the writer: the connection closes with them.
    fn close(&self, session: u64) {
        if let Some(shell) = self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&session) {
            shell.reader.abort();
        }
    }
}

impl EngineBackend {
    /// `program` is the berth binary that `:` command lines re-execute, over the engine's state root.
    pub fn new(engine: Arc<Engine>, program: PathBuf) -> EngineBackend {
        let cli = CliRunner::new(program, engine.root().to_path_buf());
        EngineBackend {
            cli,
            engine,
            subscribers: Subscribers::default(),
            log_tasks: Tasks::default(),
            stats_tasks: Tasks::default(),
            shells: Shells::default(),
            usage: std::sync::Mutex::default(),
            listed: Arc::default(),
        }
    }

    fn failed(operation: &'static str, target: &str, error: impl ToString) -> BackendError {
        BackendError::Failed { operation, target: target.to_string(), message: error.to_string() }
    }

    /// Runs a blocking engine call (SQLite, filesystem) off the async threads.
    async fn blocking<T, F>(&self, operation: &'static str, target: String, f: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, berth_engine::Error> + Send + 'static,
    {
        let engine = self.engine.clone();
        let failed_target = target.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| BackendError::Failed { operation, target: failed_target, message: e.to_string() })?
            .map_err(|e| BackendError::Failed { operation, target, message: e.to_string() })
    }

    /// Pumps a session into the shell pane events (output, then closed) and keeps its input side; returns
    /// the session number the pane uses.
    fn serve_session(&self, session: Session) -> u64 {
        let number = self.shells.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut reader, mut writer) = session.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(input) = rx.recv().await {
                let sent = match input {
                    ShellInput::Bytes(bytes) => writer.write_stdin(&bytes).await,
                    ShellInput::Resize(cols, rows) => writer.resize(cols, rows).await,
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        let subscribers = self.subscribers.clone();
        let open = self.shells.open.clone();
        // Held until the handle is in: a reader ending at once still finds its entry to remove.
        let mut shells = self.shells.open.lock().unwrap_or_else(|e| e.into_inner());
        let reader = tokio::spawn(async move {
            while let Ok(Some(output)) = reader.read().await {
                let bytes = match output {
                    Output::Stdout(bytes) | Output::Stderr(bytes) => bytes,
                    Output::Error(message) => format!("\r\n{message}\r\n").into_bytes(),
                    Output::Exit(_) => break,
                };
                subscribers.send(BackendEvent::ShellOutput { session: number, bytes });
            }
            open.lock().unwrap_or_else(|e| e.into_inner()).remove(&number);
            subscribers.send(BackendEvent::ShellClosed { session: number });
        });
        shells.insert(number, ShellHandle { input: tx, reader: reader.abort_handle() });
        number
    }
}

fn image_row(record: ImageRecord, used_by: &HashMap<String, Vec<String>>) -> ImageRow {
    let used_by = used_by.get(&record.id).cloned().unwrap_or_default();
    ImageRow { id: record.id, tags: record.repo_tags, size: record.size, created: record.created, used_by }
}

fn stats_sample(snapshot: &StatsSnapshot) -> StatsSample {
    let s = &snapshot.stats;
    StatsSample {
        cpu_percent: snapshot.cpu_percent,
        memory_bytes: s.memory_usage,
        memory_limit: s.memory_limit,
        net_rx: s.net_rx,
        net_tx: s.net_tx,
        block_read: s.block_read,
        block_write: s.block_write,
    }
}

fn container_state(status: Status) -> ContainerState {
    match status {
        Status::Created => ContainerState::Created,
        Status::Running => ContainerState::Running,
        Status::Paused => ContainerState::Paused,
        Status::Restarting => ContainerState::Restarting,
        Status::Exited => ContainerState::Exited,
        Status::Dead => ContainerState::Dead,
        Status::Removing => ContainerState::Removing,
    }
}

/// A container's row, with its published ports.
fn container_row(record: ContainerRecord, ports: &[PortMapping]) -> ContainerRow {
    let state = container_state(record.status);
    ContainerRow {
        exit_code: matches!(state, ContainerState::Exited | ContainerState::Dead).then_some(record.exit_code),
        started_at: record.started_at.filter(|_| record.status.is_active()),
        finished_at: record.finished_at,
        id: record.id,
        name: record.name,
        image: record.image_name,
        state,
        ports: ports.iter().map(PortMapping::ps_form).collect(),
        health: record.health.map(|h| h.status),
        group: crate::panes::groups::group_of(&record.options.labels),
        command: record.command.join(" "),
        created_at: Some(record.created_at),
        engine: None,
    }
}

fn network_row(record: NetworkRecord, endpoints: &[Endpoint]) -> NetworkRow {
    NetworkRow {
        id: record.id,
        name: record.name,
        driver: record.driver,
        subnet: record.subnet.to_string(),
        gateway: record.gateway.to_string(),
        internal: record.internal,
        containers: endpoints.iter().map(|e| e.container_name.clone()).collect(),
    }
}

fn volume_row(record: VolumeRecord) -> VolumeRow {
    VolumeRow {
        mountpoint: record.mountpoint.display().to_string(),
        name: record.name,
        anonymous: record.anonymous,
        driver: record.driver,
        used_by: record.used_by,
        created: record.created,
    }
}

/// Every container, stopped ones included, as the Containers pane lists them.
fn all_containers(engine: &Engine) -> Result<Vec<ContainerRecord>, berth_engine::Error> {
    engine.list_containers(&ListOptions { all: true, filters: Vec::new() })
}

fn layer_state(progress: LayerProgress) -> LayerState {
    match progress {
        LayerProgress::Waiting => LayerState::Waiting,
        LayerProgress::AlreadyExists => LayerState::AlreadyExists,
        LayerProgress::Downloading { done, total } => LayerState::Downloading { done, total },
        LayerProgress::Retrying { attempt, reason } => LayerState::Retrying { attempt, reason },
        LayerProgress::Verifying => LayerState::Verifying,
        LayerProgress::Done => LayerState::Done,
    }
}

/// What the dialog's step list shows of a build event (it counts steps as they come, not from the plan).
fn build_progress(event: BuildEvent) -> Option<BuildProgress> {
    Some(match event {
        BuildEvent::Planned { .. } | BuildEvent::Failed { .. } => return None,
        BuildEvent::Step { number, name } => BuildProgress::Step { number, name },
        BuildEvent::Cached { number } => BuildProgress::Cached { number },
        BuildEvent::Output { number, line } => BuildProgress::Output { number, line },
        BuildEvent::Done { number, seconds } => BuildProgress::Done { number, seconds },
        BuildEvent::Pulling { image } => BuildProgress::Pulling { image },
    })
}

fn build_options(request: BuildRequest) -> BuildOptions {
    BuildOptions {
        context: PathBuf::from(request.context),
        dockerfile: request.dockerfile.map(PathBuf::from),
        tags: request.tags,
        build_args: request.build_args.into_iter().collect(),
        target: request.target,
        no_cache: request.no_cache,
        pull: request.pull,
        ..BuildOptions::default()
    }
}

/// Pairs the image's history with its layers: entries marked `empty_layer` made none.
fn layer_rows(engine: &Engine, image: &ImageRecord) -> Result<Vec<LayerRow>, berth_engine::Error> {
    let history: Vec<(String, bool)> = image
        .config
        .history()
        .iter()
        .flatten()
        .map(|h| (h.created_by().clone().unwrap_or_default(), !h.empty_layer().unwrap_or(false)))
        .collect();
    let made_layers = history.iter().filter(|(_, layer)| *layer).count();
    // Layers the history does not account for (a config without history) get an empty command.
    let unexplained = image.layers.len().saturating_sub(made_layers);
    let entries = history.into_iter().chain(std::iter::repeat_n((String::new(), true), unexplained));
    let mut layers = engine.image_layers(image)?.into_iter();
    let mut rows = Vec::new();
    for (created_by, makes_layer) in entries {
        let record = makes_layer.then(|| layers.next()).flatten().flatten();
        rows.push(LayerRow {
            digest: record.as_ref().map(|l| l.blob_digest.clone()).unwrap_or_default(),
            size: record.map_or(0, |l| l.size),
            created_by,
            empty: !makes_layer,
        });
    }
    Ok(rows)
}

impl Backend for EngineBackend {
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>) {
        self.subscribers.add(tx.clone());
        tokio::spawn(super::listed::watch(self.engine.clone(), self.listed.clone(), self.subscribers.clone()));
        let mut rx = self.engine.events().subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(Event::Pull(p)) => {
                        let event = BackendEvent::PullProgress {
                            reference: p.reference,
                            layer: p.layer,
                            state: layer_state(p.progress),
                        };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Push(p)) => {
                        let event =
                            BackendEvent::PushProgress { reference: p.reference, layer: p.layer, state: p.progress };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError> {
        Reference::parse(reference).map(|r| r.to_string()).map_err(|e| BackendError::Failed {
            operation: "pull",
            target: reference.to_string(),
            message: e.to_string(),
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>> {
        Box::pin(self.blocking("list images", String::new(), |e| {
            let mut used_by: HashMap<String, Vec<String>> = HashMap::new();
            for c in all_containers(e)? {
                used_by.entry(c.image_id).or_default().push(c.name);
            }
            Ok(e.list_images()?.into_iter().map(|i| image_row(i, &used_by)).collect())
        }))
    }

    fn image_layers(&self, id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>> {
        Box::pin(self.blocking("layers of", id.clone(), move |e| {
            let image = e.image(&id)?;
            layer_rows(e, &image)
        }))
    }

    fn layer_changes(
        &self,
        id: String,
    ) -> BoxFuture<'_, Result<std::sync::Arc<berth_engine::local::ImageChanges>, BackendError>> {
        Box::pin(self.blocking("explore", id.clone(), move |e| e.layer_changes(&id).map(std::sync::Arc::new)))
    }

    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(self.blocking("inspect", id.clone(), move |e| {
            let value = e.inspect_image(&id)?;
            Ok(serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()))
        }))
    }

    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            self.engine
                .pull(&reference, PullOptions::default())
                .await
                .map(|p| p.image_id)
                .map_err(|e| BackendError::Failed { operation: "pull", target: reference, message: e.to_string() })
        })
    }

    fn push(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let pushed = self.engine.push(&reference, PushOptions::default()).await;
            let failed =
                |message: String| BackendError::Failed { operation: "push", target: reference.clone(), message };
            match pushed {
                Ok(tags) => {
                    tags.into_iter().next().map(|p| p.digest).ok_or_else(|| failed("nothing was pushed".into()))
                }
                Err(e) => Err(failed(e.to_string())),
            }
        })
    }

    fn build(&self, build: u64, request: BuildRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let context = request.context.clone();
            let subscribers = self.subscribers.clone();
            let progress = move |event: BuildEvent| {
                if let Some(progress) = build_progress(event) {
                    subscribers.send(BackendEvent::Build { build, progress })
                }
            };
            self.engine
                .build(build_options(request), &progress)
                .await
                .map(|outcome| outcome.image_id)
                .map_err(|e| BackendError::Failed { operation: "build", target: context, message: e.to_string() })
        })
    }

    fn remove_image(&self, id: String, force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(self.blocking("remove", id.clone(), move |e| {
            Ok(e.remove_image(&id, force)?
                .into_iter()
                .map(|r| match r {
                    RemovedImage::Untagged(name) => format!("untagged {name}"),
                    RemovedImage::Deleted(id) => format!("deleted {id}"),
                })
                .collect())
        }))
    }

    fn prune_images(&self, all: bool) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(self.blocking("prune", "images".into(), move |e| Ok(e.prune_images(all)?.reclaimed)))
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>> {
        Box::pin(async move {
            let now = std::time::Instant::now();
            if let Some(rows) = self.listed.kept(now) {
                return Ok(rows);
            }
            let rows = self
                .blocking("list", "containers".into(), |e| {
                    // One query for every container's ports, not one per row.
                    let ports = e.published_ports()?;
                    Ok(all_containers(e)?
                        .into_iter()
                        .map(|r| {
                            let published = ports.get(&r.id).map(Vec::as_slice).unwrap_or_default();
                            container_row(r, published)
                        })
                        .collect::<Vec<_>>())
                })
                .await;
            self.listed.keep(now, rows.as_deref().ok());
            rows
        })
    }

    fn container_usage(
        &self,
        ids: Vec<String>,
    ) -> BoxFuture<'_, Result<HashMap<String, ContainerUsage>, BackendError>> {
        Box::pin(async move {
            let readings = self.blocking("usage of", "containers".into(), move |e| e.usage_samples(&ids)).await?;
            let mut tracker = self.usage.lock().unwrap_or_else(|e| e.into_inner());
            Ok(tracker.update(readings, std::time::Instant::now()))
        })
    }

    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let engine = &self.engine;
            let result = match op {
                ContainerOp::Start => engine.start_container(&id).await.map(drop),
                ContainerOp::Stop => engine.stop_container(&id, None).await.map(drop),
                ContainerOp::Restart => engine.restart_container(&id, None).await.map(drop),
                ContainerOp::Remove => engine.remove_container(&id, false).await.map(drop),
                ContainerOp::ForceRemove => engine.remove_container(&id, true).await.map(drop),
                ContainerOp::Pause => {
                    return self.blocking("pause", id.clone(), move |e| e.pause_container(&id).map(drop)).await;
                }
                ContainerOp::Unpause => {
                    return self.blocking("unpause", id.clone(), move |e| e.unpause_container(&id).map(drop)).await;
                }
                ContainerOp::Kill => engine.kill_container(&id, None).await.map(drop),
            };
            result.map_err(|e| Self::failed(op.verb(), &id, e))
        })
    }

    fn project_op(&self, project: String, op: ProjectOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let engine = &self.engine;
            let quiet = |_| {};
            let result = async {
                let loaded = engine.compose_project(&project)?;
                match &op {
                    ProjectOp::Up => engine.compose_up(&loaded, &UpOptions::default(), &quiet).await,
                    ProjectOp::Down => engine.compose_down(&loaded, &DownOptions::default(), &quiet).await,
                    ProjectOp::Restart => engine.compose_restart(&loaded, &[], &quiet).await,
                    ProjectOp::Scale { service, replicas } => {
                        let options = UpOptions {
                            services: vec![service.clone()],
                            scale: [(service.clone(), *replicas)].into(),
                            ..UpOptions::default()
                        };
                        engine.compose_up(&loaded, &options, &quiet).await
                    }
                }
            };
            result.await.map_err(|e| BackendError::Failed {
                operation: "compose",
                target: project.clone(),
                message: format!("{}: {e}", op.verb()),
            })
        })
    }

    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(self.blocking("inspect", id.clone(), move |e| {
            let record = e.container(&id)?;
            let value = e.inspect_container(&record)?;
            Ok(serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()))
        }))
    }

    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let spec = run_spec(&request).map_err(|message| Self::failed("run", &request.image, message))?;
            // Pull if missing, create and start, with everything removed again when any step fails.
            let outcome = self.engine.run(spec, &|_| {}).await.map_err(|e| Self::failed("run", &request.image, e))?;
            Ok(outcome.record.id)
        })
    }

    fn follow_logs(&self, id: String, tail: usize) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let target = id.clone();
            let (follower, entries, path) = self
                .blocking("logs of", id.clone(), move |e| {
                    let record = e.container(&target)?;
                    let path = e.container_log_path(&record);
                    let io = |source| berth_engine::container::ContainerError::Io {
                        id: record.id.clone(),
                        action: "follow log",
                        path: path.clone(),
                        source,
                    };
                    // The follower starts first, so nothing written between the two is lost.
                    let follower = LogFollower::at_end(&path).map_err(io)?;
                    let filter = LogFilter { tail: Some(tail), ..LogFilter::default() };
                    let (_, entries) = e.container_logs(&record.id, &filter)?;
                    Ok((follower, entries, path))
                })
                .await?;
            follow::send_lines(&self.subscribers, &id, entries);
            // Made after the follower: a write between the two is read on the first look, which comes anyway.
            let watch = berth_engine::log_watch::LogWatch::new(&path)
                .inspect_err(|e| tracing::warn!("log of {id} is polled: watch {}: {e}", path.display()))
                .ok();
            let task = tokio::spawn(follow::follow_log(follower, id.clone(), self.subscribers.clone(), watch));
            self.log_tasks.replace(id, task.abort_handle());
            Ok(())
        })
    }

    fn unfollow_logs(&self, id: String) {
        self.log_tasks.stop(&id);
    }

    fn older_logs(
        &self,
        id: String,
        before: String,
        skip: usize,
        count: usize,
    ) -> BoxFuture<'_, Result<Vec<LogLine>, BackendError>> {
        Box::pin(self.blocking("logs of", id.clone(), move |e| {
            let record = e.container(&id)?;
            let path = e.container_log_path(&record);
            follow::older_lines(&path, &before, skip, count).map_err(|source| {
                berth_engine::container::ContainerError::Io { id: record.id.clone(), action: "read log", path, source }
                    .into()
            })
        }))
    }

    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let target = id.clone();
            let snapshots =
                self.blocking("stats of", id.clone(), move |e| e.stats_stream(&target, STATS_INTERVAL)).await?;
            let (subscribers, container) = (self.subscribers.clone(), id.clone());
            // Samples flow until unfollowed, or until the container exits or a reading fails.
            let task = tokio::spawn(async move {
                let mut snapshots = std::pin::pin!(snapshots);
                while let Some(Ok(snapshot)) = snapshots.next().await {
                    subscribers
                        .send(BackendEvent::Stats { container: container.clone(), sample: stats_sample(&snapshot) });
                }
            });
            self.stats_tasks.replace(id, task.abort_handle());
            Ok(())
        })
    }

    fn unfollow_stats(&self, id: String) {
        self.stats_tasks.stop(&id);
    }

    fn open_shell(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let options = ExecOptions {
                cmd: vec!["/bin/sh".into(), "-c".into(), SHELL.into()],
                env: vec!["TERM=xterm-256color".into()],
                tty: true,
                stdin: true,
                cols,
                rows,
                ..ExecOptions::default()
            };
            match self.engine.exec(&id, options).await {
                Ok(Some(session)) => Ok(self.serve_session(session)),
                Ok(None) => Err(Self::failed("exec", &id, "the exec returned no session")),
                Err(e) => Err(Self::failed("exec", &id, e)),
            }
        })
    }

    fn attach(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let mut session = self.engine.attach(&id).await.map_err(|e| Self::failed("attach", &id, e))?;
            session.resize(cols, rows).await.map_err(|e| Self::failed("attach", &id, e))?;
            Ok(self.serve_session(session))
        })
    }

    fn shell_input(&self, session: u64, bytes: Vec<u8>) {
        self.shells.send(session, ShellInput::Bytes(bytes));
    }

    fn resize_shell(&self, session: u64, cols: u16, rows: u16) {
        self.shells.send(session, ShellInput::Resize(cols, rows));
    }

    fn close_shell(&self, session: u64) {
        self.shells.close(session);
    }

    fn networks(&self) -> BoxFuture<'_, Result<Vec<NetworkRow>, BackendError>> {
        Box::pin(self.blocking("list", "networks".into(), |e| {
            Ok(e.networks_with_endpoints()?
                .into_iter()
                .map(|(record, endpoints)| network_row(record, &endpoints))
                .collect())
        }))
    }

    fn remove_network(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.blocking("remove network", name.clone(), move |e| e.remove_network(&name).map(drop)))
    }

    fn prune_networks(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(
            self.blocking("prune", "networks".into(), |e| Ok(Pruned { removed: e.prune_networks()?, reclaimed: 0 })),
        )
    }

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<VolumeRow>, BackendError>> {
        Box::pin(self.blocking("list", "volumes".into(), |e| {
            Ok(e.volumes(&VolumeFilter::default())?.into_iter().map(volume_row).collect())
        }))
    }

    fn remove_volume(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(self.blocking("remove volume", name.clone(), move |e| e.remove_volume(&name, false)))
    }

    fn prune_volumes(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(self.blocking("prune", "volumes".into(), |e| {
            let (removed, reclaimed) = e.prune_volumes(&PruneOptions::default())?;
            Ok(Pruned { removed, reclaimed })
        }))
    }

    fn run_cli(&self, args: Vec<String>) -> BoxFuture<'_, Result<CliOutput, BackendError>> {
        Box::pin(self.cli.run(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status) -> ContainerRecord {
        ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            image_id: "sha256:abc".into(),
            image_name: "busybox".into(),
            options: Default::default(),
            command: vec!["sh".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
            status,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            monitor_ino: 0,
            exit_code: 3,
            oom_killed: false,
            started_at: Some("2026-01-01T00:00:01Z".into()),
            finished_at: None,
            restart_count: 0,
            stop_requested: false,
            error: String::new(),
            health: None,
        }
    }

    #[test]
    fn rows_show_uptime_and_ports_while_active_and_exit_codes_once_ended() {
        let running = container_row(record(Status::Running), &[PortMapping::parse("127.0.0.1:8080:80").unwrap()]);
        assert_eq!(running.ports, ["127.0.0.1:8080->80/tcp"]);
        assert_eq!((running.state, running.exit_code), (ContainerState::Running, None));
        assert_eq!(running.started_at.as_deref(), Some("2026-01-01T00:00:01Z"));
        assert_eq!((running.name.as_str(), running.image.as_str()), ("web", "busybox"));
        let exited = container_row(record(Status::Exited), &[]);
        assert_eq!((exited.state, exited.exit_code, exited.started_at), (ContainerState::Exited, Some(3), None));
        assert_eq!(container_row(record(Status::Paused), &[]).state, ContainerState::Paused);
    }

    #[test]
    fn a_stats_snapshot_becomes_the_panes_sample() {
        let stats = berth_engine::stats::Stats {
            memory_usage: 10,
            memory_limit: 20,
            net_rx: 1,
            net_tx: 2,
            block_read: 3,
            block_write: 4,
            ..Default::default()
        };
        let snapshot =
            StatsSnapshot { id: "c".into(), name: "web".into(), cpu_percent: 150.0, memory_percent: 50.0, stats };
        let sample = stats_sample(&snapshot);
        assert_eq!(
            sample,
            StatsSample {
                cpu_percent: 150.0,
                memory_bytes: 10,
                memory_limit: 20,
                net_rx: 1,
                net_tx: 2,
                block_read: 3,
                block_write: 4
            }
        );
    }

    #[test]
    fn images_name_the_containers_using_them() {
        let image = ImageRecord {
            id: "sha256:abc".into(),
            config: Default::default(),
            repo_tags: vec!["busybox:latest".into()],
            repo_digests: Vec::new(),
            size: 1,
            created: None,
            manifest_digest: "sha256:def".into(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            pulled_at: "2026-01-01T00:00:00Z".into(),
            layers: Vec::new(),
        };
        let used_by = HashMap::from([("sha256:abc".to_string(), vec!["web".to_string()])]);
        assert_eq!(image_row(image.clone(), &used_by).used_by, vec!["web"]);
        assert!(image_row(image, &HashMap::new()).used_by.is_empty());
    }
}
