//! Image endpoints: list, pull (`images/create` with progress lines), inspect, history, tag, push, DELETE
//! and prune; a pull or push goes with the request's `X-Registry-Auth` credentials (`auth.rs`). Names carry `/` and `:` (`/images/127.0.0.1:5000/busybox/json`), so `/images/{*rest}` is split
//! here by its last segment.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::events::{Event, LayerProgress, PushLayerProgress};
use berth_engine::images::{ImageRecord, RemovedImage};
use berth_engine::pull::PullOptions;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::query::Params;
use super::{ApiError, ApiResult, Shared};

/// An image as `GET /images/json` lists it.
pub fn summary(image: &ImageRecord) -> Value {
    let labels = image.config.config().as_ref().and_then(|c| c.labels().clone()).unwrap_or_default();
    json!({
        "Id": image.id,
        "ParentId": "",
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Created": image.created.as_deref().map_or(0, super::containers::unix_time),
        "Size": image.size,
        "SharedSize": -1,
        "VirtualSize": image.size,
        "Labels": labels,
        "Containers": -1,
    })
}

pub async fn list(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let mut images = server.engine.list_images()?;
    for filter in &filters {
        let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
        match key {
            "dangling" => {
                let dangling = super::query::truthy(value);
                images.retain(|i| i.repo_tags.is_empty() == dangling);
            }
            "reference" => images.retain(|i| i.repo_tags.iter().any(|t| reference_matches(t, value))),
            "label" => {
                let (k, v) = value.split_once('=').map_or((value, None), |(k, v)| (k, Some(v)));
                images.retain(|i| {
                    let labels = i.config.config().as_ref().and_then(|c| c.labels().clone()).unwrap_or_default();
                    labels.get(k).is_some_and(|have| v.is_none_or(|want| want == have))
                });
            }
            _ => {
                return Err(ApiError::bad_request(format!("invalid filter {key:?}: use dangling, reference or label")));
            }
        }
    }
    Ok(Json(Value::Array(images.iter().map(summary).collect())))
}

/// Docker's `reference` filter: the name, or `name:tag`, with `*` matching within a path part.
fn reference_matches(tag: &str, pattern: &str) -> bool {
    let name = tag.rsplit_once(':').map_or(tag, |(n, _)| n);
    glob(pattern, tag) || glob(pattern, name)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else { return false };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i) && !tail[..*i].contains('/'))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// `images/create?fromImage=&tag=`: a pull, its progress as moby's JSON lines (`fromSrc` is an import). As
/// moby, a pull refused before any progress (no such image, access denied) is an HTTP error; a later
/// failure an error inside the stream.
pub async fn pull(
    State(server): State<Shared>,
    params: Params,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    if params.get("fromSrc").is_some() {
        return super::tarballs::import(server, &params, body).await;
    }
    let from = params
        .get("fromImage")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage is required"))?
        .to_string();
    let tag = params.get("tag").filter(|t| !t.is_empty()).map(str::to_string);
    let reference = match tag.as_deref() {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None if from.contains('@') || last_part_has_tag(&from) => from.clone(),
        None => format!("{from}:latest"),
    };
    let parsed = berth_engine::reference::Reference::parse(&reference).map_err(berth_engine::Error::from)?;
    let given = super::auth::registry_auth(&headers, &parsed.registry)?;
    let platform = params
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(berth_engine::registry::Platform::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (tx, body) = super::hijack::channel_body();
    let (began_tx, began) = tokio::sync::oneshot::channel::<Result<(), berth_engine::Error>>();
    let busy = super::listen::hold();
    let (pulled_ref, shown) = (parsed.to_string(), reference.clone());
    tokio::spawn(async move {
        let _busy = busy;
        let send = |v: Value| {
            let tx = tx.clone();
            async move { tx.send(Bytes::from(format!("{v}\r\n"))).await.is_ok() }
        };
        let short = |layer: &str| layer.trim_start_matches("sha256:").chars().take(12).collect::<String>();
        let wanted = tag.unwrap_or_else(|| "latest".into());
        let pulling =
            json!({"status": format!("Pulling from {}", from.trim_end_matches(&format!(":{wanted}"))), "id": wanted});
        // The response starts with the first progress (or the pull's end): until then an error is the status's.
        let mut began_tx = Some(began_tx);
        let mut events = server.engine.events().subscribe();
        let pull = given.scope(server.engine.pull(&reference, PullOptions { platform }));
        tokio::pin!(pull);
        // A client that leaves mid-pull does not stop it: the image is stored whole or not at all.
        let result = loop {
            tokio::select! {
                result = &mut pull => break result,
                event = events.recv() => match event {
                    // Only this pull's: other clients may pull at the same time.
                    Ok(Event::Pull(p)) if p.reference == pulled_ref => {
                        if let Some(began) = began_tx.take() {
                            let _ = began.send(Ok(()));
                            send(pulling.clone()).await;
                        }
                        let id = short(&p.layer);
                        let line = match p.progress {
                            LayerProgress::Waiting => json!({"status": "Waiting", "id": id}),
                            LayerProgress::AlreadyExists => json!({"status": "Already exists", "id": id}),
                            LayerProgress::Downloading { done, total } => json!({
                                "status": "Downloading", "id": id,
                                "progressDetail": {"current": done, "total": total},
                            }),
                            LayerProgress::Retrying { attempt, reason } => {
                                json!({"status": format!("Retrying (attempt {attempt}): {reason}"), "id": id})
                            }
                            LayerProgress::Verifying => json!({"status": "Verifying Checksum", "id": id}),
                            LayerProgress::Done => json!({"status": "Pull complete", "id": id}),
                        };
                        send(line).await;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {}
                },
            }
        };
        let result = match (result, began_tx.take()) {
            (Err(e), Some(began)) => {
                let _ = began.send(Err(e));
                return;
            }
            (result, began) => {
                if let Some(began) = began {
                    let _ = began.send(Ok(()));
                    send(pulling).await;
                }
                result
            }
        };
        match result {
            Ok(pulled) => {
                send(json!({"status": format!("Digest: {}", pulled.digest)})).await;
                let status = match pulled.updated {
                    true => format!("Status: Downloaded newer image for {reference}"),
                    false => format!("Status: Image is up to date for {reference}"),
                };
                send(json!({"status": status})).await;
            }
            Err(e) => {
                let message = e.to_string();
                send(json!({"errorDetail": {"message": message}, "error": message})).await;
            }
        }
    });
    match began.await {
        Ok(Ok(())) => Ok(super::hijack::streaming(StatusCode::OK, "application/json", body)),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the pull of {shown} ended"))),
    }
}

/// Whether the last path part of a name carries a `:tag` (a registry port is not one).
fn last_part_has_tag(name: &str) -> bool {
    name.rsplit('/').next().is_some_and(|last| last.contains(':'))
}

/// `GET /images/{name}/json` and `/images/{name}/history`; `/images/get` and `/images/{name}/get` (save).
pub async fn get_named(State(server): State<Shared>, Path(rest): Path<String>, params: Params) -> ApiResult<Response> {
    if rest == "get" {
        return super::tarballs::save(server, params.all("names"));
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return super::tarballs::save(server, vec![name.to_string()]);
    }
    if let Some(name) = rest.strip_suffix("/json") {
        let mut doc = server.engine.inspect_image(name)?;
        // API 1.44 still carries the config of the container that made the image, which docker-compose
        // 1.29 reads image volumes from; the image's own config stands in for it.
        if let Some(object) = doc.as_object_mut()
            && !object.contains_key("ContainerConfig")
        {
            let config = object.get("Config").cloned().unwrap_or(Value::Null);
            object.insert("ContainerConfig".into(), config);
        }
        return Ok(Json(doc).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let history: Vec<Value> = server
            .engine
            .image_history(name)?
            .iter()
            .rev()
            .map(|h| {
                json!({
                    "Id": h.id.clone().unwrap_or_else(|| "<missing>".into()),
                    "Created": h.created.as_deref().map_or(0, super::containers::unix_time),
                    "CreatedBy": h.created_by,
                    "Tags": h.tags,
                    "Size": h.size,
                    "Comment": h.comment,
                })
            })
            .collect();
        return Ok(Json(Value::Array(history)).into_response());
    }
    Err(absent("GET", &rest))
}

/// `POST /images/{name}/tag?repo=&tag=`, `/images/{name}/push` and `POST /images/load`.
pub async fn post_named(
    State(server): State<Shared>,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    if rest == "load" {
        return super::tarballs::load(server, body).await;
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return push(server, name, &params, &headers).await;
    }
    let Some(name) = rest.strip_suffix("/tag") else { return Err(absent("POST", &rest)) };
    let target = params.repo_tag().ok_or_else(|| ApiError::bad_request("repo is required"))?;
    server.engine.tag_image(name, &target)?;
    Ok(StatusCode::CREATED.into_response())
}

fn absent(method: &str, rest: &str) -> ApiError {
    ApiError::not_found(format!("page not found: berth serve does not implement {method} /images/{rest}"))
}

/// `DELETE /images/{name}?force=`: what went, as moby lists it.
pub async fn remove(State(server): State<Shared>, Path(name): Path<String>, params: Params) -> ApiResult<Json<Value>> {
    let removed = server.engine.remove_image(&name, params.flag("force"))?;
    Ok(Json(Value::Array(removed.iter().map(removed_json).collect())))
}

fn removed_json(r: &RemovedImage) -> Value {
    match r {
        RemovedImage::Untagged(name) => json!({"Untagged": name}),
        RemovedImage::Deleted(id) => json!({"Deleted": id}),
    }
}

pub async fn prune(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let mut all = false;
    for filter in params.filters()? {
        match filter.split_once('=') {
            Some(("dangling", v)) => all = !super::query::truthy(v),
            _ => return Err(ApiError::bad_request(format!("invalid filter {filter:?}: image prune takes dangling"))),
        }
    }
    let report = server.engine.prune_images(all)?;
    Ok(Json(json!({
        "ImagesDeleted": report.removed.iter().map(removed_json).collect::<Vec<_>>(),
        "SpaceReclaimed": report.reclaimed,
    })))
}

/// `POST /images/{name}/push?tag=`: `Engine::push`, its per-layer progress as moby's JSON lines, the closing
/// `TAG: digest: … size: N` status and the `aux` record the docker CLI reads; an error inside the stream.
async fn push(server: Shared, name: &str, params: &Params, headers: &HeaderMap) -> ApiResult<Response> {
    let reference = match params.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{name}:{tag}"),
        None => name.to_string(),
    };
    let parsed = berth_engine::reference::Reference::parse(&reference).map_err(berth_engine::Error::from)?;
    let given = super::auth::registry_auth(headers, &parsed.registry)?;
    let all_tags = !last_part_has_tag(&reference);
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        let send = |v: Value| {
            let tx = tx.clone();
            async move { tx.send(Bytes::from(format!("{v}\r\n"))).await.is_ok() }
        };
        let short = |layer: &str| layer.trim_start_matches("sha256:").chars().take(12).collect::<String>();
        let mut events = server.engine.events().subscribe();
        let push = given.scope(server.engine.push(&reference, berth_engine::push::PushOptions { all_tags }));
        tokio::pin!(push);
        // A client that leaves mid-push does not stop it: the manifest goes last, so nothing half-made shows.
        let result = loop {
            tokio::select! {
                result = &mut push => break result,
                event = events.recv() => {
                    let Ok(Event::Push(p)) = event else { continue };
                    let id = short(&p.layer);
                    let line = match p.progress {
                        PushLayerProgress::Preparing => json!({"status": "Preparing", "id": id}),
                        PushLayerProgress::Waiting => json!({"status": "Waiting", "id": id}),
                        PushLayerProgress::Pushing { done, total } => json!({
                            "status": "Pushing", "id": id, "progressDetail": {"current": done, "total": total},
                        }),
                        PushLayerProgress::Pushed => json!({"status": "Pushed", "id": id}),
                        PushLayerProgress::AlreadyExists => json!({"status": "Layer already exists", "id": id}),
                        PushLayerProgress::Mounted { from } => json!({"status": format!("Mounted from {from}"), "id": id}),
                    };
                    send(line).await;
                }
            }
        };
        match result {
            Ok(pushed) => {
                for p in pushed {
                    send(json!({"status": format!("{}: digest: {} size: {}", p.tag, p.digest, p.size)})).await;
                    send(json!({"progressDetail": {}, "aux": {"Tag": p.tag, "Digest": p.digest, "Size": p.size}}))
                        .await;
                }
            }
            Err(e) => {
                let message = e.to_string();
                send(json!({"errorDetail": {"message": message}, "error": message})).await;
            }
        }
    });
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", body))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: `Engine::commit`, as `berth
/// commit` calls it; moby answers the new image's id.
pub async fn commit(State(server): State<Shared>, params: Params) -> ApiResult<Response> {
    let container = params
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?
        .to_string();
    let reference = params.repo_tag();
    let text = |key: &str| params.get(key).filter(|v| !v.is_empty()).map(str::to_string);
    let opts = berth_engine::local::CommitOptions {
        reference,
        comment: text("comment"),
        author: text("author"),
        pause: params.get("pause").is_none_or(super::query::truthy),
        changes: params.non_empty("changes"),
    };
    let id = tokio::task::spawn_blocking(move || server.engine.commit(&container, &opts)).await??;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_match_as_dockers() {
        assert!(reference_matches("busybox:latest", "busybox"));
        assert!(reference_matches("busybox:latest", "busy*"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("127.0.0.1:5000/busybox:latest", "busybox"));
        assert!(reference_matches("127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/*"));
        assert!(!last_part_has_tag("127.0.0.1:5000/busybox") && last_part_has_tag("busybox:1"));
    }
}
