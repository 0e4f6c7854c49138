//! Local manifest lists (`berth manifest create`): an index being assembled before it is pushed. The
//! entries are the engine's to read (`manifest::ListEntry` as JSON); the store only keeps them by name.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

pub(crate) const MANIFEST_LISTS_V1: &str = "
CREATE TABLE manifest_lists (
    name    TEXT PRIMARY KEY,              -- registry/repository:tag of the list
    entries TEXT NOT NULL,                 -- JSON array, one entry per image
    created TEXT NOT NULL
);
";

impl Store {
    /// The entries of the local list `name`, as stored.
    pub fn manifest_list(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT entries FROM manifest_lists WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.db_err(e))
    }

    /// Creates or replaces the local list `name`.
    pub fn put_manifest_list(&self, name: &str, entries: &str) -> Result<(), StoreError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.write_tx(|tx| {
            tx.execute(
                "INSERT INTO manifest_lists (name, entries, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET entries = excluded.entries",
                params![name, entries, now],
            )
            .map(|_| ())
            .map_err(|e| self.db_err(e))
        })
    }

    /// Removes the local list `name`; false when there was none.
    pub fn remove_manifest_list(&self, name: &str) -> Result<bool, StoreError> {
        self.write_tx(|tx| {
            tx.execute("DELETE FROM manifest_lists WHERE name = ?1", [name]).map(|n| n > 0).map_err(|e| self.db_err(e))
        })
    }
}
