//! Where blobs live in registries: each layer blob berth pulled from or pushed to a repository, as
//! Docker's distribution metadata remembers them. A push asks the target registry for a blob it already
//! holds in another repository (a cross-repository mount) instead of uploading it, and the descriptor
//! (media type, size) of a pulled layer comes from here when its image's manifest is rebuilt.

use rusqlite::params;

use super::{Store, StoreError};

/// Rows outlive the images and layers they came with: they say what a registry holds, not what is
/// stored here, so no foreign key ties them to local rows.
pub(crate) const LOCATIONS_V1: &str = "
CREATE TABLE blob_locations (
    digest     TEXT NOT NULL,               -- the compressed blob's digest
    registry   TEXT NOT NULL,               -- as references name it: docker.io, 127.0.0.1:5000
    repository TEXT NOT NULL,               -- library/busybox
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,            -- bytes of the blob
    PRIMARY KEY (digest, registry, repository)
);
";

/// One blob in one repository of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    pub digest: String,
    pub registry: String,
    pub repository: String,
    pub media_type: String,
    pub size: u64,
}

impl Store {
    /// Remembers that these blobs are in these repositories.
    pub fn record_blob_locations(&self, locations: &[BlobLocation]) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            for l in locations {
                tx.execute(
                    "INSERT OR REPLACE INTO blob_locations (digest, registry, repository, media_type, size)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![l.digest, l.registry, l.repository, l.media_type, l.size],
                )
                .map_err(|e| self.db_err(e))?;
            }
            Ok(())
        })
    }

    /// Every place a blob is known to be, most recently recorded first.
    pub fn blob_locations(&self, digest: &str) -> Result<Vec<BlobLocation>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT digest, registry, repository, media_type, size FROM blob_locations
                 WHERE digest = ?1 ORDER BY rowid DESC",
            )
            .map_err(|e| self.db_err(e))?;
        stmt.query_map([digest], |r| {
            Ok(BlobLocation {
                digest: r.get(0)?,
                registry: r.get(1)?,
                repository: r.get(2)?,
                media_type: r.get(3)?,
                size: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.db_err(e))
    }

    /// Every tag of repository `name` (`registry/repository`) with its image id, by tag.
    pub fn repository_tags(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, image_id FROM tags WHERE substr(name, 1, ?2) = ?1 ORDER BY name")
            .map_err(|e| self.db_err(e))?;
        let prefix = format!("{name}:");
        let rows: Vec<(String, String)> = stmt
            .query_map(params![prefix, prefix.len() as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.db_err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(full, id)| {
                let tag = full[prefix.len()..].to_string();
                (!tag.contains('/')).then_some((tag, id))
            })
            .collect())
    }

    /// Records `name@digest` (full form) as a name of the image, as a push does with what it pushed.
    pub fn add_repo_digest(&self, name: &str, image_id: &str) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            tx.execute("INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?1, ?2)", params![name, image_id])
                .map(|_| ())
                .map_err(|e| self.db_err(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_listed_newest_first_and_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let at = |repository: &str| BlobLocation {
            digest: "sha256:aa".into(),
            registry: "127.0.0.1:5000".into(),
            repository: repository.into(),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: 10,
        };
        store.record_blob_locations(&[at("one"), at("two")]).unwrap();
        store.record_blob_locations(&[at("one")]).unwrap();
        let repos: Vec<String> = store.blob_locations("sha256:aa").unwrap().into_iter().map(|l| l.repository).collect();
        assert_eq!(repos, ["one", "two"]);
        assert!(store.blob_locations("sha256:bb").unwrap().is_empty());
    }
}
