//! Spreading the directories berth makes and deletes by the thousand across the filesystem.
//!
//! ext4 gives a new file an inode in its parent directory's block group, and a new directory one near its
//! parent's; without a journal (as on this project's VMs and CI) its allocator also passes over every inode
//! the group freed in the last minutes (`recently_deleted`), so a group where containers, build steps and
//! pulls come and go makes every new file pay for that scan: 120-320 µs per file measured in a busy state
//! root's `containers/`, 20 µs in a quiet group, and a container makes some twenty inodes before it runs.
//! A directory marked as the top of a hierarchy (`chattr +T`, `FS_TOPDIR_FL`) has each of its new
//! subdirectories placed in a group of the allocator's choosing instead (Orlov's spreading, as for the
//! root's children), so one container's or layer's files no longer queue behind its predecessors' deletions.
//! A filesystem without the flag ignores it: it is only a placement hint.

use std::path::Path;

use rustix::fs::{IFlags, Mode, OFlags, ioctl_getflags, ioctl_setflags, open};

/// Marks `dir` so that its subdirectories are spread (see the module); a filesystem that has no such flag,
/// or refuses it, is left as it is.
pub(crate) fn spread_children(dir: &Path) {
    let Ok(fd) = open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) else {
        return;
    };
    let Ok(flags) = ioctl_getflags(&fd) else { return };
    if !flags.contains(IFlags::TOPDIR) {
        let _ = ioctl_setflags(&fd, flags | IFlags::TOPDIR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this filesystem keeps the flag at all (ext2/3/4 do; tmpfs and overlay do not).
    fn keeps_topdir(dir: &Path) -> bool {
        let probe = dir.join("probe");
        std::fs::create_dir(&probe).unwrap();
        spread_children(&probe);
        let fd = open(&probe, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        ioctl_getflags(&fd).is_ok_and(|f| f.contains(IFlags::TOPDIR))
    }

    #[test]
    fn the_store_spreads_the_directories_that_churn() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        if !keeps_topdir(dir.path()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI's /var/tmp is ext4, which keeps FS_TOPDIR_FL; this one did not"
            );
            eprintln!("SKIPPED the_store_spreads_the_directories_that_churn: /var/tmp keeps no FS_TOPDIR_FL");
            return;
        }
        let store = super::super::Store::open(dir.path()).unwrap();
        let topdir = |sub: &str| {
            let fd = open(store.root().join(sub), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
            ioctl_getflags(&fd).unwrap().contains(IFlags::TOPDIR)
        };
        for sub in super::super::SPREAD {
            assert!(topdir(sub), "{sub} is marked");
        }
        assert!(!topdir("locks"), "a directory of long-lived files is not");
    }

    #[test]
    fn a_missing_directory_is_neither_made_nor_an_error() {
        let missing = tempfile::tempdir().unwrap().path().join("gone");
        spread_children(&missing);
        assert!(!missing.exists());
    }
}
