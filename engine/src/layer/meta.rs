//! Entry metadata (owner, mode, mtime, xattrs) read from tar headers and applied to created nodes.
//!
//! Order matters: owner first, because chown clears setuid/setgid and `security.capability`; then mode;
//! then xattrs; then times. Nodes without an ordinary open fd (symlinks, devices, fifos) are reached through
//! an `O_PATH | O_NOFOLLOW` fd, via `/proc/self/fd` where the kernel offers no fd-based call.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::LayerError;

/// Xattr prefixes a layer may not set: overlay's own metadata comes only from whiteout translation, never
/// from the archive (a forged `overlay.redirect` or `overlay.opaque` would change what lower layers show).
const RESERVED_XATTRS: [&str; 2] = ["trusted.overlay.", "user.overlay."];
const PAX_XATTR: &str = "SCHILY.xattr.";

#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: Timespec,
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    pub(crate) fn from_entry<R: Read>(entry: &mut tar::Entry<'_, R>, path: &Path) -> Result<Meta, LayerError> {
        let header = entry.header();
        let corrupt = |source| LayerError::Corrupt { source };
        let mode = header.mode().map_err(corrupt)? & 0o7777;
        // The tar crate has already folded PAX uid/gid into the header.
        let uid = header.uid().map_err(corrupt)?;
        let gid = header.gid().map_err(corrupt)?;
        let mut mtime = Timespec { tv_sec: header.mtime().map_err(corrupt)? as i64, tv_nsec: 0 };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(corrupt)? {
            for record in pax {
                let record = record.map_err(corrupt)?;
                let Ok(key) = record.key() else { continue };
                if key == "mtime" {
                    if let Some(parsed) = record.value().ok().and_then(parse_pax_time) {
                        mtime = parsed;
                    }
                } else if let Some(name) = key.strip_prefix(PAX_XATTR) {
                    if RESERVED_XATTRS.iter().any(|prefix| name.starts_with(prefix)) {
                        tracing::warn!(entry = %path.display(), xattr = name, "ignoring reserved overlay xattr");
                        continue;
                    }
                    xattrs.push((name.to_string(), record.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta { mode, uid, gid, mtime, xattrs })
    }

    /// The metadata of an existing node: `stat` is its stat, `fd` an ordinary open fd for its xattrs.
    /// Overlay's own xattrs stay behind, as they do when read from an archive.
    pub(crate) fn of_node(fd: BorrowedFd<'_>, stat: &Stat, path: &Path) -> io::Result<Meta> {
        let mut names = vec![0u8; rustix::fs::flistxattr_query(fd)?];
        let len = rustix::fs::flistxattr(fd, &mut names[..])?;
        let mut xattrs = Vec::new();
        for name in names[..len].split(|&b| b == 0).filter(|name| !name.is_empty()) {
            let Ok(name) = std::str::from_utf8(name) else {
                tracing::warn!(node = %path.display(), "skipping an xattr whose name is not UTF-8");
                continue;
            };
            if RESERVED_XATTRS.iter().any(|prefix| name.starts_with(prefix)) {
                continue;
            }
            let mut value = vec![0u8; rustix::fs::fgetxattr_query(fd, name)?];
            let len = rustix::fs::fgetxattr(fd, name, &mut value[..])?;
            value.truncate(len);
            xattrs.push((name.to_string(), value));
        }
        Ok(Meta {
            mode: stat.st_mode & 0o7777,
            uid: stat.st_uid.into(),
            gid: stat.st_gid.into(),
            mtime: Timespec { tv_sec: stat.st_mtime, tv_nsec: stat.st_mtime_nsec as _ },
            xattrs,
        })
    }
}

/// Parses a PAX time such as `1700000000.123456789`; negative times are clamped to the epoch.
fn parse_pax_time(value: &str) -> Option<Timespec> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    if secs < 0 {
        return Some(Timespec { tv_sec: 0, tv_nsec: 0 });
    }
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    Some(Timespec { tv_sec: secs, tv_nsec: nanos })
}

/// How a created node is reached for metadata updates.
pub(crate) enum Node<'a> {
    /// A regular file or directory opened for real: every `f*` call works on it.
    Open(BorrowedFd<'a>),
    /// A symlink, device or fifo, held by an `O_PATH | O_NOFOLLOW` fd, with its parent and name.
    Special { parent: BorrowedFd<'a>, name: &'a OsStr, fd: OwnedFd, symlink: bool },
}

impl<'a> Node<'a> {
    pub(crate) fn special(parent: BorrowedFd<'a>, name: &'a OsStr, symlink: bool) -> io::Result<Node<'a>> {
        let fd = rustix::fs::openat(parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Node::Special { parent, name, fd, symlink })
    }

    fn proc_path(fd: &OwnedFd) -> String {
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    }

    pub(crate) fn chown(&self, uid: u64, gid: u64) -> io::Result<()> {
        let (uid, gid) = ids(uid, gid)?;
        match self {
            Node::Open(fd) => rustix::fs::fchown(fd, Some(uid), Some(gid))?,
            Node::Special { fd, .. } => rustix::fs::chownat(fd, "", Some(uid), Some(gid), AtFlags::EMPTY_PATH)?,
        }
        Ok(())
    }

    /// Sets the permission bits; symlinks have none of their own and are left alone.
    pub(crate) fn chmod(&self, mode: u32) -> io::Result<()> {
        let mode = Mode::from_raw_mode(mode);
        match self {
            Node::Open(fd) => rustix::fs::fchmod(fd, mode)?,
            Node::Special { symlink: true, .. } => {}
            Node::Special { fd, .. } => rustix::fs::chmod(Self::proc_path(fd), mode)?,
        }
        Ok(())
    }

    pub(crate) fn set_xattr(&self, name: &str, value: &[u8]) -> io::Result<()> {
        match self {
            Node::Open(fd) => rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty())?,
            Node::Special { fd, .. } => rustix::fs::setxattr(Self::proc_path(fd), name, value, XattrFlags::empty())?,
        }
        Ok(())
    }

    pub(crate) fn set_mtime(&self, mtime: Timespec) -> io::Result<()> {
        let times = Timestamps { last_access: mtime, last_modification: mtime };
        match self {
            Node::Open(fd) => rustix::fs::futimens(fd, &times)?,
            Node::Special { parent, name, .. } => {
                rustix::fs::utimensat(parent, *name, &times, AtFlags::SYMLINK_NOFOLLOW)?
            }
        }
        Ok(())
    }
}

fn ids(uid: u64, gid: u64) -> io::Result<(Uid, Gid)> {
    let uid = u32::try_from(uid).ok().filter(|&id| id != u32::MAX);
    let gid = u32::try_from(gid).ok().filter(|&id| id != u32::MAX);
    match (uid, gid) {
        // -1 is filtered out above: it means "leave unchanged" to chown.
        (Some(uid), Some(gid)) => Ok((Uid::from_raw(uid), Gid::from_raw(gid))),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "uid or gid out of range")),
    }
}

/// Applies owner, mode and xattrs to `node` as [`Meta`] and the options ask; `path` names it in errors.
/// Xattrs the filesystem or our privileges cannot hold are skipped with a warning, unless we are root.
pub(crate) fn apply_owner_mode_xattrs(
    node: &Node<'_>,
    meta: &Meta,
    path: &Path,
    preserve_owners: bool,
    set_mode: bool,
) -> Result<(), LayerError> {
    if preserve_owners {
        node.chown(meta.uid, meta.gid).map_err(LayerError::io(path, "chown"))?;
    }
    if set_mode {
        node.chmod(meta.mode).map_err(LayerError::io(path, "chmod"))?;
    }
    let privileged = rustix::process::geteuid().is_root();
    for (name, value) in &meta.xattrs {
        match node.set_xattr(name, value) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error()) || !privileged => {
                tracing::warn!(entry = %path.display(), xattr = %name, error = %e, "xattr not set");
            }
            Err(source) => return Err(LayerError::Io { path: path.to_path_buf(), op: "setxattr", source }),
        }
    }
    Ok(())
}
