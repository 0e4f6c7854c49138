//! The wire format shared by attach and exec: one tag byte, a big-endian u32 payload length, the payload.
//! Small on purpose so the single-threaded monitor and exec helper can parse it incrementally in a poll loop.

use super::SessionError;

/// Payloads above this are refused: no legitimate frame needs more, and a bad peer must not make us allocate.
pub const MAX_PAYLOAD: usize = 1 << 20;

const HEADER: usize = 5;

/// One message. Client → server: `Stdin`, `CloseStdin`, `Resize`. Server → client: `Stdout`, `Stderr`,
/// `Exit` (the process's exit code; the last frame), `Error` (why the session could not run its process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdin(Vec<u8>),
    CloseStdin,
    Resize { cols: u16, rows: u16 },
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(i32),
    Error(String),
}

impl Frame {
    fn tag(&self) -> u8 {
        match self {
            Frame::Stdin(_) => 1,
            Frame::CloseStdin => 2,
            Frame::Resize { .. } => 3,
            Frame::Stdout(_) => 4,
            Frame::Stderr(_) => 5,
            Frame::Exit(_) => 6,
            Frame::Error(_) => 7,
        }
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let payload: Vec<u8> = match self {
            Frame::Stdin(b) | Frame::Stdout(b) | Frame::Stderr(b) => b.clone(),
            Frame::CloseStdin => Vec::new(),
            Frame::Resize { cols, rows } => [cols.to_be_bytes(), rows.to_be_bytes()].concat(),
            Frame::Exit(code) => code.to_be_bytes().to_vec(),
            Frame::Error(message) => message.as_bytes().to_vec(),
        };
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.push(self.tag());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Takes one complete frame off the front of `buf`; `Ok(None)` when more bytes are needed.
    pub fn decode(buf: &mut Vec<u8>) -> Result<Option<Frame>, SessionError> {
        if buf.len() < HEADER {
            return Ok(None);
        }
        let tag = buf[0];
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(SessionError::Protocol { reason: format!("frame of {len} bytes exceeds {MAX_PAYLOAD}") });
        }
        if buf.len() < HEADER + len {
            return Ok(None);
        }
        let payload: Vec<u8> = buf.drain(..HEADER + len).skip(HEADER).collect();
        let bad = |what: &str| SessionError::Protocol { reason: format!("{what} frame with a {len}-byte payload") };
        let frame = match tag {
            1 => Frame::Stdin(payload),
            2 => Frame::CloseStdin,
            3 => match payload[..] {
                [c0, c1, r0, r1] => {
                    Frame::Resize { cols: u16::from_be_bytes([c0, c1]), rows: u16::from_be_bytes([r0, r1]) }
                }
                _ => return Err(bad("resize")),
            },
            4 => Frame::Stdout(payload),
            5 => Frame::Stderr(payload),
            6 => match payload[..] {
                [a, b, c, d] => Frame::Exit(i32::from_be_bytes([a, b, c, d])),
                _ => return Err(bad("exit")),
            },
            7 => Frame::Error(String::from_utf8_lossy(&payload).into_owned()),
            other => return Err(SessionError::Protocol { reason: format!("unknown frame tag {other}") }),
        };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_even_when_split() {
        let frames = vec![
            Frame::Stdin(b"ls\r".to_vec()),
            Frame::CloseStdin,
            Frame::Resize { cols: 132, rows: 43 },
            Frame::Stdout(vec![0, 255, 10]),
            Frame::Stderr(Vec::new()),
            Frame::Exit(-1),
            Frame::Error("exec: \"nope\": executable file not found".into()),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        // Fed one byte at a time, the decoder yields exactly the frames sent.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for b in wire {
            buf.push(b);
            while let Some(f) = Frame::decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut unknown = vec![9, 0, 0, 0, 0];
        assert!(Frame::decode(&mut unknown).is_err());
        let mut huge = vec![1, 0xff, 0xff, 0xff, 0xff];
        assert!(Frame::decode(&mut huge).is_err());
        let mut short_resize = vec![3, 0, 0, 0, 1, 7];
        assert!(Frame::decode(&mut short_resize).is_err());
        let mut partial = Frame::Stdout(b"hello".to_vec()).encode();
        partial.truncate(7);
        assert_eq!(Frame::decode(&mut partial).unwrap(), None);
    }
}
