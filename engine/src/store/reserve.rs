//! Space set aside so berth can still write its state on a full disk.
//!
//! A container that fills the disk under the state root must still be stoppable, killable and removable,
//! and each of those records something (the database's WAL grows by a few pages per write). So every store
//! that opens with room to spare makes sure `ROOT/reserve` exists: a preallocated file of [`RESERVE_BYTES`].
//! When a write fails for want of space (SQLite's SQLITE_FULL, or ENOSPC on a state file), the reserve is
//! deleted and the write tried once more. A preallocated file was chosen over counting free space before each
//! write because it needs no guess of what a write will take and costs nothing until the disk is full; it is
//! made again by the first berth command that finds room for it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Enough for the WAL to grow to its checkpoint size (1000 pages) and for the few small files an exec writes.
pub(crate) const RESERVE_BYTES: u64 = 8 << 20;

/// The reserve is only made when this much more than itself is free, so berth never takes the last space.
const MADE_WITH_FREE: u64 = 4 * RESERVE_BYTES;

pub(crate) fn reserve_path(root: &Path) -> PathBuf {
    root.join("reserve")
}

/// Makes the reserve unless it exists or the disk is too full; best effort, it is never worth failing for.
pub(super) fn ensure(root: &Path) {
    let path = reserve_path(root);
    if path.exists() {
        return;
    }
    let free = rustix::fs::statvfs(root).map(|s| s.f_bavail.saturating_mul(s.f_frsize)).unwrap_or(0);
    if free < RESERVE_BYTES + MADE_WITH_FREE {
        return;
    }
    // Made under tmp/ (named by pid, so a crash leaves nothing the next open does not remove) and renamed
    // into place whole.
    let made = tempfile::Builder::new()
        .prefix(&format!("reserve-{}-", std::process::id()))
        .tempfile_in(root.join("tmp"))
        .and_then(|mut tmp| {
            fill(tmp.as_file_mut())?;
            tmp.persist(&path).map_err(|e| e.error)
        });
    if let Err(err) = made {
        tracing::debug!("cannot make the space reserve {}: {err}", path.display());
    }
}

/// Allocates the file's blocks for real: fallocate where the filesystem has it, zeros otherwise.
fn fill(file: &mut File) -> std::io::Result<()> {
    if rustix::fs::fallocate(&*file, rustix::fs::FallocateFlags::empty(), 0, RESERVE_BYTES).is_ok() {
        return Ok(());
    }
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..RESERVE_BYTES / chunk.len() as u64 {
        file.write_all(&chunk)?;
    }
    file.sync_all()
}

/// Deletes the reserve; false when there was none left to give.
pub(crate) fn release(root: &Path) -> bool {
    let released = std::fs::remove_file(reserve_path(root)).is_ok();
    if released {
        tracing::warn!("the disk under {} is full: released berth's space reserve", root.display());
    }
    released
}

/// Runs `write`; when it fails for want of space and the reserve could be released, runs it once more.
pub(crate) fn with_room<T, E: DiskFull>(root: &Path, mut write: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    match write() {
        Err(err) if err.is_disk_full() && release(root) => write(),
        result => result,
    }
}

/// Errors that can mean "no space left".
pub(crate) trait DiskFull {
    fn is_disk_full(&self) -> bool;
}

impl DiskFull for std::io::Error {
    fn is_disk_full(&self) -> bool {
        self.kind() == std::io::ErrorKind::StorageFull || self.raw_os_error() == Some(libc::EDQUOT)
    }
}

impl DiskFull for rusqlite::Error {
    fn is_disk_full(&self) -> bool {
        self.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

impl DiskFull for StoreError {
    fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Db { source, .. } => source.is_disk_full(),
            StoreError::Io { source, .. } => source.is_disk_full(),
            _ => false,
        }
    }
}

impl DiskFull for crate::Error {
    fn is_disk_full(&self) -> bool {
        matches!(self, crate::Error::Store(e) if e.is_disk_full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOSPC)
    }

    #[test]
    fn a_full_disk_releases_the_reserve_once_and_retries() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("tmp")).unwrap();
        ensure(root.path());
        let reserve = reserve_path(root.path());
        assert_eq!(std::fs::metadata(&reserve).unwrap().len(), RESERVE_BYTES);
        assert_eq!(std::fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);

        let mut tries = 0;
        let out: Result<u32, std::io::Error> = with_room(root.path(), || {
            tries += 1;
            if tries == 1 { Err(full()) } else { Ok(7) }
        });
        assert_eq!((out.unwrap(), tries), (7, 2));
        assert!(!reserve.exists(), "released for the retry");

        let mut tries = 0;
        let out: Result<(), std::io::Error> = with_room(root.path(), || {
            tries += 1;
            Err(full())
        });
        assert!(out.unwrap_err().is_disk_full());
        assert_eq!(tries, 1, "no reserve left: no retry");

        let mut tries = 0;
        ensure(root.path());
        let out: Result<(), std::io::Error> = with_room(root.path(), || {
            tries += 1;
            Err(std::io::Error::from_raw_os_error(libc::EACCES))
        });
        assert!(out.is_err() && tries == 1 && reserve.exists(), "other failures leave the reserve alone");
    }
}
