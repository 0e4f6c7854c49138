//! Seccomp profiles in Docker's JSON format, converted to the OCI spec's seccomp section.
//!
//! Docker's format has conditions the OCI spec lacks (`includes`/`excludes` by capability,
//! architecture and kernel version), so each rule is resolved against the container's capability set,
//! the host architecture and the running kernel when the spec is generated.

use oci_spec::runtime::{
    Arch, Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::RuntimeError;
use super::caps::parse_capability;

/// Docker's default profile, shipped in `assets/seccomp-default.json`.
pub const DEFAULT_PROFILE: &str = include_str!("../../../assets/seccomp-default.json");

/// A parsed Docker-format profile, remembered with where it came from for error messages.
#[derive(Debug, Clone)]
pub struct SeccompProfile {
    source_name: String,
    profile: DockerProfile,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    architectures: Vec<Arch>,
    #[serde(default)]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    name: Option<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: LinuxSeccompOperator,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    min_kernel: Option<String>,
}

/// The host facts a Docker profile's conditions are evaluated against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Host {
    /// Go's architecture name, as Docker profiles spell it (`amd64`, `arm64`).
    pub(crate) go_arch: &'static str,
    pub(crate) seccomp_arch: Option<Arch>,
    pub(crate) kernel: (u32, u32),
}

impl Host {
    /// The machine this process runs on.
    pub(crate) fn current() -> Host {
        let (go_arch, seccomp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
            "x86" => ("386", Some(Arch::ScmpArchX86)),
            "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
            "arm" => ("arm", Some(Arch::ScmpArchArm)),
            "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
            "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
            "powerpc64" => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
            other => (other, None),
        };
        Host { go_arch, seccomp_arch, kernel: kernel_version() }
    }
}

fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_kernel(&release).unwrap_or((0, 0))
}

fn parse_kernel(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl SeccompProfile {
    /// Parses a profile in Docker's JSON format; `source_name` names it in errors (a file path or "default").
    pub fn parse(source_name: &str, json: &str) -> Result<SeccompProfile, RuntimeError> {
        let profile: DockerProfile = serde_json::from_str(json).map_err(|err| RuntimeError::SeccompProfile {
            source_name: source_name.to_string(),
            reason: err.to_string(),
        })?;
        let seccomp = SeccompProfile { source_name: source_name.to_string(), profile };
        for rule in &seccomp.profile.syscalls {
            for cap in rule.includes.caps.iter().chain(&rule.excludes.caps) {
                parse_capability(cap).map_err(|_| seccomp.invalid(format!("unknown capability {cap:?}")))?;
            }
            if rule.names.is_empty() && rule.name.is_none() {
                return Err(seccomp.invalid("a syscall rule has no names".to_string()));
            }
        }
        Ok(seccomp)
    }

    fn invalid(&self, reason: String) -> RuntimeError {
        RuntimeError::SeccompProfile { source_name: self.source_name.clone(), reason }
    }

    /// The OCI seccomp section for a container with capabilities `caps` on the current host.
    pub fn to_oci(&self, caps: &Capabilities) -> Result<LinuxSeccomp, RuntimeError> {
        self.to_oci_for(caps, Host::current())
    }

    pub(crate) fn to_oci_for(&self, caps: &Capabilities, host: Host) -> Result<LinuxSeccomp, RuntimeError> {
        let p = &self.profile;
        let mut architectures = p.architectures.clone();
        if let Some(native) = host.seccomp_arch {
            for entry in p.arch_map.iter().filter(|m| m.architecture == native) {
                architectures.push(entry.architecture);
                architectures.extend(entry.sub_architectures.iter().flatten().copied());
            }
        }
        let mut syscalls = Vec::new();
        for rule in &p.syscalls {
            if self.applies(&rule.includes, &rule.excludes, caps, host)? {
                syscalls.push(self.convert(rule)?);
            }
        }
        let mut builder = LinuxSeccompBuilder::default()
            .default_action(p.default_action)
            .architectures(architectures)
            .syscalls(syscalls);
        if let Some(errno) = p.default_errno_ret {
            builder = builder.default_errno_ret(errno);
        }
        if !p.flags.is_empty() {
            builder = builder.flags(p.flags.clone());
        }
        builder.build().map_err(|err| self.invalid(err.to_string()))
    }

    /// Docker's rule conditions: every `includes` condition must hold and no `excludes` condition may.
    fn applies(
        &self,
        includes: &Filter,
        excludes: &Filter,
        caps: &Capabilities,
        host: Host,
    ) -> Result<bool, RuntimeError> {
        for cap in &includes.caps {
            if !caps.contains(&parse_capability(cap)?) {
                return Ok(false);
            }
        }
        if !includes.arches.is_empty() && !includes.arches.iter().any(|a| a == host.go_arch) {
            return Ok(false);
        }
        if let Some(min) = &includes.min_kernel {
            let wanted = parse_kernel(min).ok_or_else(|| self.invalid(format!("bad minKernel {min:?}")))?;
            if host.kernel < wanted {
                return Ok(false);
            }
        }
        for cap in &excludes.caps {
            if caps.contains(&parse_capability(cap)?) {
                return Ok(false);
            }
        }
        if excludes.arches.iter().any(|a| a == host.go_arch) {
            return Ok(false);
        }
        if let Some(min) = &excludes.min_kernel {
            let wanted = parse_kernel(min).ok_or_else(|| self.invalid(format!("bad minKernel {min:?}")))?;
            if host.kernel >= wanted {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn convert(&self, rule: &Rule) -> Result<LinuxSyscall, RuntimeError> {
        let mut names = rule.names.clone();
        names.extend(rule.name.clone());
        let mut builder = LinuxSyscallBuilder::default().names(names).action(rule.action);
        if let Some(errno) = rule.errno_ret {
            builder = builder.errno_ret(errno);
        }
        if !rule.args.is_empty() {
            let mut args = Vec::with_capacity(rule.args.len());
            for arg in &rule.args {
                let mut a = LinuxSeccompArgBuilder::default().index(arg.index).value(arg.value).op(arg.op);
                if arg.value_two != 0 {
                    a = a.value_two(arg.value_two);
                }
                args.push(a.build().map_err(|err| self.invalid(err.to_string()))?);
            }
            builder = builder.args(args);
        }
        builder.build().map_err(|err| self.invalid(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::caps::resolve;
    use super::*;

    const AMD64: Host = Host { go_arch: "amd64", seccomp_arch: Some(Arch::ScmpArchX86_64), kernel: (6, 1) };

    fn allowed(seccomp: &LinuxSeccomp, name: &str) -> bool {
        seccomp.syscalls().iter().flatten().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.names().iter().any(|n| n == name)
                && s.args().as_ref().is_none_or(|a| a.is_empty())
        })
    }

    #[test]
    fn default_profile_matches_docker_for_default_caps() {
        let profile = SeccompProfile::parse("default", DEFAULT_PROFILE).unwrap();
        let caps = resolve(&[], &[], false).unwrap();
        let oci = profile.to_oci_for(&caps, AMD64).unwrap();
        assert_eq!(oci.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(oci.default_errno_ret(), Some(1));
        assert_eq!(
            oci.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        for name in ["read", "execve", "arch_prctl", "ptrace", "chroot"] {
            assert!(allowed(&oci, name), "{name} should be allowed");
        }
        for name in ["mount", "unshare", "reboot", "bpf", "init_module", "clone3"] {
            assert!(!allowed(&oci, name), "{name} should be refused");
        }
        let clone3 = oci.syscalls().iter().flatten().find(|s| s.names().iter().any(|n| n == "clone3")).unwrap();
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3.errno_ret(), Some(38));
        // s390 and arm-only rules stay out on amd64.
        assert!(!allowed(&oci, "s390_runtime_instr"));
        assert!(!allowed(&oci, "breakpoint"));
    }

    #[test]
    fn sys_admin_opens_mount_and_drops_clone_filter() {
        let profile = SeccompProfile::parse("default", DEFAULT_PROFILE).unwrap();
        let caps = resolve(&["SYS_ADMIN".to_string()], &[], false).unwrap();
        let oci = profile.to_oci_for(&caps, AMD64).unwrap();
        assert!(allowed(&oci, "mount"));
        assert!(allowed(&oci, "clone3"));
        let chroot_gone = resolve(&[], &["SYS_CHROOT".to_string()], false).unwrap();
        assert!(!allowed(&profile.to_oci_for(&chroot_gone, AMD64).unwrap(), "chroot"));
    }

    #[test]
    fn min_kernel_is_honoured() {
        let profile = SeccompProfile::parse("default", DEFAULT_PROFILE).unwrap();
        let caps = resolve(&[], &[], false).unwrap();
        let old = Host { kernel: (4, 4), ..AMD64 };
        assert!(!allowed(&profile.to_oci_for(&caps, old).unwrap(), "ptrace"));
    }

    #[test]
    fn args_are_carried_over() {
        let profile = SeccompProfile::parse("default", DEFAULT_PROFILE).unwrap();
        let oci = profile.to_oci_for(&resolve(&[], &[], false).unwrap(), AMD64).unwrap();
        let socket = oci.syscalls().iter().flatten().find(|s| s.names() == &vec!["socket".to_string()]).unwrap();
        let arg = socket.args().as_ref().unwrap()[0];
        assert_eq!((arg.index(), arg.value(), arg.op()), (0, 40, LinuxSeccompOperator::ScmpCmpNe));
    }

    #[test]
    fn bad_profiles_are_named() {
        let err = SeccompProfile::parse("/tmp/p.json", "{").unwrap_err();
        assert!(err.to_string().contains("/tmp/p.json"), "{err}");
        let err = SeccompProfile::parse(
            "x",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_NOPE"]}}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("CAP_NOPE"), "{err}");
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel("6.18.0-rc1+\n"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("x"), None);
    }
}
