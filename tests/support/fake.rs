//! A fault-injecting fake registry: axum on 127.0.0.1:0 in its own tokio runtime, serving one image
//! from memory and breaking in the one way a test picks. Optional Bearer token auth goes through a
//! token endpoint of its own; blob redirects go to a second server addressed as `localhost`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures_util::stream;
use serde_json::Value;

use super::oci::{Image, digest_of};

/// The repository and tag the fake serves its image under.
pub const REPO: &str = "test/image";
pub const TAG: &str = "latest";

/// What goes wrong. Faults on "the layer" hit the image's first layer blob.
#[derive(Clone, Debug)]
pub enum Fault {
    None,
    /// The layer answers 500 twice, then serves normally.
    LayerFailsTwice,
    /// The layer announces its full length, sends half, then drops the connection.
    TruncatedLayer,
    /// The layer's bytes come with two of them swapped (same length, other digest).
    WrongDigest,
    /// The manifest comes as `application/octet-stream`; with `media_type_in_json` false its JSON also
    /// lacks `mediaType`.
    ManifestContentType {
        media_type_in_json: bool,
    },
    /// The manifest is padded past 4 MiB with an annotation (its digest is still right).
    OversizedManifest,
    /// The layer sends its headers and then nothing, forever.
    StalledLayer,
    /// The layer trickles out `chunk` bytes every `interval`.
    SlowLayer {
        chunk: usize,
        interval: Duration,
    },
    /// Every blob GET answers 307 to the same path on a second server addressed as `localhost`.
    RedirectBlobs,
    /// Push: the first upload PATCH answers 500; later ones succeed.
    PatchFailsOnce,
    /// Push: the first blob PUT answers 201 with a Docker-Content-Digest other than the blob's.
    PutWrongDigestOnce,
    /// Push (with Bearer auth): the token expires at the first PATCH, which answers 401.
    TokenExpiresAtPatch,
    /// Push: the first PATCH reads part of the blob, then the connection is dropped.
    DropMidLayer,
}

/// Bearer token auth: the token endpoint hands out `token` to whoever sends Basic `user:password`.
#[derive(Clone, Debug)]
struct BearerAuth {
    user: String,
    password: String,
    token: String,
}

/// One request the token endpoint saw.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub basic_user: Option<String>,
    pub service: Option<String>,
    pub scope: Option<String>,
}

#[derive(Default)]
struct Log {
    requests: Vec<String>,
    token_requests: Vec<TokenRequest>,
    redirected: Vec<Option<String>>,
}

struct Shared {
    /// Manifest bytes by tag and by digest, with the Content-Type to send.
    manifests: HashMap<String, (String, Bytes)>,
    blobs: HashMap<String, Bytes>,
    layer: String,
    fault: Fault,
    auth: Option<BearerAuth>,
    port: u16,
    redirect_port: u16,
    log: Mutex<Log>,
    layer_bytes_sent: AtomicU64,
    layer_failures: AtomicU64,
    /// Push side: blobs and manifests received, upload sessions in progress, faults already spent.
    pushed: Mutex<Pushed>,
    push_faults_spent: AtomicU64,
    /// Bumped when a token expires; the valid token is `token-GENERATION`.
    token_generation: AtomicU64,
}

#[derive(Default)]
struct Pushed {
    blobs: HashMap<String, Bytes>,
    sessions: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Bytes>,
    next_session: u64,
}

/// The running fake; shut down (tasks and sockets dropped) on drop.
pub struct FakeRegistry {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    manifest_digest: String,
}

impl FakeRegistry {
    /// Serves `image` anonymously with `fault`.
    pub fn start(image: &Image, fault: Fault) -> FakeRegistry {
        FakeRegistry::launch(image, fault, None)
    }

    /// Serves `image` behind Bearer token auth granted to `user`/`password`.
    pub fn start_with_bearer(image: &Image, fault: Fault, user: &str, password: &str) -> FakeRegistry {
        let token = format!("tok-{}", hex::encode(rand::random::<[u8; 12]>()));
        let auth = BearerAuth { user: user.to_owned(), password: password.to_owned(), token };
        FakeRegistry::launch(image, fault, Some(auth))
    }

    fn launch(image: &Image, fault: Fault, auth: Option<BearerAuth>) -> FakeRegistry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime for the fake registry");
        let (listener, redirect_listener) = runtime.block_on(async {
            let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake registry");
            let redirect = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind redirect target");
            (main, redirect)
        });
        let port = listener.local_addr().expect("fake registry addr").port();
        let redirect_port = redirect_listener.local_addr().expect("redirect target addr").port();

        let (content_type, manifest) = served_manifest(image, &fault);
        let manifest_digest = digest_of(&manifest);
        let manifest = Bytes::from(manifest);
        let mut manifests = HashMap::new();
        manifests.insert(TAG.to_owned(), (content_type.clone(), manifest.clone()));
        manifests.insert(manifest_digest.clone(), (content_type, manifest));
        let mut blobs: HashMap<String, Bytes> =
            image.layers.iter().map(|l| (l.blob.digest.clone(), Bytes::from(l.blob.bytes.clone()))).collect();
        blobs.insert(image.config.digest.clone(), Bytes::from(image.config.bytes.clone()));

        let shared = Arc::new(Shared {
            manifests,
            blobs,
            layer: image.layers.first().expect("an image with a layer").blob.digest.clone(),
            fault,
            auth,
            port,
            redirect_port,
            log: Mutex::new(Log::default()),
            layer_bytes_sent: AtomicU64::new(0),
            layer_failures: AtomicU64::new(0),
            pushed: Mutex::default(),
            push_faults_spent: AtomicU64::new(0),
            token_generation: AtomicU64::new(0),
        });
        let app = Router::new().fallback(registry).with_state(shared.clone());
        let redirect_app = Router::new().fallback(redirect_target).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        runtime.spawn(async move { axum::serve(redirect_listener, redirect_app).await });
        FakeRegistry { runtime: Some(runtime), shared, manifest_digest }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.shared.port))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    /// `127.0.0.1:PORT/test/image:latest`.
    pub fn reference(&self) -> String {
        format!("{}/{REPO}:{TAG}", self.host())
    }

    /// Digest of the manifest bytes actually served (differs from the image's under manifest faults).
    pub fn manifest_digest(&self) -> &str {
        &self.manifest_digest
    }

    /// Every `METHOD PATH` the registry (not the redirect target) answered, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("fake log").requests.clone()
    }

    /// How many `GET`s of blob `digest` reached the registry.
    pub fn blob_gets(&self, digest: &str) -> usize {
        let wanted = format!("GET /v2/{REPO}/blobs/{digest}");
        self.requests().iter().filter(|r| **r == wanted).count()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.log.lock().expect("fake log").token_requests.clone()
    }

    /// For each request the redirect target served: the Authorization header it carried, if any.
    pub fn redirected_authorization(&self) -> Vec<Option<String>> {
        self.shared.log.lock().expect("fake log").redirected.clone()
    }

    /// The manifest pushed under `reference` (a tag or digest), if any.
    pub fn pushed_manifest(&self, reference: &str) -> Option<Bytes> {
        self.shared.pushed.lock().expect("fake pushes").manifests.get(reference).cloned()
    }

    /// Digests of the blobs pushed so far.
    pub fn pushed_blobs(&self) -> Vec<String> {
        self.shared.pushed.lock().expect("fake pushes").blobs.keys().cloned().collect()
    }

    /// How many requests `METHOD PATH-PREFIX` reached the registry.
    pub fn count(&self, method_and_prefix: &str) -> usize {
        self.requests().iter().filter(|r| r.starts_with(method_and_prefix)).count()
    }

    /// Bytes of the faulty layer sent so far (slow and truncated faults).
    pub fn layer_bytes_sent(&self) -> u64 {
        self.shared.layer_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The manifest bytes and Content-Type the fault calls for.
fn served_manifest(image: &Image, fault: &Fault) -> (String, Vec<u8>) {
    let proper = (image.manifest.media_type.clone(), image.manifest.bytes.clone());
    let mut json: Value = serde_json::from_slice(&image.manifest.bytes).expect("manifest JSON");
    match fault {
        Fault::ManifestContentType { media_type_in_json } => {
            if !media_type_in_json && let Some(object) = json.as_object_mut() {
                object.remove("mediaType");
            }
            ("application/octet-stream".to_owned(), serde_json::to_vec(&json).expect("manifest JSON"))
        }
        Fault::OversizedManifest => {
            json["annotations"] = serde_json::json!({"padding": "x".repeat(5 * 1024 * 1024)});
            (proper.0, serde_json::to_vec(&json).expect("manifest JSON"))
        }
        _ => proper,
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("error response")
}

async fn registry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Body,
) -> Response {
    let path = uri.path().to_owned();
    shared.log.lock().expect("fake log").requests.push(format!("{method} {path}"));
    if path == "/token" {
        return token(&shared, &headers, &query);
    }
    if let Some(challenge) = unauthorized(&shared, &headers, &path) {
        return challenge;
    }
    if let Some(response) = push_side(&shared, &method, &path, &query, body).await {
        return response;
    }
    if path == "/v2/" || path == "/v2" {
        return Response::builder()
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .body(Body::from("{}"))
            .expect("ping response");
    }
    let prefix = format!("/v2/{REPO}/");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        return match shared.manifests.get(reference) {
            Some((content_type, bytes)) => Response::builder()
                .header(header::CONTENT_TYPE, content_type.as_str())
                .header("Docker-Content-Digest", digest_of(bytes))
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from(bytes.clone()))
                .expect("manifest response"),
            None => error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", &format!("manifest unknown: {reference}")),
        };
    }
    if let Some(digest) = rest.strip_prefix("blobs/") {
        let pushed = shared.pushed.lock().expect("fake pushes").blobs.get(digest).cloned();
        let Some(bytes) = shared.blobs.get(digest).cloned().or(pushed) else {
            return error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", &format!("blob unknown: {digest}"));
        };
        if matches!(shared.fault, Fault::RedirectBlobs) {
            let location = format!("http://localhost:{}/blobs/{digest}", shared.redirect_port);
            return Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .expect("redirect response");
        }
        if digest == shared.layer {
            return faulty_layer(&shared, bytes, method == Method::HEAD);
        }
        return blob_response(bytes.len(), Body::from(bytes));
    }
    error(StatusCode::NOT_FOUND, "UNSUPPORTED", "not a pull endpoint")
}

fn blob_response(len: usize, body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .expect("blob response")
}

/// The first layer blob, served the way the fault says.
fn faulty_layer(shared: &Arc<Shared>, bytes: Bytes, head: bool) -> Response {
    let len = bytes.len();
    if head {
        return blob_response(len, Body::empty());
    }
    match &shared.fault {
        Fault::LayerFailsTwice if shared.layer_failures.fetch_add(1, Ordering::SeqCst) < 2 => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "injected failure")
        }
        Fault::TruncatedLayer => {
            let half = bytes.slice(..len / 2);
            shared.layer_bytes_sent.fetch_add(half.len() as u64, Ordering::SeqCst);
            let chunks: Vec<Result<Bytes, io::Error>> =
                vec![Ok(half), Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected truncation"))];
            blob_response(len, Body::from_stream(stream::iter(chunks)))
        }
        Fault::WrongDigest => blob_response(len, Body::from(corrupted(&bytes))),
        Fault::StalledLayer => blob_response(len, Body::from_stream(stream::pending::<Result<Bytes, io::Error>>())),
        Fault::SlowLayer { chunk, interval } => {
            let (chunk, interval, counter) = (*chunk, *interval, shared.clone());
            let trickle = stream::unfold(0usize, move |offset| {
                let (bytes, counter) = (bytes.clone(), counter.clone());
                async move {
                    if offset >= bytes.len() {
                        return None;
                    }
                    tokio::time::sleep(interval).await;
                    let end = (offset + chunk).min(bytes.len());
                    counter.layer_bytes_sent.fetch_add((end - offset) as u64, Ordering::SeqCst);
                    Some((Ok::<Bytes, io::Error>(bytes.slice(offset..end)), end))
                }
            });
            blob_response(len, Body::from_stream(trickle))
        }
        _ => blob_response(len, Body::from(bytes)),
    }
}

/// `bytes` with two middle bytes swapped (or one flipped when they are equal): what
/// [`Fault::WrongDigest`] serves, so tests can name the digest berth must report.
pub fn corrupted(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let middle = out.len() / 2;
    if out[middle] == out[middle + 1] {
        out[middle] ^= 0xff;
    } else {
        out.swap(middle, middle + 1);
    }
    out
}

/// The uploads and manifest PUTs of a push, with the push faults; None for requests of the pull side.
async fn push_side(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: Body,
) -> Option<Response> {
    let rest = path.strip_prefix(&format!("/v2/{REPO}/"))?;
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let first = |fault: bool| fault && shared.push_faults_spent.fetch_add(1, Ordering::SeqCst) == 0;
    if *method == Method::POST && rest == "blobs/uploads/" {
        let mut pushed = shared.pushed.lock().expect("fake pushes");
        pushed.next_session += 1;
        let id = format!("s{}", pushed.next_session);
        pushed.sessions.insert(id.clone(), Vec::new());
        let location = format!("/v2/{REPO}/blobs/uploads/{id}?_state=fake");
        return Some(
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .expect("upload session"),
        );
    }
    if let Some(id) = rest.strip_prefix("blobs/uploads/") {
        if *method == Method::PATCH {
            if first(matches!(shared.fault, Fault::PatchFailsOnce)) {
                return Some(error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "injected PATCH failure"));
            }
            if first(matches!(shared.fault, Fault::TokenExpiresAtPatch)) {
                shared.token_generation.fetch_add(1, Ordering::SeqCst);
                return unauthorized(shared, &HeaderMap::new(), path);
            }
            let drop_midway = first(matches!(shared.fault, Fault::DropMidLayer));
            let mut data = Vec::new();
            let mut chunks = body.into_data_stream();
            while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
                let Ok(chunk) = chunk else { return Some(error(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", "")) };
                data.extend_from_slice(&chunk);
                if drop_midway {
                    // Ends this connection's task, so the client sees the connection drop mid-body.
                    panic!("fake registry: injected connection drop mid-layer");
                }
            }
            let mut pushed = shared.pushed.lock().expect("fake pushes");
            let Some(session) = pushed.sessions.get_mut(id) else {
                return Some(error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", id));
            };
            session.extend_from_slice(&data);
            let location = format!("/v2/{REPO}/blobs/uploads/{id}?_state=fake2");
            return Some(
                Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .header(header::LOCATION, location)
                    .body(Body::empty())
                    .expect("patch answer"),
            );
        }
        if *method == Method::PUT {
            let tail = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let digest = param("digest").unwrap_or_default();
            let mut pushed = shared.pushed.lock().expect("fake pushes");
            let Some(mut data) = pushed.sessions.remove(id) else {
                return Some(error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", id));
            };
            data.extend_from_slice(&tail);
            if digest_of(&data) != digest {
                return Some(error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "digest does not match"));
            }
            pushed.blobs.insert(digest.clone(), Bytes::from(data));
            let answered =
                if first(matches!(shared.fault, Fault::PutWrongDigestOnce)) { digest_of(b"other") } else { digest };
            return Some(
                Response::builder()
                    .status(StatusCode::CREATED)
                    .header("Docker-Content-Digest", answered)
                    .body(Body::empty())
                    .expect("put answer"),
            );
        }
    }
    if *method == Method::PUT
        && let Some(reference) = rest.strip_prefix("manifests/")
    {
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let mut pushed = shared.pushed.lock().expect("fake pushes");
        let named = std::iter::once(&json["config"]).chain(json["layers"].as_array().into_iter().flatten());
        for blob in named {
            let digest = blob["digest"].as_str().unwrap_or_default();
            if !pushed.blobs.contains_key(digest) && !shared.blobs.contains_key(digest) {
                return Some(error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", digest));
            }
        }
        let digest = digest_of(&bytes);
        pushed.manifests.insert(reference.to_owned(), bytes.clone());
        pushed.manifests.insert(digest.clone(), bytes);
        return Some(
            Response::builder()
                .status(StatusCode::CREATED)
                .header("Docker-Content-Digest", digest)
                .body(Body::empty())
                .expect("manifest answer"),
        );
    }
    None
}

/// The 401 Bearer challenge when auth is on and the request lacks the token.
fn unauthorized(shared: &Shared, headers: &HeaderMap, path: &str) -> Option<Response> {
    let auth = shared.auth.as_ref()?;
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let valid = format!("Bearer {}-{}", auth.token, shared.token_generation.load(Ordering::SeqCst));
    if presented == Some(valid.as_str()) {
        return None;
    }
    let mut challenge = format!("Bearer realm=\"http://127.0.0.1:{}/token\",service=\"berth-fake\"", shared.port);
    if path.starts_with(&format!("/v2/{REPO}/")) {
        challenge.push_str(&format!(",scope=\"repository:{REPO}:pull\""));
    }
    let mut response = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge.parse().expect("challenge header"));
    Some(response)
}

/// The token endpoint: a token for Basic `user:password`, 401 for anything else.
fn token(shared: &Shared, headers: &HeaderMap, query: &[(String, String)]) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    shared.log.lock().expect("fake log").token_requests.push(TokenRequest {
        basic_user: basic.as_ref().and_then(|b| b.split_once(':')).map(|(u, _)| u.to_owned()),
        service: param("service"),
        scope: param("scope"),
    });
    let Some(auth) = &shared.auth else {
        return error(StatusCode::NOT_FOUND, "UNSUPPORTED", "no auth configured");
    };
    if basic.as_deref() != Some(format!("{}:{}", auth.user, auth.password).as_str()) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad or missing credentials");
    }
    let token = format!("{}-{}", auth.token, shared.token_generation.load(Ordering::SeqCst));
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("token response")
}

/// The redirect target: serves blobs by digest and records the Authorization header it was sent.
async fn redirect_target(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    shared.log.lock().expect("fake log").redirected.push(authorization);
    let digest = uri.path().trim_start_matches("/blobs/");
    match shared.blobs.get(digest) {
        Some(bytes) => blob_response(bytes.len(), Body::from(bytes.clone())),
        None => error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", &format!("blob unknown: {digest}")),
    }
}
