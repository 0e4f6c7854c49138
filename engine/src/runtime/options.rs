//! What the user asked for with `create`/`run`: stored with the container and turned into a spec at start.

use std::collections::BTreeMap;

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use crate::network::{NetworkError, NetworkMode, NetworkRequest, PortMapping};

/// Options of `berth create`/`berth run` that shape the container, as Docker names them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// Arguments after the image name; replace the image's Cmd when not empty.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some(empty)` clears the image's entrypoint (`--entrypoint ""`).
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` entries, applied over the image's Env.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `-u user[:group]`, names or numbers.
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// CPU quota in CPUs (1.5 = one and a half CPUs).
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub seccomp: SeccompChoice,
    pub no_new_privileges: bool,
    /// Run an init process as PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    pub labels: BTreeMap<String, String>,
    pub restart: RestartPolicy,
    /// `--rm`: remove the container once it exits.
    pub auto_remove: bool,
    /// Seconds between the stop signal and SIGKILL; Docker's default is 10.
    pub stop_timeout: Option<u64>,
    /// Overrides the image's StopSignal.
    pub stop_signal: Option<String>,
    /// `--network`: a network name or id, `host` or `none`; None joins the default bridge.
    pub network: Option<String>,
    /// `--network-alias`: extra names on the first network.
    pub network_aliases: Vec<String>,
    /// `-p` specs as given; parsed again at each start, the host port picked then when it is 0.
    pub publish: Vec<String>,
    /// `-P`: every port the image exposes, each on a free host port.
    pub publish_all: bool,
    /// Networks joined with `network connect`, joined again at every start.
    pub extra_networks: Vec<String>,
    /// `-t`: the process gets a pty (its master held by the monitor, served on the attach socket).
    pub tty: bool,
    /// `-i`: attached clients' input reaches the process (a pipe, or the pty).
    pub open_stdin: bool,
    /// `-v`, `--mount`, `--tmpfs` and the image's VOLUMEs; create names every volume.
    pub mounts: Vec<crate::volume::MountSpec>,
}

impl RunOptions {
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
        }
        Ok(mode)
    }
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

/// Parses Docker's memory sizes: `512m`, `1g`, `1048576`, `64k`, `1.5g`.
pub fn parse_memory(text: &str) -> Result<i64, RuntimeError> {
    let invalid = |reason: &str| RuntimeError::InvalidOption {
        option: "--memory",
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower, ""),
    };
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid("unknown unit; use b, k, m, g or t")),
    };
    let value: f64 = number.parse().map_err(|_| invalid("not a number"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid("must be a positive size"));
    }
    let bytes = (value * multiplier) as i64;
    // The kernel refuses limits this small, and Docker does too.
    if bytes < 6 * 1024 * 1024 {
        return Err(invalid("minimum memory limit allowed is 6MB"));
    }
    Ok(bytes)
}

/// Parses `--cpus`: a positive number of CPUs.
pub fn parse_cpus(text: &str) -> Result<f64, RuntimeError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 4096.0 => Ok(v),
        _ => Err(RuntimeError::InvalidOption {
            option: "--cpus",
            value: text.to_string(),
            reason: "expected a positive number of CPUs such as 0.5 or 2".to_string(),
        }),
    }
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
        assert_eq!(parse_memory("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_memory("1G").unwrap(), 1024 * 1024 * 1024);
        assert_eq!(parse_memory("10485760").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_memory("1.5g").unwrap(), 1536 * 1024 * 1024);
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("-5m").is_err());
        assert!(parse_memory("5x").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("many").is_err());
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
}
