//! A container's cgroup counters, read from the cgroup files on v1, hybrid and v2 hosts.
//!
//! The files are read directly rather than through libcgroups' stats: berth needs a handful of numbers,
//! the units differ between versions (v1 `cpuacct.usage` is ns, v2 `cpu.stat usage_usec` µs) and a root
//! path lets the tests lay out a v1 or a v2 tree in a temporary directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::StatsError;
use super::files::OpenFiles;

/// How the host mounts cgroups. Hybrid hosts (v1 controllers plus a v2 mount at `unified/`) keep memory,
/// cpu, pids and blkio in v1, where libcontainer puts the container, so they read as v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

impl Layout {
    /// A v2-only host has `cgroup.controllers` at the cgroup root; a v1 or hybrid root is a tmpfs of mounts.
    pub fn detect(root: &Path) -> Layout {
        if root.join("cgroup.controllers").exists() { Layout::V2 } else { Layout::V1 }
    }
}

/// What the cgroup itself counts for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub cpu_usage_ns: u64,
    /// Charged memory with the inactive page cache subtracted, as the docker CLI shows it.
    pub memory_usage: u64,
    /// The cgroup's limit; `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    pub pids_limit: Option<u64>,
}

/// One container's cgroup under a cgroup root (`/sys/fs/cgroup` on a real host).
#[derive(Debug, Clone)]
pub struct CgroupFiles {
    layout: Layout,
    root: PathBuf,
    /// The cgroup path without its leading slash (`berth/<id>`).
    rel: String,
    id: String,
    /// The files read so far, kept open for the next reading.
    files: Arc<OpenFiles>,
}

/// v1 reports "unlimited" memory as a page-rounded `i64::MAX`; anything at least this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

impl CgroupFiles {
    pub fn new(layout: Layout, root: &Path, cgroup_path: &str, id: &str) -> CgroupFiles {
        CgroupFiles::keeping(layout, root, cgroup_path, id, Arc::default())
    }

    /// Reads through `files`, which outlive this value: a poller of many containers keeps each one's files.
    pub fn keeping(layout: Layout, root: &Path, cgroup_path: &str, id: &str, files: Arc<OpenFiles>) -> CgroupFiles {
        CgroupFiles {
            layout,
            root: root.to_path_buf(),
            rel: cgroup_path.trim_start_matches('/').to_string(),
            id: id.to_string(),
            files,
        }
    }

    /// The directory of `controller` (v1) or the unified directory (v2).
    fn dir(&self, controller: &str) -> PathBuf {
        match self.layout {
            Layout::V1 => self.root.join(controller).join(&self.rel),
            Layout::V2 => self.root.join(&self.rel),
        }
    }

    fn read(&self, controller: &str, file: &str) -> Result<String, StatsError> {
        let path = self.dir(controller).join(file);
        self.files.read(&path).map_err(|source| StatsError::Read { id: self.id.clone(), path, source })
    }

    /// A file a host may lack (blkio or pids not mounted): absent reads as `None`.
    fn read_optional(&self, controller: &str, file: &str) -> Result<Option<String>, StatsError> {
        match self.read(controller, file) {
            Ok(text) => Ok(Some(text)),
            Err(StatsError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn parse_error(&self, controller: &str, file: &str, text: &str) -> StatsError {
        StatsError::Parse { id: self.id.clone(), path: self.dir(controller).join(file), text: text.trim().to_string() }
    }

    fn number(&self, controller: &str, file: &str) -> Result<u64, StatsError> {
        let text = self.read(controller, file)?;
        text.trim().parse().map_err(|_| self.parse_error(controller, file, &text))
    }

    /// Whether the container still has processes: its cgroup exists and lists a member.
    pub fn has_members(&self) -> bool {
        self.read("memory", "cgroup.procs").is_ok_and(|procs| !procs.trim().is_empty())
    }

    pub fn counters(&self) -> Result<Counters, StatsError> {
        let (block_read, block_write) = self.block_io()?;
        let (pids, pids_limit) = self.pids()?;
        Ok(Counters {
            cpu_usage_ns: self.cpu_usage_ns()?,
            memory_usage: self.memory_usage()?,
            memory_limit: self.memory_limit()?,
            block_read,
            block_write,
            pids,
            pids_limit,
        })
    }

    /// CPU time and memory in use (inactive page cache subtracted), from two or three files: what a
    /// container list polls. `None` once the cgroup is gone, as it is for a container that is not running.
    pub fn cpu_and_memory(&self) -> Result<Option<(u64, u64)>, StatsError> {
        let read = || Ok::<_, StatsError>((self.cpu_usage_ns()?, self.memory_usage()?));
        match read() {
            Ok(figures) => Ok(Some(figures)),
            Err(StatsError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn cpu_usage_ns(&self) -> Result<u64, StatsError> {
        match self.layout {
            Layout::V1 => self.number("cpuacct", "cpuacct.usage"),
            Layout::V2 => {
                let text = self.read("cpu", "cpu.stat")?;
                let usec = flat_key(&text, "usage_usec").ok_or_else(|| self.parse_error("cpu", "cpu.stat", &text))?;
                Ok(usec.saturating_mul(1000))
            }
        }
    }

    fn memory_usage(&self) -> Result<u64, StatsError> {
        let (usage_file, inactive_key) = match self.layout {
            Layout::V1 => ("memory.usage_in_bytes", "total_inactive_file"),
            Layout::V2 => ("memory.current", "inactive_file"),
        };
        let usage = self.number("memory", usage_file)?;
        let stat = self.read("memory", "memory.stat")?;
        // As the docker CLI does: the inactive page cache is subtracted only when it is below the usage.
        Ok(match flat_key(&stat, inactive_key) {
            Some(inactive) if inactive < usage => usage - inactive,
            _ => usage,
        })
    }

    fn memory_limit(&self) -> Result<Option<u64>, StatsError> {
        match self.layout {
            Layout::V1 => Ok(Some(self.number("memory", "memory.limit_in_bytes")?).filter(|l| *l < V1_UNLIMITED)),
            Layout::V2 => {
                let text = self.read("memory", "memory.max")?;
                max_value(&text).ok_or_else(|| self.parse_error("memory", "memory.max", &text))
            }
        }
    }

    fn block_io(&self) -> Result<(u64, u64), StatsError> {
        match self.layout {
            Layout::V1 => {
                let text = match self.read_optional("blkio", "blkio.throttle.io_service_bytes_recursive")? {
                    Some(text) => Some(text),
                    None => self.read_optional("blkio", "blkio.throttle.io_service_bytes")?,
                };
                Ok(text.map_or((0, 0), |t| v1_service_bytes(&t)))
            }
            Layout::V2 => Ok(self.read_optional("io", "io.stat")?.map_or((0, 0), |t| v2_io_stat(&t))),
        }
    }

    fn pids(&self) -> Result<(u64, Option<u64>), StatsError> {
        let Some(current) = self.read_optional("pids", "pids.current")? else { return Ok((0, None)) };
        let current = current.trim().parse().map_err(|_| self.parse_error("pids", "pids.current", &current))?;
        let limit = match self.read_optional("pids", "pids.max")? {
            Some(text) => max_value(&text).ok_or_else(|| self.parse_error("pids", "pids.max", &text))?,
            None => None,
        };
        Ok((current, limit))
    }
}

/// The value of `key` in a flat-keyed file (`memory.stat`, `cpu.stat`: one `key value` a line).
fn flat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key { v.trim().parse().ok() } else { None }
    })
}

/// A limit file's value: a number, or `max` for none (v2 `memory.max`, `pids.max`).
fn max_value(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

/// v1 `blkio.throttle.io_service_bytes[_recursive]`: `MAJ:MIN Read N` lines per device, summed as docker does.
fn v1_service_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(op), Some(value)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let Ok(value) = value.parse::<u64>() else { continue };
        match op {
            "Read" => read = read.saturating_add(value),
            "Write" => write = write.saturating_add(value),
            _ => {}
        }
    }
    (read, write)
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device, summed.
fn v2_io_stat(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else { continue };
        let Ok(value) = value.parse::<u64>() else { continue };
        match key {
            "rbytes" => read = read.saturating_add(value),
            "wbytes" => write = write.saturating_add(value),
            _ => {}
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn v1_tree_reads_every_controller() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("unified")).unwrap();
        write(&r.join("cpuacct/berth/c1"), &[("cpuacct.usage", "1500000000\n")]);
        write(
            &r.join("memory/berth/c1"),
            &[
                ("memory.usage_in_bytes", "104857600\n"),
                ("memory.stat", "cache 5\ninactive_file 7\ntotal_inactive_file 4857600\n"),
                ("memory.limit_in_bytes", "104857600\n"),
                ("cgroup.procs", "12\n13\n"),
            ],
        );
        write(
            &r.join("blkio/berth/c1"),
            &[(
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 100\n8:0 Sync 0\n8:0 Total 4196\n8:16 Read 1\n8:16 Write 2\nTotal 4199\n",
            )],
        );
        write(&r.join("pids/berth/c1"), &[("pids.current", "3\n"), ("pids.max", "max\n")]);

        assert_eq!(Layout::detect(r), Layout::V1, "a hybrid root (unified/ inside) reads as v1");
        let files = CgroupFiles::new(Layout::V1, r, "/berth/c1", "c1");
        assert!(files.has_members());
        assert_eq!(files.cpu_and_memory().unwrap(), Some((1_500_000_000, 100_000_000)));
        let c = files.counters().unwrap();
        assert_eq!(
            c,
            Counters {
                cpu_usage_ns: 1_500_000_000,
                memory_usage: 100_000_000,
                memory_limit: Some(104_857_600),
                block_read: 4097,
                block_write: 102,
                pids: 3,
                pids_limit: None,
            }
        );
    }

    #[test]
    fn v1_unlimited_memory_and_missing_optional_controllers() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("cpuacct/berth/c1"), &[("cpuacct.usage", "0\n")]);
        write(
            &r.join("memory/berth/c1"),
            &[
                ("memory.usage_in_bytes", "1000\n"),
                ("memory.stat", "total_inactive_file 5000\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("cgroup.procs", ""),
            ],
        );
        let files = CgroupFiles::new(Layout::V1, r, "/berth/c1", "c1");
        assert!(!files.has_members(), "an empty cgroup.procs means the container has ended");
        let c = files.counters().unwrap();
        assert_eq!(c.memory_limit, None);
        assert_eq!(c.memory_usage, 1000, "inactive_file above usage is not subtracted");
        assert_eq!((c.block_read, c.block_write, c.pids, c.pids_limit), (0, 0, 0, None));
    }

    #[test]
    fn v2_tree_reads_the_unified_files() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, &[("cgroup.controllers", "cpu io memory pids\n")]);
        write(
            &r.join("berth/c2"),
            &[
                ("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n"),
                ("memory.current", "70000000\n"),
                ("memory.stat", "anon 1\nfile 2\ninactive_file 1000000\nactive_file 3\n"),
                ("memory.max", "max\n"),
                ("io.stat", "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n253:0 rbytes=1 wbytes=1\n"),
                ("pids.current", "5\n"),
                ("pids.max", "100\n"),
                ("cgroup.procs", "42\n"),
            ],
        );
        assert_eq!(Layout::detect(r), Layout::V2);
        let files = CgroupFiles::new(Layout::V2, r, "/berth/c2", "c2");
        assert!(files.has_members());
        assert_eq!(
            files.counters().unwrap(),
            Counters {
                cpu_usage_ns: 2_500_000,
                memory_usage: 69_000_000,
                memory_limit: None,
                block_read: 1025,
                block_write: 2049,
                pids: 5,
                pids_limit: Some(100),
            }
        );
        std::fs::write(r.join("berth/c2/memory.max"), "104857600\n").unwrap();
        assert_eq!(files.counters().unwrap().memory_limit, Some(104_857_600));
        assert_eq!(files.cpu_and_memory().unwrap(), Some((2_500_000, 69_000_000)));
        std::fs::remove_dir_all(r.join("berth/c2")).unwrap();
        assert_eq!(files.cpu_and_memory().unwrap(), None, "a removed cgroup is a container not running");
    }

    #[test]
    fn bad_and_missing_files_name_the_path() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(&r.join("berth/c3"), &[("cpu.stat", "user_usec 1\n")]);
        let files = CgroupFiles::new(Layout::V2, r, "/berth/c3", "c3");
        let err = files.counters().unwrap_err().to_string();
        assert!(err.contains("cpu.stat") && err.contains("c3"), "{err}");
        std::fs::write(r.join("berth/c3/cpu.stat"), "usage_usec 1\n").unwrap();
        let err = files.counters().unwrap_err().to_string();
        assert!(err.contains("memory.current"), "{err}");
        std::fs::write(r.join("berth/c3/memory.current"), "lots\n").unwrap();
        let err = files.cpu_and_memory().unwrap_err().to_string();
        assert!(err.contains("memory.current") && err.contains("lots"), "a bad file is an error, not absence: {err}");
        assert!(!files.has_members());
    }
}
