//! Mounting layer images: each as a detached mount (attached at no path) that lives as long as its fd
//! or anything stacked on it, so a container's overlay holds its layers' mounts and they go with it —
//! nothing to count, and nothing left mounted after a crash.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_string, fsmount, fsopen};

use super::tree::Tree;
use crate::layer::LayerError;

/// Mounts the EROFS image at `image` read-only, nosuid and nodev, detached; returns the mount's fd.
pub fn mount_image(image: &Path) -> io::Result<OwnedFd> {
    let fs = fsopen("erofs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_set_string(&fs, "source", image)?;
    fsconfig_create(&fs)?;
    let attrs =
        MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV;
    Ok(fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

/// Whether this kernel mounts file-backed EROFS images (and overlay takes layers by fd): writes an empty
/// image into `dir` (an existing directory) and mounts it detached.
pub fn probe(dir: &Path) -> io::Result<bool> {
    // Named as work files are, so a crash leftover is cleaned with them.
    let path = dir.join(format!("probe-{}-erofs", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
        let tree = Tree::new(0, 0, rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 });
        super::writer::write_image(&tree, &mut file, 1)?;
        drop(file);
        Ok(mount_image(&path).is_ok())
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// The path under which a detached mount's root is reachable by this process (for overlay's
/// `lowerdir+` and for reading a lower layer's metadata).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A stack of lower layers as directories: unpacked layers as they are, images mounted (detached) for as
/// long as this lives. Dropping it unmounts each image, and each unmount waits out an RCU grace period
/// (about half a millisecond here), so whoever is in a hurry drops it later.
#[derive(Debug, Default)]
pub struct MountedLowers {
    _mounts: Vec<OwnedFd>,
    paths: Vec<PathBuf>,
}

impl MountedLowers {
    /// Mounts each image of `layers` (an image is a regular file, a directory is used as it is).
    pub fn mount(layers: &[PathBuf]) -> Result<MountedLowers, LayerError> {
        let mut mounts = Vec::new();
        let mut paths = Vec::with_capacity(layers.len());
        for layer in layers {
            if layer.is_file() {
                let fd = mount_image(layer).map_err(LayerError::io(layer, "mount lower layer image"))?;
                paths.push(fd_path(&fd).join("."));
                mounts.push(fd);
            } else {
                paths.push(layer.clone());
            }
        }
        Ok(MountedLowers { _mounts: mounts, paths })
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}
