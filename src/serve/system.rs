//! `_ping`, `version`, `info` and `system/df`, from the engine's `info`, `version` and `disk_usage`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use berth_engine::system::VERSION;
use serde_json::{Value, json};

use super::{API_VERSION, ApiResult, MIN_API_VERSION, Shared};

/// Every client's first request: the headers tell it the API version to speak.
pub async fn ping() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("Api-Version", API_VERSION),
        ("Ostype", "linux"),
        ("Docker-Experimental", "false"),
        ("Builder-Version", "1"),
        ("Swarm", "inactive"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    (headers, "OK")
}

pub async fn version() -> Json<Value> {
    let host = berth_engine::system::host();
    let arch = crate::cli::system::go_arch(&host.architecture);
    let details = json!({"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch});
    Json(json!({
        "Platform": {"Name": "berth"},
        "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": host.kernel_version,
        "BuildTime": "",
    }))
}

pub async fn info(State(server): State<Shared>) -> ApiResult<Json<Value>> {
    let mut info = serde_json::to_value(server.engine.info()?).unwrap_or_default();
    let extra = json!({
        "ID": info["Name"],
        "DriverStatus": [],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
        "Runtimes": {"libcontainer": {"path": "berth"}},
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false},
        "Labels": [],
        "ExperimentalBuild": false,
        "Warnings": [],
    });
    if let (Some(info), Value::Object(extra)) = (info.as_object_mut(), extra) {
        info.extend(extra);
    }
    Ok(Json(info))
}

/// `system df`: the engine's disk usage under the API's names.
pub async fn df(State(server): State<Shared>) -> ApiResult<Json<Value>> {
    let report = tokio::task::spawn_blocking(move || server.engine.disk_usage()).await??;
    let layers_size: u64 = report.summary.iter().find(|s| s.kind == "Images").map_or(0, |s| s.size);
    let cache = report.summary.iter().find(|s| s.kind == "Build Cache");
    let images: Vec<Value> = report
        .images
        .iter()
        .map(|u| {
            let mut row = super::images::summary(&u.image);
            row["Size"] = json!(u.size);
            row["SharedSize"] = json!(u.shared_size);
            row["Containers"] = json!(u.containers);
            row
        })
        .collect();
    let containers: Vec<Value> = report
        .containers
        .iter()
        .map(|u| {
            let mut row = super::containers::summary(&u.container, &[]);
            row["SizeRw"] = json!(u.size);
            row
        })
        .collect();
    let volumes: Vec<Value> = report
        .volumes
        .iter()
        .map(|v| {
            json!({
                "Name": v.name, "Driver": "local", "Scope": "local", "Labels": {}, "Options": {},
                "Mountpoint": "", "CreatedAt": "",
                "UsageData": {"Size": v.size, "RefCount": v.links},
            })
        })
        .collect();
    let build_cache: Vec<Value> = match cache {
        Some(c) if c.total > 0 => vec![json!({
            "ID": "berth-build-cache", "Type": "regular", "Description": "berth build steps",
            "InUse": false, "Shared": false, "Size": c.size, "UsageCount": c.total,
        })],
        _ => Vec::new(),
    };
    Ok(Json(json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": build_cache,
    })))
}
