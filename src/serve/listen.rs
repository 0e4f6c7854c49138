//! The server's sockets and connections: Unix sockets (mode 0660, group `docker` when it exists; a stale
//! socket replaced, a live one refused), loopback TCP with a warning, `/vX.Y` stripped before routing,
//! SIGTERM/SIGINT stopping the accept loops while open streams finish, and the idle timeout.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::http::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tower::ServiceExt;

/// The default Unix socket: /run/berth/docker.sock for root, $XDG_RUNTIME_DIR/berth/docker.sock otherwise.
fn default_socket() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/run/berth/docker.sock");
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("berth-{}", rustix::process::geteuid().as_raw())));
    runtime.join("berth/docker.sock")
}

/// `-H` values checked (unix:// or tcp:// on a loopback address), or the default socket.
pub fn addresses(hosts: &[String]) -> anyhow::Result<Vec<String>> {
    if hosts.is_empty() {
        return Ok(vec![format!("unix://{}", default_socket().display())]);
    }
    for host in hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            if !path.starts_with('/') {
                bail!("invalid -H {host:?}: a unix socket path must be absolute (unix:///PATH)");
            }
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let parsed: std::net::SocketAddr =
                addr.parse().with_context(|| format!("invalid -H {host:?}: expected tcp://127.0.0.1:PORT"))?;
            if !parsed.ip().is_loopback() {
                bail!(
                    "refusing -H {host}: berth serves TCP only on a loopback address, without TLS anyone who \
                     reaches the port controls the host as root"
                );
            }
        } else {
            bail!("invalid -H {host:?}: use unix:///PATH or tcp://127.0.0.1:PORT");
        }
    }
    Ok(hosts.to_vec())
}

pub enum Listener {
    Unix(UnixListener, SocketFile),
    Tcp(TcpListener),
}

/// A socket path this server made; removed when the server ends.
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn bind(addresses: &[String]) -> anyhow::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for address in addresses {
        if let Some(path) = address.strip_prefix("unix://") {
            let (listener, file) = bind_unix(Path::new(path))?;
            listeners.push(Listener::Unix(listener, file));
        } else if let Some(addr) = address.strip_prefix("tcp://") {
            let std_listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
            std_listener.set_nonblocking(true)?;
            eprintln!(
                "WARNING: berth serve listens on tcp://{addr} without TLS: every local user and process that can \
                 connect to it can run containers as root"
            );
            listeners.push(Listener::Tcp(TcpListener::from_std(std_listener)?));
        }
    }
    Ok(listeners)
}

fn bind_unix(path: &Path) -> anyhow::Result<(UnixListener, SocketFile)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!("another server is listening on {}; stop it first or choose another -H", path.display());
            }
            std::fs::remove_file(path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
        }
        Ok(_) => bail!("{} exists and is not a socket; refusing to replace it", path.display()),
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    let file = SocketFile(path.to_path_buf());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    if let Some(gid) = docker_group() {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .with_context(|| format!("cannot give {} to the docker group", path.display()))?;
    }
    Ok((listener, file))
}

/// The `docker` group's id, when /etc/group has one.
fn docker_group() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == "docker").then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// How long without a connection or stream before the server sheds memory.
const SHED_AFTER: Duration = Duration::from_secs(1);

/// Open connections and streams; the idle timeout counts from when it last fell to zero.
#[derive(Clone)]
pub struct Activity(Arc<watch::Sender<usize>>);

pub struct Busy(Activity);

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(watch::channel(0).0))
    }

    pub fn busy(&self) -> Busy {
        self.0.send_modify(|n| *n += 1);
        Busy(self.clone())
    }

    /// Resolves once nothing is open.
    async fn idle(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Resolves once something is open.
    async fn busy_again(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|n| *n > 0).await;
    }

    /// Resolves once nothing has been open for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        let mut rx = self.0.subscribe();
        loop {
            let _ = rx.wait_for(|n| *n == 0).await;
            tokio::select! {
                () = tokio::time::sleep(timeout) => return,
                _ = rx.wait_for(|n| *n > 0) => {}
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}

tokio::task_local! {
    /// The connection a request came on: streams that outlive their response (hijacked attach and exec,
    /// followed logs) hold it busy so the idle timeout and shutdown wait for them.
    pub static ACTIVITY: Activity;
}

/// Keeps the server busy while a stream that outlives its request runs.
pub fn hold() -> Option<Busy> {
    ACTIVITY.try_with(Activity::busy).ok()
}

/// `/v1.44/containers/json` → `/containers/json`: clients send any version (bollard none); berth answers all.
fn strip_version(mut req: Request<hyper::body::Incoming>) -> Request<hyper::body::Incoming> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else { return req };
    let Some((version, tail)) = rest.split_once('/') else { return req };
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return req;
    }
    let mut new = format!("/{tail}");
    if let Some(q) = req.uri().query() {
        new.push('?');
        new.push_str(q);
    }
    if let Ok(uri) = new.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

pub async fn serve(listeners: Vec<Listener>, router: Router, timeout: Duration) -> anyhow::Result<()> {
    let activity = Activity::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accepting = tokio::task::JoinSet::new();
    let mut socket_files = Vec::new();
    for listener in listeners {
        let (router, activity, stop) = (router.clone(), activity.clone(), stop_rx.clone());
        match listener {
            Listener::Unix(l, file) => {
                socket_files.push(file);
                accepting.spawn(accept_loop(l, router, activity, stop));
            }
            Listener::Tcp(l) => {
                accepting.spawn(accept_loop(l, router, activity, stop));
            }
        }
    }
    // A quiet server gives back what serving faulted in (code pages, freed heap), once per quiet spell, so
    // its idle resident set is its own state; the next request refaults what it touches.
    let quiet = activity.clone();
    tokio::spawn(async move {
        loop {
            quiet.idle_for(SHED_AFTER).await;
            berth_engine::shed_idle_memory();
            quiet.busy_again().await;
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let idle = async {
        if timeout.is_zero() {
            std::future::pending::<()>().await;
        }
        activity.idle_for(timeout).await
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        () = idle => {}
    }
    // Stop accepting; connections finish their requests and hijacked streams run to their end, unless a
    // second signal says not to wait (a `logs -f` of a container that never stops would hold it forever).
    let _ = stop_tx.send(true);
    accepting.shutdown().await;
    drop(socket_files);
    tokio::select! {
        () = activity.idle() => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// A listening socket of either kind.
trait Accept: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept_one(&self) -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

async fn accept_loop(listener: impl Accept, router: Router, activity: Activity, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept_one() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (router, activity, mut stop) = (router.clone(), activity.clone(), stop.clone());
        tokio::spawn(async move {
            let busy = activity.busy();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                tracing::debug!("{} {}", req.method(), req.uri());
                let router = router.clone();
                ACTIVITY.scope(activity.clone(), async move { router.oneshot(strip_version(req)).await })
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let stopping = async { stop.wait_for(|s| *s).await.is_ok() };
            let shut = tokio::select! {
                _ = conn.as_mut() => false,
                _ = stopping => true,
            };
            if shut {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            drop(busy);
        });
    }
}
