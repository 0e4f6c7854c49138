//! The defence against CVE-2019-5736 (a container process reaching the runtime binary through
//! `/proc/<pid>/exe` and overwriting it on the host): the monitor re-executes itself from a read-only
//! bind mount of its own binary, so `/proc/<monitor>/exe`, and the exe of every process libcontainer
//! clones from it, resolves through a read-only mount. This is runc's "bindfd" method; unlike a sealed memfd
//! copy it costs no memory per container (a copy of the binary for each of hundreds of monitors would).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, StatVfsMountFlags, open, statvfs};
use rustix::mount::{MountFlags, UnmountFlags, mount_bind, mount_remount, unmount};

use super::MonitorError;

/// Where the short-lived bind mount target is made.
const RUN_DIR: &str = "/run/berth";

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
    std::fs::create_dir_all(RUN_DIR).map_err(err)?;
    let target = Path::new(RUN_DIR).join(format!("exe-{}", std::process::id()));
    std::fs::File::create(&target).map_err(err)?;
    let opened = (|| -> std::io::Result<std::os::fd::OwnedFd> {
        mount_bind("/proc/self/exe", &target)?;
        mount_remount(&target, MountFlags::BIND | MountFlags::RDONLY, "")?;
        Ok(open(&target, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?)
    })();
    // The open descriptor keeps the detached read-only mount alive for the exec; nothing stays visible.
    let _ = unmount(&target, UnmountFlags::DETACH);
    let _ = std::fs::remove_file(&target);
    let fd = opened.map_err(err)?;

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
