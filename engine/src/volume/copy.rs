//! `berth cp`: a path of a container as a tar stream, and a tar stream into a container.
//!
//! Every path inside the container is looked up with openat2(RESOLVE_IN_ROOT) against the container's
//! root, and each entry is then read or written relative to its parent's fd with O_NOFOLLOW, so a process
//! in the container that swaps a path component for a symlink to `/` (CVE-2018-15664) only ever redirects
//! the copy inside its own root. A running container's root is `/proc/<pid>/root` (its volume and bind
//! mounts included); a stopped one's overlay is mounted for the copy in a private mount namespace (see
//! [`mount_privately`]), and paths under a volume or bind mount go to that directory.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::VolumeError;
use super::mounts::{MountKind, clean_path};
use crate::container::{ContainerRecord, Status};
use crate::inroot::{ParentTimes, Root};
use crate::runtime::Rootfs;
use crate::{Engine, Error};

/// The directory a container path is resolved in, and the path relative to it.
struct CopyTarget {
    root: Root,
    path: String,
    /// Why writing there is refused (a read-only mount or rootfs of a stopped container), as Docker says it.
    read_only: Option<&'static str>,
    /// The empty mount point of a stopped container's private overlay mount, removed on drop.
    _mount_point: Option<crate::store::TempDir>,
}

/// Mounts a stopped container's overlay in the mount namespace of a short-lived thread and returns an fd of
/// its root. When the thread ends its namespace goes and the mount is detached, but the fd keeps it usable
/// until closed: the host never sees the mount (nor could a later clean-up of stale temp dirs delete through
/// it), and a killed `cp` leaves nothing mounted.
pub(crate) fn mount_privately(id: &str, rootfs: &Rootfs, layers: &[PathBuf]) -> Result<Root, Error> {
    let fail = |e: io::Error| -> Error {
        VolumeError::Copy { id: id.to_string(), path: "/".into(), reason: format!("mounting its rootfs: {e}") }.into()
    };
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| -> Result<Root, Error> {
            // SAFETY: NEWNS (with the FS it implies) leaves the fd table shared; only this thread's mount
            // namespace, root and cwd change.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
                .map_err(|e| fail(e.into()))?;
            // Private, so the overlay mount cannot propagate back into the host's namespace.
            let private = rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC;
            rustix::mount::mount_change("/", private).map_err(|e| fail(e.into()))?;
            let _layers = rootfs.mount(id, layers, crate::runtime::Upper::Synced)?;
            Root::open(&rootfs.merged).map_err(fail)
        });
        worker.join().map_err(|_| fail(io::Error::other("the mounting thread panicked")))?
    })
}

impl Engine {
    /// Where `path` of container `rec` lives for a copy.
    fn copy_target(&self, rec: &ContainerRecord, path: &str) -> Result<CopyTarget, Error> {
        let path = clean_path(path);
        let fail = |e: io::Error| VolumeError::Copy { id: rec.id.clone(), path: path.clone(), reason: e.to_string() };
        if matches!(rec.status, Status::Running | Status::Paused) && rec.pid > 0 {
            let root = Root::open(Path::new(&format!("/proc/{}/root", rec.pid))).map_err(fail)?;
            // A running container's read-only mounts refuse writes themselves (EROFS).
            return Ok(CopyTarget { root, path, read_only: None, _mount_point: None });
        }
        // The longest mount target containing the path wins, as the kernel's mount tree would decide.
        let mount = rec
            .options
            .mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .map(|m| (m, m.clean_target()))
            .filter(|(_, t)| path == *t || path.starts_with(&format!("{t}/")))
            .max_by_key(|(_, t)| t.len());
        if let Some((m, target)) = mount {
            let dir = match m.kind {
                MountKind::Bind => PathBuf::from(&m.source),
                _ => super::volume_data_dir(self.store().root(), &m.source),
            };
            let root = Root::open(&dir).map_err(fail)?;
            let read_only = m.read_only.then_some("mounted volume is marked read-only");
            return Ok(CopyTarget { root, path: path[target.len()..].to_string(), read_only, _mount_point: None });
        }
        let layers = self.store().image_layer_dirs(&rec.image_id)?;
        let tmp = self.store().temp_dir("cp")?;
        let container_dir = rec.dir(self.store().root());
        let rootfs = Rootfs {
            merged: tmp.path().join("rootfs"),
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
        };
        let root = mount_privately(&rec.id, &rootfs, &layers)?;
        let read_only = rec.options.read_only.then_some("container rootfs is marked read-only");
        Ok(CopyTarget { root, path, read_only, _mount_point: Some(tmp) })
    }

    /// `berth cp CONTAINER:SRC -`: writes a tar of `src` (its last component not followed when a symlink)
    /// to `out`, the top entry named `name` (the source's own name when None). For `DIR/.` without a name
    /// the archive holds the directory's entries at its top.
    pub fn copy_from_container(
        &self,
        container: &str,
        src: &str,
        name: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let rec = self.container(container)?;
        let target = self.copy_target(&rec, src)?;
        let fail =
            |e: io::Error| VolumeError::Copy { id: rec.id.clone(), path: src.to_string(), reason: e.to_string() };
        let (parent, base) = split(&target.path);
        let parent_fd = target.root.open_dir(parent).map_err(fail)?;
        // Named after the path the user gave, also when it is a volume's root (an empty path in the volume).
        let own = split(&clean_path(src)).1.to_string();
        let top = name.map(str::to_string).unwrap_or_else(|| if own.is_empty() { ".".into() } else { own });
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        if name.is_none() && names_contents(src) {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let dir = target.root.resolve(&target.path, flags).map_err(fail)?;
            append_children(&mut builder, &mut Links::new(), &dir, Path::new("")).map_err(fail)?;
            builder.finish().map_err(fail)?;
            return Ok(());
        }
        let base = if base.is_empty() { "." } else { base };
        append(&mut builder, &mut Links::new(), parent_fd.as_fd(), OsStr::new(base), Path::new(&top)).map_err(fail)?;
        builder.finish().map_err(fail)?;
        Ok(())
    }

    /// Whether `path` in the container is a directory (symlinks followed inside its root); `None` when it
    /// does not exist. `cp` asks before sending a directory's content (`SRC/.`).
    pub fn container_path_is_dir(&self, container: &str, path: &str) -> Result<Option<bool>, Error> {
        let rec = self.container(container)?;
        let target = self.copy_target(&rec, path)?;
        let fail =
            |e: io::Error| VolumeError::Copy { id: rec.id.clone(), path: path.to_string(), reason: e.to_string() };
        match target.root.resolve(&target.path, OFlags::PATH) {
            Ok(fd) => {
                let stat = rustix::fs::fstat(&fd).map_err(|e| fail(e.into()))?;
                Ok(Some(FileType::from_raw_mode(stat.st_mode) == FileType::Directory))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail(e).into()),
        }
    }

    /// `berth cp SRC CONTAINER:DEST`: unpacks the tar `input` at `dest`. An existing directory receives the
    /// entries; otherwise the tar's top entry becomes `dest` itself (its parent must exist). A symlink at
    /// `dest` is followed inside the container's root, dangling or not, as Docker does, so the copy lands
    /// where the link points instead of replacing the link.
    pub fn copy_to_container(&self, container: &str, dest: &str, input: &mut dyn Read) -> Result<(), Error> {
        let rec = self.container(container)?;
        let target = self.copy_target(&rec, dest)?;
        let fail =
            |e: io::Error| VolumeError::Copy { id: rec.id.clone(), path: dest.to_string(), reason: e.to_string() };
        if let Some(reason) = target.read_only {
            return Err(fail(io::Error::other(reason)).into());
        }
        let path = follow_links(&target.root, &target.path).map_err(fail)?;
        let is_dir = target.root.open_dir(&path).is_ok();
        let (dir, rename) = if is_dir {
            (path.clone(), None)
        } else {
            let (parent, base) = split(&path);
            (parent.to_string(), Some(base.to_string()))
        };
        // The destination's directory must exist (Docker's rule); directories below it are made as needed.
        target
            .root
            .open_dir(&dir)
            .map_err(|e| match path != clean_path(&target.path) {
                true => io::Error::new(e.kind(), format!("it is a symlink to {path}, and {dir}: {e}")),
                false => e,
            })
            .map_err(fail)?;
        let mut archive = tar::Archive::new(input);
        // An archive path as the path it gets inside the container.
        let place = |rel: String| match &rename {
            Some(name) => match rel.split_once('/') {
                Some((_, rest)) => format!("{dir}/{name}/{rest}"),
                None => format!("{dir}/{name}"),
            },
            None => format!("{dir}/{rel}"),
        };
        for entry in archive.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let raw = entry.path_bytes().into_owned();
            let Some(rel) = clean_relative(&raw) else { continue };
            extract(&target.root, &place(rel), &mut entry, &place).map_err(fail)?;
        }
        Ok(())
    }
}

/// How many symlinks a destination may pass through, as the kernel's limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// `path` with the symlinks at its last component followed inside `root` (absolute targets from the root,
/// relative ones from the link's directory); a dangling link gives the path it points to. Other failures
/// are left for the copy itself to report.
fn follow_links(root: &Root, path: &str) -> io::Result<String> {
    let mut path = clean_path(path);
    for _ in 0..MAX_SYMLINK_HOPS {
        let (parent, base) = split(&path);
        if base.is_empty() {
            return Ok(path);
        }
        let Ok(parent_fd) = root.open_dir(parent) else {
            return Ok(path);
        };
        match rustix::fs::statat(&parent_fd, base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
                let target = rustix::fs::readlinkat(&parent_fd, base, Vec::new())?;
                let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
                path = if target.starts_with('/') {
                    clean_path(&target)
                } else {
                    clean_path(&format!("{parent}/{target}"))
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other(format!("{path}: too many levels of symbolic links")))
}

/// `/a/b/c` as (`/a/b`, `c`); `/` as (`/`, ``).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", base)) => ("/", base),
        Some((parent, base)) => (parent, base),
        None => ("/", path),
    }
}

/// A tar entry's path cleaned to `a/b` form; `None` for one that climbs out or names nothing.
pub(crate) fn clean_relative(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The archive path of each multiply-linked file already written, by (device, inode): its other names
/// become hardlink entries, as docker's archives keep them.
type Links = HashMap<(u64, u64), PathBuf>;

/// Appends entry `name` of directory `dir` (and, for a directory, everything below) as `path`.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    links: &mut Links,
    dir: impl AsFd,
    name: &OsStr,
    path: &Path,
) -> io::Result<()> {
    let stat = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut header = tar::Header::new_gnu();
    header.set_mode(stat.st_mode & 0o7777);
    header.set_uid(stat.st_uid.into());
    header.set_gid(stat.st_gid.into());
    header.set_mtime(stat.st_mtime.max(0) as u64);
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {
            let fd = rustix::fs::openat(
                &dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder.append_data(&mut header, path, io::empty())?;
            append_children(builder, links, &fd, path)?;
        }
        FileType::RegularFile if stat.st_nlink > 1 && links.contains_key(&(stat.st_dev, stat.st_ino)) => {
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            builder.append_link(&mut header, path, &links[&(stat.st_dev, stat.st_ino)])?;
        }
        FileType::RegularFile => {
            if stat.st_nlink > 1 {
                links.insert((stat.st_dev, stat.st_ino), path.to_path_buf());
            }
            // Non-blocking: a fifo swapped in after the stat must not hang the copy.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let file = File::from(rustix::fs::openat(&dir, name, flags, Mode::empty())?);
            let opened = rustix::fs::fstat(&file)?;
            if FileType::from_raw_mode(opened.st_mode) != FileType::RegularFile {
                return Err(io::Error::other(format!("{} changed while being copied", path.display())));
            }
            let size = opened.st_size.max(0) as u64;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(size);
            // A file the container shrinks meanwhile is padded, so the archive stays well formed.
            builder.append_data(&mut header, path, file.take(size).chain(io::repeat(0)).take(size))?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(&dir, name, Vec::new())?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, Path::new(std::ffi::OsStr::from_bytes(target.as_bytes())))?;
        }
        // Devices, fifos and sockets carry no data a copy could use.
        _ => {}
    }
    Ok(())
}

/// Appends everything in the open directory `dir` under `prefix` (empty: at the top of the archive).
fn append_children<W: Write>(
    builder: &mut tar::Builder<W>,
    links: &mut Links,
    dir: &OwnedFd,
    prefix: &Path,
) -> io::Result<()> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            names.push(OsStr::from_bytes(child).to_os_string());
        }
    }
    names.sort();
    for child in names {
        append(builder, links, dir, &child, &prefix.join(&child))?;
    }
    Ok(())
}

/// Docker's `SRC/.`: the directory's content rather than the directory itself.
fn names_contents(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// Directory `dir` inside `root`, made with its missing parents (mode 0755) when the archive does not list
/// them before their entries, as tar and Docker do.
fn open_parent(root: &Root, dir: &str) -> io::Result<OwnedFd> {
    root.create_dir_all(dir, ParentTimes::Touch, &mut Vec::new())
}

/// Writes one tar entry at `path` inside `root`: the parent resolved in the root, the entry made relative
/// to the parent's fd without following a symlink at its name.
/// `place` turns an archive path into its path in the container (for hardlink targets).
pub(crate) fn extract<R: Read>(
    root: &Root,
    path: &str,
    entry: &mut tar::Entry<'_, R>,
    place: &dyn Fn(String) -> String,
) -> io::Result<()> {
    let (parent, name) = split(path);
    let parent_fd = open_parent(root, parent)?;
    let mode = Mode::from_raw_mode(entry.header().mode()? & 0o7777);
    match entry.header().entry_type() {
        tar::EntryType::Directory => {
            match rustix::fs::mkdirat(&parent_fd, name, mode) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    // An earlier entry (or the container) left something else at the name: the later entry
                    // wins, as in tar. A directory already there is kept with its content.
                    let stat = rustix::fs::statat(&parent_fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
                    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                        rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty())?;
                        rustix::fs::mkdirat(&parent_fd, name, mode)?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let made = rustix::fs::openat(&parent_fd, name, flags, Mode::empty())?;
            rustix::fs::fchmod(&made, mode)?;
            Ok(())
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(&parent_fd, name, flags, mode) {
                // A symlink sits at the name: replace it rather than write through it.
                Err(Errno::LOOP) => {
                    rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty())?;
                    rustix::fs::openat(&parent_fd, name, flags, mode)?
                }
                result => result?,
            };
            let mut file = File::from(fd);
            io::copy(entry, &mut file)?;
            rustix::fs::fchmod(&file, mode)?;
            Ok(())
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
            match rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            rustix::fs::symlinkat(std::ffi::OsStr::from_bytes(&target), &parent_fd, name)?;
            Ok(())
        }
        tar::EntryType::Link => {
            let target = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
            let target = clean_relative(&target).ok_or_else(|| io::Error::other("hardlink target climbs out"))?;
            let target = place(target);
            let (target_parent, target_name) = split(&target);
            let target_fd = root.open_dir(target_parent)?;
            match rustix::fs::unlinkat(&parent_fd, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            rustix::fs::linkat(&target_fd, target_name, &parent_fd, name, AtFlags::empty())?;
            Ok(())
        }
        other => Err(io::Error::other(format!("{path}: unsupported tar entry type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_clean() {
        assert_eq!(split("/a/b"), ("/a", "b"));
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/"), ("/", ""));
        assert_eq!(clean_relative(b"./x//y/"), Some("x/y".into()));
        assert_eq!(clean_relative(b"../etc/passwd"), None);
        assert_eq!(clean_relative(b"."), None);
    }

    /// Unpacks `tar_bytes` into `root` at `/` as copy_to_container does for an existing directory.
    fn unpack(root: &Root, tar_bytes: &[u8]) -> io::Result<()> {
        let mut archive = tar::Archive::new(tar_bytes);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let rel = clean_relative(&entry.path_bytes()).unwrap();
            extract(root, &format!("/{rel}"), &mut entry, &|r| format!("/{r}"))?;
        }
        Ok(())
    }

    fn link_entry(builder: &mut tar::Builder<&mut Vec<u8>>, path: &str, target: &str) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder.append_link(&mut header, path, target).unwrap();
    }

    fn file_entry(builder: &mut tar::Builder<&mut Vec<u8>>, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, data).unwrap();
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one_at_the_same_path() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("elsewhere")).unwrap();
        let mut bytes = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut bytes);
            link_entry(&mut builder, "x", "/elsewhere/x");
            file_entry(&mut builder, "x", b"file wins");
            link_entry(&mut builder, "d", "/elsewhere");
            let mut dir = tar::Header::new_gnu();
            dir.set_entry_type(tar::EntryType::Directory);
            dir.set_mode(0o755);
            dir.set_size(0);
            builder.append_data(&mut dir, "d", io::empty()).unwrap();
            file_entry(&mut builder, "d/inner", b"in d");
            builder.finish().unwrap();
        }
        unpack(&Root::open(root.path()).unwrap(), &bytes).expect("unpack");
        let x = root.path().join("x");
        assert!(std::fs::symlink_metadata(&x).unwrap().is_file(), "the symlink was left at x");
        assert_eq!(std::fs::read_to_string(&x).unwrap(), "file wins");
        assert!(!root.path().join("elsewhere/x").exists(), "the file went through the link");
        assert!(std::fs::symlink_metadata(root.path().join("d")).unwrap().is_dir());
        assert_eq!(std::fs::read_to_string(root.path().join("d/inner")).unwrap(), "in d");
        assert!(!root.path().join("elsewhere/inner").exists());
    }

    #[test]
    fn entries_without_their_directories_get_them() {
        let root = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut bytes);
            file_entry(&mut builder, "a/b/c", b"deep");
            builder.finish().unwrap();
        }
        unpack(&Root::open(root.path()).unwrap(), &bytes).unwrap();
        assert_eq!(std::fs::read_to_string(root.path().join("a/b/c")).unwrap(), "deep");
    }

    #[test]
    fn destination_links_are_followed_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("srv")).unwrap();
        std::os::unix::fs::symlink("/srv/target", root.path().join("dangling")).unwrap();
        std::os::unix::fs::symlink("srv", root.path().join("rel")).unwrap();
        std::os::unix::fs::symlink(host.path().join("x"), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("loop", root.path().join("loop")).unwrap();
        let fd = Root::open(root.path()).unwrap();
        assert_eq!(follow_links(&fd, "/dangling").unwrap(), "/srv/target");
        assert_eq!(follow_links(&fd, "/rel").unwrap(), "/srv");
        assert_eq!(follow_links(&fd, "/srv").unwrap(), "/srv");
        assert_eq!(follow_links(&fd, "/none/x").unwrap(), "/none/x");
        // An absolute target names a path of the container, never of the host.
        assert_eq!(follow_links(&fd, "/out").unwrap(), format!("{}/x", host.path().display()));
        assert!(follow_links(&fd, "/loop").is_err());
    }

    /// The archive `cp` makes of `/src` in `root`, its top entry named `copy`.
    fn archive_src_as_copy(root: &Root) -> Vec<u8> {
        let parent = root.open_dir("/").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        append(&mut builder, &mut Links::new(), parent.as_fd(), OsStr::new("src"), Path::new("copy")).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_tree_round_trips_and_symlinks_stay_inside() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/f"), "data").unwrap();
        std::os::unix::fs::symlink(host.path(), root.path().join("src/out")).unwrap();
        let root_fd = Root::open(root.path()).unwrap();
        let tar_bytes = archive_src_as_copy(&root_fd);
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let rel = clean_relative(&entry.path_bytes()).unwrap();
            extract(&root_fd, &format!("/{rel}"), &mut entry, &|r| format!("/{r}")).unwrap();
        }
        assert_eq!(std::fs::read_to_string(root.path().join("copy/f")).unwrap(), "data");
        assert_eq!(std::fs::read_link(root.path().join("copy/out")).unwrap(), host.path());
        // Writing through the copied absolute symlink resolves inside the root, never on the host.
        let mut evil = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut evil);
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o644);
            builder.append_data(&mut header, "copy/out/planted", &b"evil"[..]).unwrap();
            builder.finish().unwrap();
        }
        let mut archive = tar::Archive::new(&evil[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let rel = clean_relative(&entry.path_bytes()).unwrap();
            let _ = extract(&root_fd, &format!("/{rel}"), &mut entry, &|r| format!("/{r}"));
        }
        assert!(!host.path().join("planted").exists(), "a write went through a symlink to the host");
    }

    #[test]
    fn hardlinked_files_are_archived_once_and_linked_after() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src/sub")).unwrap();
        std::fs::write(root.path().join("src/a"), "shared").unwrap();
        std::fs::hard_link(root.path().join("src/a"), root.path().join("src/sub/b")).unwrap();
        std::fs::write(root.path().join("src/c"), "alone").unwrap();
        let root_fd = Root::open(root.path()).unwrap();
        let tar_bytes = archive_src_as_copy(&root_fd);
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let kinds: Vec<(String, tar::EntryType, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.display().to_string());
                (e.path().unwrap().display().to_string(), e.header().entry_type(), link)
            })
            .filter(|(_, kind, _)| *kind != tar::EntryType::Directory)
            .collect();
        assert_eq!(
            kinds,
            [
                ("copy/a".to_string(), tar::EntryType::Regular, None),
                ("copy/c".to_string(), tar::EntryType::Regular, None),
                ("copy/sub/b".to_string(), tar::EntryType::Link, Some("copy/a".to_string())),
            ]
        );
        unpack(&root_fd, &tar_bytes).unwrap();
        let (a, b) = (root.path().join("copy/a"), root.path().join("copy/sub/b"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&a).unwrap().ino(), std::fs::metadata(&b).unwrap().ino(), "one file, two names");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "shared");
    }
}
