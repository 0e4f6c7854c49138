//! Stored layers, one per chain id, shared by every image that has the layer: an unpacked directory
//! `layers/<hex>` (the `dir` store) or an EROFS image `layers/<hex>.erofs` (the `erofs` store).
//!
//! A layer is written into a [`TempDir`] under `ROOT/tmp`, then renamed into `layers/` and recorded,
//! while its per-layer lock is held. The row is the commit point: a directory or image without a row is a
//! crash leftover and is replaced.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, blobs::sync_dir, pid_alive};

/// Chain ids of a stack of diff ids, bottom first (OCI image spec: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chains: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let chain = match chains.last() {
            None => diff.clone(),
            Some(parent) => format!("sha256:{}", hex::encode(Sha256::digest(format!("{parent} {diff}")))),
        };
        chains.push(chain);
    }
    chains
}

#[derive(Debug, Clone)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    pub blob_digest: String,
    pub size: u64,
}

/// A work directory under `ROOT/tmp`, removed on drop unless it was renamed away.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.path.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.path)
        {
            tracing::warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// What a layer image's name ends with, after its chain id's hex.
pub(crate) const IMAGE_SUFFIX: &str = ".erofs";
/// What a layer's tar index's name ends with, after its chain id's hex.
pub(crate) const INDEX_SUFFIX: &str = ".tarsplit";
/// The image's name inside the work dir it is written in.
pub const WORK_IMAGE: &str = "layer.erofs";

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

impl Store {
    /// Where a layer's unpacked tree lives.
    pub fn layer_dir(&self, chain_id: &str) -> PathBuf {
        self.root.join("layers").join(hex_of(chain_id))
    }

    /// Where a layer's EROFS image lives.
    pub fn layer_image(&self, chain_id: &str) -> PathBuf {
        self.root.join("layers").join(format!("{}{IMAGE_SUFFIX}", hex_of(chain_id)))
    }

    /// The stored form of a layer: its image when there is one, else its directory. Both stores can hold
    /// layers of one root, so a root keeps working when its store setting changes.
    pub fn layer_path(&self, chain_id: &str) -> PathBuf {
        let image = self.layer_image(chain_id);
        if image.is_file() { image } else { self.layer_dir(chain_id) }
    }

    /// Where a layer's tar index lives (`layer::TarIndex`): how its exact tar is rebuilt.
    pub fn layer_index(&self, chain_id: &str) -> PathBuf {
        self.root.join("layers").join(format!("{}{INDEX_SUFFIX}", hex_of(chain_id)))
    }

    /// Moves a layer's tar index into place, just before the layer itself is committed (the caller holds
    /// the layer's lock); without a row it is a leftover that collection removes.
    pub fn commit_layer_index(&self, chain_id: &str, index: &Path) -> Result<(), StoreError> {
        let dest = self.layer_index(chain_id);
        std::fs::rename(index, &dest).map_err(|source| StoreError::Io {
            op: "move tar index into place at",
            path: dest.clone(),
            source,
        })
    }

    /// Whether a layer's directory or image is in place.
    pub fn layer_stored(&self, chain_id: &str) -> bool {
        self.layer_dir(chain_id).is_dir() || self.layer_image(chain_id).is_file()
    }

    /// The lock serialising every process's work on one layer.
    pub fn layer_lock(&self, chain_id: &str) -> Result<super::lock::LockGuard, StoreError> {
        super::lock::exclusive(&self.lock_path(&format!("layer-{}", hex_of(chain_id))))
    }

    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT chain_id, diff_id, parent, blob_digest, size FROM layers WHERE chain_id = ?1",
                [chain_id],
                |r| {
                    Ok(LayerRecord {
                        chain_id: r.get(0)?,
                        diff_id: r.get(1)?,
                        parent: r.get(2)?,
                        blob_digest: r.get(3)?,
                        size: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }

    /// A fresh empty work directory named after this process, so others can tell when it is orphaned.
    pub fn temp_dir(&self, kind: &str) -> Result<TempDir, StoreError> {
        let tmp = self.root.join("tmp");
        let path = tempfile::Builder::new()
            .prefix(&format!("{kind}-{}-", std::process::id()))
            .tempdir_in(&tmp)
            .map_err(|source| StoreError::Io { op: "create work dir in", path: tmp, source })?
            .keep();
        Ok(TempDir { path })
    }

    /// Moves an unpacked layer into place and records it. The caller holds the layer's lock.
    pub fn commit_layer(&self, dir: TempDir, layer: &LayerRecord) -> Result<(), StoreError> {
        self.commit_path(dir.path(), &self.layer_dir(&layer.chain_id), layer)
    }

    /// Moves a layer image (written as [`WORK_IMAGE`] in `dir`) into place and records it. The caller
    /// holds the layer's lock.
    pub fn commit_layer_image(&self, dir: TempDir, layer: &LayerRecord) -> Result<(), StoreError> {
        self.commit_path(&dir.path().join(WORK_IMAGE), &self.layer_image(&layer.chain_id), layer)
    }

    fn commit_path(&self, from: &Path, dest: &Path, layer: &LayerRecord) -> Result<(), StoreError> {
        // Leftovers of either store under this chain id go first (the index was just put in place).
        for stale in [self.layer_dir(&layer.chain_id), self.layer_image(&layer.chain_id)] {
            let removed = if stale.is_dir() {
                std::fs::remove_dir_all(&stale)
            } else if stale.exists() {
                std::fs::remove_file(&stale)
            } else {
                continue;
            };
            removed.map_err(|source| StoreError::Io { op: "remove stale layer", path: stale.clone(), source })?;
        }
        std::fs::rename(from, dest).map_err(|source| StoreError::Io {
            op: "move layer into place at",
            path: dest.to_path_buf(),
            source,
        })?;
        sync_dir(&self.root.join("layers"))?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, blob_digest, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![layer.chain_id, layer.diff_id, layer.parent, layer.blob_digest, layer.size],
            )
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Removes work directories whose owning process is gone, and removed containers' directories
    /// (`removed/`, see `monitor::cleanup::remove_record`) that a process died before deleting.
    pub(super) fn clean_stale_tmp(&self) {
        self.clean_stale_in(&self.root.join("tmp"));
        self.clean_stale_in(&self.root.join(crate::store::REMOVED_DIR));
    }

    /// Removes the entries of `dir` named `<what>-<pid>-…` whose process is gone.
    fn clean_stale_in(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let owner = name.to_str().and_then(|n| n.split('-').nth(1)).and_then(|p| p.parse::<i32>().ok());
            if owner.is_some_and(|pid| !pid_alive(pid)) {
                let path = entry.path();
                let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                if let Err(e) = removed {
                    tracing::warn!("cannot remove stale {}: {e}", path.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = "sha256:aaaa".to_string();
        let b = "sha256:bbbb".to_string();
        let chains = chain_ids(&[a.clone(), b]);
        assert_eq!(chains[0], a);
        let expected = format!("sha256:{}", hex::encode(Sha256::digest("sha256:aaaa sha256:bbbb")));
        assert_eq!(chains[1], expected);
    }

    #[test]
    fn commit_moves_the_dir_and_temp_dirs_clean_themselves() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let dropped = store.temp_dir("layer").unwrap();
        let dropped_path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!dropped_path.exists());

        let dir = store.temp_dir("layer").unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let rec = LayerRecord {
            chain_id: format!("sha256:{}", "1".repeat(64)),
            diff_id: format!("sha256:{}", "1".repeat(64)),
            parent: None,
            blob_digest: format!("sha256:{}", "2".repeat(64)),
            size: 1,
        };
        store.commit_layer(dir, &rec).unwrap();
        assert!(store.layer_dir(&rec.chain_id).join("f").exists());
        assert_eq!(store.layer(&rec.chain_id).unwrap().unwrap().size, 1);
        assert_eq!(std::fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn an_image_commit_replaces_a_stale_dir_and_prune_deletes_images_without_rows() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let rec = LayerRecord {
            chain_id: format!("sha256:{}", "3".repeat(64)),
            diff_id: format!("sha256:{}", "3".repeat(64)),
            parent: None,
            blob_digest: format!("sha256:{}", "4".repeat(64)),
            size: 1,
        };
        std::fs::create_dir_all(store.layer_dir(&rec.chain_id).join("stale")).unwrap();
        let dir = store.temp_dir("layer").unwrap();
        std::fs::write(dir.path().join(WORK_IMAGE), b"image").unwrap();
        store.commit_layer_image(dir, &rec).unwrap();
        assert!(!store.layer_dir(&rec.chain_id).exists(), "the stale dir went");
        assert_eq!(store.layer_path(&rec.chain_id), store.layer_image(&rec.chain_id));
        assert!(store.layer_stored(&rec.chain_id));

        // An image whose commit was cut short before its row: unreferenced, so the next prune deletes it.
        let orphan = root.path().join("layers").join(format!("{}{IMAGE_SUFFIX}", "5".repeat(64)));
        std::fs::write(&orphan, b"image").unwrap();
        store.prune_images(false).unwrap();
        assert!(!orphan.exists());
        assert!(!store.layer_image(&rec.chain_id).exists(), "a layer no image uses is deleted: one file");
        assert!(!store.layer_stored(&rec.chain_id));
    }

    #[test]
    fn a_tar_index_lives_and_goes_with_its_layer_and_an_orphan_index_is_collected() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let layer = |n: &str| {
            let rec = LayerRecord {
                chain_id: format!("sha256:{}", n.repeat(64)),
                diff_id: format!("sha256:{}", n.repeat(64)),
                parent: None,
                blob_digest: String::new(),
                size: 1,
            };
            let work = store.temp_dir("index").unwrap();
            std::fs::write(work.path().join("i"), b"index").unwrap();
            store.commit_layer_index(&rec.chain_id, &work.path().join("i")).unwrap();
            store.commit_layer(store.temp_dir("layer").unwrap(), &rec).unwrap();
            rec
        };
        let (used, unused) = (layer("6"), layer("7"));
        store
            .add_local_image(&super::super::LocalImage {
                id: format!("sha256:{}", "8".repeat(64)),
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: None,
                created: None,
                layers: vec![used.chain_id.clone()],
                tag: None,
                parent: None,
            })
            .unwrap();
        let orphan = root.path().join("layers").join(format!("{}{INDEX_SUFFIX}", "9".repeat(64)));
        std::fs::write(&orphan, b"index").unwrap();

        let _gc = store.gc_exclusive_lock().unwrap();
        store.delete_unreferenced().unwrap();
        assert!(store.layer_index(&used.chain_id).exists(), "a used layer keeps its index");
        assert!(!store.layer_index(&unused.chain_id).exists(), "the index goes with its layer");
        assert!(!orphan.exists(), "an index without its layer row is a leftover");
    }

    #[test]
    fn work_dirs_of_dead_processes_are_removed_on_open() {
        let root = tempfile::tempdir().unwrap();
        drop(Store::open(root.path()).unwrap());
        // pid_max is at most 2^22, so this pid cannot exist.
        let orphan = root.path().join("tmp/layer-99999999-x");
        std::fs::create_dir_all(orphan.join("sub")).unwrap();
        let mine = root.path().join(format!("tmp/layer-{}-y", std::process::id()));
        std::fs::create_dir_all(&mine).unwrap();
        drop(Store::open(root.path()).unwrap());
        assert!(!orphan.exists());
        assert!(mine.exists());
    }
}
