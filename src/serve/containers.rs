//! Container endpoints other than create and attach: list, inspect, the lifecycle verbs, wait, logs, top,
//! changes, rename, update, prune and DELETE, each one engine call.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::Error;
use berth_engine::container::{ContainerError, ContainerRecord, ListFilter, ListOptions, Status};
use berth_engine::logs::{LogFilter, parse_time};
use berth_engine::network::PortMapping;
use serde_json::{Value, json};

use super::hijack::{self, MULTIPLEXED, RAW};
use super::query::Params;
use super::runs::{self, Condition};
use super::{ApiError, ApiResult, Shared};

/// Seconds since the epoch of an RFC 3339 time (the lists' `Created`), 0 when unreadable.
pub fn unix_time(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp())
}

/// A container as `GET /containers/json` lists it.
pub fn summary(rec: &ContainerRecord, ports: &[PortMapping]) -> Value {
    let network = rec.options.network.clone().unwrap_or_else(|| "bridge".into());
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port, "PublicPort": p.host_port,
                   "Type": p.protocol.as_str()})
        })
        .collect();
    let status = berth_engine::display::status(
        berth_engine::display::StatusFields {
            status: rec.status,
            exit_code: rec.exit_code.into(),
            started_at: rec.started_at.as_deref(),
            finished_at: rec.finished_at.as_deref(),
            health: rec.health.as_ref().map(|h| h.status),
        },
        chrono::Utc::now(),
    );
    let mut networks = serde_json::Map::new();
    for name in std::iter::once(&network).chain(rec.options.extra_networks.iter()) {
        networks.insert(name.clone(), json!({"NetworkID": "", "Aliases": null}));
    }
    json!({
        "Id": rec.id,
        "Names": [format!("/{}", rec.name)],
        "Image": rec.image_name,
        "ImageID": rec.image_id,
        "Command": rec.command.join(" "),
        "Created": unix_time(&rec.created_at),
        "Ports": ports,
        "Labels": rec.options.labels,
        "State": rec.status.as_str(),
        "Status": status,
        "HostConfig": {"NetworkMode": network},
        "NetworkSettings": {"Networks": networks},
        "Mounts": berth_engine::volume::mounts_json(&rec.options.mounts, std::path::Path::new("")),
    })
}

pub async fn list(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?.iter().map(|f| ListFilter::parse(f)).collect::<Result<Vec<_>, _>>()?;
    let mut all = params.flag("all");
    let limit = params.int("limit")?.filter(|l| *l > 0);
    // Docker: a limit lists stopped containers too.
    all |= limit.is_some();
    let mut list = server.engine.list_containers(&ListOptions { all, filters })?;
    if let Some(limit) = limit {
        list.truncate(limit as usize);
    }
    let published = server.engine.published_ports()?;
    let size = params.flag("size");
    let rows = list
        .iter()
        .map(|rec| {
            let mut row = summary(rec, published.get(&rec.id).map(Vec::as_slice).unwrap_or_default());
            if size {
                row["SizeRw"] = json!(server.engine.container_size(rec));
            }
            row
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

pub async fn inspect(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Json<Value>> {
    let rec = server.engine.container(&id)?;
    let mut doc = server.engine.inspect_container(&rec)?;
    if params.flag("size") {
        doc["SizeRw"] = json!(server.engine.container_size(&rec));
    }
    Ok(Json(doc))
}

pub async fn start(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    match server.engine.start_container(&id).await {
        Ok(outcome) => {
            server.runs.started(&server, outcome);
            Ok(StatusCode::NO_CONTENT)
        }
        Err(Error::Container(ContainerError::AlreadyRunning { .. })) => Ok(StatusCode::NOT_MODIFIED),
        Err(e) => {
            // The run that never began ends for its attach and wait; an --rm container goes, as moby's.
            if let Ok(rec) = server.engine.container(&id) {
                if rec.options.auto_remove && !rec.status.is_active() {
                    let _ = server.engine.remove_container(&rec.id, true).await;
                }
                server.runs.failed(&rec.id, e.exit_code());
            }
            Err(e.into())
        }
    }
}

/// `t` (or moby's older `timeout`): seconds before SIGKILL.
fn stop_timeout(params: &Params) -> ApiResult<Option<i64>> {
    Ok(params.int("t")?.or(params.int("timeout")?))
}

pub async fn stop(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let rec = server.engine.container(&id)?;
    if !matches!(rec.status, Status::Running | Status::Paused | Status::Restarting) {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    server.engine.stop_container(&rec.id, stop_timeout(&params)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restart(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let outcome = server.engine.restart_container(&id, stop_timeout(&params)?).await?;
    server.runs.started(&server, outcome);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let rec = server.engine.container(&id)?;
    if !matches!(rec.status, Status::Running | Status::Paused | Status::Restarting) {
        return Err(ApiError::conflict(format!("cannot kill container: {id}: container {} is not running", rec.id)));
    }
    let signal = params.get("signal").filter(|s| !s.is_empty()).unwrap_or("KILL");
    server.engine.kill_container(&rec.id, Some(signal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    server.engine.pause_container(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    server.engine.unpause_container(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `wait`: the 200 and its headers at once, the body `{"StatusCode":N}` when the condition holds.
pub async fn wait(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let condition = Condition::parse(params.get("condition"))?;
    let rec = server.engine.container(&id)?;
    let (tx, body) = hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        // A client that left (the docker CLI drops the wait of `run -d`) is waited for no longer.
        let code = tokio::select! {
            code = runs::wait(&server, rec, condition) => code,
            () = tx.closed() => return,
        };
        let line = format!("{}\n", json!({"StatusCode": code, "Error": null}));
        let _ = tx.send(Bytes::from(line)).await;
    });
    Ok(hijack::streaming(StatusCode::OK, "application/json", body))
}

pub async fn rename(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let name = params.get("name").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("name is required"))?;
    server.engine.rename_container(&id, name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `update`: the body's limits and restart policy as `berth update`'s flags.
pub async fn update(
    State(server): State<Shared>,
    Path(id): Path<String>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<Json<Value>> {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        memory: Option<i64>,
        memory_swap: Option<i64>,
        nano_cpus: Option<i64>,
        cpu_quota: Option<i64>,
        cpu_period: Option<i64>,
        pids_limit: Option<i64>,
        restart_policy: Option<super::create::RestartPolicy>,
    }
    let body: Body = super::create::parse_json(&body)?;
    let cpus = super::create::cpus(body.nano_cpus, body.cpu_quota, body.cpu_period);
    let flags = berth_engine::container::UpdateFlags {
        memory: body.memory.filter(|m| *m != 0).map(|m| m.to_string()),
        memory_swap: body.memory_swap.filter(|m| *m != 0).map(|m| m.to_string()),
        cpus: cpus.map(|c| c.to_string()),
        pids_limit: body.pids_limit.filter(|p| *p != 0).map(|p| p.to_string()),
        restart: body.restart_policy.and_then(|p| p.flag()),
    };
    let update = berth_engine::container::Update::from_flags(&flags)?;
    server.engine.update_container(&id, &update)?;
    Ok(Json(json!({"Warnings": []})))
}

pub async fn top(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let processes: Vec<Value> = server
        .engine
        .top_container(&id)?
        .into_iter()
        .map(|p| json!([p.uid.to_string(), p.pid.to_string(), p.ppid.to_string(), p.cmd]))
        .collect();
    Ok(Json(json!({"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": processes})))
}

pub async fn changes(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let changes: Vec<Value> = server
        .engine
        .container_diff(&id)?
        .iter()
        .map(|c| {
            let kind = match c.letter() {
                'A' => 1,
                'D' => 2,
                _ => 0,
            };
            json!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(Json(Value::Array(changes)))
}

pub async fn remove(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let rec = server.engine.remove_container(&id, params.flag("force")).await?;
    if params.flag("v") {
        server.engine.remove_anonymous_volumes(&rec.options.mounts)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(State(server): State<Shared>) -> ApiResult<Json<Value>> {
    let removed = server.engine.prune_containers().await?;
    Ok(Json(json!({"ContainersDeleted": removed, "SpaceReclaimed": 0})))
}

/// A time of `since`/`until`: Unix seconds (with a fraction) or RFC 3339; 0 or absent means none.
fn time_param(params: &Params, key: &str) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    match params.get(key).map(str::trim).filter(|t| !t.is_empty() && *t != "0") {
        None => Ok(None),
        Some(text) => parse_time(text, chrono::Utc::now())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("invalid {key} {text:?}: use Unix seconds"))),
    }
}

/// `logs`: the log's records, then (`follow`) what the container writes until it stops.
pub async fn logs(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let streams = (params.flag("stdout"), params.flag("stderr"));
    if !streams.0 && !streams.1 {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let tail = match params.get("tail").map(str::trim) {
        None | Some("" | "all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => return Err(ApiError::bad_request(format!("invalid tail {n:?}: a number or all"))),
        },
    };
    let filter = LogFilter { tail, since: time_param(&params, "since")?, until: time_param(&params, "until")? };
    let timestamps = params.flag("timestamps");
    let (rec, entries, tail) = server.engine.open_logs(&id, &filter, params.flag("follow"))?;
    let tty = rec.options.tty;
    let (tx, body) = hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        let first = super::attach::encode(&entries, tty, streams, timestamps);
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let Some(mut tail) = tail else { return };
        loop {
            let fresh = tokio::select! {
                fresh = server.engine.next_logs(&mut tail) => fresh,
                () = tx.closed() => return,
            };
            let Some(fresh) = fresh else { return };
            let bytes = super::attach::encode(&fresh, tty, streams, timestamps);
            if !bytes.is_empty() && tx.send(Bytes::from(bytes)).await.is_err() {
                return;
            }
        }
    });
    Ok(hijack::streaming(StatusCode::OK, if tty { RAW } else { MULTIPLEXED }, body).into_response())
}
