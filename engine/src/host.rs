//! What lifecycle decisions do to the machine, behind one seam (youki's `Syscall` pattern): whether a
//! recorded process still lives, signals through pidfds, the cgroup freezer, and a run's teardown (mounts,
//! cgroup, network endpoints). The engine holds the real one; unit tests drive stop, kill, rm, pause and
//! reconcile through a fake without root.

use std::path::Path;

use rustix::process::Signal;

use crate::container::{Cgroup, ContainerError, ContainerRecord};
use crate::monitor::{cleanup, procfs};
use crate::network::Networks;

pub(crate) trait Host: Send + Sync {
    /// Whether the monitor `rec` names is still the live process that recorded itself.
    fn monitor_alive(&self, rec: &ContainerRecord) -> bool;
    /// The start time of `pid` in clock ticks since boot; `None` when it is gone.
    fn start_time(&self, pid: i32) -> Option<u64>;
    /// Sends `signal` to `pid` only while it is the process that started at `start`; false when it is gone.
    fn signal(&self, pid: i32, start: u64, signal: Signal) -> std::io::Result<bool>;
    /// Freezes or thaws every process of container `id`.
    fn freeze(&self, id: &str, frozen: bool) -> Result<(), ContainerError>;
    /// Removes what a run of `rec` left behind; returns the problems it could not fix.
    fn teardown(&self, networks: &Networks, rec: &ContainerRecord, dir: &Path) -> Vec<String>;
}

/// The machine itself: /proc, pidfds, cgroups, mounts and links.
pub(crate) struct Linux;

impl Host for Linux {
    fn monitor_alive(&self, rec: &ContainerRecord) -> bool {
        procfs::is_same_process(rec.monitor_pid, rec.monitor_start, rec.monitor_ino)
    }

    fn start_time(&self, pid: i32) -> Option<u64> {
        procfs::start_time(pid)
    }

    fn signal(&self, pid: i32, start: u64, signal: Signal) -> std::io::Result<bool> {
        procfs::signal_process(pid, start, signal)
    }

    fn freeze(&self, id: &str, frozen: bool) -> Result<(), ContainerError> {
        Cgroup::for_container(id).freeze(frozen)
    }

    fn teardown(&self, networks: &Networks, rec: &ContainerRecord, dir: &Path) -> Vec<String> {
        cleanup::teardown(networks, rec, dir)
    }
}
