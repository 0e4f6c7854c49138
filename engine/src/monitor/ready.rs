//! The one-shot channel from a monitor to the process that started it: "started, pid N" or "failed, why".
//! It is a pipe the starter hands over as fd [`READY_FD`]; the starter reads one JSON line, then EOF.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

/// The descriptor number the starter places the pipe's write end at in the monitor.
pub const READY_FD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyMessage {
    Started {
        pid: i32,
    },
    Failed {
        error: String,
        exit_code: i32,
    },
    /// The first run ended; a foreground `run` exits with this code.
    Exited {
        exit_code: i32,
    },
}

/// The monitor's end of the channel.
pub struct Ready {
    file: File,
}

impl Ready {
    /// Takes over [`READY_FD`] if the starter passed one (it is absent when a monitor is run by hand).
    pub fn inherit() -> Option<Ready> {
        if std::fs::symlink_metadata(format!("/proc/self/fd/{READY_FD}")).is_err() {
            return None;
        }
        // SAFETY: the descriptor exists (just checked) and nothing else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(READY_FD) };
        // Keep it out of the container: close it on exec.
        let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
        Some(Ready { file: File::from(fd) })
    }

    /// Sends one message; the channel closes when this is dropped.
    pub fn send(&mut self, message: &ReadyMessage) {
        if let Ok(mut line) = serde_json::to_vec(message) {
            line.push(b'\n');
            // The starter may have gone away; the container runs on regardless.
            let _ = self.file.write_all(&line);
        }
    }
}

/// Polled for the starter hanging up: a pipe's write end reports an error once its reader is gone.
impl AsFd for Ready {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Marks every descriptor from `first` up close-on-exec, so nothing the monitor holds leaks into the
/// container (CVE-2024-21626); libcontainer repeats this in the container's init before exec.
pub fn cloexec_from(first: u32) {
    // libc: rustix has no close_range.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags; failure (old kernels) is harmless here
    // because libcontainer applies the same marking again.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_json_lines() {
        let m =
            ReadyMessage::Failed { error: "exec: \"nope\": executable file not found in $PATH".into(), exit_code: 127 };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ReadyMessage>(&text).unwrap(), m);
        assert_eq!(serde_json::to_string(&ReadyMessage::Started { pid: 5 }).unwrap(), r#"{"started":{"pid":5}}"#);
    }
}
