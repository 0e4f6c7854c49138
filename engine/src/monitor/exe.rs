//! The defence against CVE-2019-5736 (a container process reaching the runtime binary through
//! `/proc/<pid>/exe` and overwriting it on the host): the monitor re-executes itself from a read-only
//! bind mount of its own binary, so `/proc/<monitor>/exe`, and the exe of every process libcontainer
//! clones from it, resolves through a read-only mount. This is runc's "bindfd" method; unlike a sealed memfd
//! copy it costs no memory per container (a copy of the binary for each of hundreds of monitors would).
//! The launcher normally executes the monitor through [`sealed_self`] already, so [`protect`] finds it sealed.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags, StatVfsMountFlags, open, statvfs};
use rustix::mount::{MountFlags, UnmountFlags, mount_bind, mount_remount, unmount};

use super::MonitorError;

/// Where the short-lived bind mount target is made.
const RUN_DIR: &str = "/run/berth";

/// Tells apart the bind targets of helpers one process spawns at once (the TUI starting several containers).
static NEXT_TARGET: AtomicU64 = AtomicU64::new(0);

/// An `O_PATH` descriptor of this process's binary reached through a read-only bind mount that is already
/// detached: nothing stays mounted or visible, and executing the descriptor runs the binary sealed. The
/// launching berth executes its monitor through one, so the monitor does not pay for a second exec to seal
/// itself.
pub fn sealed_self() -> std::io::Result<OwnedFd> {
    std::fs::create_dir_all(RUN_DIR)?;
    let n = NEXT_TARGET.fetch_add(1, Ordering::Relaxed);
    let target = Path::new(RUN_DIR).join(format!("exe-{}-{n}", std::process::id()));
    std::fs::File::create(&target)?;
    let opened = (|| -> std::io::Result<OwnedFd> {
        mount_bind("/proc/self/exe", &target)?;
        mount_remount(&target, MountFlags::BIND | MountFlags::RDONLY, "")?;
        Ok(open(&target, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?)
    })();
    // The open descriptor keeps the detached read-only mount alive for the exec; nothing stays visible.
    let _ = unmount(&target, UnmountFlags::DETACH);
    let _ = std::fs::remove_file(&target);
    opened
}

/// Whether this process's binary is already reached through a read-only mount.
fn exe_is_read_only() -> bool {
    statvfs("/proc/self/exe").is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY))
}

/// Re-executes this process (same arguments and environment) from a read-only bind mount of its binary,
/// unless it already runs from one. Returns only on failure, or at once when already protected.
pub fn protect() -> Result<(), MonitorError> {
    if exe_is_read_only() {
        return Ok(());
    }
    let err = |source: std::io::Error| MonitorError::Seal(source);
    let fd = sealed_self().map_err(err)?;

    let to_c = |bytes: &[u8]| CString::new(bytes).map_err(|e| err(std::io::Error::other(e)));
    let args: Vec<CString> = std::env::args_os().map(|a| to_c(a.as_bytes())).collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| to_c(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // libc: rustix's execveat is only in its unstable `runtime` module.
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings that outlive the call;
    // the path is the empty C string, as AT_EMPTY_PATH requires.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(err(std::io::Error::last_os_error()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_sealed_binary_is_read_only_and_leaves_nothing_mounted() {
        if !crate::testing::require_root("a_sealed_binary_is_read_only_and_leaves_nothing_mounted") {
            return;
        }
        let fd = sealed_self().expect("seal this test binary");
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let sealed = statvfs(path.as_str()).expect("statvfs of the sealed binary");
        assert!(sealed.f_flag.contains(StatVfsMountFlags::RDONLY));
        let own = std::fs::metadata("/proc/self/exe").unwrap();
        let through_fd = std::fs::metadata(&path).unwrap();
        assert_eq!((own.dev(), own.ino()), (through_fd.dev(), through_fd.ino()), "the fd must be this binary");
        let prefix = format!("exe-{}-", std::process::id());
        let left: Vec<_> = std::fs::read_dir(RUN_DIR)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .collect();
        assert!(left.is_empty(), "bind targets left in {RUN_DIR}: {left:?}");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&format!("{RUN_DIR}/{prefix}")), "a bind mount stayed visible");
    }
}
