//! What /proc says about a pid: used to tell a live monitor from a recycled pid.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{LazyLock, Mutex};

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

/// Whether `pid` is still the live process that had `start` as its start time. A zombie (dead, not yet
/// reaped by init) counts as gone.
pub(crate) fn is_same_process(pid: i32, start: u64) -> bool {
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
    let Some((state, started)) =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat)
    else {
        return false;
    };
    let alive = !matches!(state, 'Z' | 'X') && (start == 0 || started == start);
    if let Some(fd) = pidfd.filter(|fd| alive && !has_exited(fd))
        && watched.len() < WATCHED_MAX
    {
        watched.insert((pid, start), fd);
    }
    alive
}

/// A descriptor for the process `pid` (close-on-exec), which stays its own however the pid is reused.
pub(crate) fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A pidfd polls readable once its process has exited (zombie or reaped). A failed poll says nothing, and
/// reads as alive: a container is never marked dead on a doubt.
fn has_exited(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd, no waiting.
    let ready = unsafe { libc::poll(&mut p, 1, 0) };
    ready > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_that_exits_is_gone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        assert!(is_same_process(pid, start));
        assert!(WATCHED.lock().unwrap().contains_key(&(pid, start)), "now watched by pidfd");
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_same_process(pid, start) {
            assert!(std::time::Instant::now() < deadline, "a killed child still reads alive");
        }
        child.wait().unwrap();
        assert!(!is_same_process(pid, start));
    }

    #[test]
    fn start_time_field() {
        let stat = "1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        let zombie = "7 (z) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 1000 200";
        assert_eq!(parse_stat(zombie), Some(('Z', 5)));
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_same_process(me, t));
        assert!(is_same_process(me, t), "a watched process reads alive again");
        assert!(!is_same_process(me, t + 1));
        assert!(!is_same_process(0, 0));
    }
}
