//! Several engines side by side: berth's own and any Docker-API endpoint found in `[[engines]]` of tui.toml,
//! `DOCKER_HOST` and the docker CLI's contexts. [`Engines`] is the one [`Backend`] the UI talks to: it passes
//! each call to the engine shown, or in the "all engines" view lists every engine's containers (each row naming
//! its engine, for the ENGINE column) and sends each container's actions to the engine that listed it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::backend::{
    Backend, BackendError, BackendEvent, BuildRequest, CliOutput, ContainerOp, ContainerRow, ContainerUsage,
    DockerApiBackend, Endpoint, ImageRow, LayerRow, LogLine, NetworkRow, ProjectOp, Pruned, RunRequest, VolumeRow,
};

/// How long the all-engines view waits for one engine's list before showing the others without it.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Session numbers carry their engine in the low byte, so shells of two engines never share a number.
const ENGINE_BITS: u32 = 8;

/// One `[[engines]]` entry of tui.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub name: String,
    /// `unix:///run/docker.sock`, `tcp://host:2376`, `ssh://user@host`.
    pub host: String,
    /// A directory with ca.pem, cert.pem and key.pem, for `tcp://` with TLS.
    pub tls: Option<PathBuf>,
}

/// An engine's name and its backend.
pub type Named = (String, Arc<dyn Backend>);

/// A remote engine found, before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub endpoint: Endpoint,
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints", default)]
    endpoints: HashMap<String, ContextEndpoint>,
}

#[derive(Deserialize)]
struct ContextEndpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(rename = "currentContext")]
    current_context: Option<String>,
}

/// The docker CLI's config dir: `$DOCKER_CONFIG` or `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".docker")))
}

/// The contexts in `dir/contexts` (the current one first, as `config.json` names it), each with its TLS
/// files when the context has them. Unreadable entries are left out: they are the docker CLI's to report.
pub fn docker_contexts(dir: &Path) -> Vec<Found> {
    let current = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<DockerConfig>(&b).ok())
        .and_then(|c| c.current_context);
    let Ok(entries) = std::fs::read_dir(dir.join("contexts/meta")) else { return Vec::new() };
    let mut found: Vec<Found> = entries
        .flatten()
        .filter_map(|entry| {
            let meta: ContextMeta =
                serde_json::from_slice(&std::fs::read(entry.path().join("meta.json")).ok()?).ok()?;
            let host = meta.endpoints.get("docker")?.host.clone()?;
            let tls = dir.join("contexts/tls").join(entry.file_name()).join("docker");
            Some(Found { name: meta.name, endpoint: Endpoint { host, tls_dir: crate::backend::tls_dir(&tls) } })
        })
        .collect();
    found.sort_by_key(|f| (Some(&f.name) != current.as_ref(), f.name.clone()));
    found
}

/// Every remote engine to offer: tui.toml's list, then `DOCKER_HOST` (TLS from `DOCKER_CERT_PATH` when
/// `DOCKER_TLS_VERIFY` is set), then the docker contexts; a host already listed is not listed twice.
pub fn discover(configured: &[EngineConfig], docker_host: Option<String>, docker_dir: Option<&Path>) -> Vec<Found> {
    let mut found: Vec<Found> = configured
        .iter()
        .map(|e| Found { name: e.name.clone(), endpoint: Endpoint { host: e.host.clone(), tls_dir: e.tls.clone() } })
        .collect();
    if let Some(host) = docker_host.filter(|h| !h.is_empty()) {
        let tls_dir = std::env::var_os("DOCKER_TLS_VERIFY").filter(|v| !v.is_empty()).and_then(|_| {
            std::env::var_os("DOCKER_CERT_PATH").map(PathBuf::from).or_else(|| docker_dir.map(Path::to_path_buf))
        });
        found.push(Found { name: "DOCKER_HOST".into(), endpoint: Endpoint { host, tls_dir } });
    }
    found.extend(docker_dir.map(docker_contexts).unwrap_or_default());
    let mut seen = Vec::new();
    found.retain(|f| {
        let new = !seen.contains(&f.endpoint.host);
        seen.push(f.endpoint.host.clone());
        new
    });
    found
}

/// A remote engine's backend for each found endpoint; one that cannot even be set up (a bad address, TLS
/// files missing) is reported in the returned messages and left out.
pub fn connect_all(found: Vec<Found>) -> (Vec<Named>, Vec<String>) {
    let (mut backends, mut problems) = (Vec::new(), Vec::new());
    for f in found {
        match DockerApiBackend::new(&f.name, &f.endpoint) {
            Ok(backend) => backends.push((f.name, Arc::new(backend) as Arc<dyn Backend>)),
            Err(e) => problems.push(format!("engine {}: {e}", f.name)),
        }
    }
    (backends, problems)
}

/// The engines the UI can show, the first being berth's own.
pub struct Engines {
    engines: Vec<Named>,
    /// The engine shown; `engines.len()` is the all-engines view.
    current: AtomicUsize,
    /// Which engine listed each container in the all-engines view.
    owners: Mutex<HashMap<String, usize>>,
}

impl Engines {
    pub fn new(engines: Vec<Named>) -> Engines {
        Engines { engines, current: AtomicUsize::new(0), owners: Mutex::default() }
    }

    fn current(&self) -> Option<usize> {
        Some(self.current.load(Ordering::Acquire)).filter(|&i| i < self.engines.len())
    }

    /// The engine a container's calls go to: the one shown, or in the all-engines view the one that listed it.
    fn for_container(&self, id: &str) -> &Arc<dyn Backend> {
        let index = self
            .current()
            .or_else(|| self.owners.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied())
            .unwrap_or(0);
        &self.engines[index].1
    }

    /// The engine shown, or the all-engines view's refusal for a pane that lists one engine's objects.
    fn one(&self, what: &'static str) -> Result<&Arc<dyn Backend>, BackendError> {
        self.current().map(|i| &self.engines[i].1).ok_or_else(|| BackendError::Failed {
            operation: what,
            target: String::new(),
            message: "the all-engines view lists containers only: switch to one engine for this".into(),
        })
    }

    fn session(index: usize, inner: u64) -> u64 {
        (inner << ENGINE_BITS) | index as u64
    }

    fn split_session(&self, session: u64) -> Option<(&Arc<dyn Backend>, u64)> {
        let index = (session & ((1 << ENGINE_BITS) - 1)) as usize;
        self.engines.get(index).map(|(_, b)| (b, session >> ENGINE_BITS))
    }

    /// Every engine's containers, each row naming its engine; an engine that does not answer is left out
    /// (and logged) rather than holding up the others.
    async fn all_containers(&self) -> Result<Vec<ContainerRow>, BackendError> {
        let lists = futures_util::future::join_all(self.engines.iter().map(|(name, backend)| async move {
            let list = tokio::time::timeout(LIST_TIMEOUT, backend.containers()).await;
            (name, list)
        }))
        .await;
        let (mut rows, mut owners, mut failures) = (Vec::new(), HashMap::new(), Vec::new());
        for (index, (name, list)) in lists.into_iter().enumerate() {
            match list {
                Ok(Ok(list)) => {
                    for mut row in list {
                        owners.insert(row.id.clone(), index);
                        row.engine = Some(name.clone());
                        rows.push(row);
                    }
                }
                Ok(Err(e)) => failures.push(e.to_string()),
                Err(_) => failures.push(format!("engine {name}: no answer in {} s", LIST_TIMEOUT.as_secs())),
            }
        }
        *self.owners.lock().unwrap_or_else(|e| e.into_inner()) = owners;
        if rows.is_empty() && !failures.is_empty() {
            let message = failures.join("; ");
            return Err(BackendError::Failed { operation: "list containers", target: String::new(), message });
        }
        if !failures.is_empty() {
            tracing::warn!("all engines view: {}", failures.join("; "));
        }
        Ok(rows)
    }
}

impl Backend for Engines {
    fn subscribe(&self, tx: mpsc::UnboundedSender<BackendEvent>) {
        for (index, (_, backend)) in self.engines.iter().enumerate() {
            let (inner_tx, mut inner_rx) = mpsc::unbounded_channel();
            backend.subscribe(inner_tx);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(event) = inner_rx.recv().await {
                    let event = match event {
                        BackendEvent::ShellOutput { session, bytes } => {
                            BackendEvent::ShellOutput { session: Engines::session(index, session), bytes }
                        }
                        BackendEvent::ShellClosed { session } => {
                            BackendEvent::ShellClosed { session: Engines::session(index, session) }
                        }
                        other => other,
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            });
        }
    }

    fn switch_engine(&self) -> Option<String> {
        let count = self.engines.len();
        // With one engine there is nothing to switch to (and no all-engines view of one).
        if count < 2 {
            return None;
        }
        let next = (self.current.load(Ordering::Acquire) + 1) % (count + 1);
        self.current.store(next, Ordering::Release);
        Some(self.engines.get(next).map_or_else(|| "all engines".to_string(), |(n, _)| n.clone()))
    }

    fn normalize_reference(&self, reference: &str) -> Result<String, BackendError> {
        self.engines[0].1.normalize_reference(reference)
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<ImageRow>, BackendError>> {
        Box::pin(async move { self.one("list images")?.images().await })
    }

    fn image_layers(&self, id: String) -> BoxFuture<'_, Result<Vec<LayerRow>, BackendError>> {
        Box::pin(async move { self.one("layers of")?.image_layers(id).await })
    }

    fn layer_changes(&self, id: String) -> BoxFuture<'_, Result<Arc<berth_engine::local::ImageChanges>, BackendError>> {
        Box::pin(async move { self.one("explore")?.layer_changes(id).await })
    }

    fn project_op(&self, project: String, op: ProjectOp) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.one("compose")?.project_op(project, op).await })
    }

    fn inspect_image(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.one("inspect")?.inspect_image(id).await })
    }

    fn pull(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.one("pull")?.pull(reference).await })
    }

    fn push(&self, reference: String) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.one("push")?.push(reference).await })
    }

    fn remove_image(&self, id: String, force: bool) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move { self.one("remove image")?.remove_image(id, force).await })
    }

    fn build(&self, build: u64, request: BuildRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.one("build")?.build(build, request).await })
    }

    fn prune_images(&self, all: bool) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move { self.one("prune images")?.prune_images(all).await })
    }

    fn containers(&self) -> BoxFuture<'_, Result<Vec<ContainerRow>, BackendError>> {
        match self.current() {
            Some(index) => self.engines[index].1.containers(),
            None => Box::pin(self.all_containers()),
        }
    }

    fn container_usage(
        &self,
        ids: Vec<String>,
    ) -> BoxFuture<'_, Result<HashMap<String, ContainerUsage>, BackendError>> {
        if let Some(index) = self.current() {
            return self.engines[index].1.container_usage(ids);
        }
        Box::pin(async move {
            let mut by_engine: HashMap<usize, Vec<String>> = HashMap::new();
            {
                let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                for id in ids {
                    by_engine.entry(owners.get(&id).copied().unwrap_or(0)).or_default().push(id);
                }
            }
            let readings = futures_util::future::join_all(
                by_engine.into_iter().map(|(index, ids)| self.engines[index].1.container_usage(ids)),
            )
            .await;
            Ok(readings.into_iter().flatten().flatten().collect())
        })
    }

    fn container_op(&self, id: String, op: ContainerOp) -> BoxFuture<'_, Result<(), BackendError>> {
        self.for_container(&id).container_op(id, op)
    }

    fn inspect_container(&self, id: String) -> BoxFuture<'_, Result<String, BackendError>> {
        self.for_container(&id).inspect_container(id)
    }

    fn run(&self, request: RunRequest) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.one("run")?.run(request).await })
    }

    fn follow_logs(&self, id: String, tail: usize) -> BoxFuture<'_, Result<(), BackendError>> {
        self.for_container(&id).follow_logs(id, tail)
    }

    fn unfollow_logs(&self, id: String) {
        // Every engine: the one that followed may no longer be the one shown.
        for (_, backend) in &self.engines {
            backend.unfollow_logs(id.clone());
        }
    }

    fn older_logs(
        &self,
        id: String,
        before: String,
        skip: usize,
        count: usize,
    ) -> BoxFuture<'_, Result<Vec<LogLine>, BackendError>> {
        self.for_container(&id).older_logs(id, before, skip, count)
    }

    fn follow_stats(&self, id: String) -> BoxFuture<'_, Result<(), BackendError>> {
        self.for_container(&id).follow_stats(id)
    }

    fn unfollow_stats(&self, id: String) {
        for (_, backend) in &self.engines {
            backend.unfollow_stats(id.clone());
        }
    }

    fn open_shell(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        let index = self.engine_of(&id);
        Box::pin(async move {
            let inner = self.engines[index].1.open_shell(id, cols, rows).await?;
            Ok(Engines::session(index, inner))
        })
    }

    fn attach(&self, id: String, cols: u16, rows: u16) -> BoxFuture<'_, Result<u64, BackendError>> {
        let index = self.engine_of(&id);
        Box::pin(async move {
            let inner = self.engines[index].1.attach(id, cols, rows).await?;
            Ok(Engines::session(index, inner))
        })
    }

    fn shell_input(&self, session: u64, bytes: Vec<u8>) {
        if let Some((backend, inner)) = self.split_session(session) {
            backend.shell_input(inner, bytes);
        }
    }

    fn resize_shell(&self, session: u64, cols: u16, rows: u16) {
        if let Some((backend, inner)) = self.split_session(session) {
            backend.resize_shell(inner, cols, rows);
        }
    }

    fn close_shell(&self, session: u64) {
        if let Some((backend, inner)) = self.split_session(session) {
            backend.close_shell(inner);
        }
    }

    fn networks(&self) -> BoxFuture<'_, Result<Vec<NetworkRow>, BackendError>> {
        Box::pin(async move { self.one("list networks")?.networks().await })
    }

    fn remove_network(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.one("remove network")?.remove_network(name).await })
    }

    fn prune_networks(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move { self.one("prune networks")?.prune_networks().await })
    }

    fn volumes(&self) -> BoxFuture<'_, Result<Vec<VolumeRow>, BackendError>> {
        Box::pin(async move { self.one("list volumes")?.volumes().await })
    }

    fn remove_volume(&self, name: String) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.one("remove volume")?.remove_volume(name).await })
    }

    fn prune_volumes(&self) -> BoxFuture<'_, Result<Pruned, BackendError>> {
        Box::pin(async move { self.one("prune volumes")?.prune_volumes().await })
    }

    fn run_cli(&self, args: Vec<String>) -> BoxFuture<'_, Result<CliOutput, BackendError>> {
        // The `:` line is berth's own CLI: it runs on berth's engine in the all-engines view.
        self.engines[self.current().unwrap_or(0)].1.run_cli(args)
    }
}

impl Engines {
    fn engine_of(&self, id: &str) -> usize {
        self.current().or_else(|| self.owners.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &Path, hash: &str, name: &str, host: &str) {
        let meta = dir.join("contexts/meta").join(hash);
        std::fs::create_dir_all(&meta).unwrap();
        let json = format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
        );
        std::fs::write(meta.join("meta.json"), json).unwrap();
    }

    #[test]
    fn br_contexts_are_read_with_the_current_one_first_and_their_tls_files() {
        let dir = tempfile::tempdir().unwrap();
        context(dir.path(), "aaa", "alpha", "ssh://me@alpha");
        context(dir.path(), "bbb", "beta", "tcp://beta:2376");
        let tls = dir.path().join("contexts/tls/bbb/docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("cert.pem"), "x").unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"beta"}"#).unwrap();
        let found = docker_contexts(dir.path());
        assert_eq!(found.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["beta", "alpha"]);
        assert_eq!(found[0].endpoint.tls_dir.as_deref(), Some(tls.as_path()));
        assert_eq!(found[1].endpoint.tls_dir, None);
    }

    #[test]
    fn br_configured_engines_come_first_and_a_host_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        context(dir.path(), "aaa", "alpha", "unix:///run/a.sock");
        let configured = [EngineConfig { name: "lab".into(), host: "unix:///run/a.sock".into(), tls: None }];
        let found = discover(&configured, Some("tcp://10.0.0.1:2375".into()), Some(dir.path()));
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["lab", "DOCKER_HOST"]);
    }

    #[test]
    fn br_sessions_keep_their_engine() {
        assert_eq!(Engines::session(3, 7) & 0xff, 3);
        assert_eq!(Engines::session(3, 7) >> ENGINE_BITS, 7);
    }
}
