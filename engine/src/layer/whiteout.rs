//! OCI whiteouts translated to overlayfs form.
//!
//! `.wh.NAME` hides NAME of lower layers: overlay spells that as a 0:0 character device. `.wh..wh..opq`
//! hides a directory's lower contents: overlay spells that as the `overlay.opaque` xattr. Other `.wh..wh.`
//! names are aufs bookkeeping (such as `.wh..wh.plnk`) and are dropped with everything below them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, Stat, XattrFlags};

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Whiteout<'a> {
    /// An ordinary entry.
    None,
    /// The parent directory is opaque.
    Opaque,
    /// Hides this sibling name.
    Hide(&'a OsStr),
}

/// What the final component `name` of an entry means.
pub(crate) fn classify(name: &OsStr) -> Whiteout<'_> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE {
        Whiteout::Opaque
    } else if let Some(hidden) = bytes.strip_prefix(PREFIX) {
        Whiteout::Hide(OsStr::from_bytes(hidden))
    } else {
        Whiteout::None
    }
}

/// True when any component of `path` is aufs metadata (`.wh..wh.*` other than the opaque marker itself).
pub(crate) fn is_aufs_meta(path: &Path) -> bool {
    path.iter().any(|c| c.as_bytes().starts_with(META_PREFIX) && c.as_bytes() != OPAQUE)
}

/// The xattr overlay reads for opaque directories: `trusted.` needs CAP_SYS_ADMIN, so an unprivileged
/// unpack writes the `user.` form that overlay reads when mounted with `userxattr`.
pub(crate) fn opaque_xattr() -> &'static str {
    if rustix::process::geteuid().is_root() { "trusted.overlay.opaque" } else { "user.overlay.opaque" }
}

/// Marks the directory `dir` (any fd for it, `O_PATH` included) opaque.
pub(crate) fn mark_opaque(dir: BorrowedFd<'_>) -> io::Result<()> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::fs::fsetxattr(fd.as_fd(), opaque_xattr(), b"y", XattrFlags::empty())?;
    Ok(())
}

/// Creates the overlay whiteout for `name` in `parent`.
pub(crate) fn create(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    rustix::fs::mknodat(parent, name, FileType::CharacterDevice, Mode::empty(), rustix::fs::makedev(0, 0))?;
    Ok(())
}

/// True when `stat` describes an overlay whiteout.
pub(crate) fn is_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

/// True when the directory `dir` carries the opaque xattr.
pub(crate) fn is_opaque(dir: BorrowedFd<'_>) -> io::Result<bool> {
    let fd = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut value = [0u8; 8];
    match rustix::fs::fgetxattr(fd.as_fd(), opaque_xattr(), &mut value[..]) {
        Ok(n) => Ok(value[..n] == *b"y"),
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::RANGE) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify(OsStr::new("file")), Whiteout::None);
        assert_eq!(classify(OsStr::new(".wh.file")), Whiteout::Hide(OsStr::new("file")));
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), Whiteout::Opaque);
        assert_eq!(classify(OsStr::new(".whfile")), Whiteout::None);
        assert!(is_aufs_meta(Path::new("a/.wh..wh.plnk/123.4")));
        assert!(!is_aufs_meta(Path::new("a/.wh..wh..opq")));
        assert!(!is_aufs_meta(Path::new("a/.wh.b")));
    }
}
