//! Segment files, `events/<seq>.jsonseq` numbered from 1 (the newest is appended to), and reading their
//! records as they are appended.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Event, JournalError, MAX_RECORD, RS};

const SUFFIX: &str = ".jsonseq";

pub(super) fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SUFFIX}"))
}

/// The segments there are, oldest first; none when the directory does not exist yet.
pub(super) fn list(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(JournalError::Io { action: "list", path: dir.to_path_buf(), source }),
    };
    let mut seqs: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(SUFFIX)?.parse().ok())
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

pub(super) fn newest(dir: &Path) -> Result<Option<u64>, JournalError> {
    Ok(list(dir)?.last().copied())
}

/// Starts the segment after `full` (unless another process just did) and removes all but the newest `keep`.
/// Needs no lock: creating the next segment is exclusive, and removing one already removed is fine.
pub(super) fn rotate(dir: &Path, full: u64, keep: usize) -> Result<(), JournalError> {
    let next = path(dir, full + 1);
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&next) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(JournalError::Io { action: "create", path: next, source }),
    }
    let seqs = list(dir)?;
    for &seq in &seqs[..seqs.len().saturating_sub(keep.max(1))] {
        let old = path(dir, seq);
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Io { action: "remove", path: old, source }),
        }
    }
    Ok(())
}

/// One segment read as it grows: complete records come out, a record still being written waits for its
/// end, and damaged ones (cut short, then followed by the next record's separator) are skipped.
#[derive(Debug)]
pub(super) struct SegmentReader {
    pub(super) seq: u64,
    path: PathBuf,
    file: File,
    /// Bytes read but not yet a complete record.
    pending: Vec<u8>,
}

impl SegmentReader {
    /// Opens segment `seq` at its start, or at its end to see only what is appended from now on; None when
    /// it was removed meanwhile.
    pub(super) fn open(dir: &Path, seq: u64, at_end: bool) -> Result<Option<SegmentReader>, JournalError> {
        let path = path(dir, seq);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(JournalError::Io { action: "open", path, source }),
        };
        if at_end {
            file.seek(SeekFrom::End(0)).map_err(|source| JournalError::Io {
                action: "seek",
                path: path.clone(),
                source,
            })?;
        }
        Ok(Some(SegmentReader { seq, path, file, pending: Vec::new() }))
    }

    /// Reads what was appended since the last call and adds its complete records to `out`.
    pub(super) fn read_new(&mut self, out: &mut Vec<Event>) -> Result<(), JournalError> {
        self.file.read_to_end(&mut self.pending).map_err(|source| JournalError::Io {
            action: "read",
            path: self.path.clone(),
            source,
        })?;
        take_records(&mut self.pending, out);
        Ok(())
    }
}

/// Moves the complete records at the front of `buf` into `out`. A record runs from a separator to the next
/// one; the last runs to a newline at the very end (else it is still being written and stays). Bytes before
/// the first separator (the rest of a record a reader started in the middle of) and records that do not
/// parse (cut short) are dropped.
pub(super) fn take_records(buf: &mut Vec<u8>, out: &mut Vec<Event>) {
    let mut done = 0;
    loop {
        let Some(start) = buf[done..].iter().position(|&b| b == RS).map(|p| done + p) else {
            done = buf.len();
            break;
        };
        let body = start + 1;
        match buf[body..].iter().position(|&b| b == RS) {
            Some(len) => {
                push_parsed(&buf[body..body + len], out);
                done = body + len;
            }
            None if buf.len() > body && buf.last() == Some(&b'\n') => {
                push_parsed(&buf[body..], out);
                done = buf.len();
                break;
            }
            // A record being written, unless it grew past any record's size: then it is damage.
            None if buf.len() - start > 2 * MAX_RECORD => {
                done = buf.len();
                break;
            }
            None => {
                done = start;
                break;
            }
        }
    }
    buf.drain(..done);
}

fn push_parsed(record: &[u8], out: &mut Vec<Event>) {
    match serde_json::from_slice(record.trim_ascii_end()) {
        Ok(event) => out.push(event),
        Err(err) => tracing::debug!(%err, "skipping a damaged event record"),
    }
}
