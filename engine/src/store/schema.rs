//! The metadata schema and its migrations.
//!
//! ```text
//! images ──< image_layers >── layers          (an image is a stack of shared layers, by chain id)
//!   │  └──< image_blobs                        (manifest/index/config blobs an image keeps alive)
//!   ├──< tags          name:tag  → image       (unique: a tag names one image)
//!   └──< repo_digests  name@digest → image
//! layers ──< layer_blobs                       (the compressed blob made for a local layer, see store::local)
//! blob_locations  digest → registry/repository  (where pulled and pushed blobs live, see store::locations)
//! platform_images name + platform → image       (every platform pulled or built under a name, see store::platforms)
//! manifest_lists  name → entries                 (indexes being assembled by `manifest create`)
//!
//! networks ──< network_endpoints ──< port_mappings   (a container's address on a network, its published ports)
//! volumes ──< volume_mounts >── containers           (see volume::schema)
//! ```
//! Migrations run in order, each once, tracked by `PRAGMA user_version`. Append; never edit a shipped one.

pub(crate) const MIGRATIONS: &[&str] = &[
    IMAGES_V1,
    crate::container::schema::CONTAINERS_V1,
    NETWORKS_V1,
    crate::volume::schema::VOLUMES_V1,
    crate::container::schema::CONTAINERS_V2,
    super::local::LOCAL_V1,
    crate::builder::cache::BUILD_V1,
    crate::health::HEALTH_V1,
    super::locations::LOCATIONS_V1,
    crate::builder::cache::BUILD_V2,
    super::platforms::PLATFORMS_V1,
    super::manifest_lists::MANIFEST_LISTS_V1,
    crate::container::schema::CONTAINERS_V3,
];

const IMAGES_V1: &str = "
CREATE TABLE images (
    id                  TEXT PRIMARY KEY,      -- sha256:<config digest>
    manifest_digest     TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    architecture        TEXT NOT NULL,
    os                  TEXT NOT NULL,
    variant             TEXT,
    created             TEXT,                  -- from the image config
    size                INTEGER NOT NULL,      -- unpacked bytes of all layers
    pulled_at           TEXT NOT NULL
);
CREATE TABLE layers (
    chain_id    TEXT PRIMARY KEY,
    diff_id     TEXT NOT NULL,
    parent      TEXT REFERENCES layers(chain_id),
    blob_digest TEXT NOT NULL,
    size        INTEGER NOT NULL
);
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,                 -- 0 is the bottom layer
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE TABLE tags (
    name     TEXT PRIMARY KEY,                 -- registry/repository:tag
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  TEXT NOT NULL
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE repo_digests (
    name     TEXT PRIMARY KEY,                 -- registry/repository@sha256:...
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX repo_digests_image ON repo_digests(image_id);
";

/// Container ids are not foreign keys: endpoints must outlive a container row until teardown has run.
const NETWORKS_V1: &str = "
CREATE TABLE networks (
    id       TEXT PRIMARY KEY,                 -- 64 hex digits
    name     TEXT NOT NULL UNIQUE,
    driver   TEXT NOT NULL,                    -- bridge
    bridge   TEXT NOT NULL UNIQUE,             -- Linux bridge device name
    subnet   TEXT NOT NULL,                    -- 10.66.0.0/16
    gateway  TEXT NOT NULL,
    internal INTEGER NOT NULL,
    dns      INTEGER NOT NULL,                 -- containers resolve each other by name
    labels   TEXT NOT NULL,                    -- JSON object
    created  TEXT NOT NULL
);
CREATE TABLE network_endpoints (
    network_id     TEXT NOT NULL REFERENCES networks(id),
    container_id   TEXT NOT NULL,
    container_name TEXT NOT NULL,
    address        TEXT NOT NULL,
    mac            TEXT NOT NULL,
    host_veth      TEXT NOT NULL UNIQUE,
    ifname         TEXT NOT NULL,              -- eth0, eth1 ... inside the container
    aliases        TEXT NOT NULL,              -- JSON array
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, address)
);
CREATE INDEX network_endpoints_container ON network_endpoints(container_id);
CREATE TABLE port_mappings (
    network_id     TEXT NOT NULL,
    container_id   TEXT NOT NULL,
    host_ip        TEXT NOT NULL,              -- 0.0.0.0 for every address
    host_port      INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    protocol       TEXT NOT NULL,              -- tcp or udp
    UNIQUE (host_ip, host_port, protocol),
    FOREIGN KEY (network_id, container_id) REFERENCES network_endpoints(network_id, container_id) ON DELETE CASCADE
);
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_applies_in_order_on_an_empty_database() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            conn.execute_batch(sql).unwrap_or_else(|e| panic!("migration {i}: {e}"));
        }
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'images'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
