//! `berth top`: the container's processes, read from its cgroup and /proc.

use super::{Cgroup, ContainerError, Status};
use crate::{Engine, Error};

/// One process, as `ps -ef` would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopProcess {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    pub cmd: String,
}

fn process(pid: i32) -> Option<TopProcess> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    let ppid = field("PPid:")?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = if cmdline.is_empty() {
        format!("[{}]", field("Name:").unwrap_or_default())
    } else {
        cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(TopProcess { uid, pid, ppid, cmd })
}

impl Engine {
    /// The container's processes (host pids), sorted by pid.
    pub fn top_container(&self, name_or_id: &str) -> Result<Vec<TopProcess>, Error> {
        let rec = self.container(name_or_id)?;
        if !matches!(rec.status, Status::Running | Status::Paused) {
            return Err(ContainerError::InvalidState {
                name: name_or_id.to_string(),
                status: rec.status,
                action: "list processes",
            }
            .into());
        }
        let mut pids = Cgroup::for_container(&rec.id).pids()?;
        pids.sort_unstable();
        Ok(pids.into_iter().filter_map(process).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let p = process(me).unwrap();
        assert_eq!(p.pid, me);
        assert!(!p.cmd.is_empty());
        assert_eq!(process(-5), None);
    }
}
