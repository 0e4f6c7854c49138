//! What the host says about a container: the CPU time of the whole machine (the denominator of Docker's
//! CPU %), its memory (the limit of an unlimited container) and the container's network counters.

use std::path::{Path, PathBuf};

use super::StatsError;
use super::files::OpenFiles;

/// `/proc/stat`'s aggregate CPU time and how many CPUs are online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCpu {
    pub system_ns: u64,
    pub online: u32,
}

fn read(path: &Path, id: &str) -> Result<String, StatsError> {
    std::fs::read_to_string(path).map_err(|source| StatsError::Read { id: id.to_string(), path: path.into(), source })
}

fn parse_error(path: &Path, id: &str, text: &str) -> StatsError {
    let text = text.lines().next().unwrap_or_default().to_string();
    StatsError::Parse { id: id.to_string(), path: path.into(), text }
}

/// Clock ticks per second, the unit of `/proc/stat`.
pub(super) fn clock_ticks() -> u64 {
    Some(rustix::param::clock_ticks_per_second()).filter(|t| *t > 0).unwrap_or(100)
}

/// Read through `files`, as it is read again every sampling.
pub fn host_cpu(files: &OpenFiles, proc_root: &Path, id: &str) -> Result<HostCpu, StatsError> {
    let path = proc_root.join("stat");
    let text =
        files.read(&path).map_err(|source| StatsError::Read { id: id.to_string(), path: path.clone(), source })?;
    parse_proc_stat(&text, clock_ticks()).ok_or_else(|| parse_error(&path, id, &text))
}

/// Docker's system CPU usage: the first seven fields of the `cpu` line (user to softirq) in ns; online CPUs
/// are the `cpuN` lines.
fn parse_proc_stat(text: &str, ticks_per_second: u64) -> Option<HostCpu> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some("cpu"))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).take(7).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if fields.len() < 7 {
        return None;
    }
    let ticks: u64 = fields.iter().sum();
    let online = text
        .lines()
        .filter(|l| l.strip_prefix("cpu").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
        .count();
    Some(HostCpu {
        system_ns: ticks.saturating_mul(1_000_000_000) / ticks_per_second.max(1),
        online: u32::try_from(online).ok()?.max(1),
    })
}

/// The host's memory, from `MemTotal` in `/proc/meminfo`.
pub fn mem_total(proc_root: &Path, id: &str) -> Result<u64, StatsError> {
    let path = proc_root.join("meminfo");
    let text = read(&path, id)?;
    parse_mem_total(&text).ok_or_else(|| parse_error(&path, id, &text))
}

fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Bytes received and sent on every interface of the network namespace of `pid`, loopback excluded.
pub fn net_io(proc_root: &Path, pid: i32, id: &str) -> Result<(u64, u64), StatsError> {
    let path: PathBuf = proc_root.join(pid.to_string()).join("net/dev");
    let text = read(&path, id)?;
    Ok(parse_net_dev(&text))
}

/// `/proc/<pid>/net/dev`: two header lines, then `iface: rx_bytes packets ... (8 rx fields) tx_bytes ...`.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines() {
        let Some((iface, counters)) = line.split_once(':') else { continue };
        if iface.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        if let (Some(r), Some(t)) = (fields.first(), fields.get(8)) {
            rx = rx.saturating_add(*r);
            tx = tx.saturating_add(*t);
        }
    }
    (rx, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_counts_seven_fields_and_online_cpus() {
        let text = "cpu  100 10 50 1000 5 0 3 7 0 0\ncpu0 50 5 25 500 2 0 1 3 0 0\ncpu1 50 5 25 500 3 0 2 4 0 0\n\
                    intr 1 2 3\nctxt 99\n";
        let cpu = parse_proc_stat(text, 100).unwrap();
        // 100+10+50+1000+5+0+3 = 1168 ticks at 100 Hz; steal is not counted, as in Docker.
        assert_eq!(cpu, HostCpu { system_ns: 11_680_000_000, online: 2 });
        assert_eq!(parse_proc_stat("cpu 1 2\n", 100), None);
        assert_eq!(parse_proc_stat("intr 1\n", 100), None);
    }

    #[test]
    fn meminfo_total_in_bytes() {
        assert_eq!(parse_mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), Some(24_576_000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn net_dev_sums_interfaces_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:    5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0\n  \
            eth0:    1296      15    0    0    0     0          0         0      726       9    0    0    0     0       0          0\n  \
            eth1:       4       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), (1300, 732));
    }

    #[test]
    fn reads_this_hosts_files() {
        let proc_root = Path::new("/proc");
        let cpu = host_cpu(&OpenFiles::default(), proc_root, "self").unwrap();
        assert!(cpu.system_ns > 0 && cpu.online >= 1);
        assert!(mem_total(proc_root, "self").unwrap() > 0);
        let me = std::process::id() as i32;
        net_io(proc_root, me, "self").unwrap();
        let err = net_io(proc_root, -1, "gone").unwrap_err().to_string();
        assert!(err.contains("gone") && err.contains("/proc/-1/net/dev"), "{err}");
    }
}
