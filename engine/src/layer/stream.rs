//! Readers around the layer stream: one marks failures of the caller's source, one counts, caps and hashes
//! the decompressed tar bytes and enforces the per-entry header budget.
//!
//! Errors surface through the decompressor and the tar parser as plain `io::Error`s, so the readers record
//! what happened in a shared [`StreamState`], and [`StreamState::classify`] turns the error back into the
//! right [`LayerError`].

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::LayerError;
use super::tarsplit::Recorder;

#[derive(Debug, Default)]
pub(crate) struct StreamState {
    source_failed: Cell<bool>,
    too_large: Cell<bool>,
    header_too_large: Cell<Option<u64>>,
    /// Bytes the tar parser may still read on its own (between entries); `None` while an entry is applied.
    header_budget: Cell<Option<(u64, u64)>>,
    /// The layer's tar index, when one is kept (see `tarsplit`).
    pub(crate) recorder: RefCell<Option<Recorder>>,
}

impl StreamState {
    /// Starts counting bytes the tar parser reads by itself while it looks for the next entry.
    pub(crate) fn begin_headers(&self, limit: u64) {
        self.header_budget.set(Some((limit, limit)));
    }

    pub(crate) fn end_headers(&self) {
        self.header_budget.set(None);
    }

    /// Tells the tar index (if one is kept) that the entry whose content starts at stream offset `start`
    /// is now the regular file at `path`, all `size` bytes of it.
    pub(crate) fn file_data(&self, path: &Path, start: u64, size: u64) {
        if let Some(recorder) = self.recorder.borrow_mut().as_mut() {
            recorder.file(path, start, size);
        }
    }

    /// Maps an error that came out of the decompressor or the tar parser to its cause.
    pub(crate) fn classify(&self, source: io::Error, max_bytes: u64) -> LayerError {
        if self.too_large.get() {
            LayerError::TooLarge { limit: max_bytes }
        } else if let Some(limit) = self.header_too_large.get() {
            LayerError::HeaderTooLarge { limit }
        } else if self.source_failed.get() {
            LayerError::Read { source }
        } else {
            LayerError::Corrupt { source }
        }
    }
}

/// The caller's (compressed) stream; remembers that an error came from it rather than from decoding.
pub(crate) struct SourceReader<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> SourceReader<R> {
    pub(crate) fn new(inner: R, state: Rc<StreamState>) -> Self {
        SourceReader { inner, state }
    }
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.state.source_failed.set(true))
    }
}

/// The decompressed tar stream: hashed for the diffID and capped at `limit` bytes.
pub(crate) struct TarReader<R> {
    inner: R,
    state: Rc<StreamState>,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R, state: Rc<StreamState>, limit: u64) -> Self {
        TarReader { inner, state, hasher: Sha256::new(), bytes: 0, limit }
    }

    /// Returns the diffID (`sha256:<hex>`) and the number of bytes read.
    pub(crate) fn finish(self) -> (String, u64) {
        (format!("sha256:{}", hex::encode(self.hasher.finalize())), self.bytes)
    }
}

impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.limit {
            self.state.too_large.set(true);
            return Err(io::Error::other(format!("decompressed layer exceeds {} bytes", self.limit)));
        }
        if let Some((limit, left)) = self.state.header_budget.get() {
            let Some(left) = left.checked_sub(n as u64) else {
                self.state.header_too_large.set(Some(limit));
                return Err(io::Error::other(format!("tar header data exceeds {limit} bytes")));
            };
            self.state.header_budget.set(Some((limit, left)));
        }
        self.hasher.update(&buf[..n]);
        if let Some(recorder) = self.state.recorder.borrow_mut().as_mut() {
            recorder.bytes(&buf[..n]);
        }
        Ok(n)
    }
}
