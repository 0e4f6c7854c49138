//! What a stored layer holds, entry by entry, in OCI terms (a whiteout is a removal, an opaque directory
//! hides what the layers below put in it): the layer explorer's input.
//!
//! A layer with a tar index is read from it: the index holds every tar header, and file contents are
//! skipped without being read, so a layer of a gigabyte costs only its headers. A layer without one (made
//! here by `build` or `commit`) is walked on disk in overlay form, its image mounted first for EROFS.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::LayerError;
use super::whiteout::{self, Whiteout};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A second name for a file of this layer or a lower one; its bytes are counted once, at the target.
    Hardlink,
    /// Devices, fifos and sockets.
    Other,
    /// A whiteout: the path and everything below it in lower layers is gone.
    Removed,
}

/// One entry of a layer. Paths are relative to the root, `/`-separated, without a leading `./` or a
/// trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Bytes of a regular file; 0 for everything else.
    pub size: u64,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A symlink's or hardlink's target.
    pub link: Option<String>,
    /// A directory whose lower contents this layer hides (`.wh..wh..opq`).
    pub opaque: bool,
}

impl LayerEntry {
    fn new(path: String, kind: EntryKind) -> LayerEntry {
        LayerEntry { path, kind, size: 0, mode: 0, uid: 0, gid: 0, link: None, opaque: false }
    }
}

/// The entries of the layer whose tar index is at `index`.
pub fn from_index(index: &Path) -> Result<Vec<LayerEntry>, LayerError> {
    let file = File::open(index).map_err(LayerError::io(index, "open tar index"))?;
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(16)).map_err(LayerError::io(index, "read tar index"))?;
    let records = zstd::Decoder::with_buffer(reader).map_err(LayerError::io(index, "read tar index"))?;
    let mut archive = tar::Archive::new(IndexStream { records, raw: Vec::new(), at: 0, hole: 0, pos: 0 });
    let bad = LayerError::io(index, "read tar index");
    let mut entries = Entries::default();
    for entry in archive.entries_with_seek().map_err(bad)? {
        let entry = entry.map_err(LayerError::io(index, "read tar index"))?;
        let path = entry.path().map_err(LayerError::io(index, "read tar index"))?.into_owned();
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            _ => EntryKind::Other,
        };
        let link = match kind {
            EntryKind::Symlink | EntryKind::Hardlink => entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| normalize(&l.to_string_lossy()).unwrap_or_default().to_string()),
            _ => None,
        };
        let size = if kind == EntryKind::File { entry.size() } else { 0 };
        entries.push(&path, kind, |e| {
            e.size = size;
            e.mode = header.mode().unwrap_or(0) & 0o7777;
            e.uid = header.uid().unwrap_or(0) as u32;
            e.gid = header.gid().unwrap_or(0) as u32;
            e.link = link;
        });
    }
    Ok(entries.finish())
}

/// The entries of a layer stored in overlay form at `root`: a directory, or an EROFS image's mount.
pub fn from_dir(root: &Path) -> Result<Vec<LayerEntry>, LayerError> {
    let mut entries = Vec::new();
    let mut inodes = HashMap::new();
    walk(root, "", &mut entries, &mut inodes)?;
    Ok(entries)
}

fn walk(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<LayerEntry>,
    inodes: &mut HashMap<(u64, u64), String>,
) -> Result<(), LayerError> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(LayerError::io(dir, "read layer directory"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(LayerError::io(dir, "read layer directory"))?;
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let path = format!("{prefix}{}", name.to_string_lossy());
        let meta = std::fs::symlink_metadata(&full).map_err(LayerError::io(&full, "stat layer entry"))?;
        let ft = meta.file_type();
        let mut entry = LayerEntry::new(path.clone(), EntryKind::Other);
        entry.mode = meta.mode() & 0o7777;
        entry.uid = meta.uid();
        entry.gid = meta.gid();
        if ft.is_char_device() && meta.rdev() == 0 {
            entry = LayerEntry::new(path, EntryKind::Removed);
            out.push(entry);
            continue;
        } else if ft.is_dir() {
            entry.kind = EntryKind::Dir;
            let fd = File::open(&full).map_err(LayerError::io(&full, "open layer directory"))?;
            entry.opaque = whiteout::is_opaque(fd.as_fd()).map_err(LayerError::io(&full, "read opaque xattr"))?;
            out.push(entry);
            walk(&full, &format!("{path}/"), out, inodes)?;
            continue;
        } else if ft.is_symlink() {
            entry.kind = EntryKind::Symlink;
            entry.link = std::fs::read_link(&full).ok().map(|l| l.to_string_lossy().into_owned());
        } else if ft.is_file() {
            entry.kind = EntryKind::File;
            entry.size = meta.len();
            if meta.nlink() > 1 {
                match inodes.get(&(meta.dev(), meta.ino())) {
                    Some(first) => {
                        entry.kind = EntryKind::Hardlink;
                        entry.size = 0;
                        entry.link = Some(first.clone());
                    }
                    None => {
                        inodes.insert((meta.dev(), meta.ino()), path);
                    }
                }
            }
        }
        out.push(entry);
    }
    Ok(())
}

/// A tar entry's name as a layer path; `None` for the root itself.
fn normalize(name: &str) -> Option<&str> {
    let name = name.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
    (!name.is_empty() && name != ".").then_some(name)
}

/// Entries gathered from a tar: whiteout names turned into removals and opaque marks.
#[derive(Default)]
struct Entries {
    list: Vec<LayerEntry>,
    /// Directories marked opaque before (or without) their own entry.
    opaque: Vec<String>,
}

impl Entries {
    fn push(&mut self, path: &Path, kind: EntryKind, fill: impl FnOnce(&mut LayerEntry)) {
        if whiteout::is_aufs_meta(path) {
            return;
        }
        let Some(name) = normalize(&path.to_string_lossy()).map(str::to_string) else { return };
        let (parent, file) = match name.rsplit_once('/') {
            Some((parent, file)) => (parent.to_string(), file.to_string()),
            None => (String::new(), name.clone()),
        };
        match whiteout::classify(std::ffi::OsStr::from_bytes(file.as_bytes())) {
            Whiteout::Opaque => self.opaque.push(parent),
            Whiteout::Hide(hidden) => {
                let hidden = hidden.to_string_lossy();
                let path = if parent.is_empty() { hidden.into_owned() } else { format!("{parent}/{hidden}") };
                self.list.push(LayerEntry::new(path, EntryKind::Removed));
            }
            Whiteout::None => {
                let mut entry = LayerEntry::new(name, kind);
                fill(&mut entry);
                self.list.push(entry);
            }
        }
    }

    fn finish(mut self) -> Vec<LayerEntry> {
        for dir in self.opaque {
            match self.list.iter_mut().find(|e| e.path == dir && e.kind == EntryKind::Dir) {
                Some(entry) => entry.opaque = true,
                None => {
                    let mut entry = LayerEntry::new(dir, EntryKind::Dir);
                    entry.mode = 0o755;
                    entry.opaque = true;
                    self.list.push(entry);
                }
            }
        }
        self.list
    }
}

/// A tar index read back as its tar, each file's content a hole of zeros that a seek passes over.
struct IndexStream<R> {
    records: R,
    /// The current raw record and how far it was read.
    raw: Vec<u8>,
    at: usize,
    /// Bytes of file content left before the next record.
    hole: u64,
    /// Offset in the tar, which the tar reader keeps in step through seeks.
    pos: u64,
}

impl<R: Read> IndexStream<R> {
    /// Loads the next record once the current one is used up; false at the end.
    fn next_record(&mut self) -> io::Result<bool> {
        if self.hole > 0 || self.at < self.raw.len() {
            return Ok(true);
        }
        let mut tag = [0u8; 1];
        loop {
            match self.records.read(&mut tag) {
                Ok(0) => return Ok(false),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match tag[0] {
            super::tarsplit::RAW => {
                let len = read_u32(&mut self.records)? as usize;
                self.raw.resize(len, 0);
                self.records.read_exact(&mut self.raw)?;
                self.at = 0;
            }
            super::tarsplit::FILE => {
                let mut size = [0u8; 8];
                self.records.read_exact(&mut size)?;
                let len = read_u32(&mut self.records)? as usize;
                io::copy(&mut (&mut self.records).take(len as u64), &mut io::sink())?;
                self.hole = u64::from_le_bytes(size);
            }
            other => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown record {other:#x}")));
            }
        }
        Ok(true)
    }

    /// Passes over `n` bytes; how many there were.
    fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let want = n;
        while n > 0 && self.next_record()? {
            let step = if self.hole > 0 {
                let step = self.hole.min(n);
                self.hole -= step;
                step
            } else {
                let step = ((self.raw.len() - self.at) as u64).min(n);
                self.at += step as usize;
                step
            };
            n -= step;
        }
        self.pos += want - n;
        Ok(want - n)
    }
}

impl<R: Read> Read for IndexStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.next_record()? {
            return Ok(0);
        }
        if self.hole > 0 {
            let n = (self.hole.min(buf.len() as u64)) as usize;
            buf[..n].fill(0);
            self.hole -= n as u64;
            self.pos += n as u64;
            return Ok(n);
        }
        let n = (self.raw.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.raw[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Forward seeks only: the tar reader passes over file contents with `SeekFrom::Current`.
impl<R: Read> Seek for IndexStream<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::Current(n) if n >= 0 => {
                self.skip(n as u64)?;
                Ok(self.pos)
            }
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, "a tar index is read forwards only")),
        }
    }
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}
