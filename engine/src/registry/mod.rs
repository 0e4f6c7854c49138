//! OCI distribution client: manifests, configs and layer blobs from registries, and pushes back to them.
//!
//! Written on reqwest rather than taken from an off-the-shelf client because berth needs layer bodies as
//! streams it can unpack while they download, its own retry and timeout policy, Docker's credential
//! helpers, and Docker's insecure-registry rules.

mod auth;
mod client;
mod credentials;
mod given;
mod manifest;
mod platform;
#[cfg(test)]
mod proptests;
mod tls;
mod upload;

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

pub use client::{BlobStream, ManifestDocument, Registry, ResolvedImage};
pub use credentials::Credentials;
pub use given::GivenCredentials;
pub use manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST};
pub use platform::Platform;
pub use upload::{BlobFile, MountOutcome, UploadProgress};

/// How the client talks to registries; one set of options serves every host.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host` or `host:port`) spoken to over plain HTTP. Loopback hosts always are.
    /// An entry without a port matches the host on any port.
    pub insecure: Vec<String>,
    /// Attempts per request, counting the first, for 5xx, 429, connection errors and timeouts.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response, so a stalled connection fails instead of hanging.
    pub read_timeout: Duration,
    /// Upper bound on manifests, image configs and token responses, which are held in memory.
    pub max_manifest_bytes: u64,
    pub user_agent: String,
    /// Directories in Docker's `certs.d` layout (`HOST[:PORT]/ca.crt`, `client.cert`, `client.key`).
    pub certs_dirs: Vec<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            max_attempts: 4,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            max_manifest_bytes: 4 * 1024 * 1024,
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")).to_string(),
            certs_dirs: Vec::new(),
        }
    }
}

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("cannot set up the HTTP client: {source}")]
    ClientSetup {
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: registry answered {status}: {body}")]
    Http { method: String, url: String, status: u16, body: String },
    /// `detail` is the whole chain of causes (reqwest's own message names only the request), with what to
    /// do about a certificate the TLS layer refused (see `tls::hint`).
    #[error("{method} {url}: {detail}")]
    Transport {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
        detail: String,
    },
    #[error("reading blob {digest} of {name} failed: {source}")]
    BlobRead {
        name: String,
        digest: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "pull access denied for {registry}/{repository} (the registry answered {status}): the repository does not exist or needs authentication (try `berth login {registry}`)"
    )]
    Unauthorized { registry: String, repository: String, status: String },
    #[error(
        "push access denied for {registry}/{repository} (the registry answered {status}): not logged in, or the credentials may not push there (try `berth login {registry}`)"
    )]
    PushDenied { registry: String, repository: String, status: String },
    #[error("reading blob file {path}: {reason}")]
    BlobFile { path: String, reason: String },
    #[error("certificates for a private registry, {path}: {reason}")]
    Certificates { path: String, reason: String },
    #[error("{what}: the registry answered digest {actual}, not the {expected} sent")]
    WrongDigest { what: String, expected: String, actual: String },
    #[error("login to {registry} failed: the registry rejected the username or password ({status})")]
    LoginRejected { registry: String, status: String },
    #[error("token request to {realm} failed: {reason}")]
    Token { realm: String, reason: String },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{reference}: no image for platform {wanted}; available: {}", available.join(", "))]
    NoPlatform { reference: String, wanted: String, available: Vec<String> },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType { reference: String, media_type: String },
    #[error("{reference}: bad manifest: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("{reference}: bad image config {digest}: {reason}")]
    BadConfig { reference: String, digest: String, reason: String },
    #[error("invalid platform {input:?}: {reason}")]
    BadPlatform { input: String, reason: String },
    #[error("registry {registry}: {reason}")]
    BadRegistry { registry: String, reason: String },
    #[error("docker config {path}: {reason}")]
    CredentialsFile { path: String, reason: String },
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    CredentialHelper { helper: String, registry: String, reason: String },
}

impl RegistryError {
    /// A request that got no answer. `certs`, the host (`name[:port]`) and its certificate directories,
    /// when a refused certificate could be why: the advice names them.
    pub(crate) fn transport(
        method: &str,
        url: &reqwest::Url,
        source: reqwest::Error,
        certs: Option<(&str, &[PathBuf])>,
    ) -> Self {
        let mut detail = crate::with_causes(&source);
        if let Some(hint) = certs.and_then(|(host, dirs)| tls::hint(&detail, host, dirs)) {
            detail.push_str(&format!(" ({hint})"));
        }
        RegistryError::Transport { method: method.to_string(), url: url.to_string(), source, detail }
    }

    /// Failures worth another attempt: server errors, rate limits, connection failures and timeouts.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            RegistryError::Http { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Transport { source, .. } => {
                source.is_connect() || source.is_timeout() || source.is_request() || source.is_body()
            }
            _ => false,
        }
    }
}
