//! The receiving end of an OCI console socket: libcontainer creates the pty inside the container and sends
//! its master here as an SCM_RIGHTS message, so the caller holds the terminal without ever opening the
//! container's /dev/pts.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A listening console socket; removed from the filesystem when dropped.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> std::io::Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        let listener = super::bind(path)?;
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(ConsoleSocket { listener, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and takes the pty master it sends, waiting at most `timeout`.
    pub fn receive_master(&self, timeout: Duration) -> std::io::Result<OwnedFd> {
        wait_readable(self.listener.as_raw_fd(), timeout)?;
        let (stream, _) = self.listener.accept()?;
        wait_readable(stream.as_raw_fd(), timeout)?;
        let mut name = [0u8; 64];
        let mut iov = libc::iovec { iov_base: name.as_mut_ptr().cast(), iov_len: name.len() };
        // Room for one cmsghdr carrying one descriptor, aligned as CMSG_SPACE requires.
        let mut control = [0u64; 8];
        // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the recvmsg call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
        // SAFETY: msg points at live buffers of the lengths it states.
        let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: CMSG_FIRSTHDR reads the msghdr recvmsg just filled in.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        // SAFETY: a non-null cmsg points inside `control`; its data holds one fd for SCM_RIGHTS.
        unsafe {
            if cmsg.is_null() || (*cmsg).cmsg_level != libc::SOL_SOCKET || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
                return Err(std::io::Error::other("the console socket message carried no descriptor"));
            }
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
            Ok(OwnedFd::from_raw_fd(fd))
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn wait_readable(fd: i32, timeout: Duration) -> std::io::Result<()> {
    let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
    loop {
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(p.as_mut_ptr(), 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
        match n {
            0 => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no pty master arrived")),
            n if n > 0 => return Ok(()),
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}
