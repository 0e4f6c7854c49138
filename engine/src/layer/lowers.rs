//! What a layer takes from the layers below it, once those are on disk: hardlinks whose target lives in a
//! lower layer, and the metadata of directories the layer made only to hold entries below them.
//!
//! Paths are looked up the way overlayfs would show them: top-most lower first, stopping at a whiteout
//! (the path is deleted), at an opaque directory (nothing deeper shows through) or at a non-directory
//! standing where the path needs a directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::meta::{Meta, Node, apply_owner_mode_xattrs};
use super::whiteout;
use super::{DeferredLink, LayerError};
use crate::inroot::{ParentTimes, Root, lstat_at, restore_mtime, split};

/// Creates `links` in `dest`, each pointing at the file found at `target` in the first of `lowers`
/// (top-most lower first) that has it, honouring overlay whiteouts and opaque directories in higher lowers.
///
/// A hardlink across layer directories of one filesystem (`linkat`); on `EXDEV` the file is copied (data,
/// mode, owner, xattrs, times). The parent directory keeps its mtime. Returns the directories made to hold
/// the links, for [`inherit_from_lowers`].
pub fn link_from_lowers(dest: &Path, lowers: &[PathBuf], links: &[DeferredLink]) -> Result<Vec<PathBuf>, LayerError> {
    let root = Root::open(dest).map_err(LayerError::io(dest, "open layer directory"))?;
    let lower_roots = open_lowers(lowers)?;
    let mut created = Vec::new();
    for link in links {
        let (source_dir, stat) = find(&lower_roots, link)?;
        let bad = |reason| LayerError::BadLink { path: link.path.clone(), target: link.target.clone(), reason };
        let (source_name, (parent, name)) = match (link.target.file_name(), split(&link.path)) {
            (Some(source_name), Some(split)) => (source_name, split),
            _ => return Err(bad("the link or its target is the layer root")),
        };
        let parent_fd = root
            .create_dir_all(parent, ParentTimes::Keep, &mut created)
            .map_err(LayerError::io(&link.path, "open parent directory"))?;
        let parent_stat = rustix::fs::fstat(&parent_fd).map_err(|e| io_err(&link.path, "fstat parent", e))?;
        if let Some(existing) = lstat_at(parent_fd.as_fd(), name).map_err(LayerError::io(&link.path, "lstat"))? {
            if FileType::from_raw_mode(existing.st_mode) == FileType::Directory {
                return Err(bad("a directory stands where the link goes"));
            }
            rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty())
                .map_err(|e| io_err(&link.path, "remove existing entry", e))?;
        }
        match rustix::fs::linkat(&source_dir, source_name, &parent_fd, name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::XDEV) => copy_node(source_dir.as_fd(), source_name, &stat, parent_fd.as_fd(), name, &link.path)?,
            Err(e) => return Err(io_err(&link.path, "link", e)),
        }
        restore_mtime(parent_fd.as_fd(), &parent_stat).map_err(LayerError::io(parent, "utimensat"))?;
    }
    Ok(created)
}

/// Gives each of `dirs` (directories of `dest` with no entry of their own in its layer) the owner, mode,
/// xattrs (overlay's own excepted) and mtime of the directory at the same path as the top-most of `lowers`
/// shows it, as overlay copy-up would keep them. A directory no lower shows, or one under an opaque
/// directory of `dest`, keeps what it has (0755, owned by the unpacking user).
pub fn inherit_from_lowers(dest: &Path, lowers: &[PathBuf], dirs: &[PathBuf]) -> Result<(), LayerError> {
    if lowers.is_empty() || dirs.is_empty() {
        return Ok(());
    }
    let root = Root::open(dest).map_err(LayerError::io(dest, "open layer directory"))?;
    let lower_roots = open_lowers(lowers)?;
    let preserve_owners = rustix::process::geteuid().is_root();
    let not_a_dir = |path: &Path| LayerError::Escape {
        entry: path.to_path_buf(),
        reason: "an implicit directory must be a directory below the layer root",
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for path in dirs {
        let names = clean_names(path).ok_or_else(|| not_a_dir(path))?;
        let Some((last, parents)) = names.split_last() else {
            return Err(not_a_dir(path));
        };
        let (own_parent, under_opaque) = match walk_dirs(dest, &root, parents)? {
            Walk::Reached { dir, opaque } => (dir, opaque),
            _ => return Err(not_a_dir(path)),
        };
        if under_opaque {
            continue;
        }
        let (lower_parent, stat) = match lookup(&lower_roots, parents, last)? {
            Lookup::Found { parent, stat } if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                (parent, stat)
            }
            _ => continue,
        };
        let source = rustix::fs::openat(&lower_parent, *last, dir_flags, Mode::empty())
            .map_err(|e| io_err(path, "open lower directory", e))?;
        let meta = Meta::of_node(source.as_fd(), &stat, path).map_err(LayerError::io(path, "read lower directory"))?;
        let target = rustix::fs::openat(&own_parent, *last, dir_flags, Mode::empty())
            .map_err(|e| io_err(path, "open directory", e))?;
        let node = Node::Open(target.as_fd());
        apply_owner_mode_xattrs(&node, &meta, path, preserve_owners, true)?;
        node.set_mtime(meta.mtime).map_err(LayerError::io(path, "utimensat"))?;
    }
    Ok(())
}

/// The node `link.target` names through `lowers` (top-most first): its parent directory and its lstat,
/// for a layer store that copies it rather than linking it.
pub(crate) fn find_link_target(lowers: &[PathBuf], link: &DeferredLink) -> Result<(OwnedFd, Stat), LayerError> {
    find(&open_lowers(lowers)?, link)
}

/// The metadata of the directory `path` as the top-most of `lowers` shows it; `None` when no lower shows
/// a directory there.
pub(crate) fn lower_dir_meta(lowers: &[PathBuf], path: &Path) -> Result<Option<Meta>, LayerError> {
    let not_a_dir = || LayerError::Escape {
        entry: path.to_path_buf(),
        reason: "an implicit directory must be a directory below the layer root",
    };
    let names = clean_names(path).ok_or_else(not_a_dir)?;
    let Some((last, parents)) = names.split_last() else {
        return Err(not_a_dir());
    };
    let (lower_parent, stat) = match lookup(&open_lowers(lowers)?, parents, last)? {
        Lookup::Found { parent, stat } if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
            (parent, stat)
        }
        _ => return Ok(None),
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let source = rustix::fs::openat(&lower_parent, *last, dir_flags, Mode::empty())
        .map_err(|e| io_err(path, "open lower directory", e))?;
    Meta::of_node(source.as_fd(), &stat, path).map(Some).map_err(LayerError::io(path, "read lower directory"))
}

fn open_lowers(lowers: &[PathBuf]) -> Result<Vec<(&Path, Root)>, LayerError> {
    lowers
        .iter()
        .map(|lower| {
            Root::open(lower).map(|root| (lower.as_path(), root)).map_err(LayerError::io(lower, "open lower layer"))
        })
        .collect()
}

fn io_err(path: &Path, op: &'static str, e: Errno) -> LayerError {
    LayerError::Io { path: path.to_path_buf(), op, source: e.into() }
}

/// The components of a clean relative path; `None` for `..`, `.` or a leading `/`.
fn clean_names(path: &Path) -> Option<Vec<&OsStr>> {
    path.components()
        .map(|component| match component {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// Where walking a path's directories down one layer ends.
enum Walk {
    /// Every directory exists: the last one (the root when there are none), and whether any was opaque.
    Reached { dir: OwnedFd, opaque: bool },
    /// A directory is missing; `opaque` tells whether one above it was opaque.
    Absent { opaque: bool },
    /// A whiteout stands at this path.
    Hidden(PathBuf),
    /// A non-directory stands where a directory is needed: it hides the directories of every layer below.
    Blocked,
}

/// Walks `dirs` down from the root of `layer`, never following a symlink.
fn walk_dirs(layer: &Path, root: &Root, dirs: &[&OsStr]) -> Result<Walk, LayerError> {
    let lookup_err = |at: &Path| LayerError::io(layer.join(at), "look up in layer");
    let mut dir = root.open_dir(Path::new("")).map_err(lookup_err(Path::new("")))?;
    let mut opaque = false;
    let mut walked = PathBuf::new();
    for name in dirs {
        walked.push(name);
        match lstat_at(dir.as_fd(), name).map_err(lookup_err(&walked))? {
            None => return Ok(Walk::Absent { opaque }),
            Some(stat) if whiteout::is_whiteout(&stat) => return Ok(Walk::Hidden(walked)),
            Some(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                dir =
                    rustix::fs::openat(&dir, *name, flags, Mode::empty()).map_err(|e| lookup_err(&walked)(e.into()))?;
                opaque |= whiteout::is_opaque(dir.as_fd()).map_err(lookup_err(&walked))?;
            }
            Some(_) => return Ok(Walk::Blocked),
        }
    }
    Ok(Walk::Reached { dir, opaque })
}

/// What overlayfs would show at a path through a stack of lowers.
enum Lookup {
    /// The top-most node there: its parent directory and its lstat.
    Found { parent: OwnedFd, stat: Stat },
    /// Deleted by the whiteout at `whiteout` in lower `layer`.
    Hidden { layer: PathBuf, whiteout: PathBuf },
    /// In no lower, or cut off by an opaque directory or a non-directory in a higher lower.
    Missing,
}

/// Looks up `dirs` followed by `last` in `lowers`, top-most first.
fn lookup(lowers: &[(&Path, Root)], dirs: &[&OsStr], last: &OsStr) -> Result<Lookup, LayerError> {
    for (layer, root) in lowers {
        let hidden = |whiteout| Ok(Lookup::Hidden { layer: layer.to_path_buf(), whiteout });
        let opaque = match walk_dirs(layer, root, dirs)? {
            Walk::Hidden(whiteout) => return hidden(whiteout),
            Walk::Blocked => return Ok(Lookup::Missing),
            Walk::Absent { opaque } => opaque,
            Walk::Reached { dir, opaque } => {
                let path: PathBuf = dirs.iter().chain([&last]).collect();
                match lstat_at(dir.as_fd(), last).map_err(LayerError::io(layer.join(&path), "look up in layer"))? {
                    Some(stat) if whiteout::is_whiteout(&stat) => return hidden(path),
                    Some(stat) => return Ok(Lookup::Found { parent: dir, stat }),
                    None => opaque,
                }
            }
        };
        if opaque {
            return Ok(Lookup::Missing);
        }
    }
    Ok(Lookup::Missing)
}

/// Finds `link.target` in the lowers; returns its parent directory and its lstat.
fn find(lowers: &[(&Path, Root)], link: &DeferredLink) -> Result<(OwnedFd, Stat), LayerError> {
    let bad = |reason| LayerError::BadLink { path: link.path.clone(), target: link.target.clone(), reason };
    let names = clean_names(&link.target).ok_or_else(|| bad("the target is not a clean relative path"))?;
    let Some((last, dirs)) = names.split_last() else {
        return Err(bad("the target is the layer root"));
    };
    match lookup(lowers, dirs, last)? {
        Lookup::Found { stat, .. } if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
            Err(bad("the target is a directory"))
        }
        Lookup::Found { parent, stat } => Ok((parent, stat)),
        Lookup::Hidden { layer, whiteout } => {
            Err(LayerError::LinkTargetHidden { path: link.path.clone(), target: link.target.clone(), layer, whiteout })
        }
        Lookup::Missing => Err(LayerError::LinkTargetMissing { path: link.path.clone(), target: link.target.clone() }),
    }
}

/// Copies one non-directory node between filesystems, keeping data, owner, mode, xattrs and times.
fn copy_node(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    stat: &Stat,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    path: &Path,
) -> Result<(), LayerError> {
    let err = |op| move |e: Errno| LayerError::Io { path: path.to_path_buf(), op, source: e.into() };
    let file_type = FileType::from_raw_mode(stat.st_mode);
    let privileged = rustix::process::geteuid().is_root();
    let mode = stat.st_mode & 0o7777;
    let times = Timestamps {
        last_access: Timespec { tv_sec: stat.st_atime, tv_nsec: stat.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: stat.st_mtime, tv_nsec: stat.st_mtime_nsec as _ },
    };
    match file_type {
        FileType::RegularFile => {
            let src = rustix::fs::openat(
                src_dir,
                src_name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(err("open link source"))?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let dst =
                rustix::fs::openat(dst_dir, dst_name, flags, Mode::from_raw_mode(0o600)).map_err(err("create"))?;
            let (mut src, mut dst) = (File::from(src), File::from(dst));
            io::copy(&mut src, &mut dst).map_err(LayerError::io(path, "copy"))?;
            let node = Node::Open(dst.as_fd());
            if privileged {
                node.chown(stat.st_uid.into(), stat.st_gid.into()).map_err(LayerError::io(path, "chown"))?;
            }
            node.chmod(mode).map_err(LayerError::io(path, "chmod"))?;
            copy_xattrs(src.as_fd(), dst.as_fd()).map_err(LayerError::io(path, "copy xattrs"))?;
            rustix::fs::futimens(&dst, &times).map_err(err("utimensat"))?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src_dir, src_name, Vec::new()).map_err(err("readlink"))?;
            rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name).map_err(err("symlink"))?;
            let node = Node::special(dst_dir, dst_name, true).map_err(LayerError::io(path, "open symlink"))?;
            if privileged {
                node.chown(stat.st_uid.into(), stat.st_gid.into()).map_err(LayerError::io(path, "chown"))?;
            }
            rustix::fs::utimensat(dst_dir, dst_name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(err("utimensat"))?;
        }
        _ => {
            let dev = stat.st_rdev;
            rustix::fs::mknodat(dst_dir, dst_name, file_type, Mode::from_raw_mode(0o600), dev).map_err(err("mknod"))?;
            let node = Node::special(dst_dir, dst_name, false).map_err(LayerError::io(path, "open node"))?;
            if privileged {
                node.chown(stat.st_uid.into(), stat.st_gid.into()).map_err(LayerError::io(path, "chown"))?;
            }
            node.chmod(mode).map_err(LayerError::io(path, "chmod"))?;
            rustix::fs::utimensat(dst_dir, dst_name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(err("utimensat"))?;
        }
    }
    Ok(())
}

fn copy_xattrs(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = vec![0u8; rustix::fs::flistxattr_query(src)?];
    let len = rustix::fs::flistxattr(src, &mut names[..])?;
    for name in names[..len].split(|&b| b == 0).filter(|name| !name.is_empty()) {
        let name = OsStr::from_bytes(name);
        let mut value = vec![0u8; rustix::fs::fgetxattr_query(src, name)?];
        let len = rustix::fs::fgetxattr(src, name, &mut value[..])?;
        rustix::fs::fsetxattr(dst, name, &value[..len], XattrFlags::empty())?;
    }
    Ok(())
}
