//! The monitor's own mount namespace, a slave of the one it started in. The container's overlay, and every
//! mount libcontainer makes while creating the container, then stay out of the host's mount table, which
//! every process that reads `/proc/self/mountinfo` scans line by line: libcontainer's cgroup set-up reads it
//! over a dozen times per start, so with the overlays of a hundred running containers in it a start cost a
//! few milliseconds more than with none. Host mounts made later still reach the monitor (slave), and
//! nothing the monitor mounts reaches the host.
//!
//! What the monitor spawns to outlive it (a network's resolver) goes back to the namespace the monitor
//! started in, so it never holds the monitor's namespace, and the mounts in it, alive.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountPropagationFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::MonitorError;

/// The mount namespace this process started in, once it has left it.
static STARTED_IN: OnceLock<OwnedFd> = OnceLock::new();

/// Moves this process into a mount namespace of its own, a slave of the current one. Must be called while
/// the process is single-threaded (unsharing the mount namespace unshares its filesystem root and cwd).
pub(super) fn enter_own(id: &str) -> Result<(), MonitorError> {
    let fail = |action, source: rustix::io::Errno| MonitorError::Io {
        id: id.to_string(),
        action,
        path: "/proc/self/ns/mnt".into(),
        source: source.into(),
    };
    let started_in = rustix::fs::open("/proc/self/ns/mnt", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| fail("open the mount namespace", e))?;
    // SAFETY: the monitor has started no thread yet, so no other thread shares the root and cwd this
    // changes, nor sees its mount namespace change under it.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }
        .map_err(|e| fail("unshare the mount namespace", e))?;
    rustix::mount::mount_change("/", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
        .map_err(|e| fail("make the mount namespace a slave", e))?;
    let _ = STARTED_IN.set(started_in);
    Ok(())
}

/// The namespace a process this one spawns should join before it runs: the one this process started in,
/// if it left it.
pub(crate) fn started_in() -> Option<BorrowedFd<'static>> {
    STARTED_IN.get().map(|fd| fd.as_fd())
}

/// Joins the mount namespace `ns`; for a freshly forked, single-threaded child before its exec.
pub(crate) fn join(ns: BorrowedFd<'_>) -> std::io::Result<()> {
    Ok(rustix::thread::move_into_link_name_space(ns, Some(LinkNameSpaceType::Mount))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (the namespace change is the whole process's): a mount made after `enter_own` is
    /// not in the namespace it left, and a child process that joins that one again does not see it.
    #[test]
    fn mounts_stay_in_the_own_namespace_and_a_spawned_child_leaves_it() {
        if !crate::testing::require_root("mounts_stay_in_the_own_namespace_and_a_spawned_child_leaves_it") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::create_dir(&target).unwrap();
        let visible = |path: &std::path::Path| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            info.lines().any(|l| l.split(' ').nth(4) == Some(&*path.to_string_lossy()))
        };
        crate::testing::holds_in_child(|| {
            (|| {
                enter_own("test").ok()?;
                rustix::mount::mount("tmpfs", &target, "tmpfs", rustix::mount::MountFlags::empty(), None).ok()?;
                if !visible(&target) {
                    return None;
                }
                let ns = started_in()?.try_clone_to_owned().ok()?;
                let mut child = std::process::Command::new("cat");
                child.arg("/proc/self/mountinfo");
                // SAFETY: setns is async-signal-safe.
                unsafe { std::os::unix::process::CommandExt::pre_exec(&mut child, move || join(ns.as_fd())) };
                let out = child.output().ok()?;
                let seen = String::from_utf8_lossy(&out.stdout).contains(&*target.to_string_lossy());
                Some(out.status.success() && !seen)
            })()
            .unwrap_or(false)
        });
        assert!(!visible(&target), "the mount reached the namespace the child left");
    }
}
