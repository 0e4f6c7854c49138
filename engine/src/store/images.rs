//! Image records: which layers and blobs make an image, and the names (tags, digests) that point at it.

use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{LayerRecord, Store, StoreError};
use crate::reference::Reference;

/// An image as `images`, `image inspect` and the runtime see it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// `sha256:` + the config digest, Docker's image ID.
    pub id: String,
    pub config: ImageConfiguration,
    /// Familiar `name:tag` forms (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:...` forms.
    pub repo_digests: Vec<String>,
    /// Unpacked bytes of all layers.
    pub size: u64,
    pub created: Option<String>,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub pulled_at: String,
    /// Chain ids, bottom first.
    pub layers: Vec<String>,
}

/// What a finished pull records.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub created: Option<String>,
    /// Chain ids, bottom first; each already committed.
    pub layers: Vec<String>,
    /// Manifest, config and index digests this image keeps alive.
    pub blobs: Vec<String>,
    /// Full `registry/repository:tag`, when pulled by tag.
    pub tag: Option<String>,
    /// Full `registry/repository@digest`.
    pub repo_digest: String,
}

/// One line of `rmi`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedImage {
    Untagged(String),
    Deleted(String),
}

pub(super) fn familiar(full: &str) -> String {
    match Reference::parse(full) {
        Ok(r) => {
            let name = r.familiar_name();
            match (&r.digest, &r.tag) {
                (Some(d), _) => format!("{name}@{d}"),
                (None, Some(t)) => format!("{name}:{t}"),
                (None, None) => name,
            }
        }
        Err(_) => full.to_string(),
    }
}

impl Store {
    /// Records a pulled image and points its tag at it. Returns true when the image is new or the tag moved.
    pub fn add_image(&self, image: &NewImage) -> Result<bool, StoreError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.write_tx(|tx| {
            let db = |e| self.db_err(e);
            let size: u64 = image
                .layers
                .iter()
                .map(|c| tx.query_row("SELECT size FROM layers WHERE chain_id = ?1", [c], |r| r.get::<_, u64>(0)))
                .sum::<Result<u64, _>>()
                .map_err(db)?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, architecture, os, variant, created, size, pulled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![image.id, image.manifest_digest, image.manifest_media_type, image.architecture, image.os,
                        image.variant, image.created, size, now],
            )
            .map_err(db)?
                == 1;
            for (position, chain) in image.layers.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                    params![image.id, position, chain],
                )
                .map_err(db)?;
            }
            for digest in &image.blobs {
                tx.execute("INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)", params![image.id, digest])
                    .map_err(db)?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?1, ?2)",
                params![image.repo_digest, image.id],
            )
            .map_err(db)?;
            let Some(tag) = &image.tag else { return Ok(inserted) };
            let previous: Option<String> =
                tx.query_row("SELECT image_id FROM tags WHERE name = ?1", [tag], |r| r.get(0)).optional().map_err(db)?;
            if previous.as_deref() == Some(image.id.as_str()) {
                return Ok(inserted);
            }
            set_tag(tx, tag, &image.id, &now).map_err(db)?;
            Ok(true)
        })
    }

    /// Finds an image the way Docker does: full ID, `name[:tag]`, `name@digest`, or an unambiguous ID prefix.
    pub fn find_image(&self, name_or_id: &str) -> Result<ImageRecord, StoreError> {
        let (id, _) = self.resolve_image_id(name_or_id)?;
        self.image(&id)
    }

    fn resolve_image_id(&self, input: &str) -> Result<(String, Matched), StoreError> {
        let not_found = || StoreError::ImageNotFound { name: input.to_string() };
        let conn = self.conn();
        let db = |e| self.db_err(e);
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        let looks_like_id = !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !input.starts_with("sha256:")
            && let Ok(r) = Reference::parse(input)
        {
            let (sql, name, matched): (&str, String, fn(String) -> Matched) = match &r.digest {
                Some(d) => {
                    ("SELECT image_id FROM repo_digests WHERE name = ?1", format!("{}@{d}", r.name()), Matched::Digest)
                }
                None => ("SELECT image_id FROM tags WHERE name = ?1", r.to_string(), Matched::Tag),
            };
            let found: Option<String> = conn.query_row(sql, [&name], |row| row.get(0)).optional().map_err(db)?;
            if let Some(id) = found {
                return Ok((id, matched(name)));
            }
        }
        if !looks_like_id {
            return Err(not_found());
        }
        let mut stmt = conn.prepare("SELECT id FROM images WHERE id LIKE ?1 LIMIT 2").map_err(db)?;
        let ids: Vec<String> = stmt
            .query_map([format!("sha256:{}%", hex.to_ascii_lowercase())], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(db)?;
        match ids.len() {
            0 => Err(not_found()),
            1 => Ok((ids.into_iter().next().unwrap_or_default(), Matched::Id)),
            count => Err(StoreError::AmbiguousImage { name: input.to_string(), count }),
        }
    }

    /// The record of the image with this exact ID.
    pub fn image(&self, id: &str) -> Result<ImageRecord, StoreError> {
        let conn = self.conn();
        let db = |e| self.db_err(e);
        let mut rec = conn
            .query_row(
                "SELECT id, manifest_digest, manifest_media_type, architecture, os, variant, created, size, pulled_at
                 FROM images WHERE id = ?1",
                [id],
                |r| {
                    Ok(ImageRecord {
                        id: r.get(0)?,
                        manifest_digest: r.get(1)?,
                        manifest_media_type: r.get(2)?,
                        architecture: r.get(3)?,
                        os: r.get(4)?,
                        variant: r.get(5)?,
                        created: r.get(6)?,
                        size: r.get(7)?,
                        pulled_at: r.get(8)?,
                        config: ImageConfiguration::default(),
                        repo_tags: Vec::new(),
                        repo_digests: Vec::new(),
                        layers: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| StoreError::ImageNotFound { name: id.to_string() })?;
        let strings = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = conn.prepare_cached(sql).map_err(db)?;
            stmt.query_map([id], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(db)
        };
        rec.repo_tags =
            strings("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?.iter().map(|n| familiar(n)).collect();
        rec.repo_digests = strings("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?
            .iter()
            .map(|n| familiar(n))
            .collect();
        rec.layers = strings("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position")?;
        drop(conn);
        let raw = self.blobs().get(id)?;
        rec.config = serde_json::from_slice(&raw)
            .map_err(|e| StoreError::CorruptImage { id: id.to_string(), reason: format!("config blob: {e}") })?;
        Ok(rec)
    }

    /// Every image, newest pull first; build cache images (see `builder::cache`) only when tagged.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(
                    "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM build_cache_images)
                         OR id IN (SELECT image_id FROM tags) ORDER BY pulled_at DESC, id",
                )
                .map_err(|e| self.db_err(e))?;
            stmt.query_map([], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))?
        };
        ids.iter().map(|id| self.image(id)).collect()
    }

    /// The image's layer records, bottom first.
    pub fn image_layers(&self, image_id: &str) -> Result<Vec<LayerRecord>, StoreError> {
        let chains = self.image(image_id)?.layers;
        chains
            .iter()
            .map(|c| {
                self.layer(c)?.ok_or_else(|| StoreError::CorruptImage {
                    id: image_id.into(),
                    reason: format!("layer {c} missing"),
                })
            })
            .collect()
    }

    /// The image's stored layers (directories or EROFS images), bottom-most first (reverse them for
    /// overlay's lowerdir).
    pub fn image_layer_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self.image(image_id)?.layers.iter().map(|c| self.layer_path(c)).collect())
    }

    /// Points `target` (any reference form) at the image `source` names.
    pub fn tag_image(&self, source: &str, target: &Reference) -> Result<(), StoreError> {
        let (id, _) = self.resolve_image_id(source)?;
        let now = chrono::Utc::now().to_rfc3339();
        let name = target.with_tag(target.tag.as_deref().unwrap_or("latest")).to_string();
        self.write_tx(|tx| set_tag(tx, &name, &id, &now).map(|_| ()).map_err(|e| self.db_err(e)))
    }

    /// Docker's `rmi`: a name untags, deleting the image with its last name; an ID deletes the image, which
    /// needs `force` when several tags point at it.
    pub fn remove_image(&self, name_or_id: &str, force: bool) -> Result<Vec<RemovedImage>, StoreError> {
        let _gc = self.gc_exclusive_lock()?;
        let (id, matched) = self.resolve_image_id(name_or_id)?;
        let names = |sql: &str| -> Result<Vec<String>, StoreError> {
            let conn = self.conn();
            let mut stmt = conn.prepare(sql).map_err(|e| self.db_err(e))?;
            stmt.query_map([&id], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.db_err(e))
        };
        let tags = names("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
        let digests = names("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?;
        let (untag, undigest): (Vec<String>, Vec<String>) = match matched {
            Matched::Tag(name) if tags.len() > 1 => (vec![name], Vec::new()),
            Matched::Digest(name) if !tags.is_empty() || digests.len() > 1 => (Vec::new(), vec![name]),
            Matched::Id if tags.len() > 1 && !force => return Err(StoreError::ImageHasTags { id: short_id(&id) }),
            _ => (tags, digests),
        };
        let deleting = untag.len() + undigest.len()
            == names(
                "SELECT name FROM tags WHERE image_id = ?1 UNION ALL SELECT name FROM repo_digests WHERE image_id = ?1",
            )?
            .len();
        self.write_tx(|tx| {
            for name in &untag {
                tx.execute("DELETE FROM tags WHERE name = ?1", [name]).map_err(|e| self.db_err(e))?;
            }
            for name in &undigest {
                tx.execute("DELETE FROM repo_digests WHERE name = ?1", [name]).map_err(|e| self.db_err(e))?;
            }
            if deleting {
                tx.execute("DELETE FROM images WHERE id = ?1", [&id]).map_err(|e| self.db_err(e))?;
            }
            Ok(())
        })?;
        let mut report: Vec<RemovedImage> =
            untag.iter().chain(&undigest).map(|n| RemovedImage::Untagged(familiar(n))).collect();
        if deleting {
            self.delete_unreferenced()?;
            report.push(RemovedImage::Deleted(id));
        }
        Ok(report)
    }
}

/// How a name found an image, which decides what `rmi` removes.
enum Matched {
    Tag(String),
    Digest(String),
    Id,
}

pub(super) fn set_tag(tx: &Transaction, name: &str, id: &str, now: &str) -> rusqlite::Result<usize> {
    tx.execute("INSERT OR REPLACE INTO tags (name, image_id, created) VALUES (?1, ?2, ?3)", params![name, id, now])
}

/// The 12-hex-digit form Docker prints.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores a one-layer image whose config is `{"n": n}`; returns its ID.
    fn add(store: &Store, n: u32, tag: Option<&str>) -> String {
        let config =
            format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"n":{n}}}"#);
        let id = crate::digest::sha256_digest(config.as_bytes());
        store.blobs().put(&id, config.as_bytes()).unwrap();
        let chain = format!("sha256:{:064x}", n);
        let dir = store.temp_dir("layer").unwrap();
        let layer = LayerRecord {
            chain_id: chain.clone(),
            diff_id: chain.clone(),
            parent: None,
            blob_digest: chain.clone(),
            size: 10,
        };
        store.commit_layer(dir, &layer).unwrap();
        store
            .add_image(&NewImage {
                id: id.clone(),
                manifest_digest: id.clone(),
                manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: None,
                created: None,
                layers: vec![chain],
                blobs: vec![id.clone()],
                tag: tag.map(|t| Reference::parse(t).unwrap().to_string()),
                repo_digest: format!("docker.io/library/app@{id}"),
            })
            .unwrap();
        id
    }

    #[test]
    fn lookups_by_name_id_and_prefix() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = add(&store, 1, Some("app:v1"));
        assert_eq!(store.find_image("app:v1").unwrap().id, id);
        assert_eq!(store.find_image("docker.io/library/app:v1").unwrap().repo_tags, ["app:v1"]);
        assert_eq!(store.find_image(&id).unwrap().id, id);
        assert_eq!(store.find_image(&id[7..19]).unwrap().id, id);
        assert_eq!(store.find_image(&format!("app@{id}")).unwrap().id, id);
        assert!(matches!(store.find_image("app:v2"), Err(StoreError::ImageNotFound { .. })));
        assert!(matches!(store.find_image("sha256:zz"), Err(StoreError::ImageNotFound { .. })));
    }

    #[test]
    fn rmi_untags_then_deletes_and_needs_force_for_an_id_with_several_tags() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = add(&store, 2, Some("app:v1"));
        store.tag_image("app:v1", &Reference::parse("other:x").unwrap()).unwrap();
        assert!(matches!(store.remove_image(&id, false), Err(StoreError::ImageHasTags { .. })));
        assert_eq!(store.remove_image("other:x", false).unwrap(), [RemovedImage::Untagged("other:x".into())]);
        let chain = store.image(&id).unwrap().layers[0].clone();
        let removed = store.remove_image("app:v1", false).unwrap();
        assert_eq!(removed.last(), Some(&RemovedImage::Deleted(id.clone())));
        assert!(!store.layer_dir(&chain).exists(), "the image's only layer goes with it");
        assert!(!store.blobs().contains(&id), "so does its config blob");
    }

    #[test]
    fn a_moved_tag_leaves_a_dangling_image_that_prune_removes() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let old = add(&store, 3, Some("app:latest"));
        let new = add(&store, 4, Some("app:latest"));
        assert!(store.image(&old).unwrap().repo_tags.is_empty());
        let report = store.prune_images(false).unwrap();
        assert_eq!(report.removed, [RemovedImage::Deleted(old.clone())]);
        // Both configs are the same length: the old one's blob and its 10-byte layer are what was freed.
        let config_len = std::fs::metadata(store.blobs().path(&new).unwrap()).unwrap().len();
        assert_eq!(report.reclaimed, 10 + config_len);
        assert_eq!(store.list_images().unwrap().len(), 1);
        assert_eq!(store.prune_images(true).unwrap().removed.len(), 2);
        assert!(store.list_images().unwrap().is_empty());
    }
}
