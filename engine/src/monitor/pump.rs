//! Stage three: copy the container's stdout/stderr into its log until the process exits, then reap it.

use std::io::{ErrorKind, PipeReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::MonitorError;
use crate::logs::{LogWriter, Stream};

/// Pumps output until the container's init exits; returns its exit code (128 + signal when killed).
pub(super) fn pump(
    id: &str,
    pid: i32,
    stdout: PipeReader,
    stderr: PipeReader,
    mut log: LogWriter,
) -> Result<i32, MonitorError> {
    let wait_err = |source: std::io::Error| MonitorError::Wait { id: id.to_string(), source };
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 {
        return Err(wait_err(std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel just handed us this descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut streams: Vec<(Stream, PipeReader)> = vec![(Stream::Stdout, stdout), (Stream::Stderr, stderr)];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds: Vec<libc::pollfd> =
            streams.iter().map(|(_, r)| libc::pollfd { fd: r.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        fds.push(libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        // SAFETY: fds points at a live array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(wait_err(err));
        }
        let exited = fds.last().is_some_and(|p| p.revents != 0);
        let mut closed = Vec::new();
        for (i, p) in fds[..streams.len()].iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let (stream, reader) = &mut streams[i];
            match reader.read(&mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => log_write(&mut log, *stream, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
        if exited {
            drain(&mut streams, &mut log, &mut buf);
            let _ = log.finish();
            return reap(pid).map_err(wait_err);
        }
    }
}

/// Whatever is left in the pipes once the process is gone; never blocks.
fn drain(streams: &mut [(Stream, PipeReader)], log: &mut LogWriter, buf: &mut [u8]) {
    for (stream, reader) in streams.iter_mut() {
        // SAFETY: setting O_NONBLOCK on a pipe we own.
        unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        while let Ok(n) = reader.read(buf) {
            if n == 0 {
                break;
            }
            log_write(log, *stream, &buf[..n]);
        }
    }
}

fn log_write(log: &mut LogWriter, stream: Stream, data: &[u8]) {
    // A full disk must not stop the container; the output is lost, the container lives on.
    let _ = log.write_output(stream, data);
}

/// Reaps the container's init (our child: libcontainer clones it with CLONE_PARENT).
fn reap(pid: i32) -> std::io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != ErrorKind::Interrupted {
            return Err(err);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Ok(128 + libc::WTERMSIG(status))
    } else {
        Ok(255)
    }
}
