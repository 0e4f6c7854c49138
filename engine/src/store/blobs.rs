//! Content-addressed blobs (`blobs/sha256/<hex>`): manifests, indexes and image configs.
//!
//! A blob is written to a temp file in the same filesystem, checked against its digest, fsync'd and only
//! then renamed into place, so a reader never sees a partial or wrong blob, whatever kills the writer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::sha256_digest;

use super::StoreError;

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub(super) fn new(root: &Path) -> BlobStore {
        BlobStore { dir: root.join("blobs/sha256"), tmp: root.join("tmp") }
    }

    /// Where the blob with `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest_hex(digest)?;
        Ok(self.dir.join(hex))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.exists())
    }

    /// Stores `data` under `digest` after checking that the digest matches.
    pub fn put(&self, digest: &str, data: &[u8]) -> Result<(), StoreError> {
        let actual = sha256_digest(data);
        if actual != digest {
            return Err(StoreError::DigestMismatch { expected: digest.into(), actual });
        }
        let dest = self.path(digest)?;
        if dest.exists() {
            return Ok(());
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!("blob-{}-", std::process::id()))
            .tempfile_in(&self.tmp)
            .map_err(|source| StoreError::Io { op: "create temp blob in", path: self.tmp.clone(), source })?;
        let tmp_path = tmp.path().to_path_buf();
        let io = |op, source| StoreError::Io { op, path: tmp_path.clone(), source };
        tmp.write_all(data).map_err(|e| io("write", e))?;
        tmp.as_file().sync_all().map_err(|e| io("fsync", e))?;
        tmp.persist(&dest).map_err(|e| StoreError::Io { op: "rename blob to", path: dest.clone(), source: e.error })?;
        sync_dir(&self.dir)
    }

    pub fn get(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(digest)?;
        std::fs::read(&path).map_err(|source| StoreError::Io { op: "read blob", path, source })
    }

    /// Every stored blob's digest.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| StoreError::Io {
            op: "list",
            path: self.dir.clone(),
            source,
        })?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|hex| format!("sha256:{hex}"))
            .collect())
    }

    /// Removes a blob; returns the bytes freed.
    pub fn remove(&self, digest: &str) -> Result<u64, StoreError> {
        let path = self.path(digest)?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(StoreError::Io { op: "remove blob", path, source }),
        }
    }
}

/// The hex part of a `sha256:` digest, refusing anything that could be a path.
fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    if crate::reference::is_valid_digest(digest) {
        Ok(&digest["sha256:".len()..])
    } else {
        Err(StoreError::BadDigest { digest: digest.into() })
    }
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| StoreError::Io {
        op: "fsync dir",
        path: dir.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_verifies_and_is_idempotent() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("blobs/sha256")).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let store = BlobStore::new(root.path());
        let d = sha256_digest(b"hello");
        store.put(&d, b"hello").unwrap();
        store.put(&d, b"hello").unwrap();
        assert_eq!(store.get(&d).unwrap(), b"hello");
        assert!(matches!(store.put(&d, b"other"), Err(StoreError::DigestMismatch { .. })));
        assert!(matches!(store.path("sha256:../../etc/passwd"), Err(StoreError::BadDigest { .. })));
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        assert_eq!(store.remove(&d).unwrap(), 5);
        assert!(std::fs::read_dir(root.path().join("tmp")).unwrap().next().is_none());
    }
}
