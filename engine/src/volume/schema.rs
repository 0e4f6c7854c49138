//! The volumes tables (migration appended to the store's list).
//!
//! ```text
//! volumes ──< volume_mounts >── containers   (which container mounts which volume where)
//! ```
//! A mount row goes with its container (ON DELETE CASCADE), so a removed container never keeps a volume
//! in use; a volume row cannot go while a mount row names it.

pub(crate) const VOLUMES_V1: &str = "
CREATE TABLE volumes (
    name      TEXT PRIMARY KEY,              -- user's name, or 64 hex digits for an anonymous volume
    driver    TEXT NOT NULL,                 -- local
    labels    TEXT NOT NULL,                 -- JSON object
    anonymous INTEGER NOT NULL,              -- made for -v /path or an image VOLUME: rm -v and prune take it
    seeded    INTEGER NOT NULL DEFAULT 0,    -- the image's content was copied in (done once)
    created   TEXT NOT NULL
);
CREATE TABLE volume_mounts (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    destination  TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX volume_mounts_volume ON volume_mounts(volume);
";

#[cfg(test)]
mod tests {
    #[test]
    fn mounts_go_with_their_container_and_hold_their_volume() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert!(crate::store::schema::MIGRATIONS.contains(&super::VOLUMES_V1));
        for sql in crate::store::schema::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, architecture, os, size, pulled_at)
             VALUES ('sha256:x', 'd', 'm', 'amd64', 'linux', 0, 'now');
             INSERT INTO containers (id, name, image_id, image_name, options, created_at, status)
             VALUES ('c1', 'one', 'sha256:x', 'busybox', '{}', 'now', 'created');
             INSERT INTO volumes (name, driver, labels, anonymous, created) VALUES ('data', 'local', '{}', 0, 'now');
             INSERT INTO volume_mounts (container_id, volume, destination) VALUES ('c1', 'data', '/data');",
        )
        .unwrap();
        assert!(conn.execute("DELETE FROM volumes WHERE name = 'data'", []).is_err(), "a used volume must stay");
        let unknown = "INSERT INTO volume_mounts (container_id, volume, destination) VALUES ('c1', 'nope', '/x')";
        assert!(conn.execute(unknown, []).is_err());
        conn.execute("DELETE FROM containers WHERE id = 'c1'", []).unwrap();
        let left: i64 = conn.query_row("SELECT count(*) FROM volume_mounts", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
        conn.execute("DELETE FROM volumes WHERE name = 'data'", []).unwrap();
    }
}
