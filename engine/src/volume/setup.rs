//! A container's mounts as OCI spec entries, each destination resolved inside the rootfs first.
//!
//! Docker resolves a mount destination with symlinks followed *inside* the container's root
//! (FollowSymlinkInScope); here openat2(RESOLVE_IN_ROOT) does it, so an image symlink such as
//! `/data -> /etc` or `-> /host/dir` makes the mount land on the rootfs's own `/etc`, never on the host's.
//! libcontainer then joins rootfs and a destination that holds no symlink. Nothing in the container runs
//! yet, so nothing can swap a component in between.

use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder};
use rustix::fs::{Mode, OFlags};

use super::VolumeError;
use super::mounts::{MountKind, MountSpec};
use crate::container::ContainerRecord;
use crate::inroot::Root;

/// Where `target` really is inside `rootfs` (symlinks followed in the root), as an absolute in-container
/// path; `None` when it does not exist.
pub(crate) fn resolve_target(rootfs: &Path, target: &str) -> std::io::Result<Option<String>> {
    let Some(fd) = Root::open(rootfs)?.lookup(target, OFlags::PATH)? else { return Ok(None) };
    inside(&fd, &std::fs::canonicalize(rootfs)?).map(Some)
}

/// How many symlinks one mount destination may pass through, as the kernel's limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// `mkdir -p` of `dir` inside `rootfs`, following symlinks inside the root, dangling ones included: an
/// image link `/data -> /srv/data` whose target is missing makes `/srv/data` (Docker's
/// FollowSymlinkInScope then MkdirAll), and `/data -> /host/dir` makes `/host/dir` inside the rootfs.
fn create_dir_all_in_root(rootfs: &Path, dir: &str) -> std::io::Result<()> {
    let root = Root::open(rootfs)?;
    let root_real = std::fs::canonicalize(rootfs)?;
    let mut pending = super::mounts::clean_path(dir);
    for _ in 0..MAX_SYMLINK_HOPS {
        match create_step(&root, &root_real, &pending)? {
            None => return Ok(()),
            Some(next) => pending = next,
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

/// Creates the missing components of `path`; at a dangling symlink returns the path to continue with.
fn create_step(root: &Root, root_real: &Path, path: &str) -> std::io::Result<Option<String>> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut prefix = String::from("/");
    for (i, part) in parts.iter().enumerate() {
        let next = format!("{}/{part}", prefix.trim_end_matches('/'));
        match root.open_dir(&next) {
            Ok(_) => {
                prefix = next;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let parent = root.open_dir(&prefix)?;
        match rustix::fs::statat(&parent, *part, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink => {
                let link = rustix::fs::readlinkat(&parent, *part, Vec::new())?;
                let link = link.to_string_lossy();
                let base = if link.starts_with('/') {
                    link.into_owned()
                } else {
                    format!("{}/{link}", inside(&parent, root_real)?)
                };
                return Ok(Some(super::mounts::clean_path(&format!("{base}/{}", parts[i + 1..].join("/")))));
            }
            Ok(_) => return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
            Err(rustix::io::Errno::NOENT) => match rustix::fs::mkdirat(&parent, *part, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => prefix = next,
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The in-container path of an fd opened inside the rootfs whose real path is `root_real`.
fn inside(fd: &OwnedFd, root_real: &Path) -> std::io::Result<String> {
    let real = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd)))?;
    match real.strip_prefix(root_real) {
        Ok(rel) => Ok(format!("/{}", rel.to_string_lossy())),
        Err(_) => Err(std::io::Error::other(format!("{} is outside {}", real.display(), root_real.display()))),
    }
}

/// Makes `target` exist inside the rootfs: a directory, or an empty file for a bind of a file.
fn create_target(rootfs: &Path, target: &str, file: bool) -> std::io::Result<()> {
    let parent = if file { Path::new(target).parent().map(|p| p.to_string_lossy().into_owned()) } else { None };
    let dir = if file { parent.clone().unwrap_or_else(|| "/".into()) } else { target.to_string() };
    create_dir_all_in_root(rootfs, &dir)?;
    if file {
        let parent_fd = Root::open(rootfs)?.open_dir(&dir)?;
        let name = Path::new(target).file_name().ok_or_else(|| std::io::Error::other("no file name"))?;
        match rustix::fs::openat(
            &parent_fd,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(_) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The OCI mounts of the container's volumes, binds and tmpfs, destinations resolved inside `rootfs`.
/// Shallower destinations come first (as Docker orders them), so `/data` is mounted before `/data/logs`.
pub(crate) fn oci_mounts(root: &Path, rec: &ContainerRecord, rootfs: &Path) -> Result<Vec<Mount>, VolumeError> {
    let mut ordered: Vec<&MountSpec> = rec.options.mounts.iter().collect();
    ordered.sort_by_key(|m| m.clean_target().matches('/').count());
    ordered.into_iter().map(|m| oci_mount(root, rec, rootfs, m)).collect()
}

fn oci_mount(root: &Path, rec: &ContainerRecord, rootfs: &Path, m: &MountSpec) -> Result<Mount, VolumeError> {
    let target = m.clean_target();
    let source = match m.kind {
        MountKind::Volume => super::volume_data_dir(root, &m.source),
        MountKind::Bind => Path::new(&m.source).to_path_buf(),
        MountKind::Tmpfs => Path::new("tmpfs").to_path_buf(),
    };
    if m.kind == MountKind::Bind && !source.exists() {
        return Err(VolumeError::BindSourceMissing { path: m.source.clone() });
    }
    if m.kind == MountKind::Volume {
        let event = crate::journal::volume_event("mount", &m.source)
            .attr("container", rec.id.clone())
            .attr("destination", target.clone())
            .attr("read/write", (!m.read_only).to_string())
            .attr("propagation", "");
        crate::journal::record(root, event);
    }
    let is_file = m.kind == MountKind::Bind && !source.is_dir();
    let in_rootfs = |e: std::io::Error| VolumeError::Io {
        action: "prepare mount point",
        path: rootfs.join(&target[1..]),
        source: e,
    };
    create_target(rootfs, &target, is_file).map_err(in_rootfs)?;
    let destination = resolve_target(rootfs, &target)
        .map_err(|_| VolumeError::Escapes { id: rec.id.clone(), target: target.clone() })?
        .ok_or_else(|| VolumeError::Escapes { id: rec.id.clone(), target: target.clone() })?;
    let mut options: Vec<String> = match m.kind {
        MountKind::Tmpfs => {
            let mut o = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            if let Some(size) = m.tmpfs_size {
                o.push(format!("size={size}"));
            }
            if let Some(mode) = m.tmpfs_mode {
                o.push(format!("mode={mode:o}"));
            }
            o
        }
        MountKind::Volume | MountKind::Bind => vec!["rbind".into(), "rprivate".into()],
    };
    options.push(if m.read_only { "ro" } else { "rw" }.into());
    let typ = if m.kind == MountKind::Tmpfs { "tmpfs" } else { "bind" };
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(|e| VolumeError::InvalidSpec { spec: m.target.clone(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_inside_the_rootfs() {
        let host = tempfile::tempdir().unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir(rootfs.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(host.path(), rootfs.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc", rootfs.path().join("conf")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", rootfs.path().join("up")).unwrap();
        assert_eq!(resolve_target(rootfs.path(), "/conf").unwrap().as_deref(), Some("/etc"));
        assert_eq!(resolve_target(rootfs.path(), "/up").unwrap().as_deref(), Some("/etc"));
        assert_eq!(resolve_target(rootfs.path(), "/escape").unwrap(), None);
        // The link dangles inside the rootfs: its target is made there, never on the host.
        create_target(rootfs.path(), "/escape/data", false).unwrap();
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0, "mkdir went through a link to the host");
        let inner = rootfs.path().join(host.path().strip_prefix("/").unwrap()).join("data");
        assert!(inner.is_dir(), "the link's target must be made inside the rootfs");
        let escape = format!("{}/data", host.path().display());
        assert_eq!(resolve_target(rootfs.path(), "/escape/data").unwrap(), Some(escape));
        std::os::unix::fs::symlink("../missing/deeper", rootfs.path().join("etc/rel")).unwrap();
        create_target(rootfs.path(), "/etc/rel/x", false).unwrap();
        assert!(rootfs.path().join("missing/deeper/x").is_dir());
        create_target(rootfs.path(), "/conf/app.ini", true).unwrap();
        assert!(rootfs.path().join("etc/app.ini").is_file());
    }

    #[test]
    fn mounts_become_oci_entries_parents_first() {
        let rootfs = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("app.ini"), "x").unwrap();
        std::os::unix::fs::symlink("/srv", rootfs.path().join("link")).unwrap();
        let bind = format!("{}:/link/app.ini:ro", host.path().join("app.ini").display());
        let options = crate::runtime::RunOptions {
            mounts: vec![
                MountSpec::parse_volume("logs:/data/logs").unwrap(),
                MountSpec::parse_volume("data:/data").unwrap(),
                MountSpec::parse_volume(&bind).unwrap(),
                MountSpec::parse_tmpfs("/scratch:size=1m").unwrap(),
            ],
            ..crate::runtime::RunOptions::default()
        };
        let rec =
            ContainerRecord::new("c".repeat(64), "c".into(), "i".into(), "img".into(), options, vec!["sh".into()]);
        let mounts = oci_mounts(Path::new("/r"), &rec, rootfs.path()).unwrap();
        let dests: Vec<_> = mounts.iter().map(|m| m.destination().to_string_lossy().into_owned()).collect();
        assert_eq!(dests, ["/data", "/scratch", "/data/logs", "/srv/app.ini"]);
        assert_eq!(mounts[0].source().as_deref(), Some(Path::new("/r/volumes/data/_data")));
        assert_eq!(mounts[0].options().as_ref().unwrap(), &["rbind", "rprivate", "rw"]);
        assert_eq!(mounts[1].typ().as_deref(), Some("tmpfs"));
        assert!(mounts[1].options().as_ref().unwrap().contains(&"size=1048576".to_string()));
        assert!(mounts[3].options().as_ref().unwrap().contains(&"ro".to_string()));
        assert!(rootfs.path().join("srv/app.ini").is_file(), "a file bind gets a file to mount on");
        let missing = MountSpec::parse_volume("/no/such/berth/source:/x").unwrap();
        let rec =
            ContainerRecord { options: crate::runtime::RunOptions { mounts: vec![missing], ..rec.options }, ..rec };
        assert!(matches!(oci_mounts(Path::new("/r"), &rec, rootfs.path()), Err(VolumeError::BindSourceMissing { .. })));
    }
}
