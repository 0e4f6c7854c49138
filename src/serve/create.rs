//! `POST /containers/create`: the body's Config, HostConfig and NetworkingConfig written as the flags of
//! `berth create` ([`RunFlags`]) and parsed by the run use case's own parser, so a bad value gets the same
//! message as on the command line, and `Engine::create` makes the container as it does for the CLI.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use berth_engine::registry::Platform;
use berth_engine::run::{PullPolicy, RunFlags, RunSpec};
use berth_engine::volume::MountSpec;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::query::Params;
use super::{ApiError, ApiResult, Shared};

/// A request body of at most 2 MiB (axum's limit); anything else is a 400 with a message, as moby's
/// "bad parameter", rather than axum's plain-text rejection.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<RawBody, ApiError> {
        <Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))
    }
}

/// A JSON body, or a 400 naming what is wrong with it (never a panic, never axum's plain-text rejection).
pub fn parse_json<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A list that clients send as null, a string or an array of strings (`Entrypoint`, `Cmd`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(untagged)]
pub enum Strings {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Strings {
    fn into_vec(self) -> Option<Vec<String>> {
        match self {
            Strings::None => None,
            Strings::One(s) => Some(vec![s]),
            Strings::Many(v) => Some(v),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    name: Option<String>,
    maximum_retry_count: Option<i64>,
}

impl RestartPolicy {
    /// As `--restart` spells it; None for no policy.
    pub fn flag(&self) -> Option<String> {
        let name = self.name.as_deref().filter(|n| !n.is_empty())?;
        match (name, self.maximum_retry_count) {
            ("on-failure", Some(n)) if n > 0 => Some(format!("on-failure:{n}")),
            _ => Some(name.to_string()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Config {
    hostname: Option<String>,
    user: Option<String>,
    env: Option<Vec<String>>,
    cmd: Strings,
    entrypoint: Strings,
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    working_dir: Option<String>,
    tty: bool,
    open_stdin: bool,
    stop_signal: Option<String>,
    stop_timeout: Option<i64>,
    volumes: Option<BTreeMap<String, Value>>,
    host_config: HostConfig,
    networking_config: NetworkingConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    binds: Option<Vec<String>>,
    mounts: Option<Vec<Mount>>,
    tmpfs: Option<BTreeMap<String, String>>,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    publish_all_ports: bool,
    restart_policy: RestartPolicy,
    auto_remove: bool,
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<i64>,
    pids_limit: Option<i64>,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    privileged: bool,
    security_opt: Option<Vec<String>>,
    readonly_rootfs: bool,
    init: Option<bool>,
    network_mode: Option<String>,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    /// Accepted (compose sends them); containers on a user network find each other by name anyway.
    #[allow(dead_code)]
    links: Option<Vec<String>>,
    log_config: LogConfig,
    ulimits: Option<Vec<Ulimit>>,
    devices: Option<Vec<Device>>,
    shm_size: Option<i64>,
    group_add: Option<Vec<String>>,
    sysctls: Option<BTreeMap<String, String>>,
    ipc_mode: Option<String>,
    pid_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Mount {
    #[serde(rename = "Type")]
    kind: String,
    source: Option<String>,
    target: String,
    read_only: bool,
    volume_options: Option<VolumeOptions>,
    tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeOptions {
    no_copy: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TmpfsOptions {
    size_bytes: Option<i64>,
    mode: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PortBinding {
    host_ip: Option<String>,
    host_port: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfig {
    #[serde(rename = "Type")]
    kind: Option<String>,
    config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ulimit {
    name: String,
    soft: i64,
    hard: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Device {
    path_on_host: String,
    path_in_container: Option<String>,
    cgroup_permissions: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<Endpoint>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Endpoint {
    aliases: Option<Vec<String>>,
}

/// CPUs from `NanoCpus`, or from `CpuQuota`/`CpuPeriod` (period 100 ms when unset).
pub fn cpus(nano: Option<i64>, quota: Option<i64>, period: Option<i64>) -> Option<f64> {
    match (nano.filter(|n| *n > 0), quota.filter(|q| *q > 0)) {
        (Some(nano), _) => Some(nano as f64 / 1e9),
        (None, Some(quota)) => Some(quota as f64 / period.filter(|p| *p > 0).unwrap_or(100_000) as f64),
        _ => None,
    }
}

/// `--mount`'s text for one API mount.
fn mount_flag(m: &Mount) -> String {
    let mut parts = vec![format!("type={}", m.kind)];
    if let Some(source) = m.source.as_deref().filter(|s| !s.is_empty()) {
        parts.push(format!("source={source}"));
    }
    parts.push(format!("target={}", m.target));
    if m.read_only {
        parts.push("readonly".into());
    }
    if m.volume_options.as_ref().is_some_and(|v| v.no_copy) {
        parts.push("volume-nocopy".into());
    }
    if let Some(t) = &m.tmpfs_options {
        if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
            parts.push(format!("tmpfs-size={size}"));
        }
        if let Some(mode) = t.mode.filter(|m| *m > 0) {
            parts.push(format!("tmpfs-mode={mode:o}"));
        }
    }
    parts.join(",")
}

/// A create body read: the image, the command, the flags and the entrypoint (an array, which the
/// `--entrypoint` flag's one string cannot carry).
struct Request {
    image: String,
    cmd: Vec<String>,
    flags: RunFlags,
    entrypoint: Option<Vec<String>>,
}

/// The request as `berth create`'s flags, the image and the command.
fn flags(config: Config, name: Option<String>) -> ApiResult<Request> {
    let image = config
        .image
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("no image given: Config.Image is required"))?;
    let host = config.host_config;
    let mut publish = Vec::new();
    for (port, bindings) in host.port_bindings.unwrap_or_default() {
        let bindings = bindings.unwrap_or_default();
        if bindings.is_empty() {
            publish.push(port.clone());
        }
        for b in bindings {
            let ip = b.host_ip.unwrap_or_default();
            let host_port = b.host_port.unwrap_or_default();
            publish.push(match ip.is_empty() {
                true => format!("{host_port}:{port}"),
                false => format!("{ip}:{host_port}:{port}"),
            });
        }
    }
    let log_type = host.log_config.kind.unwrap_or_default();
    if !matches!(log_type.as_str(), "" | "json-file") {
        return Err(ApiError::bad_request(format!(
            "log driver {log_type:?} is not supported: berth writes json-file logs"
        )));
    }
    // A network named by NetworkMode, or the one endpoint of NetworkingConfig; aliases go with it.
    let endpoints = config.networking_config.endpoints_config.unwrap_or_default();
    let mut network = host.network_mode.filter(|m| !m.is_empty() && m != "default");
    if network.is_none() && endpoints.len() == 1 {
        network = endpoints.keys().next().filter(|n| *n != "default").cloned();
    }
    let network_alias = network
        .as_ref()
        .and_then(|n| endpoints.get(n))
        .and_then(|e| e.as_ref())
        .and_then(|e| e.aliases.clone())
        .unwrap_or_default();
    let mounts = host.mounts.unwrap_or_default();
    let tmpfs = host.tmpfs.unwrap_or_default();
    let mut volume = host.binds.unwrap_or_default();
    // Config.Volumes declares anonymous volumes; a destination a bind, mount or tmpfs already takes keeps
    // that one, as moby's create does (docker-compose sends a named volume both ways).
    // Targets compared as the engine's mount parser cleans them; a bind it refuses is left for
    // `RunSpec::from_flags` to name.
    let cleaned = |target: &str| MountSpec::anonymous(target).clean_target();
    let taken: Vec<String> = volume
        .iter()
        .filter_map(|b| MountSpec::parse_volume(b).ok().map(|m| m.clean_target()))
        .chain(mounts.iter().map(|m| cleaned(&m.target)))
        .chain(tmpfs.keys().map(|t| cleaned(t)))
        .collect();
    volume.extend(config.volumes.unwrap_or_default().into_keys().filter(|d| !taken.contains(&cleaned(d))));
    let env = config.env.unwrap_or_default().into_iter().filter(|e| e.contains('=')).collect();
    let flags = RunFlags {
        name,
        rm: host.auto_remove,
        env,
        workdir: config.working_dir.filter(|w| !w.is_empty()),
        user: config.user.filter(|u| !u.is_empty()),
        hostname: config.hostname.filter(|h| !h.is_empty()),
        memory: host.memory.filter(|m| *m != 0).map(|m| m.to_string()),
        cpus: cpus(host.nano_cpus, host.cpu_quota, host.cpu_period).map(|c| c.to_string()),
        pids_limit: host.pids_limit.filter(|p| *p != 0).map(|p| p.to_string()),
        read_only: host.readonly_rootfs,
        cap_add: host.cap_add.unwrap_or_default(),
        cap_drop: host.cap_drop.unwrap_or_default(),
        privileged: host.privileged,
        security_opt: host.security_opt.unwrap_or_default(),
        restart: host.restart_policy.flag(),
        stop_timeout: config.stop_timeout.map(|t| t.to_string()),
        stop_signal: config.stop_signal.filter(|s| !s.is_empty()),
        init: host.init.unwrap_or(false),
        label: config.labels.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        network,
        network_alias,
        publish,
        publish_all: host.publish_all_ports,
        volume,
        mount: mounts.iter().map(mount_flag).collect(),
        tmpfs: tmpfs
            .into_iter()
            .map(|(path, opts)| if opts.is_empty() { path } else { format!("{path}:{opts}") })
            .collect(),
        interactive: config.open_stdin,
        tty: config.tty,
        pull: Some("never".into()),
        add_host: host.extra_hosts.unwrap_or_default(),
        dns: host.dns.unwrap_or_default(),
        dns_search: host.dns_search.unwrap_or_default(),
        ulimit: host.ulimits.unwrap_or_default().iter().map(|u| format!("{}={}:{}", u.name, u.soft, u.hard)).collect(),
        device: host
            .devices
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let inside = d.path_in_container.as_deref().filter(|p| !p.is_empty()).unwrap_or(&d.path_on_host);
                let perms = d.cgroup_permissions.as_deref().filter(|p| !p.is_empty()).unwrap_or("rwm");
                format!("{}:{inside}:{perms}", d.path_on_host)
            })
            .collect(),
        shm_size: host.shm_size.filter(|s| *s > 0).map(|s| s.to_string()),
        group_add: host.group_add.unwrap_or_default(),
        sysctl: host.sysctls.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        ipc: host.ipc_mode.filter(|m| !m.is_empty()),
        pid: host.pid_mode.filter(|m| !m.is_empty()),
        log_opt: host.log_config.config.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        ..RunFlags::default()
    };
    let cmd = config.cmd.into_vec().unwrap_or_default();
    // `--entrypoint ""` arrives as [""]: no entrypoint at all.
    let entrypoint = config.entrypoint.into_vec().filter(|e| !e.is_empty()).map(|e| match e.as_slice() {
        [only] if only.is_empty() => Vec::new(),
        _ => e,
    });
    Ok(Request { image, cmd, flags, entrypoint })
}

/// Builds the container's [`RunSpec`] from a create body.
pub fn spec(body: &[u8], name: Option<String>) -> ApiResult<RunSpec> {
    let config: Config = parse_json(body)?;
    let request = flags(config, name)?;
    let mut spec = RunSpec::from_flags(&request.image, request.cmd, &request.flags)?;
    if request.entrypoint.is_some() {
        spec.options.entrypoint = request.entrypoint;
    }
    spec.pull = PullPolicy::Never;
    Ok(spec)
}

pub async fn create(
    State(server): State<Shared>,
    params: Params,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = params.get("name").filter(|n| !n.is_empty()).map(str::to_string);
    let mut spec = spec(&body, name)?;
    if let Some(platform) = params.get("platform").filter(|p| !p.is_empty()) {
        spec.platform = Some(Platform::parse(platform).map_err(|e| ApiError::bad_request(e.to_string()))?);
    }
    // moby answers a missing image (or none of the platform asked for) with 404: the docker CLI then pulls
    // it and asks again; create never pulls.
    match &spec.platform {
        Some(platform) if server.engine.platform_image(&spec.image, platform)?.is_none() => {
            return Err(ApiError::not_found(format!("No such image: {} (platform {platform})", spec.image)));
        }
        Some(_) => {}
        None => {
            server.engine.image(&spec.image)?;
        }
    }
    let rec = server.engine.create(spec, &|_| {}).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": rec.id, "Warnings": []}))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_cli_body_becomes_the_cli_options() {
        let body = br#"{"Image":"busybox","Cmd":["echo","hi"],"Env":["A=1","BARE"],"Tty":true,"OpenStdin":true,
            "Labels":{"x":"y"},"Volumes":{"/data":{}},"Entrypoint":null,
            "HostConfig":{"Binds":["/tmp:/host:ro"],"AutoRemove":true,"Memory":67108864,"NanoCpus":500000000,
              "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"RestartPolicy":{"Name":"no"},
              "NetworkMode":"default","Mounts":[{"Type":"tmpfs","Target":"/run"}],"Tmpfs":{"/cache":"size=1m"},
              "LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"Init":null}}"#;
        let spec = spec(body, Some("web".into())).unwrap();
        let o = &spec.options;
        assert_eq!((spec.image.as_str(), spec.name.as_deref()), ("busybox", Some("web")));
        assert_eq!(o.cmd, ["echo", "hi"]);
        assert_eq!(o.env, ["A=1"]);
        assert!(o.tty && o.open_stdin && o.auto_remove);
        assert_eq!(o.memory, Some(67108864));
        assert_eq!(o.cpus, Some(0.5));
        assert_eq!(o.publish, ["127.0.0.1:8080:80/tcp"]);
        assert_eq!(o.mounts.len(), 4, "{:?}", o.mounts);
        assert_eq!(o.network, None);
        assert_eq!(o.entrypoint, None);
    }

    #[test]
    fn a_declared_volume_a_bind_or_mount_already_takes_is_not_made_twice() {
        // docker-compose 1.29 sends a named volume as a bind and as a Config.Volumes entry.
        let body = br#"{"Image":"busybox","Volumes":{"/data":{},"/run/x/":{},"/free":{}},
            "HostConfig":{"Binds":["proj_data:/data:rw"],"Mounts":[{"Type":"tmpfs","Target":"/run/x"}]}}"#;
        let o = spec(body, None).unwrap().options;
        let targets: Vec<String> = o.mounts.iter().map(|m| format!("{m:?}")).collect();
        assert_eq!(o.mounts.len(), 3, "{targets:?}");
        assert_eq!(targets.iter().filter(|t| t.contains("\"/data\"")).count(), 1, "{targets:?}");
        assert_eq!(targets.iter().filter(|t| t.contains("\"/free\"")).count(), 1, "{targets:?}");
    }

    #[test]
    fn an_empty_entrypoint_clears_the_images() {
        let spec = spec(br#"{"Image":"busybox","Entrypoint":[""]}"#, None).unwrap();
        assert_eq!(spec.options.entrypoint, Some(Vec::new()));
        let spec = super::spec(br#"{"Image":"busybox","Entrypoint":"sh"}"#, None).unwrap();
        assert_eq!(spec.options.entrypoint, Some(vec!["sh".to_string()]));
    }

    #[test]
    fn bad_bodies_are_400s_with_a_message() {
        for body in [&b"{"[..], br#"{"Image":5}"#, br#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#, b"[1]"] {
            let e = spec(body, None).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
            assert!(e.message.contains("invalid JSON body"), "{}", e.message);
        }
        let e = spec(br#"{"Image":"busybox","HostConfig":{"Memory":1}}"#, None).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("memory"), "{}", e.message);
        let e = spec(br#"{"Cmd":["true"]}"#, None).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = spec(br#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog"}}}"#, None).unwrap_err();
        assert!(e.message.contains("syslog"), "{}", e.message);
    }
}
