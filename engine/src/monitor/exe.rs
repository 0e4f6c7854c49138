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

use rustix::fs::{CWD, StatVfsMountFlags, statvfs};
use rustix::mount::{MountAttrFlags, OpenTreeFlags, open_tree};

use super::MonitorError;

/// `struct mount_attr` of `linux/mount.h`, which the libc crate does not export yet.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// An `O_PATH` descriptor of this process's binary reached through a read-only bind mount that was never
/// attached anywhere (`open_tree`'s clone, made read-only): nothing is mounted or visible, and executing the
/// descriptor runs the binary sealed. The launching berth executes its monitor through one, so the monitor
/// does not pay for a second exec to seal itself. Closing it unmounts the clone; see [`release_sealed`].
pub fn sealed_self() -> std::io::Result<OwnedFd> {
    let tree = open_tree(CWD, "/proc/self/exe", OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)?;
    let attr = MountAttr {
        attr_set: MountAttrFlags::MOUNT_ATTR_RDONLY.bits().into(),
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // libc: rustix has no mount_setattr.
    // SAFETY: `tree` is an open descriptor, the path is the empty C string AT_EMPTY_PATH asks for, and `attr`
    // is a `struct mount_attr` whose size is passed with it.
    let set = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if set < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(tree)
}

/// Closes a descriptor from [`sealed_self`] on a thread: the close unmounts the clone, which waits out an
/// RCU grace period (half a millisecond and more here) its caller need not wait for.
pub fn release_sealed(fd: OwnedFd) {
    let spawned = std::thread::Builder::new().name("sealed".into()).spawn(move || drop(fd));
    if let Err(err) = spawned {
        tracing::debug!(%err, "closing the sealed binary on a thread");
    }
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
    fn a_sealed_binary_is_read_only_and_never_mounted_in_sight() {
        if !crate::testing::require_root("a_sealed_binary_is_read_only_and_never_mounted_in_sight") {
            return;
        }
        let fd = sealed_self().expect("seal this test binary");
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let sealed = statvfs(path.as_str()).expect("statvfs of the sealed binary");
        assert!(sealed.f_flag.contains(StatVfsMountFlags::RDONLY));
        let own = std::fs::metadata("/proc/self/exe").unwrap();
        let through_fd = std::fs::metadata(&path).unwrap();
        assert_eq!((own.dev(), own.ino()), (through_fd.dev(), through_fd.ino()), "the fd must be this binary");
        let exe = std::fs::read_link("/proc/self/exe").unwrap().to_string_lossy().into_owned();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.lines().any(|l| l.split(' ').nth(4) == Some(exe.as_str())), "the binary got mounted");
        release_sealed(fd);
    }
}
