//! Seeding: a volume that is empty the first time a container mounts it gets the image's content at the
//! mount path (ownership, modes, xattrs, symlinks, hardlinks and special files kept), as Docker does.
//! Runs in the monitor after the overlay rootfs is mounted and before the container runs, once per volume.

use std::collections::HashMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode};

use super::VolumeError;
use super::mounts::MountKind;
use super::records;
use super::setup::resolve_target;
use crate::container::ContainerRecord;
use crate::store::Store;

/// Copies the image's content into each of the container's volumes that was never seeded and is empty.
pub(crate) fn seed_volumes(store: &Store, rec: &ContainerRecord, rootfs: &Path) -> Result<(), VolumeError> {
    for m in rec.options.mounts.iter().filter(|m| m.kind == MountKind::Volume && !m.no_copy) {
        // Two containers starting on one fresh volume: one seeds, the other then sees it seeded.
        let _lock = crate::store::lock::exclusive(&store.lock_path(&format!("volume-{}", m.source)))?;
        let volume = records::find(store, &m.source)?;
        if volume.seeded {
            continue;
        }
        let data = &volume.mountpoint;
        let empty = std::fs::read_dir(data).map_err(VolumeError::io("read", data.clone()))?.next().is_none();
        if !empty {
            records::mark_seeded(store, &volume.name)?;
            continue;
        }
        let resolved = resolve_target(rootfs, &m.clean_target())
            .map_err(|_| VolumeError::Escapes { id: rec.id.clone(), target: m.target.clone() })?;
        let Some(inside) = resolved else { continue };
        let source = rootfs.join(inside.trim_start_matches('/'));
        if !source.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let copy =
            |e: io::Error| VolumeError::Copy { id: rec.id.clone(), path: m.target.clone(), reason: e.to_string() };
        copy_tree(&source, data, &mut HashMap::new()).map_err(copy)?;
        copy_metadata(&source, data).map_err(copy)?;
        records::mark_seeded(store, &volume.name)?;
    }
    Ok(())
}

/// Copies the entries of directory `src` into the existing directory `dst`, never following symlinks.
/// `links` maps (device, inode) of multiply linked files to their first copy, so hardlinks stay links.
fn copy_tree(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = from.symlink_metadata()?;
        let kind = meta.file_type();
        if kind.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to, links)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if meta.nlink() > 1
            && let Some(first) = links.get(&(meta.dev(), meta.ino()))
        {
            std::fs::hard_link(first, &to)?;
            continue;
        } else if kind.is_file() {
            std::fs::copy(&from, &to)?;
            if meta.nlink() > 1 {
                links.insert((meta.dev(), meta.ino()), to.clone());
            }
        } else {
            let file_type = FileType::from_raw_mode(meta.mode());
            rustix::fs::mknodat(CWD, &to, file_type, Mode::from_raw_mode(meta.mode() & 0o7777), meta.rdev())?;
        }
        copy_metadata(&from, &to)?;
    }
    Ok(())
}

/// Owner, permission bits (not on symlinks, which have none) and extended attributes of `from` onto `to`.
fn copy_metadata(from: &Path, to: &Path) -> io::Result<()> {
    let meta = from.symlink_metadata()?;
    rustix::fs::chownat(
        CWD,
        to,
        Some(rustix::fs::Uid::from_raw(meta.uid())),
        Some(rustix::fs::Gid::from_raw(meta.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    copy_xattrs(from, to)
}

fn copy_xattrs(from: &Path, to: &Path) -> io::Result<()> {
    let mut names = vec![0u8; 64 * 1024];
    let len = match rustix::fs::llistxattr(from, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::OsStr::from_bytes(name);
        // Overlay's own attributes describe the lower layers, not the file.
        if name.to_string_lossy().starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 64 * 1024];
        let n = rustix::fs::lgetxattr(from, name, &mut value)?;
        rustix::fs::lsetxattr(to, name, &value[..n], rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_copy_with_links_and_modes() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("sub/a"), "A").unwrap();
        std::fs::set_permissions(src.path().join("sub/a"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::hard_link(src.path().join("sub/a"), src.path().join("b")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("link")).unwrap();
        copy_tree(src.path(), dst.path(), &mut HashMap::new()).unwrap();
        assert_eq!(std::fs::read_to_string(dst.path().join("sub/a")).unwrap(), "A");
        assert_eq!(dst.path().join("sub/a").metadata().unwrap().mode() & 0o777, 0o640);
        let (a, b) = (dst.path().join("sub/a").metadata().unwrap(), dst.path().join("b").metadata().unwrap());
        assert_eq!(a.ino(), b.ino(), "hardlinks must stay linked");
        assert_eq!(std::fs::read_link(dst.path().join("link")).unwrap(), Path::new("/etc/passwd"));
    }
}
