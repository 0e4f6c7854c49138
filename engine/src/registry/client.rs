//! The HTTP side of the registry client: transport choice, the 401 → credentials → retry dance,
//! retries with backoff, size-bounded reads, and the pull and push operations built on them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, TryStreamExt};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use super::auth::{AuthCache, Challenge, TokenResponse, parse_challenges};
use super::manifest::{
    MANIFEST_ACCEPT, ManifestKind, classify, read_config, read_index, read_manifest, select_platform, sha256_digest,
};
use super::{Credentials, Platform, RegistryError, RegistryOptions};
use crate::reference::{DEFAULT_REGISTRY, DOCKER_HUB_API_HOST, Reference};

/// First pause between attempts; it doubles after each failure.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Redirects followed per request (reqwest drops `Authorization` whenever one changes host or port).
const MAX_REDIRECTS: usize = 10;
/// How much of an error response's body is quoted in the error.
const ERROR_BODY_EXCERPT: usize = 512;

/// An image resolved down to one platform's manifest, with its config fetched and verified.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub manifest_bytes: Bytes,
    /// Docker v2s2 manifests are parsed into the same OCI type; their media types stay as sent.
    pub manifest: ImageManifest,
    pub config_digest: String,
    pub config_bytes: Bytes,
    pub config: ImageConfiguration,
    /// The index's digest when the reference named an index (what `RepoDigests` shows).
    pub index_digest: Option<String>,
}

/// A manifest or index as fetched.
#[derive(Debug, Clone)]
pub struct ManifestDocument {
    pub media_type: String,
    pub digest: String,
    pub bytes: Bytes,
    pub is_index: bool,
}

/// A layer body as it arrives. A failed stream is not resumed: the puller restarts the layer.
pub struct BlobStream {
    /// The `Content-Length`, when the registry sent one.
    pub size: Option<u64>,
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>,
}

/// A registry client for every host: cheap to clone, with one connection pool and token cache.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    opts: RegistryOptions,
    creds: Credentials,
    auth: AuthCache,
    /// Per `host[:port]`: a client trusting that host's `certs.d` material, or None when it has none.
    tls_clients: Mutex<HashMap<String, Option<reqwest::Client>>>,
}

/// Whom a request is for: the credentials and the token cache are keyed by registry and scope.
pub(super) struct Target {
    /// The registry as references name it, for credential lookup and messages.
    registry: String,
    /// The host that answers the API.
    host: String,
    repository: String,
    /// `repository:NAME:pull` or `...:pull,push`, several separated by spaces (a mount also needs pull on
    /// its source); None for a bare `/v2/` login check.
    scope: Option<String>,
    /// Explicit credentials being checked by a login; these bypass the config and the cache.
    login: Option<(String, String)>,
}

impl Target {
    pub(super) fn for_reference(r: &Reference, actions: &str) -> Self {
        Target {
            registry: r.registry.clone(),
            host: r.api_host().to_string(),
            repository: r.repository.clone(),
            scope: Some(format!("repository:{}:{actions}", r.repository)),
            login: None,
        }
    }

    /// A push to `r` that may mount blobs from `from`, another repository of the same registry.
    pub(super) fn for_mount(r: &Reference, from: &str) -> Self {
        let mut target = Target::for_reference(r, "pull,push");
        target.scope = Some(format!("repository:{}:pull,push repository:{from}:pull", r.repository));
        target
    }

    fn pushing(&self) -> bool {
        self.scope.as_deref().is_some_and(|s| s.contains(":pull,push"))
    }
}

/// What a request sends: bytes held in memory, or a file streamed from disk.
#[derive(Clone)]
pub(super) enum ReqBody {
    Bytes(Bytes),
    /// Opened anew for each attempt, so a retried or re-authorised request sends it whole again.
    File(super::upload::BlobFile, Option<super::upload::UploadProgress>),
}

/// One request as data, so it can be sent again after a challenge or a transient failure.
pub(super) struct Req {
    pub(super) method: Method,
    pub(super) url: Url,
    headers: HeaderMap,
    body: Option<ReqBody>,
}

impl Req {
    pub(super) fn new(method: Method, url: Url) -> Self {
        Req { method, url, headers: HeaderMap::new(), body: None }
    }

    pub(super) fn header(mut self, name: reqwest::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub(super) fn body(mut self, body: Bytes) -> Self {
        self.body = Some(ReqBody::Bytes(body));
        self
    }

    pub(super) fn file(
        mut self,
        file: super::upload::BlobFile,
        progress: Option<super::upload::UploadProgress>,
    ) -> Self {
        self.body = Some(ReqBody::File(file, progress));
        self
    }
}

/// Plain HTTP for loopback hosts and for hosts the user listed as insecure; HTTPS for the rest.
/// An insecure entry with a port matches only that port; one without matches the host on any port.
pub(crate) fn scheme_for(host: &str, insecure: &[String]) -> &'static str {
    let name = host_without_port(host);
    let loopback = name == "localhost"
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        || name.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    let listed = insecure.iter().any(|entry| entry == host || (!entry_has_port(entry) && entry == name));
    if loopback || listed { "http" } else { "https" }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn entry_has_port(entry: &str) -> bool {
    host_without_port(entry) != entry.trim_start_matches('[').trim_end_matches(']')
}

fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

impl Registry {
    pub fn new(opts: RegistryOptions, creds: Credentials) -> Result<Self, RegistryError> {
        let http = client_builder(&opts).build().map_err(|source| RegistryError::ClientSetup { source })?;
        Ok(Registry {
            inner: Arc::new(Inner { http, opts, creds, auth: AuthCache::default(), tls_clients: Mutex::default() }),
        })
    }

    /// The same client with `given` consulted before the credential files, and a token cache of its own so
    /// what they earn stays with the operation they were given for.
    pub fn with_given(&self, given: super::GivenCredentials) -> Registry {
        let inner = &self.inner;
        let tls_clients = inner.tls_clients.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Registry {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                opts: inner.opts.clone(),
                creds: inner.creds.clone().with_given(given),
                auth: AuthCache::default(),
                tls_clients: Mutex::new(tls_clients),
            }),
        }
    }

    /// The client for `host` (`name[:port]`): one that trusts the host's `certs.d` CA and presents its
    /// client certificate when it has such a directory (looked up once per host), else the shared one.
    fn client_for(&self, host: &str) -> Result<Option<reqwest::Client>, RegistryError> {
        let mut clients = self.inner.tls_clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        let client = match super::tls::host_tls(&self.inner.opts.certs_dirs, host)? {
            None => None,
            Some(tls) => {
                let mut builder = client_builder(&self.inner.opts);
                for root in tls.roots {
                    builder = builder.add_root_certificate(root);
                }
                if let Some(identity) = tls.identity {
                    builder = builder.identity(identity);
                }
                Some(builder.build().map_err(|source| RegistryError::ClientSetup { source })?)
            }
        };
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }

    /// Fetches the manifest for `r` (picking `platform` from an index) and the image config,
    /// verifying each against its digest.
    pub async fn resolve(&self, r: &Reference, platform: &Platform) -> Result<ResolvedImage, RegistryError> {
        let target = Target::for_reference(r, "pull");
        let display = r.to_string();
        let limit = self.inner.opts.max_manifest_bytes;
        let top = self.fetch_manifest(&target, &display, r.manifest_ref(), r.digest.as_deref()).await?;
        let (index_digest, chosen) = match top.kind {
            ManifestKind::Image => (None, top),
            ManifestKind::Index => {
                let index = read_index(&display, &top.digest, &top.bytes)?;
                let entry = select_platform(&display, &index, platform)?;
                let child = entry.digest().to_string();
                if entry.size() > limit {
                    return Err(RegistryError::TooLarge { what: format!("manifest {child} of {display}"), limit });
                }
                let chosen = self.fetch_manifest(&target, &display, &child, Some(&child)).await?;
                if chosen.kind != ManifestKind::Image {
                    return Err(RegistryError::BadManifest {
                        reference: display,
                        reason: format!("index entry {child} for {platform} is another index, not an image"),
                    });
                }
                (Some(top.digest), chosen)
            }
        };
        let manifest = read_manifest(&display, &chosen.digest, &chosen.bytes)?;
        let config_digest = manifest.config().digest().to_string();
        if manifest.config().size() > limit {
            return Err(RegistryError::TooLarge { what: format!("image config {config_digest} of {display}"), limit });
        }
        let config_bytes = self.fetch_small_blob(&target, &display, &config_digest).await?;
        let config = read_config(&display, &config_digest, &config_bytes)?;
        Ok(ResolvedImage {
            manifest_digest: chosen.digest,
            manifest_media_type: chosen.media_type,
            manifest_bytes: chosen.bytes,
            manifest,
            config_digest,
            config_bytes,
            config,
            index_digest,
        })
    }

    /// The manifest or index `r` names, as the registry serves it (digest verified), for `manifest
    /// inspect` and `manifest create`.
    pub async fn manifest_document(&self, r: &Reference) -> Result<ManifestDocument, RegistryError> {
        let target = Target::for_reference(r, "pull");
        let fetched = self.fetch_manifest(&target, &r.to_string(), r.manifest_ref(), r.digest.as_deref()).await?;
        Ok(ManifestDocument {
            is_index: fetched.kind == ManifestKind::Index,
            media_type: fetched.media_type,
            digest: fetched.digest,
            bytes: fetched.bytes,
        })
    }

    /// An image config of `r`'s repository, bounded and verified.
    pub async fn config_blob(&self, r: &Reference, digest: &str) -> Result<Bytes, RegistryError> {
        self.fetch_small_blob(&Target::for_reference(r, "pull"), &r.to_string(), digest).await
    }

    /// Opens a blob's body as a stream. The request is retried; a failure mid-body is reported as
    /// `BlobRead` naming the digest, and the caller starts that layer again.
    pub async fn blob(&self, r: &Reference, digest: &str) -> Result<BlobStream, RegistryError> {
        let target = Target::for_reference(r, "pull");
        let url = self.url(&target, &format!("blobs/{digest}"))?;
        let resp = self
            .with_retries(|| async {
                let req = Req::new(Method::GET, url.clone());
                let resp = self.send(&target, &req).await?;
                check_status(resp, &req).await
            })
            .await?;
        let size = resp.content_length();
        let name = r.name();
        let digest = digest.to_string();
        let stream = resp.bytes_stream().map_err(move |source| RegistryError::BlobRead {
            name: name.clone(),
            digest: digest.clone(),
            source,
        });
        Ok(BlobStream { size, stream: Box::pin(stream) })
    }

    /// Uploads a small blob (an image config) in one request unless the registry already has it.
    pub async fn push_blob(&self, r: &Reference, digest: &str, data: Bytes) -> Result<(), RegistryError> {
        let actual = sha256_digest(&data);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob for {}", r.name()),
                expected: digest.to_string(),
                actual,
            });
        }
        let target = Target::for_reference(r, "pull,push");
        let blob_url = self.url(&target, &format!("blobs/{digest}"))?;
        let exists = self
            .with_retries(|| async {
                let req = Req::new(Method::HEAD, blob_url.clone());
                let resp = self.send(&target, &req).await?;
                if resp.status() == StatusCode::NOT_FOUND {
                    return Ok(false);
                }
                check_status(resp, &req).await.map(|_| true)
            })
            .await?;
        if exists {
            return Ok(());
        }
        let uploads_url = self.url(&target, "blobs/uploads/")?;
        self.with_retries(|| async {
            let start = Req::new(Method::POST, uploads_url.clone()).body(Bytes::new());
            let resp = check_status(self.send(&target, &start).await?, &start).await?;
            let location =
                resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| RegistryError::Http {
                    method: "POST".into(),
                    url: uploads_url.to_string(),
                    status: resp.status().as_u16(),
                    body: "upload started without a Location header".into(),
                })?;
            let mut put_url = uploads_url.join(location).map_err(|e| RegistryError::Http {
                method: "POST".into(),
                url: uploads_url.to_string(),
                status: resp.status().as_u16(),
                body: format!("bad upload Location {location:?}: {e}"),
            })?;
            put_url.query_pairs_mut().append_pair("digest", digest);
            let put = Req::new(Method::PUT, put_url)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
                .body(data.clone());
            let resp = check_status(self.send(&target, &put).await?, &put).await?;
            check_content_digest(&resp, digest, || format!("blob {digest} of {}", r.name()))
        })
        .await
    }

    /// Uploads a manifest under the reference's tag (or digest) and returns its digest.
    pub async fn push_manifest(&self, r: &Reference, media_type: &str, data: Bytes) -> Result<String, RegistryError> {
        let digest = sha256_digest(&data);
        if let Some(expected) = &r.digest
            && *expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest for {r}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let content_type = HeaderValue::from_str(media_type).map_err(|_| RegistryError::UnsupportedMediaType {
            reference: r.to_string(),
            media_type: media_type.to_string(),
        })?;
        let target = Target::for_reference(r, "pull,push");
        let url = self.url(&target, &format!("manifests/{}", r.manifest_ref()))?;
        self.with_retries(|| async {
            let req = Req::new(Method::PUT, url.clone()).header(CONTENT_TYPE, content_type.clone()).body(data.clone());
            let resp = check_status(self.send(&target, &req).await?, &req).await?;
            check_content_digest(&resp, &digest, || format!("manifest of {r}"))
        })
        .await?;
        Ok(digest)
    }

    /// Checks a username and password against `registry` (a `host[:port]`, or `docker.io`) through the
    /// same challenge flow a pull uses. Nothing is cached or saved.
    pub async fn check_login(&self, registry: &str, user: &str, password: &str) -> Result<(), RegistryError> {
        let host = if registry == DEFAULT_REGISTRY || registry == "index.docker.io" {
            DOCKER_HUB_API_HOST.to_string()
        } else {
            registry.to_string()
        };
        let target = Target {
            registry: registry.to_string(),
            host,
            repository: String::new(),
            scope: None,
            login: Some((user.to_string(), password.to_string())),
        };
        let url = self.url(&target, "")?;
        self.with_retries(|| async {
            let req = Req::new(Method::GET, url.clone());
            check_status(self.send(&target, &req).await?, &req).await.map(drop)
        })
        .await
    }

    /// `scheme://host/v2/<repository>/<path>`, or `/v2/` itself for an empty repository and path.
    pub(super) fn url(&self, target: &Target, path: &str) -> Result<Url, RegistryError> {
        let scheme = match self.client_for(&target.host)? {
            Some(_) => "https",
            None => scheme_for(&target.host, &self.inner.opts.insecure),
        };
        let text = if target.repository.is_empty() {
            format!("{scheme}://{}/v2/{path}", target.host)
        } else {
            format!("{scheme}://{}/v2/{}/{path}", target.host, target.repository)
        };
        Url::parse(&text).map_err(|e| RegistryError::BadRegistry {
            registry: target.registry.clone(),
            reason: format!("cannot form a URL from it: {e}"),
        })
    }

    /// Runs `op` up to `max_attempts` times while it fails transiently, pausing 200 ms, 400 ms, ...
    pub(super) async fn with_retries<T, F, Fut>(&self, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let max = self.inner.opts.max_attempts.max(1);
        let mut delay = INITIAL_BACKOFF;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < max => {
                    tracing::debug!(error = %e, attempt, "registry request failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Sends `req` with the cached authorization; on 401, answers the challenge and sends it once more.
    pub(super) async fn send(&self, target: &Target, req: &Req) -> Result<Response, RegistryError> {
        let scope = target.scope.as_deref().unwrap_or("");
        let cached = match target.login {
            None => self.inner.auth.get(&target.host, scope),
            Some(_) => None,
        };
        let resp = self.send_once(req, cached.as_deref()).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        if cached.is_some() {
            self.inner.auth.forget(&target.host, scope);
        }
        let challenges =
            parse_challenges(resp.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()));
        let Some((header, lifetime)) = self.answer(target, &challenges).await? else {
            return Err(denied(target, StatusCode::UNAUTHORIZED));
        };
        let resp = self.send_once(req, Some(&header)).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(denied(target, StatusCode::UNAUTHORIZED));
        }
        if target.login.is_none() {
            self.inner.auth.put(&target.host, scope, header, lifetime);
        }
        Ok(resp)
    }

    async fn send_once(&self, req: &Req, authorization: Option<&str>) -> Result<Response, RegistryError> {
        let authority = match (req.url.host_str(), req.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (host, _) => host.unwrap_or_default().to_string(),
        };
        let client = match req.url.scheme() {
            "https" => self.client_for(&authority)?.unwrap_or_else(|| self.inner.http.clone()),
            _ => self.inner.http.clone(),
        };
        let mut builder = client.request(req.method.clone(), req.url.clone()).headers(req.headers.clone());
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        match &req.body {
            Some(ReqBody::Bytes(body)) => builder = builder.body(body.clone()),
            Some(ReqBody::File(file, progress)) => {
                let body = file.open(progress.clone()).await.map_err(|e| RegistryError::BlobFile {
                    path: file.path.display().to_string(),
                    reason: e.to_string(),
                })?;
                builder = builder.header(reqwest::header::CONTENT_LENGTH, file.size).body(body);
            }
            None => {}
        }
        let certs = Some((authority.as_str(), self.inner.opts.certs_dirs.as_slice()));
        builder.send().await.map_err(|source| RegistryError::transport(req.method.as_str(), &req.url, source, certs))
    }

    /// The `Authorization` value answering the challenges (and how long it lasts), or None when
    /// the only challenge is Basic and there are no credentials.
    async fn answer(
        &self,
        target: &Target,
        challenges: &[Challenge],
    ) -> Result<Option<(String, Option<Duration>)>, RegistryError> {
        let creds = match &target.login {
            Some(login) => Some(login.clone()),
            None => {
                let store = self.inner.creds.clone();
                let registry = target.registry.clone();
                tokio::task::spawn_blocking(move || store.get(&registry)).await.map_err(|e| {
                    RegistryError::CredentialsFile { path: "(credential lookup)".into(), reason: e.to_string() }
                })??
            }
        };
        for challenge in challenges {
            match challenge {
                Challenge::Bearer { realm, service, scope } => {
                    let (token, lifetime) =
                        self.fetch_token(target, realm, service.as_deref(), scope.as_deref(), creds.as_ref()).await?;
                    return Ok(Some((format!("Bearer {token}"), Some(lifetime))));
                }
                Challenge::Basic => {
                    if let Some((user, password)) = &creds {
                        return Ok(Some((basic_header(user, password), None)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Asks the token server for our scope and the challenge's, with Basic credentials when we have them.
    async fn fetch_token(
        &self,
        target: &Target,
        realm: &str,
        service: Option<&str>,
        challenge_scope: Option<&str>,
        creds: Option<&(String, String)>,
    ) -> Result<(String, Duration), RegistryError> {
        let token_error = |reason: String| RegistryError::Token { realm: realm.to_string(), reason };
        let mut url = Url::parse(realm).map_err(|e| token_error(format!("realm is not a URL: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            let ours: Vec<&str> = target.scope.as_deref().map(|s| s.split(' ').collect()).unwrap_or_default();
            let theirs = challenge_scope.filter(|s| !ours.contains(s));
            for scope in ours.iter().copied().chain(theirs) {
                query.append_pair("scope", scope);
            }
            if let Some((user, _)) = creds {
                query.append_pair("account", user);
            }
        }
        let req = Req::new(Method::GET, url);
        let basic = creds.map(|(user, password)| basic_header(user, password));
        let resp = self.send_once(&req, basic.as_deref()).await?;
        if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(denied(target, resp.status()));
        }
        let resp = check_status(resp, &req).await?;
        let body =
            read_bounded(resp, &req, self.inner.opts.max_manifest_bytes, || format!("token from {realm}")).await?;
        let answer: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| token_error(format!("answer is not token JSON: {e}")))?;
        answer.into_token().ok_or_else(|| token_error("answer holds neither token nor access_token".into()))
    }

    async fn fetch_manifest(
        &self,
        target: &Target,
        display: &str,
        reference: &str,
        expected: Option<&str>,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = self.url(target, &format!("manifests/{reference}"))?;
        let limit = self.inner.opts.max_manifest_bytes;
        let (content_type, bytes) = self
            .with_retries(|| async {
                let req = Req::new(Method::GET, url.clone()).header(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
                let resp = check_status(self.send(target, &req).await?, &req).await?;
                let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
                let bytes = read_bounded(resp, &req, limit, || format!("manifest {reference} of {display}")).await?;
                Ok((content_type, bytes))
            })
            .await?;
        let digest = verify_digest(&bytes, expected, || format!("manifest {reference} of {display}"))?;
        let (media_type, kind) = classify(display, content_type.as_deref(), &bytes)?;
        Ok(FetchedManifest { bytes, media_type, kind, digest })
    }

    /// A blob small enough to hold in memory (an image config), bounded and verified.
    async fn fetch_small_blob(&self, target: &Target, display: &str, digest: &str) -> Result<Bytes, RegistryError> {
        let url = self.url(target, &format!("blobs/{digest}"))?;
        let limit = self.inner.opts.max_manifest_bytes;
        let what = || format!("image config {digest} of {display}");
        let bytes = self
            .with_retries(|| async {
                let req = Req::new(Method::GET, url.clone());
                let resp = check_status(self.send(target, &req).await?, &req).await?;
                read_bounded(resp, &req, limit, what).await
            })
            .await?;
        verify_digest(&bytes, Some(digest), what)?;
        Ok(bytes)
    }
}

struct FetchedManifest {
    bytes: Bytes,
    media_type: String,
    kind: ManifestKind,
    digest: String,
}

/// The refusal `status` (the registry's or its token server's) as the error for what `target` was after.
fn denied(target: &Target, status: StatusCode) -> RegistryError {
    let (registry, repository) = (target.registry.clone(), target.repository.clone());
    let status = status.to_string();
    match target.login {
        Some(_) => RegistryError::LoginRejected { registry, status },
        None if target.pushing() => RegistryError::PushDenied { registry, repository, status },
        None => RegistryError::Unauthorized { registry, repository, status },
    }
}

/// The registry's `Docker-Content-Digest`, when it sent one, must be the digest berth computed.
pub(super) fn check_content_digest(
    resp: &Response,
    expected: &str,
    what: impl FnOnce() -> String,
) -> Result<(), RegistryError> {
    match resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
        Some(actual) if actual != expected => {
            Err(RegistryError::WrongDigest { what: what(), expected: expected.to_string(), actual: actual.to_string() })
        }
        _ => Ok(()),
    }
}

fn client_builder(opts: &RegistryOptions) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(opts.user_agent.clone())
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.read_timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
}

/// The sha256 digest of `bytes`, checked against `expected` when there is one.
fn verify_digest(bytes: &[u8], expected: Option<&str>, what: impl FnOnce() -> String) -> Result<String, RegistryError> {
    let actual = sha256_digest(bytes);
    match expected {
        Some(expected) if expected != actual => {
            Err(RegistryError::DigestMismatch { what: what(), expected: expected.to_string(), actual })
        }
        _ => Ok(actual),
    }
}

/// Passes successful responses through and turns the rest into `Http` errors quoting the body.
pub(super) async fn check_status(mut resp: Response, req: &Req) -> Result<Response, RegistryError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let mut excerpt = Vec::new();
    while excerpt.len() < ERROR_BODY_EXCERPT {
        match resp.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt.truncate(ERROR_BODY_EXCERPT);
    let body = distribution_errors(&excerpt)
        .unwrap_or_else(|| String::from_utf8_lossy(&excerpt).split_whitespace().collect::<Vec<_>>().join(" "));
    Err(RegistryError::Http {
        method: req.method.to_string(),
        url: resp.url().to_string(),
        status: status.as_u16(),
        body: if body.is_empty() { "(empty body)".into() } else { body },
    })
}

/// The distribution spec's error body (`{"errors":[{"code","message"}]}`) as `CODE: message; ...`.
fn distribution_errors(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let parsed: Body = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = parsed.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Reads a whole body, stopping as soon as it passes `limit` bytes.
async fn read_bounded(
    mut resp: Response,
    req: &Req,
    limit: u64,
    what: impl Fn() -> String,
) -> Result<Bytes, RegistryError> {
    if resp.content_length().is_some_and(|len| len > limit) {
        return Err(RegistryError::TooLarge { what: what(), limit });
    }
    let mut buf = BytesMut::new();
    loop {
        // A body cut short: the handshake is long done, there is no certificate to advise on.
        let chunk = resp
            .chunk()
            .await
            .map_err(|source| RegistryError::transport(req.method.as_str(), &req.url, source, None))?;
        let Some(chunk) = chunk else { break };
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(RegistryError::TooLarge { what: what(), limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Body;
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus, header};
    use axum::response::{IntoResponse, Response as AxResponse};
    use axum::routing::get;
    use futures_util::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::registry::manifest::{OCI_INDEX, OCI_MANIFEST};

    /// Serves the router built for its own address (handlers need it for realms and redirects).
    async fn serve(make: impl FnOnce(SocketAddr) -> Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = make(addr);
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    fn options() -> RegistryOptions {
        RegistryOptions {
            max_attempts: 3,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            ..RegistryOptions::default()
        }
    }

    fn anonymous(opts: RegistryOptions) -> Registry {
        Registry::new(opts, Credentials::default()).unwrap()
    }

    fn reference(addr: SocketAddr, rest: &str) -> Reference {
        Reference::parse(&format!("{addr}/{rest}")).unwrap()
    }

    fn auth_header(headers: &AxHeaders) -> Option<String> {
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(String::from)
    }

    fn with_type(media_type: &str, body: Bytes) -> AxResponse {
        ([(header::CONTENT_TYPE, media_type.to_string())], body).into_response()
    }

    /// A one-platform image: (config, manifest, index) bytes.
    struct Image {
        config: Bytes,
        manifest: Bytes,
        index: Bytes,
    }

    fn image() -> Image {
        let config = Bytes::from(
            json!({"architecture": "arm64", "os": "linux", "config": {"Cmd": ["sh"]},
                   "rootfs": {"type": "layers", "diff_ids": []}})
            .to_string(),
        );
        let manifest = Bytes::from(
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": sha256_digest(&config), "size": config.len()},
                   "layers": []})
            .to_string(),
        );
        let other = sha256_digest(b"amd64 manifest, never fetched");
        let index = Bytes::from(
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": other, "size": 10,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": sha256_digest(&manifest), "size": manifest.len(),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": other, "size": 10,
                 "platform": {"architecture": "unknown", "os": "unknown"}}]})
            .to_string(),
        );
        Image { config, manifest, index }
    }

    #[test]
    fn loopback_and_listed_hosts_use_plain_http() {
        let insecure = vec!["reg.lan:5000".to_string(), "any-port.lan".to_string(), "[fd00::1]:5000".to_string()];
        for host in ["localhost", "localhost:5000", "127.0.0.1", "127.8.9.10:443", "[::1]:5000", "::1"] {
            assert_eq!(scheme_for(host, &[]), "http", "{host}");
        }
        for host in ["reg.lan:5000", "any-port.lan", "any-port.lan:8443", "[fd00::1]:5000"] {
            assert_eq!(scheme_for(host, &insecure), "http", "{host}");
        }
        for host in ["reg.lan", "reg.lan:5001", "docker.io", "registry-1.docker.io", "10.0.0.1:5000", "[fd00::1]:6000"]
        {
            assert_eq!(scheme_for(host, &insecure), "https", "{host}");
        }
    }

    #[tokio::test]
    async fn bearer_token_flow_with_stored_credentials_and_cache() {
        let img = image();
        /// The query and `Authorization` of each token request.
        type TokenCall = (Vec<(String, String)>, Option<String>);
        let token_calls: Arc<Mutex<Vec<TokenCall>>> = Arc::default();
        let calls = token_calls.clone();
        let (index, manifest, config) = (img.index.clone(), img.manifest.clone(), img.config.clone());
        let manifest_digest = sha256_digest(&img.manifest);
        let served_digest = manifest_digest.clone();
        let addr = serve(move |addr| {
            let challenge = move |scope: &str| {
                let scope = if scope.is_empty() { String::new() } else { format!(",scope=\"{scope}\"") };
                let value = format!("Bearer realm=\"http://{addr}/token\",service=\"test-registry\"{scope}");
                (AxStatus::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, value)]).into_response()
            };
            let pull = "repository:app:pull";
            let wanted = format!("Bearer tok({pull})");
            let wanted2 = wanted.clone();
            Router::new()
                .route(
                    "/token",
                    get(move |Query(q): Query<Vec<(String, String)>>, h: AxHeaders| async move {
                        let auth = auth_header(&h);
                        calls.lock().unwrap().push((q.clone(), auth.clone()));
                        if auth.is_some_and(|a| a != basic_header("alice", "pw")) {
                            return AxStatus::UNAUTHORIZED.into_response();
                        }
                        let scope = q.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.clone()).unwrap_or_default();
                        let kind = if h.contains_key(header::AUTHORIZATION) { "tok" } else { "anon" };
                        axum::Json(json!({"token": format!("{kind}({scope})"), "expires_in": 300})).into_response()
                    }),
                )
                .route(
                    "/v2/",
                    get(move |h: AxHeaders| async move {
                        match auth_header(&h) {
                            Some(a) if a.starts_with("Bearer tok(") => AxStatus::OK.into_response(),
                            _ => challenge(""),
                        }
                    }),
                )
                .route(
                    "/v2/app/manifests/{reference}",
                    get(move |Path(reference): Path<String>, h: AxHeaders| async move {
                        if auth_header(&h).as_deref() != Some(wanted.as_str()) {
                            return challenge(pull);
                        }
                        match reference.as_str() {
                            "v1" => with_type(OCI_INDEX, index),
                            r if r == served_digest => with_type(OCI_MANIFEST, manifest),
                            _ => AxStatus::NOT_FOUND.into_response(),
                        }
                    }),
                )
                .route(
                    "/v2/app/blobs/{digest}",
                    get(move |h: AxHeaders| async move {
                        if auth_header(&h).as_deref() != Some(wanted2.as_str()) {
                            return challenge(pull);
                        }
                        config.into_response()
                    }),
                )
        })
        .await;

        let dir = tempfile::tempdir().unwrap();
        let auth = BASE64.encode("alice:pw");
        std::fs::write(
            dir.path().join("config.json"),
            json!({"auths": {addr.to_string(): {"auth": auth}}}).to_string(),
        )
        .unwrap();
        let registry = Registry::new(options(), Credentials::from_dir(dir.path())).unwrap();
        let r = reference(addr, "app:v1");
        let resolved = registry.resolve(&r, &Platform::parse("linux/arm64").unwrap()).await.unwrap();
        assert_eq!(resolved.manifest_digest, manifest_digest);
        assert_eq!(resolved.manifest_media_type, OCI_MANIFEST);
        assert_eq!(resolved.index_digest, Some(sha256_digest(&img.index)));
        assert_eq!(resolved.config_digest, sha256_digest(&img.config));
        assert_eq!(resolved.config.architecture().to_string(), "arm64");
        assert_eq!(resolved.manifest_bytes, img.manifest);

        registry.resolve(&r, &Platform::parse("linux/arm64").unwrap()).await.unwrap();
        {
            let calls = token_calls.lock().unwrap();
            assert_eq!(calls.len(), 1, "one token serves both pulls: {calls:?}");
            let (query, auth) = &calls[0];
            let expect = |k: &str, v: &str| assert!(query.contains(&(k.into(), v.into())), "{k}={v} in {query:?}");
            expect("service", "test-registry");
            expect("scope", "repository:app:pull");
            expect("account", "alice");
            assert_eq!(query.iter().filter(|(k, _)| k == "scope").count(), 1);
            assert_eq!(auth.as_deref(), Some(basic_header("alice", "pw").as_str()));
        }

        let err = registry.resolve(&r, &Platform::parse("linux/riscv64").unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("available: linux/amd64, linux/arm64/v8"), "{err}");

        registry.check_login(&addr.to_string(), "alice", "pw").await.unwrap();
        let err = registry.check_login(&addr.to_string(), "alice", "wrong").await.unwrap_err();
        assert!(
            matches!(&err, RegistryError::LoginRejected { registry, .. } if *registry == addr.to_string()),
            "{err}"
        );

        let other = anonymous(options());
        let err = other.resolve(&r, &Platform::parse("linux/arm64").unwrap()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, RegistryError::Unauthorized { repository, .. } if repository == "app"), "{msg}");
        assert!(msg.contains(&format!("{addr}/app")), "{msg}");
    }

    #[tokio::test]
    async fn server_errors_are_retried_client_errors_are_not() {
        let img = image();
        let hits: Arc<[AtomicUsize; 3]> = Arc::default();
        let h = hits.clone();
        let (manifest, config) = (img.manifest.clone(), img.config.clone());
        let addr = serve(move |_| {
            Router::new()
                .route(
                    "/v2/{repo}/manifests/{reference}",
                    get(move |Path((repo, _)): Path<(String, String)>| async move {
                        match repo.as_str() {
                            "flaky" if h[0].fetch_add(1, Ordering::SeqCst) == 0 => {
                                (AxStatus::INTERNAL_SERVER_ERROR, "try again").into_response()
                            }
                            "flaky" => with_type(OCI_MANIFEST, manifest),
                            "missing" => {
                                h[1].fetch_add(1, Ordering::SeqCst);
                                (AxStatus::NOT_FOUND, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#).into_response()
                            }
                            _ => {
                                h[2].fetch_add(1, Ordering::SeqCst);
                                (AxStatus::SERVICE_UNAVAILABLE, "down").into_response()
                            }
                        }
                    }),
                )
                .route("/v2/flaky/blobs/{digest}", get(move || async move { config }))
        })
        .await;
        let registry = anonymous(options());
        let host = Platform::host();
        let spawned = registry.clone();
        let r = reference(addr, "flaky:v1");
        let resolved =
            tokio::spawn(async move { spawned.resolve(&r, &Platform::host()).await }).await.unwrap().unwrap();
        assert_eq!(resolved.manifest_bytes, img.manifest);
        assert_eq!(hits[0].load(Ordering::SeqCst), 2);

        let err = registry.resolve(&reference(addr, "missing:v1"), &host).await.unwrap_err();
        assert!(
            matches!(&err, RegistryError::Http { status: 404, body, .. } if body.contains("MANIFEST_UNKNOWN")),
            "{err}"
        );
        assert_eq!(hits[1].load(Ordering::SeqCst), 1);

        let err = registry.resolve(&reference(addr, "down:v1"), &host).await.unwrap_err();
        assert!(matches!(&err, RegistryError::Http { status: 503, .. }), "{err}");
        assert_eq!(hits[2].load(Ordering::SeqCst), 3, "max_attempts bounds the retries");
    }

    #[tokio::test]
    async fn stalled_blob_body_fails_on_read_timeout() {
        let digest = sha256_digest(b"layer");
        let addr = serve(|_| {
            Router::new().route(
                "/v2/app/blobs/{digest}",
                get(|| async {
                    let first =
                        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789"))]);
                    let body = Body::from_stream(first.chain(futures_util::stream::pending()));
                    ([(header::CONTENT_LENGTH, "100")], body).into_response()
                }),
            )
        })
        .await;
        let registry = anonymous(RegistryOptions { read_timeout: Duration::from_millis(300), ..options() });
        let started = std::time::Instant::now();
        let mut blob = registry.blob(&reference(addr, "app:v1"), &digest).await.unwrap();
        assert_eq!(blob.size, Some(100));
        let first = blob.stream.next().await.unwrap().unwrap();
        assert_eq!(&first[..], b"0123456789");
        let err = tokio::time::timeout(Duration::from_secs(10), blob.stream.next())
            .await
            .expect("the read timeout ends the stall")
            .unwrap()
            .unwrap_err();
        assert!(matches!(&err, RegistryError::BlobRead { source, .. } if source.is_timeout()), "{err:?}");
        assert!(err.to_string().contains(&digest), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn cross_host_redirect_drops_authorization() {
        let seen_by_storage: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = seen_by_storage.clone();
        let storage = serve(move |_| {
            Router::new().route(
                "/blob/{digest}",
                get(move |h: AxHeaders| async move {
                    seen.lock().unwrap().push(auth_header(&h));
                    "layer bytes"
                }),
            )
        })
        .await;
        let seen_by_registry: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = seen_by_registry.clone();
        let addr = serve(move |_| {
            Router::new().route(
                "/v2/app/blobs/{digest}",
                get(move |Path(digest): Path<String>, h: AxHeaders| async move {
                    let auth = auth_header(&h);
                    seen.lock().unwrap().push(auth.clone());
                    if auth.is_none() {
                        return (AxStatus::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"reg\"")])
                            .into_response();
                    }
                    let location = format!("http://localhost:{}/blob/{digest}", storage.port());
                    (AxStatus::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
                }),
            )
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let config = json!({"auths": {addr.to_string(): {"username": "alice", "password": "pw"}}});
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let registry = Registry::new(options(), Credentials::from_dir(dir.path())).unwrap();
        let r = reference(addr, "app:v1");
        let blob = tokio::spawn(async move { registry.blob(&r, &sha256_digest(b"layer bytes")).await })
            .await
            .unwrap()
            .unwrap();
        let body: Vec<Bytes> = blob.stream.try_collect().await.unwrap();
        assert_eq!(body.concat(), b"layer bytes");
        assert_eq!(*seen_by_registry.lock().unwrap(), vec![None, Some(basic_header("alice", "pw"))]);
        assert_eq!(
            *seen_by_storage.lock().unwrap(),
            vec![None],
            "credentials must not follow a redirect to another host"
        );
    }

    #[tokio::test]
    async fn oversized_or_altered_manifests_are_refused() {
        let img = image();
        let manifest = img.manifest.clone();
        let addr = serve(move |_| {
            Router::new().route(
                "/v2/app/manifests/{reference}",
                get(move |Path(reference): Path<String>| async move {
                    match reference.as_str() {
                        "chunked" => {
                            let chunks = futures_util::stream::iter(
                                (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024]))),
                            );
                            with_type(OCI_MANIFEST, Bytes::new()).map(|_| Body::from_stream(chunks))
                        }
                        "sized" => with_type(OCI_MANIFEST, Bytes::from(vec![b' '; 4096])),
                        _ => with_type(OCI_MANIFEST, manifest),
                    }
                }),
            )
        })
        .await;
        let registry = anonymous(RegistryOptions { max_manifest_bytes: 1024, ..options() });
        let host = Platform::host();
        for tag in ["chunked", "sized"] {
            let err = registry.resolve(&reference(addr, &format!("app:{tag}")), &host).await.unwrap_err();
            assert!(matches!(&err, RegistryError::TooLarge { limit: 1024, .. }), "{tag}: {err}");
            assert!(err.to_string().contains(tag), "{err}");
        }
        let pinned = reference(addr, "app").with_digest(&sha256_digest(b"something else"));
        let err = registry.resolve(&pinned, &host).await.unwrap_err();
        assert!(
            matches!(&err, RegistryError::DigestMismatch { actual, .. } if *actual == sha256_digest(&img.manifest)),
            "{err}"
        );
    }

    /// Found by the config property test: a diff ID is the name of the first layer's directory in the
    /// store, so a config whose diff ID is a path is refused when it is read.
    #[tokio::test]
    async fn config_with_a_path_for_a_diff_id_is_refused() {
        let config = Bytes::from(
            json!({"architecture": "amd64", "os": "linux",
                   "rootfs": {"type": "layers", "diff_ids": ["sha256:../../../../tmp/elsewhere"]}})
            .to_string(),
        );
        let config_digest = sha256_digest(&config);
        let manifest = Bytes::from(
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": config_digest, "size": config.len()},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               "digest": sha256_digest(b"layer"), "size": 5}]})
            .to_string(),
        );
        let addr = serve(move |_| {
            Router::new()
                .route("/v2/app/manifests/{reference}", get(move || async move { with_type(OCI_MANIFEST, manifest) }))
                .route("/v2/app/blobs/{digest}", get(move || async move { config }))
        })
        .await;
        let err = anonymous(options()).resolve(&reference(addr, "app:v1"), &Platform::host()).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, RegistryError::BadConfig { digest, .. } if *digest == config_digest), "{msg}");
        assert!(msg.contains("app:v1") && msg.contains("diff ID \"sha256:../../../../tmp/elsewhere\""), "{msg}");
    }

    #[tokio::test]
    async fn push_uploads_missing_blobs_and_manifests() {
        #[derive(Default)]
        struct Store {
            blobs: Mutex<HashMap<String, Bytes>>,
            manifests: Mutex<HashMap<String, (String, Bytes)>>,
            uploads: AtomicUsize,
        }
        let store: Arc<Store> = Arc::default();
        let (s1, s2, s3, s4) = (store.clone(), store.clone(), store.clone(), store.clone());
        let addr = serve(move |_| {
            Router::new()
                .route(
                    "/v2/app/blobs/{digest}",
                    get(move |Path(digest): Path<String>| async move {
                        match s1.blobs.lock().unwrap().get(&digest) {
                            Some(data) => data.clone().into_response(),
                            None => AxStatus::NOT_FOUND.into_response(),
                        }
                    }),
                )
                .route(
                    "/v2/app/blobs/uploads/",
                    axum::routing::post(move || async move {
                        let n = s2.uploads.fetch_add(1, Ordering::SeqCst);
                        let location = format!("/v2/app/blobs/uploads/u{n}?_state=abc");
                        (AxStatus::ACCEPTED, [(header::LOCATION, location)]).into_response()
                    }),
                )
                .route(
                    "/v2/app/blobs/uploads/{id}",
                    axum::routing::put(move |Query(q): Query<HashMap<String, String>>, body: Bytes| async move {
                        assert_eq!(q.get("_state").map(String::as_str), Some("abc"));
                        let digest = q.get("digest").cloned().unwrap_or_default();
                        if digest != sha256_digest(&body) {
                            return (AxStatus::BAD_REQUEST, "DIGEST_INVALID").into_response();
                        }
                        s3.blobs.lock().unwrap().insert(digest, body);
                        AxStatus::CREATED.into_response()
                    }),
                )
                .route(
                    "/v2/app/manifests/{reference}",
                    axum::routing::put(move |Path(reference): Path<String>, h: AxHeaders, body: Bytes| async move {
                        let media_type = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
                        s4.manifests.lock().unwrap().insert(reference, (media_type.to_string(), body));
                        AxStatus::CREATED
                    }),
                )
        })
        .await;
        let registry = anonymous(options());
        let r = reference(addr, "app:v2");
        let img = image();
        let config_digest = sha256_digest(&img.config);
        registry.push_blob(&r, &config_digest, img.config.clone()).await.unwrap();
        registry.push_blob(&r, &config_digest, img.config.clone()).await.unwrap();
        assert_eq!(store.uploads.load(Ordering::SeqCst), 1, "an existing blob is not uploaded again");
        assert_eq!(store.blobs.lock().unwrap().get(&config_digest), Some(&img.config));

        let err = registry.push_blob(&r, &config_digest, Bytes::from_static(b"other")).await.unwrap_err();
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");

        let digest = registry.push_manifest(&r, OCI_MANIFEST, img.manifest.clone()).await.unwrap();
        assert_eq!(digest, sha256_digest(&img.manifest));
        let manifests = store.manifests.lock().unwrap();
        assert_eq!(manifests.get("v2"), Some(&(OCI_MANIFEST.to_string(), img.manifest.clone())));
    }
}
