//! Path handling confined to a root directory fd.
//!
//! Entry names are cleaned lexically (as Docker does), then every lookup goes through
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so `..` and absolute symlinks are clamped to the root
//! and nothing planted by an earlier entry can lead outside it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

/// Deepest directory tree [`remove_tree_at`] descends into.
const MAX_REMOVE_DEPTH: usize = 4096;

/// Cleans a tar path: drops leading `/`, `.` components and empty components, resolves `..` lexically
/// (clamped at the root). `None` when the last component is `..`, which names no entry of its own.
pub(crate) fn clean(raw: &[u8]) -> Option<PathBuf> {
    let path = Path::new(OsStr::from_bytes(raw));
    if path.components().next_back() == Some(Component::ParentDir) {
        return None;
    }
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Splits a cleaned, non-empty path into its parent and final name.
pub(crate) fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    Some((path.parent()?, path.file_name()?))
}

/// The layer root, held open as a directory fd for the whole unpack.
pub(crate) struct Root {
    fd: OwnedFd,
}

impl Root {
    pub(crate) fn open(dir: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens directory `dir` (cleaned, relative) inside the root as an `O_PATH` fd.
    pub(crate) fn open_dir(&self, dir: &Path) -> io::Result<OwnedFd> {
        self.resolve(dir, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// Opens `path` inside the root with `flags`; symlinks in it, the last one included, resolve in the root.
    pub(crate) fn resolve(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        // EAGAIN means a concurrent rename raced the lookup; the kernel asks us to retry.
        let mut attempts = 0;
        loop {
            match rustix::fs::openat2(&self.fd, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
                Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
                result => return result.map_err(io::Error::from),
            }
        }
    }

    /// Like [`Root::open_dir`], creating missing directories (mode 0755) one component at a time. Each
    /// directory made is pushed to `created`; the existing directory they were made in keeps its mtime.
    pub(crate) fn open_dir_create(&self, dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<OwnedFd> {
        match self.open_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            result => return result,
        }
        let mut prefix = PathBuf::new();
        let mut parent = self.open_dir(&prefix)?;
        let mut first_parent: Option<(OwnedFd, Stat)> = None;
        for component in dir.components() {
            prefix.push(component);
            parent = match self.open_dir(&prefix) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    if first_parent.is_none() {
                        first_parent = Some((parent.try_clone()?, rustix::fs::fstat(&parent)?));
                    }
                    match rustix::fs::mkdirat(&parent, component.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) => created.push(prefix.clone()),
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.open_dir(&prefix)?
                }
                result => result?,
            };
        }
        if let Some((fd, before)) = first_parent {
            restore_mtime(fd.as_fd(), &before)?;
        }
        Ok(parent)
    }
}

/// Puts back the access and modification times `before` on the directory `dir` (an `O_PATH` fd will do).
pub(crate) fn restore_mtime(dir: BorrowedFd<'_>, before: &Stat) -> io::Result<()> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let times = Timestamps {
        last_access: Timespec { tv_sec: before.st_atime, tv_nsec: before.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: before.st_mtime, tv_nsec: before.st_mtime_nsec as _ },
    };
    rustix::fs::futimens(&fd, &times)?;
    Ok(())
}

/// What sits at `name` in `dir`, without following a symlink there.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` in `dir`, a whole directory tree included, never following symlinks.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr, is_dir: bool) -> io::Result<()> {
    if is_dir {
        remove_tree_at(dir, name, 0)
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(io::Error::from)
    }
}

fn remove_tree_at(dir: BorrowedFd<'_>, name: &OsStr, depth: usize) -> io::Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(io::Error::other(format!("directory tree deeper than {MAX_REMOVE_DEPTH} levels")));
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    let mut children: Vec<(OsString, bool)> = Vec::new();
    let mut entries = Dir::read_from(&fd)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child == b"." || child == b".." {
            continue;
        }
        let child = OsStr::from_bytes(child).to_owned();
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => lstat_at(fd.as_fd(), &child)?
                .is_some_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Directory),
            _ => false,
        };
        children.push((child, is_dir));
    }
    for (child, is_dir) in children {
        if is_dir {
            remove_tree_at(fd.as_fd(), &child, depth + 1)?;
        } else {
            rustix::fs::unlinkat(&fd, &child, AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(io::Error::from)
}
