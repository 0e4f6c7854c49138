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
            // A syscall has six arguments; the runtime would take a larger index modulo 2^32 and silently
            // compare another argument.
            if let Some(arg) = rule.args.iter().find(|a| a.index > 5) {
                return Err(seccomp.invalid(format!("argument index {} is past a syscall's six", arg.index)));
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
                let (value, value_two) = libcontainer_operands(arg);
                let mut a = LinuxSeccompArgBuilder::default().index(arg.index).value(value).op(arg.op);
                if let Some(value_two) = value_two {
                    a = a.value_two(value_two);
                }
                args.push(a.build().map_err(|err| self.invalid(err.to_string()))?);
            }
            builder = builder.args(args);
        }
        builder.build().map_err(|err| self.invalid(err.to_string()))
    }
}

/// The operands of one argument condition, in the order berth's runtime reads them.
///
/// Docker's `SCMP_CMP_MASKED_EQ` means `(arg & value) == valueTwo`, as libseccomp's `SCMP_CMP(arg, op, mask,
/// datum)` and runc read it. libcontainer 0.7 hands `valueTwo` to libseccomp as the mask and `value` as the
/// datum, so Docker's clone rule `(flags & 0x7E020000) == 0` became `(flags & 0) == 0x7E020000`, which
/// libseccomp reduces to "always": clone with namespace flags passed without CAP_SYS_ADMIN. berth's spec
/// therefore carries masked conditions with the operands swapped; the kernel-level tests below load the filter
/// through libcontainer and make the syscalls, so a libcontainer that changes its reading fails them.
fn libcontainer_operands(arg: &Arg) -> (u64, Option<u64>) {
    match arg.op {
        LinuxSeccompOperator::ScmpCmpMaskedEq => (arg.value_two, Some(arg.value)),
        _ => (arg.value, (arg.value_two != 0).then_some(arg.value_two)),
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
        let err = SeccompProfile::parse(
            "/tmp/p.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":4294967296,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/tmp/p.json") && err.to_string().contains("4294967296"), "{err}");
    }

    const ARM64: Host = Host { go_arch: "arm64", seccomp_arch: Some(Arch::ScmpArchAarch64), ..AMD64 };
    const S390X: Host = Host { go_arch: "s390x", seccomp_arch: Some(Arch::ScmpArchS390x), ..AMD64 };
    const PPC64LE: Host = Host { go_arch: "ppc64le", seccomp_arch: Some(Arch::ScmpArchPpc64le), ..AMD64 };
    const RISCV64: Host = Host { go_arch: "riscv64", seccomp_arch: Some(Arch::ScmpArchRiscv64), ..AMD64 };

    /// A container's capabilities and host, for one side of a conditional rule.
    #[derive(Clone, Copy)]
    struct Setting {
        add: &'static str,
        drop: &'static str,
        host: Host,
    }

    const DEFAULT: Setting = Setting { add: "", drop: "", host: AMD64 };

    const fn with_cap(add: &'static str) -> Setting {
        Setting { add, drop: "", host: AMD64 }
    }

    const fn on(host: Host) -> Setting {
        Setting { add: "", drop: "", host }
    }

    fn translated(setting: Setting) -> LinuxSeccomp {
        let list = |s: &str| s.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect::<Vec<_>>();
        let caps = resolve(&list(setting.add), &list(setting.drop), false).unwrap();
        SeccompProfile::parse("default", DEFAULT_PROFILE).unwrap().to_oci_for(&caps, setting.host).unwrap()
    }

    /// Docker's rule as berth must hand it to libcontainer: same names, action, errno and conditions.
    fn expected(rule: &serde_json::Value) -> LinuxSyscall {
        let names: Vec<String> = serde_json::from_value(rule["names"].clone()).unwrap();
        let action: LinuxSeccompAction = serde_json::from_value(rule["action"].clone()).unwrap();
        let mut b = LinuxSyscallBuilder::default().names(names).action(action);
        if let Some(errno) = rule["errnoRet"].as_u64() {
            b = b.errno_ret(errno as u32);
        }
        if let Some(args) = rule["args"].as_array() {
            let args = args
                .iter()
                .map(|a| {
                    let arg: Arg = serde_json::from_value(a.clone()).unwrap();
                    let (value, value_two) = libcontainer_operands(&arg);
                    let mut b = LinuxSeccompArgBuilder::default().index(arg.index).value(value).op(arg.op);
                    if let Some(v) = value_two {
                        b = b.value_two(v);
                    }
                    b.build().unwrap()
                })
                .collect::<Vec<_>>();
            b = b.args(args);
        }
        b.build().unwrap()
    }

    /// Every conditional rule of Docker's default profile (by its first name and argument, as in the JSON),
    /// with a setting where Docker applies it and one where Docker leaves it out (`None`: always applied).
    const CONDITIONAL: [(&str, Option<u64>, Setting, Option<Setting>); 30] = [
        ("process_vm_readv", None, DEFAULT, Some(Setting { host: Host { kernel: (4, 4), ..AMD64 }, ..DEFAULT })),
        ("socket", Some(40), DEFAULT, None),
        ("personality", Some(0), DEFAULT, None),
        ("personality", Some(8), DEFAULT, None),
        ("personality", Some(131072), DEFAULT, None),
        ("personality", Some(131080), DEFAULT, None),
        ("personality", Some(4294967295), DEFAULT, None),
        ("sync_file_range2", None, on(PPC64LE), Some(DEFAULT)),
        ("arm_fadvise64_64", None, on(ARM64), Some(DEFAULT)),
        ("arch_prctl", None, DEFAULT, Some(on(ARM64))),
        ("modify_ldt", None, DEFAULT, Some(on(ARM64))),
        ("s390_pci_mmio_read", None, on(S390X), Some(DEFAULT)),
        ("riscv_flush_icache", None, on(RISCV64), Some(DEFAULT)),
        ("open_by_handle_at", None, with_cap("DAC_READ_SEARCH"), Some(DEFAULT)),
        ("bpf", None, with_cap("SYS_ADMIN"), Some(DEFAULT)),
        ("clone", Some(2114060288), DEFAULT, Some(with_cap("SYS_ADMIN"))),
        ("clone", Some(2114060288), on(S390X), Some(Setting { add: "SYS_ADMIN", ..on(S390X) })),
        ("clone3", None, DEFAULT, Some(with_cap("SYS_ADMIN"))),
        ("reboot", None, with_cap("SYS_BOOT"), Some(DEFAULT)),
        ("chroot", None, DEFAULT, Some(Setting { drop: "SYS_CHROOT", ..DEFAULT })),
        ("delete_module", None, with_cap("SYS_MODULE"), Some(DEFAULT)),
        ("acct", None, with_cap("SYS_PACCT"), Some(DEFAULT)),
        ("kcmp", None, with_cap("SYS_PTRACE"), Some(DEFAULT)),
        ("iopl", None, with_cap("SYS_RAWIO"), Some(DEFAULT)),
        ("settimeofday", None, with_cap("SYS_TIME"), Some(DEFAULT)),
        ("vhangup", None, with_cap("SYS_TTY_CONFIG"), Some(DEFAULT)),
        ("get_mempolicy", None, with_cap("SYS_NICE"), Some(DEFAULT)),
        ("syslog", None, with_cap("SYSLOG"), Some(DEFAULT)),
        ("bpf", None, with_cap("BPF"), Some(DEFAULT)),
        ("perf_event_open", None, with_cap("PERFMON"), Some(DEFAULT)),
    ];

    #[test]
    fn each_conditional_rule_follows_dockers_conditions() {
        let docker: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let conditional: Vec<&serde_json::Value> = docker["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| ["args", "includes", "excludes"].iter().any(|k| r.get(*k).is_some()))
            .collect();
        assert_eq!(conditional.len(), CONDITIONAL.len(), "a conditional rule of the profile has no row here");
        // The second `clone` row is s390's; the second `bpf` row is CAP_BPF's: rows pair with rules in order.
        for (rule, (name, arg, applied, left_out)) in conditional.iter().zip(CONDITIONAL) {
            assert_eq!(rule["names"][0], name, "rows follow the profile's order");
            assert_eq!(rule["args"][0]["value"].as_u64(), arg, "{name}: row and rule differ");
            let want = expected(rule);
            let holds = |setting: Setting| translated(setting).syscalls().iter().flatten().any(|s| *s == want);
            assert!(holds(applied), "{name} {arg:?}: Docker applies this rule here, berth does not");
            if let Some(left_out) = left_out {
                assert!(!holds(left_out), "{name} {arg:?}: Docker leaves this rule out here, berth keeps it");
            }
        }
    }

    /// What the kernel answers a syscall in a child process that loaded `setting`'s translated profile through
    /// libcontainer, as a container's init does: 0 on success, else the errno.
    fn errno_under(setting: Setting, probe: fn() -> i64) -> i32 {
        let seccomp = translated(setting);
        // SAFETY: the child only sets no_new_privs, loads the filter, makes raw syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: prctl with integer arguments; _exit ends the child without running the parent's state.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(200);
                }
                if libcontainer::seccomp::initialize_seccomp(&seccomp).is_err() {
                    libc::_exit(201);
                }
                let ret = probe();
                let code = if ret < 0 { *libc::__errno_location() } else { 0 };
                libc::_exit(code);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "probe child died: status {status}");
        let code = libc::WEXITSTATUS(status);
        assert!(code < 200, "probe child could not load the profile ({code})");
        code
    }

    /// clone(2) with `flags` and no new stack: the new child leaves at once, the caller reaps it.
    fn clone_with(flags: u64) -> i64 {
        // SAFETY: a fork-like clone; the child _exits immediately.
        unsafe {
            let ret = libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0);
            if ret == 0 {
                libc::_exit(0);
            }
            if ret > 0 {
                libc::waitpid(ret as i32, std::ptr::null_mut(), 0);
            }
            ret
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn argument_conditions_hold_in_the_kernel() {
        let (eperm, enosys) = (libc::EPERM, libc::ENOSYS);
        // SAFETY (each probe): raw syscalls with scalar arguments, or a path the kernel only looks up.
        let plain_clone: fn() -> i64 = || clone_with(0);
        let userns_clone: fn() -> i64 = || clone_with(libc::CLONE_NEWUSER as u64);
        let netns_clone: fn() -> i64 = || clone_with(libc::CLONE_NEWNET as u64);
        let clone3: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
        let vsock: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
        let unix: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0) };
        let query_persona: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) };
        let linux32: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_personality, 8u64) };
        let no_aslr: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_personality, 0x0040000u64) };
        let chroot: fn() -> i64 = || unsafe { libc::syscall(libc::SYS_chroot, c"/berth-no-such-dir".as_ptr()) };

        assert_eq!(errno_under(DEFAULT, plain_clone), 0, "fork-like clone is allowed");
        assert_eq!(errno_under(DEFAULT, userns_clone), eperm, "clone(CLONE_NEWUSER) needs CAP_SYS_ADMIN");
        assert_eq!(errno_under(DEFAULT, netns_clone), eperm, "clone(CLONE_NEWNET) needs CAP_SYS_ADMIN");
        assert_eq!(errno_under(with_cap("SYS_ADMIN"), userns_clone), 0, "with CAP_SYS_ADMIN clone is free");
        assert_eq!(errno_under(DEFAULT, clone3), enosys, "clone3 answers ENOSYS so libc falls back to clone");
        assert_ne!(errno_under(with_cap("SYS_ADMIN"), clone3), enosys, "with CAP_SYS_ADMIN clone3 reaches the kernel");
        assert_eq!(errno_under(DEFAULT, vsock), eperm, "AF_VSOCK sockets are refused");
        assert_eq!(errno_under(DEFAULT, unix), 0, "other sockets are allowed");
        assert_eq!(errno_under(DEFAULT, query_persona), 0, "personality(0xffffffff) queries");
        assert_eq!(errno_under(DEFAULT, linux32), 0, "PER_LINUX32 is allowed");
        assert_eq!(errno_under(DEFAULT, no_aslr), eperm, "ADDR_NO_RANDOMIZE is refused");
        assert_eq!(errno_under(DEFAULT, chroot), libc::ENOENT, "chroot with CAP_SYS_CHROOT reaches the kernel");
        let no_chroot = Setting { drop: "SYS_CHROOT", ..DEFAULT };
        assert_eq!(errno_under(no_chroot, chroot), eperm, "chroot without CAP_SYS_CHROOT is refused");
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel("6.18.0-rc1+\n"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("x"), None);
    }
}
