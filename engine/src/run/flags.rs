//! `run`/`create` options as Docker's flags spell them, turned into a [`RunSpec`]. Every caller that has
//! flag text (the CLI, the TUI's run dialog, the API server, compose) parses it here, so a bad value gets
//! the same error, naming the flag and the value, wherever it was typed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{PullPolicy, RunError, RunSpec};
use crate::network::{NetworkMode, PortMapping};
use crate::runtime::{
    DeviceMapping, LogOptions, RestartPolicy, RunOptions, SeccompChoice, Ulimit, check_env, check_namespace_mode,
    check_sysctl, parse_cpus, parse_dns, parse_dns_search, parse_extra_host, parse_memory, parse_shm_size,
};
use crate::volume::MountSpec;

/// The flags of `berth run`/`berth create`, as text: switches are booleans, every value is the string the
/// user gave. Empty or `None` means the flag was not given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFlags {
    pub name: Option<String>,
    /// `--rm`
    pub rm: bool,
    /// `-e KEY=VALUE`, or `KEY` to copy this process's value (dropped when unset, as Docker's client does).
    pub env: Vec<String>,
    /// `--env-file`: files of KEY=VALUE lines, read here.
    pub env_file: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `--entrypoint`; `""` clears the image's.
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<String>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `seccomp=FILE`, `seccomp=unconfined`, `no-new-privileges[=true|false]`.
    pub security_opt: Vec<String>,
    pub restart: Option<String>,
    pub stop_timeout: Option<String>,
    pub stop_signal: Option<String>,
    pub init: bool,
    pub label: Vec<String>,
    pub network: Option<String>,
    pub network_alias: Vec<String>,
    /// `-p [ip:][hostport:]containerport[/proto]`
    pub publish: Vec<String>,
    pub publish_all: bool,
    /// `--expose PORT[/PROTO]` or a range: recorded in `Config.ExposedPorts`, published by `-P`.
    pub expose: Vec<String>,
    /// `--ip`: a fixed IPv4 address on the (user-defined) network of `--network`.
    pub ip: Option<String>,
    /// `-v [NAME|/HOST/PATH:]/CONTAINER/PATH[:ro|rw][,nocopy]`
    pub volume: Vec<String>,
    pub mount: Vec<String>,
    pub tmpfs: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    /// `--pull missing|always|never`
    pub pull: Option<String>,
    /// `--platform os/arch[/variant]`
    pub platform: Option<String>,
    /// `--add-host HOST:IP`
    pub add_host: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// `--ulimit NAME=SOFT[:HARD]`
    pub ulimit: Vec<String>,
    /// `--device /dev/HOST[:/dev/CONTAINER][:rwm]`
    pub device: Vec<String>,
    pub shm_size: Option<String>,
    pub group_add: Vec<String>,
    /// `--sysctl KEY=VALUE`
    pub sysctl: Vec<String>,
    pub ipc: Option<String>,
    pub pid: Option<String>,
    /// `--log-opt max-size=SIZE`, `--log-opt max-file=N`
    pub log_opt: Vec<String>,
    /// `--health-cmd`, `--health-interval`, ... and `--no-healthcheck`.
    pub health: crate::health::HealthFlags,
}

fn invalid(flag: &'static str, value: &str, reason: impl ToString) -> RunError {
    RunError::InvalidFlag { flag, value: value.to_string(), reason: reason.to_string() }
}

/// An error that names its option and value already (`invalid --memory value "x": ...`), as it is.
fn named(error: impl Into<crate::Error>) -> RunError {
    RunError::Options(Box::new(error.into()))
}

/// The error of a parser that names the value itself, under the flag's name.
fn under(flag: &'static str, error: impl Into<crate::Error>) -> RunError {
    RunError::Flag { flag, source: Box::new(error.into()) }
}

impl RunSpec {
    /// Parses Docker's flags for `image` and `command` (the arguments after the image). Everything that
    /// can be checked without the image is checked here; the rest (capabilities, the seccomp profile,
    /// networks that must exist) at create.
    pub fn from_flags(image: &str, command: Vec<String>, flags: &RunFlags) -> Result<RunSpec, RunError> {
        let image = image.trim();
        if image.is_empty() {
            return Err(RunError::NoImage);
        }
        crate::reference::Reference::parse(image).map_err(|e| under("IMAGE", e))?;
        let mut env = Vec::new();
        for file in &flags.env_file {
            env.extend(env_file(file)?);
        }
        for entry in &flags.env {
            check_env(entry).map_err(named)?;
            env.extend(env_entry(entry));
        }
        let (seccomp, no_new_privileges) = security_options(&flags.security_opt)?;
        let labels: BTreeMap<String, String> = flags
            .label
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let mut mounts = Vec::new();
        for v in &flags.volume {
            mounts.push(MountSpec::parse_volume(v).map_err(|e| under("--volume", e))?);
        }
        for m in &flags.mount {
            mounts.push(MountSpec::parse_mount(m).map_err(|e| under("--mount", e))?);
        }
        for t in &flags.tmpfs {
            mounts.push(MountSpec::parse_tmpfs(t).map_err(|e| under("--tmpfs", e))?);
        }
        for p in &flags.publish {
            PortMapping::parse(p).map_err(|e| under("--publish", e))?;
        }
        let network = flags.network.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        let ports: Vec<PortMapping> = flags.publish.iter().filter_map(|p| PortMapping::parse(p).ok()).collect();
        NetworkMode::from_flags(network.as_deref(), &flags.network_alias, &ports).map_err(named)?;
        let mut exposed_ports = Vec::new();
        for e in &flags.expose {
            exposed_ports
                .extend(crate::build::expose::expose_ports(e).map_err(|reason| invalid("--expose", e, reason))?);
        }
        let mut endpoints = BTreeMap::new();
        if let Some(ip) = flags.ip.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
            let address = ip.parse().map_err(|_| invalid("--ip", ip, "not an IPv4 address"))?;
            let user_network = network.as_deref().filter(|n| {
                !matches!(*n, "host" | "none" | crate::network::DEFAULT_NETWORK) && !n.starts_with("container:")
            });
            let Some(on) = user_network else {
                return Err(invalid("--ip", ip, "a fixed address is supported on user-defined networks only"));
            };
            let endpoint = crate::runtime::EndpointOptions { ipv4_address: Some(address), ..Default::default() };
            endpoints.insert(on.to_string(), endpoint);
        }
        let number = |flag: &'static str, text: &Option<String>| -> Result<Option<i64>, RunError> {
            text.as_deref()
                .map(|t| t.trim().parse::<i64>().map_err(|_| invalid(flag, t, "expected a whole number")))
                .transpose()
        };
        let restart = match flags.restart.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(text) => RestartPolicy::parse(text).map_err(named)?,
            None => RestartPolicy::No,
        };
        let pull = match flags.pull.as_deref() {
            Some(text) => PullPolicy::parse(text)?,
            None => PullPolicy::Missing,
        };
        let ipc_mode =
            flags.ipc.as_deref().map(|m| check_namespace_mode("--ipc", m)).transpose().map_err(named)?.flatten();
        let pid_mode =
            flags.pid.as_deref().map(|m| check_namespace_mode("--pid", m)).transpose().map_err(named)?.flatten();
        let host_network = network.as_deref() == Some("host");
        let mut sysctls = BTreeMap::new();
        for entry in &flags.sysctl {
            let (key, value) = check_sysctl(entry, host_network, ipc_mode.as_deref() == Some("host")).map_err(named)?;
            sysctls.insert(key, value);
        }
        let mut log = LogOptions::default();
        for opt in &flags.log_opt {
            log.set(opt).map_err(named)?;
        }
        let options = RunOptions {
            cmd: command,
            entrypoint: flags.entrypoint.clone().map(|e| if e.is_empty() { Vec::new() } else { vec![e] }),
            env,
            workdir: flags.workdir.clone(),
            user: flags.user.clone(),
            hostname: flags.hostname.clone(),
            memory: flags.memory.as_deref().map(parse_memory).transpose().map_err(named)?.flatten(),
            memory_swap: None,
            cpus: flags.cpus.as_deref().map(parse_cpus).transpose().map_err(named)?.flatten(),
            // Docker: 0 and -1 both mean no limit.
            pids_limit: number("--pids-limit", &flags.pids_limit)?.filter(|p| *p > 0),
            read_only: flags.read_only,
            cap_add: flags.cap_add.clone(),
            cap_drop: flags.cap_drop.clone(),
            privileged: flags.privileged,
            seccomp,
            no_new_privileges,
            init: flags.init,
            labels,
            restart,
            auto_remove: flags.rm,
            stop_timeout: number("--stop-timeout", &flags.stop_timeout)?,
            stop_signal: flags.stop_signal.clone(),
            network,
            network_aliases: flags.network_alias.clone(),
            publish: flags.publish.clone(),
            publish_all: flags.publish_all,
            extra_networks: Vec::new(),
            endpoints,
            exposed_ports,
            tty: flags.tty,
            open_stdin: flags.interactive,
            mounts,
            extra_hosts: flags.add_host.iter().map(|h| parse_extra_host(h)).collect::<Result<_, _>>().map_err(named)?,
            dns: flags
                .dns
                .iter()
                .map(|d| parse_dns(d).map(|ip| ip.to_string()))
                .collect::<Result<_, _>>()
                .map_err(named)?,
            dns_search: flags
                .dns_search
                .iter()
                .map(|d| parse_dns_search(d))
                .collect::<Result<_, _>>()
                .map_err(named)?,
            ulimits: flags.ulimit.iter().map(|u| Ulimit::parse(u)).collect::<Result<_, _>>().map_err(named)?,
            devices: flags.device.iter().map(|d| DeviceMapping::parse(d)).collect::<Result<_, _>>().map_err(named)?,
            shm_size: flags.shm_size.as_deref().map(parse_shm_size).transpose().map_err(named)?,
            group_add: flags.group_add.iter().map(|g| g.trim().to_string()).collect(),
            sysctls,
            ipc_mode,
            pid_mode,
            log,
            healthcheck: flags.health.parse()?,
            health_shell: Vec::new(),
            build_step: false,
            build_layer_dir: None,
        };
        let name = flags.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        let platform = flags
            .platform
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(crate::registry::Platform::parse)
            .transpose()
            .map_err(|e| under("--platform", e))?;
        let spec = RunSpec { image: image.to_string(), name, options, pull, platform };
        spec.validate()?;
        Ok(spec)
    }
}

/// `KEY=VALUE` as is; a bare `KEY` takes this process's value, or is dropped when unset (as Docker does).
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

/// An `--env-file`'s entries: one per line, blank lines and `#` comments skipped.
fn env_file(file: &std::path::Path) -> Result<Vec<String>, RunError> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| invalid("--env-file", &shown, e))?;
    let mut env = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('=') {
            return Err(invalid("--env-file", &shown, format!("no variable name on line {line:?}")));
        }
        env.extend(env_entry(line));
    }
    Ok(env)
}

/// `--security-opt`: the seccomp choice (a profile file is read now) and no-new-privileges.
fn security_options(opts: &[String]) -> Result<(SeccompChoice, bool), RunError> {
    let mut seccomp = SeccompChoice::Default;
    let mut no_new_privileges = false;
    for opt in opts {
        match opt.split_once(['=', ':']) {
            Some(("seccomp", "unconfined")) => seccomp = SeccompChoice::Unconfined,
            Some(("seccomp", path)) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| invalid("--security-opt", opt, format!("opening seccomp profile {path}: {e}")))?;
                seccomp = SeccompChoice::Profile { path: path.to_string(), json };
            }
            None if opt == "no-new-privileges" => no_new_privileges = true,
            Some(("no-new-privileges", "true")) => no_new_privileges = true,
            Some(("no-new-privileges", "false")) => no_new_privileges = false,
            _ => {
                return Err(invalid(
                    "--security-opt",
                    opt,
                    "expected seccomp=FILE, seccomp=unconfined or no-new-privileges",
                ));
            }
        }
    }
    Ok((seccomp, no_new_privileges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_and_a_fixed_address_are_read_as_docker_reads_them() {
        let flags = RunFlags {
            network: Some("back".into()),
            ip: Some("10.9.0.5".into()),
            expose: vec!["80".into(), "7000-7001/udp".into()],
            ..RunFlags::default()
        };
        let spec = RunSpec::from_flags("busybox", Vec::new(), &flags).unwrap();
        assert_eq!(spec.options.exposed_ports, ["80/tcp", "7000/udp", "7001/udp"]);
        assert_eq!(spec.options.endpoints["back"].ipv4_address, Some("10.9.0.5".parse().unwrap()));
        let on_bridge = RunFlags { network: None, ..flags.clone() };
        let err = RunSpec::from_flags("busybox", Vec::new(), &on_bridge).unwrap_err().to_string();
        assert!(err.contains("--ip") && err.contains("user-defined networks"), "{err}");
        let bad = RunFlags { expose: vec!["80/http".into()], ..flags };
        assert!(RunSpec::from_flags("busybox", Vec::new(), &bad).unwrap_err().to_string().contains("--expose"));
    }

    fn parse(flags: RunFlags) -> Result<RunSpec, RunError> {
        RunSpec::from_flags("busybox", vec!["sh".into()], &flags)
    }

    #[test]
    fn flags_become_options() {
        let flags = RunFlags {
            name: Some("web".into()),
            env: vec!["A=1".into()],
            memory: Some("64m".into()),
            pids_limit: Some("-1".into()),
            stop_timeout: Some("-1".into()),
            restart: Some("on-failure:2".into()),
            publish: vec!["127.0.0.1:8080:80".into()],
            volume: vec!["/data".into(), "named:/named:ro".into()],
            tmpfs: vec!["/run:size=1m".into()],
            label: vec!["a=b".into(), "bare".into()],
            entrypoint: Some(String::new()),
            security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
            pull: Some("never".into()),
            ..RunFlags::default()
        };
        let spec = parse(flags).unwrap();
        assert_eq!((spec.image.as_str(), spec.name.as_deref(), spec.pull), ("busybox", Some("web"), PullPolicy::Never));
        let o = &spec.options;
        assert_eq!((o.cmd.as_slice(), o.env.as_slice()), (&["sh".to_string()][..], &["A=1".to_string()][..]));
        assert_eq!((o.memory, o.pids_limit, o.stop_timeout), (Some(64 << 20), None, Some(-1)));
        assert_eq!(o.restart, RestartPolicy::OnFailure { max_retries: Some(2) });
        assert_eq!(o.mounts.len(), 3);
        assert_eq!(o.labels.get("bare").map(String::as_str), Some(""));
        assert_eq!(o.entrypoint, Some(Vec::new()));
        assert!(o.no_new_privileges && o.seccomp == SeccompChoice::Unconfined);
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        let cases = [
            (RunFlags { publish: vec!["80:x".into()], ..RunFlags::default() }, "--publish", "80:x"),
            (RunFlags { volume: vec!["rel:/x:zz".into()], ..RunFlags::default() }, "--volume", "rel:/x:zz"),
            (RunFlags { mount: vec!["type=nope".into()], ..RunFlags::default() }, "--mount", "type=nope"),
            (RunFlags { tmpfs: vec!["relative".into()], ..RunFlags::default() }, "--tmpfs", "relative"),
            (RunFlags { memory: Some("lots".into()), ..RunFlags::default() }, "--memory", "lots"),
            (RunFlags { cpus: Some("x".into()), ..RunFlags::default() }, "--cpus", "x"),
            (RunFlags { pids_limit: Some("ten".into()), ..RunFlags::default() }, "--pids-limit", "ten"),
            (RunFlags { restart: Some("sometimes".into()), ..RunFlags::default() }, "--restart", "sometimes"),
            (RunFlags { env: vec!["=x".into()], ..RunFlags::default() }, "--env", "=x"),
            (RunFlags { pull: Some("often".into()), ..RunFlags::default() }, "--pull", "often"),
            (RunFlags { add_host: vec!["db:x".into()], ..RunFlags::default() }, "--add-host", "db:x"),
            (RunFlags { dns: vec!["one".into()], ..RunFlags::default() }, "--dns", "one"),
            (RunFlags { ulimit: vec!["nofile=x".into()], ..RunFlags::default() }, "--ulimit", "nofile=x"),
            (RunFlags { device: vec!["/nope".into()], ..RunFlags::default() }, "--device", "/nope"),
            (RunFlags { shm_size: Some("0".into()), ..RunFlags::default() }, "--shm-size", "0"),
            (RunFlags { sysctl: vec!["vm.x=1".into()], ..RunFlags::default() }, "--sysctl", "vm.x=1"),
            (RunFlags { ipc: Some("container:".into()), ..RunFlags::default() }, "--ipc", "container:"),
            (
                RunFlags {
                    health: crate::health::HealthFlags { interval: Some("soon".into()), ..Default::default() },
                    ..RunFlags::default()
                },
                "--health-interval",
                "soon",
            ),
            (RunFlags { pid: Some("private".into()), ..RunFlags::default() }, "--pid", "private"),
            (RunFlags { log_opt: vec!["mode=x".into()], ..RunFlags::default() }, "--log-opt", "mode=x"),
            (
                RunFlags {
                    network: Some("host".into()),
                    sysctl: vec!["net.ipv4.ip_forward=1".into()],
                    ..RunFlags::default()
                },
                "--sysctl",
                "net.ipv4.ip_forward",
            ),
            (RunFlags { security_opt: vec!["apparmor=x".into()], ..RunFlags::default() }, "--security-opt", "apparmor"),
            (
                RunFlags { network: Some("host".into()), publish: vec!["80".into()], ..RunFlags::default() },
                "--network",
                "host",
            ),
        ];
        for (flags, flag, value) in cases {
            let err = parse(flags).unwrap_err().to_string();
            assert!(err.starts_with(flag) || err.contains(&format!("{flag} ")), "{flag}: {err}");
            assert!(err.contains(value), "{value}: {err}");
        }
        assert!(matches!(RunSpec::from_flags(" ", Vec::new(), &RunFlags::default()), Err(RunError::NoImage)));
        let err = RunSpec::from_flags("Bad:Ref:x", Vec::new(), &RunFlags::default()).unwrap_err().to_string();
        assert!(err.starts_with("IMAGE"), "{err}");
    }

    #[test]
    fn rm_with_a_restart_policy_is_refused_before_create() {
        let flags = RunFlags { rm: true, restart: Some("always".into()), ..RunFlags::default() };
        assert!(parse(flags).unwrap_err().to_string().contains("--restart and --rm"));
    }
}
