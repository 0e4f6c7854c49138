//! `GET /containers/{id}/stats`: the engine's counters (`Engine::stats_sample`, as `berth stats` reads
//! them) in moby's shape, with the previous reading as `precpu_stats` so clients compute CPU % as Docker's.
//! `stream=0` answers once, from two readings a second apart; `stream=1` every second until the container
//! stops.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::stats::Stats;
use bytes::Bytes;
use serde_json::{Value, json};

use super::query::Params;
use super::{ApiResult, Shared};

type Reading = (Stats, chrono::DateTime<chrono::Utc>);

fn cpu(s: &Stats) -> Value {
    json!({
        "cpu_usage": {"total_usage": s.cpu_usage_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

fn document(id: &str, name: &str, now: &Reading, previous: Option<&Reading>) -> Value {
    let (s, read) = now;
    let precpu = previous.map_or_else(|| cpu(&Stats::default()), |(p, _)| cpu(p));
    let preread = previous.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |(_, t)| t.to_rfc3339());
    json!({
        "id": id,
        "name": format!("/{name}"),
        "read": read.to_rfc3339(),
        "preread": preread,
        "pids_stats": {"current": s.pids, "limit": s.pids_limit},
        "cpu_stats": cpu(s),
        "precpu_stats": precpu,
        // The engine's usage already leaves the inactive page cache out.
        "memory_stats": {"usage": s.memory_usage, "limit": s.memory_limit, "stats": {}},
        "networks": {"eth0": {"rx_bytes": s.net_rx, "tx_bytes": s.net_tx, "rx_packets": 0, "tx_packets": 0,
                              "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": s.block_write},
        ]},
    })
}

pub async fn stats(State(server): State<Shared>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let rec = server.engine.container(&id)?;
    let stream = params.get("stream").is_none_or(super::query::truthy);
    let one_shot = params.flag("one-shot");
    let sample = |server: &Shared| server.engine.stats_sample(&rec.id).map(|s| (s, chrono::Utc::now()));
    let first = sample(&server)?;
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        let mut previous: Option<Reading> = None;
        let mut now = first;
        loop {
            if !(stream || one_shot) && previous.is_none() {
                // One answer with a CPU % needs a reading before it.
                previous = Some(now);
                tokio::time::sleep(Duration::from_secs(1)).await;
                match server.engine.stats_sample(&rec.id) {
                    Ok(s) => now = (s, chrono::Utc::now()),
                    Err(_) => now = previous.unwrap_or(now),
                }
            }
            let line = format!("{}\n", document(&rec.id, &rec.name, &now, previous.as_ref()));
            if tx.send(Bytes::from(line)).await.is_err() || !stream {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = tx.closed() => return,
            }
            previous = Some(now);
            match server.engine.stats_sample(&rec.id) {
                Ok(s) => now = (s, chrono::Utc::now()),
                // The container stopped: the stream ends.
                Err(_) => return,
            }
        }
    });
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", body))
}
