//! Streams: moby's 8-byte frames for output without a tty, bodies fed from a task (logs, wait, pulls), and
//! the hijacked connection of attach and exec start (`101 UPGRADED`, then raw bytes both ways).

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// Stream numbers of the frame header.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// One frame: `[stream, 0, 0, 0, len as u32 BE]` and the payload.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Output as a client reads it: raw with a tty, framed otherwise.
pub fn output(tty: bool, stream: u8, data: &[u8]) -> Vec<u8> {
    if tty { data.to_vec() } else { frame(stream, data) }
}

/// A response body fed by a task through the returned sender; the task learns the client left when
/// sending fails.
pub fn channel_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<Bytes, Infallible>(chunk), rx))
    });
    (tx, Body::from_stream(stream))
}

pub fn streaming(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Answers `101` to a request that asked for `Upgrade: tcp` and hands the connection to `run` once the
/// response is flushed (docker-py drops bytes that arrive with it). A request without the upgrade gets the
/// same bytes as a plain streamed body, with no input.
pub fn hijack<F, Fut>(mut req: Request, content_type: &'static str, run: F) -> Response
where
    F: FnOnce(Box<dyn Conn>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let busy = super::listen::hold();
    let upgrade = req.headers().get(header::UPGRADE).is_some();
    if upgrade {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let _busy = busy;
            match on_upgrade.await {
                Ok(upgraded) => run(Box::new(TokioIo::new(upgraded))).await,
                Err(e) => tracing::debug!("upgrade failed: {e}"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return response;
    }
    // No upgrade: one end of a pipe is the connection, the other the response body.
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut read, _write) = tokio::io::split(theirs);
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let _busy = busy;
        run(Box::new(NoInput(ours))).await
    });
    streaming(StatusCode::OK, content_type, body)
}

/// A hijacked connection: read the client's input, write output, shut the write side down at the end.
pub trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Conn for T {}

/// The duplex end of a non-upgraded stream, whose client sends nothing: reads end at once.
struct NoInput(tokio::io::DuplexStream);

impl tokio::io::AsyncRead for NoInput {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for NoInput {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Pumps an engine session over a hijacked connection: the client's bytes to the process's input (its
/// EOF closes a non-tty input), resizes from `resizes`, output to the client as raw bytes or frames.
/// Returns the exit code, or None when the session or the client went away first.
pub async fn pump_session(
    conn: Box<dyn Conn>,
    session: berth_engine::container::Session,
    tty: bool,
    stdin: bool,
    (stdout, stderr): (bool, bool),
    mut resizes: mpsc::Receiver<(u16, u16)>,
) -> Option<i32> {
    use berth_engine::container::Output;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_in, mut client_out) = tokio::io::split(conn);
    let (mut reader, mut writer) = session.into_split();
    let input = async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut open = true;
        loop {
            tokio::select! {
                read = client_in.read(&mut buf), if open => match read {
                    Ok(n) if n > 0 => {
                        if stdin && writer.write_stdin(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                    // The client half-closed (no more input) or left: keep sending it output.
                    _ => {
                        open = false;
                        if stdin && !tty {
                            let _ = writer.close_stdin().await;
                        }
                    }
                },
                size = resizes.recv() => match size {
                    Some((cols, rows)) => {
                        let _ = writer.resize(cols, rows).await;
                    }
                    None if !open => return,
                    None => std::future::pending::<()>().await,
                },
            }
        }
    };
    let output = async move {
        let mut code = None;
        while let Ok(Some(out)) = reader.read().await {
            let bytes = match out {
                Output::Stdout(b) if stdout => output(tty, STDOUT, &b),
                Output::Stderr(b) if stderr => output(tty, STDERR, &b),
                Output::Error(message) => output(tty, STDERR, format!("{message}\n").as_bytes()),
                Output::Exit(c) => {
                    code = Some(c);
                    break;
                }
                _ => continue,
            };
            if client_out.write_all(&bytes).await.is_err() {
                return (code, client_out);
            }
        }
        let _ = client_out.flush().await;
        (code, client_out)
    };
    tokio::pin!(input);
    tokio::pin!(output);
    let (code, mut client_out) = tokio::select! {
        done = &mut output => done,
        () = &mut input => output.await,
    };
    let _ = client_out.shutdown().await;
    code
}
