//! Images and layers made on this machine (commit, build) rather than pulled.
//!
//! A local layer is recorded like a pulled one, with an empty `blob_digest`: it has no compressed blob
//! until something (push, save) asks for one. That blob is made once and remembered in `layer_blobs`, so
//! every later push of the layer sends the same bytes. A local image has no manifest (empty
//! `manifest_digest`) and no repo digest until it is pushed.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, blobs::sync_dir};

/// `layer_blobs`: the compressed blob made for a layer, one per layer. `image_parents`: the image a local
/// image was made from, which `history` and `inspect`'s `Parent` show as Docker does.
pub(crate) const LOCAL_V1: &str = "
CREATE TABLE layer_blobs (
    chain_id   TEXT PRIMARY KEY REFERENCES layers(chain_id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,                  -- sha256 of the compressed blob, stored in blobs/
    size       INTEGER NOT NULL,               -- bytes of the compressed blob
    media_type TEXT NOT NULL
);
CREATE TABLE image_parents (
    image_id TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    parent   TEXT NOT NULL                 -- the image a commit or build step started from (no foreign key: it may go first)
);
";

/// A layer's compressed blob, as a manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// What a commit or build records: the config is already stored as the blob named by `id`.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// `sha256:` + the config digest.
    pub id: String,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub created: Option<String>,
    /// Chain ids, bottom first; each already committed.
    pub layers: Vec<String>,
    /// Full `registry/repository:tag` to point at the image.
    pub tag: Option<String>,
    /// The image it was made from.
    pub parent: Option<String>,
}

impl Store {
    /// Records a locally made image (its config blob already stored) and points its tag at it.
    pub fn add_local_image(&self, image: &LocalImage) -> Result<(), StoreError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.write_tx(|tx| {
            let db = |e| self.db_err(e);
            let size: u64 = image
                .layers
                .iter()
                .map(|c| tx.query_row("SELECT size FROM layers WHERE chain_id = ?1", [c], |r| r.get::<_, u64>(0)))
                .sum::<Result<u64, _>>()
                .map_err(db)?;
            tx.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, architecture, os, variant, created, size, pulled_at)
                 VALUES (?1, '', '', ?2, ?3, ?4, ?5, ?6, ?7)",
                params![image.id, image.architecture, image.os, image.variant, image.created, size, now],
            )
            .map_err(db)?;
            for (position, chain) in image.layers.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                    params![image.id, position, chain],
                )
                .map_err(db)?;
            }
            tx.execute("INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?1)", [&image.id])
                .map_err(db)?;
            if let Some(parent) = &image.parent {
                tx.execute(
                    "INSERT OR IGNORE INTO image_parents (image_id, parent) VALUES (?1, ?2)",
                    params![image.id, parent],
                )
                .map_err(db)?;
            }
            if let Some(tag) = &image.tag {
                super::images::set_tag(tx, tag, &image.id, &now).map_err(db)?;
            }
            Ok(())
        })
    }

    /// Gives a loaded image the manifest its archive held (already in the blob store), unless it has one:
    /// a push whose blobs all go as that manifest names them sends its bytes.
    pub fn set_loaded_manifest(&self, image_id: &str, digest: &str, media_type: &str) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            let db = |e| self.db_err(e);
            let changed = tx
                .execute(
                    "UPDATE images SET manifest_digest = ?2, manifest_media_type = ?3 WHERE id = ?1 AND manifest_digest = ''",
                    params![image_id, digest, media_type],
                )
                .map_err(db)?;
            if changed == 1 {
                tx.execute("INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)", params![image_id, digest])
                    .map_err(db)?;
            }
            Ok(())
        })
    }

    /// The image a local image was made from.
    pub fn image_parent(&self, image_id: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT parent FROM image_parents WHERE image_id = ?1", [image_id], |r| r.get(0))
            .optional()
            .map_err(|e| self.db_err(e))
    }

    /// The compressed blob recorded for a layer, if one was made and is still on disk.
    pub fn layer_blob(&self, chain_id: &str) -> Result<Option<LayerBlob>, StoreError> {
        let blob = self
            .conn()
            .query_row("SELECT digest, size, media_type FROM layer_blobs WHERE chain_id = ?1", [chain_id], |r| {
                Ok(LayerBlob { digest: r.get(0)?, size: r.get(1)?, media_type: r.get(2)? })
            })
            .optional()
            .map_err(|e| self.db_err(e))?;
        Ok(blob.filter(|b| self.blobs().contains(&b.digest)))
    }

    /// Moves `file` (a compressed blob written under `ROOT/tmp`, whose digest the caller computed while
    /// writing it) into the blob store and records it as the layer's blob. The caller holds the layer lock.
    pub fn record_layer_blob(&self, chain_id: &str, file: &Path, blob: &LayerBlob) -> Result<(), StoreError> {
        let dest = self.blobs().path(&blob.digest)?;
        std::fs::File::open(file).and_then(|f| f.sync_all()).map_err(|source| StoreError::Io {
            op: "fsync",
            path: file.into(),
            source,
        })?;
        std::fs::rename(file, &dest).map_err(|source| StoreError::Io {
            op: "move blob into place at",
            path: dest.clone(),
            source,
        })?;
        sync_dir(dest.parent().unwrap_or(self.root()))?;
        self.write_tx(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO layer_blobs (chain_id, digest, size, media_type) VALUES (?1, ?2, ?3, ?4)",
                params![chain_id, blob.digest, blob.size, blob.media_type],
            )
            .map(|_| ())
            .map_err(|e| self.db_err(e))
        })
    }
}
