//! Seccomp profiles compiled to BPF once and kept in the state root (`ROOT/seccomp/<key>.bpf`), so a container
//! start loads a finished program instead of paying libseccomp's compilation (tens of milliseconds for
//! Docker's profile on its three x86 ABIs) in every container's init.
//!
//! The key is the SHA-256 of the profile (as the OCI spec holds it), the libseccomp version, how it is asked
//! to lay the program out, and the kernel release, so a changed profile, library, layout or kernel compiles
//! again. A cache file carries the key and a checksum of the program; one that does not match (damaged, or
//! written by something else) is compiled again and replaced, never loaded. The program is what libseccomp's
//! own load would hand the kernel: the same translation libcontainer does (actions, architectures, argument
//! comparisons), exported instead of loaded.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
    Process, Spec,
};
use sha2::{Digest, Sha256};

use super::RuntimeError;

/// Where compiled programs live in the state root.
const CACHE_DIR: &str = "seccomp";

/// The first bytes of a cache file, naming its layout.
const MAGIC: &[u8] = b"berth-seccomp-bpf-1\n";

/// libseccomp's optimisation level: 2 lays the syscall numbers out as a binary tree (see `compile`).
const OPTIMIZE: u32 = 2;

/// The kernel's limit on one filter's instructions (BPF_MAXINSNS); each is 8 bytes.
const MAX_INSTRUCTIONS: usize = 4096;

/// A compiled filter and the flags to load it with, ready for the container's init to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// `struct sock_filter` instructions, 8 bytes each, in the kernel's layout.
    program: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` from the profile's flags.
    flags: u32,
}

/// What a container process's executor loads just before the command's exec, and how.
#[derive(Debug, Clone)]
pub(crate) struct Seccomp {
    pub(crate) filter: Filter,
    /// Set no_new_privs first: an exec'd process's capabilities are already dropped, and the kernel lets a
    /// process without CAP_SYS_ADMIN load a filter only with no_new_privs.
    pub(crate) no_new_privs: bool,
    /// Drop CAP_SYS_ADMIN (effective and permitted) once the filter is loaded: the init kept it only for that
    /// (see [`take_for_init`]).
    pub(crate) drop_admin: bool,
}

/// The file beside `config.json` that keeps a container's profile once it is out of the spec, for execs.
const PROFILE_FILE: &str = "seccomp.json";

/// A container's init: takes the seccomp profile out of `spec`, so libcontainer does not compile it in the
/// init, and returns its compiled program for the executor to load just before the command's exec (later
/// than libcontainer would, so fewer of the runtime's own syscalls run under it). libcontainer loads a
/// profile before dropping capabilities, since without no_new_privs only CAP_SYS_ADMIN lets a process load
/// one; so the init keeps CAP_SYS_ADMIN in its effective and permitted sets (never bounding, inheritable or
/// ambient, so the command could not have it after exec anyway) and drops it right after loading. The
/// profile goes to `dir/seccomp.json` for the exec helper. `None`: nothing to load (no profile, or one
/// only libcontainer can load, which stays in the spec).
pub(crate) fn take_for_init(spec: &mut Spec, root: &Path, dir: &Path) -> Result<Option<Seccomp>, RuntimeError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else { return Ok(None) };
    if !precompilable(&profile) {
        return Ok(None);
    }
    let filter = cached(root, &profile)?;
    let json = serde_json::to_vec(&profile).map_err(|e| failed("encode the profile", e))?;
    let path = dir.join(PROFILE_FILE);
    std::fs::write(&path, json).map_err(|e| RuntimeError::io("write", path, e))?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let mut drop_admin = false;
    if let Some(process) = spec.process_mut().as_mut()
        && let Some(mut caps) = process.capabilities().clone()
        && !caps.effective().as_ref().is_some_and(|e| e.contains(&Capability::SysAdmin))
    {
        drop_admin = true;
        let with_admin = |set: &Option<Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(Capability::SysAdmin);
            Some(set)
        };
        caps.set_effective(with_admin(caps.effective()));
        caps.set_permitted(with_admin(caps.permitted()));
        process.set_capabilities(Some(caps));
    }
    Ok(Some(Seccomp { filter, no_new_privs: false, drop_admin }))
}

/// An exec'd process of a container: its profile (from `seccomp.json`, or the spec of a container started
/// before profiles were taken out of it) compiled through the cache, loaded with no_new_privs.
pub(crate) fn for_exec(root: &Path, dir: &Path, spec: &Spec) -> Result<Option<Seccomp>, RuntimeError> {
    let path = dir.join(PROFILE_FILE);
    let profile = match std::fs::read(&path) {
        Ok(json) => Some(serde_json::from_slice(&json).map_err(|e| failed("read the container's profile", e))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        Err(e) => return Err(RuntimeError::io("read", path, e)),
    };
    let Some(profile) = profile else { return Ok(None) };
    Ok(Some(Seccomp { filter: cached(root, &profile)?, no_new_privs: true, drop_admin: false }))
}

/// Removes from an exec'd process's effective and permitted sets what its bounding set lacks: the
/// CAP_SYS_ADMIN a container's init kept only to load its filter (see [`take_for_init`]).
pub(crate) fn bounded(process: &mut Process) {
    if let Some(mut caps) = process.capabilities().clone() {
        let bounding = caps.bounding().clone().unwrap_or_default();
        let within = |set: &Option<Capabilities>| set.as_ref().map(|s| s.intersection(&bounding).copied().collect());
        caps.set_effective(within(caps.effective()));
        caps.set_permitted(within(caps.permitted()));
        process.set_capabilities(Some(caps));
    }
}

/// Whether berth can load the profile from a compiled program: not when a rule notifies a listener, which
/// needs the descriptor only libseccomp's own load returns (libcontainer then loads it).
pub(crate) fn precompilable(profile: &LinuxSeccomp) -> bool {
    profile.default_action() != LinuxSeccompAction::ScmpActNotify
        && !profile.syscalls().iter().flatten().any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// The compiled program for `profile`, from the cache in `root` when it holds a valid one, else compiled
/// now and written there (a cache that cannot be written only costs the next start a compilation).
pub(crate) fn cached(root: &Path, profile: &LinuxSeccomp) -> Result<Filter, RuntimeError> {
    let key = key(profile)?;
    let path = root.join(CACHE_DIR).join(format!("{}.bpf", hex::encode(key)));
    let flags = flags(profile);
    if let Some(program) = std::fs::read(&path).ok().and_then(|bytes| verified(&bytes, &key)) {
        return Ok(Filter { program, flags });
    }
    let program = compile(profile)?;
    if let Err(err) = store(&path, &key, &program) {
        tracing::debug!(path = %path.display(), %err, "keeping the compiled seccomp program");
    }
    Ok(Filter { program, flags })
}

/// SHA-256 of what the program depends on: the profile, the library that compiles it, the kernel.
fn key(profile: &LinuxSeccomp) -> Result<[u8; 32], RuntimeError> {
    let json = serde_json::to_vec(profile).map_err(|e| failed("encode the profile", e))?;
    let library = libseccomp::ScmpVersion::current().map_err(|e| failed("read libseccomp's version", e))?;
    let kernel = rustix::system::uname();
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    hash.update(format!("{}.{}.{} optimise {OPTIMIZE}\n", library.major, library.minor, library.micro));
    hash.update(kernel.release().to_bytes());
    hash.update(b"\n");
    hash.update(&json);
    Ok(hash.finalize().into())
}

/// The program in a cache file, if the file is whole and made for `key`.
fn verified(bytes: &[u8], key: &[u8; 32]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (stored_key, rest) = rest.split_at_checked(32)?;
    let (checksum, program) = rest.split_at_checked(32)?;
    let whole = program.len().is_multiple_of(8) && (8..=MAX_INSTRUCTIONS * 8).contains(&program.len());
    (stored_key == key && whole && checksum == Sha256::digest(program).as_slice()).then(|| program.to_vec())
}

/// Writes the cache file whole or not at all: a temporary file renamed over the name.
fn store(path: &Path, key: &[u8; 32], program: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(MAGIC)?;
    file.write_all(key)?;
    file.write_all(&Sha256::digest(program))?;
    file.write_all(program)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// libseccomp's program for the profile, translated as libcontainer translates it for its own load.
fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, RuntimeError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| failed("create the filter", e))?;
    for &arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch)).map_err(|e| failed("add an architecture", e))?;
    }
    // The profile's flags become load flags (see `flags`), and no_new_privs is the runtime's to set.
    ctx.set_ctl_nnp(false).map_err(|e| failed("leave no_new_privs alone", e))?;
    // Syscall numbers as a binary tree rather than a list: when a filter is loaded, the kernel walks it once
    // for every syscall number (to find those it may allow without running it), and every container start
    // and exec loads one. Docker's profile loads in ~0.5 ms instead of ~1 ms here; a libseccomp before 2.5
    // cannot, and its list is just as correct.
    if let Err(err) = ctx.set_ctl_optimize(OPTIMIZE) {
        tracing::debug!(%err, "libseccomp cannot build a binary tree; the filter stays a list");
    }
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel does not have: nothing to allow.
            let Ok(syscall) = ScmpSyscall::from_name(name) else { continue };
            let compares: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| ScmpArgCompare::new(a.index() as u32, compare_op(a.op(), a.value_two()), a.value()))
                .collect();
            let indexes: HashSet<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
            let add = |ctx: &mut ScmpFilterContext, compares: &[ScmpArgCompare]| {
                match compares {
                    [] => ctx.add_rule(act, syscall),
                    _ => ctx.add_rule_conditional(act, syscall, compares),
                }
                .map(drop)
            };
            // libseccomp compares an argument once per rule: comparisons of one argument each get a rule, as in
            // runc and libcontainer.
            if indexes.len() == compares.len() {
                add(&mut ctx, &compares)
            } else {
                compares.iter().try_for_each(|c| add(&mut ctx, std::slice::from_ref(c)))
            }
            .map_err(|e| failed("add a rule", e))?;
        }
    }
    let program = export(&ctx)?;
    if program.is_empty() || !program.len().is_multiple_of(8) || program.len() > MAX_INSTRUCTIONS * 8 {
        return Err(failed("export the program", format!("{} bytes is not a loadable filter", program.len())));
    }
    Ok(program)
}

/// The program, through a memfd (libseccomp 2.5 exports only to a descriptor).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, RuntimeError> {
    use std::io::{Read, Seek};
    let memfd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| failed("create a memfd", std::io::Error::from(e)))?;
    ctx.export_bpf(&memfd).map_err(|e| failed("export the program", e))?;
    let mut file = std::fs::File::from(memfd);
    let mut program = Vec::new();
    file.rewind().and_then(|()| file.read_to_end(&mut program)).map_err(|e| failed("read the program", e))?;
    Ok(program)
}

fn failed(action: &str, err: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::SeccompProfile { source_name: "(compiling)".into(), reason: format!("{action}: {err}") }
}

/// The kernel's load flags for the profile's `flags`.
fn flags(profile: &LinuxSeccomp) -> u32 {
    profile
        .flags()
        .iter()
        .flatten()
        .map(|flag| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => WAIT_KILLABLE_RECV,
        } as u32)
        .fold(0, |all, flag| all | flag)
}

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 6.0), which the libc crate does not name.
const WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

impl Filter {
    /// Loads the program into this thread's seccomp filters. The caller needs CAP_SYS_ADMIN or no_new_privs,
    /// as for any filter.
    pub(crate) fn load(&self) -> std::io::Result<()> {
        /// The kernel's `struct sock_fprog`.
        #[repr(C)]
        struct Program {
            len: u16,
            filter: *const u8,
        }
        let program = Program { len: (self.program.len() / 8) as u16, filter: self.program.as_ptr() };
        // libc: rustix has no seccomp(2).
        // SAFETY: `program` points at `len` 8-byte instructions that outlive the call; the kernel copies them.
        let rc =
            unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, self.flags, &raw const program) };
        if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    }
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, RuntimeError> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.try_into().map_err(|e| failed("translate a trace action's errno", e))?)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare_op(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The cache file for `profile` under `root`, for tests that damage it.
#[cfg(test)]
fn cache_path(root: &Path, profile: &LinuxSeccomp) -> std::path::PathBuf {
    root.join(CACHE_DIR).join(format!("{}.bpf", hex::encode(key(profile).unwrap())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::SeccompProfile;

    fn docker_default() -> LinuxSeccomp {
        let caps = crate::runtime::caps::resolve(&[], &[], false).unwrap();
        SeccompProfile::parse("default", crate::runtime::seccomp::DEFAULT_PROFILE).unwrap().to_oci(&caps).unwrap()
    }

    #[test]
    fn a_profile_is_compiled_once_and_a_damaged_cache_is_compiled_again() {
        let root = tempfile::tempdir().unwrap();
        let profile = docker_default();
        let compiled = compile(&profile).unwrap();
        let first = cached(root.path(), &profile).unwrap();
        assert_eq!(first.program, compiled);
        let path = cache_path(root.path(), &profile);
        assert!(path.exists(), "the program must be kept in the state root");
        assert_eq!(cached(root.path(), &profile).unwrap(), first, "read back from the cache");

        // One flipped bit in the program: the checksum refuses it, the profile is compiled and stored again.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(verified(&bytes, &key(&profile).unwrap()).is_none());
        assert_eq!(cached(root.path(), &profile).unwrap().program, compiled);
        assert!(verified(&std::fs::read(&path).unwrap(), &key(&profile).unwrap()).is_some(), "the cache is repaired");

        // A whole, valid file made for another profile is not this profile's program.
        let mut other = profile.clone();
        other.set_default_errno_ret(Some(libc::EACCES as u32));
        std::fs::copy(&path, cache_path(root.path(), &other)).unwrap();
        let for_other = cached(root.path(), &other).unwrap();
        assert_eq!(for_other.program, compile(&other).unwrap());
        assert_ne!(for_other.program, compiled);
    }

    #[test]
    fn the_cached_program_confines_like_the_profile() {
        if !crate::testing::require_root("the_cached_program_confines_like_the_profile") {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let filter = cached(root.path(), &docker_default()).unwrap();
        // In a child: the filter stays with the process that loads it.
        crate::testing::holds_in_child(|| {
            (|| {
                rustix::thread::set_no_new_privs(true).ok()?;
                filter.load().ok()?;
                // SAFETY: raw syscalls with integer arguments.
                unsafe {
                    // Refused by Docker's profile without CAP_SYS_ADMIN; getpid is allowed.
                    let unshare = libc::unshare(libc::CLONE_NEWNS);
                    let errno = std::io::Error::last_os_error().raw_os_error();
                    let pid = libc::getpid();
                    // An argument rule: personality only with the values the profile lists (a query is one).
                    let query = libc::personality(0xffff_ffff);
                    let no_randomize = libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
                    let personality_errno = std::io::Error::last_os_error().raw_os_error();
                    let arguments = query >= 0 && no_randomize == -1 && personality_errno == Some(libc::EPERM);
                    Some(unshare == -1 && errno == Some(libc::EPERM) && pid > 0 && arguments)
                }
            })()
            .unwrap_or(false)
        });
    }
}
