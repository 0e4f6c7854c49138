//! `POST /containers/{id}/attach` and `/resize`. Clients attach before they start (`docker run`), so an
//! attach to a container without a tty or input follows its log from that moment to the end of its next
//! run (as the CLI's foreground run does: nothing written between start and attach is lost); one with
//! input (`-i`) reads the log just so and feeds the monitor's session once the container runs; a tty's
//! (`-t`) is that session's, both ways.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::container::{ContainerRecord, Output, Status};
use berth_engine::logs::{LogEntry, LogFilter, LogFollower, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;

use super::hijack::{self, Conn, MULTIPLEXED, RAW, STDERR, STDOUT};
use super::query::Params;
use super::runs::{self, Condition};
use super::{ApiError, ApiResult, Shared};

/// The live attach sessions of tty containers, which `resize` reaches (a resize through a fresh session
/// could take the first client's place and the output waiting for it).
#[derive(Default)]
pub struct Ttys(Mutex<HashMap<String, Vec<Resizes>>>);

/// Where a session takes its window sizes, (cols, rows).
type Resizes = mpsc::Sender<(u16, u16)>;

impl Ttys {
    fn register(&self, id: &str) -> mpsc::Receiver<(u16, u16)> {
        let (tx, rx) = mpsc::channel(8);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let senders = map.entry(id.to_string()).or_default();
        senders.retain(|s| !s.is_closed());
        senders.push(tx);
        rx
    }

    /// Sends the size to the container's live sessions; false when it has none.
    fn resize(&self, id: &str, size: (u16, u16)) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(senders) = map.get_mut(id) else { return false };
        senders.retain(|s| !s.is_closed());
        senders.iter().filter(|s| s.try_send(size).is_ok()).count() > 0
    }
}

/// The entries' bytes as the client reads them.
pub fn encode(entries: &[LogEntry], tty: bool, (stdout, stderr): (bool, bool), timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let stream = match e.stream {
            Stream::Stdout if stdout => STDOUT,
            Stream::Stderr if stderr => STDERR,
            _ => continue,
        };
        let text = match timestamps {
            true => format!("{} {}", e.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), e.text),
            false => e.text.clone(),
        };
        out.extend(hijack::output(tty, stream, text.as_bytes()));
    }
    out
}

pub async fn attach(
    State(server): State<Shared>,
    Path(id): Path<String>,
    params: Params,
    req: Request,
) -> ApiResult<Response> {
    let rec = server.engine.container(&id)?;
    let (logs, stream) = (params.flag("logs"), params.flag("stream"));
    if stream && matches!(rec.status, Status::Exited | Status::Dead) && !logs {
        return Err(ApiError::conflict("You cannot attach to a stopped container, start it first"));
    }
    let streams = (params.flag("stdout"), params.flag("stderr"));
    let stdin = params.flag("stdin") && rec.options.open_stdin;
    let tty = rec.options.tty;
    let content_type = if tty { RAW } else { MULTIPLEXED };
    let path = server.engine.container_log_path(&rec);
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(&path);
    // Opened now, before the client starts the container.
    let follower = LogFollower::at_end(&path)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("opening the log of {id}: {e}")))?;
    let resizes = server.ttys.register(&rec.id);
    Ok(hijack::hijack(req, content_type, move |mut conn| async move {
        if logs {
            let entries = server.engine.container_logs(&rec.id, &LogFilter::default()).map(|(_, e)| e);
            let bytes = encode(&entries.unwrap_or_default(), tty, streams, false);
            if conn.write_all(&bytes).await.is_err() {
                return;
            }
        }
        if stream {
            if tty {
                interact(&server, conn, rec, stdin, streams, resizes).await;
            } else if stdin {
                // Output from the log as for any attach, input into the run's session once it runs.
                let (client_in, client_out) = tokio::io::split(conn);
                let input = feed(&server, client_in, rec.clone());
                follow(&server, client_out, rec, follower, streams, input).await;
            } else {
                follow(&server, conn, rec, follower, streams, std::future::pending()).await;
            }
        } else {
            let _ = conn.shutdown().await;
        }
    }))
}

/// Waits until the container `rec` (as read at the attach) runs; false when its next run ended first or
/// it went away.
async fn runs_now(server: &Shared, rec: &ContainerRecord) -> bool {
    let exit = server.runs.next_exit(&rec.id);
    loop {
        match server.engine.container(&rec.id) {
            Ok(now) if now.status == Status::Running => return true,
            Ok(now) if now.finished_at == rec.finished_at && exit.borrow().is_none() => {}
            _ => return false,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A tty container's attach: joins its session once it runs (it may not be started yet) and pumps it.
async fn interact(
    server: &Shared,
    conn: Box<dyn Conn>,
    rec: ContainerRecord,
    stdin: bool,
    streams: (bool, bool),
    resizes: mpsc::Receiver<(u16, u16)>,
) {
    let mut conn = conn;
    if !runs_now(server, &rec).await {
        let _ = conn.shutdown().await;
        return;
    }
    match server.engine.attach(&rec.id).await {
        Ok(session) => {
            hijack::pump_session(conn, session, rec.options.tty, stdin, streams, resizes).await;
        }
        Err(e) => {
            tracing::debug!("attach to {}: {e}", rec.id);
            let _ = conn.shutdown().await;
        }
    }
}

/// Sends the client's bytes to the input of the container's run once it runs; the client's EOF closes
/// that input. Ends when the session does: the monitor sends the exit after the run's last output went
/// to the log. The session's output is dropped: the attach sends the log's.
async fn feed(server: &Shared, mut client_in: ReadHalf<Box<dyn Conn>>, rec: ContainerRecord) {
    if !runs_now(server, &rec).await {
        return;
    }
    let (mut reader, mut writer) = match server.engine.attach(&rec.id).await {
        Ok(session) => session.into_split(),
        Err(e) => {
            // The run's end, from the store, ends the attach.
            tracing::debug!("attach to {}: {e}", rec.id);
            return std::future::pending().await;
        }
    };
    let drain = async move {
        while let Ok(Some(out)) = reader.read().await
            && !matches!(out, Output::Exit(_))
        {}
    };
    let input = async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = client_in.read(&mut buf).await
            && n > 0
        {
            if writer.write_stdin(&buf[..n]).await.is_err() {
                return;
            }
        }
        let _ = writer.close_stdin().await;
        // The monitor drops a client that hangs up, perhaps before reading what it sent: the session stays.
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = drain => {}
        () = input => {}
    }
}

/// Sends the log as it grows until the container's next run ends, or `end` says it did.
async fn follow(
    server: &Shared,
    mut conn: impl tokio::io::AsyncWrite + Unpin,
    rec: ContainerRecord,
    mut follower: LogFollower,
    streams: (bool, bool),
    end: impl std::future::Future<Output = ()>,
) {
    let ended = async {
        tokio::select! {
            _ = runs::wait(server, rec.clone(), Condition::NextExit) => {}
            () = end => {}
        }
    };
    tokio::pin!(ended);
    let mut done = false;
    loop {
        tokio::select! {
            () = &mut ended, if !done => done = true,
            () = tokio::time::sleep(Duration::from_millis(25)), if !done => {}
        }
        let entries = follower.poll().unwrap_or_default();
        let bytes = encode(&entries, false, streams, false);
        if !bytes.is_empty() && conn.write_all(&bytes).await.is_err() {
            return;
        }
        if done {
            break;
        }
    }
    let _ = conn.shutdown().await;
}

/// `resize?h=&w=`: the pty of a tty container.
pub async fn resize(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let rec = server.engine.container(&id)?;
    let size = size(&params)?;
    if !rec.options.tty || server.ttys.resize(&rec.id, size) {
        return Ok(StatusCode::OK);
    }
    if rec.status != Status::Running {
        return Err(ApiError::conflict(format!("cannot resize container {id}: it is not running")));
    }
    let mut session = server.engine.attach(&rec.id).await.map_err(session_error)?;
    session.resize(size.0, size.1).await.map_err(session_error)?;
    Ok(StatusCode::OK)
}

/// `w` and `h` of a resize, as (cols, rows).
pub fn size(params: &Params) -> ApiResult<(u16, u16)> {
    let dim = |key: &str| -> ApiResult<u16> {
        let v = params.int(key)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| ApiError::bad_request(format!("invalid {key} {v}: out of range")))
    };
    Ok((dim("w")?, dim("h")?))
}

pub fn session_error(e: berth_engine::container::SessionError) -> ApiError {
    match e {
        berth_engine::container::SessionError::Engine(inner) => ApiError::from(*inner),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
