//! Capability sets: Docker's default 14, and the `--cap-add`/`--cap-drop`/`--privileged` rules.

use std::collections::HashSet;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, Capability};

use super::RuntimeError;

/// The capabilities Docker grants a container by default.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the spec knows, for `--privileged` and `--cap-add ALL`.
const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::AuditControl,
    Capability::AuditRead,
    Capability::AuditWrite,
    Capability::BlockSuspend,
    Capability::Bpf,
    Capability::CheckpointRestore,
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::Kill,
    Capability::Lease,
    Capability::LinuxImmutable,
    Capability::MacAdmin,
    Capability::MacOverride,
    Capability::Mknod,
    Capability::NetAdmin,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetRaw,
    Capability::Perfmon,
    Capability::Setgid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysChroot,
    Capability::SysModule,
    Capability::SysNice,
    Capability::SysPacct,
    Capability::SysPtrace,
    Capability::SysRawio,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Syslog,
    Capability::WakeAlarm,
];

/// Parses `NET_ADMIN`, `net_admin` or `CAP_NET_ADMIN`.
pub fn parse_capability(name: &str) -> Result<Capability, RuntimeError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    Capability::from_str(bare).map_err(|_| RuntimeError::UnknownCapability { name: name.to_string() })
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// The capabilities this process can hand on: every known one that is in its bounding set. Root may lack
/// some (here CAP_SYS_RESOURCE), and asking the kernel for one we lack fails the container.
fn available() -> HashSet<Capability> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask =
        status.lines().find_map(|l| l.strip_prefix("CapBnd:")).and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match mask {
        Some(mask) => ALL_CAPABILITIES.into_iter().filter(|c| mask & (1u64 << bit(*c)) != 0).collect(),
        None => ALL_CAPABILITIES.into_iter().collect(),
    }
}

/// The effective capability set, by Docker's rules: `ALL` in `add` starts from every capability,
/// `ALL` in `drop` starts from none, otherwise from the defaults; then named drops, then named adds.
/// "Every capability" means every one this process has (`--privileged` too).
pub(crate) fn resolve(add: &[String], drop: &[String], privileged: bool) -> Result<Capabilities, RuntimeError> {
    resolve_from(add, drop, privileged, available())
}

fn resolve_from(
    add: &[String],
    drop: &[String],
    privileged: bool,
    all: HashSet<Capability>,
) -> Result<Capabilities, RuntimeError> {
    if privileged {
        return Ok(all);
    }
    let mut set: HashSet<Capability> = if add.iter().any(|c| is_all(c)) {
        all
    } else if drop.iter().any(|c| is_all(c)) {
        HashSet::new()
    } else {
        DEFAULT_CAPABILITIES.into_iter().collect()
    };
    for name in drop.iter().filter(|c| !is_all(c)) {
        set.remove(&parse_capability(name)?);
    }
    for name in add.iter().filter(|c| !is_all(c)) {
        set.insert(parse_capability(name)?);
    }
    Ok(set)
}

/// The kernel's capability number, as in the `Cap*` masks of /proc/<pid>/status.
fn bit(cap: Capability) -> u32 {
    match cap {
        Capability::Chown => 0,
        Capability::DacOverride => 1,
        Capability::DacReadSearch => 2,
        Capability::Fowner => 3,
        Capability::Fsetid => 4,
        Capability::Kill => 5,
        Capability::Setgid => 6,
        Capability::Setuid => 7,
        Capability::Setpcap => 8,
        Capability::LinuxImmutable => 9,
        Capability::NetBindService => 10,
        Capability::NetBroadcast => 11,
        Capability::NetAdmin => 12,
        Capability::NetRaw => 13,
        Capability::IpcLock => 14,
        Capability::IpcOwner => 15,
        Capability::SysModule => 16,
        Capability::SysRawio => 17,
        Capability::SysChroot => 18,
        Capability::SysPtrace => 19,
        Capability::SysPacct => 20,
        Capability::SysAdmin => 21,
        Capability::SysBoot => 22,
        Capability::SysNice => 23,
        Capability::SysResource => 24,
        Capability::SysTime => 25,
        Capability::SysTtyConfig => 26,
        Capability::Mknod => 27,
        Capability::Lease => 28,
        Capability::AuditWrite => 29,
        Capability::AuditControl => 30,
        Capability::Setfcap => 31,
        Capability::MacOverride => 32,
        Capability::MacAdmin => 33,
        Capability::Syslog => 34,
        Capability::WakeAlarm => 35,
        Capability::BlockSuspend => 36,
        Capability::AuditRead => 37,
        Capability::Perfmon => 38,
        Capability::Bpf => 39,
        Capability::CheckpointRestore => 40,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers_fourteen() {
        let set = resolve(&[], &[], false).unwrap();
        assert_eq!(set.len(), 14);
        let mask: u64 = set.iter().map(|c| 1u64 << bit(*c)).sum();
        // Docker's CapEff inside a default container.
        assert_eq!(mask, 0x00000000a80425fb);
    }

    #[test]
    fn available_caps_follow_the_bounding_set() {
        let have = available();
        assert!(!have.is_empty());
        assert!(have.iter().all(|c| ALL_CAPABILITIES.contains(c)));
    }

    #[test]
    fn parse_accepts_docker_spellings() {
        assert_eq!(parse_capability("net_admin").unwrap(), Capability::NetAdmin);
        assert_eq!(parse_capability("CAP_SYS_ADMIN").unwrap(), Capability::SysAdmin);
        assert!(matches!(parse_capability("FLY"), Err(RuntimeError::UnknownCapability { name }) if name == "FLY"));
    }

    #[test]
    fn add_and_drop_follow_docker_rules() {
        let set = resolve(&names(&["NET_ADMIN"]), &names(&["chown", "CAP_KILL"]), false).unwrap();
        assert!(set.contains(&Capability::NetAdmin));
        assert!(!set.contains(&Capability::Chown) && !set.contains(&Capability::Kill));
        assert_eq!(set.len(), 13);

        let only = resolve(&names(&["KILL"]), &names(&["ALL"]), false).unwrap();
        assert_eq!(only.into_iter().collect::<Vec<_>>(), vec![Capability::Kill]);

        let every: HashSet<Capability> = ALL_CAPABILITIES.into_iter().collect();
        let most = resolve_from(&names(&["all"]), &names(&["SYS_ADMIN"]), false, every.clone()).unwrap();
        assert_eq!(most.len(), 40);
        assert!(!most.contains(&Capability::SysAdmin));

        assert_eq!(resolve_from(&[], &names(&["ALL"]), true, every).unwrap().len(), 41);
        let limited: HashSet<Capability> = [Capability::Kill, Capability::Chown].into_iter().collect();
        assert_eq!(resolve_from(&[], &[], true, limited.clone()).unwrap(), limited);
        assert!(resolve(&names(&["BOGUS"]), &[], false).is_err());
    }
}
