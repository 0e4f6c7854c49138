//! Docker's `run` options that reach past limits into the kernel's view of the container: `--ulimit`,
//! `--device`, `--sysctl`, `--shm-size`, `--ipc`, `--pid`, `--add-host`, `--dns`, `--dns-search`,
//! `--log-opt`. Each is parsed and checked here, so a stored record only ever holds valid values.

use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use serde::{Deserialize, Serialize};

use super::RuntimeError;

fn invalid(option: &'static str, value: &str, reason: impl ToString) -> RuntimeError {
    RuntimeError::InvalidOption { option, value: value.to_string(), reason: reason.to_string() }
}

/// The resource names `--ulimit` takes, as `ulimit`/Docker spell them.
pub const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit NAME=SOFT[:HARD]`; -1 is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Ulimit {
    pub fn parse(text: &str) -> Result<Ulimit, RuntimeError> {
        let bad = |reason: &str| invalid("--ulimit", text, reason);
        let (name, limits) = text.split_once('=').ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
        if !ULIMIT_NAMES.contains(&name) {
            return Err(bad(&format!("invalid ulimit type: {name}")));
        }
        let number = |n: &str| n.trim().parse::<i64>().ok().filter(|v| *v >= -1).ok_or_else(|| bad("not a number"));
        let (soft, hard) = match limits.split_once(':') {
            Some((soft, hard)) => (number(soft)?, number(hard)?),
            None => (number(limits)?, number(limits)?),
        };
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        if as_u64(soft) > as_u64(hard) {
            return Err(bad(&format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")));
        }
        Ok(Ulimit { name: name.to_string(), soft, hard })
    }

    /// The kernel's value: -1 is RLIM_INFINITY.
    pub fn soft_value(&self) -> u64 {
        if self.soft < 0 { u64::MAX } else { self.soft as u64 }
    }

    pub fn hard_value(&self) -> u64 {
        if self.hard < 0 { u64::MAX } else { self.hard as u64 }
    }
}

/// `--device /dev/HOST[:/dev/CONTAINER][:PERMISSIONS]`, with the host node's numbers read at create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Some of `rwm`.
    pub cgroup_permissions: String,
    /// `c` or `b`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub kind: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    /// The host node's permission bits and owner, which the container's node copies, as in Docker.
    #[serde(default)]
    pub file_mode: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
}

impl DeviceMapping {
    /// Parses the flag and reads the host node, which must be a character or block device.
    pub fn parse(text: &str) -> Result<DeviceMapping, RuntimeError> {
        let bad = |reason: &str| invalid("--device", text, reason);
        let parts: Vec<&str> = text.split(':').collect();
        let is_mode = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
        let (host, container, mode) = match parts.as_slice() {
            [host] => (*host, *host, "rwm"),
            [host, mode] if is_mode(mode) => (*host, *host, *mode),
            [host, container] => (*host, *container, "rwm"),
            [host, container, mode] if is_mode(mode) => (*host, *container, *mode),
            [_, _, mode] => return Err(bad(&format!("invalid device mode: {mode}"))),
            _ => return Err(bad("expected /dev/HOST[:/dev/CONTAINER][:rwm]")),
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("device paths must be absolute"));
        }
        let meta = std::fs::metadata(host).map_err(|e| bad(&format!("error gathering device information: {e}")))?;
        let kind = match meta.file_type() {
            t if t.is_char_device() => "c",
            t if t.is_block_device() => "b",
            _ => return Err(bad(&format!("{host} is not a device node"))),
        };
        let rdev = meta.rdev();
        Ok(DeviceMapping {
            path_on_host: host.to_string(),
            path_in_container: container.to_string(),
            cgroup_permissions: mode.to_string(),
            kind: kind.to_string(),
            major: rustix::fs::major(rdev) as i64,
            minor: rustix::fs::minor(rdev) as i64,
            file_mode: meta.mode() & 0o777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }
}

/// Whether `key` is a sysctl Docker lets a container set: namespaced ones only (IPC and network).
pub fn check_sysctl(entry: &str, host_network: bool, host_ipc: bool) -> Result<(String, String), RuntimeError> {
    let bad = |reason: String| invalid("--sysctl", entry, reason);
    let (key, value) = entry.split_once('=').ok_or_else(|| bad("expected KEY=VALUE".into()))?;
    let key = key.trim();
    let ipc = key == "kernel.sem"
        || key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    if !ipc && !net {
        return Err(bad(format!("sysctl '{key}' is not allowed")));
    }
    if net && host_network {
        return Err(bad(format!("sysctl '{key}' not allowed in host network namespace")));
    }
    if ipc && host_ipc {
        return Err(bad(format!("sysctl '{key}' not allowed with host ipc")));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `--ipc` and `--pid`: Docker's `private`/`shareable` (own namespace), `host`, or `container:NAME` (the
/// namespace of another container, which must run when this one starts).
pub fn check_namespace_mode(option: &'static str, text: &str) -> Result<Option<String>, RuntimeError> {
    let allowed: &[&str] = if option == "--ipc" { &["", "private", "shareable", "host"] } else { &["", "host"] };
    match text.trim() {
        t if allowed.contains(&t) => Ok(Some(t.to_string()).filter(|t| !t.is_empty())),
        t if t.strip_prefix("container:").is_some_and(|name| !name.is_empty()) => Ok(Some(t.to_string())),
        t => Err(invalid(option, t, format!("expected one of: {}, container:NAME", allowed[1..].join(", ")))),
    }
}

/// `--add-host NAME:IP` (or `NAME=IP`), an /etc/hosts line; stored as Docker's `NAME:IP`.
pub fn parse_extra_host(text: &str) -> Result<String, RuntimeError> {
    let bad = |reason: &str| invalid("--add-host", text, reason);
    let (name, ip) = text.split_once(['=', ':']).ok_or_else(|| bad("expected HOST:IP"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("invalid host name"));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip == "host-gateway" {
        return Err(bad("host-gateway is not supported"));
    }
    let ip: IpAddr = ip.parse().map_err(|_| bad(&format!("invalid IP address: {ip}")))?;
    Ok(format!("{name}:{ip}"))
}

/// A stored `NAME:IP` as (name, ip); the IP may hold colons itself.
pub fn split_extra_host(entry: &str) -> Option<(&str, &str)> {
    entry.split_once(':')
}

/// `--dns IP`.
pub fn parse_dns(text: &str) -> Result<IpAddr, RuntimeError> {
    text.trim().parse().map_err(|_| invalid("--dns", text, "not an IP address"))
}

/// `--dns-search DOMAIN`; `.` clears the search list, as in Docker.
pub fn parse_dns_search(text: &str) -> Result<String, RuntimeError> {
    let t = text.trim();
    if t.is_empty() || t.len() > 255 || t.contains(char::is_whitespace) || t.starts_with('-') {
        return Err(invalid("--dns-search", text, "not a domain name"));
    }
    Ok(t.trim_end_matches('.').to_string()).map(|d| if d.is_empty() { ".".to_string() } else { d })
}

/// `--shm-size`: bytes, with Docker's units; it must be positive.
pub fn parse_shm_size(text: &str) -> Result<i64, RuntimeError> {
    match super::options::parse_size(text).map_err(|reason| invalid("--shm-size", text, reason))? {
        0 => Err(invalid("--shm-size", text, "the size must be greater than 0")),
        bytes => Ok(bytes),
    }
}

/// The json-file driver's rotation: `--log-opt max-size=10m`, `--log-opt max-file=3`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogOptions {
    /// Bytes a log file may grow to before it is rotated.
    pub max_size: Option<u64>,
    /// Files kept, the live one included.
    pub max_file: Option<u32>,
}

impl LogOptions {
    /// Adds one `--log-opt KEY=VALUE`.
    pub fn set(&mut self, text: &str) -> Result<(), RuntimeError> {
        let bad = |reason: &str| invalid("--log-opt", text, reason);
        match text.split_once('=') {
            Some(("max-size", size)) => {
                let bytes = super::options::parse_size(size).map_err(|_| bad("max-size is not a size"))?;
                if bytes <= 0 {
                    return Err(bad("max-size must be a positive size"));
                }
                self.max_size = Some(bytes as u64);
            }
            Some(("max-file", n)) => {
                let n = n
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("max-file must be a positive number"))?;
                self.max_file = Some(n);
            }
            Some((key, _)) => return Err(bad(&format!("unknown log opt '{key}' for json-file log driver"))),
            None => return Err(bad("expected KEY=VALUE")),
        }
        Ok(())
    }

    /// Docker refuses max-file without max-size.
    pub fn check(&self) -> Result<(), RuntimeError> {
        match (self.max_file, self.max_size) {
            (Some(n), None) if n > 1 => {
                Err(invalid("--log-opt", "max-file", "max-file cannot be set without max-size"))
            }
            _ => Ok(()),
        }
    }

    /// As inspect's `LogConfig.Config` shows them.
    pub fn docker_config(&self) -> std::collections::BTreeMap<&'static str, String> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(size) = self.max_size {
            out.insert("max-size", size.to_string());
        }
        if let Some(n) = self.max_file {
            out.insert("max-file", n.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_parse_like_docker() {
        assert_eq!(Ulimit::parse("nofile=512:1024").unwrap(), Ulimit { name: "nofile".into(), soft: 512, hard: 1024 });
        assert_eq!(Ulimit::parse("nproc=100").unwrap(), Ulimit { name: "nproc".into(), soft: 100, hard: 100 });
        assert_eq!(Ulimit::parse("core=-1").unwrap().hard_value(), u64::MAX);
        for bad in ["nofile", "files=1", "nofile=x", "nofile=2048:1024", "nofile=-5"] {
            let err = Ulimit::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--ulimit") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn devices_read_the_host_node() {
        let d = DeviceMapping::parse("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!((d.kind.as_str(), d.major, d.minor, d.file_mode), ("c", 1, 3, 0o666));
        assert_eq!((d.path_in_container.as_str(), d.cgroup_permissions.as_str()), ("/dev/mynull", "r"));
        let same = DeviceMapping::parse("/dev/zero:rw").unwrap();
        assert_eq!((same.path_in_container.as_str(), same.cgroup_permissions.as_str()), ("/dev/zero", "rw"));
        for bad in ["/dev/nope-none", "/etc/passwd", "dev/null", "/dev/null:/dev/x:q"] {
            assert!(DeviceMapping::parse(bad).unwrap_err().to_string().contains("--device"), "{bad}");
        }
    }

    #[test]
    fn only_namespaced_sysctls() {
        assert_eq!(check_sysctl("net.ipv4.ip_forward=1", false, false).unwrap().0, "net.ipv4.ip_forward");
        assert!(check_sysctl("kernel.shmmax=1000", false, false).is_ok());
        assert!(check_sysctl("kernel.sem=1 2 3 4", false, false).is_ok());
        assert!(check_sysctl("fs.mqueue.msg_max=20", false, false).is_ok());
        assert!(check_sysctl("kernel.domainname=x", false, false).is_err());
        assert!(check_sysctl("vm.swappiness=1", false, false).is_err());
        let host = check_sysctl("net.ipv4.ip_forward=1", true, false).unwrap_err().to_string();
        assert!(host.contains("host network namespace"), "{host}");
        assert!(check_sysctl("kernel.msgmax=1", false, true).is_err());
    }

    #[test]
    fn hosts_dns_and_modes() {
        assert_eq!(parse_extra_host("db:10.0.0.5").unwrap(), "db:10.0.0.5");
        assert_eq!(parse_extra_host("db=::1").unwrap(), "db:::1");
        assert_eq!(split_extra_host("db:::1"), Some(("db", "::1")));
        assert!(parse_extra_host("db").is_err());
        assert!(parse_extra_host("db:nope").unwrap_err().to_string().contains("--add-host"));
        assert!(parse_dns("1.1.1.1").is_ok());
        assert!(parse_dns("one").unwrap_err().to_string().contains("--dns"));
        assert_eq!(parse_dns_search("example.com.").unwrap(), "example.com");
        assert_eq!(parse_dns_search(".").unwrap(), ".");
        assert!(parse_dns_search("a b").is_err());
        assert_eq!(check_namespace_mode("--pid", "host").unwrap().as_deref(), Some("host"));
        assert_eq!(check_namespace_mode("--ipc", "").unwrap(), None);
        assert_eq!(check_namespace_mode("--pid", "container:x").unwrap().as_deref(), Some("container:x"));
        assert!(check_namespace_mode("--pid", "container:").unwrap_err().to_string().contains("--pid"));
        assert!(check_namespace_mode("--ipc", "other").unwrap_err().to_string().contains("container:NAME"));
    }

    #[test]
    fn shm_and_log_options() {
        assert_eq!(parse_shm_size("128m").unwrap(), 128 << 20);
        assert!(parse_shm_size("0").unwrap_err().to_string().contains("--shm-size"));
        assert!(parse_shm_size("big").unwrap_err().to_string().contains("--shm-size"));
        let mut log = LogOptions::default();
        log.set("max-size=1k").unwrap();
        log.set("max-file=3").unwrap();
        assert_eq!(log, LogOptions { max_size: Some(1024), max_file: Some(3) });
        assert!(log.set("max-file=0").is_err());
        assert!(log.set("mode=non-blocking").unwrap_err().to_string().contains("--log-opt"));
        assert!(LogOptions { max_file: Some(2), max_size: None }.check().is_err());
    }
}
