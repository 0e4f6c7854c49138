//! A container's cgroup, reached from any berth process: freeze/thaw, member pids, OOM kills, removal.
//! Freezing goes through libcgroups, which picks v1, hybrid or v2 from the host; the rest reads and removes
//! the cgroup's directories in every hierarchy directly, being on each run's teardown (a libcgroups manager
//! reads the mount table once per controller it knows just to be made).

use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupConfig, CgroupManager, FreezerState, create_cgroup_manager};

use super::ContainerError;

/// The parent cgroup of every berth container.
const PARENT: &str = "berth";

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One container's cgroup, `/berth/<id>` under each controller (v1) or the unified root (v2).
#[derive(Debug, Clone)]
pub(crate) struct Cgroup {
    id: String,
}

impl Cgroup {
    pub(crate) fn for_container(id: &str) -> Cgroup {
        Cgroup { id: id.to_string() }
    }

    /// The OCI `cgroupsPath`.
    pub(crate) fn path(&self) -> String {
        format!("/{PARENT}/{}", self.id)
    }

    fn err(&self, message: impl ToString) -> ContainerError {
        ContainerError::Cgroup { id: self.id.clone(), message: message.to_string() }
    }

    fn manager(&self) -> Result<libcgroups::common::AnyCgroupManager, ContainerError> {
        create_cgroup_manager(CgroupConfig {
            cgroup_path: PathBuf::from(self.path()),
            systemd_cgroup: false,
            container_name: self.id.clone(),
        })
        .map_err(|e| self.err(e))
    }

    /// Freezes (pause) or thaws (unpause) every process of the container.
    pub(crate) fn freeze(&self, frozen: bool) -> Result<(), ContainerError> {
        let state = if frozen { FreezerState::Frozen } else { FreezerState::Thawed };
        self.manager()?.freeze(state).map_err(|e| self.err(e))
    }

    /// Host pids of every process in the container, its sub-cgroups' included, read from each hierarchy's
    /// `cgroup.procs` (libcgroups' manager reads the mount table a dozen times over to find those files).
    pub(crate) fn pids(&self) -> Result<Vec<i32>, ContainerError> {
        member_pids(Path::new(CGROUP_ROOT), &self.path()).map_err(|e| self.err(format!("listing its processes: {e}")))
    }

    /// Whether its freezer holds it frozen (or freezing).
    pub(crate) fn frozen(&self) -> bool {
        is_frozen(Path::new(CGROUP_ROOT), &self.path())
    }

    /// Whether the kernel's OOM killer struck inside the container.
    pub(crate) fn oom_killed(&self) -> bool {
        oom_kills(Path::new(CGROUP_ROOT), &self.path()) > 0
    }

    /// The container's pids limit when it has as many processes as that (a fork inside fails with EAGAIN).
    pub(crate) fn pids_limit_reached(&self) -> Option<u64> {
        pids_at_limit(Path::new(CGROUP_ROOT), &self.path())
    }

    /// Removes the cgroup (after the container's processes are gone); one already gone is fine.
    ///
    /// A container with a writable cgroupfs (`--privileged`) may have made sub-cgroups, and a cgroup
    /// directory can only go after its children, so those go first.
    pub(crate) fn remove(&self) -> Result<(), ContainerError> {
        if !self.exists() {
            return Ok(());
        }
        for dir in cgroup_dirs(Path::new(CGROUP_ROOT), &self.path()) {
            remove_children(&dir).map_err(|e| self.err(format!("remove sub-cgroups of {}: {e}", dir.display())))?;
            match std::fs::remove_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(self.err(format!("remove {}: {e}", dir.display())));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether any controller still has this cgroup's directory.
    pub(crate) fn exists(&self) -> bool {
        cgroup_dirs(Path::new(CGROUP_ROOT), &self.path()).iter().any(|d| d.is_dir())
    }
}

/// Where a cgroup's directories would be, for v2 (`root/<path>`) and each v1 controller (`root/<ctrl>/<path>`).
fn cgroup_dirs(root: &Path, path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut dirs = vec![root.join(rel)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            dirs.push(entry.path().join(rel));
        }
    }
    dirs
}

/// Removes every directory below `dir`, deepest first. On cgroupfs `rmdir` takes a cgroup with its control
/// files; one that vanished meanwhile is fine.
fn remove_children(dir: &Path) -> std::io::Result<()> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let child = entry.path();
            remove_children(&child)?;
            match std::fs::remove_dir(&child) {
                Err(e) if !gone(&e) => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The pids in `cgroup.procs` of the cgroup `path` and its sub-cgroups in every hierarchy, each once.
fn member_pids(root: &Path, path: &str) -> std::io::Result<Vec<i32>> {
    fn walk(dir: &Path, pids: &mut Vec<i32>) -> std::io::Result<()> {
        let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(procs) => procs,
            // Removed meanwhile: it holds no process.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), pids)?;
            }
        }
        Ok(())
    }
    let mut pids = Vec::new();
    for dir in cgroup_dirs(root, path).iter().filter(|d| d.is_dir()) {
        walk(dir, &mut pids)?;
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// v1's `freezer.state` other than THAWED, or v2's `cgroup.freeze` set.
fn is_frozen(root: &Path, path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let read = |file: PathBuf| std::fs::read_to_string(file).map(|s| s.trim().to_string()).unwrap_or_default();
    let v1 = read(root.join("freezer").join(rel).join("freezer.state"));
    (!v1.is_empty() && v1 != "THAWED") || read(root.join(rel).join("cgroup.freeze")) == "1"
}

/// `pids.max` when `pids.current` has reached it, v2 (`root/<path>`) or v1 (`root/pids/<path>`).
fn pids_at_limit(root: &Path, path: &str) -> Option<u64> {
    let rel = path.trim_start_matches('/');
    [root.join(rel), root.join("pids").join(rel)].iter().find_map(|dir| {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok()?.trim().parse::<u64>().ok();
        let (max, current) = (read("pids.max")?, read("pids.current")?);
        (current >= max).then_some(max)
    })
}

/// The `oom_kill` counter: v2 `memory.events`, v1 `memory/<path>/memory.oom_control` (kernels ≥ 4.13).
fn oom_kills(root: &Path, path: &str) -> u64 {
    let rel = path.trim_start_matches('/');
    let files = [root.join(rel).join("memory.events"), root.join("memory").join(rel).join("memory.oom_control")];
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counter_v1_and_v2_trees() {
        let v1 = tempfile::tempdir().unwrap();
        let dir = v1.path().join("memory/berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(oom_kills(v1.path(), "/berth/c1"), 2);
        assert_eq!(oom_kills(v1.path(), "/berth/c2"), 0);

        let v2 = tempfile::tempdir().unwrap();
        let dir = v2.path().join("berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(oom_kills(v2.path(), "/berth/c1"), 1);
    }

    #[test]
    fn member_pids_cover_every_hierarchy_and_sub_cgroup_once() {
        let root = tempfile::tempdir().unwrap();
        let write = |dir: &str, procs: &str| {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
            std::fs::write(root.path().join(dir).join("cgroup.procs"), procs).unwrap();
        };
        write("memory/berth/c1", "10\n11\n");
        write("pids/berth/c1", "11\n10\n");
        write("pids/berth/c1/sub", "12\n");
        write("memory/berth/c2", "20\n");
        assert_eq!(member_pids(root.path(), "/berth/c1").unwrap(), [10, 11, 12]);
        assert!(member_pids(root.path(), "/berth/gone").unwrap().is_empty());
    }

    #[test]
    fn frozen_is_read_from_v1_and_v2_freezers() {
        let v1 = tempfile::tempdir().unwrap();
        let dir = v1.path().join("freezer/berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        for (state, frozen) in [("THAWED\n", false), ("FROZEN\n", true), ("FREEZING\n", true)] {
            std::fs::write(dir.join("freezer.state"), state).unwrap();
            assert_eq!(is_frozen(v1.path(), "/berth/c1"), frozen, "{state}");
        }
        assert!(!is_frozen(v1.path(), "/berth/c2"));
        let v2 = tempfile::tempdir().unwrap();
        let dir = v2.path().join("berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.freeze"), "0\n").unwrap();
        assert!(!is_frozen(v2.path(), "/berth/c1"));
        std::fs::write(dir.join("cgroup.freeze"), "1\n").unwrap();
        assert!(is_frozen(v2.path(), "/berth/c1"));
    }

    #[test]
    fn sub_cgroups_go_deepest_first() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("memory/berth/c1");
        for sub in ["a/b/c", "a/d", "e"] {
            std::fs::create_dir_all(own.join(sub)).unwrap();
        }
        std::fs::write(own.join("memory.limit_in_bytes"), "1").unwrap();
        remove_children(&own).unwrap();
        let left: Vec<_> = std::fs::read_dir(&own).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["memory.limit_in_bytes"]);
        remove_children(&root.path().join("memory/berth/none")).unwrap();
    }

    #[test]
    fn pids_limit_reached_v1_and_v2_trees() {
        let v1 = tempfile::tempdir().unwrap();
        let dir = v1.path().join("pids/berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pids.max"), "4\n").unwrap();
        std::fs::write(dir.join("pids.current"), "4\n").unwrap();
        assert_eq!(pids_at_limit(v1.path(), "/berth/c1"), Some(4));
        std::fs::write(dir.join("pids.current"), "3\n").unwrap();
        assert_eq!(pids_at_limit(v1.path(), "/berth/c1"), None);

        let v2 = tempfile::tempdir().unwrap();
        let dir = v2.path().join("berth/c1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pids.max"), "max\n").unwrap();
        std::fs::write(dir.join("pids.current"), "9\n").unwrap();
        assert_eq!(pids_at_limit(v2.path(), "/berth/c1"), None, "no limit is never reached");
        std::fs::write(dir.join("pids.max"), "9\n").unwrap();
        assert_eq!(pids_at_limit(v2.path(), "/berth/c1"), Some(9));
    }

    #[test]
    fn dirs_cover_every_controller() {
        let root = tempfile::tempdir().unwrap();
        for c in ["memory", "pids"] {
            std::fs::create_dir_all(root.path().join(c)).unwrap();
        }
        let dirs = cgroup_dirs(root.path(), "/berth/x");
        assert!(dirs.contains(&root.path().join("berth/x")));
        assert!(dirs.contains(&root.path().join("memory/berth/x")));
        assert!(dirs.contains(&root.path().join("pids/berth/x")));
        assert_eq!(Cgroup::for_container("x").path(), "/berth/x");
    }
}
