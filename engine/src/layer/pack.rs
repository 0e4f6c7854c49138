//! Packing an overlay upper directory (or a stored layer directory, the same format) into an OCI layer
//! tar stream: the reverse of [`super::unpack`].
//!
//! The output is deterministic: entries sorted by name bytes, depth first, every directory of the tree
//! written (so parents always precede children), numeric owners only, mtimes in whole seconds (clamped to
//! `SOURCE_DATE_EPOCH` when given), no atime or ctime, xattrs in PAX records (overlay's own left out). A
//! 0:0 character device becomes a `.wh.NAME` entry and an opaque directory a `.wh..wh..opq` entry, but
//! only where a lower layer shows the path: a marker hiding nothing is noise and changes the digest.
//!
//! The upper was written by a container and is hostile: each directory is opened from the root fd with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, each node is first held by an `O_PATH | O_NOFOLLOW`
//! fd and checked with `fstat`, and only a regular file is then opened for reading, through that fd. A
//! symlink is packed as a symlink and never followed. Directory fds are not held across the walk (a deep
//! tree would exhaust the fd limit), so a directory is opened again when the walk comes back to it.
//!
//! The stream goes straight to the caller's writer and is hashed on the way (the diffID); nothing holds
//! a whole layer in memory.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::LayerError;
use super::meta::Meta;
use super::whiteout;
use crate::inroot::Root;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// `SOURCE_DATE_EPOCH`: no entry's mtime is later than this.
    pub source_date_epoch: Option<i64>,
    /// Paths (relative to the upper) left out with everything below them when no lower layer has them:
    /// mount points the runtime made in the container's rootfs, which are no part of what it wrote. A
    /// directory a lower has that holds nothing else is left out too (it was copied up only for them).
    pub exclude: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// `sha256:<hex>` of the tar stream: the layer's diffID.
    pub diff_id: String,
    /// Bytes of the tar stream.
    pub tar_bytes: u64,
    /// Sum of the regular files' sizes (hardlinks counted once).
    pub size: u64,
}

/// Writes the layer tar of `upper` to `out`. `lowers` are the layer directories below it, top-most
/// first; they decide where whiteouts and opaque markers are needed.
pub fn pack(upper: &Path, lowers: &[PathBuf], opts: &PackOptions, out: impl Write) -> Result<PackReport, LayerError> {
    let mut hashed = Hashing::new(out);
    let size = Packer::new(upper, lowers, opts)?.write(&mut hashed)?;
    let (_, diff_id, tar_bytes) = hashed.into_parts();
    Ok(PackReport { diff_id, tar_bytes, size })
}

/// Compresses the tar `write` produces into `out` with gzip on every core (`parallel_gzip`), under a
/// header carrying mtime 0 and no name, so one tar always compresses to the same blob. Returns `write`'s
/// result, the blob's `sha256:` digest and its length.
pub(crate) fn gzip_blob<T, E>(
    out: impl Write,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
    io_err: impl Fn(io::Error) -> E,
) -> Result<(T, String, u64), E> {
    let (written, compressed) = super::parallel_gzip::compress(Hashing::new(out), 0, write, io_err)?;
    let (_, digest, bytes) = compressed.into_parts();
    Ok((written, digest, bytes))
}

/// What a path's entry in an upper does to the lowers, as `docker diff` letters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

/// The changes an upper makes over `lowers` (top-most first), in Docker's order and by Docker's rules
/// (moby's `OverlayChanges`): a whiteout deletes, an opaque directory a lower has is deleted (and its
/// entries added), a path no lower shows is added, one a lower shows is changed, except a directory whose
/// size, mode and mtime match the lower's; the directory holding an added or deleted path is changed.
/// Paths are relative to the root. `opts.exclude` applies as for [`pack`], and a directory changed only
/// by excluded entries made in it is not reported.
pub fn changes(upper: &Path, lowers: &[PathBuf], opts: &PackOptions) -> Result<Vec<(PathBuf, ChangeKind)>, LayerError> {
    Packer::new(upper, lowers, opts)?.changes()
}

/// A writer that hashes (sha256) and counts what goes through it.
pub(crate) struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub(crate) fn new(inner: W) -> Self {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// The writer back, with the digest and byte count of what went through.
    pub(crate) fn into_parts(self) -> (W, String, u64) {
        (self.inner, format!("sha256:{}", hex::encode(self.hasher.finalize())), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One directory on the walk's stack: its children still to visit, sorted, and its fd while the walk is
/// in it (dropped when the walk goes deeper, so the walk holds one directory fd whatever the depth).
struct Frame {
    path: PathBuf,
    children: std::vec::IntoIter<Child>,
    fd: Option<OwnedFd>,
}

struct Child {
    name: OsString,
    stat: Stat,
    /// A lower layer shows something at this path.
    in_lower: bool,
    /// For a directory: the lowers (indices, top-most first) that show a directory here (empty when the upper's is opaque).
    lowers: Vec<usize>,
    /// For a directory: it is opaque and a lower shows a directory here, so the marker is needed.
    opaque_marker: bool,
    /// What the top-most lower showing this path has there.
    lower_stat: Option<Stat>,
}

struct Packer<'a> {
    upper: Root,
    /// Each lower's path (for messages) and fd, top-most first.
    lowers: Vec<(PathBuf, Root)>,
    opts: &'a PackOptions,
    /// First path seen of each multiply-linked regular file, by (dev, ino).
    links: HashMap<(u64, u64), PathBuf>,
    size: u64,
}

impl<'a> Packer<'a> {
    fn new(upper: &Path, lowers: &[PathBuf], opts: &'a PackOptions) -> Result<Packer<'a>, LayerError> {
        let open = |dir: &Path| Root::open(dir).map_err(LayerError::io(dir, "open layer directory"));
        Ok(Packer {
            upper: open(upper)?,
            lowers: lowers.iter().map(|l| Ok((l.clone(), open(l)?))).collect::<Result<_, LayerError>>()?,
            opts,
            links: HashMap::new(),
            size: 0,
        })
    }

    /// Walks the tree, writing each entry; returns the regular files' bytes.
    fn write<W: Write>(mut self, out: W) -> Result<u64, LayerError> {
        let mut tar = tar::Builder::new(out);
        let root = PathBuf::new();
        let root_fd = self.open_dir(&root)?;
        let all: Vec<usize> = (0..self.lowers.len()).collect();
        let root_opaque = is_opaque(root_fd.as_fd(), &root)?;
        if root_opaque && !all.is_empty() {
            self.marker(&mut tar, &root.join(OPAQUE_MARKER))?;
        }
        let lowers = if root_opaque { Vec::new() } else { all };
        let children = self.children(root_fd.as_fd(), &root, &lowers)?;
        let mut stack = vec![Frame { path: root, children: children.into_iter(), fd: Some(root_fd) }];
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.children.next() else {
                stack.pop();
                continue;
            };
            let path = frame.path.join(&child.name);
            if !child.in_lower && self.opts.exclude.iter().any(|e| e == &path) {
                continue;
            }
            if child.name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
                // In a layer tar the name would delete a path instead of being a file.
                return Err(LayerError::ReservedName { path });
            }
            if FileType::from_raw_mode(child.stat.st_mode) == FileType::Directory {
                let fd = self.open_dir(&path)?;
                self.check_same(&path, &child.stat, &fd)?;
                let children = self.children(fd.as_fd(), &path, &child.lowers)?;
                if child.in_lower && !child.opaque_marker && self.only_excluded(&path, &children) {
                    // Copied up only for the runtime's mount points: the container changed nothing here.
                    continue;
                }
                let meta = self.meta(fd.as_fd(), &child.stat, &path)?;
                let header = self.header(EntryType::Directory, &meta, 0);
                self.append(&mut tar, header, &path, &meta, io::empty())?;
                if child.opaque_marker {
                    self.marker(&mut tar, &path.join(OPAQUE_MARKER))?;
                }
                frame.fd = None;
                stack.push(Frame { path, children: children.into_iter(), fd: Some(fd) });
                continue;
            }
            let parent = match frame.fd.take() {
                Some(fd) => fd,
                None => self.open_dir(&frame.path)?,
            };
            let written = self.entry(&mut tar, parent.as_fd(), &child, &path);
            frame.fd = Some(parent);
            written?;
        }
        tar.finish().map_err(|source| LayerError::Output { source })?;
        Ok(self.size)
    }

    /// True when `children` (of directory `dir`) are all left out by `opts.exclude`, and there is one.
    fn only_excluded(&self, dir: &Path, children: &[Child]) -> bool {
        !children.is_empty()
            && children.iter().all(|c| !c.in_lower && self.opts.exclude.iter().any(|e| *e == dir.join(&c.name)))
    }

    fn changes(self) -> Result<Vec<(PathBuf, ChangeKind)>, LayerError> {
        let root = PathBuf::new();
        let root_fd = self.open_dir(&root)?;
        let all: Vec<usize> = (0..self.lowers.len()).collect();
        let children = self.children(root_fd.as_fd(), &root, &all)?;
        drop(root_fd);
        let mut changes = Vec::new();
        let mut changed_dirs = std::collections::HashSet::new();
        // Directories changed only by the runtime's stubs made in them (left out, as Docker's init layer is).
        let mut stub_parents = std::collections::HashSet::new();
        let mut stack = vec![Frame { path: root, children: children.into_iter(), fd: None }];
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.children.next() else {
                stack.pop();
                continue;
            };
            let path = frame.path.join(&child.name);
            if !child.in_lower && self.opts.exclude.iter().any(|e| e == &path) {
                stub_parents.insert(frame.path.clone());
                continue;
            }
            let is_dir = FileType::from_raw_mode(child.stat.st_mode) == FileType::Directory;
            let dir_fd = if is_dir {
                match self.open_dir(&path) {
                    Ok(fd) => Some(fd),
                    // Removed since its parent was read (a running container): no change to report.
                    Err(LayerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let opaque = match &dir_fd {
                Some(fd) if child.in_lower => is_opaque(fd.as_fd(), &path)?,
                _ => false,
            };
            let kind = if whiteout::is_whiteout(&child.stat) {
                if !child.in_lower {
                    continue;
                }
                ChangeKind::Deleted
            } else if opaque {
                ChangeKind::Deleted
            } else if !child.in_lower {
                ChangeKind::Added
            } else {
                let unchanged_dir = is_dir
                    && child.lower_stat.as_ref().is_some_and(|lower| {
                        FileType::from_raw_mode(lower.st_mode) == FileType::Directory
                            && lower.st_size == child.stat.st_size
                            && lower.st_mode == child.stat.st_mode
                            && lower.st_mtime == child.stat.st_mtime
                            && lower.st_mtime_nsec == child.stat.st_mtime_nsec
                    });
                if let (true, Some(fd)) = (unchanged_dir, &dir_fd) {
                    let children = self.children(fd.as_fd(), &path, &child.lowers)?;
                    stack.push(Frame { path, children: children.into_iter(), fd: None });
                    continue;
                }
                ChangeKind::Changed
            };
            if is_dir {
                changed_dirs.insert(path.clone());
            }
            if kind != ChangeKind::Changed
                && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                && changed_dirs.insert(parent.to_path_buf())
            {
                changes.push((parent.to_path_buf(), ChangeKind::Changed));
            }
            changes.push((path.clone(), kind));
            if let Some(fd) = dir_fd {
                let children = self.children(fd.as_fd(), &path, &child.lowers)?;
                stack.push(Frame { path, children: children.into_iter(), fd: None });
            }
        }
        let mut holding = std::collections::HashSet::new();
        for (path, _) in &changes {
            holding.extend(path.ancestors().skip(1).map(Path::to_path_buf));
        }
        changes.retain(|(path, kind)| {
            *kind != ChangeKind::Changed || !stub_parents.contains(path) || holding.contains(path)
        });
        Ok(changes)
    }

    /// Opens directory `path` of the upper, refusing any symlink on the way.
    fn open_dir(&self, path: &Path) -> Result<OwnedFd, LayerError> {
        self.upper.open_dir_beneath(path).map_err(LayerError::io(path, "open directory (changed while packing?)"))
    }

    /// Makes sure `fd` is the node `stat` described when the directory was listed.
    fn check_same(&self, path: &Path, stat: &Stat, fd: &OwnedFd) -> Result<Stat, LayerError> {
        let now = rustix::fs::fstat(fd).map_err(|e| io_err(path, "fstat", e))?;
        if now.st_ino != stat.st_ino || now.st_dev != stat.st_dev {
            return Err(changed(path));
        }
        Ok(now)
    }

    /// The children of directory `dir` (at `path`), sorted, each with what the lowers show there.
    fn children(&self, dir: BorrowedFd<'_>, path: &Path, lowers: &[usize]) -> Result<Vec<Child>, LayerError> {
        let mut names = Vec::new();
        let mut entries = Dir::read_from(dir).map_err(|e| io_err(path, "read directory", e))?;
        while let Some(entry) = entries.read() {
            let entry = entry.map_err(|e| io_err(path, "read directory", e))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_owned());
            }
        }
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let lower_dirs: Vec<OwnedFd> = lowers.iter().map(|&i| self.open_lower(i, path)).collect::<Result<_, _>>()?;
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let child_path = path.join(&name);
            let stat = match rustix::fs::statat(dir, &name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Removed since the directory was read (a running container): gone, as if never listed.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err(&child_path, "lstat", e)),
            };
            let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
            let mut in_lower = false;
            let mut lower_stat = None;
            let mut shown = Vec::new();
            for (&index, lower) in lowers.iter().zip(&lower_dirs) {
                let Some(found) = lstat_in(lower.as_fd(), &name, &self.lower_name(index, &child_path))? else {
                    continue;
                };
                if whiteout::is_whiteout(&found) {
                    break;
                }
                in_lower = true;
                lower_stat.get_or_insert(found);
                if FileType::from_raw_mode(found.st_mode) != FileType::Directory {
                    break;
                }
                shown.push(index);
                let fd = self.open_lower(index, &child_path)?;
                if whiteout::is_opaque(fd.as_fd()).map_err(LayerError::io(&child_path, "read lower xattr"))? {
                    break;
                }
            }
            let mut opaque_marker = false;
            if is_dir {
                let fd = self.open_dir(&child_path)?;
                if is_opaque(fd.as_fd(), &child_path)? {
                    opaque_marker = !shown.is_empty();
                    shown.clear();
                }
            }
            children.push(Child { name, stat, in_lower, lowers: shown, opaque_marker, lower_stat });
        }
        Ok(children)
    }

    /// `path` in lower `index`, for messages.
    fn lower_name(&self, index: usize, path: &Path) -> PathBuf {
        self.lowers[index].0.join(path)
    }

    /// Opens directory `path` of lower `index`, which the walk found to be a directory there.
    fn open_lower(&self, index: usize, path: &Path) -> Result<OwnedFd, LayerError> {
        self.lowers[index]
            .1
            .open_dir_beneath(path)
            .map_err(LayerError::io(&self.lower_name(index, path), "open lower directory"))
    }

    fn meta(&self, fd: BorrowedFd<'_>, stat: &Stat, path: &Path) -> Result<Meta, LayerError> {
        Meta::of_node(fd, stat, path).map_err(LayerError::io(path, "read xattrs"))
    }

    fn header(&self, kind: EntryType, meta: &Meta, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        let mut mtime = meta.mtime.tv_sec.max(0);
        if let Some(epoch) = self.opts.source_date_epoch {
            mtime = mtime.min(epoch.max(0));
        }
        header.set_mtime(mtime as u64);
        header.set_size(size);
        header
    }

    /// Writes one entry (preceded by its xattrs as PAX records).
    fn append<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        mut header: Header,
        path: &Path,
        meta: &Meta,
        data: impl Read,
    ) -> Result<(), LayerError> {
        write_xattrs(tar, meta)?;
        tar.append_data(&mut header, path, data).map_err(|source| LayerError::Output { source })
    }

    /// An empty whiteout or opaque marker entry.
    fn marker<W: Write>(&self, tar: &mut tar::Builder<W>, path: &Path) -> Result<(), LayerError> {
        let meta =
            Meta { mode: 0, uid: 0, gid: 0, mtime: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 }, xattrs: vec![] };
        let header = self.header(EntryType::Regular, &meta, 0);
        self.append(tar, header, path, &meta, io::empty())
    }

    /// Writes a non-directory child of `parent`.
    fn entry<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        parent: BorrowedFd<'_>,
        child: &Child,
        path: &Path,
    ) -> Result<(), LayerError> {
        let output = |source| LayerError::Output { source };
        if whiteout::is_whiteout(&child.stat) {
            if child.in_lower {
                let mut name = OsString::from(WHITEOUT_PREFIX);
                name.push(&child.name);
                self.marker(tar, &path.with_file_name(name))?;
            }
            return Ok(());
        }
        let node =
            rustix::fs::openat(parent, &child.name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(path, "open", e))?;
        let stat = self.check_same(path, &child.stat, &node)?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        match kind {
            FileType::RegularFile => {
                // Reopened through the O_PATH fd: the same inode, whatever happened to the name since.
                let file = File::from(
                    rustix::fs::open(
                        format!("/proc/self/fd/{}", node.as_raw_fd()),
                        OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| io_err(path, "open for reading", e))?,
                );
                let meta = self.meta(file.as_fd(), &stat, path)?;
                if stat.st_nlink > 1 {
                    let key = (stat.st_dev, stat.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let first = first.clone();
                        let header = self.header(EntryType::Link, &meta, 0);
                        return self.append_link(tar, header, path, &first, &meta);
                    }
                    self.links.insert(key, path.to_path_buf());
                }
                let size = stat.st_size as u64;
                let header = self.header(EntryType::Regular, &meta, size);
                let mut data = Exact { inner: file.take(size), left: size, path };
                self.append(tar, header, path, &meta, &mut data)?;
                if data.left != 0 {
                    return Err(changed(path));
                }
                self.size += size;
                Ok(())
            }
            FileType::Symlink => {
                let target =
                    rustix::fs::readlinkat(parent, &child.name, Vec::new()).map_err(|e| io_err(path, "readlink", e))?;
                let meta = no_xattrs(&stat);
                let header = self.header(EntryType::Symlink, &meta, 0);
                self.append_link(tar, header, path, Path::new(OsStr::from_bytes(target.as_bytes())), &meta)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let meta = no_xattrs(&stat);
                let entry_type = match kind {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut header = self.header(entry_type, &meta, 0);
                if kind != FileType::Fifo {
                    let rdev = stat.st_rdev;
                    header.set_device_major(rustix::fs::major(rdev)).map_err(output)?;
                    header.set_device_minor(rustix::fs::minor(rdev)).map_err(output)?;
                }
                self.append(tar, header, path, &meta, io::empty())
            }
            // Sockets cannot be archived (Docker leaves them out too).
            _ => Ok(()),
        }
    }

    fn append_link<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        mut header: Header,
        path: &Path,
        target: &Path,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        write_xattrs(tar, meta)?;
        tar.append_link(&mut header, path, target).map_err(|source| LayerError::Output { source })
    }
}

/// Writes a PAX extended header carrying `meta`'s xattrs, sorted, for the entry that follows.
fn write_xattrs<W: Write>(tar: &mut tar::Builder<W>, meta: &Meta) -> Result<(), LayerError> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    let mut xattrs: Vec<&(String, Vec<u8>)> = meta.xattrs.iter().collect();
    xattrs.sort();
    let mut data = Vec::new();
    for (name, value) in xattrs {
        data.extend_from_slice(&pax_record(&format!("SCHILY.xattr.{name}"), value));
    }
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_path("././@PaxHeader").map_err(|source| LayerError::Output { source })?;
    header.set_cksum();
    tar.append(&header, data.as_slice()).map_err(|source| LayerError::Output { source })
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `len` counts the whole record, its own digits included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// Reads exactly what the header promised, counting what is left if the file shrank.
struct Exact<'p, R> {
    inner: R,
    left: u64,
    path: &'p Path,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::other(format!("{} shrank while it was packed", self.path.display())));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Metadata of a node that carries no xattrs berth packs (symlinks, devices, fifos).
fn no_xattrs(stat: &Stat) -> Meta {
    Meta {
        mode: stat.st_mode & 0o7777,
        uid: stat.st_uid.into(),
        gid: stat.st_gid.into(),
        mtime: rustix::fs::Timespec { tv_sec: stat.st_mtime, tv_nsec: 0 },
        xattrs: Vec::new(),
    }
}

/// True when the upper directory `fd` carries overlay's opaque xattr.
fn is_opaque(fd: BorrowedFd<'_>, path: &Path) -> Result<bool, LayerError> {
    whiteout::is_opaque(fd).map_err(LayerError::io(path, "read opaque xattr"))
}

fn lstat_in(dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<Option<Stat>, LayerError> {
    match rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
        Err(e) => Err(io_err(path, "lstat", e)),
    }
}

fn io_err(path: &Path, op: &'static str, e: Errno) -> LayerError {
    LayerError::Io { path: path.to_path_buf(), op, source: e.into() }
}

fn changed(path: &Path) -> LayerError {
    LayerError::Io {
        path: path.to_path_buf(),
        op: "pack",
        source: io::Error::other("the file changed while it was packed (pause the container)"),
    }
}
