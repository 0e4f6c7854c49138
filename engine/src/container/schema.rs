//! The containers table (migration appended to the store's list).
//!
//! ```text
//! images ──< containers       (a container runs one image; rmi refuses while one exists)
//! ```
//! `name` is UNIQUE so parallel creators in separate processes can never share a name: the loser of a
//! race gets a constraint error and picks another generated name.

pub(crate) const CONTAINERS_V1: &str = "
CREATE TABLE containers (
    id             TEXT PRIMARY KEY,              -- 64 hex digits
    name           TEXT NOT NULL UNIQUE,
    image_id       TEXT NOT NULL REFERENCES images(id),
    image_name     TEXT NOT NULL,                 -- as the user wrote it
    options        TEXT NOT NULL,                 -- RunOptions as JSON
    command        TEXT NOT NULL DEFAULT '[]',    -- effective Entrypoint + Cmd as a JSON array, for ps
    created_at     TEXT NOT NULL,
    status         TEXT NOT NULL,                 -- created|running|paused|restarting|exited|dead|removing
    pid            INTEGER NOT NULL DEFAULT 0,    -- container init, host pid namespace
    monitor_pid    INTEGER NOT NULL DEFAULT 0,
    monitor_start  INTEGER NOT NULL DEFAULT 0,    -- monitor's start time in clock ticks: guards pid reuse
    exit_code      INTEGER NOT NULL DEFAULT 0,
    oom_killed     INTEGER NOT NULL DEFAULT 0,
    started_at     TEXT,
    finished_at    TEXT,
    restart_count  INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,    -- stop/kill by a user: no restart policy applies
    error          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX containers_image ON containers(image_id);
CREATE INDEX containers_status ON containers(status);
";

/// The init process's start time, so a signal never reaches another process that got its pid.
pub(crate) const CONTAINERS_V2: &str = "
ALTER TABLE containers ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0;  -- clock ticks since boot; 0: unknown
";

/// The monitor's pidfs inode, which tells a live monitor from a reused pid without a read of /proc.
pub(crate) const CONTAINERS_V3: &str = "
ALTER TABLE containers ADD COLUMN monitor_ino INTEGER NOT NULL DEFAULT 0;  -- 0: unknown, or no pidfs here
";

#[cfg(test)]
mod tests {
    #[test]
    fn containers_reference_images_and_names_are_unique() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        for sql in crate::store::schema::MIGRATIONS {
            assert!(crate::store::schema::MIGRATIONS.contains(&super::CONTAINERS_V1));
            conn.execute_batch(sql).unwrap();
        }
        let insert = "INSERT INTO containers (id, name, image_id, image_name, options, created_at, status)
                      VALUES (?1, ?2, ?3, 'busybox', '{}', 'now', 'created')";
        assert!(conn.execute(insert, ["a", "one", "sha256:none"]).is_err(), "unknown image must be refused");
        conn.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, architecture, os, size, pulled_at)
             VALUES ('sha256:x', 'd', 'm', 'amd64', 'linux', 0, 'now')",
            [],
        )
        .unwrap();
        conn.execute(insert, ["a", "one", "sha256:x"]).unwrap();
        let dup = conn.execute(insert, ["b", "one", "sha256:x"]).unwrap_err();
        assert!(dup.to_string().contains("UNIQUE"), "{dup}");
    }

    #[test]
    fn a_store_from_before_pid_start_gains_it() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let migrations = crate::store::schema::MIGRATIONS;
        let v2 = migrations.iter().position(|m| *m == super::CONTAINERS_V2).unwrap();
        assert!(v2 > migrations.iter().position(|m| *m == super::CONTAINERS_V1).unwrap());
        for sql in &migrations[..v2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, architecture, os, size, pulled_at)
             VALUES ('sha256:x', 'd', 'm', 'amd64', 'linux', 0, 'now')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO containers (id, name, image_id, image_name, options, created_at, status, pid)
             VALUES ('a', 'old', 'sha256:x', 'busybox', '{}', 'now', 'running', 42)",
            [],
        )
        .unwrap();
        for sql in &migrations[v2..] {
            conn.execute_batch(sql).unwrap();
        }
        let (pid, start): (i32, i64) =
            conn.query_row("SELECT pid, pid_start FROM containers", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((pid, start), (42, 0), "a container started before the migration has an unknown start");
    }
}
