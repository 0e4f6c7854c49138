//! The one-shot channel from a monitor to the process that started it: "started, pid N" or "failed, why".
//! It is a pipe the starter hands over as the helper's stdout, saying so in [`READY_ON_STDOUT`]; the helper
//! takes it off stdout first thing, and the starter reads one JSON line, then EOF.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

use serde::{Deserialize, Serialize};

/// Set in a helper's environment by its starter when the helper's stdout is the channel.
pub const READY_ON_STDOUT: &str = "BERTH_READY_ON_STDOUT";

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
    /// Takes the channel off stdout, which becomes `/dev/null`, when the starter passed it there (a monitor
    /// run by hand has none). Close-on-exec, so it stays out of the container.
    pub fn inherit() -> Option<Ready> {
        std::env::var_os(READY_ON_STDOUT)?;
        // SAFETY: a helper takes its channel first thing, before it starts any thread. Removed so that no
        // process it starts in turn mistakes its own stdout for a channel.
        unsafe { std::env::remove_var(READY_ON_STDOUT) };
        let fd = rustix::io::fcntl_dupfd_cloexec(std::io::stdout(), 0).ok()?;
        if let Ok(null) = File::open("/dev/null") {
            let _ = rustix::stdio::dup2_stdout(&null);
        }
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
