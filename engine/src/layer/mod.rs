//! Image layers: streaming decompression and a safe tar apply into an overlayfs lower directory, and the
//! way back (`pack`): an overlay upper or layer directory as a deterministic layer tar.
//!
//! Each layer is unpacked once into its own directory, so the output is in overlay format: an OCI
//! whiteout `dir/.wh.NAME` becomes a 0:0 character device `dir/NAME`, an opaque marker becomes the
//! `overlay.opaque` xattr on its directory, and no `.wh.` file is left behind.
//!
//! Every filesystem operation is made relative to a directory fd for the layer root: parents are resolved
//! with `openat2(RESOLVE_IN_ROOT)` and the final component is acted on with no-follow `*at` calls, so a
//! symlink planted by an earlier entry can never redirect a later one outside the root (the unpack traps in
//! the engine anchors' CVE table). The tar crate only parses; none of its unpack functions are used.

mod apply;
mod compression;
mod entries;
pub mod erofs;
mod explore;
mod lowers;
mod meta;
mod pack;
mod parallel_gzip;
mod stream;
mod tarsplit;
mod whiteout;

#[cfg(test)]
mod explore_tests;
#[cfg(test)]
mod pack_proptests;
#[cfg(test)]
mod pack_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use thiserror::Error;

pub use compression::Compression;
pub use entries::{EntryKind, LayerEntry, from_dir as entries_from_dir, from_index as entries_from_index};
pub use explore::{Change as LayerChange, ImageChanges, Mark, MergedEntry, path_cmp};
pub use lowers::{inherit_from_lowers, link_from_lowers};
pub use pack::{ChangeKind, PackOptions, changes, pack};
pub(crate) use pack::{Hashing, gzip_blob};
pub use tarsplit::TarIndex;

/// Most entries one layer may hold: a cap against archives built to exhaust inodes or time.
pub const MAX_ENTRIES: u64 = 1_000_000;
/// Most bytes the tar reader may consume between two entries: headers, PAX records and GNU long names.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Longest entry or link path accepted, in bytes (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Cap on the decompressed tar stream in bytes; exceeding it aborts (decompression bombs).
    pub max_bytes: u64,
    /// Apply uid/gid from the tar (true as root; false when unprivileged: files owned by the caller).
    pub preserve_owners: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackReport {
    /// "sha256:<hex>" of the whole decompressed tar stream — the layer's diffID. The caller compares it.
    pub diff_id: String,
    /// Decompressed tar bytes read.
    pub tar_bytes: u64,
    /// Sum of regular file sizes written (for `images` SIZE).
    pub size: u64,
    /// Hardlinks whose target is not in this layer (it lives in a lower layer): created later by
    /// [`link_from_lowers`] once the lower layers are on disk.
    pub deferred_links: Vec<DeferredLink>,
    /// Directories made only to hold entries below them (the layer has no entry for them), relative to
    /// the layer root. As overlay lowers they hide the lower directory, so [`inherit_from_lowers`] gives
    /// them its owner, mode, xattrs and mtime once the lower layers are on disk.
    pub implicit_dirs: Vec<PathBuf>,
}

/// A hardlink to be made once the lower layers exist. Both paths are relative to the layer root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredLink {
    pub path: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Error)]
pub enum LayerError {
    #[error("layer entry {path:?}: {op} failed: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {entry:?} rejected: {reason}")]
    Escape { entry: PathBuf, reason: &'static str },
    #[error("layer entry {entry:?}: path longer than {limit} bytes")]
    PathTooLong { entry: PathBuf, limit: usize },
    #[error("layer is larger than the limit of {limit} bytes once decompressed")]
    TooLarge { limit: u64 },
    #[error("layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("layer has a tar header (PAX record or long name) larger than {limit} bytes")]
    HeaderTooLarge { limit: u64 },
    #[error("layer entry {path:?} has an unsupported type ({kind})")]
    UnsupportedEntry { path: PathBuf, kind: String },
    #[error("layer stream is corrupt (bad gzip, zstd or tar data): {source}")]
    Corrupt {
        #[source]
        source: io::Error,
    },
    #[error("reading the layer stream failed: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("{path:?} cannot be packed into a layer: names beginning with .wh. mark deletions in layer tars")]
    ReservedName { path: PathBuf },
    #[error("writing the layer stream failed: {source}")]
    Output {
        #[source]
        source: io::Error,
    },
    #[error("hardlink {path:?} -> {target:?}: {reason}")]
    BadLink { path: PathBuf, target: PathBuf, reason: &'static str },
    #[error("hardlink {path:?} -> {target:?}: the target is in neither this layer nor any lower layer")]
    LinkTargetMissing { path: PathBuf, target: PathBuf },
    #[error("hardlink {path:?} -> {target:?}: the target is deleted by a whiteout at {whiteout:?} in layer {layer:?}")]
    LinkTargetHidden { path: PathBuf, target: PathBuf, layer: PathBuf, whiteout: PathBuf },
}

impl LayerError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(io::Error) -> LayerError {
        let path = path.into();
        move |source| LayerError::Io { path, op, source }
    }
}

/// Decompresses `reader`, hashes the tar stream, and applies it to `dest` (an existing EMPTY directory).
///
/// Reads `reader` to EOF even after the tar end marker, so the caller's digest of the compressed stream
/// covers every byte. Blocking: the caller runs it on a blocking thread and feeds it while downloading.
pub fn unpack(
    reader: impl Read,
    compression: Compression,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, LayerError> {
    unpack_indexed(reader, compression, dest, opts, None).map(|(report, _)| report)
}

/// [`unpack`], also keeping the tar's index at `index` (see [`TarIndex`]) when given; the flag says
/// whether the index was kept (a stream whose file contents cannot be told apart keeps none).
pub fn unpack_indexed(
    reader: impl Read,
    compression: Compression,
    dest: &Path,
    opts: &UnpackOptions,
    index: Option<&Path>,
) -> Result<(UnpackReport, bool), LayerError> {
    let mut applier = apply::Applier::new(dest, opts)?;
    let (diff_id, tar_bytes, indexed) = run(reader, compression, opts, index, &mut applier)?;
    let (size, deferred_links, implicit_dirs) = applier.into_results();
    Ok((UnpackReport { diff_id, tar_bytes, size, deferred_links, implicit_dirs }, indexed))
}

/// A tar entry handler: the directory applier or the EROFS image applier.
pub(crate) trait ApplyEntry {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, state: &stream::StreamState) -> Result<(), LayerError>;
    fn finish(&mut self) -> Result<(), LayerError>;
}

/// Streams `reader` through the decompressor and the capped, hashing tar reader into `applier`; returns
/// the diffID, the tar's length and whether its index was kept at `index`.
fn run(
    mut reader: impl Read,
    compression: Compression,
    opts: &UnpackOptions,
    index: Option<&Path>,
    applier: &mut impl ApplyEntry,
) -> Result<(String, u64, bool), LayerError> {
    let state = Rc::new(stream::StreamState::default());
    if let Some(index) = index {
        *state.recorder.borrow_mut() = Some(tarsplit::Recorder::create(index)?);
    }
    let source = stream::SourceReader::new(&mut reader, state.clone());
    let decompressed = compression.decoder(source).map_err(|e| state.classify(e, opts.max_bytes))?;
    let tar = stream::TarReader::new(decompressed, state.clone(), opts.max_bytes);

    let mut archive = tar::Archive::new(tar);
    let mut count = 0u64;
    {
        let mut entries = archive.entries().map_err(|e| state.classify(e, opts.max_bytes))?;
        loop {
            state.begin_headers(MAX_HEADER_BYTES);
            let next = entries.next();
            state.end_headers();
            let mut entry = match next {
                None => break,
                Some(entry) => entry.map_err(|e| state.classify(e, opts.max_bytes))?,
            };
            count += 1;
            if count > MAX_ENTRIES {
                return Err(LayerError::TooManyEntries { limit: MAX_ENTRIES });
            }
            applier.apply(&mut entry, &state)?;
            // Drain what the entry did not consume (data of non-file entries) outside the header budget.
            io::copy(&mut entry, &mut io::sink()).map_err(|e| state.classify(e, opts.max_bytes))?;
        }
    }
    applier.finish()?;

    // Everything after the end-of-archive marker is part of the diffID too.
    let mut tar = archive.into_inner();
    io::copy(&mut tar, &mut io::sink()).map_err(|e| state.classify(e, opts.max_bytes))?;
    let (diff_id, tar_bytes) = tar.finish();
    io::copy(&mut reader, &mut io::sink()).map_err(|source| LayerError::Read { source })?;
    let recorder = state.recorder.borrow_mut().take();
    let indexed = match recorder {
        Some(recorder) => recorder.finish()?,
        None => false,
    };
    Ok((diff_id, tar_bytes, indexed))
}
