//! `attach`, and the interactive loop every session command shares (`run -it`, `start -ai`, `exec -it`):
//! output to stdout/stderr, the user's input to the session, window size at start and on SIGWINCH, detach
//! keys, and the exit code.

use std::io::Write;
use std::process::ExitCode;

use berth_engine::Engine;
use berth_engine::container::{Output, Session, SessionError};
use clap::Args;
use rustix::process::Signal;
use tokio::signal::unix::{SignalKind, signal};

use super::terminal::{DEFAULT_DETACH_KEYS, DetachScanner, RawMode, parse_detach_keys, window_size};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = DEFAULT_DETACH_KEYS)]
    detach_keys: String,
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process (accepted; berth forwards SIGINT and SIGTERM without a tty)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    container: String,
}

/// How a session is driven from this terminal.
pub struct Interaction {
    /// The session has a pty: raw mode, window size, detach keys.
    pub tty: bool,
    /// Send this process's stdin to the session.
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
    /// The container whose main process gets SIGINT/SIGTERM when the user signals berth (no tty).
    pub signal_target: Option<String>,
}

/// How an interactive session ended.
pub enum Ended {
    Exit(i32),
    Detached,
    /// A signal ended this client (not the session's process); berth exits with 128 + the signal.
    Signalled(i32),
    /// The connection closed without an exit code (the container's monitor went away).
    Lost,
}

pub async fn attach(engine: &Engine, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let rec = engine.container(&args.container)?;
    let session = engine.attach(&rec.id).await?;
    let interaction = Interaction {
        tty: rec.options.tty,
        stdin: !args.no_stdin && rec.options.open_stdin,
        detach_keys,
        signal_target: args.sig_proxy.then(|| rec.id.clone()),
    };
    let ended = interact(engine, session, interaction).await?;
    Ok(exit_code(engine, &rec.id, ended))
}

/// The process exit code for an ended session: the container's own, 0 on detach.
pub fn exit_code(engine: &Engine, id: &str, ended: Ended) -> ExitCode {
    let code = match ended {
        Ended::Exit(code) => code,
        Ended::Detached => 0,
        Ended::Signalled(signal) => 128 + signal,
        Ended::Lost => engine.container(id).map(|r| r.exit_code).unwrap_or(125),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Drives `session` from this terminal until it exits or the user detaches. Raw mode (with a tty) is undone
/// on every way out of this function, errors and panics included.
pub async fn interact(engine: &Engine, session: Session, how: Interaction) -> anyhow::Result<Ended> {
    let _raw = if how.tty && how.stdin { Some(RawMode::enter()?) } else { None };
    let (mut reader, mut writer) = session.into_split();
    if how.tty
        && let Some((cols, rows)) = window_size()
    {
        sent(writer.resize(cols, rows).await)?;
    }
    let (input_tx, mut input_rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    if how.stdin {
        // A plain thread, not tokio's stdin: a blocking read on a tokio thread would hold up the runtime's
        // shutdown until the user typed again; this thread simply ends with the process.
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 4096];
            loop {
                match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = input_tx.blocking_send(None);
                        return;
                    }
                    Ok(n) => {
                        if input_tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    let mut scanner = DetachScanner::new(if how.tty { how.detach_keys.clone() } else { Vec::new() });
    let mut winch = signal(SignalKind::window_change())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut input_open = how.stdin;
    loop {
        tokio::select! {
            out = reader.read() => match out {
                Ok(Some(Output::Stdout(data))) => write_all(&mut std::io::stdout(), &data)?,
                Ok(Some(Output::Stderr(data))) => write_all(&mut std::io::stderr(), &data)?,
                Ok(Some(Output::Error(message))) => eprintln!("berth: {message}"),
                Ok(Some(Output::Exit(code))) => return Ok(Ended::Exit(code)),
                // Reset: the monitor closed the session as the run ended, with this client's input unread.
                Ok(None) | Err(SessionError::Connection { .. }) => return Ok(Ended::Lost),
                Err(e) => return Err(e.into()),
            },
            input = input_rx.recv(), if input_open => match input.flatten() {
                Some(data) => {
                    let (send, detach) = scanner.feed(&data);
                    if !send.is_empty() && !sent(writer.write_stdin(&send).await)? {
                        input_open = false;
                    }
                    if detach {
                        return Ok(Ended::Detached);
                    }
                }
                None => {
                    input_open = false;
                    if !how.tty {
                        sent(writer.close_stdin().await)?;
                    }
                }
            },
            _ = winch.recv() => {
                if how.tty && let Some((cols, rows)) = window_size() {
                    sent(writer.resize(cols, rows).await)?;
                }
            }
            // Docker's --sig-proxy: without a tty, berth's signals go to the container's main process; with a
            // tty (where Ctrl-C is a byte for the container) or for an exec, they end this client.
            _ = interrupt.recv() => match proxy_target(&how) {
                Some(id) => { engine.kill_container(id, Some("INT")).await?; }
                None => return Ok(Ended::Signalled(Signal::INT.as_raw())),
            },
            _ = term.recv() => match proxy_target(&how) {
                Some(id) => { engine.kill_container(id, Some("TERM")).await?; }
                None => return Ok(Ended::Signalled(Signal::TERM.as_raw())),
            },
            _ = quit.recv() => return Ok(Ended::Signalled(Signal::QUIT.as_raw())),
            _ = hangup.recv() => return Ok(Ended::Detached),
        }
    }
}

/// Whether a write reached the session. One whose run just ended is closed by the monitor while its last
/// output and exit code still wait to be read, so a write that finds it closed only ends the input.
fn sent(result: Result<(), SessionError>) -> Result<bool, SessionError> {
    match result {
        Ok(()) => Ok(true),
        Err(SessionError::Connection { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn proxy_target(how: &Interaction) -> Option<&str> {
    how.signal_target.as_deref().filter(|_| !how.tty)
}

fn write_all(sink: &mut dyn Write, data: &[u8]) -> std::io::Result<()> {
    sink.write_all(data)?;
    sink.flush()
}
