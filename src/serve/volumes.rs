//! Volume endpoints: list, inspect, create, DELETE and prune, over the engine's volume methods.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_engine::volume::{PruneOptions, VolumeCreate, VolumeFilter, inspect_json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::create::parse_json;
use super::query::Params;
use super::{ApiError, ApiResult, Shared};

pub async fn list(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let filter = VolumeFilter::parse(&params.filters()?).map_err(berth_engine::Error::from)?;
    let volumes: Vec<Value> = server.engine.volumes(&filter)?.iter().map(inspect_json).collect();
    Ok(Json(json!({"Volumes": volumes, "Warnings": []})))
}

pub async fn inspect(State(server): State<Shared>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(inspect_json(&server.engine.volume(&name)?)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

pub async fn create(
    State(server): State<Shared>,
    super::create::RawBody(body): super::create::RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: CreateBody = parse_json(&body)?;
    let request = VolumeCreate {
        name: body.name.filter(|n| !n.is_empty()),
        driver: body.driver.filter(|d| !d.is_empty()),
        labels: body.labels.unwrap_or_default(),
        options: body.driver_opts.unwrap_or_default(),
    };
    let volume = server.engine.create_volume(&request)?;
    Ok((StatusCode::CREATED, Json(inspect_json(&volume))))
}

pub async fn remove(State(server): State<Shared>, Path(name): Path<String>, params: Params) -> ApiResult<StatusCode> {
    server.engine.remove_volume(&name, params.flag("force"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `prune`: unused anonymous volumes, or every unused one with the `all=true` filter (API 1.42+).
pub async fn prune(State(server): State<Shared>, params: Params) -> ApiResult<Json<Value>> {
    let mut all = false;
    let mut labels = Vec::new();
    for filter in params.filters()? {
        match filter.split_once('=') {
            Some(("all", v)) => all = super::query::truthy(v),
            Some(("label", v)) => labels.push(format!("label={v}")),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter {filter:?}: volume prune takes all and label"
                )));
            }
        }
    }
    let label = VolumeFilter::parse(&labels).map_err(berth_engine::Error::from)?.label;
    let (removed, bytes) = server.engine.prune_volumes(&PruneOptions { all, label })?;
    Ok(Json(json!({"VolumesDeleted": removed, "SpaceReclaimed": bytes})))
}
