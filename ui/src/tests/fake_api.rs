//! A fake Docker Engine API server on a loopback port, for the remote backend's faults: one running container
//! `web`, a followed log and a stats stream that each drop their connection midway the first time, an image
//! list that never answers, and every call recorded.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};

pub const WEB: &str = "c0ffee";

#[derive(Default)]
pub struct Calls {
    /// `METHOD /path` of every request, without the API version.
    pub seen: Vec<String>,
    /// The body of the last create or build.
    pub created: Vec<u8>,
    log_follows: usize,
    stats_streams: usize,
}

pub struct FakeApi {
    pub address: String,
    pub calls: Arc<Mutex<Calls>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Lines, then (when `drop`) a broken connection, else a stream that stays open.
fn body(chunks: Vec<String>, drop: bool) -> Body {
    let lines = stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
    let end: BoxStream<'static, Result<Bytes, std::io::Error>> = if drop {
        stream::once(async { Err(std::io::Error::other("dropped midway")) }).boxed()
    } else {
        stream::pending().boxed()
    };
    Body::from_stream(lines.chain(end))
}

fn json(status: StatusCode, text: String) -> Response {
    Response::builder().status(status).header("content-type", "application/json").body(Body::from(text)).unwrap()
}

fn stats(total: u64, system: u64) -> String {
    format!(
        r#"{{"cpu_stats":{{"cpu_usage":{{"total_usage":{total}}},"system_cpu_usage":{system},"online_cpus":1}},"precpu_stats":{{"cpu_usage":{{"total_usage":0}},"system_cpu_usage":0}},"memory_stats":{{"usage":4096,"limit":65536}}}}"#
    ) + "\n"
}

async fn answer(
    calls: Arc<Mutex<Calls>>,
    method: Method,
    uri: Uri,
    request: Bytes,
    upgrade: hyper::upgrade::OnUpgrade,
) -> Response {
    let path = uri.path().trim_start_matches("/v1.44").to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let (follows, streams) = {
        let mut calls = calls.lock().unwrap();
        calls.seen.push(format!("{method} {path}"));
        if path == "/containers/create" || path == "/build" {
            calls.created = request.to_vec();
        }
        if path.ends_with("/logs") && query.contains("follow=true") {
            calls.log_follows += 1;
        }
        if path.ends_with("/stats") && query.contains("stream=true") {
            calls.stats_streams += 1;
        }
        (calls.log_follows, calls.stats_streams)
    };
    match path.as_str() {
        "/containers/json" => json(
            StatusCode::OK,
            format!(
                r#"[{{"Id":"{WEB}","Names":["/web"],"Image":"busybox","State":"running","Status":"Up 1 minute","Command":"sh","Created":1767225600,"Ports":[],"Labels":{{}}}}]"#
            ),
        ),
        p if p == format!("/containers/{WEB}/json") => json(
            StatusCode::OK,
            format!(
                r#"{{"Id":"{WEB}","State":{{"Status":"running","Running":true,"StartedAt":"2026-01-01T00:00:00Z","FinishedAt":"0001-01-01T00:00:00Z"}}}}"#
            ),
        ),
        p if p == format!("/containers/{WEB}/stop") => Response::builder().status(204).body(Body::empty()).unwrap(),
        p if p == format!("/containers/{WEB}/logs") => match follows {
            0 => Response::new(Body::from("2026-01-01T00:00:00Z first\n")),
            1 => Response::new(body(vec!["2026-01-01T00:00:01Z before-drop\n".into()], true)),
            // A reconnect asks from the last line's second: that line comes again, then the new one.
            _ => Response::new(body(
                vec!["2026-01-01T00:00:01Z before-drop\n".into(), "2026-01-01T00:00:02Z after-reconnect\n".into()],
                false,
            )),
        },
        p if p == format!("/containers/{WEB}/stats") => match streams {
            0 => json(StatusCode::OK, stats(500, 1000)),
            1 => Response::new(body(vec![stats(100, 1000)], true)),
            _ => Response::new(body(vec![stats(200, 1000)], false)),
        },
        p if p == format!("/containers/{WEB}/exec") => json(StatusCode::CREATED, r#"{"Id":"e1"}"#.into()),
        "/exec/e1/resize" => Response::builder().status(201).body(Body::empty()).unwrap(),
        // The exec's process runs on: a stream that ends is a lost connection, not an exited shell.
        "/exec/e1/json" => json(StatusCode::OK, r#"{"ID":"e1","Running":true}"#.into()),
        // The hijacked stream: a prompt, then the connection drops.
        "/exec/e1/start" => {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                if let Ok(upgraded) = upgrade.await {
                    let mut io = hyper_util::rt::TokioIo::new(upgraded);
                    let _ = io.write_all(b"remote-prompt$ ").await;
                    let _ = io.flush().await;
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "Upgrade")
                .header("upgrade", "tcp")
                .header("content-type", "application/vnd.docker.raw-stream")
                .body(Body::empty())
                .unwrap()
        }
        "/build" => json(
            StatusCode::OK,
            [
                r#"{"stream":"Step 1/2 : FROM busybox\n"}"#,
                r#"{"stream":" ---> 1234\n"}"#,
                r#"{"stream":"Step 2/2 : COPY greeting /greeting\n"}"#,
                r#"{"stream":" ---> Using cache\n"}"#,
                r#"{"aux":{"ID":"sha256:built"}}"#,
                r#"{"stream":"Successfully built built\n"}"#,
            ]
            .join("\r\n"),
        ),
        "/images/create" => json(
            StatusCode::OK,
            [
                r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
                r#"{"status":"Pulling fs layer","id":"l1"}"#,
                r#"{"status":"Downloading","id":"l1","progressDetail":{"current":5,"total":10}}"#,
                r#"{"status":"Pull complete","id":"l1"}"#,
            ]
            .join("\n"),
        ),
        "/images/docker.io/library/busybox:latest/json" => json(StatusCode::OK, r#"{"Id":"sha256:feed"}"#.into()),
        "/containers/create" => json(StatusCode::CREATED, r#"{"Id":"new1","Warnings":[]}"#.into()),
        "/containers/new1/start" => Response::builder().status(204).body(Body::empty()).unwrap(),
        // A slow engine: the image list never comes.
        "/images/json" => std::future::pending().await,
        _ => json(StatusCode::NOT_FOUND, format!(r#"{{"message":"no such endpoint: {path}"}}"#)),
    }
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = format!("tcp://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Calls::default()));
        let state = calls.clone();
        let app = axum::Router::new().fallback(move |mut request: axum::extract::Request| {
            let state = state.clone();
            async move {
                let upgrade = hyper::upgrade::on(&mut request);
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                answer(state, parts.method, parts.uri, body, upgrade).await
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi { address, calls, server }
    }

    pub fn created(&self) -> Vec<u8> {
        self.calls.lock().unwrap().created.clone()
    }

    pub fn seen(&self, call: &str) -> bool {
        self.calls.lock().unwrap().seen.iter().any(|c| c == call)
    }
}
