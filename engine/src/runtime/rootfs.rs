//! A container's root filesystem: an overlay of the image's shared layers (read-only lower dirs, or EROFS
//! images mounted detached for this overlay alone, which holds them until it is unmounted) with a
//! per-container upper and work dir under `ROOT/containers/<id>/`.

use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, mount, move_mount, unmount,
};

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
        self.mount_with(id, layers, false)
    }

    /// Mounts the overlay of a container whose writes are deleted with it (`run --rm`) as `volatile`:
    /// overlayfs then skips syncing the upper dir's filesystem, which its unmount otherwise does for the
    /// whole host filesystem holding the state root (tens of ms, more on a busy disk) on the way to the
    /// container's removal.
    pub fn mount_discardable(&self, id: &str, layers: &[PathBuf]) -> Result<(), RuntimeError> {
        // Left by an earlier volatile mount of this same upper (a start that failed): overlayfs refuses the
        // dirs until it is gone.
        let _ = std::fs::remove_dir(self.work.join("work").join("incompat").join("volatile"));
        self.mount_with(id, layers, true)
    }

    fn mount_with(&self, id: &str, layers: &[PathBuf], volatile: bool) -> Result<(), RuntimeError> {
        if layers.is_empty() {
            return Err(RuntimeError::NoLayers { id: id.to_string() });
        }
        for dir in [&self.merged, &self.upper, &self.work] {
            std::fs::create_dir_all(dir).map_err(|err| RuntimeError::io("create", dir.clone(), err))?;
        }
        if layers.iter().any(|layer| layer.is_file()) {
            return self.mount_images(layers, volatile);
        }
        let mut data = self.mount_data(layers);
        if volatile {
            data.push_str(",volatile");
        }
        let data = std::ffi::CString::new(data)
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), std::io::Error::other(err)))?;
        mount("overlay", &self.merged, "overlay", MountFlags::NODEV, Some(data.as_c_str()))
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), err.into()))
    }

    /// Mounts the overlay with the new mount API, each layer given on its own (`lowerdir+`, top-most
    /// first): the images' detached mounts are named through this process's fds, which the overlay
    /// holds on to once created, so no layer mount is attached anywhere or outlives the overlay.
    fn mount_images(&self, layers: &[PathBuf], volatile: bool) -> Result<(), RuntimeError> {
        let fail = |err: std::io::Error| RuntimeError::io("mount overlay at", self.merged.clone(), err);
        let top_first: Vec<PathBuf> = layers.iter().rev().cloned().collect();
        let lowers = crate::layer::erofs::MountedLowers::mount(&top_first)
            .map_err(|err| fail(std::io::Error::other(err.to_string())))?;
        let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| fail(e.into()))?;
        for lower in lowers.paths() {
            fsconfig_set_string(&fs, "lowerdir+", lower).map_err(|e| fail(e.into()))?;
        }
        fsconfig_set_string(&fs, "upperdir", &self.upper).map_err(|e| fail(e.into()))?;
        fsconfig_set_string(&fs, "workdir", &self.work).map_err(|e| fail(e.into()))?;
        if volatile {
            fsconfig_set_flag(&fs, "volatile").map_err(|e| fail(e.into()))?;
        }
        fsconfig_create(&fs).map_err(|e| fail(e.into()))?;
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::MOUNT_ATTR_NODEV)
            .map_err(|e| fail(e.into()))?;
        move_mount(&mnt, "", CWD, &self.merged, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH).map_err(|e| fail(e.into()))
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

    /// A one-entry-per-line layer tar: `path` regular files with their own name as content.
    fn tar_of(files: &[&str]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for path in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(path.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, path, path.as_bytes()).expect("append");
        }
        builder.into_inner().expect("finish tar")
    }

    #[test]
    fn overlay_stacks_layer_images_and_leaves_no_layer_mount() {
        if !crate::testing::require_root("overlay_stacks_layer_images_and_leaves_no_layer_mount") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::layer::UnpackOptions { max_bytes: 1 << 20, preserve_owners: true };
        let mut layers = Vec::new();
        for (name, files) in [("base.erofs", &["a", "keep"][..]), ("top.erofs", &[".wh.a", "b"][..])] {
            let path = dir.path().join(name);
            let tar = tar_of(files);
            let (_, pending) =
                crate::layer::erofs::unpack_image(tar.as_slice(), crate::layer::Compression::None, &path, &opts)
                    .unwrap();
            pending.write().unwrap();
            layers.push(path);
        }
        let rootfs = Rootfs::in_dir(&dir.path().join("ctr"));
        rootfs.mount("abc", &layers).unwrap();
        let merged = &rootfs.merged;
        let seen =
            (merged.join("a").exists(), std::fs::read(merged.join("keep")).ok(), std::fs::read(merged.join("b")).ok());
        std::fs::write(merged.join("new"), b"upper").unwrap();
        rootfs.unmount().unwrap();
        assert_eq!(seen, (false, Some(b"keep".to_vec()), Some(b"b".to_vec())), "whiteout hides, layers stack");
        assert!(rootfs.upper.join("new").is_file(), "writes go to the upper dir");
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        assert!(!info.lines().any(|l| l.contains(&root)), "a mount under the test dir is left:\n{info}");
    }
}
