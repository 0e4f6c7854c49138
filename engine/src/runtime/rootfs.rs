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
use crate::layer::erofs::MountedLowers;

/// Whether an overlay's upper dir must be on disk for sure once it is unmounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upper {
    /// A container's writable layer, which outlives the run: unmounting syncs it (overlay syncs the whole
    /// filesystem the upper lives on, which on a busy host can take hundreds of ms).
    Synced,
    /// An upper nothing needs after a host crash: a `--rm` container's, a build step's (a crash abandons
    /// the build), a stage bound for a step. Mounted `volatile`, so unmounting never waits for that sync.
    Volatile,
}

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
    /// overlayfs wants the top-most lower dir first. Returns the layer images' own mounts: the overlay holds
    /// on to them by itself, but dropping them unmounts them, a grace period each, better paid once the
    /// overlay is no longer needed in a hurry.
    pub fn mount(&self, id: &str, layers: &[PathBuf], upper: Upper) -> Result<MountedLowers, RuntimeError> {
        if layers.is_empty() {
            return Err(RuntimeError::NoLayers { id: id.to_string() });
        }
        for dir in [&self.merged, &self.upper, &self.work] {
            std::fs::create_dir_all(dir).map_err(|err| RuntimeError::io("create", dir.clone(), err))?;
        }
        if upper == Upper::Volatile {
            // A volatile mount leaves `work/incompat/volatile` in the work dir, which overlay wants gone
            // before the same upper is mounted again (after a clean unmount, as here, the upper is whole).
            let incompat = self.work.join("work/incompat");
            match std::fs::remove_dir_all(&incompat) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io("remove", incompat, err));
                }
                _ => {}
            }
        }
        if layers.iter().any(|layer| layer.is_file()) {
            return self.mount_images(layers, upper);
        }
        let data = std::ffi::CString::new(self.mount_data(layers, upper))
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), std::io::Error::other(err)))?;
        mount("overlay", &self.merged, "overlay", MountFlags::NODEV, Some(data.as_c_str()))
            .map_err(|err| RuntimeError::io("mount overlay at", self.merged.clone(), err.into()))?;
        Ok(MountedLowers::default())
    }

    /// Mounts the overlay with the new mount API, each layer given on its own (`lowerdir+`, top-most
    /// first): the images' detached mounts are named through this process's fds, which the overlay
    /// holds on to once created, so no layer mount is attached anywhere or outlives the overlay.
    fn mount_images(&self, layers: &[PathBuf], upper: Upper) -> Result<MountedLowers, RuntimeError> {
        let fail = |err: std::io::Error| RuntimeError::io("mount overlay at", self.merged.clone(), err);
        let top_first: Vec<PathBuf> = layers.iter().rev().cloned().collect();
        let lowers = MountedLowers::mount(&top_first).map_err(|err| fail(std::io::Error::other(err.to_string())))?;
        let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| fail(e.into()))?;
        for lower in lowers.paths() {
            fsconfig_set_string(&fs, "lowerdir+", lower).map_err(|e| fail(e.into()))?;
        }
        fsconfig_set_string(&fs, "upperdir", &self.upper).map_err(|e| fail(e.into()))?;
        fsconfig_set_string(&fs, "workdir", &self.work).map_err(|e| fail(e.into()))?;
        if upper == Upper::Volatile {
            fsconfig_set_flag(&fs, "volatile").map_err(|e| fail(e.into()))?;
        }
        fsconfig_create(&fs).map_err(|e| fail(e.into()))?;
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::MOUNT_ATTR_NODEV)
            .map_err(|e| fail(e.into()))?;
        move_mount(&mnt, "", CWD, &self.merged, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH).map_err(|e| fail(e.into()))?;
        Ok(lowers)
    }

    pub(crate) fn mount_data(&self, layers: &[PathBuf], upper: Upper) -> String {
        let lower: Vec<String> = layers.iter().rev().map(|p| escape(p)).collect();
        let volatile = if upper == Upper::Volatile { ",volatile" } else { "" };
        format!(
            "lowerdir={},upperdir={},workdir={}{volatile}",
            lower.join(":"),
            escape(&self.upper),
            escape(&self.work)
        )
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
        let layers = [PathBuf::from("/r/layers/base"), PathBuf::from("/r/layers/t,op:x")];
        let data = rootfs.mount_data(&layers, Upper::Synced);
        assert_eq!(
            data,
            "lowerdir=/r/layers/t\\,op\\:x:/r/layers/base,upperdir=/r/containers/abc/upper,workdir=/r/containers/abc/work"
        );
        assert_eq!(rootfs.mount_data(&layers, Upper::Volatile), format!("{data},volatile"));
    }

    #[test]
    fn a_volatile_upper_mounts_again_after_its_unmount() {
        if !crate::testing::require_root("a_volatile_upper_mounts_again_after_its_unmount") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        std::fs::create_dir(&lower).unwrap();
        std::fs::write(lower.join("base"), b"base").unwrap();
        let rootfs = Rootfs::in_dir(&dir.path().join("ctr"));
        for round in 0..2 {
            rootfs
                .mount("abc", std::slice::from_ref(&lower), Upper::Volatile)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let merged = rootfs.merged.to_string_lossy().into_owned();
            let line = info.lines().find(|l| l.split(' ').nth(4) == Some(merged.as_str())).expect("the overlay");
            assert!(line.contains("volatile"), "{line}");
            std::fs::write(rootfs.merged.join(format!("new{round}")), b"x").unwrap();
            rootfs.unmount().unwrap();
        }
        assert!(rootfs.upper.join("new0").is_file() && rootfs.upper.join("new1").is_file());
    }

    #[test]
    fn no_layers_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rootfs::in_dir(dir.path()).mount("abc", &[], Upper::Synced).unwrap_err();
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
        rootfs.mount("abc", &layers, Upper::Synced).unwrap();
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
