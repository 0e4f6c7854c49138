//! The async client of a session: output frames in, stdin, resizes and end-of-input out.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::{Frame, SessionError};

/// What a session delivers, in order; `Exit` is last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The process could not be started or joined; an `Exit` follows.
    Error(String),
    Exit(i32),
}

/// A connected session: read its output, send it input. Split it to read and write from different tasks.
pub struct Session {
    reader: SessionReader,
    writer: SessionWriter,
}

/// The output half of a session.
pub struct SessionReader {
    stream: OwnedReadHalf,
    buf: Vec<u8>,
}

/// The input half of a session.
pub struct SessionWriter {
    stream: OwnedWriteHalf,
}

impl Session {
    /// Connects to the session socket at `path`.
    pub async fn connect(path: &Path) -> Result<Session, SessionError> {
        let stream = super::connect(path).await.map_err(|source| SessionError::Io {
            action: "connect to",
            path: path.to_path_buf(),
            source,
        })?;
        let (r, w) = stream.into_split();
        Ok(Session { reader: SessionReader { stream: r, buf: Vec::new() }, writer: SessionWriter { stream: w } })
    }

    /// The next output; None once the server closed the connection.
    pub async fn read(&mut self) -> Result<Option<Output>, SessionError> {
        self.reader.read().await
    }

    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), SessionError> {
        self.writer.write_stdin(data).await
    }

    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), SessionError> {
        self.writer.resize(cols, rows).await
    }

    pub async fn close_stdin(&mut self) -> Result<(), SessionError> {
        self.writer.close_stdin().await
    }

    /// Reads until the end, discarding output; the exit code, or None when the connection ended without one.
    pub async fn exit_code(mut self) -> Result<Option<i32>, SessionError> {
        while let Some(out) = self.read().await? {
            if let Output::Exit(code) = out {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    pub fn into_split(self) -> (SessionReader, SessionWriter) {
        (self.reader, self.writer)
    }
}

impl SessionReader {
    /// The next output; None once the server closed the connection.
    pub async fn read(&mut self) -> Result<Option<Output>, SessionError> {
        loop {
            if let Some(frame) = Frame::decode(&mut self.buf)? {
                return match frame {
                    Frame::Stdout(b) => Ok(Some(Output::Stdout(b))),
                    Frame::Stderr(b) => Ok(Some(Output::Stderr(b))),
                    Frame::Error(m) => Ok(Some(Output::Error(m))),
                    Frame::Exit(c) => Ok(Some(Output::Exit(c))),
                    other => Err(SessionError::Protocol { reason: format!("unexpected frame from server: {other:?}") }),
                };
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await.map_err(|source| SessionError::Connection { source })?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl SessionWriter {
    async fn send(&mut self, frame: Frame) -> Result<(), SessionError> {
        self.stream.write_all(&frame.encode()).await.map_err(|source| SessionError::Connection { source })
    }

    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), SessionError> {
        for chunk in data.chunks(super::MAX_PAYLOAD) {
            self.send(Frame::Stdin(chunk.to_vec())).await?;
        }
        Ok(())
    }

    /// Sets the window size of the session's pty (ignored by sessions without one).
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), SessionError> {
        self.send(Frame::Resize { cols, rows }).await
    }

    /// Ends the process's input (a piped stdin sees EOF).
    pub async fn close_stdin(&mut self) -> Result<(), SessionError> {
        self.send(Frame::CloseStdin).await
    }
}
