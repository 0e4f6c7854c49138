//! Cross-process advisory locks on files under `ROOT/locks`.
//!
//! flock(2) locks vanish with their process, so a berth killed with -9 never leaves a lock behind.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::StoreError;

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just makes the release immediate.
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(|source| StoreError::Io {
        op: "open lock",
        path: path.into(),
        source,
    })
}

/// Blocks until the exclusive lock on `path` is held.
pub fn exclusive(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open(path)?;
    file.lock().map_err(|source| StoreError::Io { op: "lock", path: path.into(), source })?;
    Ok(LockGuard { file })
}

/// The exclusive lock on `path` if no one holds it now; None otherwise.
pub fn try_exclusive(path: &Path) -> Result<Option<LockGuard>, StoreError> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(LockGuard { file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io { op: "lock", path: path.into(), source }),
    }
}

/// Blocks until the exclusive lock on directory `dir` itself is held. Nothing is created, so a lock on a
/// directory that another process is removing cannot leave a file behind that stops the removal.
pub fn exclusive_dir(dir: &Path) -> std::io::Result<LockGuard> {
    let file = File::open(dir)?;
    file.lock()?;
    Ok(LockGuard { file })
}

/// Blocks until a shared lock on `path` is held.
pub fn shared(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open(path)?;
    file.lock_shared().map_err(|source| StoreError::Io { op: "lock", path: path.into(), source })?;
    Ok(LockGuard { file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_releases_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = exclusive(&path).unwrap();
        let other = open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
