//! `GET /events`: the state root's event journal (`Engine::journal_events`, what `berth events` reads) as
//! moby streams it: one JSON message per line, past ones from `since`, then live ones until `until` or
//! until the client leaves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::journal::{EventFilters, EventQuery, parse_time};
use bytes::Bytes;
use futures_util::StreamExt;

use super::error::ApiError;
use super::query::Params;
use super::{ApiResult, Shared};

pub async fn events(State(server): State<Shared>, params: Params) -> ApiResult<Response> {
    let now = chrono::Utc::now();
    let time =
        |key: &str| params.get(key).filter(|v| !v.is_empty()).map(|v| parse_time(v, now)).transpose().map_err(bad);
    let filters = match params.get("filters").filter(|f| !f.is_empty()) {
        Some(text) => EventFilters::from_json(text).map_err(bad)?,
        None => EventFilters::default(),
    };
    let query = EventQuery { since: time("since")?, until: time("until")?, filters };
    let events = server.engine.journal_events(query).await?;
    let (tx, body) = super::hijack::channel_body();
    let busy = super::listen::hold();
    tokio::spawn(async move {
        let _busy = busy;
        let mut events = Box::pin(events.into_stream());
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                () = tx.closed() => return,
            };
            // The journal ended (`until` passed) or could not be read further: the stream ends, as moby's.
            let Some(Ok(event)) = event else { return };
            let Ok(mut line) = serde_json::to_vec(&event.api_message()) else { return };
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    Ok(super::hijack::streaming(StatusCode::OK, "application/json", body))
}

fn bad(err: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(err.to_string())
}
