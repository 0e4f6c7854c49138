//! Network endpoints: list, inspect, create, connect, disconnect, DELETE and prune, over the engine's
//! network methods (the same as `berth network`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_engine::network::{NetworkCreate, NetworkError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::create::parse_json;
use super::query::Params;
use super::{ApiError, ApiResult, Shared};

pub async fn list(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let filters = params.filters()?;
    let mut out = Vec::new();
    for network in server.engine.list_networks()? {
        let doc = server.engine.inspect_network(&network.id)?;
        let keep = filters.iter().all(|f| {
            let (key, value) = f.split_once('=').unwrap_or((f, ""));
            match key {
                "name" => network.name.contains(value),
                "id" => network.id.starts_with(value),
                "driver" => network.driver == value,
                "label" => {
                    let (k, v) = value.split_once('=').map_or((value, None), |(k, v)| (k, Some(v)));
                    doc["Labels"].get(k).and_then(Value::as_str).is_some_and(|have| v.is_none_or(|want| want == have))
                }
                _ => true,
            }
        });
        if keep {
            out.push(doc);
        }
    }
    Ok(Json(Value::Array(out)))
}

pub async fn inspect(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(server.engine.inspect_network(&id)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: Option<String>,
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

pub async fn create(
    State(server): State<Shared>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: CreateBody = parse_json(&body)?;
    if let Some(driver) = body.driver.as_deref().filter(|d| !d.is_empty() && *d != "bridge") {
        return Err(ApiError::bad_request(format!("network driver {driver:?} is not supported: berth makes bridges")));
    }
    let config = body.ipam.and_then(|i| i.config).unwrap_or_default();
    let first = config.first();
    let subnet = first
        .and_then(|c| c.subnet.as_deref())
        .map(|s| s.parse().map_err(|e| ApiError::bad_request(format!("invalid subnet {s:?}: {e}"))))
        .transpose()?;
    let gateway = first
        .and_then(|c| c.gateway.as_deref())
        .map(|g| g.parse().map_err(|e| ApiError::bad_request(format!("invalid gateway {g:?}: {e}"))))
        .transpose()?;
    let request = NetworkCreate {
        name: body.name,
        subnet,
        gateway,
        internal: body.internal,
        labels: body.labels.unwrap_or_default(),
    };
    let network = server.engine.create_network(&request)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": network.id, "Warning": ""}))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

/// `connect`: an already connected container answers 200 (compose connects every container it made).
pub async fn connect(
    State(server): State<Shared>,
    Path(id): Path<String>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<StatusCode> {
    let body: ConnectBody = parse_json(&body)?;
    let aliases = body.endpoint_config.and_then(|e| e.aliases).unwrap_or_default();
    match server.engine.connect_container(&id, &body.container, &aliases) {
        Ok(()) => Ok(StatusCode::OK),
        Err(berth_engine::Error::Network(e)) if matches!(*e, NetworkError::AlreadyConnected { .. }) => {
            Ok(StatusCode::OK)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DisconnectBody {
    container: String,
}

pub async fn disconnect(
    State(server): State<Shared>,
    Path(id): Path<String>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<StatusCode> {
    let body: DisconnectBody = parse_json(&body)?;
    server.engine.disconnect_container(&id, &body.container)?;
    Ok(StatusCode::OK)
}

pub async fn remove(State(server): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    server.engine.remove_network(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(State(server): State<Shared>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"NetworksDeleted": server.engine.prune_networks()?})))
}
