//! [`Backend`] over the Docker Engine API (bollard): a `berth serve` socket, Docker, Podman, over `unix://`,
//! `tcp://` with TLS, or `ssh://`. Every call has a timeout (the client's, for an answer's head); followed logs
//! and stats that lose their stream say so in the pane, naming the engine, and reconnect until unfollowed.
//! What cannot go through the API (a `:` command line: berth's CLI is local) is refused with a message saying so.

mod build;
mod connect;
mod convert;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_engine::reference::Reference;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    KillContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder, PruneImagesOptionsBuilder,
    PushImageOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    ResizeContainerTTYOptionsBuilder, ResizeExecOptionsBuilder, StatsOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub use connect::{ConnectError, Endpoint, tls_dir};

use super::follow::{Subscribers, Tasks};
use super::{
    Backend, BackendError, BackendEvent, BuildRequest, CliOutput, ContainerOp, ContainerRow, ContainerUsage, Followed,
    ImageRow, LayerRow, LogLine, NetworkRow, Pruned, RunRequest, VolumeRow,
};
use convert::Times;

/// The shell a pane opens: bash when the image has it, else sh (as the in-process backend does).
const SHELL: &str = "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi";

/// How long a lost log or stats stream waits before it asks again.
const RETRY: Duration = Duration::from_secs(2);

/// What a shell pane sends to its session.
enum ShellInput {
    Bytes(Vec<u8>),
    Resize(u16, u16),
}

struct ShellHandle {
    input: mpsc::UnboundedSender<ShellInput>,
    reader: AbortHandle,
}

pub struct DockerApiBackend {
    /// The engine's name as the UI shows it; every error names it.
    name: String,
    docker: Docker,
    subscribers: Subscribers,
    log_tasks: Tasks,
    stats_tasks: Tasks,
    shells: std::sync::Arc<Mutex<HashMap<u64, ShellHandle>>>,
    next_shell: AtomicU64,
    /// Start and exit times by container ID, inspected again only when the listed state changes.
    times: Mutex<HashMap<String, Times>>,
}

impl DockerApiBackend {
    /// A backend for `endpoint` named `name`; nothing is sent until the UI asks.
    pub fn new(name: &str, endpoint: &Endpoint) -> Result<DockerApiBackend, ConnectError> {
        Ok(DockerApiBackend {
            name: name.to_string(),
            docker: connect::connect(endpoint)?,
            subscribers: Subscribers::default(),
            log_tasks: Tasks::default(),
            stats_tasks: Tasks::default(),
            shells: std::sync::Arc::default(),
            next_shell: AtomicU64::new(0),
            times: Mutex::default(),
        })
    }

    fn failed(&self, operation: &'static str, target: &str, error: impl std::fmt::Display) -> BackendError {
        failed(&self.name, operation, target, error)
    }

    /// Pumps an exec or attach stream into shell events and feeds its input; returns the session number. When
    /// the stream ends while `running` says its process still runs, the connection was lost, and the pane says so.
    fn serve_session(
        &self,
        mut output: std::pin::Pin<
            Box<dyn Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>,
        >,
        mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
        resize: impl Fn(u16, u16) -> BoxFuture<'static, ()> + Send + 'static,
        running: BoxFuture<'static, bool>,
    ) -> u64 {
        let number = self.next_shell.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                match message {
                    ShellInput::Bytes(bytes) => {
                        if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                            return;
                        }
                    }
                    ShellInput::Resize(cols, rows) => resize(cols, rows).await,
                }
            }
        });
        let (subscribers, open, engine) = (self.subscribers.clone(), self.shells.clone(), self.name.clone());
        let mut shells = self.shells.lock().unwrap_or_else(|e| e.into_inner());
        let reader = tokio::spawn(async move {
            let mut lost = None;
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(chunk) => subscribers
                        .send(BackendEvent::ShellOutput { session: number, bytes: chunk.into_bytes().to_vec() }),
                    Err(e) => {
                        lost = Some(e.to_string());
                        break;
                    }
                }
            }
            if lost.is_none() && running.await {
                lost = Some("the connection closed while the process runs on".into());
            }
            if let Some(reason) = lost {
                let bytes = format!("\r\n[berth: lost the session on engine {engine}: {reason}]\r\n").into_bytes();
                subscribers.send(BackendEvent::ShellOutput { session: number, bytes });
            }
            open.lock().unwrap_or_else(|e| e.into_inner()).remove(&number);
            subscribers.send(BackendEvent::ShellClosed { session: number });
        });
        shells.insert(number, ShellHandle { input: tx, reader: reader.abort_handle() });
        number
    }

    /// Every container, with the start and exit times of those whose state changed since the last listing.
    async fn list_containers(&self) -> Result<Vec<bollard::models::ContainerSummary>, BackendError> {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        self.docker.list_containers(Some(options)).await.map_err(|e| self.failed("list containers", "", e))
    }
}

/// An API error as the UI shows it: the server's message when it sent one, and the engine's name.
fn failed(engine: &str, operation: &'static str, target: &str, error: impl std::fmt::Display) -> BackendError {
    let text = error.to_string();
    let message =
        text.split_once(": ").filter(|_| text.starts_with("Docker responded")).map_or(text.as_str(), |(_, m)| m);
    BackendError::Failed { operation, target: target.to_string(), message: format!("{message} (engine {engine})") }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A note in a followed log, as the pane shows lines.
fn note(text: String) -> LogLine {
    LogLine { time: now(), stderr: true, text: format!("[berth: {text}]") }
}

/// Splits stream chunks into whole lines per stream (a frame may end mid-line).
#[derive(Default)]
struct LineSplitter {
    stdout: String,
    stderr: String,
}

impl LineSplitter {
    fn push(&mut self, chunk: bollard::container::LogOutput, lines: &mut Vec<LogLine>) {
        use bollard::container::LogOutput;
        let (stderr, bytes) = match chunk {
            LogOutput::StdErr { message } => (true, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } | LogOutput::StdIn { message } => {
                (false, message)
            }
        };
        let buffer = if stderr { &mut self.stderr } else { &mut self.stdout };
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find('\n') {
            let record: String = buffer.drain(..=end).collect();
            lines.push(convert::log_line(&record, stderr, &now()));
        }
    }
}

/// Follows a container's log until aborted: a lost stream is noted in the log and asked for again from the
/// last line seen; a clean end (the container stopped) waits for it to run again.
async fn follow_log(docker: Docker, engine: String, id: String, subscribers: Subscribers, mut last: Option<String>) {
    let stamp =
        |t: Option<&str>| t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp() as i32);
    let mut since = stamp(last.as_deref()).unwrap_or_else(|| chrono::Utc::now().timestamp() as i32);
    let mut lost = false;
    loop {
        let options =
            LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).timestamps(true).since(since).build();
        let mut stream = docker.logs(&id, Some(options));
        let mut splitter = LineSplitter::default();
        let mut error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    let mut lines = Vec::new();
                    splitter.push(chunk, &mut lines);
                    // Lines at or before the last one seen came again with a reconnect's `since`.
                    lines.retain(|l| last.as_ref().is_none_or(|seen| later(&l.time, seen)));
                    if let Some(line) = lines.last() {
                        last = Some(line.time.clone());
                    }
                    if lost && !lines.is_empty() {
                        lost = false;
                        subscribers.send(BackendEvent::Interrupted {
                            container: id.clone(),
                            stream: Followed::Logs,
                            message: None,
                        });
                    }
                    if !lines.is_empty() {
                        subscribers.send(BackendEvent::Log { container: id.clone(), lines });
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(t) = stamp(last.as_deref()) {
            since = t;
        }
        lost |= stream_ended(&docker, &engine, &id, &subscribers, Followed::Logs, error).await;
    }
}

/// After a followed stream ended: a lost one is said in its pane (the log gets a note line too) and true comes
/// back after the retry pause; a clean end means the container stopped, so this waits until it runs again.
async fn stream_ended(
    docker: &Docker,
    engine: &str,
    id: &str,
    subscribers: &Subscribers,
    stream: Followed,
    error: Option<bollard::errors::Error>,
) -> bool {
    let Some(e) = error else {
        while !running(docker, id).await {
            tokio::time::sleep(RETRY).await;
        }
        return false;
    };
    let what = match stream {
        Followed::Logs => "log",
        Followed::Stats => "stats",
    };
    let message = format!("engine {engine}: {what} stream lost ({e}); retrying");
    if stream == Followed::Logs {
        subscribers.send(BackendEvent::Log { container: id.to_string(), lines: vec![note(message.clone())] });
    }
    subscribers.send(BackendEvent::Interrupted { container: id.to_string(), stream, message: Some(message) });
    tokio::time::sleep(RETRY).await;
    true
}

/// Whether `a` (RFC 3339) is after `b`.
fn later(a: &str, b: &str) -> bool {
    match (chrono::DateTime::parse_from_rfc3339(a), chrono::DateTime::parse_from_rfc3339(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => true,
    }
}

async fn running(docker: &Docker, id: &str) -> bool {
    let inspect = docker.inspect_container(id, None).await;
    inspect.ok().and_then(|c| c.state?.running).unwrap_or(false)
}

/// Follows a container's stats until aborted, reconnecting (and saying so) when the stream is lost.
async fn follow_stats(docker: Docker, engine: String, id: String, subscribers: Subscribers) {
    let mut lost = false;
    loop {
        let options = StatsOptionsBuilder::new().stream(true).build();
        let mut stream = docker.stats(&id, Some(options));
        let mut error = None;
        while let Some(stats) = stream.next().await {
            match stats {
                Ok(stats) => {
                    if lost {
                        lost = false;
                        subscribers.send(BackendEvent::Interrupted {
                            container: id.clone(),
                            stream: Followed::Stats,
                            message: None,
                        });
                    }
                    let sample = convert::stats_sample(&stats);
                    subscribers.send(BackendEvent::Stats { container: id.clone(), sample });
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        lost |= stream_ended(&docker, &engine, &id, &subscribers, Followed::Stats, error).await;
    }
}

impl Backend for DockerApiBackend {
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>) {
        self.subscribers.add(tx);
    }

    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError> {
        Reference::parse(reference).map(|r| r.to_string()).map_err(|e| BackendError::Failed {
            operation: "pull",
            target: reference.to_string(),
            message: e.to_string(),
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>> {
        Box::pin(async move {
            let images = self.docker.list_images(None::<bollard::query_parameters::ListImagesOptions>);
            let (images, containers) = futures_util::join!(images, self.list_containers());
            let images = images.map_err(|e| self.failed("list images", "", e))?;
            let mut used_by: HashMap<String, Vec<String>> = HashMap::new();
            for c in containers.unwrap_or_default() {
                let name = c.names.unwrap_or_default().into_iter().next().unwrap_or_default();
                used_by.entry(c.image_id.unwrap_or_default()).or_default().push(name.trim_start_matches('/').into());
            }
            Ok(images
                .into_iter()
                .map(|i| ImageRow {
                    used_by: used_by.remove(&i.id).unwrap_or_default(),
                    id: i.id,
                    tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                    size: i.size.max(0) as u64,
                    created: chrono::DateTime::from_timestamp(i.created, 0).map(|t| t.to_rfc3339()),
                })
                .collect())
        })
    }

    fn image_layers(&self, id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>> {
        Box::pin(async move {
            let history = self.docker.image_history(&id).await.map_err(|e| self.failed("history of", &id, e))?;
            // The API names no blobs and lists the newest first; a size of 0 is an entry that made no layer.
            Ok(history
                .into_iter()
                .rev()
                .map(|h| LayerRow {
                    digest: String::new(),
                    size: h.size.max(0) as u64,
                    created_by: h.created_by,
                    empty: h.size == 0,
                })
                .collect())
        })
    }

    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let image = self.docker.inspect_image(&id).await.map_err(|e| self.failed("inspect", &id, e))?;
            serde_json::to_string_pretty(&image).map_err(|e| self.failed("inspect", &id, e))
        })
    }

    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let canonical = self.normalize_reference(&reference)?;
            let options = CreateImageOptionsBuilder::new().from_image(&canonical).build();
            let mut progress = self.docker.create_image(Some(options), None, None);
            while let Some(info) = progress.next().await {
                let info = info.map_err(|e| self.failed("pull", &reference, e))?;
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    return Err(self.failed("pull", &reference, error));
                }
                let detail = info.progress_detail.unwrap_or_default();
                let state = info.status.as_deref().and_then(|s| convert::layer_state(s, detail.current, detail.total));
                if let (Some(layer), Some(state)) = (info.id, state) {
                    self.subscribers.send(BackendEvent::PullProgress { reference: canonical.clone(), layer, state });
                }
            }
            let image = self.docker.inspect_image(&canonical).await.map_err(|e| self.failed("pull", &reference, e))?;
            Ok(image.id.unwrap_or_default())
        })
    }

    /// The API's push stream names no layer (bollard's `PushImageInfo` has no id), so a remote push shows
    /// no per-layer bars: it ends with the digest from docker's closing `TAG: digest: … size: N` line.
    fn push(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let parsed = Reference::parse(&reference).map_err(|e| self.failed("push", &reference, e))?;
            let tag = parsed.tag.clone().unwrap_or_else(|| "latest".to_string());
            let options = PushImageOptionsBuilder::new().tag(&tag).build();
            let mut progress = self.docker.push_image(&parsed.name(), Some(options), None);
            let mut digest = None;
            while let Some(info) = progress.next().await {
                let info = info.map_err(|e| self.failed("push", &reference, e))?;
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    return Err(self.failed("push", &reference, error));
                }
                let status = info.status.unwrap_or_default();
                if let Some((_, rest)) = status.split_once(" digest: ") {
                    digest = rest.split_whitespace().next().map(str::to_string);
                }
            }
            digest.ok_or_else(|| self.failed("push", &reference, "the engine reported no digest"))
        })
    }

    fn remove_image(&self, id: String, force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let options = RemoveImageOptionsBuilder::new().force(force).build();
            let removed = self
                .docker
                .remove_image(&id, Some(options), None)
                .await
                .map_err(|e| self.failed("remove image", &id, e))?;
            Ok(removed
                .into_iter()
                .filter_map(|r| {
                    r.untagged.map(|t| format!("untagged {t}")).or(r.deleted.map(|d| format!("deleted {d}")))
                })
                .collect())
        })
    }

    fn build(&self, build: u64, request: BuildRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let context = request.context.clone();
            let dockerfile = build::dockerfile_in_context(&request).map_err(|m| self.failed("build", &context, m))?;
            let dir = PathBuf::from(&context);
            let tar = tokio::task::spawn_blocking(move || build::context_tar(&dir))
                .await
                .map_err(|e| self.failed("build", &context, e))?
                .map_err(|e| self.failed("build", &context, format!("cannot read the context: {e}")))?;
            let args: HashMap<String, String> = request.build_args.iter().cloned().collect();
            let mut options = BuildImageOptionsBuilder::new()
                .dockerfile(&dockerfile)
                .nocache(request.no_cache)
                .rm(true)
                .buildargs(&args);
            if let Some(tag) = request.tags.first() {
                options = options.t(tag);
            }
            if let Some(target) = request.target.as_deref().filter(|t| !t.is_empty()) {
                options = options.target(target);
            }
            if request.pull {
                options = options.pull("true");
            }
            let mut output = self.docker.build_image(options.build(), None, Some(bollard::body_full(tar.into())));
            let (mut steps, mut image) = (build::Steps::default(), None);
            let send = |progress| self.subscribers.send(BackendEvent::Build { build, progress });
            while let Some(info) = output.next().await {
                let info = info.map_err(|e| self.failed("build", &context, e))?;
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(self.failed("build", &context, message));
                }
                for progress in info.stream.as_deref().map(|t| steps.read(t)).unwrap_or_default() {
                    send(progress);
                }
                if let Some(id) = info.aux.and_then(|a| a.id) {
                    image = Some(id);
                }
            }
            if let Some(done) = steps.finish() {
                send(done);
            }
            let image = image.ok_or_else(|| self.failed("build", &context, "the engine named no image"))?;
            // The API takes one tag per build: the others are added after it.
            for tag in request.tags.iter().skip(1) {
                let (repo, tag) = match tag.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                    Some((repo, tag)) => (repo, tag),
                    None => (tag.as_str(), "latest"),
                };
                let options = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
                self.docker.tag_image(&image, Some(options)).await.map_err(|e| self.failed("tag", &image, e))?;
            }
            Ok(image)
        })
    }

    fn prune_images(&self, all: bool) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let filters: HashMap<&str, Vec<&str>> =
                HashMap::from([("dangling", vec![if all { "false" } else { "true" }])]);
            let options = PruneImagesOptionsBuilder::new().filters(&filters).build();
            let pruned =
                self.docker.prune_images(Some(options)).await.map_err(|e| self.failed("prune images", "", e))?;
            Ok(pruned.space_reclaimed.unwrap_or(0).max(0) as u64)
        })
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>> {
        Box::pin(async move {
            let summaries = self.list_containers().await?;
            let stale: Vec<String> = {
                let times = self.times.lock().unwrap_or_else(|e| e.into_inner());
                summaries
                    .iter()
                    .filter(|s| {
                        let state = s.state.map(|s| s.to_string()).unwrap_or_default();
                        s.id.as_ref().is_some_and(|id| times.get(id).is_none_or(|t| t.state != state))
                    })
                    .filter_map(|s| s.id.clone())
                    .collect()
            };
            let inspected =
                futures_util::future::join_all(stale.iter().map(|id| self.docker.inspect_container(id, None))).await;
            let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
            for (id, inspect) in stale.into_iter().zip(inspected) {
                let Ok(inspect) = inspect else { continue };
                let state = inspect.state.unwrap_or_default();
                times.insert(
                    id,
                    Times {
                        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
                        started_at: convert::real_time(state.started_at),
                        finished_at: convert::real_time(state.finished_at),
                    },
                );
            }
            times.retain(|id, _| summaries.iter().any(|s| s.id.as_ref() == Some(id)));
            Ok(summaries
                .into_iter()
                .map(|s| {
                    let t = s.id.as_ref().and_then(|id| times.get(id));
                    convert::container_row(s, t)
                })
                .collect())
        })
    }

    fn container_usage(
        &self,
        ids: Vec<String>,
    ) -> BoxFuture<'_, Result<HashMap<String, ContainerUsage>, BackendError>> {
        Box::pin(async move {
            // One answer each, with the previous reading in it: the API computes over its own interval.
            let one = |id: String| async move {
                let options = StatsOptionsBuilder::new().stream(false).build();
                let mut stream = self.docker.stats(&id, Some(options));
                let stats = tokio::time::timeout(connect::REQUEST_TIMEOUT, stream.next()).await.ok()??.ok()?;
                let sample = convert::stats_sample(&stats);
                let primed = stats.precpu_stats.as_ref().and_then(|p| p.system_cpu_usage).is_some_and(|s| s > 0);
                Some((
                    id,
                    ContainerUsage {
                        cpu_percent: primed.then_some(sample.cpu_percent),
                        memory_bytes: sample.memory_bytes,
                    },
                ))
            };
            Ok(futures_util::future::join_all(ids.into_iter().map(one)).await.into_iter().flatten().collect())
        })
    }

    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let d = &self.docker;
            let result = match op {
                ContainerOp::Start => d.start_container(&id, None).await,
                ContainerOp::Stop => d.stop_container(&id, None).await,
                ContainerOp::Restart => d.restart_container(&id, None).await,
                ContainerOp::Pause => d.pause_container(&id).await,
                ContainerOp::Unpause => d.unpause_container(&id).await,
                ContainerOp::Kill => d.kill_container(&id, None::<KillContainerOptions>).await,
                ContainerOp::Remove | ContainerOp::ForceRemove => {
                    let options = RemoveContainerOptionsBuilder::new().force(op == ContainerOp::ForceRemove).build();
                    d.remove_container(&id, Some(options)).await
                }
            };
            // A restart keeps the listed state: its new start time is asked for on the next listing.
            self.times.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            result.map_err(|e| self.failed(op.verb(), &id, e))
        })
    }

    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let container =
                self.docker.inspect_container(&id, None).await.map_err(|e| self.failed("inspect", &id, e))?;
            serde_json::to_string_pretty(&container).map_err(|e| self.failed("inspect", &id, e))
        })
    }

    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let image = request.image.clone();
            let body = convert::create_body(&request).map_err(|m| self.failed("run", &image, m))?;
            let mut options = CreateContainerOptionsBuilder::new();
            if let Some(name) = request.name.as_deref().filter(|n| !n.trim().is_empty()) {
                options = options.name(name);
            }
            let options = Some(options.build());
            let created = match self.docker.create_container(options.clone(), body.clone()).await {
                // As `docker run`: a missing image is pulled, then the create is asked again.
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    self.pull(image.clone()).await?;
                    self.docker.create_container(options, body).await
                }
                other => other,
            }
            .map_err(|e| self.failed("run", &image, e))?;
            if let Err(e) = self.docker.start_container(&created.id, None).await {
                let remove = RemoveContainerOptionsBuilder::new().force(true).build();
                let _ = self.docker.remove_container(&created.id, Some(remove)).await;
                return Err(self.failed("run", &image, e));
            }
            Ok(created.id)
        })
    }

    fn follow_logs(&self, id: String, tail: usize) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let tail_text = tail.to_string();
            let options = LogsOptionsBuilder::new().stdout(true).stderr(true).timestamps(true).tail(&tail_text).build();
            let mut stream = self.docker.logs(&id, Some(options));
            let (mut splitter, mut lines) = (LineSplitter::default(), Vec::new());
            while let Some(chunk) = stream.next().await {
                splitter.push(chunk.map_err(|e| self.failed("logs of", &id, e))?, &mut lines);
            }
            let last = lines.last().map(|l| l.time.clone());
            if !lines.is_empty() {
                self.subscribers.send(BackendEvent::Log { container: id.clone(), lines });
            }
            let task = follow_log(self.docker.clone(), self.name.clone(), id.clone(), self.subscribers.clone(), last);
            // The follow asks from the tail's last second: lines at or before the tail's end are left out.
            self.log_tasks.replace(id, tokio::spawn(task).abort_handle());
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
        Box::pin(async move {
            let limit = chrono::DateTime::parse_from_rfc3339(&before).map_err(|e| self.failed("logs of", &id, e))?;
            // The API has no "before this line": the log up to that second is read, keeping the last lines only.
            let options = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .until(limit.timestamp() as i32 + 1)
                .build();
            let mut stream = self.docker.logs(&id, Some(options));
            let (mut splitter, mut kept) = (LineSplitter::default(), std::collections::VecDeque::new());
            let mut at_limit = 0;
            while let Some(chunk) = stream.next().await {
                let mut lines = Vec::new();
                splitter.push(chunk.map_err(|e| self.failed("logs of", &id, e))?, &mut lines);
                for line in lines {
                    let Ok(time) = chrono::DateTime::parse_from_rfc3339(&line.time) else { continue };
                    if time > limit {
                        continue;
                    }
                    if time == limit {
                        at_limit += 1;
                    }
                    kept.push_back((time == limit, line));
                    if kept.len() > count + skip {
                        kept.pop_front();
                    }
                }
            }
            // The caller holds the last `skip` lines stamped `before`.
            let mut dropped = 0;
            while dropped < skip.min(at_limit) {
                match kept.back() {
                    Some((true, _)) => {
                        kept.pop_back();
                        dropped += 1;
                    }
                    _ => break,
                }
            }
            let lines: Vec<LogLine> = kept.into_iter().map(|(_, l)| l).collect();
            Ok(lines[lines.len().saturating_sub(count)..].to_vec())
        })
    }

    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let task = follow_stats(self.docker.clone(), self.name.clone(), id.clone(), self.subscribers.clone());
            self.stats_tasks.replace(id, tokio::spawn(task).abort_handle());
            Ok(())
        })
    }

    fn unfollow_stats(&self, id: String) {
        self.stats_tasks.stop(&id);
    }

    fn open_shell(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let options = CreateExecOptions {
                cmd: Some(vec!["/bin/sh".to_string(), "-c".into(), SHELL.into()]),
                env: Some(vec!["TERM=xterm-256color".to_string()]),
                tty: Some(true),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..CreateExecOptions::default()
            };
            let exec = self.docker.create_exec(&id, options).await.map_err(|e| self.failed("exec", &id, e))?;
            let start = StartExecOptions { detach: false, tty: true, output_capacity: None };
            let started =
                self.docker.start_exec(&exec.id, Some(start)).await.map_err(|e| self.failed("exec", &id, e))?;
            let StartExecResults::Attached { output, input } = started else {
                return Err(self.failed("exec", &id, "the engine started the shell detached"));
            };
            let resize_to = |docker: Docker, exec: String| {
                move |cols: u16, rows: u16| -> BoxFuture<'static, ()> {
                    let (docker, exec) = (docker.clone(), exec.clone());
                    Box::pin(async move {
                        let options = ResizeExecOptionsBuilder::new().w(cols.into()).h(rows.into()).build();
                        let _ = docker.resize_exec(&exec, options).await;
                    })
                }
            };
            let resize = resize_to(self.docker.clone(), exec.id.clone());
            // The first size is set once the exec runs, as the API wants it.
            resize(cols, rows).await;
            let (docker, exec_id) = (self.docker.clone(), exec.id.clone());
            let running =
                Box::pin(
                    async move { docker.inspect_exec(&exec_id).await.ok().and_then(|e| e.running).unwrap_or(false) },
                );
            Ok(self.serve_session(output, input, resize, running))
        })
    }

    fn attach(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let options =
                AttachContainerOptionsBuilder::new().stream(true).stdin(true).stdout(true).stderr(true).build();
            let attached =
                self.docker.attach_container(&id, Some(options)).await.map_err(|e| self.failed("attach", &id, e))?;
            let (docker, container) = (self.docker.clone(), id.clone());
            let resize = move |cols: u16, rows: u16| -> BoxFuture<'static, ()> {
                let (docker, container) = (docker.clone(), container.clone());
                Box::pin(async move {
                    let options = ResizeContainerTTYOptionsBuilder::new().w(cols.into()).h(rows.into()).build();
                    // A container without a tty has nothing to resize; that refusal is not an error here.
                    let _ = docker.resize_container_tty(&container, options).await;
                })
            };
            resize(cols, rows).await;
            let (docker, container) = (self.docker.clone(), id.clone());
            let running = Box::pin(async move { self::running(&docker, &container).await });
            Ok(self.serve_session(attached.output, attached.input, resize, running))
        })
    }

    fn shell_input(&self, session: u64, bytes: Vec<u8>) {
        if let Some(shell) = self.shells.lock().unwrap_or_else(|e| e.into_inner()).get(&session) {
            let _ = shell.input.send(ShellInput::Bytes(bytes));
        }
    }

    fn resize_shell(&self, session: u64, cols: u16, rows: u16) {
        if let Some(shell) = self.shells.lock().unwrap_or_else(|e| e.into_inner()).get(&session) {
            let _ = shell.input.send(ShellInput::Resize(cols, rows));
        }
    }

    fn close_shell(&self, session: u64) {
        if let Some(shell) = self.shells.lock().unwrap_or_else(|e| e.into_inner()).remove(&session) {
            shell.reader.abort();
        }
    }

    fn networks(&self) -> BoxFuture<'_, Result<Vec<NetworkRow>, BackendError>> {
        Box::pin(async move {
            let (networks, containers) = futures_util::join!(self.docker.list_networks(None), self.list_containers());
            let networks = networks.map_err(|e| self.failed("list networks", "", e))?;
            let mut members: HashMap<String, Vec<String>> = HashMap::new();
            for c in containers.unwrap_or_default() {
                let name = c.names.unwrap_or_default().into_iter().next().unwrap_or_default();
                let attached = c.network_settings.and_then(|n| n.networks).unwrap_or_default();
                for network in attached.into_keys() {
                    members.entry(network).or_default().push(name.trim_start_matches('/').to_string());
                }
            }
            let mut rows: Vec<NetworkRow> = networks
                .into_iter()
                .map(|n| {
                    let name = n.name.unwrap_or_default();
                    let config =
                        n.ipam.and_then(|i| i.config).unwrap_or_default().into_iter().next().unwrap_or_default();
                    NetworkRow {
                        containers: members.remove(&name).unwrap_or_default(),
                        id: n.id.unwrap_or_default(),
                        name,
                        driver: n.driver.unwrap_or_default(),
                        subnet: config.subnet.unwrap_or_default(),
                        gateway: config.gateway.unwrap_or_default(),
                        internal: n.internal.unwrap_or(false),
                    }
                })
                .collect();
            // The default network first, as the in-process backend lists them.
            rows.sort_by_key(|r| (!matches!(r.name.as_str(), "bridge" | "berth0" | "podman"), r.name.clone()));
            Ok(rows)
        })
    }

    fn remove_network(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(
            async move { self.docker.remove_network(&name).await.map_err(|e| self.failed("remove network", &name, e)) },
        )
    }

    fn prune_networks(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move {
            let pruned = self.docker.prune_networks(None).await.map_err(|e| self.failed("prune networks", "", e))?;
            Ok(Pruned { removed: pruned.networks_deleted.unwrap_or_default(), reclaimed: 0 })
        })
    }

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<VolumeRow>, BackendError>> {
        Box::pin(async move {
            let volumes = self.docker.list_volumes(None::<bollard::query_parameters::ListVolumesOptions>);
            let (volumes, containers) = futures_util::join!(volumes, self.list_containers());
            let volumes = volumes.map_err(|e| self.failed("list volumes", "", e))?;
            let mut used_by: HashMap<String, Vec<String>> = HashMap::new();
            for c in containers.unwrap_or_default() {
                let name = c.names.unwrap_or_default().into_iter().next().unwrap_or_default();
                for volume in c.mounts.unwrap_or_default().into_iter().filter_map(|m| m.name) {
                    used_by.entry(volume).or_default().push(name.trim_start_matches('/').to_string());
                }
            }
            Ok(volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| VolumeRow {
                    anonymous: v.labels.contains_key("com.docker.volume.anonymous")
                        || (v.name.len() == 64 && v.name.bytes().all(|b| b.is_ascii_hexdigit())),
                    used_by: used_by.remove(&v.name).unwrap_or_default(),
                    name: v.name,
                    driver: v.driver,
                    mountpoint: v.mountpoint,
                    created: v.created_at.unwrap_or_default(),
                })
                .collect())
        })
    }

    fn remove_volume(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.docker
                .remove_volume(&name, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
                .map_err(|e| self.failed("remove volume", &name, e))
        })
    }

    fn prune_volumes(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move {
            let pruned = self
                .docker
                .prune_volumes(None::<bollard::query_parameters::PruneVolumesOptions>)
                .await
                .map_err(|e| self.failed("prune volumes", "", e))?;
            Ok(Pruned {
                removed: pruned.volumes_deleted.unwrap_or_default(),
                reclaimed: pruned.space_reclaimed.unwrap_or(0).max(0) as u64,
            })
        })
    }

    fn run_cli(&self, args: Vec<String>) -> BoxFuture<'_, Result<CliOutput, BackendError>> {
        Box::pin(async move {
            Err(self.failed(
                "run",
                &format!("berth {}", args.join(" ")),
                "the : line runs the berth CLI on this machine's engine; switch to the local engine for it",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_server_errors_keep_the_servers_message_and_name_the_engine() {
        let error = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: web".into(),
        };
        let BackendError::Failed { message, .. } = failed("lab", "stop", "web", error);
        assert_eq!(message, "No such container: web (engine lab)");
    }

    #[test]
    fn br_lines_split_across_frames_come_out_whole() {
        use bollard::container::LogOutput;
        let (mut splitter, mut lines) = (LineSplitter::default(), Vec::new());
        splitter.push(LogOutput::StdOut { message: "2026-01-01T00:00:00Z hel".into() }, &mut lines);
        assert!(lines.is_empty());
        splitter.push(LogOutput::StdOut { message: "lo\n2026-01-01T00:00:01Z x\n".into() }, &mut lines);
        assert_eq!(lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["hello", "x"]);
    }
}
