//! Volume rows and the `volume create|ls|inspect|rm|prune` operations as `Engine` methods, plus the hooks
//! container create and removal use (find-or-create, mount rows, anonymous volume removal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use rusqlite::{OptionalExtension, Row, params};
use serde_json::{Value, json};

use super::mounts::{MountKind, MountSpec};
use super::{VolumeError, valid_name, volume_data_dir};
use crate::store::Store;
use crate::{Engine, Error};

/// The only driver berth has.
const LOCAL_DRIVER: &str = "local";

/// One volume as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub anonymous: bool,
    pub seeded: bool,
    pub created: String,
    /// `ROOT/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// Names of the containers that mount it.
    pub used_by: Vec<String>,
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    /// None makes an anonymous volume with a 64-hex name.
    pub name: Option<String>,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `--opt KEY=VALUE`; the local driver supports none, so any is refused by name.
    pub options: BTreeMap<String, String>,
}

/// `volume ls --filter`: dangling=, name=, label=, driver=.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub dangling: Option<bool>,
    pub name: Vec<String>,
    pub label: Vec<(String, Option<String>)>,
    pub driver: Vec<String>,
}

impl VolumeFilter {
    /// Parses `key=value` filters as Docker's CLI takes them.
    pub fn parse(filters: &[String]) -> Result<VolumeFilter, VolumeError> {
        let mut out = VolumeFilter::default();
        for filter in filters {
            let bad = |reason: &str| VolumeError::InvalidFilter { filter: filter.clone(), reason: reason.to_string() };
            let (key, value) = filter.split_once('=').ok_or_else(|| bad("expected key=value"))?;
            match key {
                "dangling" => {
                    out.dangling = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("dangling takes true or false")),
                    })
                }
                "name" => out.name.push(value.to_string()),
                "driver" => out.driver.push(value.to_string()),
                "label" => out.label.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                }),
                _ => return Err(bad("supported filters are dangling, driver, label and name")),
            }
        }
        Ok(out)
    }

    fn matches(&self, v: &VolumeRecord) -> bool {
        self.dangling.is_none_or(|d| d == v.used_by.is_empty())
            && (self.name.is_empty() || self.name.iter().any(|n| v.name.contains(n.as_str())))
            && (self.driver.is_empty() || self.driver.contains(&v.driver))
            && self.label.iter().all(|(k, want)| match (v.labels.get(k), want) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            })
    }
}

/// `volume prune`: anonymous unused volumes, or every unused one with `all`; `label` filters.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    pub all: bool,
    pub label: Vec<(String, Option<String>)>,
}

const COLUMNS: &str = "name, driver, labels, anonymous, seeded, created";

fn from_row(root: &Path, row: &Row) -> rusqlite::Result<VolumeRecord> {
    let name: String = row.get(0)?;
    let labels: String = row.get(2)?;
    let labels = serde_json::from_str(&labels)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(VolumeRecord {
        mountpoint: volume_data_dir(root, &name),
        driver: row.get(1)?,
        labels,
        anonymous: row.get(3)?,
        seeded: row.get(4)?,
        created: row.get(5)?,
        used_by: Vec::new(),
        name,
    })
}

fn users(store: &Store, name: &str) -> Result<Vec<String>, VolumeError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.name FROM volume_mounts m JOIN containers c ON c.id = m.container_id
             WHERE m.volume = ?1 ORDER BY c.name",
        )
        .map_err(|e| store.db_err(e))?;
    let names = stmt.query_map([name], |r| r.get(0)).and_then(|r| r.collect()).map_err(|e| store.db_err(e))?;
    Ok(names)
}

pub(crate) fn find(store: &Store, name: &str) -> Result<VolumeRecord, VolumeError> {
    let found = store
        .conn()
        .query_row(&format!("SELECT {COLUMNS} FROM volumes WHERE name = ?1"), [name], |r| from_row(store.root(), r))
        .optional()
        .map_err(|e| store.db_err(e))?;
    let mut record = found.ok_or_else(|| VolumeError::NotFound { name: name.to_string() })?;
    record.used_by = users(store, name)?;
    Ok(record)
}

fn list(store: &Store) -> Result<Vec<VolumeRecord>, VolumeError> {
    let names: Vec<String> = {
        let conn = store.conn();
        let mut stmt = conn.prepare("SELECT name FROM volumes ORDER BY name").map_err(|e| store.db_err(e))?;
        stmt.query_map([], |r| r.get(0)).and_then(|r| r.collect()).map_err(|e| store.db_err(e))?
    };
    names.iter().map(|n| find(store, n)).collect()
}

/// Held while a volume's row and directory are made or removed, and while the two are checked against each
/// other, so the check never takes a half-made volume for a leftover.
fn volumes_lock(store: &Store) -> Result<crate::store::lock::LockGuard, VolumeError> {
    Ok(crate::store::lock::exclusive(&store.lock_path("volumes"))?)
}

/// Makes `ROOT/volumes` agree with the rows. The row is written before the directory and deleted before it,
/// so a process killed midway leaves a row without its directory (made now) or a directory without its row
/// (removed now, being no volume's).
fn repair(store: &Store) -> Result<(), VolumeError> {
    let dir = store.root().join("volumes");
    let _lock = volumes_lock(store)?;
    let names: std::collections::BTreeSet<String> = {
        let conn = store.conn();
        let mut stmt = conn.prepare("SELECT name FROM volumes").map_err(|e| store.db_err(e))?;
        stmt.query_map([], |r| r.get(0)).and_then(|r| r.collect()).map_err(|e| store.db_err(e))?
    };
    for name in &names {
        let data = volume_data_dir(store.root(), name);
        if !data.is_dir() {
            std::fs::create_dir_all(&data).map_err(VolumeError::io("create", data.clone()))?;
        }
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VolumeError::io("list", dir)(e)),
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(|name| names.contains(name)) {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(VolumeError::io("remove leftover", path.clone()))?;
        }
    }
    Ok(())
}

/// Records the volume, then makes its directory (making it again for a row whose directory a crash lost);
/// an existing volume of that name is returned as it is.
pub(crate) fn create(store: &Store, req: &VolumeCreate) -> Result<VolumeRecord, VolumeError> {
    if let Some(option) = req.options.keys().next() {
        return Err(VolumeError::UnsupportedOption { option: option.clone() });
    }
    if let Some(driver) = req.driver.as_deref().filter(|d| *d != LOCAL_DRIVER) {
        return Err(VolumeError::UnsupportedOption { option: format!("driver={driver}") });
    }
    let (name, anonymous) = match &req.name {
        Some(name) if !valid_name(name) => return Err(VolumeError::InvalidName { name: name.clone() }),
        Some(name) => (name.clone(), false),
        None => (hex::encode(rand::random::<[u8; 32]>()), true),
    };
    let labels = serde_json::to_string(&req.labels).unwrap_or_else(|_| "{}".into());
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lock = volumes_lock(store)?;
    let inserted = store
        .conn()
        .execute(
            "INSERT OR IGNORE INTO volumes (name, driver, labels, anonymous, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, LOCAL_DRIVER, labels, anonymous, created],
        )
        .map_err(|e| store.db_err(e))?;
    let data = volume_data_dir(store.root(), &name);
    std::fs::create_dir_all(&data).map_err(VolumeError::io("create", data.clone()))?;
    drop(lock);
    if inserted > 0 {
        crate::journal::record(store.root(), crate::journal::volume_event("create", &name));
    }
    find(store, &name)
}

/// Deletes an unused volume's row, then its directory. Refuses while containers mount it, naming them.
fn remove(store: &Store, name: &str) -> Result<(), VolumeError> {
    let record = find(store, name)?;
    if !record.used_by.is_empty() {
        return Err(VolumeError::InUse { name: name.to_string(), containers: record.used_by.join(", ") });
    }
    let _lock = volumes_lock(store)?;
    let deleted = store.conn().execute("DELETE FROM volumes WHERE name = ?1", [name]);
    match deleted {
        Ok(_) => {}
        // A container started using it between the check and the delete.
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            return Err(VolumeError::InUse { name: name.to_string(), containers: users(store, name)?.join(", ") });
        }
        Err(e) => return Err(store.db_err(e).into()),
    }
    crate::journal::record(store.root(), crate::journal::volume_event("destroy", name));
    let dir = store.root().join("volumes").join(name);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(VolumeError::io("remove", dir)(e)),
        _ => Ok(()),
    }
}

pub(crate) fn mark_seeded(store: &Store, name: &str) -> Result<(), VolumeError> {
    store.conn().execute("UPDATE volumes SET seeded = 1 WHERE name = ?1", [name]).map_err(|e| store.db_err(e))?;
    Ok(())
}

/// Bytes under `dir`, for prune's report.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

impl Engine {
    /// `volume create`.
    pub fn create_volume(&self, req: &VolumeCreate) -> Result<VolumeRecord, Error> {
        Ok(create(self.store(), req)?)
    }

    /// `volume inspect` and lookups by name.
    pub fn volume(&self, name: &str) -> Result<VolumeRecord, Error> {
        Ok(find(self.store(), name)?)
    }

    /// `volume ls`: every volume the filter keeps, by name (as Docker lists them).
    pub fn volumes(&self, filter: &VolumeFilter) -> Result<Vec<VolumeRecord>, Error> {
        repair(self.store())?;
        Ok(list(self.store())?.into_iter().filter(|v| filter.matches(v)).collect())
    }

    /// `volume rm`: refused while a container uses the volume unless `force`, which still refuses a
    /// volume in use (as Docker does) but ignores a missing one.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), Error> {
        match remove(self.store(), name) {
            Err(VolumeError::NotFound { .. }) if force => Ok(()),
            result => Ok(result?),
        }
    }

    /// `volume prune`: removes unused volumes (anonymous ones only unless `all`); returns their names and
    /// the bytes reclaimed.
    pub fn prune_volumes(&self, opts: &PruneOptions) -> Result<(Vec<String>, u64), Error> {
        let filter = VolumeFilter { dangling: Some(true), label: opts.label.clone(), ..VolumeFilter::default() };
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for volume in self.volumes(&filter)?.into_iter().filter(|v| opts.all || v.anonymous) {
            let size = tree_size(&volume.mountpoint);
            match remove(self.store(), &volume.name) {
                Ok(()) => {
                    reclaimed += size;
                    removed.push(volume.name);
                }
                Err(VolumeError::InUse { .. } | VolumeError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.record_event(crate::journal::prune_event(crate::journal::EventType::Volume, Some(reclaimed)));
        Ok((removed, reclaimed))
    }

    /// Removes the anonymous volumes `mounts` name (`rm -v`, `run --rm`); ones another container still
    /// uses stay, as in Docker.
    pub fn remove_anonymous_volumes(&self, mounts: &[MountSpec]) -> Result<(), Error> {
        Ok(remove_anonymous(self.store(), mounts)?)
    }
}

pub(crate) fn remove_anonymous(store: &Store, mounts: &[MountSpec]) -> Result<(), VolumeError> {
    for m in mounts.iter().filter(|m| m.kind == MountKind::Volume && !m.source.is_empty()) {
        match find(store, &m.source) {
            Ok(v) if v.anonymous => match remove(store, &v.name) {
                Ok(()) | Err(VolumeError::InUse { .. } | VolumeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            },
            Ok(_) | Err(VolumeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Docker's `volume inspect` shape.
pub fn inspect_json(v: &VolumeRecord) -> Value {
    json!({
        "CreatedAt": v.created,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": null,
        "Scope": "local",
    })
}

/// A container's `Mounts` array in Docker's inspect shape.
pub fn mounts_json(mounts: &[MountSpec], root: &Path) -> Value {
    let entries: Vec<Value> = mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only { "ro" } else { "" };
            match m.kind {
                MountKind::Volume => json!({
                    "Type": "volume",
                    "Name": m.source,
                    "Source": volume_data_dir(root, &m.source),
                    "Destination": m.target,
                    "Driver": LOCAL_DRIVER,
                    "Mode": mode,
                    "RW": !m.read_only,
                    "Propagation": "",
                }),
                MountKind::Bind => json!({
                    "Type": "bind",
                    "Source": m.source,
                    "Destination": m.target,
                    "Mode": mode,
                    "RW": !m.read_only,
                    "Propagation": "rprivate",
                }),
                MountKind::Tmpfs => json!({
                    "Type": "tmpfs",
                    "Source": "",
                    "Destination": m.target,
                    "Mode": mode,
                    "RW": !m.read_only,
                    "Propagation": "",
                }),
            }
        })
        .collect();
    Value::Array(entries)
}

/// Completes a container's mounts at create: checks targets are unique and bind sources exist, finds or
/// creates named volumes, names anonymous ones, and adds an anonymous volume for each image VOLUME not
/// already mounted. Returns the anonymous volumes it made, for removal if the create fails later.
pub(crate) fn resolve_for_create(
    store: &Store,
    image: &ImageConfiguration,
    mounts: &mut Vec<MountSpec>,
) -> Result<Vec<MountSpec>, VolumeError> {
    let mut targets = std::collections::BTreeSet::new();
    for m in mounts.iter() {
        if !targets.insert(m.clean_target()) {
            return Err(VolumeError::DuplicateTarget { target: m.target.clone() });
        }
        if m.kind == MountKind::Bind && !Path::new(&m.source).exists() {
            return Err(VolumeError::BindSourceMissing { path: m.source.clone() });
        }
    }
    let image_volumes = image.config().as_ref().and_then(|c| c.volumes().clone()).unwrap_or_default();
    for path in image_volumes {
        let path = super::mounts::clean_path(&path);
        if path != "/" && targets.insert(path.clone()) {
            mounts.push(MountSpec::anonymous(&path));
        }
    }
    let mut made = Vec::new();
    for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
        let named = (!m.source.is_empty()).then(|| m.source.clone());
        let result = create(store, &VolumeCreate { name: named.clone(), ..VolumeCreate::default() });
        match result {
            Ok(v) => {
                m.source = v.name;
                if named.is_none() {
                    made.push(m.clone());
                }
            }
            Err(e) => {
                let _ = remove_anonymous(store, &made);
                return Err(e);
            }
        }
    }
    Ok(made)
}

/// Records which volumes container `id` mounts where; its row must exist.
pub(crate) fn attach(store: &Store, id: &str, mounts: &[MountSpec]) -> Result<(), VolumeError> {
    store
        .write_tx(|tx| {
            for m in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                tx.execute(
                    "INSERT INTO volume_mounts (container_id, volume, destination) VALUES (?1, ?2, ?3)",
                    params![id, m.source, m.clean_target()],
                )
                .map_err(|e| store.db_err(e))?;
            }
            Ok(())
        })
        .map_err(VolumeError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        let filter = VolumeFilter::parse(&["dangling=true".into(), "label=env=prod".into(), "name=da".into()]).unwrap();
        let mut v = VolumeRecord {
            name: "data".into(),
            driver: "local".into(),
            labels: BTreeMap::from([("env".into(), "prod".into())]),
            anonymous: false,
            seeded: false,
            created: "now".into(),
            mountpoint: PathBuf::from("/r/volumes/data/_data"),
            used_by: Vec::new(),
        };
        assert!(filter.matches(&v));
        v.used_by.push("web".into());
        assert!(!filter.matches(&v));
        assert!(VolumeFilter::parse(&["colour=red".into()]).is_err());
        assert!(VolumeFilter::parse(&["dangling=maybe".into()]).is_err());
    }

    #[test]
    fn mounts_in_dockers_inspect_shape() {
        let mounts = [
            MountSpec { read_only: true, ..MountSpec::parse_volume("data:/d").unwrap() },
            MountSpec::parse_volume("/srv:/srv").unwrap(),
            MountSpec::parse_tmpfs("/t").unwrap(),
        ];
        let v = mounts_json(&mounts, Path::new("/r"));
        assert_eq!(v[0]["Type"], "volume");
        assert_eq!(v[0]["Name"], "data");
        assert_eq!(v[0]["Source"], "/r/volumes/data/_data");
        assert_eq!(v[0]["Driver"], "local");
        assert_eq!((v[0]["Mode"].as_str(), v[0]["RW"].as_bool()), (Some("ro"), Some(false)));
        assert_eq!((v[1]["Type"].as_str(), v[1]["Source"].as_str()), (Some("bind"), Some("/srv")));
        assert_eq!(v[1]["Propagation"], "rprivate");
        assert_eq!((v[2]["Type"].as_str(), v[2]["Destination"].as_str()), (Some("tmpfs"), Some("/t")));
    }

    #[test]
    fn image_volumes_become_anonymous_mounts_unless_already_mounted() {
        use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = ConfigBuilder::default().volumes(vec!["/data".into(), "/cache/".into()]).build().unwrap();
        let image = ImageConfigurationBuilder::default().config(config).build().unwrap();
        let mut mounts = vec![MountSpec::parse_volume("named:/data").unwrap()];
        let made = resolve_for_create(&store, &image, &mut mounts).unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!((mounts[0].source.as_str(), mounts[1].target.as_str()), ("named", "/cache"));
        assert_eq!(made, [mounts[1].clone()]);
        assert!(find(&store, &mounts[1].source).unwrap().anonymous);
        let mut dup = vec![MountSpec::parse_volume("/a").unwrap(), MountSpec::parse_tmpfs("/a/").unwrap()];
        assert!(matches!(resolve_for_create(&store, &image, &mut dup), Err(VolumeError::DuplicateTarget { .. })));
        let mut missing = vec![MountSpec::parse_volume("/no/such/berth/path:/x").unwrap()];
        let err = resolve_for_create(&store, &image, &mut missing).unwrap_err();
        assert!(matches!(err, VolumeError::BindSourceMissing { .. }));
    }

    #[test]
    fn names_options_and_drivers_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bad = create(&store, &VolumeCreate { name: Some("../x".into()), ..VolumeCreate::default() });
        assert!(matches!(bad, Err(VolumeError::InvalidName { .. })));
        let opts = BTreeMap::from([("type".to_string(), "nfs".to_string())]);
        let bad = create(&store, &VolumeCreate { options: opts, ..VolumeCreate::default() });
        assert!(matches!(bad, Err(VolumeError::UnsupportedOption { .. })));
        let anon = create(&store, &VolumeCreate::default()).unwrap();
        assert!(anon.anonymous && anon.name.len() == 64 && anon.mountpoint.is_dir());
        let named = create(&store, &VolumeCreate { name: Some("data".into()), ..VolumeCreate::default() }).unwrap();
        let again = create(&store, &VolumeCreate { name: Some("data".into()), ..VolumeCreate::default() }).unwrap();
        assert_eq!(named, again);
        remove(&store, "data").unwrap();
        assert!(!dir.path().join("volumes/data").exists());
        assert!(matches!(remove(&store, "data"), Err(VolumeError::NotFound { .. })));
    }

    #[test]
    fn a_create_or_remove_cut_short_is_repaired_by_the_next_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // `volume rm` (or an older berth's `volume create`) killed between the row and the directory.
        let leftover = dir.path().join("volumes/leftover/_data");
        std::fs::create_dir_all(&leftover).unwrap();
        std::fs::write(leftover.join("f"), b"x").unwrap();
        // `volume create` killed between the row and the directory.
        store
            .conn()
            .execute(
                "INSERT INTO volumes (name, driver, labels, anonymous, created) VALUES ('half', 'local', '{}', 0, 'now')",
                [],
            )
            .unwrap();
        let kept = create(&store, &VolumeCreate { name: Some("kept".into()), ..VolumeCreate::default() }).unwrap();
        assert!(kept.mountpoint.is_dir(), "the row is written first, then the directory");

        repair(&store).unwrap();
        assert!(!dir.path().join("volumes/leftover").exists(), "a directory without a row is no volume's");
        assert!(find(&store, "half").unwrap().mountpoint.is_dir(), "a row without its directory gets it");
        assert!(kept.mountpoint.is_dir());
        let names: Vec<String> = list(&store).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["half", "kept"]);
    }
}
