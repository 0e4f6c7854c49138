//! The state root: SQLite metadata, content-addressed blobs and stored layers.
//!
//! ```text
//! ROOT/berth.db            metadata (WAL; every berth process opens it)
//! ROOT/blobs/sha256/<hex>  manifests, indexes, configs, compressed blobs made for local layers
//! ROOT/layers/<hex>/       one unpacked layer per chain id, an overlay lowerdir (the `dir` store)
//! ROOT/layers/<hex>.erofs  or one EROFS image per chain id (the `erofs` store)
//! ROOT/tmp/                work in progress, named by owner pid; removed when that pid is gone
//! ROOT/locks/              flock files: one per layer, plus `gc` (pulls share it, prune takes it alone)
//! ROOT/reserve             space set aside for state writes on a full disk (see [`reserve`])
//! ```
//! A thing is present only once its metadata row exists; files without rows are leftovers of a crash.

mod blobs;
mod driver;
mod gc;
mod images;
mod layers;
mod local;
mod locations;
pub mod lock;
mod manifest_lists;
mod platforms;
pub(crate) mod reserve;
pub(crate) mod schema;
mod spread;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use thiserror::Error;

/// Where removed containers' directories wait for deletion (`removed-<pid>-<id>`), out of `containers/`.
pub(crate) const REMOVED_DIR: &str = "removed";

pub use blobs::BlobStore;
pub use driver::LayerDriver;
pub use gc::PruneReport;
pub use images::{ImageRecord, NewImage, RemovedImage};
pub use layers::{LayerRecord, TempDir, WORK_IMAGE, chain_ids};
pub use local::{LayerBlob, LocalImage};
pub use locations::BlobLocation;
pub(crate) use spread::spread_children;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("state database {path}: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error("state database {path} has schema version {found}, newer than this berth knows ({known}); upgrade berth")]
    SchemaTooNew { path: PathBuf, found: usize, known: usize },
    #[error(
        "state database {path} is damaged ({reason}) but the state root holds {holds}: berth will not start over \
         and orphan them; restore berth.db from a backup, or move the state root aside to start empty"
    )]
    Damaged { path: PathBuf, reason: String, holds: String },
    #[error("invalid digest {digest:?}")]
    BadDigest { digest: String },
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("No such image: {name}")]
    ImageNotFound { name: String },
    #[error("image reference {name:?} is ambiguous: it matches {count} images")]
    AmbiguousImage { name: String, count: usize },
    #[error("image {id} is damaged: {reason}")]
    CorruptImage { id: String, reason: String },
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    ImageHasTags { id: String },
}

/// The state root, shared safely by every berth process at once.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    db_path: PathBuf,
    conn: Mutex<Connection>,
    blobs: BlobStore,
}

const SUBDIRS: &[&str] = &["blobs/sha256", "layers", "tmp", "locks", "containers"];

/// The subdirectories whose children are made and deleted with every container, build step and pull.
const SPREAD: &[&str] = &["layers", "tmp", "containers"];

impl Store {
    /// Opens (creating if needed) the state root and brings its schema up to date.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in SUBDIRS {
            let dir = root.join(sub);
            if let Err(source) = std::fs::create_dir_all(&dir) {
                return Err(StoreError::Io { op: "create", path: dir, source });
            }
            if SPREAD.contains(sub) {
                spread_children(&dir);
            }
        }
        let root = std::fs::canonicalize(root).map_err(|source| StoreError::Io {
            op: "resolve",
            path: root.into(),
            source,
        })?;
        let db_path = root.join("berth.db");
        // SQLite answers "locked" without waiting while another connection switches a new database to WAL,
        // so processes opening one root at once take turns for the few milliseconds of setup.
        let opening = lock::exclusive(&root.join("locks").join("open.lock"))?;
        let conn = open_db(&root, &db_path).map_err(|err| damaged(&root, &db_path, err))?;
        drop(opening);
        let store = Store { blobs: BlobStore::new(&root), root, db_path, conn: Mutex::new(conn) };
        store.clean_stale_tmp();
        reserve::ensure(&store.root);
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The metadata connection. Hold it briefly: other threads of this process wait on it.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back on drop).
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frees the connection's page cache and cached statements, for a process that keeps the store open
    /// but idle for long (a monitor waiting on its container).
    pub(crate) fn release_memory(&self) {
        let conn = self.conn();
        conn.flush_prepared_statement_cache();
        let _ = conn.execute_batch("PRAGMA shrink_memory");
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Wraps a database error with the database's path.
    pub(crate) fn db_err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Db { path: self.db_path.clone(), source }
    }

    /// Runs `f` in an IMMEDIATE transaction, so concurrent writers queue instead of failing midway; on a
    /// full disk the space reserve is released and the transaction run again.
    pub fn write_tx<T>(
        &self,
        mut f: impl FnMut(&rusqlite::Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_room(|| {
            let mut conn = self.conn();
            let tx =
                conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| self.db_err(e))?;
            let out = f(&tx)?;
            tx.commit().map_err(|e| self.db_err(e))?;
            Ok(out)
        })
    }

    /// Runs a write to the state root; when it fails for want of space, releases the space reserve and runs
    /// it once more (see [`reserve`]).
    pub(crate) fn with_room<T, E: reserve::DiskFull>(&self, write: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        reserve::with_room(&self.root, write)
    }

    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }

    /// Held (shared) by every pull for its whole length; prune and rmi take it exclusively to delete.
    pub fn gc_shared_lock(&self) -> Result<lock::LockGuard, StoreError> {
        lock::shared(&self.lock_path("gc"))
    }

    pub fn gc_exclusive_lock(&self) -> Result<lock::LockGuard, StoreError> {
        lock::exclusive(&self.lock_path("gc"))
    }
}

/// WAL frames after which a commit checkpoints the WAL into the database (see [`open_db`]).
const WAL_CHECKPOINT_PAGES: i64 = 64;

/// How long a write waits for another process's write to the database before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Polls taken 100 µs apart before the busy handler waits a millisecond at a time.
const QUICK_POLLS: i32 = 40;

/// SQLite's busy handler: whether to try the lock again after `attempts` failed tries. Berth's writes are
/// short (under a millisecond) and often overlap one another's, as a monitor tearing a build step down
/// beside the build recording the step's image; SQLite's own handler sleeps 1, 2, 5, 10 ms... between
/// tries, so a writer that lost by a few microseconds waited milliseconds. Polling every 100 µs first
/// takes the lock almost as soon as it is free, and a millisecond between tries after that keeps a long
/// wait (a prune's big transaction) cheap.
fn wait_for_writer(attempts: i32) -> bool {
    match pause_before_retry(attempts) {
        Some(pause) => {
            std::thread::sleep(pause);
            true
        }
        None => false,
    }
}

/// The pause before try `attempts + 1`, or `None` once the tries so far have waited [`BUSY_TIMEOUT`].
fn pause_before_retry(attempts: i32) -> Option<Duration> {
    let (quick, slow) = (Duration::from_micros(100), Duration::from_millis(1));
    let waited = quick * attempts.clamp(0, QUICK_POLLS) as u32 + slow * (attempts - QUICK_POLLS).max(0) as u32;
    if waited >= BUSY_TIMEOUT {
        return None;
    }
    Some(if attempts < QUICK_POLLS { quick } else { slow })
}

fn open_db(root: &Path, path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Db { path: path.into(), source };
    let mut conn = Connection::open(path).map_err(err)?;
    conn.busy_handler(Some(wait_for_writer)).map_err(err)?;
    // Before anything writes (turning on WAL writes a header even into an empty file).
    refuse_forgetting(root, path, &conn)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    // WAL with NORMAL stays consistent through any crash and loses at most the last commits on power loss
    // (their files then become leftovers that gc removes); FULL cost an fsync per container state change.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(err)?;
    // Every berth command is a short process; checkpointing on each close cost two fsyncs per command.
    // The WAL is checkpointed as it grows instead, and early: a process that opens the database while no
    // other has it open (each `run --rm` in a row) first reads every frame since the last checkpoint to
    // rebuild the WAL index, up to 4 MB (~2 ms) at SQLite's default of 1000 pages; at 64 it reads at most
    // 256 KB, and the checkpoints that buys cost two fsyncs every few dozen commands.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(err)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES).map_err(err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// What a state root holds besides its database, as "containers (2), layers (5)"; empty for a fresh root.
fn holdings(root: &Path) -> String {
    let count = |sub: &str| std::fs::read_dir(root.join(sub)).map(|d| d.flatten().count()).unwrap_or(0);
    let kinds = [("containers", "containers"), ("layers", "layers"), ("volumes", "volumes"), ("blobs/sha256", "blobs")];
    let held: Vec<String> = kinds
        .iter()
        .map(|(sub, what)| (count(sub), what))
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{what} ({n})"))
        .collect();
    held.join(", ")
}

/// A database without a schema (a zero-byte or deleted `berth.db`) beside containers, layers or volumes is
/// not a fresh start: migrating it would silently forget all of them.
fn refuse_forgetting(root: &Path, path: &Path, conn: &Connection) -> Result<(), StoreError> {
    let version: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| StoreError::Db { path: path.into(), source })?;
    let holds = if version == 0 { holdings(root) } else { String::new() };
    match holds.is_empty() {
        true => Ok(()),
        false => Err(StoreError::Damaged { path: path.into(), reason: "it has no schema".into(), holds }),
    }
}

/// SQLite's "not a database" and "malformed" become [`StoreError::Damaged`] when the root holds data.
fn damaged(root: &Path, path: &Path, err: StoreError) -> StoreError {
    let StoreError::Db { source: rusqlite::Error::SqliteFailure(failure, _), .. } = &err else {
        return err;
    };
    if !matches!(failure.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) {
        return err;
    }
    let holds = holdings(root);
    match holds.is_empty() {
        true => err,
        false => StoreError::Damaged { path: path.into(), reason: failure.to_string(), holds },
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Db { path: path.into(), source };
    // The common case, an up-to-date schema, needs no write transaction.
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if current == schema::MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(err)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    let known = schema::MIGRATIONS.len();
    if version > known {
        return Err(StoreError::SchemaTooNew { path: path.into(), found: version, known });
    }
    for sql in &schema::MIGRATIONS[version..] {
        tx.execute_batch(sql).map_err(err)?;
    }
    tx.pragma_update(None, "user_version", known).map_err(err)?;
    tx.commit().map_err(err)
}

/// Whether a process with this pid exists (a pid recorded by a berth process that may have died).
pub(crate) fn pid_alive(pid: i32) -> bool {
    rustix::process::Pid::from_raw(pid)
        .is_some_and(|pid| matches!(rustix::process::test_kill_process(pid), Ok(()) | Err(rustix::io::Errno::PERM)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_writer_polls_quickly_first_and_gives_up_after_the_timeout() {
        assert_eq!(pause_before_retry(0), Some(Duration::from_micros(100)));
        assert_eq!(pause_before_retry(QUICK_POLLS - 1), Some(Duration::from_micros(100)));
        assert_eq!(pause_before_retry(QUICK_POLLS), Some(Duration::from_millis(1)));
        let mut waited = Duration::ZERO;
        let mut attempts = 0;
        while let Some(pause) = pause_before_retry(attempts) {
            waited += pause;
            attempts += 1;
        }
        assert!(waited >= BUSY_TIMEOUT && waited < BUSY_TIMEOUT + Duration::from_millis(2), "{waited:?}");
    }

    #[test]
    fn a_write_waits_for_another_connections_write_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let other = open_db(dir.path(), &dir.path().join("berth.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            other.execute_batch("COMMIT").unwrap();
        });
        // Busy at first: succeeds once the other transaction commits, well before the timeout.
        store.conn().execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
        holder.join().unwrap();
    }

    #[test]
    fn open_twice_migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap();
        let b = Store::open(dir.path()).unwrap();
        let v: usize = b.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, schema::MIGRATIONS.len());
        a.conn().pragma_update(None, "user_version", 999).unwrap();
        drop((a, b));
        assert!(matches!(Store::open(dir.path()), Err(StoreError::SchemaTooNew { found: 999, .. })));
    }

    #[test]
    fn a_removed_containers_directory_left_by_a_dead_process_goes_at_the_next_opening() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let removed = dir.path().join(REMOVED_DIR);
        // No process has the largest pid; this test's process is alive.
        let orphan = removed.join(format!("removed-{}-{}", i32::MAX, "a".repeat(64)));
        let pending = removed.join(format!("removed-{}-{}", std::process::id(), "b".repeat(64)));
        for d in [&orphan, &pending] {
            std::fs::create_dir_all(d.join("upper/etc")).unwrap();
            std::fs::write(d.join("config.json"), "{}").unwrap();
        }
        drop(Store::open(dir.path()).unwrap());
        assert!(!orphan.exists(), "the dead process's leftover is swept");
        assert!(pending.exists(), "a live process deletes its own");
    }

    #[test]
    fn a_damaged_database_beside_stored_data_is_an_error_that_says_so() {
        for content in [&b""[..], b"this is not a database, only garbage bytes of some length..........."] {
            let dir = tempfile::tempdir().unwrap();
            drop(Store::open(dir.path()).unwrap());
            std::fs::create_dir(dir.path().join("containers").join("c".repeat(64))).unwrap();
            std::fs::create_dir(dir.path().join("layers").join("1".repeat(64))).unwrap();
            for file in ["berth.db-wal", "berth.db-shm"] {
                let _ = std::fs::remove_file(dir.path().join(file));
            }
            std::fs::write(dir.path().join("berth.db"), content).unwrap();
            let err = Store::open(dir.path()).unwrap_err();
            assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("berth.db") && text.contains("containers (1), layers (1)"), "{text}");
            assert!(std::fs::read(dir.path().join("berth.db")).unwrap() == content, "left as it was");
        }
        let fresh = tempfile::tempdir().unwrap();
        std::fs::write(fresh.path().join("berth.db"), b"").unwrap();
        Store::open(fresh.path()).expect("an empty database in an empty root is a fresh start");
    }

    #[test]
    fn many_openers_of_a_fresh_root_all_succeed() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let openers: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Store::open(dir.path()).map(drop)
                        })
                    })
                    .collect();
                for opener in openers {
                    opener.join().unwrap().unwrap();
                }
            });
        }
    }
}
