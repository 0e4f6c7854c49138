//! `kube generate`: containers as Kubernetes objects. The containers' records (what inspect shows) become a
//! Pod holding them all or a Deployment per service, plus a Service for published ports (with `--service`;
//! otherwise each port's `hostPort`) and a PersistentVolumeClaim per named volume. Whatever a container
//! holds that Kubernetes cannot express becomes a [`Note`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, ExecAction, HostAlias, HostPathVolumeSource,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::names::{dns_label, unique, valid_label_key, valid_label_value};
use super::{KubeError, Note, quantity};
use crate::container::ContainerRecord;
use crate::network::PortMapping;
use crate::runtime::RestartPolicy;
use crate::volume::{MountKind, MountSpec};
use crate::{Engine, Error};

/// Docker compose's labels, by which a project's containers and their services are known.
pub(crate) const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub(crate) const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// What `generate` writes containers as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// One Pod holding every container.
    #[default]
    Pod,
    /// One Deployment per service (a compose service, or a container), its replicas the service's containers.
    Deployment,
}

/// Which containers to generate from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Containers(Vec<String>),
    /// Every container of a compose project (`com.docker.compose.project`).
    Project(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct GenerateOptions {
    pub kind: Kind,
    /// Published ports as a Service rather than as `hostPort`s.
    pub service: bool,
}

/// The YAML and what it could not hold.
#[derive(Debug)]
pub struct Generated {
    pub yaml: String,
    pub notes: Vec<Note>,
}

impl Engine {
    /// `berth kube generate`: the named containers (or the project's) as Kubernetes YAML.
    pub fn kube_generate(&self, source: &Source, options: GenerateOptions) -> Result<Generated, Error> {
        let (records, name) = match source {
            Source::Containers(names) if names.is_empty() => return Err(kube(KubeError::NothingToGenerate)),
            Source::Containers(names) => {
                let records = names.iter().map(|n| self.container(n)).collect::<Result<Vec<_>, _>>()?;
                let name = format!("{}-pod", records[0].name);
                (records, name)
            }
            Source::Project(project) => {
                let mut records: Vec<ContainerRecord> = self
                    .list_containers(&crate::container::ListOptions { all: true, filters: Vec::new() })?
                    .into_iter()
                    .filter(|r| r.options.labels.get(COMPOSE_PROJECT) == Some(project))
                    .collect();
                if records.is_empty() {
                    return Err(kube(KubeError::EmptyProject(project.clone())));
                }
                // Oldest first, so services and replicas come in the order they were made.
                records.reverse();
                (records, project.clone())
            }
        };
        generate(&records, &name, options).map_err(kube)
    }
}

fn kube(e: KubeError) -> Error {
    Error::Kube(Box::new(e))
}

/// The objects for `records` (`name` names the Pod); the engine-free core of [`Engine::kube_generate`].
pub(crate) fn generate(
    records: &[ContainerRecord],
    name: &str,
    options: GenerateOptions,
) -> Result<Generated, KubeError> {
    let mut notes = Vec::new();
    let mut objects = Vec::new();
    let mut claims = BTreeMap::new();
    let groups: Vec<(String, Vec<&ContainerRecord>)> = match options.kind {
        Kind::Pod => vec![(name.to_string(), records.iter().collect())],
        Kind::Deployment => {
            let mut groups: Vec<(String, Vec<&ContainerRecord>)> = Vec::new();
            for rec in records {
                let key = rec.options.labels.get(COMPOSE_SERVICE).cloned().unwrap_or_else(|| rec.name.clone());
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(rec),
                    None => groups.push((key, vec![rec])),
                }
            }
            groups
        }
    };
    let mut object_names = Vec::new();
    for (group, members) in groups {
        let object_name = unique(&dns_label(&group).unwrap_or_else(|| "pod".into()), &mut object_names);
        if object_name != group {
            notes.push(Note(format!("{group:?} is named {object_name:?}: Kubernetes names are DNS labels")));
        }
        // A Deployment's replicas are copies of one template: its first container's.
        let templates = match options.kind {
            Kind::Pod => members.clone(),
            Kind::Deployment => members[..1].to_vec(),
        };
        let pod = pod_parts(&object_name, &templates, options, &mut notes, &mut claims);
        if options.service && !pod.ports.is_empty() {
            objects.push(to_value(&service(&object_name, &pod.ports))?);
        }
        match options.kind {
            Kind::Pod => objects.push(to_value(&Pod { metadata: pod.metadata, spec: Some(pod.spec), status: None })?),
            Kind::Deployment => {
                if pod.spec.restart_policy.as_deref().is_some_and(|p| p != "Always") {
                    notes.push(Note(format!(
                        "{object_name}: a Deployment's pods always restart; restart policy {:?} left out",
                        pod.spec.restart_policy.as_deref().unwrap_or_default()
                    )));
                }
                let spec = PodSpec { restart_policy: None, ..pod.spec };
                objects.push(to_value(&Deployment {
                    metadata: ObjectMeta { name: Some(object_name.clone()), ..ObjectMeta::default() },
                    spec: Some(DeploymentSpec {
                        replicas: Some(members.len() as i32),
                        selector: LabelSelector {
                            match_labels: Some(BTreeMap::from([("app".to_string(), object_name.clone())])),
                            ..LabelSelector::default()
                        },
                        template: PodTemplateSpec {
                            metadata: Some(ObjectMeta { name: None, ..pod.metadata }),
                            spec: Some(spec),
                        },
                        ..DeploymentSpec::default()
                    }),
                    status: None,
                })?);
            }
        }
    }
    for (claim, volume) in claims {
        objects.push(to_value(&PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(claim),
                labels: Some(BTreeMap::from([("io.berth.volume".to_string(), dns_label(&volume).unwrap_or_default())])),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity("1Gi".into()))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        })?);
    }
    Ok(Generated { yaml: super::yaml::write(&objects)?, notes })
}

fn to_value<T: serde::Serialize>(object: &T) -> Result<Value, KubeError> {
    serde_json::to_value(object).map_err(|e| KubeError::Write(e.to_string()))
}

/// A pod's metadata and spec, and the ports its containers publish (for a Service).
struct PodParts {
    metadata: ObjectMeta,
    spec: PodSpec,
    ports: Vec<PortMapping>,
}

fn pod_parts(
    name: &str,
    records: &[&ContainerRecord],
    options: GenerateOptions,
    notes: &mut Vec<Note>,
    claims: &mut BTreeMap<String, String>,
) -> PodParts {
    let mut labels = BTreeMap::from([("app".to_string(), name.to_string())]);
    let mut annotations = BTreeMap::new();
    let mut containers = Vec::new();
    let mut volumes: Vec<Volume> = Vec::new();
    let mut container_names = Vec::new();
    let mut volume_names = Vec::new();
    let mut ports = Vec::new();
    let mut host_aliases: Vec<HostAlias> = Vec::new();
    let mut restart_policy = None;
    let mut grace = None;
    for rec in records {
        let o = &rec.options;
        let say = |notes: &mut Vec<Note>, what: String| notes.push(Note(format!("container {}: {what}", rec.name)));
        for (key, value) in &o.labels {
            if key.starts_with("io.berth.kube.") || key == "app" {
                continue;
            }
            if valid_label_key(key) && valid_label_value(value) {
                labels.insert(key.clone(), value.clone());
            } else {
                annotations.insert(key.clone(), value.clone());
                say(notes, format!("label {key:?} is not a valid Kubernetes label; written as an annotation"));
            }
        }
        let base = o.labels.get(COMPOSE_SERVICE).unwrap_or(&rec.name);
        let container_name = unique(&dns_label(base).unwrap_or_else(|| "container".into()), &mut container_names);
        let mut container = Container {
            name: container_name.clone(),
            image: Some(rec.image_name.clone()),
            command: o.entrypoint.clone().filter(|e| !e.is_empty()),
            args: (!o.cmd.is_empty()).then(|| o.cmd.clone()),
            working_dir: o.workdir.clone().filter(|w| !w.is_empty()),
            tty: o.tty.then_some(true),
            stdin: o.open_stdin.then_some(true),
            ..Container::default()
        };
        if o.entrypoint.as_ref().is_some_and(|e| e.is_empty()) {
            say(notes, "an emptied entrypoint (--entrypoint \"\") cannot be expressed; the image's applies".into());
        }
        let env: Vec<EnvVar> = o
            .env
            .iter()
            .map(|entry| match entry.split_once('=') {
                Some((k, v)) => EnvVar { name: k.into(), value: Some(v.into()), value_from: None },
                None => EnvVar { name: entry.clone(), value: None, value_from: None },
            })
            .collect();
        container.env = (!env.is_empty()).then_some(env);
        let mut limits = BTreeMap::new();
        if let Some(memory) = o.memory.filter(|m| *m > 0) {
            limits.insert("memory".to_string(), quantity::memory(memory));
        }
        if let Some(cpus) = o.cpus.filter(|c| *c > 0.0) {
            limits.insert("cpu".to_string(), quantity::cpus(cpus));
        }
        if !limits.is_empty() {
            container.resources =
                Some(ResourceRequirements { limits: Some(limits), ..ResourceRequirements::default() });
        }
        container.liveness_probe = o.healthcheck.as_ref().and_then(|h| probe(h, &mut |w| say(notes, w)));
        container.security_context = security_context(rec, &mut |w| say(notes, w));
        let mut container_ports = Vec::new();
        for spec in &o.publish {
            let Ok(port) = PortMapping::parse(spec) else {
                say(notes, format!("published port {spec:?} could not be read; left out"));
                continue;
            };
            let mut cp = ContainerPort {
                container_port: port.container_port.into(),
                protocol: Some(port.protocol.as_str().to_ascii_uppercase()),
                ..ContainerPort::default()
            };
            if port.host_port == 0 {
                say(
                    notes,
                    format!("port {spec:?} is published on a random host port; written as its container port only"),
                );
            } else if options.service {
                ports.push(port);
            } else {
                cp.host_port = Some(port.host_port.into());
                if !port.host_ip.is_unspecified() {
                    cp.host_ip = Some(port.host_ip.to_string());
                }
            }
            container_ports.push(cp);
        }
        container.ports = (!container_ports.is_empty()).then_some(container_ports);
        let mut mounts = Vec::new();
        for mount in &o.mounts {
            let (volume_name, source) = volume_source(rec, mount, &mut volume_names, claims, &mut |w| say(notes, w));
            mounts.push(VolumeMount {
                name: volume_name.clone(),
                mount_path: mount.target.clone(),
                read_only: mount.read_only.then_some(true),
                ..VolumeMount::default()
            });
            if !volumes.iter().any(|v| v.name == volume_name) {
                volumes.push(Volume { name: volume_name, ..source });
            }
        }
        container.volume_mounts = (!mounts.is_empty()).then_some(mounts);
        for entry in &o.extra_hosts {
            if let Some((host, ip)) = entry.split_once(':') {
                host_aliases.push(HostAlias { ip: ip.into(), hostnames: Some(vec![host.into()]) });
            }
        }
        let policy = match o.restart {
            RestartPolicy::No => "Never",
            RestartPolicy::OnFailure { max_retries } => {
                if max_retries.is_some() {
                    say(notes, "on-failure's retry count cannot be expressed; retries are unlimited".into());
                }
                "OnFailure"
            }
            RestartPolicy::Always | RestartPolicy::UnlessStopped => "Always",
        };
        match restart_policy {
            None => restart_policy = Some(policy),
            Some(p) if p != policy => {
                say(notes, format!("restart policy {policy} differs from the pod's {p}; a pod has one"));
            }
            Some(_) => {}
        }
        if let Some(timeout) = o.stop_timeout.filter(|t| *t >= 0) {
            grace = Some(grace.map_or(timeout, |g: i64| g.max(timeout)));
        }
        unexpressed(rec, &mut |w| say(notes, w));
        containers.push(container);
    }
    let spec = PodSpec {
        containers,
        volumes: (!volumes.is_empty()).then_some(volumes),
        host_aliases: (!host_aliases.is_empty()).then_some(host_aliases),
        restart_policy: restart_policy.map(str::to_string),
        termination_grace_period_seconds: grace,
        ..PodSpec::default()
    };
    let metadata = ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    };
    PodParts { metadata, spec, ports }
}

/// The pod volume a mount uses: a claim for a named volume, an emptyDir for an anonymous volume or a
/// tmpfs, a hostPath for a bind.
fn volume_source(
    rec: &ContainerRecord,
    mount: &MountSpec,
    taken: &mut Vec<String>,
    claims: &mut BTreeMap<String, String>,
    say: &mut dyn FnMut(String),
) -> (String, Volume) {
    let none = Volume::default();
    let anonymous = mount.source.len() == 64 && mount.source.bytes().all(|b| b.is_ascii_hexdigit());
    match mount.kind {
        MountKind::Volume if !anonymous => {
            let claim = dns_label(&mount.source).unwrap_or_else(|| "volume".into());
            if claim != mount.source {
                say(format!("volume {:?} is claimed as {claim:?}: Kubernetes names are DNS labels", mount.source));
            }
            claims.insert(claim.clone(), mount.source.clone());
            // Two mounts of one volume in a pod share one pod volume.
            if !taken.contains(&claim) {
                taken.push(claim.clone());
            }
            let source = Volume {
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: None,
                }),
                ..none
            };
            (claim, source)
        }
        MountKind::Volume => {
            say(format!("anonymous volume at {} becomes an emptyDir (it lives as long as the pod)", mount.target));
            let name = unique(&format!("{}-anon", dns_label(&rec.name).unwrap_or_default()), taken);
            (name, Volume { empty_dir: Some(EmptyDirVolumeSource::default()), ..none })
        }
        MountKind::Tmpfs => {
            if mount.tmpfs_mode.is_some() {
                say(format!("tmpfs mode at {} cannot be expressed; left out", mount.target));
            }
            let name = unique(&format!("{}-tmpfs", dns_label(&rec.name).unwrap_or_default()), taken);
            let dir = EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: mount.tmpfs_size.map(|s| quantity::memory(s as i64)),
            };
            (name, Volume { empty_dir: Some(dir), ..none })
        }
        MountKind::Bind => {
            say(format!("bind mount of {} becomes a hostPath volume, tied to the node it runs on", mount.source));
            let name = unique(&format!("{}-host", dns_label(&rec.name).unwrap_or_default()), taken);
            let path = HostPathVolumeSource { path: mount.source.clone(), type_: None };
            (name, Volume { host_path: Some(path), ..none })
        }
    }
}

/// A healthcheck as an exec liveness probe; None for a disabled or inherited one.
fn probe(health: &crate::health::HealthConfig, say: &mut dyn FnMut(String)) -> Option<Probe> {
    let command = match health.test.split_first() {
        Some((kind, args)) if kind == "CMD" => args.to_vec(),
        Some((kind, args)) if kind == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), args.join(" ")],
        _ => return None,
    };
    let mut seconds = |what: &str, ns: i64, default_ns: i64| -> Option<i32> {
        let ns = if ns == 0 { default_ns } else { ns };
        if ns == 0 {
            return None;
        }
        let whole = (ns + 999_999_999) / 1_000_000_000;
        if ns % 1_000_000_000 != 0 {
            say(format!("healthcheck {what} of {ns}ns is rounded up to {whole}s: probes count whole seconds"));
        }
        Some(whole as i32)
    };
    let probe = Probe {
        exec: Some(ExecAction { command: Some(command) }),
        period_seconds: seconds("interval", health.interval, crate::health::DEFAULT_INTERVAL_NS),
        timeout_seconds: seconds("timeout", health.timeout, crate::health::DEFAULT_TIMEOUT_NS),
        initial_delay_seconds: seconds("start period", health.start_period, 0),
        failure_threshold: Some(
            if health.retries == 0 { crate::health::DEFAULT_RETRIES } else { health.retries } as i32
        ),
        ..Probe::default()
    };
    if health.start_interval != 0 {
        say("healthcheck start interval cannot be expressed; left out".into());
    }
    Some(probe)
}

/// The user (when numeric), privilege, capabilities and read-only root as a security context.
fn security_context(rec: &ContainerRecord, say: &mut dyn FnMut(String)) -> Option<SecurityContext> {
    let o = &rec.options;
    let mut ctx = SecurityContext::default();
    if let Some(user) = o.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        match (uid.parse::<i64>(), gid.map(str::parse::<i64>)) {
            (Ok(uid), None) => ctx.run_as_user = Some(uid),
            (Ok(uid), Some(Ok(gid))) => {
                ctx.run_as_user = Some(uid);
                ctx.run_as_group = Some(gid);
            }
            _ => say(format!("user {user:?} is not numeric; Kubernetes takes only ids (runAsUser), left out")),
        }
    }
    if o.privileged {
        ctx.privileged = Some(true);
    }
    let caps = |list: &[String]| -> Option<Vec<String>> {
        (!list.is_empty())
            .then(|| list.iter().map(|c| c.to_ascii_uppercase().trim_start_matches("CAP_").to_string()).collect())
    };
    if !o.cap_add.is_empty() || !o.cap_drop.is_empty() {
        ctx.capabilities = Some(Capabilities { add: caps(&o.cap_add), drop: caps(&o.cap_drop) });
    }
    if o.read_only {
        ctx.read_only_root_filesystem = Some(true);
    }
    if o.no_new_privileges {
        ctx.allow_privilege_escalation = Some(false);
    }
    (ctx != SecurityContext::default()).then_some(ctx)
}

/// Notes for the options Kubernetes has no field for.
fn unexpressed(rec: &ContainerRecord, say: &mut dyn FnMut(String)) {
    let o = &rec.options;
    let mut flag = |given: bool, what: &str| {
        if given {
            say(format!("{what} cannot be expressed in Kubernetes; left out"));
        }
    };
    let network = o.network.as_deref().filter(|n| *n != crate::network::DEFAULT_NETWORK);
    flag(network.is_some(), &format!("--network {}", network.unwrap_or_default()));
    flag(
        !o.network_aliases.is_empty() || !o.extra_networks.is_empty() || !o.endpoints.is_empty(),
        "network aliases, extra networks and fixed addresses",
    );
    flag(!o.dns.is_empty() || !o.dns_search.is_empty(), "--dns/--dns-search");
    flag(!o.ulimits.is_empty(), "--ulimit");
    flag(!o.devices.is_empty(), "--device");
    flag(o.pids_limit.is_some_and(|p| p > 0), "--pids-limit");
    flag(!o.sysctls.is_empty(), "--sysctl");
    flag(o.init, "--init");
    flag(o.stop_signal.is_some(), "--stop-signal");
    flag(o.shm_size.is_some(), "--shm-size");
    flag(!o.group_add.is_empty(), "--group-add");
    flag(o.memory_swap.is_some(), "--memory-swap");
    flag(o.publish_all, "-P (publish all)");
    flag(o.auto_remove, "--rm");
    flag(o.hostname.is_some(), "--hostname");
    flag(o.ipc_mode.as_deref().is_some_and(|m| m != "private" && m != "shareable"), "--ipc");
    flag(o.pid_mode.is_some(), "--pid");
    flag(!matches!(o.seccomp, crate::runtime::SeccompChoice::Default), "--security-opt seccomp");
}

/// The Service for a pod's published ports: each host port as the Service's port, aimed at the container's.
fn service(name: &str, ports: &[PortMapping]) -> Service {
    let ports = ports
        .iter()
        .map(|p| ServicePort {
            name: Some(format!("{}-{}", p.protocol.as_str(), p.host_port)),
            port: p.host_port.into(),
            target_port: Some(IntOrString::Int(p.container_port.into())),
            protocol: Some(p.protocol.as_str().to_ascii_uppercase()),
            ..ServicePort::default()
        })
        .collect();
    Service {
        metadata: ObjectMeta { name: Some(name.to_string()), ..ObjectMeta::default() },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
