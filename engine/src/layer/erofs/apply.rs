//! Applies tar entries to an in-memory [`Tree`], with the directory applier's semantics (`layer/apply.rs`):
//! the same parent resolution, replacement, whiteout, hardlink and deferred-metadata rules, so that both
//! stores show a layer the same way. File data goes straight into the image file; nothing is created on the
//! host's filesystem but that one file.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::Timespec;
use rustix::io::Errno;
use tar::EntryType;

use super::tree::{Data, Id, Kind, ROOT, Tree};
use super::writer::{BLOCK, MAX_XATTR_BYTES, xattr_prefix, xattr_size};
use crate::inroot::{clean, split};
use crate::layer::apply::is_gone;
use crate::layer::meta::Meta;
use crate::layer::stream::StreamState;
use crate::layer::whiteout::{self, Whiteout};
use crate::layer::{DeferredLink, LayerError, MAX_PATH_BYTES, UnpackOptions};

const COPY_BUFFER: usize = 256 * 1024;
/// Longest name of a directory entry or an xattr, as Linux allows.
const NAME_MAX: usize = 255;
/// Files up to this size are kept in memory and written inline next to their inode.
const INLINE_MAX: u64 = 2048;
/// Most bytes of inline file data held in memory at once; later small files get a block of their own.
const INLINE_BUDGET: u64 = 32 << 20;

pub(crate) struct ImageApplier {
    pub(crate) tree: Tree,
    pub(crate) image: File,
    /// Next free data block (block 0 is the superblock's).
    pub(crate) data_end: u32,
    opts: UnpackOptions,
    privileged: bool,
    dirs: BTreeMap<PathBuf, (u32, Timespec)>,
    whiteouts: HashSet<PathBuf>,
    pub(crate) implicit: BTreeMap<PathBuf, Id>,
    inline_bytes: u64,
    pub(crate) size: u64,
    pub(crate) deferred: Vec<DeferredLink>,
    buf: Vec<u8>,
}

fn now() -> Timespec {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timespec { tv_sec: since.as_secs() as i64, tv_nsec: since.subsec_nanos() as _ }
}

fn io_err(path: &Path, op: &'static str, e: impl Into<io::Error>) -> LayerError {
    LayerError::Io { path: path.to_path_buf(), op, source: e.into() }
}

impl ImageApplier {
    pub(crate) fn new(image: File, opts: &UnpackOptions) -> Self {
        let (uid, gid) = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
        ImageApplier {
            tree: Tree::new(uid, gid, now()),
            image,
            data_end: 1,
            opts: opts.clone(),
            privileged: rustix::process::geteuid().is_root(),
            dirs: BTreeMap::new(),
            whiteouts: HashSet::new(),
            implicit: BTreeMap::new(),
            inline_bytes: 0,
            size: 0,
            deferred: Vec::new(),
            buf: vec![0; COPY_BUFFER],
        }
    }

    pub(crate) fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        state: &StreamState,
    ) -> Result<(), LayerError> {
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
            return Ok(());
        }
        // A filesystem refuses longer names; the image's directory format cannot hold them.
        if path.iter().any(|name| name.len() > NAME_MAX) {
            return Err(io_err(&path, "create", Errno::NAMETOOLONG));
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
            _ if path.as_os_str().is_empty() => Err(root_error(&path)),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => self.file(entry, &path, &meta, state),
            EntryType::Link => self.hardlink(entry, &path),
            EntryType::Symlink => self.symlink(entry, &path, &meta),
            EntryType::Char | EntryType::Block | EntryType::Fifo => self.special(entry, kind, &path, &meta),
            other => Err(LayerError::UnsupportedEntry { path, kind: format!("{other:?}") }),
        }
    }

    /// Gives each directory the archive described its mode and mtime.
    pub(crate) fn finish(&mut self) {
        for (path, (mode, mtime)) in self.dirs.iter().rev() {
            let id = match split(path) {
                None => ROOT,
                Some((parent, name)) => match self.tree.open_dir(parent).map(|p| self.tree.child(p, name)) {
                    Ok(Some(id)) if self.tree.node(id).is_dir() => id,
                    _ => continue,
                },
            };
            let node = self.tree.node_mut(id);
            node.mode = *mode;
            node.mtime = *mtime;
        }
    }

    fn parent(&mut self, parent: &Path, path: &Path) -> Result<Id, LayerError> {
        let mut created = Vec::new();
        let id = self.tree.open_dir_create(parent, &mut created).map_err(|e| io_err(path, "open parent directory", e));
        self.implicit.extend(created);
        id
    }

    fn clear(&mut self, parent: Id, name: &OsStr, path: &Path) {
        if let Some(existing) = self.tree.child(parent, name) {
            let dir = self.tree.node(existing).is_dir();
            self.remove(parent, name, path, dir);
        }
    }

    fn remove(&mut self, parent: Id, name: &OsStr, path: &Path, dir: bool) {
        self.tree.remove(parent, name);
        if dir {
            self.dirs.retain(|p, _| !p.starts_with(path));
            self.whiteouts.retain(|p| !p.starts_with(path));
            self.deferred.retain(|link| !link.path.starts_with(path));
            self.implicit.retain(|p, _| !p.starts_with(path));
        } else {
            self.whiteouts.remove(path);
        }
    }

    fn mark_opaque(&mut self, dir: Id) {
        self.tree.node_mut(dir).set_xattr(whiteout::opaque_xattr(), b"y");
    }

    fn opaque(&mut self, dir: &Path, path: &Path) -> Result<(), LayerError> {
        let id = self.parent(dir, path)?;
        self.mark_opaque(id);
        Ok(())
    }

    fn whiteout(&mut self, parent: &Path, hidden: &OsStr, path: &Path) -> Result<(), LayerError> {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(LayerError::Escape { entry: path.to_path_buf(), reason: "whiteout of an invalid name" });
        }
        let parent_id = self.parent(parent, path)?;
        match self.tree.child(parent_id, hidden) {
            Some(id) if self.tree.node(id).is_dir() => self.mark_opaque(id),
            Some(_) => {}
            None => {
                let id = self.tree.add(Kind::Char(0), 0);
                self.tree.insert(parent_id, hidden, id);
                self.whiteouts.insert(parent.join(hidden));
            }
        }
        Ok(())
    }

    fn directory(&mut self, path: &Path, meta: &Meta) -> Result<(), LayerError> {
        let Some((parent, name)) = split(path) else {
            self.apply_meta(ROOT, meta, path, false)?;
            self.dirs.insert(PathBuf::new(), (meta.mode, meta.mtime));
            return Ok(());
        };
        let parent_id = self.parent(parent, path)?;
        let id = match self.tree.child(parent_id, name) {
            Some(id) if self.tree.node(id).is_dir() => id,
            existing => {
                let mut replaced_whiteout = false;
                if let Some(old) = existing {
                    replaced_whiteout = self.tree.node(old).is_whiteout() && self.whiteouts.contains(path);
                    self.remove(parent_id, name, path, false);
                }
                let id = self.tree.mkdir(parent_id, name, 0o700);
                if replaced_whiteout {
                    self.mark_opaque(id);
                }
                id
            }
        };
        self.apply_meta(id, meta, path, false)?;
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
        let parent_id = self.parent(parent, path)?;
        self.clear(parent_id, name, path);
        let declared = entry.size();
        let inline = declared <= INLINE_MAX && self.inline_bytes + declared <= INLINE_BUDGET;
        let data = if inline {
            let mut data = Vec::with_capacity(declared as usize);
            entry.read_to_end(&mut data).map_err(|e| state.classify(e, self.opts.max_bytes))?;
            self.inline_bytes += data.len() as u64;
            self.size += data.len() as u64;
            Data::Inline(data)
        } else {
            let block = self.data_end;
            let mut at = u64::from(block) * BLOCK;
            let start = at;
            loop {
                let n = match entry.read(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(state.classify(e, self.opts.max_bytes)),
                };
                self.image.write_all_at(&self.buf[..n], at).map_err(|e| io_err(path, "write", e))?;
                at += n as u64;
            }
            let size = at - start;
            self.size += size;
            let blocks = u32::try_from(size.div_ceil(BLOCK))
                .ok()
                .and_then(|b| self.data_end.checked_add(b))
                .ok_or_else(|| io_err(path, "write", io::Error::other("image larger than EROFS can address")))?;
            self.data_end = blocks;
            Data::Blocks { block, size }
        };
        let id = self.tree.add(Kind::File(data), 0o600);
        self.tree.insert(parent_id, name, id);
        self.apply_meta(id, meta, path, true)?;
        self.tree.node_mut(id).mtime = meta.mtime;
        Ok(())
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
        let parent_id = self.parent(parent, path)?;
        let target_parent_id = match self.tree.open_dir(target_parent) {
            Ok(id) => Some(id),
            Err(e) if is_gone(&e) => None,
            Err(e) => return Err(io_err(&target, "open link target directory", e)),
        };
        let found = target_parent_id.and_then(|p| self.tree.child(p, target_name));
        self.clear(parent_id, name, path);
        match (found, target_parent_id) {
            (Some(id), _) if self.tree.node(id).is_dir() => Err(bad("the target is a directory")),
            (Some(id), _) if self.tree.node(id).is_whiteout() && self.whiteouts.contains(&target) => {
                Err(bad("the target is deleted by a whiteout in the same layer"))
            }
            (Some(_), Some(target_parent_id)) => {
                // Clearing the link's slot may have removed the target's directory (as unlinking would).
                let id = self
                    .tree
                    .child(target_parent_id, target_name)
                    .filter(|_| self.tree.is_attached(target_parent_id))
                    .ok_or_else(|| io_err(path, "link", Errno::NOENT))?;
                self.tree.insert(parent_id, name, id);
                Ok(())
            }
            _ => {
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
        let parent_id = self.parent(parent, path)?;
        self.clear(parent_id, name, path);
        if target.is_empty() || target.contains(&0) {
            return Err(io_err(path, "symlink", Errno::NOENT));
        }
        let id = self.tree.add(Kind::Symlink(target), 0o777);
        self.tree.insert(parent_id, name, id);
        self.apply_meta(id, meta, path, false)?;
        self.tree.node_mut(id).mtime = meta.mtime;
        Ok(())
    }

    fn special<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        kind: EntryType,
        path: &Path,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        if kind != EntryType::Fifo && !self.privileged {
            tracing::warn!(entry = %path.display(), "skipping device node: creating devices needs root");
            return Ok(());
        }
        let node_kind = if kind == EntryType::Fifo {
            Kind::Fifo
        } else {
            let header = entry.header();
            let corrupt = |source| LayerError::Corrupt { source };
            let major = header.device_major().map_err(corrupt)?.unwrap_or(0);
            let minor = header.device_minor().map_err(corrupt)?.unwrap_or(0);
            let dev = rustix::fs::makedev(major, minor);
            if kind == EntryType::Char { Kind::Char(dev) } else { Kind::Block(dev) }
        };
        let (parent, name) = split(path).ok_or_else(|| root_error(path))?;
        let parent_id = self.parent(parent, path)?;
        self.clear(parent_id, name, path);
        let id = self.tree.add(node_kind, 0o600);
        self.tree.insert(parent_id, name, id);
        self.apply_meta(id, meta, path, true)?;
        self.tree.node_mut(id).mtime = meta.mtime;
        Ok(())
    }

    /// Owner, mode and xattrs as `apply_owner_mode_xattrs` sets them on the directory store.
    fn apply_meta(&mut self, id: Id, meta: &Meta, path: &Path, set_mode: bool) -> Result<(), LayerError> {
        let preserve = self.opts.preserve_owners;
        let node = self.tree.node_mut(id);
        if preserve {
            let uid = u32::try_from(meta.uid).ok().filter(|&id| id != u32::MAX);
            let gid = u32::try_from(meta.gid).ok().filter(|&id| id != u32::MAX);
            let (Some(uid), Some(gid)) = (uid, gid) else {
                return Err(io_err(
                    path,
                    "chown",
                    io::Error::new(io::ErrorKind::InvalidInput, "uid or gid out of range"),
                ));
            };
            node.uid = uid;
            node.gid = gid;
        }
        if set_mode {
            node.mode = meta.mode;
        }
        apply_xattrs(node, &meta.xattrs, path)
    }
}

/// Sets `xattrs` on `node`; names EROFS has no prefix for are skipped (as a filesystem without the
/// namespace refuses them), and an xattr area too large for the image is an error naming the entry.
pub(crate) fn apply_xattrs(
    node: &mut super::tree::Node,
    xattrs: &[(String, Vec<u8>)],
    path: &Path,
) -> Result<(), LayerError> {
    for (name, value) in xattrs {
        if name.len() > NAME_MAX {
            return Err(io_err(path, "setxattr", Errno::RANGE));
        }
        if xattr_prefix(name).is_none() {
            tracing::warn!(entry = %path.display(), xattr = %name, "xattr not set: no EROFS prefix for it");
            continue;
        }
        node.set_xattr(name, value);
        if xattr_size(&node.xattrs) > MAX_XATTR_BYTES {
            return Err(io_err(path, "setxattr", Errno::NOSPC));
        }
    }
    Ok(())
}

fn root_error(path: &Path) -> LayerError {
    LayerError::Escape { entry: path.to_path_buf(), reason: "only a directory may stand for the layer root" }
}
