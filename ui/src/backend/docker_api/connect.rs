//! An endpoint's address as a bollard client: `unix://`, `tcp://` (TLS when the endpoint has a cert dir, as
//! docker contexts and `DOCKER_CERT_PATH` give one) and `ssh://` through the system ssh, as docker does it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{ClientVersion, Docker};
use hyper_util::rt::TokioIo;
use thiserror::Error;

/// The API version asked for: what `berth serve` speaks, which Docker and Podman still accept.
const API_VERSION: &ClientVersion = &ClientVersion { major_version: 1, minor_version: 44 };

/// How long any one request may wait for its answer's head; streams then flow without a limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("{host}: unsupported address (unix://, tcp:// and ssh:// are understood)")]
    Scheme { host: String },
    #[error("{host}: {source}")]
    Client { host: String, source: bollard::errors::Error },
    #[error("{host}: TLS needs ca.pem, cert.pem and key.pem in {dir}")]
    Tls { host: String, dir: PathBuf },
}

/// Where an engine listens, and the TLS files a `tcp://` one is reached with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub tls_dir: Option<PathBuf>,
}

/// A client for `endpoint`; nothing is sent yet, so an unreachable engine shows on the first call.
pub fn connect(endpoint: &Endpoint) -> Result<Docker, ConnectError> {
    let host = endpoint.host.as_str();
    let timeout = REQUEST_TIMEOUT.as_secs();
    let client = |source| ConnectError::Client { host: host.to_string(), source };
    if let Some(path) = host.strip_prefix("unix://") {
        return Docker::connect_with_unix(path, timeout, API_VERSION).map_err(client);
    }
    if host.starts_with("tcp://") || host.starts_with("http://") || host.starts_with("https://") {
        return match &endpoint.tls_dir {
            Some(dir) => {
                let file = |name: &str| dir.join(name);
                if !["ca.pem", "cert.pem", "key.pem"].iter().all(|f| file(f).is_file()) {
                    return Err(ConnectError::Tls { host: host.to_string(), dir: dir.clone() });
                }
                let (key, cert, ca) = (file("key.pem"), file("cert.pem"), file("ca.pem"));
                Docker::connect_with_ssl(host, &key, &cert, &ca, timeout, API_VERSION).map_err(client)
            }
            None => Docker::connect_with_http(host, timeout, API_VERSION).map_err(client),
        };
    }
    if let Some(target) = host.strip_prefix("ssh://") {
        return ssh(target, timeout).map_err(client);
    }
    Err(ConnectError::Scheme { host: host.to_string() })
}

/// `user@host[:port]` of an `ssh://` address as ssh's arguments.
fn ssh_args(target: &str) -> Vec<String> {
    let target = target.trim_end_matches('/');
    let (destination, port) = match target.rsplit_once(':') {
        Some((destination, port)) if port.parse::<u16>().is_ok() => (destination, Some(port)),
        _ => (target, None),
    };
    let mut args = Vec::new();
    if let Some(port) = port {
        args.extend(["-p".to_string(), port.to_string()]);
    }
    // As docker does: the remote docker CLI relays one connection to its engine's socket.
    args.extend(["--".into(), destination.to_string(), "docker".into(), "system".into(), "dial-stdio".into()]);
    args
}

/// What a custom transport answers a request with.
type Answer = std::pin::Pin<
    Box<dyn Future<Output = Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error>> + Send>,
>;

/// One ssh process per request, its stdin and stdout carrying one HTTP/1 connection (with upgrades, for
/// exec and attach); ssh's own prompts cannot be answered here, so keys or an agent must do.
fn ssh(target: &str, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    let args = ssh_args(target);
    let transport = move |request: bollard::BollardRequest| {
        let args = args.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(["-o", "BatchMode=yes"])
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(std::io::Error::other("ssh has no stdio").into());
            };
            let io = TokioIo::new(tokio::io::join(stdout, stdin));
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(async move {
                // The child lives as long as its connection; an upgraded stream keeps the connection.
                let _ = connection.with_upgrades().await;
                let _ = child.wait().await;
            });
            Ok(sender.send_request(request).await?)
        }) as Answer
    };
    Docker::connect_with_custom_transport(transport, Some("http://ssh"), timeout, API_VERSION)
}

/// The `tls` dir of a docker context, when it holds the client files.
pub fn tls_dir(dir: &Path) -> Option<PathBuf> {
    dir.join("cert.pem").is_file().then(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_ssh_addresses_become_ssh_arguments_as_docker_runs_them() {
        assert_eq!(ssh_args("deploy@box"), ["--", "deploy@box", "docker", "system", "dial-stdio"]);
        assert_eq!(ssh_args("deploy@box:2222/"), ["-p", "2222", "--", "deploy@box", "docker", "system", "dial-stdio"]);
    }

    #[test]
    fn br_an_unknown_scheme_is_refused_by_name() {
        let err = connect(&Endpoint { host: "npipe:////./pipe/x".into(), tls_dir: None }).unwrap_err();
        assert!(err.to_string().contains("unsupported address"), "{err}");
    }

    #[test]
    fn br_tls_without_its_files_says_which_are_needed() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = Endpoint { host: "tcp://127.0.0.1:2376".into(), tls_dir: Some(dir.path().into()) };
        let err = connect(&endpoint).unwrap_err();
        assert!(err.to_string().contains("ca.pem, cert.pem and key.pem"), "{err}");
    }
}
