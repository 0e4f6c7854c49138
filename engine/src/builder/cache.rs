//! The build cache: one row per step result, found by the step's chained key.
//!
//! A step's result is an image row like any other (layers, config blob, history), so a RUN step's
//! container can be made from the step before it. Those images are marked in `build_cache_images` and are
//! hidden from `images` and `image prune`; `builder prune` (and `system prune`) remove them. Neither table
//! references `images`: the marker is written before the image row, so a build killed between the two
//! leaves a hidden image rather than a visible `<none>` one, and rows whose image is gone are ignored on
//! lookup and dropped by prune.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

pub(crate) const BUILD_V1: &str = "
CREATE TABLE build_cache (
    key        TEXT PRIMARY KEY,        -- sha256 chained over the steps (see builder::cache::Key)
    image_id   TEXT NOT NULL,           -- the step's result
    created_at TEXT NOT NULL
);
CREATE INDEX build_cache_image ON build_cache(image_id);
CREATE TABLE build_cache_images (
    image_id TEXT PRIMARY KEY           -- an intermediate image: hidden from images and image prune
);
CREATE TABLE build_stat_cache (
    path      TEXT PRIMARY KEY,         -- absolute path of a context file
    dev       INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    mode      INTEGER NOT NULL,
    digest    TEXT NOT NULL             -- sha256 of the file's content
);
";

/// `build_url_cache`: what ADD last downloaded from a URL (its ETag, Last-Modified and content digest),
/// so the next build asks the server with `If-None-Match` whether it changed, as BuildKit does, and keys
/// the step by the content without downloading it again.
pub(crate) const BUILD_V2: &str = "
CREATE TABLE build_url_cache (
    url           TEXT PRIMARY KEY,
    etag          TEXT NOT NULL,
    last_modified TEXT NOT NULL,    -- the header as the server sent it, '' when it sent none
    digest        TEXT NOT NULL     -- sha256 of the content
);
";

/// What a server said of a URL's content when ADD last downloaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlRecord {
    pub etag: String,
    pub last_modified: String,
    pub digest: String,
}

/// A step's cache key: the previous key and everything that decides the step's result, each field
/// length-prefixed so no two different inputs hash alike.
pub(crate) struct Key(Sha256);

impl Key {
    pub(crate) fn new(previous: &str) -> Key {
        let mut key = Key(Sha256::new());
        key.field(previous);
        key
    }

    pub(crate) fn field(&mut self, value: &str) -> &mut Key {
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize_reset()))
    }
}

/// What the stat cache knows of a file: its identity and times, so an unchanged file is not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub mode: u32,
}

impl Store {
    /// The image a step key was recorded with, if that image is still stored.
    pub(crate) fn build_cache_lookup(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT c.image_id FROM build_cache c JOIN images i ON i.id = c.image_id WHERE c.key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }

    /// Marks `image_id` as an intermediate image, before its image row is written.
    pub(crate) fn mark_build_image(&self, image_id: &str) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            let visible: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM images WHERE id = ?1)", [image_id], |r| r.get(0))
                .map_err(|e| self.db_err(e))?;
            // An image already shown (a build's result, a commit) stays shown.
            if !visible {
                tx.execute("INSERT OR IGNORE INTO build_cache_images (image_id) VALUES (?1)", [image_id])
                    .map_err(|e| self.db_err(e))?;
            }
            Ok(())
        })
    }

    /// Records a step's result under its key.
    pub(crate) fn record_build_step(&self, key: &str, image_id: &str) -> Result<(), StoreError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.write_tx(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO build_cache (key, image_id, created_at) VALUES (?1, ?2, ?3)",
                params![key, image_id, now],
            )
            .map(|_| ())
            .map_err(|e| self.db_err(e))
        })
    }

    /// A build's result is an image like a pulled one: shown by `images`, no longer build cache.
    pub(crate) fn unmark_build_image(&self, image_id: &str) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            tx.execute("DELETE FROM build_cache_images WHERE image_id = ?1", [image_id])
                .map(|_| ())
                .map_err(|e| self.db_err(e))
        })
    }

    /// The digest the stat cache holds for `path` when the file still has the same identity and times.
    pub(crate) fn stat_cache_get(&self, path: &str, stamp: &FileStamp) -> Result<Option<String>, StoreError> {
        let row: Option<(i64, i64, i64, i64, i64, i64, String)> = self
            .conn()
            .query_row(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, mode, digest FROM build_stat_cache WHERE path = ?1",
                [path],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()
            .map_err(|e| self.db_err(e))?;
        Ok(row.and_then(|(dev, ino, size, mtime, ctime, mode, digest)| {
            let same = dev as u64 == stamp.dev
                && ino as u64 == stamp.ino
                && size as u64 == stamp.size
                && mtime == stamp.mtime_ns
                && ctime == stamp.ctime_ns
                && mode as u32 == stamp.mode;
            same.then_some(digest)
        }))
    }

    /// Remembers the digests of files read for a build, in one transaction.
    pub(crate) fn stat_cache_put(&self, entries: &[(String, FileStamp, String)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write_tx(|tx| {
            let mut stmt = tx
                .prepare(
                    "INSERT OR REPLACE INTO build_stat_cache (path, dev, ino, size, mtime_ns, ctime_ns, mode, digest)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(|e| self.db_err(e))?;
            for (path, s, digest) in entries {
                stmt.execute(params![
                    path,
                    s.dev as i64,
                    s.ino as i64,
                    s.size as i64,
                    s.mtime_ns,
                    s.ctime_ns,
                    s.mode,
                    digest
                ])
                .map_err(|e| self.db_err(e))?;
            }
            Ok(())
        })
    }

    /// The intermediate images (those no tag shows) and the layers they stand on, for `system df`.
    pub(crate) fn build_cache_usage(&self) -> Result<(usize, Vec<String>), StoreError> {
        let conn = self.conn();
        let hidden = "SELECT image_id FROM build_cache_images
                      WHERE image_id IN (SELECT id FROM images) AND image_id NOT IN (SELECT image_id FROM tags)";
        let count: usize = conn
            .query_row(&format!("SELECT COUNT(*) FROM ({hidden})"), [], |r| r.get(0))
            .map_err(|e| self.db_err(e))?;
        let mut stmt = conn
            .prepare(&format!("SELECT DISTINCT chain_id FROM image_layers WHERE image_id IN ({hidden})"))
            .map_err(|e| self.db_err(e))?;
        let chains = stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))?;
        Ok((count, chains))
    }

    /// What ADD last downloaded from `url`, when it was sent with an ETag.
    pub(crate) fn url_cache_get(&self, url: &str) -> Result<Option<UrlRecord>, StoreError> {
        self.conn()
            .query_row("SELECT etag, last_modified, digest FROM build_url_cache WHERE url = ?1", [url], |r| {
                Ok(UrlRecord { etag: r.get(0)?, last_modified: r.get(1)?, digest: r.get(2)? })
            })
            .optional()
            .map_err(|e| self.db_err(e))
    }

    pub(crate) fn url_cache_put(&self, url: &str, record: &UrlRecord) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO build_url_cache (url, etag, last_modified, digest) VALUES (?1, ?2, ?3, ?4)",
                params![url, record.etag, record.last_modified, record.digest],
            )
            .map(|_| ())
            .map_err(|e| self.db_err(e))
        })
    }

    /// `builder prune`: every intermediate image no container uses, the cache rows, the stat and URL caches and the
    /// cache mounts' directories, then the layers and blobs nothing uses any more. Returns the removed image ids and the bytes freed.
    pub(crate) fn prune_build_cache(&self) -> Result<(Vec<String>, u64), StoreError> {
        let _gc = self.gc_exclusive_lock()?;
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(
                    "SELECT image_id FROM build_cache_images
                     WHERE image_id NOT IN (SELECT image_id FROM containers)
                       AND image_id NOT IN (SELECT image_id FROM tags) ORDER BY image_id",
                )
                .map_err(|e| self.db_err(e))?;
            stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))?
        };
        self.write_tx(|tx| {
            let db = |e| self.db_err(e);
            for id in &ids {
                tx.execute("DELETE FROM images WHERE id = ?1", [id]).map_err(db)?;
                tx.execute("DELETE FROM build_cache_images WHERE image_id = ?1", [id]).map_err(db)?;
            }
            tx.execute("DELETE FROM build_cache", []).map_err(db)?;
            tx.execute("DELETE FROM build_stat_cache", []).map_err(db)?;
            tx.execute("DELETE FROM build_url_cache", []).map_err(db)?;
            Ok(())
        })?;
        let mut reclaimed = self.delete_unreferenced()?;
        // RUN --mount=type=cache directories: no build runs (the exclusive gc lock), so none is mounted.
        let caches = self.root().join("build-cache");
        if caches.exists() {
            reclaimed += crate::container::dir_size(&caches);
            std::fs::remove_dir_all(&caches).map_err(|source| StoreError::Io {
                op: "remove build cache mounts",
                path: caches,
                source,
            })?;
        }
        Ok((ids, reclaimed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbx_keys_chain_and_separate_fields() {
        let a = { Key::new("k0").field("RUN").field("ab").finish() };
        let b = { Key::new("k0").field("RUN").field("ab").finish() };
        let c = { Key::new("k0").field("RUNa").field("b").finish() };
        let d = { Key::new("k1").field("RUN").field("ab").finish() };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(a.starts_with("sha256:") && a.len() == 71);
    }
}
