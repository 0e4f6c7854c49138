//! File access inside an image rootfs that cannot escape it: every lookup goes through
//! openat2(RESOLVE_IN_ROOT), so a symlink such as `/etc -> /host/etc` in an image resolves inside the rootfs.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, mkdirat, openat2};

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?)
}

fn open_in(root: &OwnedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    Ok(openat2(root, rel, flags | OFlags::CLOEXEC, Mode::empty(), ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS)?)
}

/// Reads a small text file at `path` inside `root`; `None` when it does not exist.
pub(crate) fn read_to_string(root: &Path, path: &str) -> io::Result<Option<String>> {
    let dir = open_root(root)?;
    match open_in(&dir, path, OFlags::RDONLY) {
        Ok(fd) => {
            let mut text = String::new();
            File::from(fd).take(16 * 1024 * 1024).read_to_string(&mut text)?;
            Ok(Some(text))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Creates directory `path` and its missing parents inside `root` (mode 0755), like `mkdir -p`.
pub(crate) fn create_dir_all(root: &Path, path: &str) -> io::Result<()> {
    let dir = open_root(root)?;
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = if prefix.is_empty() { ".".to_string() } else { prefix.clone() };
        prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
        match open_in(&dir, &prefix, OFlags::DIRECTORY | OFlags::PATH) {
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let parent_fd = open_in(&dir, &parent, OFlags::DIRECTORY | OFlags::PATH)?;
                match mkdirat(&parent_fd, part, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    Err(err) if err == rustix::io::Errno::EXIST => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(host.path().join("secret"), root.path().join("escape")).unwrap();

        assert!(read_to_string(root.path(), "/etc/passwd").unwrap().unwrap().starts_with("root:"));
        assert_eq!(read_to_string(root.path(), "/escape").unwrap(), None);
        assert_eq!(read_to_string(root.path(), "/missing").unwrap(), None);
    }

    #[test]
    fn mkdir_follows_links_only_inside() {
        let host = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        // An absolute link to a host directory: resolved in the rootfs, where it does not exist.
        std::os::unix::fs::symlink(host.path(), root.path().join("escape")).unwrap();
        let _ = create_dir_all(root.path(), "/escape/a/b");
        assert!(!host.path().join("a").exists(), "mkdir went through a symlink onto the host");

        std::fs::create_dir(root.path().join("data")).unwrap();
        std::os::unix::fs::symlink("/data", root.path().join("work")).unwrap();
        create_dir_all(root.path(), "/work/a/b").unwrap();
        assert!(root.path().join("data/a/b").is_dir());
        create_dir_all(root.path(), "/app/./x").unwrap();
        assert!(root.path().join("app/x").is_dir());
    }
}
