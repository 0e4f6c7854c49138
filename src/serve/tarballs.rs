//! Images and containers as tar streams: `GET /images/get` and `/images/{name}/get` (`docker save`),
//! `POST /images/load` (`docker load`) and `GET /containers/{id}/export` — the engine's `save`, `load`
//! and `export`, as `berth save|load|export` call them, with the request or response body as the file.

use std::io::Write;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

use super::archive::{ChannelWriter, with_body};
use super::{ApiError, ApiResult, Shared};

/// Streams what `write` produces, on a blocking thread, as an `application/x-tar` body. Errors found
/// after the body started can only end it early, so callers check what they can before.
fn tar_response(write: impl FnOnce(&mut dyn Write) -> Result<(), berth_engine::Error> + Send + 'static) -> Response {
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx));
        if let Err(e) = write(&mut out) {
            tracing::debug!("writing a tar stream: {e}");
        }
        let _ = out.flush();
    });
    super::hijack::streaming(StatusCode::OK, "application/x-tar", body)
}

/// `docker save`: every named image (checked first, so a missing one is a 404, not a cut stream).
pub fn save(server: Shared, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    for name in &names {
        server.engine.image(name)?;
    }
    Ok(tar_response(move |out| server.engine.save(&names, out)))
}

/// `docker load`: the body is the archive; moby's `{"stream": "Loaded image: …"}` lines answer.
pub async fn load(server: Shared, body: Body) -> ApiResult<Response> {
    let loaded = with_body(body, move |reader| server.engine.load(reader)).await??;
    let mut text = String::new();
    for image in &loaded {
        let lines: Vec<String> = match image.tags.is_empty() {
            true => vec![format!("Loaded image ID: {}\n", image.image_id)],
            false => image.tags.iter().map(|t| format!("Loaded image: {t}\n")).collect(),
        };
        for line in lines {
            text.push_str(&json!({ "stream": line }).to_string());
            text.push('\n');
        }
    }
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", Body::from(Bytes::from(text))))
}

/// `docker export`: the container's flat filesystem.
pub async fn export(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let rec = server.engine.container(&id)?;
    Ok(tar_response(move |out| server.engine.export(&rec.id, out)))
}

/// `images/create?fromSrc=-|URL&repo=&tag=&message=&changes=`: `docker import`, the body (or the URL's
/// content) as a one-layer image through `Engine::import`; moby answers the id as a status line.
pub async fn import(server: Shared, params: &super::query::Params, body: Body) -> ApiResult<Response> {
    let source = params.get("fromSrc").unwrap_or("-").to_string();
    let reference = params.repo_tag();
    let opts = berth_engine::archive::ImportOptions {
        reference,
        changes: params.non_empty("changes"),
        message: params.get("message").filter(|m| !m.is_empty()).map(str::to_string),
        source: source.clone(),
    };
    let id = match source.as_str() {
        "-" => with_body(body, move |reader| server.engine.import(reader, &opts)).await??,
        url => server.engine.import_url(url, &opts).await?,
    };
    let line = format!("{}\r\n", json!({ "status": id }));
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", Body::from(Bytes::from(line))))
}
