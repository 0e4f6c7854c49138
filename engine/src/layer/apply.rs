//! Applies tar entries to the layer root, one at a time, in archive order.
//!
//! Each entry's parent is resolved inside the root ([`Root`]); the final name is then handled with `*at`
//! calls that never follow a symlink. Whatever already sits at the name is removed first, except that a
//! directory entry over a directory only updates its metadata. Directory modes and mtimes wait for
//! [`Applier::finish`], since writing children changes a directory's mtime and a read-only mode would
//! block them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec};
use rustix::io::Errno;
use tar::EntryType;

use super::meta::{Meta, Node, apply_owner_mode_xattrs};
use super::stream::StreamState;
use super::whiteout::{self, Whiteout};
use super::{ApplyEntry, DeferredLink, LayerError, MAX_PATH_BYTES, UnpackOptions};
use crate::inroot::{self, ParentTimes, Root, clean, lstat_at, split};

const COPY_BUFFER: usize = 256 * 1024;

pub(crate) struct Applier<'o> {
    root: Root,
    opts: &'o UnpackOptions,
    privileged: bool,
    /// Directory mode and mtime, applied by `finish` (deepest first: `Path` orders parents before children).
    dirs: BTreeMap<PathBuf, (u32, Timespec)>,
    /// Whiteout devices this layer made, so that a real entry replacing one can tell it from a device.
    whiteouts: HashSet<PathBuf>,
    /// Directories made only to hold an entry below them, with no entry of their own (so far).
    implicit: BTreeSet<PathBuf>,
    size: u64,
    deferred: Vec<DeferredLink>,
    buf: Vec<u8>,
}

impl<'o> Applier<'o> {
    pub(crate) fn new(dest: &Path, opts: &'o UnpackOptions) -> Result<Self, LayerError> {
        let root = Root::open(dest).map_err(LayerError::io(dest, "open layer directory"))?;
        Ok(Applier {
            root,
            opts,
            privileged: rustix::process::geteuid().is_root(),
            dirs: BTreeMap::new(),
            whiteouts: HashSet::new(),
            implicit: BTreeSet::new(),
            size: 0,
            deferred: Vec::new(),
            buf: vec![0; COPY_BUFFER],
        })
    }

    /// Bytes of file data written, hardlinks left for the lowers, and directories made implicitly.
    pub(crate) fn into_results(self) -> (u64, Vec<DeferredLink>, Vec<PathBuf>) {
        (self.size, self.deferred, self.implicit.into_iter().collect())
    }
}

impl ApplyEntry for Applier<'_> {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, state: &StreamState) -> Result<(), LayerError> {
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = || PathBuf::from(OsStr::from_bytes(&raw));
        if raw.len() > MAX_PATH_BYTES {
            return Err(LayerError::PathTooLong { entry: shown(), limit: MAX_PATH_BYTES });
        }
        let Some(path) = clean(&raw) else {
            return Err(LayerError::Escape { entry: shown(), reason: "its last component is `..`" });
        };
        if whiteout::is_aufs_meta(&path) {
            tracing::debug!(entry = %path.display(), "skipping aufs metadata");
            return Ok(());
        }
        let meta = Meta::from_entry(entry, &path)?;
        if let Some((parent, name)) = split(&path) {
            match whiteout::classify(name) {
                Whiteout::Opaque => return self.opaque(parent, &path),
                Whiteout::Hide(hidden) => return self.whiteout(parent, hidden, &path),
                Whiteout::None => {}
            }
        }
        if !self.deferred.is_empty() {
            self.deferred.retain(|link| link.path != path);
        }
        match kind {
            EntryType::Directory => self.directory(&path, &meta),
            _ if path.as_os_str().is_empty() => {
                Err(LayerError::Escape { entry: shown(), reason: "only a directory may stand for the layer root" })
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => self.file(entry, &path, &meta, state),
            EntryType::Link => self.hardlink(entry, &path),
            EntryType::Symlink => self.symlink(entry, &path, &meta),
            EntryType::Char | EntryType::Block | EntryType::Fifo => self.special(entry, kind, &path, &meta),
            other => Err(LayerError::UnsupportedEntry { path, kind: format!("{other:?}") }),
        }
    }

    /// Sets each directory's mode and mtime now that all its children are written.
    fn finish(&mut self) -> Result<(), LayerError> {
        for (path, (mode, mtime)) in self.dirs.iter().rev() {
            let owned;
            let fd = match split(path) {
                None => self.root.fd(),
                Some((parent, name)) => {
                    let opened = self.root.open_dir(parent).and_then(|parent| {
                        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                        Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
                    });
                    match opened {
                        Ok(fd) => {
                            owned = fd;
                            owned.as_fd()
                        }
                        // Replaced by a later non-directory entry: nothing to finish.
                        Err(e) if is_gone(&e) => continue,
                        Err(e) => return Err(LayerError::Io { path: path.clone(), op: "open directory", source: e }),
                    }
                }
            };
            let node = Node::Open(fd);
            node.chmod(*mode).map_err(LayerError::io(path, "chmod"))?;
            node.set_mtime(*mtime).map_err(LayerError::io(path, "utimensat"))?;
        }
        Ok(())
    }
}

impl Applier<'_> {
    fn parent(&mut self, parent: &Path, path: &Path) -> Result<OwnedFd, LayerError> {
        let mut created = Vec::new();
        let fd = self
            .root
            .create_dir_all(parent, ParentTimes::Keep, &mut created)
            .map_err(LayerError::io(path, "open parent directory"));
        self.implicit.extend(created);
        fd
    }

    /// Empties the slot `name` in `parent` for a new non-directory entry.
    fn clear(&mut self, parent: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<(), LayerError> {
        if let Some(stat) = lstat_at(parent, name).map_err(LayerError::io(path, "lstat"))? {
            self.remove(parent, name, path, is_dir(&stat))?;
        }
        Ok(())
    }

    fn remove(&mut self, parent: BorrowedFd<'_>, name: &OsStr, path: &Path, dir: bool) -> Result<(), LayerError> {
        inroot::remove_at(parent, name, dir).map_err(LayerError::io(path, "remove existing entry"))?;
        if dir {
            self.dirs.retain(|p, _| !p.starts_with(path));
            self.whiteouts.retain(|p| !p.starts_with(path));
            self.deferred.retain(|link| !link.path.starts_with(path));
            self.implicit.retain(|p| !p.starts_with(path));
        } else {
            self.whiteouts.remove(path);
        }
        Ok(())
    }

    fn opaque(&mut self, dir: &Path, path: &Path) -> Result<(), LayerError> {
        let fd = self.parent(dir, path)?;
        whiteout::mark_opaque(fd.as_fd()).map_err(LayerError::io(dir, "set opaque xattr"))
    }

    fn whiteout(&mut self, parent: &Path, hidden: &OsStr, path: &Path) -> Result<(), LayerError> {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(LayerError::Escape { entry: path.to_path_buf(), reason: "whiteout of an invalid name" });
        }
        let parent_fd = self.parent(parent, path)?;
        let target = parent.join(hidden);
        match lstat_at(parent_fd.as_fd(), hidden).map_err(LayerError::io(&target, "lstat"))? {
            // This layer's own directory stays, but must no longer merge with the lower one it replaces.
            Some(stat) if is_dir(&stat) => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let dir = rustix::fs::openat(&parent_fd, hidden, flags, Mode::empty()).map_err(|e| LayerError::Io {
                    path: target.clone(),
                    op: "open directory",
                    source: e.into(),
                })?;
                whiteout::mark_opaque(dir.as_fd()).map_err(LayerError::io(&target, "set opaque xattr"))
            }
            // An entry of this same layer: a whiteout only hides lower layers.
            Some(_) => Ok(()),
            None => {
                whiteout::create(parent_fd.as_fd(), hidden).map_err(LayerError::io(&target, "mknod whiteout"))?;
                self.whiteouts.insert(target);
                Ok(())
            }
        }
    }

    fn directory(&mut self, path: &Path, meta: &Meta) -> Result<(), LayerError> {
        let Some((parent, name)) = split(path) else {
            apply_owner_mode_xattrs(&Node::Open(self.root.fd()), meta, path, self.opts.preserve_owners, false)?;
            self.dirs.insert(PathBuf::new(), (meta.mode, meta.mtime));
            return Ok(());
        };
        let parent_fd = self.parent(parent, path)?;
        let existing = lstat_at(parent_fd.as_fd(), name).map_err(LayerError::io(path, "lstat"))?;
        let mut replaced_whiteout = false;
        match existing {
            Some(stat) if is_dir(&stat) => {}
            other => {
                if let Some(stat) = other {
                    replaced_whiteout = whiteout::is_whiteout(&stat) && self.whiteouts.contains(path);
                    self.remove(parent_fd.as_fd(), name, path, false)?;
                }
                rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o700)).map_err(|e| LayerError::Io {
                    path: path.to_path_buf(),
                    op: "mkdir",
                    source: e.into(),
                })?;
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&parent_fd, name, flags, Mode::empty()).map_err(|e| LayerError::Io {
            path: path.to_path_buf(),
            op: "open directory",
            source: e.into(),
        })?;
        if replaced_whiteout {
            // Deleted and recreated in this layer: the lower directory's contents must not show through.
            whiteout::mark_opaque(fd.as_fd()).map_err(LayerError::io(path, "set opaque xattr"))?;
        }
        apply_owner_mode_xattrs(&Node::Open(fd.as_fd()), meta, path, self.opts.preserve_owners, false)?;
        self.dirs.insert(path.to_path_buf(), (meta.mode, meta.mtime));
        self.implicit.remove(path);
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        meta: &Meta,
        state: &StreamState,
    ) -> Result<(), LayerError> {
        let (parent, name) = split(path).ok_or_else(|| root_error(path))?;
        if entry.header().entry_type() != EntryType::GNUSparse {
            // The content lands at `path` whole: the tar index names the file instead of keeping it.
            state.file_data(path, entry.raw_file_position(), entry.size());
        }
        let parent_fd = self.parent(parent, path)?;
        self.clear(parent_fd.as_fd(), name, path)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&parent_fd, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| LayerError::Io { path: path.to_path_buf(), op: "create", source: e.into() })?;
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(state.classify(e, self.opts.max_bytes)),
            };
            file.write_all(&self.buf[..n]).map_err(LayerError::io(path, "write"))?;
            self.size += n as u64;
        }
        let node = Node::Open(file.as_fd());
        apply_owner_mode_xattrs(&node, meta, path, self.opts.preserve_owners, true)?;
        node.set_mtime(meta.mtime).map_err(LayerError::io(path, "utimensat"))
    }

    fn hardlink<R: Read>(&mut self, entry: &tar::Entry<'_, R>, path: &Path) -> Result<(), LayerError> {
        let raw = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
        let shown = PathBuf::from(OsStr::from_bytes(&raw));
        let bad = |reason| LayerError::BadLink { path: path.to_path_buf(), target: shown.clone(), reason };
        if raw.len() > MAX_PATH_BYTES {
            return Err(LayerError::PathTooLong { entry: shown, limit: MAX_PATH_BYTES });
        }
        let target = clean(&raw).ok_or_else(|| bad("the target's last component is `..`"))?;
        let Some((target_parent, target_name)) = split(&target) else {
            return Err(bad("the target is the layer root"));
        };
        if target == path {
            return Err(bad("the entry links to itself"));
        }
        let (parent, name) = split(path).ok_or_else(|| root_error(path))?;
        let parent_fd = self.parent(parent, path)?;
        let target_parent_fd = match self.root.open_dir(target_parent) {
            Ok(fd) => Some(fd),
            Err(e) if is_gone(&e) => None,
            Err(e) => return Err(LayerError::Io { path: target, op: "open link target directory", source: e }),
        };
        let found = match &target_parent_fd {
            Some(fd) => lstat_at(fd.as_fd(), target_name).map_err(LayerError::io(&target, "lstat"))?,
            None => None,
        };
        self.clear(parent_fd.as_fd(), name, path)?;
        match (found, target_parent_fd) {
            (Some(stat), _) if is_dir(&stat) => Err(bad("the target is a directory")),
            (Some(stat), _) if whiteout::is_whiteout(&stat) && self.whiteouts.contains(&target) => {
                Err(bad("the target is deleted by a whiteout in the same layer"))
            }
            (Some(_), Some(target_parent_fd)) => {
                rustix::fs::linkat(&target_parent_fd, target_name, &parent_fd, name, AtFlags::empty())
                    .map_err(|e| LayerError::Io { path: path.to_path_buf(), op: "link", source: e.into() })
            }
            _ => {
                // Lives in a lower layer; a link to another deferred link points at the same lower file.
                let target = match self.deferred.iter().find(|link| link.path == target) {
                    Some(earlier) => earlier.target.clone(),
                    None => target,
                };
                self.deferred.push(DeferredLink { path: path.to_path_buf(), target });
                Ok(())
            }
        }
    }

    fn symlink<R: Read>(&mut self, entry: &tar::Entry<'_, R>, path: &Path, meta: &Meta) -> Result<(), LayerError> {
        let Some(target) = entry.link_name_bytes().map(|b| b.into_owned()) else {
            return Err(LayerError::Corrupt { source: io::Error::other(format!("symlink {path:?} has no target")) });
        };
        if target.len() > MAX_PATH_BYTES {
            return Err(LayerError::PathTooLong { entry: path.to_path_buf(), limit: MAX_PATH_BYTES });
        }
        let (parent, name) = split(path).ok_or_else(|| root_error(path))?;
        let parent_fd = self.parent(parent, path)?;
        self.clear(parent_fd.as_fd(), name, path)?;
        rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent_fd, name).map_err(|e| LayerError::Io {
            path: path.to_path_buf(),
            op: "symlink",
            source: e.into(),
        })?;
        let node = Node::special(parent_fd.as_fd(), name, true).map_err(LayerError::io(path, "open symlink"))?;
        apply_owner_mode_xattrs(&node, meta, path, self.opts.preserve_owners, false)?;
        node.set_mtime(meta.mtime).map_err(LayerError::io(path, "utimensat"))
    }

    fn special<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        kind: EntryType,
        path: &Path,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        let file_type = match kind {
            EntryType::Char => FileType::CharacterDevice,
            EntryType::Block => FileType::BlockDevice,
            _ => FileType::Fifo,
        };
        if file_type != FileType::Fifo && !self.privileged {
            tracing::warn!(entry = %path.display(), "skipping device node: creating devices needs root");
            return Ok(());
        }
        // Fifos carry no device number, and writers leave the fields empty.
        let dev = if file_type == FileType::Fifo {
            0
        } else {
            let header = entry.header();
            let corrupt = |source| LayerError::Corrupt { source };
            let major = header.device_major().map_err(corrupt)?.unwrap_or(0);
            let minor = header.device_minor().map_err(corrupt)?.unwrap_or(0);
            rustix::fs::makedev(major, minor)
        };
        let (parent, name) = split(path).ok_or_else(|| root_error(path))?;
        let parent_fd = self.parent(parent, path)?;
        self.clear(parent_fd.as_fd(), name, path)?;
        rustix::fs::mknodat(&parent_fd, name, file_type, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| LayerError::Io { path: path.to_path_buf(), op: "mknod", source: e.into() })?;
        let node = Node::special(parent_fd.as_fd(), name, false).map_err(LayerError::io(path, "open node"))?;
        apply_owner_mode_xattrs(&node, meta, path, self.opts.preserve_owners, true)?;
        node.set_mtime(meta.mtime).map_err(LayerError::io(path, "utimensat"))
    }
}

fn root_error(path: &Path) -> LayerError {
    LayerError::Escape { entry: path.to_path_buf(), reason: "only a directory may stand for the layer root" }
}

fn is_dir(stat: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// True for lookup errors that mean "nothing (or no directory) there any more".
pub(crate) fn is_gone(e: &io::Error) -> bool {
    [Errno::NOENT, Errno::NOTDIR, Errno::LOOP].iter().any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}
