//! `POST /build`, the legacy builder's protocol (`DOCKER_BUILDKIT=0 docker build`, docker-py, compose): a
//! tar context in the body, options in the query, `{"stream": ...}` lines back ending with the
//! `Successfully built`/`Successfully tagged` lines the docker CLI prints; base images are pulled with
//! the request's `X-Registry-Config` credentials. The build is `Engine::build`,
//! as for `berth build`; and `POST /build/prune` is `builder prune`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use berth_engine::builder::{BuildEvent, BuildOptions};
use bytes::Bytes;
use serde_json::{Value, json};

use super::query::Params;
use super::{ApiError, ApiResult, Shared};

/// A JSON map of the query (`buildargs`, `labels`); null values (a build arg without one) are left out.
fn json_map(params: &Params, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(text) = params.get(key).filter(|t| !t.trim().is_empty()) else { return Ok(BTreeMap::new()) };
    let map: BTreeMap<String, Option<String>> =
        serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("invalid {key} {text:?}: {e}")))?;
    Ok(map.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

fn stream_line(text: &str) -> Bytes {
    Bytes::from(format!("{}\r\n", json!({ "stream": text })))
}

pub async fn build(
    State(server): State<Shared>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let given = super::auth::registry_config(&headers)?;
    let tags = params.all("t").into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>();
    let build_args = json_map(&params, "buildargs")?;
    let labels = json_map(&params, "labels")?;
    let network = params.get("networkmode").filter(|n| !n.is_empty() && *n != "default").map(str::to_string);
    let quiet = params.flag("q");
    let dockerfile = params.get("dockerfile").filter(|d| !d.is_empty()).map(str::to_string);
    if params.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request("building from a remote context is not supported by berth serve"));
    }
    let platforms = params
        .get("platform")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(berth_engine::registry::Platform::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unpacker = server.clone();
    let context = super::archive::with_body(body, move |reader| unpacker.engine.unpack_build_context(reader)).await??;
    let options = BuildOptions {
        context: context.path().to_path_buf(),
        dockerfile: dockerfile.map(|d| context.path().join(d)),
        dockerfile_text: None,
        tags,
        build_args,
        target: params.get("target").filter(|t| !t.is_empty()).map(str::to_string),
        no_cache: params.flag("nocache"),
        pull: params.flag("pull"),
        labels,
        network,
        secrets: BTreeMap::new(),
        platforms,
    };
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let progress = move |event: BuildEvent| {
            if quiet {
                return;
            }
            let text = match event {
                BuildEvent::Step { number, name } => format!("Step {number} : {name}\n"),
                BuildEvent::Cached { .. } => " ---> Using cache\n".to_string(),
                BuildEvent::Output { line, .. } => format!("{line}\n"),
                BuildEvent::Done { .. } | BuildEvent::Planned { .. } | BuildEvent::Failed { .. } => return,
                BuildEvent::Pulling { image } => format!("Pulling {image}\n"),
            };
            let _ = events_tx.send(stream_line(&text));
        };
        let build = given.scope(server.engine.build(options, &progress));
        tokio::pin!(build);
        // A client that leaves does not stop the build: its steps are cached for the next one.
        let outcome = loop {
            tokio::select! {
                outcome = &mut build => break outcome,
                Some(line) = events.recv() => { let _ = tx.send(line).await; }
            }
        };
        while let Ok(line) = events.try_recv() {
            let _ = tx.send(line).await;
        }
        drop(context);
        let lines: Vec<Bytes> = match outcome {
            Ok(outcome) if quiet => vec![stream_line(&format!("{}\n", outcome.image_id))],
            Ok(outcome) => {
                let short: String = outcome.image_id.trim_start_matches("sha256:").chars().take(12).collect();
                let mut lines = vec![
                    Bytes::from(format!("{}\r\n", json!({"aux": {"ID": outcome.image_id}}))),
                    stream_line(&format!("Successfully built {short}\n")),
                ];
                for tag in &outcome.tags {
                    let familiar = berth_engine::reference::Reference::parse(tag)
                        .ok()
                        .and_then(|r| r.familiar_tagged())
                        .unwrap_or_else(|| tag.clone());
                    lines.push(stream_line(&format!("Successfully tagged {familiar}\n")));
                }
                lines
            }
            Err(e) => {
                let message = e.to_string();
                vec![Bytes::from(format!("{}\r\n", json!({"errorDetail": {"message": message}, "error": message})))]
            }
        };
        for line in lines {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", body))
}

pub async fn prune(State(server): State<Shared>) -> ApiResult<Json<Value>> {
    let report = server.engine.prune_build_cache()?;
    Ok(Json(json!({"CachesDeleted": report.images, "SpaceReclaimed": report.reclaimed})))
}
