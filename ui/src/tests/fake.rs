//! A backend in memory for the tests: containers change state like the engine's, logs and shells echo through
//! the event channel, pulls and pushes report per-layer progress, and CLI runs answer a few commands as berth would. The
//! binary's grammar is stood in for by [`plan`].

use std::collections::HashMap;
use std::sync::Mutex;

use berth_engine::events::PushLayerProgress;
use berth_engine::local::{EntryKind, ImageChanges, LayerEntry};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::backend::{
    Backend, BackendError, BackendEvent, BuildProgress, BuildRequest, CliExit, CliOutput, ContainerOp, ContainerRow,
    ContainerState, ContainerUsage, ImageRow, LayerRow, LayerState, LogLine, NetworkRow, ProjectOp, Pruned, RunRequest,
    StatsSample, VolumeRow,
};
use crate::cli::{LinePlan, NeedsTerminal};

/// Lines the fake's log holds before the three it sends when followed.
pub const FAKE_LOG_LINES: usize = 2500;

/// The grammar's completions as far as the tests need them: a few verbs, and `network`'s subcommands.
pub fn complete(words: &[String]) -> Vec<String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let list: &[&str] = match words.as_slice() {
        [] => &["network", "ps", "pull", "push", "run", "volume"],
        ["network"] => &["connect", "create", "disconnect", "inspect", "ls", "prune", "rm"],
        _ => &["--help"],
    };
    list.iter().map(|s| s.to_string()).collect()
}

pub const NOW: &str = "2026-01-02T00:00:00Z";

pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&chrono::Utc)
}

pub fn container(id: &str, name: &str, image: &str, state: ContainerState) -> ContainerRow {
    ContainerRow {
        id: format!("{id}{}", "0".repeat(64 - id.len())),
        name: name.into(),
        image: image.into(),
        state,
        started_at: state.can_stop().then(|| "2026-01-01T23:55:00Z".to_string()),
        finished_at: (state == ContainerState::Exited).then(|| "2026-01-01T23:58:00Z".to_string()),
        exit_code: (state == ContainerState::Exited).then_some(0),
        ports: if name == "web" { vec!["0.0.0.0:8080->80/tcp".into()] } else { vec![] },
        health: None,
        group: None,
        command: if name == "web" { "httpd -f -p 80".into() } else { "sh".into() },
        created_at: Some("2026-01-01T23:50:00Z".into()),
        engine: None,
    }
}

pub fn containers() -> Vec<ContainerRow> {
    vec![
        container("a1", "web", "busybox:latest", ContainerState::Running),
        container("b2", "db", "alpine:3.20", ContainerState::Paused),
        container("c3", "job", "busybox:latest", ContainerState::Exited),
        container("d4", "fresh", "alpine:3.20", ContainerState::Created),
    ]
}

/// CPU and memory of the fixture's running (web) and paused (db) containers, as a second reading gives them.
pub fn usage() -> HashMap<String, ContainerUsage> {
    let rows = containers();
    let (web, db) = (rows[0].id.clone(), rows[1].id.clone());
    HashMap::from([
        (web, ContainerUsage { cpu_percent: Some(12.5), memory_bytes: 12_900_000 }),
        (db, ContainerUsage { cpu_percent: Some(0.0), memory_bytes: 3 << 20 }),
    ])
}

/// The engine's message for a push the registry refuses for want of credentials.
pub fn denied(reference: &str) -> String {
    let registry = reference.split('/').next().unwrap_or_default();
    format!(
        "pushing {reference}: push access denied for {registry}/app: not logged in, or the credentials may not push \
         there (try `berth login {registry}`)"
    )
}

pub fn images() -> Vec<ImageRow> {
    vec![
        ImageRow {
            id: format!("sha256:{}", "ab".repeat(32)),
            tags: vec!["busybox:latest".into()],
            size: 4_261_000,
            created: Some("2025-12-26T00:00:00Z".into()),
            used_by: vec!["web".into(), "job".into()],
        },
        ImageRow {
            id: format!("sha256:{}", "cd".repeat(32)),
            tags: vec!["alpine:3.20".into()],
            size: 7_800_000,
            created: Some("2025-11-02T00:00:00Z".into()),
            used_by: vec!["db".into()],
        },
        ImageRow {
            id: format!("sha256:{}", "ef".repeat(32)),
            tags: vec![],
            size: 1_200,
            created: None,
            used_by: vec![],
        },
    ]
}

pub fn layers() -> Vec<LayerRow> {
    vec![
        LayerRow {
            digest: format!("sha256:{}", "11".repeat(32)),
            size: 4_261_000,
            created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
            empty: false,
        },
        LayerRow { digest: String::new(), size: 0, created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]".into(), empty: true },
        // A layer built here: no blob digest, but a size.
        LayerRow {
            digest: String::new(),
            size: 12_288,
            created_by: "RUN /bin/sh -c echo hi > /greeting # buildkit".into(),
            empty: false,
        },
    ]
}

/// The changes of the two layers [`layers`] makes: a base, then a layer that writes `/greeting`, changes
/// `/etc/motd` and removes `/etc/issue`.
pub fn layer_changes() -> ImageChanges {
    let entry = |path: &str, kind: EntryKind, size: u64, mode: u32| LayerEntry {
        path: path.into(),
        kind,
        size,
        mode,
        uid: 0,
        gid: 0,
        link: (kind == EntryKind::Symlink).then(|| "busybox".to_string()),
        opaque: false,
    };
    let base = vec![
        entry("bin", EntryKind::Dir, 0, 0o755),
        entry("bin/busybox", EntryKind::File, 1_100_000, 0o755),
        entry("bin/sh", EntryKind::Symlink, 0, 0o777),
        entry("etc", EntryKind::Dir, 0, 0o755),
        entry("etc/issue", EntryKind::File, 120, 0o644),
        entry("etc/motd", EntryKind::File, 300, 0o644),
    ];
    let upper = vec![
        entry("etc", EntryKind::Dir, 0, 0o755),
        entry("etc/issue", EntryKind::Removed, 0, 0),
        entry("etc/motd", EntryKind::File, 500, 0o644),
        entry("greeting", EntryKind::File, 3, 0o644),
    ];
    ImageChanges::compute(vec![base, upper])
}

pub fn networks() -> Vec<NetworkRow> {
    let network = |id: &str, name: &str, subnet: &str, internal: bool, containers: &[&str]| NetworkRow {
        id: format!("{id}{}", "0".repeat(64 - id.len())),
        name: name.into(),
        driver: "bridge".into(),
        subnet: format!("{subnet}.0/24"),
        gateway: format!("{subnet}.1"),
        internal,
        containers: containers.iter().map(|c| c.to_string()).collect(),
    };
    vec![
        network("f1", "bridge", "10.88.0", false, &["web"]),
        network("f2", "backend", "10.89.1", true, &["db"]),
        network("f3", "spare", "10.89.2", false, &[]),
    ]
}

pub fn volumes() -> Vec<VolumeRow> {
    let volume = |name: &str, anonymous: bool, used_by: &[&str]| VolumeRow {
        name: name.into(),
        anonymous,
        driver: "local".into(),
        mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
        used_by: used_by.iter().map(|c| c.to_string()).collect(),
        created: "2026-01-01T12:00:00Z".into(),
    };
    vec![volume("pgdata", false, &["db"]), volume(&"7e".repeat(32), true, &[]), volume("cache", false, &[])]
}

/// The binary's plan for the lines these tests type: the special forms by their plain spelling, everything
/// else executed as typed.
pub fn plan(words: &[String]) -> LinePlan {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let detached = |rest: &[&str]| ["run", "-d"].iter().chain(rest).map(|w| w.to_string()).collect();
    match words.as_slice() {
        [] => LinePlan::Refuse(NeedsTerminal::Tui),
        ["pull", reference] => LinePlan::Pull(reference.to_string()),
        ["run", "-it", ..] => LinePlan::RunDetached { args: detached(&words[1..]), attach: true },
        ["run", rest @ ..] if !rest.contains(&"-d") => LinePlan::RunDetached { args: detached(rest), attach: false },
        ["exec", "-it", container, "sh"] => LinePlan::Shell(container.to_string()),
        ["exec", "-it", ..] => LinePlan::Refuse(NeedsTerminal::Exec),
        ["attach", ..] => LinePlan::Refuse(NeedsTerminal::Attach),
        ["logs", "-f", ..] => LinePlan::Refuse(NeedsTerminal::FollowLogs),
        ["stats"] => LinePlan::Refuse(NeedsTerminal::Stats),
        _ => LinePlan::Execute(words.iter().map(|w| w.to_string()).collect()),
    }
}

/// clap's message for an unknown subcommand, as `berth` prints it without a terminal.
pub fn clap_error(word: &str) -> String {
    format!(
        "error: unrecognized subcommand '{word}'\n\nUsage: berth [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n"
    )
}

#[derive(Default)]
pub struct FakeBackend {
    pub containers: Mutex<Vec<ContainerRow>>,
    pub images: Mutex<Vec<ImageRow>>,
    pub networks: Mutex<Vec<NetworkRow>>,
    pub volumes: Mutex<Vec<VolumeRow>>,
    pub events: Mutex<Option<mpsc::UnboundedSender<BackendEvent>>>,
    /// Every call that changes something, as `verb target`.
    pub calls: Mutex<Vec<String>>,
}

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend {
            containers: Mutex::new(containers()),
            images: Mutex::new(images()),
            networks: Mutex::new(networks()),
            volumes: Mutex::new(volumes()),
            ..FakeBackend::default()
        }
    }

    fn emit(&self, event: BackendEvent) {
        if let Some(tx) = self.events.lock().unwrap().as_ref() {
            tx.send(event).unwrap();
        }
    }

    fn call(&self, text: String) {
        self.calls.lock().unwrap().push(text);
    }

    fn failed(operation: &'static str, target: &str, message: &str) -> BackendError {
        BackendError::Failed { operation, target: target.into(), message: message.into() }
    }

    /// `berth ARGS` for the commands the tests use: exit code and output.
    fn cli(&self, args: &[&str]) -> (i32, String) {
        match args {
            ["network", "create", name] => {
                let mut networks = self.networks.lock().unwrap();
                if networks.iter().any(|n| n.name == *name) {
                    return (1, format!("Error: network {name} already exists\n"));
                }
                let id = format!("f9{}", "0".repeat(62));
                networks.push(NetworkRow {
                    id: id.clone(),
                    name: name.to_string(),
                    driver: "bridge".into(),
                    subnet: "10.89.9.0/24".into(),
                    gateway: "10.89.9.1".into(),
                    internal: false,
                    containers: Vec::new(),
                });
                (0, format!("{id}\n"))
            }
            ["ps", ..] => {
                let rows = self.containers.lock().unwrap();
                let table = rows.iter().map(|r| format!("{}   {}\t{}\n", &r.id[..12], r.image, r.name));
                (0, std::iter::once("CONTAINER ID   IMAGE\tNAMES\n".to_string()).chain(table).collect())
            }
            ["run", "-d", rest @ ..] => {
                let name = match rest {
                    ["--name", name, ..] => name.to_string(),
                    _ => "happy_fox".into(),
                };
                let row = container("e5", &name, "busybox:latest", ContainerState::Running);
                let id = row.id.clone();
                self.containers.lock().unwrap().push(row);
                (0, format!("{id}\n"))
            }
            [word, ..] => (2, clap_error(word)),
            [] => (2, clap_error("")),
        }
    }
}

impl Backend for FakeBackend {
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>) {
        *self.events.lock().unwrap() = Some(tx);
    }

    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError> {
        if reference.contains(' ') {
            return Err(Self::failed("pull", reference, "invalid reference format"));
        }
        let tagged = if reference.contains(':') { reference.to_string() } else { format!("{reference}:latest") };
        Ok(if tagged.contains('/') { tagged } else { format!("docker.io/library/{tagged}") })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>> {
        Box::pin(async move { Ok(self.images.lock().unwrap().clone()) })
    }

    fn image_layers(&self, _id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>> {
        Box::pin(async move { Ok(layers()) })
    }

    fn layer_changes(&self, _id: String) -> BoxFuture<'_, Result<std::sync::Arc<ImageChanges>, BackendError>> {
        Box::pin(async move { Ok(std::sync::Arc::new(layer_changes())) })
    }

    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { Ok(format!("{{\n  \"Id\": \"{id}\"\n}}")) })
    }

    fn push(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            self.call(format!("push {reference}"));
            for (layer, state) in [
                ("sha256:aaaa", PushLayerProgress::Preparing),
                ("sha256:aaaa", PushLayerProgress::Pushing { done: 500, total: 1000 }),
                ("sha256:aaaa", PushLayerProgress::Pushed),
            ] {
                self.emit(BackendEvent::PushProgress { reference: reference.clone(), layer: layer.into(), state });
            }
            if reference.contains("denied") {
                return Err(Self::failed("push", &reference, &denied(&reference)));
            }
            Ok(format!("sha256:{}", "77".repeat(32)))
        })
    }

    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            self.call(format!("pull {reference}"));
            for (layer, state) in [
                ("sha256:aaaa", LayerState::Waiting),
                ("sha256:aaaa", LayerState::Downloading { done: 500, total: 1000 }),
                ("sha256:aaaa", LayerState::Done),
            ] {
                self.emit(BackendEvent::PullProgress { reference: reference.clone(), layer: layer.into(), state });
            }
            if reference.contains("missing") {
                return Err(Self::failed("pull", &reference, "manifest unknown"));
            }
            if reference.contains("slow") {
                std::future::pending::<()>().await;
            }
            let id = format!("sha256:{}", "99".repeat(32));
            self.images.lock().unwrap().push(ImageRow {
                id: id.clone(),
                tags: vec![reference],
                size: 1000,
                created: None,
                used_by: vec![],
            });
            Ok(id)
        })
    }

    /// Two steps, the first from the cache; a context named `missing` fails before any step (as a missing
    /// Dockerfile does), a Dockerfile named `failing` fails the second step after its output.
    fn build(&self, build: u64, request: BuildRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            self.call(format!("build {} {}", request.context, request.tags.join(",")));
            if request.context == "missing" {
                return Err(Self::failed("build", "missing", "cannot read Dockerfile missing/Dockerfile: not found"));
            }
            let emit = |progress| self.emit(BackendEvent::Build { build, progress });
            emit(BuildProgress::Step { number: 1, name: "[1/2] FROM docker.io/library/busybox:latest".into() });
            emit(BuildProgress::Cached { number: 1 });
            emit(BuildProgress::Step { number: 2, name: "[2/2] RUN make".into() });
            emit(BuildProgress::Output { number: 2, line: "compiling".into() });
            if request.dockerfile.as_deref() == Some("failing") {
                return Err(Self::failed(
                    "build",
                    &request.context,
                    "process \"/bin/sh -c make\" did not complete successfully: exit code: 2\nDockerfile:2\n   2 | RUN make",
                ));
            }
            emit(BuildProgress::Done { number: 2, seconds: 1.5 });
            let id = format!("sha256:{}", "77".repeat(32));
            self.images.lock().unwrap().push(ImageRow {
                id: id.clone(),
                tags: request.tags.clone(),
                size: 5_000_000,
                created: Some(NOW.into()),
                used_by: Vec::new(),
            });
            Ok(id)
        })
    }
    fn remove_image(&self, id: String, _force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            self.call(format!("rmi {id}"));
            let mut images = self.images.lock().unwrap();
            let before = images.len();
            images.retain(|i| !i.tags.contains(&id) && i.id != id);
            if images.len() == before {
                return Err(Self::failed("remove", &id, "no such image"));
            }
            Ok(vec![format!("deleted {id}")])
        })
    }

    fn prune_images(&self, _all: bool) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            self.call("prune".into());
            self.images.lock().unwrap().retain(|i| !i.tags.is_empty());
            Ok(1200)
        })
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>> {
        Box::pin(async move { Ok(self.containers.lock().unwrap().clone()) })
    }

    /// The fixture's figures for the containers asked about that run; the first reading of one started
    /// since has no CPU % yet.
    fn container_usage(
        &self,
        ids: Vec<String>,
    ) -> BoxFuture<'_, Result<HashMap<String, ContainerUsage>, BackendError>> {
        Box::pin(async move {
            let known = usage();
            let containers = self.containers.lock().unwrap();
            Ok(ids
                .into_iter()
                .filter(|id| containers.iter().any(|c| &c.id == id && c.state.is_up()))
                .map(|id| {
                    let figures = known.get(&id).copied();
                    (id, figures.unwrap_or(ContainerUsage { cpu_percent: None, memory_bytes: 1 << 20 }))
                })
                .collect())
        })
    }

    fn project_op(&self, project: String, op: ProjectOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.call(format!("compose {} {project}", op.verb()));
            Ok(())
        })
    }

    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.call(format!("{} {id}", op.verb()));
            let mut containers = self.containers.lock().unwrap();
            let Some(index) = containers.iter().position(|c| c.id == id) else {
                return Err(Self::failed(op.verb(), &id, "no such container"));
            };
            let row = &mut containers[index];
            row.state = match op {
                ContainerOp::Start | ContainerOp::Restart | ContainerOp::Unpause => ContainerState::Running,
                ContainerOp::Pause => ContainerState::Paused,
                ContainerOp::Stop | ContainerOp::Kill => ContainerState::Exited,
                ContainerOp::Remove if row.state.is_up() => {
                    return Err(Self::failed("remove", &id, &format!("container {id} is running: stop it first")));
                }
                ContainerOp::Remove | ContainerOp::ForceRemove => {
                    containers.remove(index);
                    return Ok(());
                }
            };
            Ok(())
        })
    }

    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { Ok(format!("{{\n  \"Id\": \"{id}\",\n  \"State\": {{}}\n}}")) })
    }

    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let name = request.name.clone().unwrap_or_else(|| "happy_fox".into());
            self.call(format!("run {} {name}", request.image));
            let row = container("e5", &name, &request.image, ContainerState::Running);
            let id = row.id.clone();
            self.containers.lock().unwrap().push(row);
            Ok(id)
        })
    }

    fn follow_logs(&self, id: String, tail: usize) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.call(format!("logs {id} {tail}"));
            let lines = (1..=3)
                .map(|i| LogLine {
                    time: format!("2026-01-01T23:59:5{i}.000000000Z"),
                    stderr: i == 3,
                    text: format!("line {i} of {id:.2}"),
                })
                .collect();
            self.emit(BackendEvent::Log { container: id, lines });
            Ok(())
        })
    }

    fn unfollow_logs(&self, id: String) {
        self.call(format!("unfollow logs {id}"));
    }

    /// A log of [`FAKE_LOG_LINES`] lines one second apart ending at 23:59:50, `older N` before it.
    fn older_logs(
        &self,
        id: String,
        before: String,
        skip: usize,
        count: usize,
    ) -> BoxFuture<'_, Result<Vec<LogLine>, BackendError>> {
        Box::pin(async move {
            self.call(format!("older logs {id} {before} {skip} {count}"));
            let end = chrono::DateTime::parse_from_rfc3339("2026-01-01T23:59:50Z").unwrap();
            let before = chrono::DateTime::parse_from_rfc3339(&before)
                .map_err(|e| Self::failed("logs of", &id, &e.to_string()))?;
            // Line n (0-based) is stamped end - (FAKE_LOG_LINES - 1 - n) seconds.
            let first = FAKE_LOG_LINES as i64 - 1 - (end - before).num_seconds();
            let start = (first - count as i64).max(0);
            Ok((start..first.max(0))
                .map(|n| LogLine {
                    time: (end - chrono::TimeDelta::seconds(FAKE_LOG_LINES as i64 - 1 - n))
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    stderr: false,
                    text: format!("old line {n}"),
                })
                .collect())
        })
    }

    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let sample = StatsSample {
                cpu_percent: 12.5,
                memory_bytes: 3_000_000,
                memory_limit: 0,
                net_rx: 10,
                net_tx: 5,
                block_read: 0,
                block_write: 0,
            };
            self.emit(BackendEvent::Stats { container: id, sample });
            Ok(())
        })
    }

    fn unfollow_stats(&self, _id: String) {}

    fn open_shell(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            self.call(format!("shell {id} {cols}x{rows}"));
            self.emit(BackendEvent::ShellOutput { session: 1, bytes: b"/ # ".to_vec() });
            Ok(1)
        })
    }

    fn attach(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            self.call(format!("attach {id} {cols}x{rows}"));
            Ok(2)
        })
    }

    fn shell_input(&self, session: u64, bytes: Vec<u8>) {
        // A pty echoes what is typed.
        self.emit(BackendEvent::ShellOutput { session, bytes });
    }

    fn resize_shell(&self, session: u64, cols: u16, rows: u16) {
        self.call(format!("resize {session} {cols}x{rows}"));
    }

    fn close_shell(&self, session: u64) {
        self.call(format!("close shell {session}"));
    }

    fn networks(&self) -> BoxFuture<'_, Result<Vec<NetworkRow>, BackendError>> {
        Box::pin(async move { Ok(self.networks.lock().unwrap().clone()) })
    }

    fn remove_network(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.call(format!("network rm {name}"));
            let mut networks = self.networks.lock().unwrap();
            let Some(index) = networks.iter().position(|n| n.name == name) else {
                return Err(Self::failed("remove network", &name, "no such network"));
            };
            if name == "bridge" {
                return Err(Self::failed("remove network", &name, "bridge is a pre-defined network"));
            }
            if !networks[index].containers.is_empty() {
                return Err(Self::failed("remove network", &name, "in use by containers"));
            }
            networks.remove(index);
            Ok(())
        })
    }

    fn prune_networks(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move {
            self.call("network prune".into());
            let mut networks = self.networks.lock().unwrap();
            let removed = networks
                .iter()
                .filter(|n| n.name != "bridge" && n.containers.is_empty())
                .map(|n| n.name.clone())
                .collect::<Vec<_>>();
            networks.retain(|n| !removed.contains(&n.name));
            Ok(Pruned { removed, reclaimed: 0 })
        })
    }

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<VolumeRow>, BackendError>> {
        Box::pin(async move { Ok(self.volumes.lock().unwrap().clone()) })
    }

    fn remove_volume(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.call(format!("volume rm {name}"));
            let mut volumes = self.volumes.lock().unwrap();
            let Some(index) = volumes.iter().position(|v| v.name == name) else {
                return Err(Self::failed("remove volume", &name, "no such volume"));
            };
            if !volumes[index].used_by.is_empty() {
                let message = format!("volume is in use by {}", volumes[index].used_by.join(", "));
                return Err(Self::failed("remove volume", &name, &message));
            }
            volumes.remove(index);
            Ok(())
        })
    }

    fn prune_volumes(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move {
            self.call("volume prune".into());
            let mut volumes = self.volumes.lock().unwrap();
            let removed = volumes
                .iter()
                .filter(|v| v.anonymous && v.used_by.is_empty())
                .map(|v| v.name.clone())
                .collect::<Vec<_>>();
            volumes.retain(|v| !removed.contains(&v.name));
            Ok(Pruned { removed, reclaimed: 4096 })
        })
    }

    fn run_cli(&self, args: Vec<String>) -> BoxFuture<'_, Result<CliOutput, BackendError>> {
        Box::pin(async move {
            self.call(crate::cli::command_text(&args));
            let words: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, output) = self.cli(&words);
            Ok(CliOutput { exit: CliExit::Code(code), output, dropped: 0 })
        })
    }
}
