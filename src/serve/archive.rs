//! `docker cp`: `GET`/`HEAD`/`PUT /containers/{id}/archive?path=`, over the engine's tar copy (the one
//! `berth cp` uses: every lookup inside the container's root). The stat of the path travels base64-encoded
//! in `X-Docker-Container-Path-Stat`, which the CLI reads to decide how to name what it copies.

use std::io::{Read, Write};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::query::Params;
use super::{ApiError, ApiResult, Shared};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";
/// Go's `os.ModeDir`, the bit the CLI tests with `IsDir()`.
const GO_MODE_DIR: u32 = 1 << 31;

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .get("path")
        .filter(|p| !p.is_empty())
        .map(|p| if p.starts_with('/') { p.to_string() } else { format!("/{p}") })
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

/// The path's stat header, or moby's 404 when the container lacks it.
fn stat_header(server: &Shared, id: &str, path: &str) -> ApiResult<HeaderValue> {
    let is_dir = server
        .engine
        .container_path_is_dir(id, path)?
        .ok_or_else(|| ApiError::not_found(format!("Could not find the file {path} in container {id}")))?;
    let name = path.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("/");
    let mode = if is_dir { GO_MODE_DIR | 0o755 } else { 0o644 };
    let stat =
        json!({"name": name, "size": 0, "mode": mode, "mtime": chrono::Utc::now().to_rfc3339(), "linkTarget": ""});
    let encoded = base64::engine::general_purpose::STANDARD.encode(stat.to_string());
    HeaderValue::from_str(&encoded).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

pub async fn stat(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(STAT_HEADER, stat_header(&server, &id, &path)?);
    Ok(response)
}

/// A blocking writer whose bytes become the response body.
pub struct ChannelWriter(pub mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn get(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let stat = stat_header(&server, &id, &path)?;
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx));
        if let Err(e) = server.engine.copy_from_container(&id, &path, None, &mut out) {
            tracing::debug!("copying {path} from {id}: {e}");
        }
        let _ = out.flush();
    });
    let mut response = super::hijack::streaming(StatusCode::OK, "application/x-tar", body);
    response.headers_mut().insert(STAT_HEADER, stat);
    Ok(response)
}

/// A blocking reader of the request body, fed by a task (archive PUT, a build's context).
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

/// Runs `job` over the request body on a blocking thread, then reads to the body's end what the job left
/// (a tar reader stops at the first zero block; a client may send more): an answer sent while the client
/// is still writing closes the connection under it, and the client sees a broken pipe, not the answer.
pub async fn with_body<T: Send + 'static>(
    body: Body,
    job: impl FnOnce(&mut ChannelReader) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let mut reader = body_reader(body);
    tokio::task::spawn_blocking(move || {
        let out = job(&mut reader);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        out
    })
    .await
}

/// The request body as a blocking reader, for the engine's tar readers on a blocking thread.
fn body_reader(body: Body) -> ChannelReader {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(Ok(chunk)) = stream.next().await {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    ChannelReader { rx, chunk: Bytes::new() }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

pub async fn put(
    State(server): State<Shared>,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&params)?;
    let rec = server.engine.container(&id)?;
    with_body(body, move |reader| server.engine.copy_to_container(&rec.id, &path, reader)).await??;
    Ok(StatusCode::OK)
}
