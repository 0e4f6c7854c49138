//! Keeping the kernel's cgroup migration lock warm while an exec helper or a container starts.
//!
//! Every write to a `cgroup.procs` file takes one host-wide lock for writing (`cgroup_threadgroup_rwsem`,
//! unless the hierarchy is mounted `favordynmods`), and taking it after a quiet spell first waits for an RCU
//! grace period, 8 to 15 ms here; for about one more grace period after its last writer it stays cheap. An
//! exec's process, and a container's init, join their cgroups in libcontainer, the last step before they
//! run, so that wait sat on every exec's and every start's critical path. Moving a process into the cgroup
//! it already is in ("0" names the writer) takes the same lock and changes nothing: a child of the exec
//! helper (or the monitor) does so from the helper's start (the monitor's preparing of the bundle) until
//! the process has joined, so the grace period passes meanwhile and the join finds the lock warm. That first
//! write holds `cgroup_mutex` while it waits, so whatever creates cgroups meanwhile (a container's
//! intermediate process) waits for the rest of the grace period: the earlier it starts, the less is left,
//! which is why a standby monitor starts it at once and the CLI at its start for commands that start
//! containers ([`warm_reaped`]).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The `cgroup.procs` files of the cgroups `/proc/PID/cgroup` names, the unified hierarchy's first.
fn procs_files(text: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(number), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if number == "0" {
            // Hybrid hosts mount the unified hierarchy at `unified`, pure v2 hosts at the root.
            files.insert(0, PathBuf::from("/sys/fs/cgroup/unified").join(path).join("cgroup.procs"));
            files.insert(1, PathBuf::from("/sys/fs/cgroup").join(path).join("cgroup.procs"));
        } else {
            let dir = controllers.trim_start_matches("name=");
            files.push(PathBuf::from("/sys/fs/cgroup").join(dir).join(path).join("cgroup.procs"));
        }
    }
    files
}

/// The first of this process's own `cgroup.procs` files it may write.
fn own_procs_file() -> Option<File> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    procs_files(&text).into_iter().find_map(|path| OpenOptions::new().write(true).open(path).ok())
}

/// How often the exec helper's warming child takes the lock again: well within one grace period, so the
/// lock never cools down while the helper starts.
const REWARM_EVERY: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 4_000_000 };

/// How many times at most; a child whose helper died stops by itself after about a second.
const REWARM_TIMES: usize = 250;

/// A child process keeping the lock warm; stopped and reaped when dropped.
pub(crate) struct Warming(Option<rustix::process::Pid>);

/// Keeps the lock warm from a forked child until the returned guard is dropped (a thread would do for a
/// threaded caller, but the exec helper must stay single-threaded because it forks later): how long the
/// helper or a container's monitor takes from here to the join varies with the machine's load, and one
/// warming lasts only about a grace period.
pub(crate) fn warm() -> Warming {
    let Some(file) = own_procs_file() else { return Warming(None) };
    // libc: rustix offers fork only to libc implementors (its unstable `runtime` module).
    // SAFETY: the child makes only raw system calls, all async-signal-safe, so the fork is sound from a
    // threaded caller too (the monitor) and cannot deadlock.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let fd = file.as_raw_fd() as u32;
        // SAFETY: the child only closes descriptors, writes to an open one, sleeps and exits, all
        // async-signal-safe. It keeps no other descriptor of the helper's: holding the ready pipe or the
        // session socket would hide the helper's end from the engine and its clients.
        // libc: rustix has no close_range.
        unsafe {
            if fd > 0 {
                libc::syscall(libc::SYS_close_range, 0u32, fd - 1, 0u32);
            }
            libc::syscall(libc::SYS_close_range, fd + 1, u32::MAX, 0u32);
            for _ in 0..REWARM_TIMES {
                libc::write(fd as i32, b"0".as_ptr().cast(), 1);
                libc::nanosleep(&REWARM_EVERY, std::ptr::null_mut());
            }
            libc::_exit(0)
        }
    }
    Warming(rustix::process::Pid::from_raw(pid))
}

/// A warming for a process that goes on with other work for long after (a `run` attached to its container,
/// a build): a thread reaps the child the moment it stops, so no zombie stays behind, and it is stopped
/// through a pidfd, which names that process and no other even once it is reaped.
pub struct ReapedWarming(rustix::fd::OwnedFd, Option<std::thread::JoinHandle<()>>);

/// Keeps the lock warm as [`warm`] does, for a caller that may outlive the warming by far: the CLI, from its
/// first moments when its command starts containers, the earlier the better (see the module). It forks and
/// starts a thread, so call it before starting other threads.
pub fn warm_reaped() -> Option<ReapedWarming> {
    let mut warming = warm();
    let pid = warming.0?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    let reaper = std::thread::Builder::new().name("warming".into()).spawn(move || {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    });
    // Without its reaper the child goes with the guard, as from `warm`.
    let reaper = reaper.ok()?;
    warming.0 = None;
    Some(ReapedWarming(pidfd, Some(reaper)))
}

impl Drop for ReapedWarming {
    /// Stops the child and waits until it is reaped, so it is gone before the caller's own exit.
    fn drop(&mut self) {
        let _ = rustix::process::pidfd_send_signal(&self.0, rustix::process::Signal::KILL);
        if let Some(reaper) = self.1.take() {
            let _ = reaper.join();
        }
    }
}

impl Warming {
    /// Whether the child still takes the lock (it stops by itself after `REWARM_TIMES`); one that stopped is
    /// reaped.
    pub(crate) fn still_warming(&mut self) -> bool {
        let Some(pid) = self.0 else { return false };
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
            Ok(None) => true,
            _ => {
                self.0 = None;
                false
            }
        }
    }
}

impl Drop for Warming {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hybrid_host_warms_through_the_unified_hierarchy_first() {
        let text = "9:name=systemd:/\n4:memory:/box/1\n1:cpu,cpuacct:/\n0::/user.slice\n";
        let files: Vec<String> = procs_files(text).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            files,
            [
                "/sys/fs/cgroup/unified/user.slice/cgroup.procs",
                "/sys/fs/cgroup/user.slice/cgroup.procs",
                "/sys/fs/cgroup/systemd/cgroup.procs",
                "/sys/fs/cgroup/memory/box/1/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs",
            ]
        );
    }

    #[test]
    fn warming_moves_nothing_and_leaves_no_child() {
        if !crate::testing::require_root("warming_moves_nothing_and_leaves_no_child") {
            return;
        }
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let warming = warm();
        let pid = warming.0.expect("a warming child on a host with cgroups");
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(std::path::Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists(), "the child keeps warming");
        drop(warming);
        assert!(!std::path::Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists(), "the child is reaped");
        assert_eq!(std::fs::read_to_string("/proc/self/cgroup").unwrap(), before, "no process changed cgroup");
    }

    #[test]
    fn the_warming_child_holds_none_of_its_parents_descriptors() {
        if !crate::testing::require_root("the_warming_child_holds_none_of_its_parents_descriptors") {
            return;
        }
        let warming = warm();
        let pid = warming.0.expect("a warming child on a host with cgroups");
        let fds = format!("/proc/{}/fd", pid.as_raw_nonzero());
        // Alive, the child soon holds only its cgroup.procs file; a child that kept the helper's
        // descriptors never does (it holds many while it lives, none once it exits).
        let only_procs = || {
            let open: Vec<_> = std::fs::read_dir(&fds).map(|d| d.flatten().collect()).unwrap_or_default();
            open.len() == 1 && std::fs::read_link(open[0].path()).is_ok_and(|t| t.ends_with("cgroup.procs"))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !only_procs() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(only_procs(), "the warming child holds other descriptors than its cgroup.procs file");
    }

    #[test]
    fn a_warming_that_stopped_says_so_and_is_reaped() {
        if !crate::testing::require_root("a_warming_that_stopped_says_so_and_is_reaped") {
            return;
        }
        let mut warming = warm();
        let pid = warming.0.expect("a warming child on a host with cgroups");
        assert!(warming.still_warming(), "a new child warms");
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while warming.still_warming() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!warming.still_warming(), "a killed child no longer warms");
        assert!(!std::path::Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists(), "and is reaped");
    }

    #[test]
    fn a_reaped_warming_is_gone_once_dropped() {
        if !crate::testing::require_root("a_reaped_warming_is_gone_once_dropped") {
            return;
        }
        let warming = warm_reaped().expect("a warming child on a host with cgroups");
        let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", warming.0.as_raw_fd())).unwrap();
        let pid = fdinfo.lines().find_map(|l| l.strip_prefix("Pid:")).unwrap().trim().to_string();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists(), "the child warms");
        drop(warming);
        assert!(!proc_dir.exists(), "the stopped child is gone from the process table, zombie included");
    }

    #[test]
    fn a_v2_host_has_only_the_unified_candidates() {
        let files = procs_files("0::/\n");
        assert_eq!(
            files,
            [PathBuf::from("/sys/fs/cgroup/unified/cgroup.procs"), PathBuf::from("/sys/fs/cgroup/cgroup.procs")]
        );
    }
}
