//! `update`: new limits for a container, written to its cgroup when it runs and recorded so every later
//! start applies them too, and a new restart policy, which the monitor reads at the next exit.

use std::path::{Path, PathBuf};

use super::cgroup::Cgroup;
use super::records::Records;
use super::{ContainerError, ContainerRecord};
use crate::runtime::{RestartPolicy, RuntimeError, parse_cpus, parse_memory};
use crate::{Engine, Error};

/// `berth update`'s flags as text; `None` leaves that setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateFlags {
    pub memory: Option<String>,
    /// Memory plus swap; `-1` is unlimited swap.
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<String>,
    pub restart: Option<String>,
}

/// Parsed [`UpdateFlags`]: each outer `Some` is a change, an inner `None` removes the limit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub memory: Option<Option<i64>>,
    pub memory_swap: Option<Option<i64>>,
    pub cpus: Option<Option<f64>>,
    pub pids_limit: Option<Option<i64>>,
    pub restart: Option<RestartPolicy>,
}

impl Update {
    /// Parses the flags as `run` does; Docker's `update` wants at least one.
    pub fn from_flags(flags: &UpdateFlags) -> Result<Update, Error> {
        if *flags == UpdateFlags::default() {
            return Err(ContainerError::NothingToUpdate.into());
        }
        let swap = |text: &str| -> Result<Option<i64>, RuntimeError> {
            match text.trim() {
                "-1" => Ok(None),
                t => parse_memory(t).map_err(|_| RuntimeError::InvalidOption {
                    option: "--memory-swap",
                    value: text.to_string(),
                    reason: "expected a size such as 1g, or -1 for unlimited swap".to_string(),
                }),
            }
        };
        let pids = |text: &str| -> Result<Option<i64>, RuntimeError> {
            let n = text.trim().parse::<i64>().map_err(|_| RuntimeError::InvalidOption {
                option: "--pids-limit",
                value: text.to_string(),
                reason: "expected a whole number".to_string(),
            })?;
            Ok(Some(n).filter(|n| *n > 0))
        };
        Ok(Update {
            memory: flags.memory.as_deref().map(parse_memory).transpose()?,
            memory_swap: flags.memory_swap.as_deref().map(swap).transpose()?,
            cpus: flags.cpus.as_deref().map(parse_cpus).transpose()?,
            pids_limit: flags.pids_limit.as_deref().map(pids).transpose()?,
            restart: flags.restart.as_deref().map(|r| RestartPolicy::parse(r.trim())).transpose()?,
        })
    }
}

impl Engine {
    /// Applies `update` to one container: checked as Docker checks it, written to the cgroup of a
    /// running container, then recorded.
    pub fn update_container(&self, name_or_id: &str, update: &Update) -> Result<ContainerRecord, Error> {
        let mut rec = self.container(name_or_id)?;
        let o = &mut rec.options;
        if update.restart.is_some_and(|r| r != RestartPolicy::No) && o.auto_remove {
            return Err(ContainerError::UpdateRefused {
                id: rec.id.clone(),
                reason: "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
            }
            .into());
        }
        let memory = update.memory.unwrap_or(o.memory);
        let swap = update.memory_swap.unwrap_or(o.memory_swap);
        if let (Some(memory), Some(swap)) = (memory, swap)
            && swap < memory
        {
            let reason = match update.memory_swap {
                Some(_) => "Minimum memoryswap limit should be larger than memory limit, see usage",
                None => {
                    "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
                }
            };
            return Err(ContainerError::UpdateRefused { id: rec.id.clone(), reason: reason.into() }.into());
        }
        if update.memory_swap.is_some_and(|s| s.is_some()) && memory.is_none() {
            return Err(ContainerError::UpdateRefused {
                id: rec.id.clone(),
                reason: "You should always set the Memory limit when using Memoryswap limit".into(),
            }
            .into());
        }
        o.memory = memory;
        o.memory_swap = swap;
        if let Some(cpus) = update.cpus {
            o.cpus = cpus;
        }
        if let Some(pids) = update.pids_limit {
            o.pids_limit = pids;
        }
        if let Some(restart) = update.restart {
            o.restart = restart;
        }
        o.validate()?;
        if rec.status.is_active() && rec.pid > 0 {
            let dir = Cgroup::for_container(&rec.id).path();
            write_limits(Path::new(CGROUP_ROOT), &dir, update, &rec.options)
                .map_err(|message| ContainerError::Cgroup { id: rec.id.clone(), message })?;
        }
        Records::new(self.store()).set_options(&rec.id, &rec.options)?;
        crate::journal::record_container(self.root(), &rec, crate::journal::container_event(&rec, "update"));
        Ok(rec)
    }
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// CFS period berth uses for `--cpus` (the spec's too).
const CPU_PERIOD: u64 = 100_000;

/// Writes the changed limits into the cgroup at `cgroup` (e.g. `/berth/<id>`) under `root`: the unified
/// hierarchy's files when `root` is cgroup v2, else each v1 controller's.
fn write_limits(root: &Path, cgroup: &str, update: &Update, o: &crate::runtime::RunOptions) -> Result<(), String> {
    let rel = cgroup.trim_start_matches('/');
    let v2 = root.join("cgroup.controllers").exists();
    let at = |controller: &str, file: &str| -> PathBuf {
        match v2 {
            true => root.join(rel).join(file),
            false => root.join(controller).join(rel).join(file),
        }
    };
    let write = |path: PathBuf, value: String| {
        std::fs::write(&path, &value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
    };
    if update.memory.is_some() || update.memory_swap.is_some() {
        let memory = o.memory;
        if v2 {
            write(at("memory", "memory.max"), memory.map_or("max".into(), |m| m.to_string()))?;
            let swap = match (o.memory_swap, memory) {
                (Some(total), Some(m)) => (total - m).to_string(),
                _ => "max".into(),
            };
            if update.memory_swap.is_some() {
                write(at("memory", "memory.swap.max"), swap)?;
            }
        } else {
            let mem = (at("memory", "memory.limit_in_bytes"), memory.unwrap_or(-1).to_string());
            let memsw_path = at("memory", "memory.memsw.limit_in_bytes");
            // memory + swap may never be under memory: raising goes swap first, lowering memory first.
            match update.memory_swap.is_some() && memsw_path.exists() {
                true => {
                    let memsw = (memsw_path, o.memory_swap.unwrap_or(-1).to_string());
                    if write(mem.0.clone(), mem.1.clone()).is_err() {
                        write(memsw.0.clone(), memsw.1.clone())?;
                        write(mem.0, mem.1)?;
                    } else {
                        write(memsw.0, memsw.1)?;
                    }
                }
                false => write(mem.0, mem.1)?,
            }
        }
    }
    if update.cpus.is_some() {
        let quota = o.cpus.map(|c| (c * CPU_PERIOD as f64).round() as i64);
        if v2 {
            write(at("cpu", "cpu.max"), format!("{} {CPU_PERIOD}", quota.map_or("max".into(), |q| q.to_string())))?;
        } else {
            write(at("cpu", "cpu.cfs_period_us"), CPU_PERIOD.to_string())?;
            write(at("cpu", "cpu.cfs_quota_us"), quota.unwrap_or(-1).to_string())?;
        }
    }
    if update.pids_limit.is_some() {
        write(at("pids", "pids.max"), o.pids_limit.map_or("max".into(), |p| p.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut UpdateFlags)) -> UpdateFlags {
        let mut flags = UpdateFlags::default();
        f(&mut flags);
        flags
    }

    #[test]
    fn update_flags_parse_like_docker() {
        assert!(Update::from_flags(&UpdateFlags::default()).unwrap_err().to_string().contains("one or more flags"));
        let u = Update::from_flags(&flags(|f| {
            f.memory = Some("64m".into());
            f.memory_swap = Some("-1".into());
            f.pids_limit = Some("-1".into());
            f.restart = Some("always".into());
        }))
        .unwrap();
        assert_eq!(u.memory, Some(Some(64 << 20)));
        assert_eq!((u.memory_swap, u.pids_limit, u.cpus), (Some(None), Some(None), None));
        assert_eq!(u.restart, Some(RestartPolicy::Always));
        for (f, flag) in [
            (flags(|f| f.memory = Some("lots".into())), "--memory"),
            (flags(|f| f.memory_swap = Some("x".into())), "--memory-swap"),
            (flags(|f| f.cpus = Some("x".into())), "--cpus"),
            (flags(|f| f.pids_limit = Some("x".into())), "--pids-limit"),
            (flags(|f| f.restart = Some("often".into())), "--restart"),
        ] {
            assert!(Update::from_flags(&f).unwrap_err().to_string().contains(flag), "{flag}");
        }
    }

    #[test]
    fn limits_go_to_the_v1_or_v2_files() {
        let o = crate::runtime::RunOptions {
            memory: Some(32 << 20),
            cpus: Some(0.5),
            pids_limit: None,
            ..Default::default()
        };
        let update = Update { memory: Some(o.memory), cpus: Some(o.cpus), pids_limit: Some(None), ..Update::default() };
        let v1 = tempfile::tempdir().unwrap();
        for c in ["memory", "cpu", "pids"] {
            std::fs::create_dir_all(v1.path().join(c).join("berth/c1")).unwrap();
        }
        write_limits(v1.path(), "/berth/c1", &update, &o).unwrap();
        let read = |p: &str| std::fs::read_to_string(v1.path().join(p)).unwrap();
        assert_eq!(read("memory/berth/c1/memory.limit_in_bytes"), (32 << 20).to_string());
        assert_eq!(read("cpu/berth/c1/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("pids/berth/c1/pids.max"), "max");
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "memory cpu pids").unwrap();
        std::fs::create_dir_all(v2.path().join("berth/c1")).unwrap();
        write_limits(v2.path(), "/berth/c1", &update, &o).unwrap();
        let read = |p: &str| std::fs::read_to_string(v2.path().join("berth/c1").join(p)).unwrap();
        assert_eq!(read("memory.max"), (32 << 20).to_string());
        assert_eq!(read("cpu.max"), "50000 100000");
    }
}
