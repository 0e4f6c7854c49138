//! The push side of the distribution protocol: blob existence checks, cross-repository mounts, and
//! streaming uploads (POST a session, one PATCH streamed from the blob file, PUT with the digest), so a
//! layer is never held in memory. Distribution 2.8 ignores a body on the POST and Content-Range on the
//! PATCH, and its Location already carries `?_state=`, so the digest is appended to that query.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::io::AsyncReadExt;

use super::client::{Req, Target, check_content_digest, check_status};
use super::{Registry, RegistryError};
use crate::reference::Reference;

/// Bytes read per chunk of a streamed upload.
const CHUNK: usize = 256 << 10;

/// Called with the bytes of the blob sent so far in the current attempt.
pub type UploadProgress = Arc<dyn Fn(u64) + Send + Sync>;

/// A blob on disk, to be streamed.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub path: PathBuf,
    pub size: u64,
}

impl BlobFile {
    /// The file as a request body read in chunks, reporting progress as they go out.
    pub(super) async fn open(&self, progress: Option<UploadProgress>) -> std::io::Result<reqwest::Body> {
        let file = tokio::fs::File::open(&self.path).await?;
        let stream = futures_util::stream::try_unfold((file, 0u64), move |(mut file, sent)| {
            let progress = progress.clone();
            async move {
                let mut buf = BytesMut::zeroed(CHUNK);
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, std::io::Error>(None);
                }
                buf.truncate(n);
                let sent = sent + n as u64;
                if let Some(progress) = &progress {
                    progress(sent);
                }
                Ok(Some((buf.freeze(), (file, sent))))
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// What a mount request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOutcome {
    Mounted,
    /// The registry could not mount (it started an upload session instead); the blob must be uploaded.
    NotMounted,
}

impl Registry {
    /// Whether the repository of `r` has the blob (`HEAD /v2/<name>/blobs/<digest>`), asked with push scope.
    pub async fn blob_exists(&self, r: &Reference, digest: &str) -> Result<bool, RegistryError> {
        let target = Target::for_reference(r, "pull,push");
        let url = self.url(&target, &format!("blobs/{digest}"))?;
        self.with_retries(|| async {
            let req = Req::new(Method::HEAD, url.clone());
            let resp = self.send(&target, &req).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(false);
            }
            check_status(resp, &req).await.map(|_| true)
        })
        .await
    }

    /// Asks the registry to link a blob it holds in repository `from` into the repository of `r`.
    pub async fn mount_blob(&self, r: &Reference, digest: &str, from: &str) -> Result<MountOutcome, RegistryError> {
        let target = Target::for_mount(r, from);
        let mut url = self.url(&target, "blobs/uploads/")?;
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        self.with_retries(|| async {
            let req = Req::new(Method::POST, url.clone()).body(bytes::Bytes::new());
            let resp = check_status(self.send(&target, &req).await?, &req).await?;
            if resp.status() != StatusCode::CREATED {
                return Ok(MountOutcome::NotMounted);
            }
            check_content_digest(&resp, digest, || format!("blob {digest} mounted from {from} into {}", r.name()))?;
            Ok(MountOutcome::Mounted)
        })
        .await
    }

    /// Uploads `file` as blob `digest` of the repository of `r`: POST, one streamed PATCH, PUT with the
    /// digest. A transient failure anywhere starts the whole upload again (the registry drops the
    /// abandoned session); a 401 midway (an expired token) is answered and the request sent again.
    pub async fn upload_blob(
        &self,
        r: &Reference,
        digest: &str,
        file: &BlobFile,
        progress: Option<UploadProgress>,
    ) -> Result<(), RegistryError> {
        let target = Target::for_reference(r, "pull,push");
        let uploads = self.url(&target, "blobs/uploads/")?;
        self.with_retries(|| async {
            let start = Req::new(Method::POST, uploads.clone()).body(bytes::Bytes::new());
            let resp = check_status(self.send(&target, &start).await?, &start).await?;
            let session = location(&resp, &start)?;
            let patch = Req::new(Method::PATCH, session)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
                .file(file.clone(), progress.clone());
            let resp = check_status(self.send(&target, &patch).await?, &patch).await?;
            let mut put_url = location(&resp, &patch)?;
            put_url.query_pairs_mut().append_pair("digest", digest);
            let put = Req::new(Method::PUT, put_url).body(bytes::Bytes::new());
            let resp = check_status(self.send(&target, &put).await?, &put).await?;
            check_content_digest(&resp, digest, || format!("blob {digest} of {}", r.name()))
        })
        .await
    }
}

/// The upload session URL a POST or PATCH answered with, resolved against the request's URL.
fn location(resp: &Response, req: &Req) -> Result<Url, RegistryError> {
    let bad = |body: String| RegistryError::Http {
        method: req.method.to_string(),
        url: req.url.to_string(),
        status: resp.status().as_u16(),
        body,
    };
    let value = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("upload answered without a Location header".into()))?;
    req.url.join(value).map_err(|e| bad(format!("bad upload Location {value:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::extract::Query;
    use axum::http::{StatusCode as AxStatus, header};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    use super::*;
    use crate::registry::{Credentials, RegistryOptions};

    /// A mount asks the token server for push on the target and pull on the source, and a 201 whose
    /// Docker-Content-Digest is another blob's is refused.
    #[tokio::test]
    async fn mount_asks_for_pull_on_the_source_and_checks_the_digest() {
        let scopes: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let seen = scopes.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let realm = format!("Bearer realm=\"http://{addr}/token\",service=\"t\"");
        let router = Router::new()
            .route(
                "/token",
                get(move |Query(q): Query<Vec<(String, String)>>| async move {
                    seen.lock().unwrap().push(q.into_iter().filter(|(k, _)| k == "scope").map(|(_, v)| v).collect());
                    axum::Json(serde_json::json!({"token": "t1"}))
                }),
            )
            .route(
                "/v2/app/blobs/uploads/",
                post(move |headers: axum::http::HeaderMap, Query(q): Query<Vec<(String, String)>>| async move {
                    if headers.get(header::AUTHORIZATION).is_none() {
                        return (AxStatus::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, realm)]).into_response();
                    }
                    let digest = q.iter().find(|(k, _)| k == "mount").map(|(_, v)| v.clone()).unwrap_or_default();
                    let answered = if digest.ends_with('a') { digest } else { format!("sha256:{}", "f".repeat(64)) };
                    (AxStatus::CREATED, [("docker-content-digest", answered)]).into_response()
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        let registry = Registry::new(RegistryOptions::default(), Credentials::default()).unwrap();
        let r = Reference::parse(&format!("{addr}/app:v1")).unwrap();
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(registry.mount_blob(&r, &good, "base").await.unwrap(), MountOutcome::Mounted);
        assert_eq!(*scopes.lock().unwrap(), [["repository:app:pull,push", "repository:base:pull"]]);
        let other = format!("sha256:{}", "b".repeat(64));
        let err = registry.mount_blob(&r, &other, "base").await.unwrap_err();
        assert!(matches!(&err, RegistryError::WrongDigest { expected, .. } if *expected == other), "{err}");
    }
}
