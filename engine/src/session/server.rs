//! The serving side of a session, for the single-threaded monitor and exec helper: one poll loop that copies
//! the process's output to a sink (the log) and to every connected client, feeds client input to the process,
//! applies resizes to its pty, and ends with an `Exit` frame to each client once the process is reaped.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions, waitpid};
use rustix::termios::{Winsize, tcsetwinsize};

use super::{Frame, SessionError};
use crate::logs::Stream;

/// A client that lets this much output pile up unread is dropped rather than stalling the container.
const MAX_PENDING: usize = 4 << 20;

/// Output produced before anyone attached that the first client still gets (a shell's first prompt).
const MAX_BACKLOG: usize = 64 << 10;

/// How long `serve` waits without events before it gives back the pages its last work touched.
const IDLE_BEFORE_SHEDDING: Duration = Duration::from_secs(5);

/// How long clients get to read their last frames once the process is gone.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The process's standard streams as the server holds them.
pub enum ProcessIo {
    /// The pty master: output, input and window size in one.
    Tty { master: OwnedFd },
    /// Pipes; `stdin` is None when the process's stdin is /dev/null.
    Pipes { stdout: OwnedFd, stderr: OwnedFd, stdin: Option<OwnedFd> },
}

struct Client {
    stream: UnixStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
}

/// The listening socket and its clients.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    /// Whether the socket's name is gone already (the process ended): new clients find no session.
    unlinked: bool,
    clients: Vec<Client>,
    /// Output kept for the first client while none has connected yet; None once one has (or when unwanted).
    backlog: Option<Vec<u8>>,
    /// Whether clients' input reaches the process (`-i`).
    accept_input: bool,
    /// Send the process SIGHUP once its last client left (an exec nobody watches any more), as a terminal
    /// does when its window closes.
    hangup_when_alone: bool,
    /// Runs once the process is reaped, before the clients hear its exit code.
    before_exit: Option<Box<dyn FnOnce(i32) + Send>>,
}

impl Server {
    /// Listens on `path` (mode 0600, replacing a stale socket). With `keep_backlog` the first client also
    /// gets the output produced before it connected.
    pub fn bind(path: &Path, keep_backlog: bool, accept_input: bool) -> Result<Server, SessionError> {
        let io = |action: &'static str| {
            let path = path.to_path_buf();
            move |source| SessionError::Io { action, path, source }
        };
        let _ = std::fs::remove_file(path);
        let listener = super::bind(path).map_err(io("listen on"))?;
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io("chmod"))?;
        listener.set_nonblocking(true).map_err(io("configure"))?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            unlinked: false,
            clients: Vec::new(),
            backlog: keep_backlog.then(Vec::new),
            accept_input,
            hangup_when_alone: false,
            before_exit: None,
        })
    }

    /// Has `f` run with the exit code once the process is reaped and before any client hears it (the exec
    /// helper records `exec_die` there, so a client that goes on never finds the journal behind it).
    pub fn set_before_exit(&mut self, f: impl FnOnce(i32) + Send + 'static) {
        self.before_exit = Some(Box::new(f));
    }

    /// Makes the process get SIGHUP when its last client disconnects.
    pub fn hang_up_when_alone(mut self) -> Server {
        self.hangup_when_alone = true;
        self
    }

    /// Blocks until the first client connects (an exec starts its process only then, so no output is lost),
    /// at most `timeout`: a caller that died before connecting must not leave the helper waiting forever.
    ///
    /// `starter` is the write end of a pipe whose reader the engine holds until its client has connected:
    /// once that reader is gone with no client here (the engine's own client left before the session could
    /// begin, or the engine died), no client is coming, and waiting ends at once.
    pub fn wait_for_client(&mut self, timeout: Duration, starter: Option<BorrowedFd<'_>>) -> Result<(), SessionError> {
        let deadline = Instant::now() + timeout;
        let path = self.path.clone();
        let gave_up = |reason: &str| SessionError::Io {
            action: "wait for a client on",
            path: path.clone(),
            source: std::io::Error::new(ErrorKind::TimedOut, reason.to_string()),
        };
        while self.clients.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(gave_up("no client connected"));
            }
            let left = Timespec::try_from(left).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
            let mut fds = vec![PollFd::new(&self.listener, PollFlags::IN)];
            fds.extend(starter.map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::empty())));
            match poll(&mut fds, Some(&left)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(err) => {
                    return Err(SessionError::Io { action: "wait for a client on", path, source: err.into() });
                }
            }
            let hung_up = fds.get(1).is_some_and(|fd| fd.revents().intersects(PollFlags::ERR | PollFlags::HUP));
            // A client that connected just before its starter let go is still served.
            self.accept();
            if hung_up && self.clients.is_empty() {
                return Err(gave_up("the engine let go before a client connected"));
            }
        }
        Ok(())
    }

    /// Tells every client why the process could not run, then lets them read it.
    pub fn fail(&mut self, message: &str, exit_code: i32) {
        self.broadcast(&Frame::Error(message.to_string()));
        self.broadcast(&Frame::Exit(exit_code));
        self.flush();
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let outbox = self.backlog.take().map(|b| Frame::Stdout(b).encode()).unwrap_or_default();
            self.clients.push(Client { stream, inbox: Vec::new(), outbox });
        }
    }

    /// Lets no new client in and takes those the kernel already queued. A client left queued when the
    /// listener closes has connected but reads a reset, never the output or exit it waits for; one that
    /// comes after the name is gone fails to connect, and so knows the process ended.
    fn close_door(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.unlinked = true;
        self.accept();
    }

    fn broadcast(&mut self, frame: &Frame) {
        if self.clients.is_empty() {
            if let (Some(backlog), Frame::Stdout(data) | Frame::Stderr(data)) = (self.backlog.as_mut(), frame) {
                let room = MAX_BACKLOG.saturating_sub(backlog.len());
                backlog.extend_from_slice(&data[..data.len().min(room)]);
            }
            return;
        }
        let bytes = frame.encode();
        self.clients.retain_mut(|c| {
            c.outbox.extend_from_slice(&bytes);
            c.outbox.len() <= MAX_PENDING
        });
    }

    /// Writes what each client can take now; drops clients that went away.
    fn send_pending(&mut self) {
        self.clients.retain_mut(|c| {
            while !c.outbox.is_empty() {
                match c.stream.write(&c.outbox) {
                    Ok(0) => return false,
                    Ok(n) => {
                        c.outbox.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            true
        });
    }

    /// Gives clients up to [`FLUSH_TIMEOUT`] to take their remaining frames.
    fn flush(&mut self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        loop {
            self.send_pending();
            self.clients.retain(|c| !c.outbox.is_empty());
            if self.clients.is_empty() || Instant::now() >= deadline {
                return;
            }
            let mut fds: Vec<PollFd> = self.clients.iter().map(|c| PollFd::new(&c.stream, PollFlags::OUT)).collect();
            let _ = poll(&mut fds, Some(&Timespec { tv_sec: 0, tv_nsec: 50_000_000 }));
        }
    }

    /// Reads what client `i` sent: its complete frames, and whether it is gone. A client that sends its
    /// last input and hangs up at once is read to the end: those frames still count.
    fn receive(&mut self, i: usize) -> (Vec<Frame>, bool) {
        let client = &mut self.clients[i];
        let mut buf = [0u8; 16 * 1024];
        let mut gone = false;
        loop {
            match client.stream.read(&mut buf) {
                Ok(0) => {
                    gone = true;
                    break;
                }
                Ok(n) => client.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    gone = true;
                    break;
                }
            }
        }
        let mut frames = Vec::new();
        loop {
            match Frame::decode(&mut client.inbox) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, gone),
                Err(_) => return (frames, true),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.unlinked {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves the process `pid` (a child of this process) until it exits: output to `sink` and to the clients,
/// their input and resizes to the process. Returns the exit code (128 + signal when killed) once reaped,
/// after every client got its `Exit` frame (or the flush timed out). Serving is the rest of a monitor's or
/// exec helper's life, so whenever it has been idle for a while, the pages setup or the last burst of work
/// faulted in are given back.
pub fn serve(
    pid: i32,
    io: ProcessIo,
    server: Option<&mut Server>,
    sink: &mut dyn FnMut(Stream, &[u8]),
) -> Result<i32, SessionError> {
    serve_with(pid, io, server, sink, None)
}

/// Work the serving loop does besides the process, in the same thread (a monitor must stay single-threaded
/// so that its forks are safe): the loop wakes it at its deadline or when one of its descriptors is ready,
/// and sleeps in between.
pub trait Sidework {
    /// When it must run next, if at all.
    fn deadline(&self) -> Option<Instant>;
    /// Descriptors whose readiness (input or hang-up) wakes it.
    fn fds(&self) -> Vec<BorrowedFd<'_>>;
    /// Does what is due; called after its deadline passed or one of its descriptors became ready.
    fn wake(&mut self);
}

/// [`serve`], also waking `side` when it asks to be.
pub fn serve_with(
    pid: i32,
    io: ProcessIo,
    mut server: Option<&mut Server>,
    sink: &mut dyn FnMut(Stream, &[u8]),
    mut side: Option<&mut dyn Sidework>,
) -> Result<i32, SessionError> {
    // Whether nothing ran since the last shedding; the first comes once the loop first goes idle.
    let mut shed = false;
    let wait_err = |source: std::io::Error| SessionError::Wait { pid, source };
    let pidfd = crate::monitor::procfs::pidfd_open(pid).map_err(wait_err)?;
    let (mut outputs, input, pty): (Vec<(Stream, std::fs::File)>, Option<std::fs::File>, Option<OwnedFd>) = match io {
        ProcessIo::Tty { master } => {
            let pty = master.try_clone().ok();
            let file = std::fs::File::from(master);
            let input = file.try_clone().ok();
            (vec![(Stream::Stdout, file)], input, pty)
        }
        ProcessIo::Pipes { stdout, stderr, stdin } => (
            vec![(Stream::Stdout, stdout.into()), (Stream::Stderr, stderr.into())],
            stdin.map(std::fs::File::from),
            None,
        ),
    };
    let mut input = Input::new(input);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds: Vec<PollFd> = vec![PollFd::new(&pidfd, PollFlags::IN)];
        fds.extend(outputs.iter().map(|(_, f)| PollFd::new(f, PollFlags::IN)));
        if let Some(f) = input.waiting() {
            fds.push(PollFd::new(f, PollFlags::OUT));
        }
        let listener_at = fds.len();
        let mut polled_clients = 0;
        if let Some(s) = server.as_deref() {
            polled_clients = s.clients.len();
            fds.push(PollFd::new(&s.listener, PollFlags::IN));
            fds.extend(s.clients.iter().map(|c| {
                PollFd::new(&c.stream, if c.outbox.is_empty() { PollFlags::IN } else { PollFlags::IN | PollFlags::OUT })
            }));
        }
        let side_at = fds.len();
        let side_deadline = side.as_deref().and_then(Sidework::deadline);
        if let Some(side) = side.as_deref() {
            fds.extend(side.fds().into_iter().map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN)));
        }
        let mut wait = if shed { None } else { Some(IDLE_BEFORE_SHEDDING) };
        if let Some(at) = side_deadline {
            let left = at.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        let timeout = wait.map(|w| Timespec::try_from(w).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }));
        let n = match poll(&mut fds, timeout.as_ref()) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(err) => return Err(wait_err(err.into())),
        };
        // The descriptors stay borrowed while polled; what happened is kept so the loop can act on them.
        let fds: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
        let side_due = side_deadline.is_some_and(|at| Instant::now() >= at);
        if let Some(side) = side.as_deref_mut()
            && (side_due || fds[side_at..].iter().any(|f| !f.is_empty()))
        {
            side.wake();
            shed = false;
            if n == 0 {
                continue;
            }
        }
        if n == 0 {
            crate::footprint::shed();
            shed = true;
            continue;
        }
        shed = false;
        let exited = !fds[0].is_empty();
        // New clients first: output read in this round was produced after they connected.
        if let Some(s) = server.as_deref_mut()
            && !fds[listener_at].is_empty()
        {
            s.accept();
        }
        let mut closed = Vec::new();
        for (i, p) in fds[1..=outputs.len()].iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let (stream, file) = &mut outputs[i];
            match file.read(&mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => deliver(*stream, &buf[..n], sink, server.as_deref_mut()),
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                // A pty master reads EIO once every slave descriptor is closed.
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            outputs.remove(i);
        }
        if let Some(s) = server.as_deref_mut() {
            let mut gone = Vec::new();
            for i in 0..polled_clients {
                if !fds[listener_at + 1 + i].intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                    continue;
                }
                let (frames, left) = s.receive(i);
                for f in frames {
                    apply(f, s.accept_input, &mut input, pty.as_ref());
                }
                if left {
                    gone.push(i);
                }
            }
            let lost_clients = !gone.is_empty();
            for i in gone.into_iter().rev() {
                s.clients.remove(i);
            }
            if lost_clients && s.clients.is_empty() && s.hangup_when_alone {
                // Our own child: unreaped, its pid cannot be reused. It may have exited already (ESRCH).
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::HUP);
            }
            s.send_pending();
        }
        input.flush();
        if exited {
            for (stream, file) in outputs.iter_mut() {
                // Never blocks on what is left.
                let _ = fcntl_setfl(&*file, OFlags::NONBLOCK);
                while let Ok(n) = file.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    deliver(*stream, &buf[..n], sink, server.as_deref_mut());
                }
            }
            let code = reap(pid).map_err(wait_err)?;
            if let Some(s) = server {
                if let Some(before_exit) = s.before_exit.take() {
                    before_exit(code);
                }
                s.close_door();
                s.broadcast(&Frame::Exit(code));
                s.flush();
            }
            return Ok(code);
        }
    }
}

fn deliver(stream: Stream, data: &[u8], sink: &mut dyn FnMut(Stream, &[u8]), server: Option<&mut Server>) {
    sink(stream, data);
    if let Some(s) = server {
        let frame = match stream {
            Stream::Stdout => Frame::Stdout(data.to_vec()),
            Stream::Stderr => Frame::Stderr(data.to_vec()),
        };
        s.broadcast(&frame);
    }
}

/// A client's frame applied to the process.
fn apply(frame: Frame, accept_input: bool, input: &mut Input, pty: Option<&OwnedFd>) {
    match frame {
        Frame::Stdin(data) if accept_input => input.push(&data),
        Frame::CloseStdin if accept_input && pty.is_none() => input.close_when_drained = true,
        Frame::Resize { cols, rows } => {
            if let Some(fd) = pty {
                set_window_size(fd, cols, rows);
            }
        }
        _ => {}
    }
}

/// The process's input: client bytes wait here until the process takes them (the descriptor is
/// non-blocking), so a process that stops reading never stalls the loop, its output or its exit. Input that
/// cannot be written (the process closed its stdin) is dropped; the session goes on showing output.
struct Input {
    file: Option<std::fs::File>,
    pending: Vec<u8>,
    close_when_drained: bool,
}

impl Input {
    fn new(file: Option<std::fs::File>) -> Input {
        if let Some(f) = &file {
            // For a pty this also makes the master's reads non-blocking, which the loop handles (it reads
            // only what poll reported).
            if let Ok(flags) = fcntl_getfl(f) {
                let _ = fcntl_setfl(f, flags | OFlags::NONBLOCK);
            }
        }
        Input { file, pending: Vec::new(), close_when_drained: false }
    }

    fn push(&mut self, data: &[u8]) {
        if self.file.is_some() && self.pending.len() + data.len() <= MAX_PENDING {
            self.pending.extend_from_slice(data);
        }
    }

    /// The descriptor to wait on for room, while input is waiting.
    fn waiting(&self) -> Option<&std::fs::File> {
        self.file.as_ref().filter(|_| !self.pending.is_empty())
    }

    /// Writes what the process takes now; closes the input once drained after `CloseStdin`.
    fn flush(&mut self) {
        while let Some(f) = self.file.as_mut()
            && !self.pending.is_empty()
        {
            match f.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.file = None;
                    self.pending.clear();
                }
            }
        }
        if self.close_when_drained && self.pending.is_empty() {
            self.file = None;
        }
    }
}

/// TIOCSWINSZ on the pty master; the kernel sends SIGWINCH to the terminal's foreground process group.
pub fn set_window_size(fd: impl AsFd, cols: u16, rows: u16) {
    let _ = tcsetwinsize(fd, Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 });
}

/// Reaps our child `pid`.
/// Reaps child `pid` if it has exited; its exit code as [`reap`] gives it.
pub(crate) fn try_reap(pid: i32) -> std::io::Result<Option<i32>> {
    let pid = Pid::from_raw(pid).ok_or_else(|| std::io::Error::from(Errno::CHILD))?;
    loop {
        match waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => return Ok(Some(exit_code(status))),
            Ok(None) => return Ok(None),
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Reaps this process's exited children other than those in `keep` (whose exits their owners wait for).
/// libcontainer returns an error without reaping when the process it starts dies half-way (its
/// intermediate and init are then our children, pids unknown): a monitor must reap them, since the
/// kernel holds a pid namespace's init in its exit until every task of the namespace is reaped.
pub(crate) fn reap_strays(keep: &[i32]) {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it in or leaves si_pid 0.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t. WNOWAIT only looks: a kept child stays unreaped.
        let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        // SAFETY: after a successful waitid with WEXITED, si_pid is the union field the kernel set.
        let pid = unsafe { info.si_pid() };
        if rc != 0 || pid == 0 || keep.contains(&pid) {
            return;
        }
        if !matches!(try_reap(pid), Ok(Some(_))) {
            return;
        }
    }
}

/// Waits for child `pid` to exit and reaps it: its exit code, 128 + the signal when killed.
pub(crate) fn reap(pid: i32) -> std::io::Result<i32> {
    let pid = Pid::from_raw(pid).ok_or_else(|| std::io::Error::from(Errno::CHILD))?;
    let status = loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => break status,
            Ok(None) | Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    };
    Ok(exit_code(status))
}

fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 255,
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn read_until_exit(stream: &mut UnixStream) -> (Vec<u8>, Vec<u8>, Option<i32>) {
        let (mut out, mut err, mut buf) = (Vec::new(), Vec::new(), Vec::new());
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(frame) = Frame::decode(&mut buf).unwrap() {
                match frame {
                    Frame::Stdout(b) => out.extend(b),
                    Frame::Stderr(b) => err.extend(b),
                    Frame::Exit(code) => return (out, err, Some(code)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            match stream.read(&mut chunk).unwrap() {
                0 => return (out, err, None),
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// A shell running `script` with all three streams on pipes, as the server gets a non-tty process. The
    /// server reaps it by pid.
    fn piped(script: &str) -> (std::process::Child, ProcessIo) {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let io = ProcessIo::Pipes {
            stdout: child.stdout.take().unwrap().into(),
            stderr: child.stderr.take().unwrap().into(),
            stdin: Some(child.stdin.take().unwrap().into()),
        };
        (child, io)
    }

    #[test]
    fn clients_share_output_send_input_and_get_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut server = Server::bind(&path, false, true).unwrap();
        let (child, io) = piped("read line; echo \"got $line\"; echo oops >&2; cat; exit 3");
        let pid = child.id() as i32;
        // Both clients are connected (queued on the listener) before any input exists.
        let mut a = UnixStream::connect(&path).unwrap();
        let mut b = UnixStream::connect(&path).unwrap();
        let serving = std::thread::spawn(move || {
            let mut logged = Vec::new();
            let code = serve(pid, io, Some(&mut server), &mut |stream, data| logged.push((stream, data.to_vec())));
            (code.unwrap(), logged)
        });
        a.write_all(&Frame::Stdin(b"hello\n".to_vec()).encode()).unwrap();
        a.write_all(&Frame::Resize { cols: 80, rows: 24 }.encode()).unwrap();
        b.write_all(&Frame::Stdin(b"more\n".to_vec()).encode()).unwrap();
        b.write_all(&Frame::CloseStdin.encode()).unwrap();
        let (out_a, err_a, code_a) = read_until_exit(&mut a);
        let (out_b, err_b, code_b) = read_until_exit(&mut b);
        let (code, logged) = serving.join().unwrap();
        assert_eq!(code, 3);
        assert_eq!((code_a, code_b), (Some(3), Some(3)));
        assert_eq!(String::from_utf8_lossy(&out_a), "got hello\nmore\n");
        assert_eq!(out_a, out_b, "every client sees the same output");
        assert_eq!((err_a.as_slice(), err_b.as_slice()), (&b"oops\n"[..], &b"oops\n"[..]));
        let logged_out: Vec<u8> =
            logged.iter().filter(|(s, _)| *s == Stream::Stdout).flat_map(|(_, d)| d.clone()).collect();
        assert_eq!(logged_out, out_a, "the sink (the log) gets the output too");
        assert!(!path.exists(), "the socket is removed with the server");
    }

    #[test]
    fn a_process_that_never_reads_its_input_does_not_stall_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut server = Server::bind(&path, false, true).unwrap();
        let (child, io) = piped("echo up; sleep 0.5; echo done");
        let pid = child.id() as i32;
        let mut client = UnixStream::connect(&path).unwrap();
        let serving = std::thread::spawn(move || serve(pid, io, Some(&mut server), &mut |_, _| {}).unwrap());
        // Far more than a pipe holds: a blocking write would hang the server until the process read it.
        for _ in 0..8 {
            client.write_all(&Frame::Stdin(vec![b'x'; 64 * 1024]).encode()).unwrap();
        }
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        let code = loop {
            match Frame::decode(&mut buf).unwrap() {
                Some(Frame::Stdout(b)) => out.extend(b),
                Some(Frame::Exit(code)) => break code,
                Some(other) => panic!("unexpected {other:?}"),
                None => {
                    let n = client.read(&mut chunk).unwrap();
                    assert!(n > 0, "the server closed without an exit frame");
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        };
        assert_eq!((code, String::from_utf8_lossy(&out).as_ref()), (0, "up\ndone\n"));
        assert_eq!(serving.join().unwrap(), 0);
    }

    #[test]
    fn a_client_that_sends_and_hangs_up_at_once_still_delivers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut server = Server::bind(&path, false, true).unwrap();
        // Without its input the process would wait the full timeout and print only "end".
        let (child, io) = piped("timeout 5 cat; echo end");
        let pid = child.id() as i32;
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(&Frame::Stdin(b"last words\n".to_vec()).encode()).unwrap();
        client.write_all(&Frame::CloseStdin.encode()).unwrap();
        drop(client);
        let mut logged = Vec::new();
        let code = serve(pid, io, Some(&mut server), &mut |_, data| logged.extend_from_slice(data)).unwrap();
        assert_eq!((code, String::from_utf8_lossy(&logged).as_ref()), (0, "last words\nend\n"));
    }

    #[test]
    fn once_the_process_ended_no_client_can_connect_unserved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut server = Server::bind(&path, true, true).unwrap();
        let (child, io) = piped("echo gone");
        let pid = child.id() as i32;
        assert_eq!(serve(pid, io, Some(&mut server), &mut |_, _| {}).unwrap(), 0);
        // The server lives on a moment (the monitor writes the log's end): a client must not connect then
        // and be reset when it closes, having heard neither the output nor the exit.
        let err = UnixStream::connect(&path).expect_err("the session is over");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        drop(server);
    }
}
