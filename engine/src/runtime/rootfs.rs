//! A container's root filesystem: an overlay of the image's shared layer directories (read-only lower
//! dirs) with a per-container upper and work dir under `ROOT/containers/<id>/`.

use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};

use super::RuntimeError;

/// The overlay directories of one container.
#[derive(Debug, Clone)]
pub struct Rootfs {
    pub merged: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl Rootfs {
    /// The layout inside a container's directory.
    pub fn in_dir(container_dir: &Path) -> Rootfs {
        Rootfs {
            merged: container_dir.join("rootfs"),
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
        }
    }

    /// Mounts the overlay at `merged`. `layers` are bottom-most first, as the store lists them;
    /// overlayfs wants the top-most lower dir first.
    pub fn mount(&self, id: &str, layers: &[PathBuf]) -> Result<(), RuntimeError> {
        if layers.is_empty() {
            return Err(RuntimeError::NoLayers { id: id.to_string() });
        }
        for dir in [&self.merged, &self.upper, &self.work] {
            std::fs::create_dir_all(dir).map_err(|err| RuntimeError::io("create", dir.clone(), err))?;
        }
        let data = std::ffi::CString::new(self.mount_data(layers))
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), std::io::Error::other(err)))?;
        mount("overlay", &self.merged, "overlay", MountFlags::NODEV, Some(data.as_c_str()))
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), err.into()))
    }

    pub(crate) fn mount_data(&self, layers: &[PathBuf]) -> String {
        let lower: Vec<String> = layers.iter().rev().map(|p| escape(p)).collect();
        format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), escape(&self.upper), escape(&self.work))
    }

    /// Detaches the overlay; a rootfs that is not mounted is fine.
    pub fn unmount(&self) -> Result<(), RuntimeError> {
        match unmount(&self.merged, UnmountFlags::DETACH) {
            Ok(()) => Ok(()),
            Err(err) if err == rustix::io::Errno::INVAL || err == rustix::io::Errno::NOENT => Ok(()),
            Err(err) => Err(RuntimeError::io("unmount", self.merged.clone(), err.into())),
        }
    }
}

/// Overlay option values separate with `,` and `:`; escape them so odd paths cannot inject options.
pub(crate) fn escape(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `path` is a mount point in this process's mount namespace (from /proc/self/mountinfo).
    fn is_mounted(path: &Path) -> bool {
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let unescape =
            |f: &str| f.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
        let wanted = path.to_string_lossy();
        info.lines().any(|line| line.split(' ').nth(4).is_some_and(|mp| unescape(mp) == wanted))
    }

    #[test]
    fn lower_dirs_are_top_most_first_and_escaped() {
        let rootfs = Rootfs::in_dir(Path::new("/r/containers/abc"));
        let data = rootfs.mount_data(&[PathBuf::from("/r/layers/base"), PathBuf::from("/r/layers/t,op:x")]);
        assert_eq!(
            data,
            "lowerdir=/r/layers/t\\,op\\:x:/r/layers/base,upperdir=/r/containers/abc/upper,workdir=/r/containers/abc/work"
        );
    }

    #[test]
    fn no_layers_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rootfs::in_dir(dir.path()).mount("abc", &[]).unwrap_err();
        assert!(matches!(err, RuntimeError::NoLayers { id } if id == "abc"));
    }

    #[test]
    fn unmounting_a_plain_dir_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = Rootfs::in_dir(dir.path());
        std::fs::create_dir_all(&rootfs.merged).unwrap();
        rootfs.unmount().unwrap();
        assert!(!is_mounted(&rootfs.merged));
        assert!(is_mounted(Path::new("/")));
    }
}
