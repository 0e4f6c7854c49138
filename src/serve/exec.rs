//! Exec instances: the API creates one, then starts it (hijacked, or detached), resizes it and inspects
//! it. berth's exec is one engine call (`Engine::exec`, the same as `berth exec`), so an instance is
//! the options kept here until its start, then its state and exit code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::container::{ExecOptions, SessionError, Status};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::create::{Strings, parse_json};
use super::hijack::{self, MULTIPLEXED, RAW, STDERR};
use super::query::Params;
use super::{ApiError, ApiResult, Shared};

/// One exec instance.
struct Instance {
    created: std::time::Instant,
    container: String,
    options: ExecOptions,
    streams: (bool, bool),
    state: Mutex<State_>,
}

#[derive(Default)]
struct State_ {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    /// The running session's resizes.
    resize: Option<mpsc::Sender<(u16, u16)>>,
}

#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<Instance>>>);

/// Ended instances kept for `exec inspect`; beyond this many the oldest ended ones are forgotten.
const KEEP_ENDED: usize = 256;

impl Execs {
    fn insert(&self, id: String, instance: Instance) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ended = |i: &Instance| {
            let state = i.state.lock().unwrap_or_else(|e| e.into_inner());
            state.started && !state.running
        };
        if map.values().filter(|i| ended(i)).count() >= KEEP_ENDED {
            let mut old: Vec<(String, std::time::Instant)> =
                map.iter().filter(|(_, i)| ended(i)).map(|(k, i)| (k.clone(), i.created)).collect();
            old.sort_by_key(|(_, t)| *t);
            for (k, _) in old.iter().take(old.len() / 2) {
                map.remove(k);
            }
        }
        map.insert(id, Arc::new(instance));
    }

    fn get(&self, id: &str) -> ApiResult<Arc<Instance>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).cloned().ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    user: Option<String>,
    privileged: bool,
    tty: bool,
    console_size: Option<Vec<u16>>,
    attach_stdin: bool,
    attach_stdout: Option<bool>,
    attach_stderr: Option<bool>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    cmd: Strings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: Option<bool>,
    console_size: Option<Vec<u16>>,
}

/// `[rows, cols]` as (cols, rows).
fn console_size(size: &Option<Vec<u16>>) -> Option<(u16, u16)> {
    match size.as_deref() {
        Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*cols, *rows)),
        _ => None,
    }
}

pub async fn create(
    State(server): State<Shared>,
    Path(container): Path<String>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: CreateBody = parse_json(&body)?;
    let rec = server.engine.container(&container)?;
    match rec.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ApiError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        _ => return Err(ApiError::conflict(format!("container {} is not running", rec.id))),
    }
    let cmd = match body.cmd {
        Strings::None => Vec::new(),
        Strings::One(c) => vec![c],
        Strings::Many(c) => c,
    };
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let env: Vec<String> = body.env.unwrap_or_default();
    if let Some(bad) = env.iter().find(|e| berth_engine::run::check_env(e).is_err()) {
        return Err(ApiError::bad_request(format!("invalid environment variable: {bad}")));
    }
    let (cols, rows) = console_size(&body.console_size).unwrap_or((0, 0));
    let options = ExecOptions {
        cmd,
        env,
        user: body.user.filter(|u| !u.is_empty()),
        workdir: body.working_dir.filter(|w| !w.is_empty()),
        privileged: body.privileged,
        tty: body.tty,
        stdin: body.attach_stdin,
        detach: false,
        cols,
        rows,
    };
    let id = random_id();
    let streams = (body.attach_stdout.unwrap_or(true), body.attach_stderr.unwrap_or(true));
    let instance =
        Instance { created: std::time::Instant::now(), container: rec.id, options, streams, state: Mutex::default() };
    server.execs.insert(id.clone(), instance);
    Ok((StatusCode::CREATED, Json(json!({"Id": id}))))
}

fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn start(State(server): State<Shared>, Path(id): Path<String>, req: Request) -> ApiResult<Response> {
    let instance = server.execs.get(&id)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let body: StartBody = parse_json(&bytes)?;
    let req = Request::from_parts(parts, axum::body::Body::empty());
    let mut options = instance.options.clone();
    if let Some(tty) = body.tty {
        options.tty = tty;
    }
    if let Some((cols, rows)) = console_size(&body.console_size) {
        (options.cols, options.rows) = (cols, rows);
    }
    {
        let mut state = instance.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.started {
            return Err(ApiError::conflict(format!("Exec instance {id} has already been started")));
        }
        state.started = true;
    }
    if body.detach {
        options.detach = true;
        server.engine.exec(&instance.container, options).await.map_err(exec_error)?;
        instance.state.lock().unwrap_or_else(|e| e.into_inner()).running = true;
        return Ok(StatusCode::OK.into_response());
    }
    let tty = options.tty;
    // Made ready before the 101: a container that is not running is a 409, not a broken stream. Its process
    // starts once the 101 is out, as moby's does (see `Engine::exec_pending`).
    let pending = match server.engine.exec_pending(&instance.container, options.clone()).await {
        Ok(pending) => pending,
        Err(SessionError::Exec { message, exit_code, .. }) if exit_code != 125 => {
            // The command could not be run: moby reports it in the stream, the code in inspect.
            instance.state.lock().unwrap_or_else(|e| e.into_inner()).exit_code = Some(exit_code);
            let text = format!("OCI runtime exec failed: {message}\n");
            return Ok(hijack::hijack(req, if tty { RAW } else { MULTIPLEXED }, move |mut conn| async move {
                let _ = conn.write_all(&hijack::output(tty, STDERR, text.as_bytes())).await;
                let _ = conn.shutdown().await;
            }));
        }
        Err(e) => return Err(exec_error(e)),
    };
    let Some(pending) = pending else { return Ok(StatusCode::OK.into_response()) };
    let (tx, resizes) = mpsc::channel(8);
    {
        let mut state = instance.state.lock().unwrap_or_else(|e| e.into_inner());
        state.running = true;
        state.resize = Some(tx);
    }
    let stdin = instance.options.stdin;
    let streams = instance.streams;
    let running = Running(instance);
    Ok(hijack::hijack(req, if tty { RAW } else { MULTIPLEXED }, move |mut conn| async move {
        let session = match pending.connect().await {
            Ok(session) => session,
            Err(e) => {
                let _ = conn.write_all(&hijack::output(tty, STDERR, format!("exec failed: {e}\n").as_bytes())).await;
                let _ = conn.shutdown().await;
                return;
            }
        };
        let code = hijack::pump_session(conn, session, tty, stdin, streams, resizes).await;
        // With the exit code, under one lock: a client that saw its stream end asks for both at once.
        let mut state = running.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.exit_code = code.or(state.exit_code);
        state.running = false;
    }))
}

/// A started exec's stream: dropped when it ends, or unused when the client left before the upgrade (the
/// pending exec goes with it and its process never runs), the instance is no longer running.
struct Running(Arc<Instance>);

impl Drop for Running {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.running = false;
        state.resize = None;
    }
}

fn exec_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Engine(inner) => match *inner {
            berth_engine::Error::Container(berth_engine::container::ContainerError::InvalidState { .. }) => {
                ApiError::conflict(inner.to_string())
            }
            other => ApiError::from(other),
        },
        SessionError::Exec { message, exit_code: 125, .. } => ApiError::bad_request(message),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

pub async fn resize(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let instance = server.execs.get(&id)?;
    let size = super::attach::size(&params)?;
    let sender = instance.state.lock().unwrap_or_else(|e| e.into_inner()).resize.clone();
    match sender {
        Some(tx) => {
            let _ = tx.send(size).await;
            Ok(StatusCode::OK)
        }
        None => Err(ApiError::conflict(format!("exec instance {id} is not running"))),
    }
}

pub async fn inspect(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = server.execs.get(&id)?;
    let state = instance.state.lock().unwrap_or_else(|e| e.into_inner());
    let o = &instance.options;
    Ok(Json(json!({
        "ID": id,
        "Running": state.running,
        "ExitCode": state.exit_code,
        "ProcessConfig": {
            "tty": o.tty,
            "entrypoint": o.cmd.first(),
            "arguments": o.cmd.get(1..).unwrap_or_default(),
            "privileged": o.privileged,
            "user": o.user.clone().unwrap_or_default(),
        },
        "OpenStdin": o.stdin,
        "OpenStdout": instance.streams.0,
        "OpenStderr": instance.streams.1,
        "CanRemove": false,
        "ContainerID": instance.container,
        "DetachKeys": "",
        "Pid": 0,
    })))
}
