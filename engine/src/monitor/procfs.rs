//! What /proc says about a pid: used to tell a live monitor from a recycled pid.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{LazyLock, Mutex};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal};

/// The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// The state letter (field 3) and start time (field 22) of a stat line.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Pidfds of processes found alive, by pid and start time, so a long-lived berth (the TUI lists every
/// second) checks a known monitor with one poll instead of reading its /proc stat each time. Bounded, so
/// a root with very many containers cannot use up the descriptor limit; beyond it checks read /proc.
static WATCHED: LazyLock<Mutex<HashMap<(i32, u64), OwnedFd>>> = LazyLock::new(Mutex::default);
const WATCHED_MAX: usize = 256;

/// Whether `pid` is still the live process that had `start` as its start time, or, when `ino` is known, the
/// pidfs inode `ino`. A zombie (dead, not yet reaped by init) counts as gone.
pub(crate) fn is_same_process(pid: i32, start: u64, ino: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let mut watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(fd) = watched.get(&(pid, start)) {
        if has_exited(fd) {
            watched.remove(&(pid, start));
            return false;
        }
        return true;
    }
    // The pidfd is taken before /proc is read: if the stat then shows the same process, the pidfd is it.
    let pidfd = pidfd_open(pid).ok();
    let alive = if ino != 0 {
        // A pidfs inode names one process for the whole boot, so no /proc read is needed (one costs ~50 us,
        // a `ps` of many running containers made one per container).
        pidfd.as_ref().is_some_and(|fd| pidfs_ino(fd) == Some(ino) && !has_exited(fd))
    } else {
        let Some((state, started)) =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat)
        else {
            return false;
        };
        !matches!(state, 'Z' | 'X') && (start == 0 || started == start)
    };
    // The inode's check has polled the pidfd already; the stat's may be a moment older than the exit.
    if let Some(fd) = pidfd.filter(|fd| alive && (ino != 0 || !has_exited(fd)))
        && watched.len() < WATCHED_MAX
    {
        watched.insert((pid, start), fd);
    }
    alive
}

/// The pidfs inode of the process a pidfd refers to: unique among the processes of one boot, where pids are
/// reused. None on kernels before 6.9, whose pidfds are anonymous inodes that all share one number.
fn pidfs_ino(pidfd: &OwnedFd) -> Option<u64> {
    const PIDFS_MAGIC: u64 = 0x5049_4446;
    let on_pidfs = rustix::fs::fstatfs(pidfd).is_ok_and(|fs| fs.f_type as u64 == PIDFS_MAGIC);
    on_pidfs.then(|| rustix::fs::fstat(pidfd).ok().map(|st| st.st_ino)).flatten()
}

/// This process's pidfs inode (see [`pidfs_ino`]); 0 when the kernel has none.
pub(crate) fn own_pidfs_ino() -> u64 {
    pidfd_open(std::process::id() as i32).ok().as_ref().and_then(pidfs_ino).unwrap_or(0)
}

/// A descriptor for the process `pid` (close-on-exec), which stays its own however the pid is reused.
pub(crate) fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or_else(|| std::io::Error::from(rustix::io::Errno::SRCH))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// A pidfd polls readable once its process has exited (zombie or reaped). A failed poll says nothing, and
/// reads as alive: a container is never marked dead on a doubt.
fn has_exited(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// Sends `signal` to `pid` only while it is the process that started at `start` (clock ticks since boot,
/// as recorded when berth started it). The signal goes through a pidfd opened before /proc is checked, so
/// a pid reused after the check cannot receive it. Returns whether the signal was sent; a process that is
/// gone, a zombie or another process under the same pid is not signalled.
pub(crate) fn signal_process(pid: i32, start: u64, signal: Signal) -> std::io::Result<bool> {
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(err) if err.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => return Ok(false),
        Err(err) => return Err(err),
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Ok(false);
    };
    if !is_started_at(&stat, start) {
        return Ok(false);
    }
    match rustix::process::pidfd_send_signal(&pidfd, signal) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Whether a stat line is of a live process that started at `start`.
fn is_started_at(stat: &str, start: u64) -> bool {
    matches!(parse_stat(stat), Some((state, started)) if !matches!(state, 'Z' | 'X') && started == start)
}

/// A signal number berth accepted (1..=64, as `parse_signal` checks) as rustix's type.
pub(crate) fn to_signal(signal: i32) -> Option<Signal> {
    if !(1..=64).contains(&signal) {
        return None;
    }
    // Real-time signals have no name in rustix. SAFETY: the number is a valid Linux signal, and it is only
    // ever sent to another process, never installed as a handler here, so libc's reserved signals are safe.
    Some(Signal::from_named_raw(signal).unwrap_or_else(|| unsafe { Signal::from_raw_unchecked(signal) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_that_exits_is_gone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        assert!(is_same_process(pid, start, 0));
        assert!(WATCHED.lock().unwrap().contains_key(&(pid, start)), "now watched by pidfd");
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_same_process(pid, start, 0) {
            assert!(std::time::Instant::now() < deadline, "a killed child still reads alive");
        }
        child.wait().unwrap();
        assert!(!is_same_process(pid, start, 0));
    }

    #[test]
    fn the_pidfs_inode_decides_without_reading_proc() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let Some(ino) = pidfs_ino(&pidfd_open(pid).unwrap()) else {
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI's kernel (6.9+) has pidfs");
            eprintln!("SKIPPED the_pidfs_inode_decides_without_reading_proc: this kernel has no pidfs");
            return;
        };
        assert_ne!(own_pidfs_ino(), ino, "each process has its own inode");
        // Start times that match nothing: only the inode can make these true.
        assert!(is_same_process(pid, u64::MAX - 1, ino));
        assert!(!is_same_process(pid, u64::MAX - 2, ino + 1), "another inode under the same pid");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_same_process(pid, u64::MAX - 3, ino), "a reaped process is gone");
    }

    #[test]
    fn a_reused_pid_is_never_signalled() {
        let stat = |start: u64, state: char| {
            format!("1234 (sleep) {state} 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 200")
        };
        assert!(is_started_at(&stat(500, 'S'), 500));
        assert!(!is_started_at(&stat(501, 'S'), 500), "another process under the recorded pid");
        assert!(!is_started_at(&stat(500, 'Z'), 500), "a zombie takes no signal");
        assert!(!is_started_at(&stat(500, 'S'), 0), "an unknown start time matches nothing");
        assert!(!is_started_at("garbage", 500));
    }

    #[test]
    fn signals_reach_only_the_recorded_process() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        assert!(!signal_process(pid, start + 1, Signal::KILL).unwrap(), "a different start time is refused");
        assert!(child.try_wait().unwrap().is_none(), "the refused signal did not arrive");
        assert!(signal_process(pid, start, Signal::KILL).unwrap());
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
        assert!(!signal_process(pid, start, Signal::KILL).unwrap(), "a reaped process is gone");
    }

    #[test]
    fn signal_numbers_convert() {
        assert_eq!(to_signal(9), Some(Signal::KILL));
        assert_eq!(to_signal(40).map(Signal::as_raw), Some(40));
        assert_eq!(to_signal(0), None);
        assert_eq!(to_signal(65), None);
    }

    #[test]
    fn start_time_field() {
        let stat = "1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        let zombie = "7 (z) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 1000 200";
        assert_eq!(parse_stat(zombie), Some(('Z', 5)));
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_same_process(me, t, 0));
        assert!(is_same_process(me, t, 0), "a watched process reads alive again");
        assert!(!is_same_process(me, t + 1, 0));
        assert!(!is_same_process(0, 0, 0));
    }
}
