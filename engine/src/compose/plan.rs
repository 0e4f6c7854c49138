//! A service as a container: the same [`RunFlags`] `berth run` parses (so every value gets run's checks
//! and errors), plus what flags cannot say (an entrypoint list, a CMD healthcheck, extra networks); and
//! the names, labels and config hash docker compose v2 writes.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::ComposeError;
use super::load::LoadedProject;
use super::model::{Command, Condition, EnvFile, Port, Service, ServiceNetwork, ServiceVolume};
use crate::run::{RunFlags, RunSpec};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

/// Checks the merged project as a whole: every service has an image or a build, dependencies exist and
/// have no cycle, and the networks, volumes, secrets and configs services name are declared.
pub(super) fn check(project: &LoadedProject) -> Result<(), ComposeError> {
    let model = &project.model;
    let fail = |service: &str, message: String| ComposeError::Service { service: service.to_string(), message };
    for (name, service) in &model.services {
        if service.image.is_none() && service.build.is_none() {
            return Err(fail(name, "has neither an image nor build context specified".into()));
        }
        for (dep, _) in service.depends_on.as_ref().map(|d| d.entries()).unwrap_or_default() {
            if !model.services.contains_key(&dep) {
                return Err(fail(name, format!("depends on undefined service {dep:?}")));
            }
        }
        for (net, settings) in service.networks.as_ref().map(|n| n.entries()).unwrap_or_default() {
            if net != "default" && !model.networks.contains_key(&net) {
                return Err(fail(name, format!("refers to undefined network {net:?}")));
            }
            if let Some(address) = &settings.ipv4_address {
                address.0.parse::<std::net::Ipv4Addr>().map_err(|_| {
                    fail(name, format!("networks.{net}.ipv4_address: {:?} is not an IPv4 address", address.0))
                })?;
            }
        }
        if service.networks.is_some() && service.network_mode.is_some() {
            return Err(fail(name, "network_mode and networks cannot be combined".into()));
        }
        for volume in &service.volumes {
            if let ServiceVolume::Short(spec) = volume
                && let Some((source, _)) = spec.split_once(':')
                && !source.starts_with('/')
                && !model.volumes.contains_key(source)
            {
                return Err(fail(name, format!("refers to undefined volume {source:?}")));
            }
        }
        for (kind, refs, declared) in
            [("secret", &service.secrets, &model.secrets), ("config", &service.configs, &model.configs)]
        {
            for r in refs {
                let Some(object) = declared.get(r.source()) else {
                    return Err(fail(name, format!("refers to undefined {kind} {:?}", r.source())));
                };
                if object.file.is_none() {
                    return Err(fail(name, format!("{kind} {:?}: berth supports file-based {kind}s only", r.source())));
                }
            }
        }
        let replicas = service.deploy.as_ref().and_then(|d| d.replicas).map(|r| r.0).unwrap_or(1);
        if service.container_name.is_some() && replicas > 1 {
            return Err(fail(name, "container_name is set, so it cannot have more than one replica".into()));
        }
        if let Some(command) = &service.command {
            split(command).map_err(|e| fail(name, format!("command: {e}")))?;
        }
    }
    levels(project, &model.services.keys().cloned().collect::<Vec<_>>())?;
    Ok(())
}

/// The services to act on: those named (with what they depend on), or every service whose profiles
/// are enabled (a service without profiles always is).
pub fn active_services(project: &LoadedProject, named: &[String]) -> Result<Vec<String>, ComposeError> {
    let model = &project.model;
    let mut picked: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = if named.is_empty() {
        model
            .services
            .iter()
            .filter(|(_, s)| {
                s.profiles.is_empty()
                    || s.profiles
                        .iter()
                        .any(|p| project.profiles.contains(&p.0) || project.profiles.iter().any(|e| e == "*"))
            })
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        for n in named {
            if !model.services.contains_key(n) {
                return Err(ComposeError::NoSuchService { service: n.clone() });
            }
        }
        named.to_vec()
    };
    while let Some(name) = todo.pop() {
        if picked.insert(name.clone()) {
            let service = &model.services[&name];
            todo.extend(
                service.depends_on.as_ref().map(|d| d.entries()).unwrap_or_default().into_iter().map(|(d, _)| d),
            );
        }
    }
    Ok(picked.into_iter().collect())
}

/// The services in waves: each wave depends only on earlier ones, so a wave's services can start
/// together. A cycle is an error naming it.
pub fn levels(project: &LoadedProject, services: &[String]) -> Result<Vec<Vec<String>>, ComposeError> {
    let deps = |s: &str| -> Vec<String> {
        project.model.services[s]
            .depends_on
            .as_ref()
            .map(|d| d.entries())
            .unwrap_or_default()
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    };
    for start in services {
        let mut path = vec![start.clone()];
        find_cycle(&deps, &mut path)?;
    }
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut waves = Vec::new();
    let mut left: Vec<String> = services.to_vec();
    while !left.is_empty() {
        let (ready, rest): (Vec<String>, Vec<String>) =
            left.into_iter().partition(|s| deps(s).iter().all(|d| placed.contains(d) || !services.contains(d)));
        placed.extend(ready.iter().cloned());
        waves.push(ready);
        left = rest;
    }
    Ok(waves)
}

fn find_cycle(deps: &dyn Fn(&str) -> Vec<String>, path: &mut Vec<String>) -> Result<(), ComposeError> {
    let last = path.last().cloned().unwrap_or_default();
    for dep in deps(&last) {
        if let Some(at) = path.iter().position(|p| *p == dep) {
            let mut services = path[at..].to_vec();
            services.push(dep);
            return Err(ComposeError::Cycle { services });
        }
        path.push(dep);
        find_cycle(deps, path)?;
        path.pop();
    }
    Ok(())
}

/// What a service's dependencies must reach before it starts.
pub fn conditions(service: &Service) -> Vec<(String, Condition)> {
    service
        .depends_on
        .as_ref()
        .map(|d| d.entries())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, d)| (n, d.condition))
        .collect()
}

/// The dependencies whose restart (or recreation) by compose restarts this service (`restart: true`).
pub fn restart_dependencies(service: &Service) -> Vec<String> {
    let entries = service.depends_on.as_ref().map(|d| d.entries()).unwrap_or_default();
    entries.into_iter().filter(|(_, d)| d.restart.is_some_and(|r| r.0)).map(|(n, _)| n).collect()
}

pub fn replicas(service: &Service) -> u64 {
    service.deploy.as_ref().and_then(|d| d.replicas).map(|r| r.0).unwrap_or(1)
}

/// `PROJECT-SERVICE-N`, or the service's `container_name`.
pub fn container_name(project: &str, name: &str, service: &Service, number: u64) -> String {
    match &service.container_name {
        Some(n) => n.0.clone(),
        None => format!("{project}-{name}-{number}"),
    }
}

/// The image a service runs: its `image`, or for a build without one, `PROJECT-SERVICE` as compose v2
/// tags it.
pub fn image_name(project: &str, name: &str, service: &Service) -> String {
    match &service.image {
        Some(i) => i.0.clone(),
        None => format!("{project}-{name}"),
    }
}

/// A network's name on the host: its `name`, its key for an external one, else `PROJECT_KEY`.
pub fn network_name(project: &LoadedProject, key: &str) -> String {
    let declared = project.model.networks.get(key).cloned().flatten().unwrap_or_default();
    match (declared.name, declared.external.is_some_and(|e| e.0)) {
        (Some(n), _) => n.0,
        (None, true) => key.to_string(),
        (None, false) => format!("{}_{key}", project.name),
    }
}

pub fn volume_name(project: &LoadedProject, key: &str) -> String {
    let declared = project.model.volumes.get(key).cloned().flatten().unwrap_or_default();
    match (declared.name, declared.external.is_some_and(|e| e.0)) {
        (Some(n), _) => n.0,
        (None, true) => key.to_string(),
        (None, false) => format!("{}_{key}", project.name),
    }
}

/// The networks a service joins, by key, with their settings: its `networks`, or `default`; none with a
/// `network_mode`.
pub fn service_networks(service: &Service) -> Vec<(String, ServiceNetwork)> {
    if service.network_mode.is_some() {
        return Vec::new();
    }
    match &service.networks {
        Some(n) => n.entries(),
        None => vec![("default".to_string(), ServiceNetwork::default())],
    }
}

/// The service's config hash, as the label keeps it: a change to the service's own definition (or to
/// the definitions of the networks and volumes it uses) recreates its containers.
pub fn config_hash(project: &LoadedProject, service: &Service) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(service).unwrap_or_default());
    for (key, _) in service_networks(service) {
        hasher.update(serde_json::to_vec(&project.model.networks.get(&key)).unwrap_or_default());
    }
    hex::encode(hasher.finalize())
}

fn split(command: &Command) -> Result<Vec<String>, String> {
    match command {
        Command::List(items) => Ok(items.iter().map(|t| t.0.clone()).collect()),
        Command::Shell(text) => shell_words::split(text).map_err(|e| format!("{e} in {text:?}")),
    }
}

/// The container for replica `number` of service `name`, as a [`RunSpec`] made by run's own parser.
pub fn run_spec(project: &LoadedProject, name: &str, number: u64) -> Result<RunSpec, ComposeError> {
    let service = &project.model.services[name];
    let fail = |message: String| ComposeError::Service { service: name.to_string(), message };
    let text = |t: &Option<super::model::Text>| t.as_ref().map(|t| t.0.clone());
    let mut flags = RunFlags {
        name: Some(container_name(&project.name, name, service, number)),
        workdir: text(&service.working_dir),
        user: text(&service.user),
        hostname: text(&service.hostname),
        read_only: service.read_only.is_some_and(|f| f.0),
        privileged: service.privileged.is_some_and(|f| f.0),
        init: service.init.is_some_and(|f| f.0),
        tty: service.tty.is_some_and(|f| f.0),
        interactive: service.stdin_open.is_some_and(|f| f.0),
        cap_add: service.cap_add.iter().map(|c| c.0.clone()).collect(),
        cap_drop: service.cap_drop.iter().map(|c| c.0.clone()).collect(),
        stop_signal: text(&service.stop_signal),
        restart: text(&service.restart),
        shm_size: text(&service.shm_size),
        memory: text(&service.mem_limit),
        cpus: text(&service.cpus),
        add_host: service.extra_hosts.iter().map(|h| h.0.replacen('=', ":", 1)).collect(),
        dns: service.dns.as_ref().map(|d| d.to_vec().into_iter().map(|t| t.0).collect()).unwrap_or_default(),
        ..RunFlags::default()
    };
    if let Some(period) = &service.stop_grace_period {
        let ns =
            crate::build::instructions::go_duration(&period.0).map_err(|e| fail(format!("stop_grace_period: {e}")))?;
        flags.stop_timeout = Some((ns / 1_000_000_000).to_string());
    }
    if let Some(limits) = service.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.limits.as_ref()) {
        flags.cpus = text(&limits.cpus).or(flags.cpus);
        flags.memory = text(&limits.memory).or(flags.memory);
        flags.pids_limit = limits.pids.map(|p| p.0.to_string());
    }
    flags.pull = service.pull_policy.as_ref().map(|p| match p.0.as_str() {
        "if_not_present" | "build" => "missing".to_string(),
        other => other.to_string(),
    });
    // Environment: env_file entries first, then `environment`; a key without a value takes the
    // project's variable, or is left out.
    for file in service.env_file.as_ref().map(|f| f.to_vec()).unwrap_or_default() {
        let (path, required) = match file {
            EnvFile::Path(p) => (p, true),
            EnvFile::Long { path, required } => (path, required.is_none_or(|r| r.0)),
        };
        let content = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(_) if !required => continue,
            Err(e) => return Err(fail(format!("env_file {path}: {e}"))),
        };
        let parsed = super::interpolate::parse_env_file(&content, &project.variables)
            .map_err(|e| fail(format!("env_file {path}: {e}")))?;
        flags.env.extend(parsed.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    for (key, value) in service.environment.as_ref().map(|e| e.0.clone()).unwrap_or_default() {
        match value.or_else(|| project.variables.get(&key).cloned()) {
            Some(v) => flags.env.push(format!("{key}={v}")),
            None => continue,
        }
    }
    for port in &service.ports {
        flags.publish.push(match port {
            Port::Short(p) => p.0.clone(),
            Port::Long(l) => {
                let mut spec = String::new();
                if let Some(ip) = &l.host_ip {
                    spec.push_str(&format!("{}:", ip.0));
                }
                if let Some(published) = &l.published {
                    spec.push_str(&format!("{}:", published.0));
                } else if l.host_ip.is_some() {
                    spec.push(':');
                }
                spec.push_str(&l.target.0.to_string());
                if let Some(proto) = &l.protocol {
                    spec.push_str(&format!("/{}", proto.0));
                }
                spec
            }
        });
    }
    for volume in &service.volumes {
        match volume {
            ServiceVolume::Short(spec) => {
                let mut parts = spec.splitn(2, ':');
                let source = parts.next().unwrap_or_default();
                match parts.next() {
                    Some(rest) if !source.starts_with('/') => {
                        flags.volume.push(format!("{}:{rest}", volume_name(project, source)))
                    }
                    _ => flags.volume.push(spec.clone()),
                }
            }
            ServiceVolume::Long(long) => {
                let mut mount = format!("type={},target={}", long.kind.0, long.target.0);
                if let Some(source) = &long.source {
                    let source =
                        if long.kind.0 == "volume" { volume_name(project, &source.0) } else { source.0.clone() };
                    mount.push_str(&format!(",source={source}"));
                }
                if long.read_only.is_some_and(|r| r.0) {
                    mount.push_str(",readonly");
                }
                if long.volume.as_ref().and_then(|v| v.nocopy).is_some_and(|n| n.0) {
                    mount.push_str(",volume-nocopy");
                }
                if let Some(tmpfs) = &long.tmpfs {
                    if let Some(size) = &tmpfs.size {
                        mount.push_str(&format!(",tmpfs-size={}", size.0));
                    }
                    if let Some(mode) = tmpfs.mode {
                        mount.push_str(&format!(",tmpfs-mode={:o}", mode.0));
                    }
                }
                if long.kind.0 == "bind"
                    && long.bind.as_ref().and_then(|b| b.create_host_path).is_none_or(|c| c.0)
                    && let Some(source) = &long.source
                {
                    // docker compose creates a missing bind source unless told not to.
                    std::fs::create_dir_all(&source.0)
                        .map_err(|e| fail(format!("volumes: creating {}: {e}", source.0)))?;
                }
                flags.mount.push(mount);
            }
        }
    }
    flags.tmpfs = service.tmpfs.as_ref().map(|t| t.to_vec().into_iter().map(|t| t.0).collect()).unwrap_or_default();
    for (kind, refs, declared, base) in [
        ("secret", &service.secrets, &project.model.secrets, "/run/secrets/"),
        ("config", &service.configs, &project.model.configs, "/"),
    ] {
        for r in refs {
            let file = declared
                .get(r.source())
                .and_then(|o| o.file.as_ref())
                .ok_or_else(|| fail(format!("undefined {kind} {:?}", r.source())))?;
            let target = match r.target() {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("{base}{t}"),
                None => format!("{base}{}", r.source()),
            };
            flags.mount.push(format!("type=bind,source={},target={target},readonly", file.0));
        }
    }
    let networks = service_networks(service);
    if let Some(mode) = &service.network_mode {
        flags.network = Some(match mode.0.strip_prefix("service:") {
            Some(other) => {
                let other_service = project
                    .model
                    .services
                    .get(other)
                    .ok_or_else(|| fail(format!("network_mode: no service {other:?}")))?;
                format!("container:{}", container_name(&project.name, other, other_service, 1))
            }
            None => mode.0.clone(),
        });
    } else if let Some((first, _)) = networks.first() {
        flags.network = Some(network_name(project, first));
        flags.network_alias = vec![name.to_string()];
    }
    flags.expose = service.expose.iter().map(|e| e.0.clone()).collect();
    if let Some(check) = &service.healthcheck {
        flags.health.interval = text(&check.interval);
        flags.health.timeout = text(&check.timeout);
        flags.health.retries = check.retries.map(|r| r.0.to_string());
        flags.health.start_period = text(&check.start_period);
        flags.health.start_interval = text(&check.start_interval);
        flags.health.none = check.disable.is_some_and(|d| d.0);
        if let Some(Command::Shell(cmd)) = &check.test {
            flags.health.cmd = Some(cmd.clone());
        }
    }
    let mut labels: BTreeMap<String, String> = service
        .labels
        .as_ref()
        .map(|l| l.0.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect())
        .unwrap_or_default();
    labels.insert(LABEL_PROJECT.into(), project.name.clone());
    labels.insert(LABEL_SERVICE.into(), name.to_string());
    labels.insert(LABEL_NUMBER.into(), number.to_string());
    labels.insert(LABEL_HASH.into(), config_hash(project, service));
    labels.insert(LABEL_ONEOFF.into(), "False".into());
    labels.insert(LABEL_WORKING_DIR.into(), project.working_dir.display().to_string());
    labels.insert(
        LABEL_CONFIG_FILES.into(),
        project.config_files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(","),
    );
    flags.label = labels.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let command = service.command.as_ref().map(split).transpose().map_err(fail)?.unwrap_or_default();
    let image = image_name(&project.name, name, service);
    let mut spec = RunSpec::from_flags(&image, command, &flags).map_err(|e| fail(e.to_string()))?;
    if let Some(entrypoint) = &service.entrypoint {
        spec.options.entrypoint = Some(split(entrypoint).map_err(fail)?);
    }
    if let Some(Command::List(test)) = service.healthcheck.as_ref().and_then(|h| h.test.as_ref()) {
        let test: Vec<String> = test.iter().map(|t| t.0.clone()).collect();
        let mut config = spec.options.healthcheck.take().unwrap_or_default();
        config.test = if test.first().map(String::as_str) == Some("NONE") { vec!["NONE".into()] } else { test };
        spec.options.healthcheck = Some(config);
    }
    spec.options.extra_networks = networks.iter().skip(1).map(|(k, _)| network_name(project, k)).collect();
    // docker compose gives the service's name and its aliases on every network it joins.
    for (index, (key, settings)) in networks.iter().enumerate() {
        let mut aliases: Vec<String> = settings.aliases.iter().map(|a| a.0.clone()).collect();
        if index > 0 {
            aliases.insert(0, name.to_string());
        }
        let ipv4_address = settings
            .ipv4_address
            .as_ref()
            .map(|a| a.0.parse())
            .transpose()
            .map_err(|_| fail(format!("networks.{key}.ipv4_address: not an IPv4 address")))?;
        if !aliases.is_empty() || ipv4_address.is_some() {
            let endpoint = crate::runtime::EndpointOptions { aliases, ipv4_address };
            spec.options.endpoints.insert(network_name(project, key), endpoint);
        }
    }
    Ok(spec)
}
