//! What /proc says about a pid: used to tell a live monitor from a recycled pid.

/// The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is the same process that had `start` as its start time.
pub(crate) fn is_same_process(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid).is_some_and(|s| start == 0 || s == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_field() {
        let stat = "1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_start_time(stat), Some(98765));
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(is_same_process(me, t));
        assert!(!is_same_process(me, t + 1));
        assert!(!is_same_process(0, 0));
    }
}
