//! The receiving end of an OCI console socket: libcontainer creates the pty inside the container and sends
//! its master here as an SCM_RIGHTS message, so the caller holds the terminal without ever opening the
//! container's /dev/pts.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};

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
        wait_readable(&self.listener, timeout, "no pty master arrived")?;
        let (stream, _) = self.listener.accept()?;
        wait_readable(&stream, timeout, "no pty master arrived")?;
        let mut name = [0u8; 64];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        recvmsg(&stream, &mut [IoSliceMut::new(&mut name)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let master = control.drain().find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        });
        master.ok_or_else(|| std::io::Error::other("the console socket message carried no descriptor"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Waits at most `timeout` for `fd` to be readable; a timeout is an error of kind `TimedOut` saying
/// `missing` (what did not arrive).
pub(crate) fn wait_readable(fd: impl AsFd, timeout: Duration, missing: &str) -> std::io::Result<()> {
    let timeout = Timespec::try_from(timeout).map_err(std::io::Error::other)?;
    loop {
        match poll(&mut [PollFd::new(&fd, PollFlags::IN)], Some(&timeout)) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, missing.to_string())),
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}
