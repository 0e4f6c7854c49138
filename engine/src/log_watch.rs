//! Wakes a follower of a container's log when the log's directory changes (the log written, rotated or made
//! again), so a quiet log costs its follower nothing until it is written: no timer looks at it every second.
//! The TUI's Logs pane follows with it.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::inotify;
use tokio::io::unix::AsyncFd;

/// An inotify watch on a log's directory, registered with the tokio reactor (so it needs a runtime).
pub struct LogWatch {
    fd: AsyncFd<OwnedFd>,
}

impl LogWatch {
    /// Watches the directory holding the log at `path` for writes, new files and files moved in (rotation).
    pub fn new(path: &Path) -> std::io::Result<LogWatch> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        let flags = inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO;
        inotify::add_watch(&fd, dir, flags)?;
        // SAFETY: the descriptor is owned by the AsyncFd from here on and closed only when it is dropped.
        Ok(LogWatch { fd: unsafe { AsyncFd::register(fd) }? })
    }

    /// Waits for the next change and takes every notification pending: one read of the log follows them all.
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut guard = self.fd.readable().await?;
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(self.fd.get_ref(), &mut buf) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => return Err(e.into()),
            }
        }
        guard.clear_ready();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_quiet_log_waits_until_its_directory_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        std::fs::write(&path, "").unwrap();
        let watch = LogWatch::new(&path).unwrap();
        assert!(watch.changed().now_or_never().is_none(), "nothing written: nothing to wake for");
        std::fs::write(&path, "line\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("woken by the write").unwrap();
        // Rotation: the log moved aside and made again.
        std::fs::rename(&path, dir.path().join("container.log.1")).unwrap();
        std::fs::write(&path, "").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("woken by the rotation").unwrap();
    }
}
