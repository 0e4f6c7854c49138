//! Container rows in the state store: the only truth every berth process shares.

use std::path::{Path, PathBuf};

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::{ContainerError, Status, names};
use crate::Error;
use crate::runtime::RunOptions;
use crate::store::Store;

/// One container as the store knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    /// The image as the user named it (`busybox`, `127.0.0.1:5000/app:1`).
    pub image_name: String,
    pub options: RunOptions,
    /// The command the container runs: the image's Entrypoint and Cmd as overridden by the options.
    pub command: Vec<String>,
    pub created_at: String,
    pub status: Status,
    /// The container's init process in the host pid namespace; 0 when not running.
    pub pid: i32,
    /// The init process's start time (clock ticks since boot), checked before it is signalled; 0: unknown.
    pub pid_start: u64,
    pub monitor_pid: i32,
    pub monitor_start: u64,
    /// The monitor's pidfs inode (unique for the boot, unlike its pid); 0: unknown.
    pub monitor_ino: u64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    pub stop_requested: bool,
    /// Why the last start failed, empty otherwise.
    pub error: String,
    /// `State.Health`: what the monitor's healthchecks found; None without a healthcheck.
    pub health: Option<crate::health::Health>,
}

impl ContainerRecord {
    /// A container as `create` first stores it: created, never started.
    pub fn new(
        id: String,
        name: String,
        image_id: String,
        image_name: String,
        options: RunOptions,
        command: Vec<String>,
    ) -> ContainerRecord {
        ContainerRecord {
            id,
            name,
            image_id,
            image_name,
            options,
            command,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            monitor_ino: 0,
            exit_code: 0,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            restart_count: 0,
            stop_requested: false,
            error: String::new(),
            health: None,
        }
    }

    /// The 12-digit id Docker prints.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// `ROOT/containers/<id>`: bundle, overlay dirs and logs.
    pub fn dir(&self, root: &Path) -> PathBuf {
        container_dir(root, &self.id)
    }
}

pub(crate) fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

/// How a run of the container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) code: i32,
    pub(crate) oom_killed: bool,
}

const COLUMNS: &str = "id, name, image_id, image_name, options, created_at, status, pid, monitor_pid, monitor_start,
    exit_code, oom_killed, started_at, finished_at, restart_count, stop_requested, error, command, pid_start, health, monitor_ino";

/// Reads a row. A part that cannot be parsed (options, command, status) does not lose the container: the
/// record comes back with that part at its default (an unknown status reads as dead) and the damage named,
/// so `ps` still lists it and `rm -f` still removes it.
fn from_row(row: &Row) -> rusqlite::Result<(ContainerRecord, Option<String>)> {
    let mut damage = Vec::new();
    let options: String = row.get(4)?;
    let options = serde_json::from_str(&options).unwrap_or_else(|e| {
        damage.push(format!("options: {e}"));
        RunOptions::default()
    });
    let command: String = row.get(17)?;
    let command = serde_json::from_str(&command).unwrap_or_else(|e| {
        damage.push(format!("command: {e}"));
        Vec::new()
    });
    let health: Option<String> = row.get(19)?;
    let health = health.and_then(|h| serde_json::from_str(&h).map_err(|e| damage.push(format!("health: {e}"))).ok());
    let status: String = row.get(6)?;
    let status = Status::parse(&status).unwrap_or_else(|| {
        damage.push(format!("unknown status {status:?}"));
        Status::Dead
    });
    let damage = (!damage.is_empty()).then(|| damage.join("; "));
    let error: String = row.get(16)?;
    let rec = ContainerRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        image_id: row.get(2)?,
        image_name: row.get(3)?,
        options,
        command,
        created_at: row.get(5)?,
        status,
        pid: row.get(7)?,
        pid_start: row.get::<_, i64>(18)? as u64,
        monitor_pid: row.get(8)?,
        monitor_start: row.get::<_, i64>(9)? as u64,
        monitor_ino: row.get::<_, i64>(20)? as u64,
        exit_code: row.get(10)?,
        oom_killed: row.get(11)?,
        started_at: row.get(12)?,
        finished_at: row.get(13)?,
        restart_count: row.get(14)?,
        stop_requested: row.get(15)?,
        error: match &damage {
            Some(d) => format!("damaged record: {d}"),
            None => error,
        },
        health,
    };
    Ok((rec, damage))
}

/// Typed access to the containers table.
pub(crate) struct Records<'a> {
    store: &'a Store,
}

impl<'a> Records<'a> {
    pub(crate) fn new(store: &'a Store) -> Records<'a> {
        Records { store }
    }

    fn db(&self, e: rusqlite::Error) -> Error {
        self.store.db_err(e).into()
    }

    /// Inserts a new container. Without a requested name, generated names are retried until one is free.
    pub(crate) fn insert(&self, rec: &mut ContainerRecord, name_given: bool) -> Result<(), Error> {
        let options = serde_json::to_string(&rec.options)
            .map_err(|e| ContainerError::Corrupt { id: rec.id.clone(), reason: e.to_string() })?;
        let command = serde_json::to_string(&rec.command)
            .map_err(|e| ContainerError::Corrupt { id: rec.id.clone(), reason: e.to_string() })?;
        for attempt in 0..64 {
            if !name_given {
                rec.name = names::generate(attempt);
            }
            let result = self.store.conn().execute(
                "INSERT INTO containers (id, name, image_id, image_name, options, created_at, status, command)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    rec.id,
                    rec.name,
                    rec.image_id,
                    rec.image_name,
                    options,
                    rec.created_at,
                    rec.status.as_str(),
                    command
                ],
            );
            match result {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    if name_given {
                        let holder = self.by_exact_name(&rec.name)?.map(|r| r.id).unwrap_or_default();
                        return Err(ContainerError::NameInUse { name: rec.name.clone(), id: holder }.into());
                    }
                }
                Err(e) => return Err(self.db(e)),
            }
        }
        Err(ContainerError::NameInUse { name: rec.name.clone(), id: String::new() }.into())
    }

    /// Rows as well as they can be read; a damaged one carries its damage in `error`.
    fn query(&self, filter: &str, arg: &str) -> Result<Vec<ContainerRecord>, Error> {
        Ok(self.query_rows(filter, arg)?.into_iter().map(|(rec, _)| rec).collect())
    }

    fn query_rows(&self, filter: &str, arg: &str) -> Result<Vec<(ContainerRecord, Option<String>)>, Error> {
        let conn = self.store.conn();
        let sql = format!("SELECT {COLUMNS} FROM containers {filter}");
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.db(e))?;
        if filter.contains("?1") {
            stmt.query_map([arg], from_row).and_then(|r| r.collect()).map_err(|e| self.db(e))
        } else {
            stmt.query_map([], from_row).and_then(|r| r.collect()).map_err(|e| self.db(e))
        }
    }

    fn by_exact_name(&self, name: &str) -> Result<Option<ContainerRecord>, Error> {
        Ok(self.query("WHERE name = ?1", name)?.into_iter().next())
    }

    /// By exact id, whole: what runs the container (its monitor, an exec) must not guess at a damaged part.
    pub(crate) fn get(&self, id: &str) -> Result<ContainerRecord, Error> {
        match self.query_rows("WHERE id = ?1", id)?.into_iter().next() {
            None => Err(ContainerError::NotFound { name: id.to_string() }.into()),
            Some((_, Some(reason))) => Err(ContainerError::Corrupt { id: id.to_string(), reason }.into()),
            Some((rec, None)) => Ok(rec),
        }
    }

    /// By exact id; None once it is removed.
    pub(crate) fn lookup(&self, id: &str) -> Result<Option<ContainerRecord>, Error> {
        Ok(self.query("WHERE id = ?1", id)?.into_iter().next())
    }

    /// Docker's lookup order: full id, exact name, then a unique id prefix.
    pub(crate) fn find(&self, name_or_id: &str) -> Result<ContainerRecord, Error> {
        let key = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        let not_found = || ContainerError::NotFound { name: name_or_id.to_string() };
        if key.is_empty() {
            return Err(not_found().into());
        }
        if let Some(rec) = self.query("WHERE id = ?1", key)?.into_iter().next() {
            return Ok(rec);
        }
        if let Some(rec) = self.by_exact_name(key)? {
            return Ok(rec);
        }
        if !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(not_found().into());
        }
        let pattern = format!("{}%", key.to_ascii_lowercase());
        let mut matches = self.query("WHERE id LIKE ?1", &pattern)?;
        match matches.len() {
            0 => Err(not_found().into()),
            1 => Ok(matches.remove(0)),
            count => Err(ContainerError::Ambiguous { name: name_or_id.to_string(), count }.into()),
        }
    }

    /// Every container, newest first.
    pub(crate) fn all(&self) -> Result<Vec<ContainerRecord>, Error> {
        self.query("ORDER BY created_at DESC, id", "")
    }

    /// The active ones ([`Status::is_active`]), newest first: what `ps` shows without `-a`, read without
    /// the stopped ones' rows.
    pub(crate) fn active(&self) -> Result<Vec<ContainerRecord>, Error> {
        let active: Vec<String> =
            Status::ALL.iter().filter(|s| s.is_active()).map(|s| format!("'{}'", s.as_str())).collect();
        self.query(&format!("WHERE status IN ({}) ORDER BY created_at DESC, id", active.join(", ")), "")
    }

    /// Ids of containers using an image.
    pub(crate) fn using_image(&self, image_id: &str) -> Result<Vec<String>, Error> {
        Ok(self.query("WHERE image_id = ?1", image_id)?.into_iter().map(|r| r.id).collect())
    }

    /// One write; on a full disk the store's space reserve makes room for it (a container that filled the
    /// disk must still be stopped, killed and removed).
    fn exec(&self, sql: &str, params: impl rusqlite::Params + Copy) -> Result<usize, Error> {
        self.store.with_room(|| self.store.conn().execute(sql, params)).map_err(|e| self.db(e))
    }

    pub(crate) fn set_monitor(&self, id: &str, pid: i32, start: u64, ino: u64) -> Result<(), Error> {
        self.exec(
            "UPDATE containers SET monitor_pid = ?2, monitor_start = ?3, monitor_ino = ?4 WHERE id = ?1",
            params![id, pid, start as i64, ino as i64],
        )
        .map(drop)
    }

    /// `pid_start` is the init process's start time, which guards every later signal against pid reuse.
    pub(crate) fn set_running(&self, id: &str, pid: i32, pid_start: u64, started_at: &str) -> Result<(), Error> {
        self.exec(
            "UPDATE containers SET status = 'running', pid = ?2, pid_start = ?4, started_at = ?3, exit_code = 0,
             oom_killed = 0, error = '' WHERE id = ?1",
            params![id, pid, started_at, pid_start as i64],
        )
        .map(drop)
    }

    /// Records an exit; `status` is exited, or restarting when the policy runs the container again.
    pub(crate) fn set_exit(&self, id: &str, exit: Exit, status: Status, finished_at: &str) -> Result<(), Error> {
        self.exec(
            "UPDATE containers SET status = ?2, pid = 0, pid_start = 0, exit_code = ?3, oom_killed = ?4, finished_at = ?5,
             monitor_pid = CASE WHEN ?2 = 'restarting' THEN monitor_pid ELSE 0 END
             WHERE id = ?1",
            params![id, status.as_str(), exit.code, exit.oom_killed, finished_at],
        )
        .map(drop)
    }

    /// A start that never ran the process: back to `status` with Docker's exit code and the reason.
    pub(crate) fn set_start_failure(&self, id: &str, status: Status, code: i32, error: &str) -> Result<(), Error> {
        self.exec(
            "UPDATE containers SET status = ?2, pid = 0, pid_start = 0, monitor_pid = 0, exit_code = ?3, error = ?4 WHERE id = ?1",
            params![id, status.as_str(), code, error],
        )
        .map(drop)
    }

    /// The monitor's healthcheck state after a check, a start or an exit.
    pub(crate) fn set_health(&self, id: &str, health: &crate::health::Health) -> Result<(), Error> {
        // Strings and numbers only: serializing cannot fail.
        let json = serde_json::to_string(health).expect("a health state serializes");
        self.exec("UPDATE containers SET health = ?2 WHERE id = ?1", params![id, json]).map(drop)
    }

    pub(crate) fn set_status(&self, id: &str, status: Status) -> Result<(), Error> {
        self.exec("UPDATE containers SET status = ?2 WHERE id = ?1", params![id, status.as_str()]).map(drop)
    }

    /// Moves `from` to `to` only if the row is still in `from`; false when another process got there first.
    /// A status berth cannot read counts as dead, as [`from_row`] shows it.
    pub(crate) fn transition(&self, id: &str, from: Status, to: Status) -> Result<bool, Error> {
        Ok(self.exec(
            "UPDATE containers SET status = ?3 WHERE id = ?1 AND (status = ?2 OR (?2 = 'dead' AND status NOT IN
             ('created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead')))",
            params![id, from.as_str(), to.as_str()],
        )? == 1)
    }

    pub(crate) fn set_stop_requested(&self, id: &str, requested: bool) -> Result<(), Error> {
        self.exec("UPDATE containers SET stop_requested = ?2 WHERE id = ?1", params![id, requested]).map(drop)
    }

    pub(crate) fn bump_restart_count(&self, id: &str) -> Result<(), Error> {
        self.exec("UPDATE containers SET restart_count = restart_count + 1 WHERE id = ?1", params![id]).map(drop)
    }

    pub(crate) fn reset_restart_count(&self, id: &str) -> Result<(), Error> {
        self.exec("UPDATE containers SET restart_count = 0 WHERE id = ?1", params![id]).map(drop)
    }

    pub(crate) fn rename(&self, id: &str, new_name: &str) -> Result<(), Error> {
        match self.exec("UPDATE containers SET name = ?2 WHERE id = ?1", params![id, new_name]) {
            Ok(_) => Ok(()),
            Err(Error::Store(crate::store::StoreError::Db { source, .. })) if is_unique_violation(&source) => {
                let holder = self.by_exact_name(new_name)?.map(|r| r.id).unwrap_or_default();
                Err(ContainerError::NameInUse { name: new_name.to_string(), id: holder }.into())
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the stored options (`network connect`/`disconnect` change the container's networks).
    pub(crate) fn set_options(&self, id: &str, options: &RunOptions) -> Result<(), Error> {
        let text = serde_json::to_string(options)
            .map_err(|e| ContainerError::Corrupt { id: id.to_string(), reason: format!("options: {e}") })?;
        self.exec("UPDATE containers SET options = ?2 WHERE id = ?1", params![id, text]).map(drop)
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), Error> {
        self.exec("DELETE FROM containers WHERE id = ?1", params![id]).map(drop)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store with one fake image row, enough for container records.
    pub(crate) fn store_with_image() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, architecture, os, size, pulled_at)
                 VALUES ('sha256:img', 'd', 'm', 'amd64', 'linux', 0, 'now')",
                [],
            )
            .unwrap();
        (dir, store)
    }

    pub(crate) fn record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord::new(
            id.to_string(),
            name.to_string(),
            "sha256:img".into(),
            "busybox".into(),
            RunOptions::default(),
            vec!["sh".into()],
        )
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut a = record(&format!("abc1{}", "0".repeat(60)), "web");
        let mut b = record(&format!("abc2{}", "0".repeat(60)), "db");
        records.insert(&mut a, true).unwrap();
        records.insert(&mut b, true).unwrap();
        assert_eq!(records.find("web").unwrap().id, a.id);
        assert_eq!(records.find("/db").unwrap().id, b.id);
        assert_eq!(records.find("abc2").unwrap().id, b.id);
        assert_eq!(records.find(&a.id).unwrap().name, "web");
        assert!(matches!(records.find("abc"), Err(Error::Container(ContainerError::Ambiguous { count: 2, .. }))));
        assert!(matches!(records.find("nope"), Err(Error::Container(ContainerError::NotFound { .. }))));
        assert!(matches!(records.find(""), Err(Error::Container(ContainerError::NotFound { .. }))));
    }

    #[test]
    fn active_rows_are_the_active_statuses() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        for (n, status) in Status::ALL.iter().enumerate() {
            let mut rec = record(&format!("{n}").repeat(64), status.as_str());
            records.insert(&mut rec, true).unwrap();
            records.set_status(&rec.id, *status).unwrap();
        }
        let mut active: Vec<String> = records.active().unwrap().into_iter().map(|r| r.name).collect();
        active.sort();
        let mut want: Vec<String> =
            Status::ALL.iter().filter(|s| s.is_active()).map(|s| s.as_str().to_string()).collect();
        want.sort();
        assert_eq!(active, want);
    }

    #[test]
    fn names_are_unique() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut a = record(&"a".repeat(64), "web");
        records.insert(&mut a, true).unwrap();
        let mut b = record(&"b".repeat(64), "web");
        let err = records.insert(&mut b, true).unwrap_err();
        assert!(matches!(err, Error::Container(ContainerError::NameInUse { ref id, .. }) if *id == a.id), "{err}");
        let mut c = record(&"c".repeat(64), "");
        records.insert(&mut c, false).unwrap();
        assert!(names::valid(&c.name));
        let err = records.rename(&c.id, "web").unwrap_err();
        assert!(matches!(err, Error::Container(ContainerError::NameInUse { .. })), "{err}");
        records.rename(&c.id, "cache").unwrap();
        assert_eq!(records.get(&c.id).unwrap().name, "cache");
    }

    #[test]
    fn a_damaged_row_is_read_with_what_is_known_but_never_run() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut a = record(&"e".repeat(64), "broken");
        records.insert(&mut a, true).unwrap();
        store
            .conn()
            .execute("UPDATE containers SET options = '{oops', status = 'sleeping' WHERE id = ?1", [&a.id])
            .unwrap();
        let listed = records.all().unwrap();
        assert_eq!(listed.len(), 1);
        let rec = &listed[0];
        assert_eq!((rec.name.as_str(), rec.status), ("broken", Status::Dead));
        assert!(rec.error.contains("options") && rec.error.contains("sleeping"), "{}", rec.error);
        assert_eq!(records.find("broken").unwrap().id, a.id);
        let err = records.get(&a.id).unwrap_err();
        assert!(matches!(err, Error::Container(ContainerError::Corrupt { .. })), "{err}");
        assert!(records.transition(&a.id, Status::Dead, Status::Removing).unwrap(), "an unknown status counts as dead");
        records.delete(&a.id).unwrap();
        assert!(records.all().unwrap().is_empty());
    }

    #[test]
    fn state_updates_round_trip() {
        let (_dir, store) = store_with_image();
        let records = Records::new(&store);
        let mut a = record(&"d".repeat(64), "job");
        records.insert(&mut a, true).unwrap();
        records.set_monitor(&a.id, 42, 7, 8).unwrap();
        records.set_running(&a.id, 43, 9, "t1").unwrap();
        let r = records.get(&a.id).unwrap();
        assert_eq!(
            (r.status, r.pid, r.pid_start, r.monitor_pid, r.monitor_start, r.monitor_ino),
            (Status::Running, 43, 9, 42, 7, 8)
        );
        records.set_exit(&a.id, Exit { code: 137, oom_killed: true }, Status::Exited, "t2").unwrap();
        let r = records.get(&a.id).unwrap();
        assert_eq!((r.status, r.exit_code, r.oom_killed, r.pid, r.monitor_pid), (Status::Exited, 137, true, 0, 0));
        assert!(records.transition(&a.id, Status::Exited, Status::Removing).unwrap());
        assert!(!records.transition(&a.id, Status::Exited, Status::Removing).unwrap());
        assert_eq!(records.using_image("sha256:img").unwrap(), vec![a.id.clone()]);
        records.delete(&a.id).unwrap();
        assert!(records.get(&a.id).is_err());
    }
}
