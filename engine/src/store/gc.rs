//! Garbage collection: layers and blobs no image refers to, and images nobody names.

use super::layers::{IMAGE_SUFFIX, INDEX_SUFFIX};
use super::{RemovedImage, Store, StoreError};

#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    pub removed: Vec<RemovedImage>,
    /// Bytes freed on disk (unpacked layers and blobs).
    pub reclaimed: u64,
}

impl Store {
    /// `image prune`: removes untagged images (every image when `all`) that no container uses, then every layer
    /// and blob left unreferenced.
    pub fn prune_images(&self, all: bool) -> Result<PruneReport, StoreError> {
        let _gc = self.gc_exclusive_lock()?;
        // As docker's: an image a container uses (running or not) stays, tagged or not.
        // Build cache images are `builder prune`'s.
        let sql = if all {
            "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM containers)
                 AND (id NOT IN (SELECT image_id FROM build_cache_images) OR id IN (SELECT image_id FROM tags))
                 ORDER BY id"
        } else {
            "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM tags)
                 AND id NOT IN (SELECT image_id FROM containers)
                 AND id NOT IN (SELECT image_id FROM build_cache_images) ORDER BY id"
        };
        let candidates: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(sql).map_err(|e| self.db_err(e))?;
            stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))?
        };
        let mut report = PruneReport::default();
        for id in candidates {
            let untagged = self.write_tx(|tx| {
                let db = |e| self.db_err(e);
                let mut stmt = tx.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name").map_err(db)?;
                let names: Vec<String> =
                    stmt.query_map([&id], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(db)?;
                tx.execute("DELETE FROM images WHERE id = ?1", [&id]).map_err(db)?;
                Ok(names)
            })?;
            report.removed.extend(untagged.iter().map(|n| RemovedImage::Untagged(super::images::familiar(n))));
            report.removed.push(RemovedImage::Deleted(id));
        }
        report.reclaimed = self.delete_unreferenced()?;
        Ok(report)
    }

    /// Gives back what a failed pull stored that no image uses: its layers (top first, each unless an image
    /// or a layer above names it) and its manifest and config blobs, so a pull that failed on a full disk
    /// leaves the space as it found it. Done only when no other pull runs (the exclusive gc lock, not waited
    /// for): another pull may be about to record an image on the same layers.
    pub fn discard_unused(&self, chains: &[String], blobs: &[String]) -> Result<(), StoreError> {
        let Some(_gc) = super::lock::try_exclusive(&self.lock_path("gc"))? else {
            return Ok(());
        };
        for chain in chains.iter().rev() {
            let used: bool = self
                .conn()
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?1)
                         OR EXISTS (SELECT 1 FROM layers WHERE parent = ?1)",
                    [chain],
                    |r| r.get(0),
                )
                .map_err(|e| self.db_err(e))?;
            if used {
                continue;
            }
            // The directory first: on a full disk, removing it is what makes room to write the row's deletion.
            self.remove_layer_dir(chain)?;
            self.with_room(|| self.conn().execute("DELETE FROM layers WHERE chain_id = ?1", [chain]))
                .map_err(|e| self.db_err(e))?;
        }
        for digest in blobs {
            let kept: bool = self
                .conn()
                .query_row("SELECT EXISTS (SELECT 1 FROM image_blobs WHERE digest = ?1)", [digest], |r| r.get(0))
                .map_err(|e| self.db_err(e))?;
            if !kept {
                self.blobs().remove(digest)?;
            }
        }
        Ok(())
    }

    /// Removes a layer's unpacked directory or image, whichever is there, and its tar index.
    fn remove_layer_dir(&self, chain: &str) -> Result<(), StoreError> {
        let dir = self.layer_dir(chain);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Io { op: "remove layer", path: dir, source })?;
        }
        for file in [self.layer_image(chain), self.layer_index(chain)] {
            match std::fs::remove_file(&file) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Io { op: "remove layer file", path: file, source });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes layers and blobs that no image references. The caller holds the exclusive gc lock, so no
    /// pull is between committing a layer and recording the image that uses it.
    pub(crate) fn delete_unreferenced(&self) -> Result<u64, StoreError> {
        let layers: Vec<(String, u64)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT chain_id, size FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)")
                .map_err(|e| self.db_err(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.db_err(e))?
        };
        let mut reclaimed = 0;
        // Upper layers first: a parent row must outlive the rows that name it.
        for (chain, size) in layers.iter().rev() {
            self.conn().execute("DELETE FROM layers WHERE chain_id = ?1", [chain]).map_err(|e| self.db_err(e))?;
            self.remove_layer_dir(chain)?;
            reclaimed += size;
        }
        // Read after the layers went: a deleted layer's compressed blob (`layer_blobs`) goes with it.
        let keep_blobs: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT digest FROM image_blobs UNION SELECT digest FROM layer_blobs")
                .map_err(|e| self.db_err(e))?;
            stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))?
        };
        for digest in self.blobs().list()? {
            if !keep_blobs.contains(&digest) {
                reclaimed += self.blobs().remove(&digest)?;
            }
        }
        // Directories and images of layers whose commit was cut short between rename and record.
        let layers_dir = self.root().join("layers");
        let entries = std::fs::read_dir(&layers_dir).map_err(|source| StoreError::Io {
            op: "list",
            path: layers_dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let hex = name.strip_suffix(IMAGE_SUFFIX).or_else(|| name.strip_suffix(INDEX_SUFFIX)).unwrap_or(&name);
            let chain = format!("sha256:{hex}");
            if self.layer(&chain)?.is_none() {
                let path = entry.path();
                let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                removed.map_err(|source| StoreError::Io { op: "remove orphan layer", path, source })?;
            }
        }
        self.clean_stale_tmp();
        Ok(reclaimed)
    }
}
