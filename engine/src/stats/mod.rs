//! Container stats: one sample of a running container's counters, a stream of Docker's computed figures
//! (CPU %, memory usage/limit/%, network and block I/O, pids) about once an interval, and a cheap batched
//! reading of CPU time and memory alone for lists that poll many containers.
//!
//! Counters come from the container's cgroup (`cgroup.rs`, v1, hybrid or v2) and from the host's /proc
//! (`host.rs`). CPU % is Docker's: the container's CPU time over the machine's, times the online CPUs, so
//! one busy core reads 100%.

mod cgroup;
mod files;
mod host;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::Stream;

use crate::container::{Cgroup, ContainerRecord, Status};
use crate::{Engine, Error};
use cgroup::CgroupFiles;
pub(crate) use cgroup::Layout;
pub(crate) use files::OpenFiles;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const PROC_ROOT: &str = "/proc";

/// Failures of stats, each naming the container.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("container {id} is {status}: it has no stats until it runs")]
    NotRunning { id: String, status: Status },
    #[error("reading {path} for container {id}: {source}")]
    Read {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected content in {path} for container {id}: {text:?}")]
    Parse { id: String, path: PathBuf, text: String },
    /// Batched readings take full IDs only: the ID names a cgroup directory.
    #[error("{id:?} is not a full container ID (64 hex digits)")]
    BadId { id: String },
}

/// One reading of a container's counters, cumulative since it started (CPU, network, block I/O) or
/// current (memory, pids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// CPU time of every process in the container.
    pub cpu_usage_ns: u64,
    /// CPU time of the whole machine (`/proc/stat`), the denominator of Docker's CPU %.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Charged memory with the inactive page cache subtracted, as the docker CLI shows it.
    pub memory_usage: u64,
    /// The cgroup's memory limit, or the host's memory when the container has none.
    pub memory_limit: u64,
    /// Bytes received and sent on the container's interfaces, loopback excluded.
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// `None` when unlimited.
    pub pids_limit: Option<u64>,
}

/// Docker's figures for one interval: the rates come from two [`Stats`] readings.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSnapshot {
    pub id: String,
    pub name: String,
    /// Percent of one core: 250.0 is two and a half busy cores.
    pub cpu_percent: f64,
    pub memory_percent: f64,
    /// The later reading.
    pub stats: Stats,
}

/// Docker's CPU %: the container's CPU time over the machine's between two readings, times the online CPUs
/// (percent of one core); zero unless both moved.
fn cpu_percent(container_ns: (u64, u64), system_ns: (u64, u64), online_cpus: u32) -> f64 {
    let cpu_delta = container_ns.1.saturating_sub(container_ns.0) as f64;
    let system_delta = system_ns.1.saturating_sub(system_ns.0) as f64;
    if cpu_delta > 0.0 && system_delta > 0.0 { cpu_delta / system_delta * f64::from(online_cpus) * 100.0 } else { 0.0 }
}

impl StatsSnapshot {
    /// Docker's arithmetic: CPU % only when both the container's and the machine's CPU time moved.
    pub fn between(id: &str, name: &str, previous: &Stats, current: &Stats) -> StatsSnapshot {
        let cpu_percent = cpu_percent(
            (previous.cpu_usage_ns, current.cpu_usage_ns),
            (previous.system_cpu_ns, current.system_cpu_ns),
            current.online_cpus,
        );
        let memory_percent = if current.memory_limit > 0 {
            current.memory_usage as f64 / current.memory_limit as f64 * 100.0
        } else {
            0.0
        };
        StatsSnapshot { id: id.to_string(), name: name.to_string(), cpu_percent, memory_percent, stats: *current }
    }
}

/// A container's CPU time and memory, the two figures a container list shows ([`Engine::usage_samples`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_usage_ns: u64,
    /// The machine's CPU time at the reading, the denominator of CPU %.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// As [`Stats::memory_usage`]: charged memory without the inactive page cache.
    pub memory_usage: u64,
}

impl Usage {
    /// Docker's CPU % (of one core) over the time since `previous`, a reading of the same container.
    pub fn cpu_percent_since(&self, previous: &Usage) -> f64 {
        cpu_percent(
            (previous.cpu_usage_ns, self.cpu_usage_ns),
            (previous.system_cpu_ns, self.system_cpu_ns),
            self.online_cpus,
        )
    }
}

/// The host's cgroup layout, looked at once per process.
pub(crate) fn host_layout() -> Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    *LAYOUT.get_or_init(|| Layout::detect(Path::new(CGROUP_ROOT)))
}

/// The host's memory in bytes (`MemTotal`).
pub(crate) fn host_memory() -> Option<u64> {
    host::mem_total(Path::new(PROC_ROOT), "host").ok()
}

/// Reads one container's counters from its cgroup and its init process.
struct Sampler {
    id: String,
    name: String,
    pid: i32,
    cgroup: CgroupFiles,
    proc_root: PathBuf,
    /// `/proc/stat`, kept open for the next reading.
    host_files: OpenFiles,
    /// The host's memory, read once: the limit of a container without one.
    mem_total: u64,
}

impl Sampler {
    /// A reading, or `None` once the container has no processes left (it exited).
    fn sample(&self) -> Result<Option<Stats>, StatsError> {
        if !self.cgroup.has_members() {
            return Ok(None);
        }
        match self.read() {
            Ok(stats) => Ok(Some(stats)),
            // The container ended between the check and the reads: its files went away with it.
            Err(_) if !self.cgroup.has_members() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read(&self) -> Result<Stats, StatsError> {
        let counters = self.cgroup.counters()?;
        let cpu = host::host_cpu(&self.host_files, &self.proc_root, &self.id)?;
        // Opened anew each time: a kept descriptor would go on reading the namespace of an init since gone.
        let (net_rx, net_tx) = host::net_io(&self.proc_root, self.pid, &self.id)?;
        Ok(Stats {
            cpu_usage_ns: counters.cpu_usage_ns,
            system_cpu_ns: cpu.system_ns,
            online_cpus: cpu.online,
            memory_usage: counters.memory_usage,
            memory_limit: counters.memory_limit.map_or(self.mem_total, |l| l.min(self.mem_total)),
            net_rx,
            net_tx,
            block_read: counters.block_read,
            block_write: counters.block_write,
            pids: counters.pids,
            pids_limit: counters.pids_limit,
        })
    }

    fn ended(&self) -> StatsError {
        StatsError::NotRunning { id: self.id.clone(), status: Status::Exited }
    }
}

impl Engine {
    /// A sampler for a running or paused container (a paused one still has its processes and counters).
    fn sampler(&self, name_or_id: &str) -> Result<Sampler, Error> {
        Ok(sampler_of(&self.container(name_or_id)?)?)
    }

    /// Docker's figures for each of `containers` (records just read, so no lookup again) from two readings
    /// `window` apart, all containers read in the same pass: `stats --no-stream` without waiting a whole
    /// sampling interval as Docker does. Over so short a window /proc/stat's 10 ms ticks would blur the
    /// machine's CPU time, so CPU % is the container's CPU time over the wall-clock time between its two
    /// readings on one core (Docker's ratio, whose denominator is that time on every online CPU). `None`
    /// for a container that is not running or ended meanwhile.
    pub async fn stats_now(
        &self,
        containers: &[ContainerRecord],
        window: Duration,
    ) -> Vec<Result<Option<StatsSnapshot>, Error>> {
        let first: Vec<_> = containers
            .iter()
            .map(|rec| {
                let sampler = sampler_of(rec).ok()?;
                match sampler.sample() {
                    Ok(Some(reading)) => Some(Ok((sampler, reading, Instant::now()))),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .collect();
        tokio::time::sleep(window).await;
        first
            .into_iter()
            .map(|taken| {
                let Some((sampler, previous, at)) = taken.transpose()? else { return Ok(None) };
                let Some(current) = sampler.sample()? else { return Ok(None) };
                let elapsed = at.elapsed().as_nanos().max(1) as f64;
                let mut snapshot = StatsSnapshot::between(&sampler.id, &sampler.name, &previous, &current);
                let cpu_ns = current.cpu_usage_ns.saturating_sub(previous.cpu_usage_ns) as f64;
                snapshot.cpu_percent = cpu_ns / elapsed * 100.0;
                Ok(Some(snapshot))
            })
            .collect()
    }

    /// One reading of a running or paused container's counters.
    pub fn stats_sample(&self, name_or_id: &str) -> Result<Stats, Error> {
        let sampler = self.sampler(name_or_id)?;
        Ok(sampler.sample()?.ok_or_else(|| sampler.ended())?)
    }

    /// CPU time and memory of many containers in one pass, for a list that polls them: `/proc/stat` once,
    /// then two or three cgroup files per container; no database, no process. `ids` are full container IDs;
    /// one without a cgroup (not running, or removed) is left out of the answer.
    pub fn usage_samples(&self, ids: &[String]) -> Result<HashMap<String, Usage>, Error> {
        let roots = (Path::new(CGROUP_ROOT), Path::new(PROC_ROOT));
        Ok(read_usage(host_layout(), roots, &self.usage_files, ids)?)
    }

    /// Docker's figures for a running or paused container, one every `interval` (the first after one
    /// interval, since rates need two readings). The stream ends when the container exits. A container
    /// that is not running is an error here rather than an empty stream.
    pub fn stats_stream(
        &self,
        name_or_id: &str,
        interval: Duration,
    ) -> Result<impl Stream<Item = Result<StatsSnapshot, Error>> + Send + use<>, Error> {
        let sampler = self.sampler(name_or_id)?;
        let first = sampler.sample()?.ok_or_else(|| sampler.ended())?;
        Ok(snapshots(sampler, first, interval))
    }
}

/// A sampler for a running or paused container (a paused one still has its processes and counters).
fn sampler_of(rec: &ContainerRecord) -> Result<Sampler, StatsError> {
    if !matches!(rec.status, Status::Running | Status::Paused) || rec.pid <= 0 {
        return Err(StatsError::NotRunning { id: rec.id.clone(), status: rec.status });
    }
    let cgroup_path = Cgroup::for_container(&rec.id).path();
    Ok(Sampler {
        cgroup: CgroupFiles::new(host_layout(), Path::new(CGROUP_ROOT), &cgroup_path, &rec.id),
        id: rec.id.clone(),
        name: rec.name.clone(),
        pid: rec.pid,
        proc_root: PathBuf::from(PROC_ROOT),
        host_files: OpenFiles::default(),
        mem_total: host::mem_total(Path::new(PROC_ROOT), &rec.id)?,
    })
}

/// [`Engine::usage_samples`] over a cgroup root and a /proc root (temporary trees in the tests).
/// The files of containers not in `ids` are closed: those are the ones the poller no longer shows.
fn read_usage(
    layout: Layout,
    (cgroup_root, proc_root): (&Path, &Path),
    kept: &Arc<OpenFiles>,
    ids: &[String],
) -> Result<HashMap<String, Usage>, StatsError> {
    let mut usage = HashMap::with_capacity(ids.len());
    let Some(first) = ids.first() else { return Ok(usage) };
    if let Some(bad) = ids.iter().find(|id| id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(StatsError::BadId { id: bad.clone() });
    }
    kept.retain(|path| {
        path.starts_with(proc_root) || ids.iter().any(|id| path.to_string_lossy().contains(id.as_str()))
    });
    let cpu = host::host_cpu(kept, proc_root, first)?;
    for id in ids {
        let cgroup_path = Cgroup::for_container(id).path();
        let files = CgroupFiles::keeping(layout, cgroup_root, &cgroup_path, id, kept.clone());
        if let Some((cpu_usage_ns, memory_usage)) = files.cpu_and_memory()? {
            let reading = Usage { cpu_usage_ns, system_cpu_ns: cpu.system_ns, online_cpus: cpu.online, memory_usage };
            usage.insert(id.clone(), reading);
        }
    }
    Ok(usage)
}

/// Readings every `interval` after `first`, as snapshots of each interval, until the container ends.
fn snapshots(
    sampler: Sampler,
    first: Stats,
    interval: Duration,
) -> impl Stream<Item = Result<StatsSnapshot, Error>> + Send + 'static {
    futures_util::stream::unfold(Some((sampler, first)), move |state| async move {
        let (sampler, previous) = state?;
        tokio::time::sleep(interval).await;
        // cgroupfs and procfs reads are answered from kernel memory: no need to leave the async thread.
        match sampler.sample() {
            Ok(Some(current)) => {
                let snapshot = StatsSnapshot::between(&sampler.id, &sampler.name, &previous, &current);
                Some((Ok(snapshot), Some((sampler, current))))
            }
            Ok(None) => None,
            Err(e) => Some((Err(e.into()), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn stats(cpu: u64, system: u64) -> Stats {
        Stats {
            cpu_usage_ns: cpu,
            system_cpu_ns: system,
            online_cpus: 2,
            memory_usage: 64 << 20,
            memory_limit: 256 << 20,
            ..Stats::default()
        }
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        // The container used 1 s of CPU while the two-CPU machine counted 2 s: one full core.
        let s = StatsSnapshot::between("c", "web", &stats(0, 0), &stats(1_000_000_000, 2_000_000_000));
        assert!((s.cpu_percent - 100.0).abs() < 1e-9, "{}", s.cpu_percent);
        assert!((s.memory_percent - 25.0).abs() < 1e-9, "{}", s.memory_percent);
        assert_eq!((s.id.as_str(), s.name.as_str()), ("c", "web"));
        let idle = StatsSnapshot::between("c", "web", &stats(5, 10), &stats(5, 20));
        assert_eq!(idle.cpu_percent, 0.0);
        let no_limit = Stats { memory_limit: 0, ..stats(0, 0) };
        assert_eq!(StatsSnapshot::between("c", "w", &no_limit, &no_limit).memory_percent, 0.0);
    }

    #[test]
    fn usage_cpu_percent_matches_the_snapshots() {
        let usage = |cpu, system| Usage { cpu_usage_ns: cpu, system_cpu_ns: system, online_cpus: 4, memory_usage: 1 };
        // Half a second of CPU while the four-CPU machine counted 4 s (1 s of wall time): half a core.
        assert!(
            (usage(1_500_000_000, 8_000_000_000).cpu_percent_since(&usage(1_000_000_000, 4_000_000_000)) - 50.0).abs()
                < 1e-9
        );
        assert_eq!(usage(5, 10).cpu_percent_since(&usage(5, 5)), 0.0, "no CPU time used");
        assert_eq!(usage(1, 10).cpu_percent_since(&usage(5, 5)), 0.0, "a restarted counter reads idle, not negative");
    }

    #[test]
    fn usage_reads_every_running_container_once_and_leaves_out_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (cg, proc_root) = (dir.path().join("cgroup"), dir.path().join("proc"));
        std::fs::create_dir_all(&proc_root).unwrap();
        std::fs::write(proc_root.join("stat"), "cpu  100 0 0 100 0 0 0 0 0 0\ncpu0 1\ncpu1 1\n").unwrap();
        std::fs::create_dir_all(&cg).unwrap();
        std::fs::write(cg.join("cgroup.controllers"), "cpu memory\n").unwrap();
        let (busy, idle, stopped) = ("b".repeat(64), "1".repeat(64), "5".repeat(64));
        for (id, usec, memory) in [(&busy, "900", "3000"), (&idle, "1", "2000")] {
            let files = cg.join("berth").join(id);
            std::fs::create_dir_all(&files).unwrap();
            std::fs::write(files.join("cpu.stat"), format!("usage_usec {usec}\n")).unwrap();
            std::fs::write(files.join("memory.current"), format!("{memory}\n")).unwrap();
            std::fs::write(files.join("memory.stat"), "inactive_file 1000\n").unwrap();
        }
        let ids = [busy.clone(), idle.clone(), stopped.clone()];
        let kept = Arc::default();
        let usage = read_usage(Layout::detect(&cg), (&cg, &proc_root), &kept, &ids).unwrap();
        let system_cpu_ns = 200 * 1_000_000_000 / host::clock_ticks();
        let expected = |cpu, memory| Usage { cpu_usage_ns: cpu, system_cpu_ns, online_cpus: 2, memory_usage: memory };
        assert_eq!(usage[&busy], expected(900_000, 2000));
        assert_eq!(usage[&idle], expected(1000, 1000));
        assert!(!usage.contains_key(&stopped), "a container without a cgroup is left out");
        assert_eq!(kept.len(), 1 + 2 * 3, "/proc/stat and three files of each running container stay open");
        std::fs::write(cg.join("berth").join(&busy).join("cpu.stat"), "usage_usec 950\n").unwrap();
        let usage = read_usage(Layout::V2, (&cg, &proc_root), &kept, std::slice::from_ref(&busy)).unwrap();
        assert_eq!(usage[&busy], expected(950_000, 2000), "read again through the kept files");
        assert_eq!(kept.len(), 1 + 3, "the files of containers no longer asked about are closed");
        assert!(read_usage(Layout::V2, (&cg, &proc_root), &kept, &[]).unwrap().is_empty());
        let err = read_usage(Layout::V2, (&cg, &proc_root), &kept, &["../x".to_string()]).unwrap_err().to_string();
        assert!(err.contains("\"../x\" is not a full container ID"), "{err}");
    }

    /// A v2 cgroup tree and a /proc with one process, for a sampler that needs no container.
    fn fake_host(dir: &Path, procs: &str) -> Sampler {
        let cg = dir.join("cgroup");
        let proc_root = dir.join("proc");
        std::fs::create_dir_all(cg.join("berth/c1")).unwrap();
        std::fs::create_dir_all(proc_root.join("7/net")).unwrap();
        std::fs::write(cg.join("cgroup.controllers"), "memory\n").unwrap();
        for (file, text) in [
            ("cpu.stat", "usage_usec 1000\n"),
            ("memory.current", "1048576\n"),
            ("memory.stat", "inactive_file 0\n"),
            ("memory.max", "max\n"),
            ("cgroup.procs", procs),
        ] {
            std::fs::write(cg.join("berth/c1").join(file), text).unwrap();
        }
        std::fs::write(proc_root.join("stat"), "cpu  1 0 0 1 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n").unwrap();
        std::fs::write(proc_root.join("7/net/dev"), "h\nh\n  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n").unwrap();
        Sampler {
            id: "c1".into(),
            name: "web".into(),
            pid: 7,
            cgroup: CgroupFiles::new(Layout::detect(&cg), &cg, "/berth/c1", "c1"),
            proc_root,
            host_files: OpenFiles::default(),
            mem_total: 1 << 20,
        }
    }

    #[test]
    fn sampler_caps_the_limit_at_host_memory_and_ends_with_the_container() {
        let dir = tempfile::tempdir().unwrap();
        let sampler = fake_host(dir.path(), "7\n");
        let s = sampler.sample().unwrap().unwrap();
        assert_eq!((s.cpu_usage_ns, s.memory_usage, s.memory_limit), (1_000_000, 1 << 20, 1 << 20));
        assert_eq!((s.net_rx, s.net_tx, s.online_cpus), (10, 20, 1));
        std::fs::write(dir.path().join("cgroup/berth/c1/cgroup.procs"), "").unwrap();
        assert_eq!(sampler.sample().unwrap(), None);
        std::fs::remove_dir_all(dir.path().join("cgroup/berth/c1")).unwrap();
        assert_eq!(sampler.sample().unwrap(), None, "a removed cgroup is an ended container, not an error");
    }

    #[tokio::test]
    async fn stream_yields_interval_snapshots_until_the_container_ends() {
        let dir = tempfile::tempdir().unwrap();
        let sampler = fake_host(dir.path(), "7\n");
        let first = sampler.sample().unwrap().unwrap();
        let cg = dir.path().join("cgroup/berth/c1");
        let stream = snapshots(sampler, first, Duration::from_millis(10));
        futures_util::pin_mut!(stream);
        std::fs::write(cg.join("cpu.stat"), "usage_usec 2000\n").unwrap();
        let snap = stream.next().await.unwrap().unwrap();
        assert_eq!((snap.stats.cpu_usage_ns, snap.stats.memory_usage), (2_000_000, 1 << 20));
        assert_eq!(snap.cpu_percent, 0.0, "the fake machine's CPU time did not move");
        std::fs::write(cg.join("memory.current"), "garbage\n").unwrap();
        let err = stream.next().await.unwrap().unwrap_err().to_string();
        assert!(err.contains("memory.current") && err.contains("c1"), "{err}");
        assert!(stream.next().await.is_none(), "a failed reading ends the stream");
    }

    #[tokio::test]
    async fn stream_ends_when_the_container_exits() {
        let dir = tempfile::tempdir().unwrap();
        let sampler = fake_host(dir.path(), "7\n");
        let first = sampler.sample().unwrap().unwrap();
        std::fs::write(dir.path().join("cgroup/berth/c1/cgroup.procs"), "").unwrap();
        let stream = snapshots(sampler, first, Duration::from_millis(10));
        futures_util::pin_mut!(stream);
        assert!(stream.next().await.is_none());
    }
}
