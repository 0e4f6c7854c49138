//! Paths inside a directory that something untrusted wrote: a layer being unpacked, an image's rootfs, a
//! container's root during `cp`, a build's context and stages.
//!
//! Every lookup goes through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so `..` and absolute
//! symlinks are clamped to the root and nothing planted in the tree can lead outside it; the final name of
//! an entry is then handled relative to its parent's fd with `*at` calls that do not follow it. This is the
//! one resolver of the engine: the unpacker, the runtime, volume setup and `cp` all open their root here.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
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

/// Whether making missing directories may change the times of the existing directory they are made in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ParentTimes {
    /// Put them back: a layer's directories carry the times its archive gave them.
    Keep,
    /// Leave them as the kernel sets them, as `mkdir -p` would.
    Touch,
}

/// A root directory held open as an fd; every path below is resolved inside it.
pub(crate) struct Root {
    fd: OwnedFd,
}

impl Root {
    pub(crate) fn open(dir: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// The directory `dir` names (an `O_PATH` fd will do) as a root of its own: what ADD unpacks an archive
    /// in, so the archive's absolute links resolve in its destination as BuildKit resolves them.
    pub(crate) fn at(dir: BorrowedFd<'_>) -> io::Result<Root> {
        let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens directory `dir` inside the root as an `O_PATH` fd.
    pub(crate) fn open_dir(&self, dir: impl AsRef<Path>) -> io::Result<OwnedFd> {
        self.resolve(dir, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// Opens `path` inside the root with `flags`; symlinks in it, the last one included, resolve in the root.
    /// `path` may be written from the root (`/etc/passwd`) or relative to it (`etc/passwd`); empty is the root.
    pub(crate) fn resolve(&self, path: impl AsRef<Path>, flags: OFlags) -> io::Result<OwnedFd> {
        let path = path.as_ref();
        let path = path.strip_prefix("/").unwrap_or(path);
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

    /// Opens directory `dir` below the root for reading, reached through directories only: a symlink
    /// anywhere on the way is refused rather than followed (the packer reads a tree exactly as it lies).
    pub(crate) fn open_dir_beneath(&self, dir: impl AsRef<Path>) -> io::Result<OwnedFd> {
        let dir = dir.as_ref();
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat2(&self.fd, dir, flags, Mode::empty(), resolve)?)
    }

    /// `path` inside the root when it exists (`None` when a component is missing).
    pub(crate) fn lookup(&self, path: impl AsRef<Path>, flags: OFlags) -> io::Result<Option<OwnedFd>> {
        match self.resolve(path, flags) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a small text file at `path` (at most 16 MiB); `None` when it does not exist.
    pub(crate) fn read_to_string(&self, path: impl AsRef<Path>) -> io::Result<Option<String>> {
        let Some(fd) = self.lookup(path, OFlags::RDONLY)? else { return Ok(None) };
        let mut text = String::new();
        std::fs::File::from(fd).take(16 * 1024 * 1024).read_to_string(&mut text)?;
        Ok(Some(text))
    }

    /// `mkdir -p` inside the root: opens directory `dir` as an `O_PATH` fd, creating missing directories
    /// (mode 0755) one component at a time, symlinks on the way followed inside the root. Each directory
    /// made is pushed to `created`; `times` says whether the existing directory they were made in keeps its
    /// times.
    pub(crate) fn create_dir_all(
        &self,
        dir: impl AsRef<Path>,
        times: ParentTimes,
        created: &mut Vec<PathBuf>,
    ) -> io::Result<OwnedFd> {
        let dir = dir.as_ref();
        match self.open_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            result => return result,
        }
        let mut prefix = PathBuf::new();
        let mut parent = self.open_dir(&prefix)?;
        let mut first_parent: Option<(OwnedFd, Stat)> = None;
        for component in dir.components().filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir)) {
            prefix.push(component);
            parent = match self.open_dir(&prefix) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    if first_parent.is_none() && times == ParentTimes::Keep {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(host.path().join("secret"), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", dir.path().join("etc/up")).unwrap();

        let root = Root::open(dir.path()).unwrap();
        assert!(root.read_to_string("/etc/passwd").unwrap().unwrap().starts_with("root:"));
        assert!(root.read_to_string("etc/up/etc/passwd").unwrap().unwrap().starts_with("root:"));
        assert_eq!(root.read_to_string("/escape").unwrap(), None);
        assert_eq!(root.read_to_string("/missing").unwrap(), None);
    }

    #[test]
    fn mkdir_follows_links_only_inside() {
        let host = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        // An absolute link to a host directory: resolved in the rootfs, where it does not exist.
        std::os::unix::fs::symlink(host.path(), dir.path().join("escape")).unwrap();
        let _ = root.create_dir_all("/escape/a/b", ParentTimes::Touch, &mut Vec::new());
        assert!(!host.path().join("a").exists(), "mkdir went through a symlink onto the host");

        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::os::unix::fs::symlink("/data", dir.path().join("work")).unwrap();
        let mut made = Vec::new();
        root.create_dir_all("/work/a/b", ParentTimes::Touch, &mut made).unwrap();
        assert!(dir.path().join("data/a/b").is_dir());
        assert_eq!(made, [PathBuf::from("work/a"), PathBuf::from("work/a/b")]);
        root.create_dir_all("/app/./x", ParentTimes::Touch, &mut Vec::new()).unwrap();
        assert!(dir.path().join("app/x").is_dir());
    }

    #[test]
    fn keeping_parent_times_leaves_the_existing_directory_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let old = Timespec { tv_sec: 1_000_000, tv_nsec: 0 };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            dir.path().join("old"),
            &Timestamps { last_access: old, last_modification: old },
            AtFlags::empty(),
        )
        .unwrap();
        let root = Root::open(dir.path()).unwrap();
        root.create_dir_all("old/new/deeper", ParentTimes::Keep, &mut Vec::new()).unwrap();
        let mtime = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().modified().unwrap();
        assert_eq!(mtime("old"), std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000));
        root.create_dir_all("old/other", ParentTimes::Touch, &mut Vec::new()).unwrap();
        assert_ne!(mtime("old"), std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000));
    }
}
