//! What the user asked for with `create`/`run`: stored with the container and turned into a spec at start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use super::host_options::{DeviceMapping, LogOptions, Ulimit};
use crate::network::{NetworkError, NetworkMode, NetworkRequest, PortMapping};

/// Options of `berth create`/`berth run` that shape the container, as Docker names them. Stored as JSON
/// with each container, where a field at its default is left out (and read back as the default): a row
/// of a plain `run` holds a few dozen bytes, not 700, and `ps -a` parses every row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// Arguments after the image name; replace the image's Cmd when not empty.
    #[serde(skip_serializing_if = "is_default")]
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some(empty)` clears the image's entrypoint (`--entrypoint ""`).
    #[serde(skip_serializing_if = "is_default")]
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` entries, applied over the image's Env.
    #[serde(skip_serializing_if = "is_default")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub workdir: Option<String>,
    /// `-u user[:group]`, names or numbers.
    #[serde(skip_serializing_if = "is_default")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub hostname: Option<String>,
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub memory: Option<i64>,
    /// Memory plus swap in bytes (`update --memory-swap`); None leaves the runtime's default.
    #[serde(skip_serializing_if = "is_default")]
    pub memory_swap: Option<i64>,
    /// CPU quota in CPUs (1.5 = one and a half CPUs).
    #[serde(skip_serializing_if = "is_default")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "is_default")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "is_default")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "is_default")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_default")]
    pub seccomp: SeccompChoice,
    #[serde(skip_serializing_if = "is_default")]
    pub no_new_privileges: bool,
    /// Run an init process as PID 1 that reaps zombies and forwards signals.
    #[serde(skip_serializing_if = "is_default")]
    pub init: bool,
    #[serde(skip_serializing_if = "is_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_default")]
    pub restart: RestartPolicy,
    /// `--rm`: remove the container once it exits.
    #[serde(skip_serializing_if = "is_default")]
    pub auto_remove: bool,
    /// Seconds between the stop signal and SIGKILL; Docker's default is 10, a negative value waits forever.
    #[serde(skip_serializing_if = "is_default")]
    pub stop_timeout: Option<i64>,
    /// Overrides the image's StopSignal.
    #[serde(skip_serializing_if = "is_default")]
    pub stop_signal: Option<String>,
    /// `--network`: a network name or id, `host`, `none` or `container:<id>`; None joins the default bridge.
    #[serde(skip_serializing_if = "is_default")]
    pub network: Option<String>,
    /// `--network-alias`: extra names on the first network.
    #[serde(skip_serializing_if = "is_default")]
    pub network_aliases: Vec<String>,
    /// `-p` specs as given; parsed again at each start, the host port picked then when it is 0.
    #[serde(skip_serializing_if = "is_default")]
    pub publish: Vec<String>,
    /// `-P`: every port the image exposes, each on a free host port.
    #[serde(skip_serializing_if = "is_default")]
    pub publish_all: bool,
    /// Networks joined with `network connect`, joined again at every start.
    #[serde(skip_serializing_if = "is_default")]
    pub extra_networks: Vec<String>,
    /// Per-network endpoint settings, keyed by the network as `network`/`extra_networks` name it:
    /// aliases beyond `network_aliases` (compose gives them on every network a service joins) and a
    /// fixed address (`--ip`, compose's `ipv4_address`).
    #[serde(skip_serializing_if = "is_default")]
    pub endpoints: BTreeMap<String, EndpointOptions>,
    /// `Config.ExposedPorts` keys (`80/tcp`): `--expose`, and from create on also the image's and the
    /// published ports', as Docker records them.
    #[serde(skip_serializing_if = "is_default")]
    pub exposed_ports: Vec<String>,
    /// `-t`: the process gets a pty (its master held by the monitor, served on the attach socket).
    #[serde(skip_serializing_if = "is_default")]
    pub tty: bool,
    /// `-i`: attached clients' input reaches the process (a pipe, or the pty).
    #[serde(skip_serializing_if = "is_default")]
    pub open_stdin: bool,
    /// `-v`, `--mount`, `--tmpfs` and the image's VOLUMEs; create names every volume.
    #[serde(skip_serializing_if = "is_default")]
    pub mounts: Vec<crate::volume::MountSpec>,
    /// `--add-host`: `NAME:IP` lines added to /etc/hosts.
    #[serde(skip_serializing_if = "is_default")]
    pub extra_hosts: Vec<String>,
    /// `--dns`: nameservers replacing the host's in resolv.conf.
    #[serde(skip_serializing_if = "is_default")]
    pub dns: Vec<String>,
    /// `--dns-search`: the search list replacing the host's (`.` clears it).
    #[serde(skip_serializing_if = "is_default")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub ulimits: Vec<Ulimit>,
    #[serde(skip_serializing_if = "is_default")]
    pub devices: Vec<DeviceMapping>,
    /// `--shm-size` in bytes; None is Docker's 64 MiB.
    #[serde(skip_serializing_if = "is_default")]
    pub shm_size: Option<i64>,
    /// `--group-add`: supplementary groups (names from the image's /etc/group, or numbers).
    #[serde(skip_serializing_if = "is_default")]
    pub group_add: Vec<String>,
    /// `--sysctl`: namespaced kernel parameters (checked by [`super::check_sysctl`]).
    #[serde(skip_serializing_if = "is_default")]
    pub sysctls: BTreeMap<String, String>,
    /// `--ipc`: `private`/`shareable` (the default, an own namespace), `host` or `container:<id>`.
    #[serde(skip_serializing_if = "is_default")]
    pub ipc_mode: Option<String>,
    /// `--pid`: `host`, or `container:<id>` (that container's PID namespace).
    #[serde(skip_serializing_if = "is_default")]
    pub pid_mode: Option<String>,
    /// `--log-opt max-size/max-file` of the json-file log.
    #[serde(skip_serializing_if = "is_default")]
    pub log: LogOptions,
    /// `--health-*`/`--no-healthcheck`; from create on, the effective healthcheck (the image's merged in).
    #[serde(skip_serializing_if = "is_default")]
    pub healthcheck: Option<crate::health::HealthConfig>,
    /// The image's SHELL, under which a `CMD-SHELL` check runs (empty: `/bin/sh -c`).
    #[serde(skip_serializing_if = "is_default")]
    pub health_shell: Vec<String>,
    /// A build's RUN step: hidden from `ps`, and the image's VOLUMEs get no volumes (a RUN writes its layer).
    #[serde(skip_serializing_if = "is_default")]
    pub build_step: bool,
    /// A build step's empty work dir, which its monitor renames the container's upper over when the command
    /// exits (before answering the exit), for the build to make the step's layer of.
    #[serde(skip_serializing_if = "is_default")]
    pub build_layer_dir: Option<PathBuf>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl RunOptions {
    /// A container no one starts again once it exits, a `--rm` one or a build step's: its upper needs no
    /// syncing, and its veths may go after its exit is answered.
    pub(crate) fn is_disposable(&self) -> bool {
        self.auto_remove || self.build_step
    }

    /// Refuses what Docker refuses at create time: environment entries without a name and limits out of
    /// range (options from the CLI were parsed by [`parse_memory`] and [`parse_cpus`]; others may not be).
    pub fn validate(&self) -> Result<(), RuntimeError> {
        for entry in &self.env {
            check_env(entry)?;
        }
        if let Some(cpus) = self.cpus {
            check_cpus(cpus, host_cpus()).map_err(|reason| RuntimeError::InvalidOption {
                option: "--cpus",
                value: cpus.to_string(),
                reason,
            })?;
        }
        if let Some(memory) = self.memory
            && !(MIN_MEMORY..=max_memory()).contains(&memory)
        {
            return Err(RuntimeError::InvalidOption {
                option: "--memory",
                value: memory.to_string(),
                reason: format!("the limit must be from 6MB to {} bytes", max_memory()),
            });
        }
        let host_network = self.network.as_deref() == Some("host");
        let host_ipc = self.ipc_mode.as_deref() == Some("host");
        for (key, value) in &self.sysctls {
            super::host_options::check_sysctl(&format!("{key}={value}"), host_network, host_ipc)?;
        }
        self.log.check()
    }

    /// Whether the container shares the host's IPC namespace (`--ipc host`).
    pub fn host_ipc(&self) -> bool {
        self.ipc_mode.as_deref() == Some("host")
    }

    /// Whether the container shares the host's PID namespace (`--pid host`).
    pub fn host_pid(&self) -> bool {
        self.pid_mode.as_deref() == Some("host")
    }

    /// How the container is networked: `--network`, `--network-alias`, `-p`, `-P` (ports of the image's
    /// ExposedPorts), and the networks added by `network connect`.
    pub fn network_mode(&self, image: &ImageConfiguration) -> Result<NetworkMode, NetworkError> {
        let mut ports = self.publish.iter().map(|p| PortMapping::parse(p)).collect::<Result<Vec<_>, _>>()?;
        if self.publish_all {
            let exposed = image.config().as_ref().and_then(|c| c.exposed_ports().clone()).unwrap_or_default();
            for spec in exposed {
                let port = PortMapping::parse(&spec)?;
                if !ports.iter().any(|p| p.container_port == port.container_port && p.protocol == port.protocol) {
                    ports.push(port);
                }
            }
        }
        let mut mode = NetworkMode::from_flags(self.network.as_deref(), &self.network_aliases, &ports)?;
        if let NetworkMode::Networks(requests) = &mut mode {
            for extra in &self.extra_networks {
                requests.push(NetworkRequest { network: extra.clone(), ..NetworkRequest::default() });
            }
            for request in requests.iter_mut() {
                if let Some(endpoint) = self.endpoints.get(&request.network) {
                    for alias in &endpoint.aliases {
                        if !request.aliases.contains(alias) {
                            request.aliases.push(alias.clone());
                        }
                    }
                    request.ipv4_address = endpoint.ipv4_address;
                }
            }
        }
        Ok(mode)
    }

    /// Records the container's `ExposedPorts` at create: `--expose`, the image's, and every published
    /// port's container side, each once, in order.
    pub fn merge_exposed_ports(&mut self, image: &ImageConfiguration) -> Result<(), NetworkError> {
        let mut keys = std::mem::take(&mut self.exposed_ports);
        keys.extend(image.config().as_ref().and_then(|c| c.exposed_ports().clone()).unwrap_or_default());
        for spec in &self.publish {
            let port = PortMapping::parse(spec)?;
            keys.push(format!("{}/{}", port.container_port, port.protocol.as_str()));
        }
        let mut seen = std::collections::BTreeSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        self.exposed_ports = keys;
        Ok(())
    }
}

/// One network's endpoint settings beyond what the flags of the first network say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointOptions {
    pub aliases: Vec<String>,
    /// A fixed address, which must lie in the network's subnet and be free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<std::net::Ipv4Addr>,
}

/// Which seccomp filter the container gets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompChoice {
    /// Docker's default profile shipped in assets/.
    #[default]
    Default,
    Unconfined,
    /// A profile in Docker's JSON format, read from `--security-opt seccomp=FILE` at create time.
    Profile {
        path: String,
        json: String,
    },
}

/// `--restart`: what the monitor does when the container exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times when given.
    OnFailure {
        max_retries: Option<u32>,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses Docker's `no`, `on-failure[:N]`, `always`, `unless-stopped`.
    pub fn parse(text: &str) -> Result<RestartPolicy, RuntimeError> {
        let invalid = |reason: &str| RuntimeError::InvalidOption {
            option: "--restart",
            value: text.to_string(),
            reason: reason.to_string(),
        };
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        match (name, count) {
            ("no" | "", None) => Ok(RestartPolicy::No),
            ("always", None) => Ok(RestartPolicy::Always),
            ("unless-stopped", None) => Ok(RestartPolicy::UnlessStopped),
            ("on-failure", None) => Ok(RestartPolicy::OnFailure { max_retries: None }),
            ("on-failure", Some(n)) => n
                .parse::<u32>()
                .map(|n| RestartPolicy::OnFailure { max_retries: Some(n) })
                .map_err(|_| invalid("the retry count must be a non-negative number")),
            ("no" | "always" | "unless-stopped", Some(_)) => Err(invalid("only on-failure takes a retry count")),
            _ => Err(invalid("expected no, on-failure[:N], always or unless-stopped")),
        }
    }

    /// Whether a container that exited with `exit_code` after `restarts` restarts should run again.
    /// `stopped_by_user` is true after `berth stop`/`kill`, which no policy overrides.
    pub fn should_restart(&self, exit_code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => exit_code != 0 && max_retries.is_none_or(|max| restarts < max),
        }
    }

    /// Docker's spelling, for `inspect`.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

/// Refuses an environment entry without a variable name (`=value`), as Docker's `-e` does.
pub fn check_env(entry: &str) -> Result<(), RuntimeError> {
    match entry.split_once('=').map_or(entry, |(key, _)| key) {
        "" => Err(RuntimeError::InvalidOption {
            option: "--env",
            value: entry.to_string(),
            reason: format!("invalid environment variable: {entry}"),
        }),
        _ => Ok(()),
    }
}

/// Parses Docker's memory sizes (`512m`, `1g`, `1.5GiB`, `1048576`, `64k`); `0` means no limit, as in Docker.
pub fn parse_memory(text: &str) -> Result<Option<i64>, RuntimeError> {
    let invalid = |reason: String| RuntimeError::InvalidOption { option: "--memory", value: text.to_string(), reason };
    let bytes = size_in_bytes(text).map_err(invalid)?;
    if bytes == 0 {
        return Ok(None);
    }
    // The kernel refuses limits this small, and Docker does too.
    if bytes < MIN_MEMORY as u128 {
        return Err(invalid("Minimum memory limit allowed is 6MB".into()));
    }
    let max = max_memory();
    if bytes > max as u128 {
        // Written to the cgroup, a larger value is silently capped to "unlimited" by the kernel.
        return Err(invalid(format!(
            "larger than the kernel's largest memory limit ({max} bytes, about 8 EiB); use 0 for no limit"
        )));
    }
    Ok(Some(bytes as i64))
}

/// A size in Docker's units (`--shm-size`, `--log-opt max-size`), at most `i64::MAX` bytes; the reason
/// when it is not one.
pub(crate) fn parse_size(text: &str) -> Result<i64, String> {
    let bytes = size_in_bytes(text)?;
    i64::try_from(bytes).map_err(|_| "too large".to_string())
}

/// A number with an optional unit (b, k, m, g, t, p; `i` and a trailing `b` allowed), in bytes.
fn size_in_bytes(text: &str) -> Result<u128, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower, ""),
    };
    let shift = match unit.strip_suffix('i').filter(|u| !u.is_empty()).unwrap_or(unit) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err("unknown unit; use b, k, m, g, t or p".into()),
    };
    let number = number.trim_end();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("not a size: expected a number and an optional unit such as 512m or 1g".into());
    }
    let value: f64 = number.parse().map_err(|_| "not a number".to_string())?;
    // Exact for whole numbers; a fraction goes through f64 like Docker's own parser.
    Ok(match number.parse::<u128>() {
        Ok(whole) => whole.checked_shl(shift).unwrap_or(u128::MAX),
        Err(_) => (value * (1u64 << shift) as f64) as u128,
    })
}

/// Docker's (and the kernel's) smallest memory limit: 6 MiB.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The kernel's largest memory limit in bytes: its page counters hold at most `LONG_MAX / PAGE_SIZE` pages.
fn max_memory() -> i64 {
    let page = rustix::param::page_size() as i64;
    i64::MAX / page * page
}

/// Parses `--cpus`: a number of CPUs from 0.01 to the host's count; `0` means no limit, as in Docker.
pub fn parse_cpus(text: &str) -> Result<Option<f64>, RuntimeError> {
    let value =
        text.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| RuntimeError::InvalidOption {
            option: "--cpus",
            value: text.to_string(),
            reason: "expected a number of CPUs such as 0.5 or 2".to_string(),
        })?;
    if value == 0.0 {
        return Ok(None);
    }
    check_cpus(value, host_cpus()).map_err(|reason| RuntimeError::InvalidOption {
        option: "--cpus",
        value: text.to_string(),
        reason,
    })?;
    Ok(Some(value))
}

/// Docker's range for NanoCPUs: under 0.01 CPU the CFS quota falls below the kernel's 1 ms minimum (and
/// berth would silently run without a limit); more than the host has can never be used.
fn check_cpus(cpus: f64, host: usize) -> Result<(), String> {
    let nanos = (cpus * 1e9).round();
    if nanos < 1e7 || nanos > host as f64 * 1e9 {
        return Err(format!("Range of CPUs is from 0.01 to {host}.00, as there are only {host} CPUs available"));
    }
    Ok(())
}

/// The CPUs this process may run on, as Docker counts them (its Go runtime reads the affinity mask).
pub fn host_cpus() -> usize {
    if let Ok(set) = rustix::thread::sched_getaffinity(None)
        && set.count() > 0
    {
        return set.count() as usize;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_like_docker() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(RestartPolicy::parse("always").unwrap(), RestartPolicy::Always);
        assert_eq!(RestartPolicy::parse("unless-stopped").unwrap(), RestartPolicy::UnlessStopped);
        assert_eq!(RestartPolicy::parse("on-failure:3").unwrap(), RestartPolicy::OnFailure { max_retries: Some(3) });
        assert_eq!(RestartPolicy::parse("on-failure").unwrap(), RestartPolicy::OnFailure { max_retries: None });
        assert!(RestartPolicy::parse("always:2").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
    }

    #[test]
    fn restart_decisions() {
        let on_failure = RestartPolicy::OnFailure { max_retries: Some(2) };
        assert!(on_failure.should_restart(1, 0, false));
        assert!(on_failure.should_restart(1, 1, false));
        assert!(!on_failure.should_restart(1, 2, false));
        assert!(!on_failure.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(0, 0, true));
        assert!(!RestartPolicy::No.should_restart(1, 0, false));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m").unwrap(), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory("1G").unwrap(), Some(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1GiB").unwrap(), Some(1024 * 1024 * 1024));
        assert_eq!(parse_memory("10485760").unwrap(), Some(10 * 1024 * 1024));
        assert_eq!(parse_memory("1.5g").unwrap(), Some(1536 * 1024 * 1024));
        assert_eq!(parse_memory("2p").unwrap(), Some(2 << 50));
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-5m").is_err());
        assert!(parse_memory("5x").is_err());
        assert!(parse_memory("g").is_err());
    }

    #[test]
    fn memory_zero_is_unlimited_and_the_kernel_bounds_the_rest() {
        assert_eq!(parse_memory("0").unwrap(), None);
        assert_eq!(parse_memory("0g").unwrap(), None);
        let small = parse_memory("5m").unwrap_err().to_string();
        assert!(small.contains("Minimum memory limit allowed is 6MB"), "{small}");
        for huge in ["99999999999g", "8192p", "9223372036854775807", "99999999999999999999999999999999999999999"] {
            let err = parse_memory(huge).unwrap_err().to_string();
            assert!(err.contains("largest memory limit"), "{huge}: {err}");
        }
        assert_eq!(parse_memory(&max_memory().to_string()).unwrap(), Some(max_memory()));
    }

    #[test]
    fn environment_entries_need_a_name() {
        assert!(check_env("A=1").is_ok());
        assert!(check_env("A").is_ok());
        assert!(check_env("A=").is_ok());
        let err = check_env("=value").unwrap_err().to_string();
        assert!(err.contains("invalid environment variable: =value"), "{err}");
        let opts = RunOptions { env: vec!["OK=1".into(), "=x".into()], ..RunOptions::default() };
        assert!(opts.validate().is_err());
        assert!(RunOptions { memory: Some(1024), ..RunOptions::default() }.validate().is_err());
        assert!(RunOptions { cpus: Some(0.001), ..RunOptions::default() }.validate().is_err());
        assert!(RunOptions { cpus: Some(0.5), memory: Some(64 << 20), ..RunOptions::default() }.validate().is_ok());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), Some(0.5));
        assert_eq!(parse_cpus("0").unwrap(), None);
        assert!(parse_cpus("many").is_err());
        assert!(parse_cpus("inf").is_err());
    }

    #[test]
    fn cpus_range_is_dockers() {
        assert!(check_cpus(0.01, 2).is_ok());
        assert!(check_cpus(2.0, 2).is_ok());
        assert_eq!(
            check_cpus(0.001, 2).unwrap_err(),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert!(check_cpus(2.5, 2).is_err());
        assert!(check_cpus(-1.0, 8).is_err());
        let host = host_cpus();
        assert!(parse_cpus(&format!("{}", host + 1)).is_err());
        assert_eq!(parse_cpus(&host.to_string()).unwrap(), Some(host as f64));
    }

    #[test]
    fn network_mode_from_flags_and_image() {
        use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};
        let config = ConfigBuilder::default().exposed_ports(vec!["80/tcp".into(), "53/udp".into()]).build().unwrap();
        let image = ImageConfigurationBuilder::default().config(config).build().unwrap();
        let opts = RunOptions {
            publish: vec!["127.0.0.1:8080:80".into()],
            publish_all: true,
            network_aliases: vec!["web".into()],
            extra_networks: vec!["back".into()],
            ..RunOptions::default()
        };
        let NetworkMode::Networks(reqs) = opts.network_mode(&image).unwrap() else { panic!("not networks") };
        assert_eq!(reqs.iter().map(|r| r.network.as_str()).collect::<Vec<_>>(), ["bridge", "back"]);
        assert_eq!(reqs[0].aliases, ["web"]);
        let ports: Vec<_> =
            reqs[0].ports.iter().map(|p| (p.host_port, p.container_port, p.protocol.as_str())).collect();
        assert_eq!(ports, [(8080, 80, "tcp"), (0, 53, "udp")]);
        let host = RunOptions { network: Some("host".into()), ..RunOptions::default() };
        assert_eq!(host.network_mode(&image).unwrap(), NetworkMode::Host);
        let bad = RunOptions { publish: vec!["x:y".into()], ..RunOptions::default() };
        assert!(bad.network_mode(&image).is_err());
    }

    #[test]
    fn records_written_before_the_kernel_flags_still_load() {
        let old: RunOptions = serde_json::from_str(r#"{"cmd":["sh"],"memory":67108864}"#).unwrap();
        assert_eq!((old.cmd.as_slice(), old.memory), (&["sh".to_string()][..], Some(64 << 20)));
        assert!(old.ulimits.is_empty() && old.devices.is_empty() && old.sysctls.is_empty());
        assert_eq!((old.shm_size, old.ipc_mode.as_deref(), old.log.clone()), (None, None, LogOptions::default()));
    }

    #[test]
    fn options_round_trip_through_json() {
        let opts = RunOptions {
            cmd: vec!["sh".into()],
            restart: RestartPolicy::OnFailure { max_retries: Some(4) },
            seccomp: SeccompChoice::Unconfined,
            ..RunOptions::default()
        };
        let text = serde_json::to_string(&opts).unwrap();
        assert_eq!(serde_json::from_str::<RunOptions>(&text).unwrap(), opts);
    }

    #[test]
    fn only_what_differs_from_the_defaults_is_stored() {
        assert_eq!(serde_json::to_string(&RunOptions::default()).unwrap(), "{}");
        // `--entrypoint ""` is not the default (no entrypoint given): it must survive.
        let opts = RunOptions { entrypoint: Some(Vec::new()), auto_remove: true, ..RunOptions::default() };
        let text = serde_json::to_string(&opts).unwrap();
        assert_eq!(text, r#"{"entrypoint":[],"auto_remove":true}"#);
        assert_eq!(serde_json::from_str::<RunOptions>(&text).unwrap(), opts);
        // Rows written with every field still load.
        let full = serde_json::to_value(&opts).unwrap();
        let mut every = serde_json::json!({"cmd": [], "env": [], "read_only": false, "seccomp": "default",
            "restart": {"name": "no"}, "log": {"max_size": null, "max_file": null}, "labels": {}});
        every.as_object_mut().unwrap().extend(full.as_object().unwrap().clone());
        assert_eq!(serde_json::from_value::<RunOptions>(every).unwrap(), opts);
    }
}
