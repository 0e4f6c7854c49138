//! `kube play` and `kube down`: Pods and Deployments run locally as pods of ordinary containers. The first
//! container of a pod holds the network and IPC namespaces (and the published ports); the others join
//! them through the engine's shared namespaces. Each container is `POD-CONTAINER` (as podman names them),
//! made by the run use case ([`Engine::run`]) and labelled with its pod ([`POD_LABEL`]) so `down` and the
//! TUI find it. Services become published ports of the pods they select, PersistentVolumeClaims named
//! volumes, emptyDirs volumes of the pod.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, PodSpec, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{CONTAINER_LABEL, KubeError, Note, POD_LABEL, quantity};
use crate::health::HealthConfig;
use crate::run::{PullPolicy, RunSpec};
use crate::runtime::{RestartPolicy, RunOptions};
use crate::volume::{MountKind, MountSpec, VolumeCreate};
use crate::{Engine, Error};

/// The label on volumes `play` made for a pod's emptyDirs, which `down` always removes.
const EMPTY_DIR_LABEL: &str = "io.berth.kube.emptydir";

/// What a file asks for, read and checked before anything runs.
struct Plan {
    pods: Vec<PlannedPod>,
    claims: Vec<String>,
    notes: Vec<Note>,
}

/// One pod to run: its name, labels and spec, and what the file calls it in messages.
struct PlannedPod {
    name: String,
    object: String,
    labels: BTreeMap<String, String>,
    spec: PodSpec,
    /// `(host port, container port, protocol)` the pod publishes for the Services that select it.
    service_ports: Vec<(u16, u16, String)>,
}

/// A pod `play` started and its containers' names.
#[derive(Debug)]
pub struct PlayedPod {
    pub name: String,
    pub containers: Vec<String>,
}

#[derive(Debug)]
pub struct PlayOutcome {
    pub pods: Vec<PlayedPod>,
    pub volumes: Vec<String>,
    pub notes: Vec<Note>,
}

#[derive(Debug)]
pub struct DownOutcome {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

impl Engine {
    /// `berth kube play FILE`: every Pod and Deployment replica of the file as a running pod. A pod that
    /// fails to start is removed again, and the pods started before it are left running (as kubectl leaves
    /// the objects it applied).
    pub async fn kube_play(&self, path: &Path) -> Result<PlayOutcome, Error> {
        let plan = read_plan(path).map_err(kube)?;
        let mut volumes = Vec::new();
        for claim in &plan.claims {
            if self.volume(claim).is_err() {
                let labels = BTreeMap::from([("io.berth.kube.claim".to_string(), claim.clone())]);
                self.create_volume(&VolumeCreate { name: Some(claim.clone()), labels, ..VolumeCreate::default() })?;
                volumes.push(claim.clone());
            }
        }
        let mut pods = Vec::new();
        for pod in &plan.pods {
            pods.push(self.play_pod(pod).await?);
        }
        Ok(PlayOutcome { pods, volumes, notes: plan.notes })
    }

    /// `berth kube down FILE`: removes the containers of the file's pods (joiners first), their emptyDir
    /// volumes, and with `claims` the volumes of its PersistentVolumeClaims.
    pub async fn kube_down(&self, path: &Path, claims: bool) -> Result<DownOutcome, Error> {
        let plan = read_plan(path).map_err(kube)?;
        let mut containers = Vec::new();
        for pod in &plan.pods {
            containers.extend(self.remove_pod(&pod.name).await?);
        }
        let mut volumes = Vec::new();
        for volume in self.volumes(&crate::volume::VolumeFilter::default())? {
            let of_pod = volume.labels.get(EMPTY_DIR_LABEL).is_some_and(|p| plan.pods.iter().any(|pod| pod.name == *p));
            if of_pod || (claims && plan.claims.contains(&volume.name)) {
                self.remove_volume(&volume.name, true)?;
                volumes.push(volume.name);
            }
        }
        Ok(DownOutcome { containers, volumes })
    }

    /// Removes a pod's containers, the namespace holder last; their names.
    async fn remove_pod(&self, pod: &str) -> Result<Vec<String>, Error> {
        let mut members = self.pod_members(pod)?;
        members.sort_by_key(|r| r.options.labels.get(CONTAINER_LABEL).map(String::as_str) == Some(HOLDER));
        let mut removed = Vec::new();
        for rec in members {
            self.remove_container(&rec.id, true).await?;
            removed.push(rec.name);
        }
        Ok(removed)
    }

    /// The containers labelled as members of `pod`.
    fn pod_members(&self, pod: &str) -> Result<Vec<crate::container::ContainerRecord>, Error> {
        Ok(self
            .list_containers(&crate::container::ListOptions { all: true, filters: Vec::new() })?
            .into_iter()
            .filter(|r| r.options.labels.get(POD_LABEL).map(String::as_str) == Some(pod))
            .collect())
    }

    async fn play_pod(&self, pod: &PlannedPod) -> Result<PlayedPod, Error> {
        let existing = self.pod_members(&pod.name)?;
        if let Some(rec) = existing.first() {
            return Err(kube(KubeError::PodExists { pod: pod.name.clone(), container: rec.name.clone() }));
        }
        for v in pod.spec.volumes.iter().flatten().filter(|v| v.empty_dir.as_ref().is_some_and(|e| e.medium.is_none()))
        {
            let volume = format!("{}-{}", pod.name, v.name);
            if self.volume(&volume).is_err() {
                let labels = BTreeMap::from([(EMPTY_DIR_LABEL.to_string(), pod.name.clone())]);
                self.create_volume(&VolumeCreate { name: Some(volume), labels, ..VolumeCreate::default() })?;
            }
        }
        let mut names = Vec::new();
        let mut holder: Option<String> = None;
        for (i, container) in pod.spec.containers.iter().enumerate() {
            let spec = run_spec(pod, container, i, holder.as_deref()).map_err(kube)?;
            let name = spec.name.clone().unwrap_or_default();
            match self.run(spec, &|_| {}).await {
                Ok(outcome) => {
                    if holder.is_none() {
                        holder = Some(outcome.record.id.clone());
                    }
                    names.push(name);
                }
                Err(source) => {
                    // Half a pod is no pod: what started of it goes again.
                    let _ = self.remove_pod(&pod.name).await;
                    return Err(kube(KubeError::Run {
                        pod: pod.name.clone(),
                        container: container.name.clone(),
                        source: Box::new(source),
                    }));
                }
            }
        }
        Ok(PlayedPod { name: pod.name.clone(), containers: names })
    }
}

fn kube(e: KubeError) -> Error {
    Error::Kube(Box::new(e))
}

/// The value of [`CONTAINER_LABEL`] on the container that holds the pod's namespaces.
const HOLDER: &str = "holder";

/// Reads and checks a file: its objects, the pods they make and the claims they use; nothing runs yet.
fn read_plan(path: &Path) -> Result<Plan, KubeError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeError::Read { path: path.to_path_buf(), source })?;
    let docs = super::yaml::read(path, &text)?;
    let mut notes = Vec::new();
    let mut pods = Vec::new();
    let mut services = Vec::new();
    let mut claims = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let object = format!("{kind} {name:?}");
        let malformed = |reason: String| KubeError::Malformed { path: path.to_path_buf(), document: i + 1, reason };
        if kind.is_empty() {
            return Err(malformed("no kind".into()));
        }
        if !matches!(kind.as_str(), "Pod" | "Deployment" | "Service" | "PersistentVolumeClaim") {
            return Err(KubeError::Unsupported {
                path: path.to_path_buf(),
                object,
                field: "kind".into(),
                reason: "kube play runs Pods, Deployments, Services and PersistentVolumeClaims".into(),
            });
        }
        if name.is_empty() {
            return Err(malformed(format!("{kind} without metadata.name")));
        }
        notes.extend(super::fields::check(doc, &kind, &object).map_err(|refused| KubeError::Unsupported {
            path: path.to_path_buf(),
            object: object.clone(),
            field: refused.0,
            reason: "berth has no counterpart for it".into(),
        })?);
        let typed = |e: serde_json::Error| malformed(format!("{object}: {e}"));
        match kind.as_str() {
            "Pod" => {
                let pod: Pod = serde_json::from_value(doc.clone()).map_err(typed)?;
                let labels = local_labels(pod.metadata.labels.unwrap_or_default(), &object, &mut notes);
                let spec = pod.spec.ok_or_else(|| malformed(format!("{object} has no spec")))?;
                pods.push(PlannedPod { name, object, labels, spec, service_ports: Vec::new() });
            }
            "Deployment" => {
                let deployment: Deployment = serde_json::from_value(doc.clone()).map_err(typed)?;
                let spec = deployment.spec.ok_or_else(|| malformed(format!("{object} has no spec")))?;
                let template =
                    spec.template.spec.ok_or_else(|| malformed(format!("{object} has no pod template spec")))?;
                let labels = spec.template.metadata.and_then(|m| m.labels).unwrap_or_default();
                let labels = local_labels(labels, &object, &mut notes);
                let replicas = spec.replicas.unwrap_or(1).max(0) as usize;
                let mut template = template;
                if template.restart_policy.as_deref().is_some_and(|p| p != "Always") {
                    return Err(KubeError::Invalid {
                        path: path.to_path_buf(),
                        object,
                        reason: "a Deployment's restartPolicy must be Always".into(),
                    });
                }
                template.restart_policy = Some("Always".into());
                for n in 1..=replicas {
                    let pod_name = if replicas == 1 { format!("{name}-pod") } else { format!("{name}-pod-{n}") };
                    pods.push(PlannedPod {
                        name: pod_name,
                        object: object.clone(),
                        labels: labels.clone(),
                        spec: template.clone(),
                        service_ports: Vec::new(),
                    });
                }
            }
            "Service" => {
                let service: Service = serde_json::from_value(doc.clone()).map_err(typed)?;
                services.push((object, service));
            }
            _ => {
                let claim: PersistentVolumeClaim = serde_json::from_value(doc.clone()).map_err(typed)?;
                claims.push(claim.metadata.name.unwrap_or_default());
            }
        }
    }
    if pods.is_empty() {
        return Err(KubeError::NoPods { path: path.to_path_buf() });
    }
    for pod in &pods {
        let mut container_names = Vec::new();
        for c in &pod.spec.containers {
            if c.image.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(path, pod, format!("container {:?} has no image", c.name)));
            }
            if container_names.contains(&c.name) {
                return Err(invalid(path, pod, format!("two containers are named {:?}", c.name)));
            }
            container_names.push(c.name.clone());
        }
        if pod.spec.containers.is_empty() {
            return Err(invalid(path, pod, "a pod needs at least one container".into()));
        }
        for claim in pod.spec.volumes.iter().flatten().filter_map(|v| v.persistent_volume_claim.as_ref()) {
            if !claims.contains(&claim.claim_name) {
                claims.push(claim.claim_name.clone());
            }
        }
    }
    publish_services(path, &services, &mut pods, &mut notes)?;
    // Every container's run is made and checked now, so a bad field stops the file before anything runs.
    for pod in &pods {
        for (i, c) in pod.spec.containers.iter().enumerate() {
            let spec = run_spec(pod, c, i, (i > 0).then_some("holder")).map_err(|e| match e {
                KubeError::Unsupported { object, field, reason, .. } => {
                    KubeError::Unsupported { path: path.to_path_buf(), object, field, reason }
                }
                other => other,
            })?;
            spec.validate().map_err(|e| invalid(path, pod, format!("container {:?}: {e}", c.name)))?;
        }
    }
    Ok(Plan { pods, claims, notes })
}

/// A pod's labels as its containers get them: without docker compose's, which would make `berth compose`
/// count the containers as its project's (YAML generated from a project carries them).
fn local_labels(mut labels: BTreeMap<String, String>, object: &str, notes: &mut Vec<Note>) -> BTreeMap<String, String> {
    let compose: Vec<String> = labels.keys().filter(|k| k.starts_with("com.docker.compose.")).cloned().collect();
    for key in &compose {
        labels.remove(key);
    }
    if !compose.is_empty() {
        notes.push(Note(format!(
            "{object}: labels {} left off its containers, so berth compose does not take them for its own",
            compose.join(", ")
        )));
    }
    labels
}

fn invalid(path: &Path, pod: &PlannedPod, reason: String) -> KubeError {
    KubeError::Invalid { path: path.to_path_buf(), object: pod.object.clone(), reason }
}

/// Each Service's ports become published ports of the first pod it selects (a host port can be published
/// once); the other pods it selects are named in a note.
fn publish_services(
    path: &Path,
    services: &[(String, Service)],
    pods: &mut [PlannedPod],
    notes: &mut Vec<Note>,
) -> Result<(), KubeError> {
    for (object, service) in services {
        let Some(spec) = &service.spec else { continue };
        let selector = spec.selector.clone().unwrap_or_default();
        let mut selected = pods
            .iter_mut()
            .filter(|p| !selector.is_empty() && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)));
        let Some(first) = selected.next() else {
            notes.push(Note(format!("{object}: selects no pod of the file; nothing published")));
            continue;
        };
        for port in spec.ports.iter().flatten() {
            let host = port.node_port.unwrap_or(port.port);
            let target = match &port.target_port {
                None => port.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => first
                    .spec
                    .containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    .map(|p| p.container_port)
                    .ok_or_else(|| KubeError::Invalid {
                        path: path.to_path_buf(),
                        object: object.clone(),
                        reason: format!("targetPort {name:?} names no container port of pod {}", first.name),
                    })?,
            };
            let (Ok(host), Ok(target)) = (u16::try_from(host), u16::try_from(target)) else {
                return Err(KubeError::Invalid {
                    path: path.to_path_buf(),
                    object: object.clone(),
                    reason: format!("port {host}->{target} is out of range"),
                });
            };
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into()).to_ascii_lowercase();
            first.service_ports.push((host, target, protocol));
        }
        let others: Vec<String> = selected.map(|p| p.name.clone()).collect();
        if !others.is_empty() {
            notes.push(Note(format!(
                "{object}: its ports are published by the first pod it selects; {} serve no host port",
                others.join(", ")
            )));
        }
    }
    Ok(())
}

/// The run of one container of a pod: the first (`holder` None) holds the pod's namespaces and ports; the
/// others join it.
fn run_spec(pod: &PlannedPod, c: &Container, index: usize, holder: Option<&str>) -> Result<RunSpec, KubeError> {
    let unsupported = |field: String, reason: &str| KubeError::Unsupported {
        path: Default::default(),
        object: pod.object.clone(),
        field,
        reason: reason.into(),
    };
    let spec = &pod.spec;
    let mut o = RunOptions {
        entrypoint: c.command.clone(),
        cmd: c.args.clone().unwrap_or_default(),
        workdir: c.working_dir.clone(),
        tty: c.tty.unwrap_or(false),
        open_stdin: c.stdin.unwrap_or(false),
        ..RunOptions::default()
    };
    o.labels = pod.labels.clone();
    o.labels.insert(POD_LABEL.into(), pod.name.clone());
    o.labels.insert(CONTAINER_LABEL.into(), if holder.is_none() { HOLDER.into() } else { c.name.clone() });
    o.env = c.env.iter().flatten().map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or_default())).collect();
    if let Some(limits) = c.resources.as_ref().and_then(|r| r.limits.as_ref()) {
        let field = |k: &str| format!("spec.containers[{index}].resources.limits.{k}");
        if let Some(q) = limits.get("memory") {
            o.memory = Some(quantity::parse_memory(q).map_err(|r| unsupported(field("memory"), &r))?);
        }
        if let Some(q) = limits.get("cpu") {
            o.cpus = Some(quantity::parse_cpus(q).map_err(|r| unsupported(field("cpu"), &r))?);
        }
    }
    if let Some(probe) = &c.liveness_probe
        && let Some(command) = probe.exec.as_ref().and_then(|e| e.command.clone())
    {
        let ns = |s: Option<i32>| s.map_or(0, |s| i64::from(s) * 1_000_000_000);
        let mut test = vec!["CMD".to_string()];
        test.extend(command);
        o.healthcheck = Some(HealthConfig {
            test,
            interval: ns(probe.period_seconds),
            timeout: ns(probe.timeout_seconds),
            start_period: ns(probe.initial_delay_seconds),
            retries: probe.failure_threshold.map_or(0, i64::from),
            start_interval: 0,
        });
    }
    let pod_ctx = spec.security_context.as_ref();
    let ctx = c.security_context.as_ref();
    let uid = ctx.and_then(|s| s.run_as_user).or(pod_ctx.and_then(|s| s.run_as_user));
    let gid = ctx.and_then(|s| s.run_as_group).or(pod_ctx.and_then(|s| s.run_as_group));
    o.user = match (uid, gid) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!("0:{g}")),
        (None, None) => None,
    };
    if let Some(ctx) = ctx {
        o.privileged = ctx.privileged.unwrap_or(false);
        o.read_only = ctx.read_only_root_filesystem.unwrap_or(false);
        o.no_new_privileges = ctx.allow_privilege_escalation == Some(false);
        if let Some(caps) = &ctx.capabilities {
            o.cap_add = caps.add.clone().unwrap_or_default();
            o.cap_drop = caps.drop.clone().unwrap_or_default();
        }
    }
    o.restart = match spec.restart_policy.as_deref().unwrap_or("Always") {
        "Always" => RestartPolicy::Always,
        "OnFailure" => RestartPolicy::OnFailure { max_retries: None },
        "Never" => RestartPolicy::No,
        other => return Err(unsupported("spec.restartPolicy".into(), &format!("{other:?} is not a restart policy"))),
    };
    o.stop_timeout = spec.termination_grace_period_seconds;
    for m in c.volume_mounts.iter().flatten() {
        let volume = spec.volumes.iter().flatten().find(|v| v.name == m.name).ok_or_else(|| {
            unsupported(
                format!("spec.containers[{index}].volumeMounts"),
                &format!("volume {:?} is not in spec.volumes", m.name),
            )
        })?;
        let (kind, source) = if let Some(claim) = &volume.persistent_volume_claim {
            (MountKind::Volume, claim.claim_name.clone())
        } else if let Some(host) = &volume.host_path {
            (MountKind::Bind, host.path.clone())
        } else if let Some(dir) = &volume.empty_dir {
            if dir.medium.as_deref() == Some("Memory") {
                (MountKind::Tmpfs, String::new())
            } else {
                (MountKind::Volume, format!("{}-{}", pod.name, volume.name))
            }
        } else {
            return Err(unsupported(format!("spec.volumes[{:?}]", volume.name), "a volume without a source"));
        };
        let size = volume.empty_dir.as_ref().and_then(|d| d.size_limit.as_ref());
        o.mounts.push(MountSpec {
            kind,
            source,
            target: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false)
                || volume.persistent_volume_claim.as_ref().and_then(|p| p.read_only).unwrap_or(false),
            tmpfs_size: match (kind, size) {
                (MountKind::Tmpfs, Some(q)) => Some(
                    quantity::parse_memory(q)
                        .map_err(|r| unsupported(format!("spec.volumes[{:?}].emptyDir.sizeLimit", volume.name), &r))?
                        as u64,
                ),
                _ => None,
            },
            tmpfs_mode: None,
            no_copy: false,
        });
    }
    match holder {
        None => {
            // The holder: the pod's network, IPC namespace and every published port.
            o.ipc_mode = Some("shareable".into());
            o.hostname = spec.hostname.clone().or_else(|| Some(pod.name.clone()));
            o.extra_hosts = spec
                .host_aliases
                .iter()
                .flatten()
                .flat_map(|a| a.hostnames.iter().flatten().map(move |h| format!("{h}:{}", a.ip)))
                .collect();
            for (host, target, protocol) in &pod.service_ports {
                o.publish.push(format!("{host}:{target}/{protocol}"));
            }
        }
        Some(id) => {
            o.network = Some(format!("container:{id}"));
            o.ipc_mode = Some(format!("container:{id}"));
            if spec.share_process_namespace == Some(true) {
                o.pid_mode = Some(format!("container:{id}"));
            }
        }
    }
    // A container port's hostPort is published by the holder, whose network the pod shares.
    if holder.is_none() {
        for p in spec.containers.iter().flat_map(|c| c.ports.iter().flatten()) {
            if let Some(host) = p.host_port {
                let protocol = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
                let ip = p.host_ip.as_deref().map(|ip| format!("{ip}:")).unwrap_or_default();
                o.publish.push(format!("{ip}{host}:{}/{protocol}", p.container_port));
            }
        }
    }
    let pull = match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        _ => PullPolicy::Missing,
    };
    Ok(RunSpec {
        image: c.image.clone().unwrap_or_default(),
        name: Some(format!("{}-{}", pod.name, c.name)),
        options: o,
        pull,
        platform: None,
    })
}
