//! Multi-platform images kept side by side: for each name an image was pulled or built under, the image
//! of every platform it was fetched for. A tag names one image (the last pulled, as in Docker); this
//! table lets `run --platform` find the others again without a pull.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::reference::Reference;

/// `name` is `registry/repository:tag`; `platform` is normalised (`linux/arm64/v8`, see
/// `registry::Platform`). A row goes with its image.
pub(crate) const PLATFORMS_V1: &str = "
CREATE TABLE platform_images (
    name     TEXT NOT NULL,
    platform TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (name, platform)
);
CREATE INDEX platform_images_image ON platform_images(image_id);
";

impl Store {
    /// Remembers `image_id` as the `platform` image of `name`.
    pub fn record_platform_image(&self, name: &Reference, platform: &str, image_id: &str) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO platform_images (name, platform, image_id) VALUES (?1, ?2, ?3)",
                params![row_name(name), platform, image_id],
            )
            .map(|_| ())
            .map_err(|e| self.db_err(e))
        })
    }

    /// The image recorded for `name` on `platform`.
    pub fn platform_image(&self, name: &Reference, platform: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT image_id FROM platform_images WHERE name = ?1 AND platform = ?2",
                params![row_name(name), platform],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }
}

/// A name as rows hold it, whatever way it was spelled: `docker.io/library/app:latest` for `app`.
fn row_name(name: &Reference) -> String {
    name.with_tag(name.tag.as_deref().unwrap_or("latest")).to_string()
}
