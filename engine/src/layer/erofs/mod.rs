//! Layers as EROFS images: the tar stream applied to an in-memory tree whose file data goes straight into
//! the image file, then the tree written out as the image's metadata. One file per layer, mounted
//! read-only by the kernel (file-backed EROFS, Linux 6.12+); no layer entry is ever created on the host.
//!
//! The writer is berth's own ([`writer`]): the `composefs` crate's writer keeps file data outside the
//! image (in a content store, reached through overlay redirects), and `erofs-rs` builds an image from a
//! directory already on disk, which is the file creation this store exists to avoid.

mod apply;
pub(crate) mod mount;
mod tree;
mod writer;

pub use mount::{MountedLowers, probe};

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, Timespec};

use self::apply::{ImageApplier, apply_xattrs};
use self::tree::{Data, Id, Kind, ROOT};
use self::writer::BLOCK;
use super::meta::Meta;
use super::stream::StreamState;
use super::{ApplyEntry, Compression, DeferredLink, LayerError, UnpackOptions, UnpackReport};

/// An unpacked layer whose image is not written out yet: what it takes from lower layers (hardlinks into
/// them, implicit directories' metadata) is added first by [`PendingImage::take_from_lowers`].
pub struct PendingImage {
    applier: ImageApplier,
    path: PathBuf,
}

impl ApplyEntry for ImageApplier {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, state: &StreamState) -> Result<(), LayerError> {
        ImageApplier::apply(self, entry, state)
    }

    fn finish(&mut self) -> Result<(), LayerError> {
        ImageApplier::finish(self);
        Ok(())
    }
}

/// Decompresses `reader`, hashes the tar stream and writes its entries into the EROFS image at `image`
/// (created, must not exist). Same stream handling, caps and entry checks as [`super::unpack`]. Pulls and
/// loads keep the tar's index ([`unpack_image_indexed`]); tests need none.
#[cfg(test)]
pub fn unpack_image(
    reader: impl Read,
    compression: Compression,
    image: &Path,
    opts: &UnpackOptions,
) -> Result<(UnpackReport, PendingImage), LayerError> {
    unpack_image_indexed(reader, compression, image, opts, None).map(|(report, pending, _)| (report, pending))
}

/// [`unpack_image`], also keeping the tar's index at `index` when given (see [`crate::layer::TarIndex`]);
/// the flag says whether it was kept.
pub fn unpack_image_indexed(
    reader: impl Read,
    compression: Compression,
    image: &Path,
    opts: &UnpackOptions,
    index: Option<&Path>,
) -> Result<(UnpackReport, PendingImage, bool), LayerError> {
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(LayerError::io(image, "create layer image"))?;
    let mut applier = ImageApplier::new(file, opts);
    let (diff_id, tar_bytes, indexed) = super::run(reader, compression, opts, index, &mut applier)?;
    let report = UnpackReport {
        diff_id,
        tar_bytes,
        size: applier.size,
        deferred_links: applier.deferred.clone(),
        implicit_dirs: applier.implicit.keys().cloned().collect(),
    };
    Ok((report, PendingImage { applier, path: image.to_path_buf() }, indexed))
}

impl PendingImage {
    /// Adds what the layer takes from `lowers` (directories, top-most first: unpacked layers or mounted
    /// images): the nodes its deferred hardlinks name, copied in (one copy per target), and the metadata
    /// of the directories it made only to hold entries.
    pub fn take_from_lowers(&mut self, lowers: &[PathBuf]) -> Result<(), LayerError> {
        let links = std::mem::take(&mut self.applier.deferred);
        let mut copied: HashMap<PathBuf, Id> = HashMap::new();
        for link in &links {
            let id = match copied.get(&link.target) {
                Some(&id) => id,
                None => {
                    let id = self.copy_from_lower(lowers, link)?;
                    copied.insert(link.target.clone(), id);
                    id
                }
            };
            let bad = |reason| LayerError::BadLink { path: link.path.clone(), target: link.target.clone(), reason };
            let (parent, name) = crate::inroot::split(&link.path).ok_or_else(|| bad("the link is the layer root"))?;
            let mut created = Vec::new();
            let tree = &mut self.applier.tree;
            let parent_id = tree
                .open_dir_create(parent, &mut created)
                .map_err(LayerError::io(&link.path, "open parent directory"))?;
            self.applier.implicit.extend(created);
            let tree = &mut self.applier.tree;
            if let Some(existing) = tree.child(parent_id, name) {
                if tree.node(existing).is_dir() {
                    return Err(bad("a directory stands where the link goes"));
                }
                tree.remove(parent_id, name);
            }
            tree.insert(parent_id, name, id);
        }
        if lowers.is_empty() {
            return Ok(());
        }
        let implicit: Vec<(PathBuf, Id)> = self.applier.implicit.iter().map(|(p, id)| (p.clone(), *id)).collect();
        for (path, id) in implicit {
            if self.under_opaque(&path) {
                continue;
            }
            let Some(meta) = super::lowers::lower_dir_meta(lowers, &path)? else { continue };
            let node = self.applier.tree.node_mut(id);
            node.uid = meta.uid as u32;
            node.gid = meta.gid as u32;
            node.mode = meta.mode;
            node.mtime = meta.mtime;
            apply_xattrs(node, &meta.xattrs, &path)?;
        }
        Ok(())
    }

    /// Whether a directory above `path` in this layer is opaque (then no lower shows through there).
    fn under_opaque(&self, path: &Path) -> bool {
        let tree = &self.applier.tree;
        let opaque = super::whiteout::opaque_xattr();
        let mut cur = ROOT;
        for name in path.parent().into_iter().flat_map(|p| p.iter()) {
            match tree.child(cur, name) {
                Some(id) if tree.node(id).is_dir() => cur = id,
                _ => return false,
            }
            if tree.node(cur).xattrs.iter().any(|(n, v)| n == opaque && v == b"y") {
                return true;
            }
        }
        false
    }

    /// Copies the node a deferred link names in the lowers into this layer's tree.
    fn copy_from_lower(&mut self, lowers: &[PathBuf], link: &DeferredLink) -> Result<Id, LayerError> {
        let (parent, stat) = super::lowers::find_link_target(lowers, link)?;
        let name = link.target.file_name().unwrap_or_default();
        let err = |op| LayerError::io(&link.path, op);
        let file_type = FileType::from_raw_mode(stat.st_mode);
        let (kind, xattrs) = match file_type {
            FileType::RegularFile => {
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| err("open link source")(e.into()))?;
                let meta = Meta::of_node(fd.as_fd(), &stat, &link.path).map_err(err("read link source"))?;
                let data = self.copy_data(File::from(fd), &link.path)?;
                (Kind::File(data), meta.xattrs)
            }
            FileType::Symlink => {
                let target =
                    rustix::fs::readlinkat(&parent, name, Vec::new()).map_err(|e| err("readlink")(e.into()))?;
                (Kind::Symlink(target.into_bytes()), Vec::new())
            }
            FileType::CharacterDevice => (Kind::Char(stat.st_rdev), Vec::new()),
            FileType::BlockDevice => (Kind::Block(stat.st_rdev), Vec::new()),
            _ => (Kind::Fifo, Vec::new()),
        };
        let tree = &mut self.applier.tree;
        let id = tree.add(kind, stat.st_mode & 0o7777);
        let node = tree.node_mut(id);
        node.uid = stat.st_uid;
        node.gid = stat.st_gid;
        node.mtime = Timespec { tv_sec: stat.st_mtime, tv_nsec: stat.st_mtime_nsec as _ };
        apply_xattrs(node, &xattrs, &link.path)?;
        Ok(id)
    }

    fn copy_data(&mut self, mut src: File, path: &Path) -> Result<Data, LayerError> {
        let block = self.applier.data_end;
        let mut at = u64::from(block) * BLOCK;
        let start = at;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::Io { path: path.to_path_buf(), op: "copy", source: e }),
            };
            self.applier.image.write_all_at(&buf[..n], at).map_err(LayerError::io(path, "write"))?;
            at += n as u64;
        }
        let size = at - start;
        self.applier.data_end += size.div_ceil(BLOCK) as u32;
        Ok(Data::Blocks { block, size })
    }

    /// Writes the image's metadata and superblock; returns its size in bytes. Not synced: an unpacked
    /// layer directory's files are not either, and waiting for a gigabyte to reach the disk would be most
    /// of a pull's time.
    pub fn write(mut self) -> Result<u64, LayerError> {
        let applier = &mut self.applier;
        writer::write_image(&applier.tree, &mut applier.image, applier.data_end)
            .map_err(LayerError::io(&self.path, "write layer image"))
    }
}
