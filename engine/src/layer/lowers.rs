//! Hardlinks whose target lives in a lower layer, made once those layers are on disk.
//!
//! The target is looked up the way overlayfs would show it: top-most lower first, stopping at a whiteout
//! (an error: the file is deleted), at an opaque directory (nothing deeper shows through) or at a
//! non-directory standing where the path needs a directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::inroot::{Root, lstat_at, split};
use super::meta::Node;
use super::whiteout;
use super::{DeferredLink, LayerError};

/// Creates `links` in `dest`, each pointing at the file found at `target` in the first of `lowers`
/// (top-most lower first) that has it, honouring overlay whiteouts and opaque directories in higher lowers.
///
/// A hardlink across layer directories of one filesystem (`linkat`); on `EXDEV` the file is copied (data,
/// mode, owner, xattrs, times). The parent directory keeps its mtime.
pub fn link_from_lowers(dest: &Path, lowers: &[PathBuf], links: &[DeferredLink]) -> Result<(), LayerError> {
    let root = Root::open(dest).map_err(LayerError::io(dest, "open layer directory"))?;
    let lower_roots = lowers
        .iter()
        .map(|lower| {
            Root::open(lower).map(|root| (lower.as_path(), root)).map_err(LayerError::io(lower, "open lower layer"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for link in links {
        let (source_dir, stat) = find(&lower_roots, link)?;
        let bad = |reason| LayerError::BadLink { path: link.path.clone(), target: link.target.clone(), reason };
        let (source_name, (parent, name)) = match (link.target.file_name(), split(&link.path)) {
            (Some(source_name), Some(split)) => (source_name, split),
            _ => return Err(bad("the link or its target is the layer root")),
        };
        let parent_fd = root.open_dir_create(parent).map_err(LayerError::io(&link.path, "open parent directory"))?;
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
    Ok(())
}

fn io_err(path: &Path, op: &'static str, e: Errno) -> LayerError {
    LayerError::Io { path: path.to_path_buf(), op, source: e.into() }
}

/// Finds `link.target` in the lowers; returns its parent directory and its lstat.
fn find(lowers: &[(&Path, Root)], link: &DeferredLink) -> Result<(OwnedFd, Stat), LayerError> {
    let missing = || LayerError::LinkTargetMissing { path: link.path.clone(), target: link.target.clone() };
    let bad = |reason| LayerError::BadLink { path: link.path.clone(), target: link.target.clone(), reason };
    let mut names: Vec<&OsStr> = Vec::new();
    for component in link.target.components() {
        match component {
            Component::Normal(name) => names.push(name),
            _ => return Err(bad("the target is not a clean relative path")),
        }
    }
    let Some((last, dirs)) = names.split_last() else {
        return Err(bad("the target is the layer root"));
    };
    for (layer, root) in lowers {
        let lookup_err = |at: &Path| LayerError::io(layer.join(at), "look up link target");
        let hidden = |whiteout: PathBuf| LayerError::LinkTargetHidden {
            path: link.path.clone(),
            target: link.target.clone(),
            layer: layer.to_path_buf(),
            whiteout,
        };
        let mut dir = root.open_dir(Path::new("")).map_err(lookup_err(Path::new("")))?;
        let mut opaque = false;
        let mut walked = PathBuf::new();
        let mut reached = true;
        for name in dirs {
            walked.push(name);
            match lstat_at(dir.as_fd(), name).map_err(lookup_err(&walked))? {
                None => {
                    reached = false;
                    break;
                }
                Some(stat) if whiteout::is_whiteout(&stat) => return Err(hidden(walked)),
                Some(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    dir = rustix::fs::openat(&dir, *name, flags, Mode::empty())
                        .map_err(|e| lookup_err(&walked)(e.into()))?;
                    opaque |= whiteout::is_opaque(dir.as_fd()).map_err(lookup_err(&walked))?;
                }
                // A file where a directory should be hides the directories of every layer below.
                Some(_) => return Err(missing()),
            }
        }
        if reached {
            match lstat_at(dir.as_fd(), last).map_err(lookup_err(&link.target))? {
                Some(stat) if whiteout::is_whiteout(&stat) => return Err(hidden(link.target.clone())),
                Some(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                    return Err(bad("the target is a directory"));
                }
                Some(stat) => return Ok((dir, stat)),
                None => {}
            }
        }
        if opaque {
            return Err(missing());
        }
    }
    Err(missing())
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

fn restore_mtime(dir: BorrowedFd<'_>, before: &Stat) -> io::Result<()> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let times = Timestamps {
        last_access: Timespec { tv_sec: before.st_atime, tv_nsec: before.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: before.st_mtime, tv_nsec: before.st_mtime_nsec as _ },
    };
    rustix::fs::futimens(&fd, &times)?;
    Ok(())
}
