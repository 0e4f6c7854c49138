//! Which berth state root owns a host-wide network object. Several roots may run on one machine (the
//! system's, a test's `--root`, a second user's) and share bridge names and the nftables table through
//! their configs, but not their address allocation; so each root marks what it creates and never touches
//! what another live root marked.
//!
//! ```text
//! ROOT/network-owner           the root's owner id (16 random hex digits), made once
//! /run/berth/roots/<id>        the root's path: how another root finds out whether an id is still alive
//! bridge alias (IFLA_IFALIAS)  "berth:<id> <root>"
//! nftables rule comment        "net:<network> owner:<id>", "ep:<endpoint> owner:<id>"
//! ```
//! An id is alive while its registered root still holds that id, so deleting a root (or making a new one at
//! the same path) turns its bridges and rules into orphans that the next root to make its own removes.

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Where live roots register their path; tmpfs, so it goes with the bridges and rules at reboot.
pub(super) const REGISTRY: &str = "/run/berth/roots";

/// Serialises every berth process's changes to host-wide network objects (bridges, the shared table).
pub(super) const HOST_LOCK: &str = "/run/berth/network.lock";

const ID_FILE: &str = "network-owner";
const MARK_PREFIX: &str = "berth:";
const TAG_PREFIX: &str = "owner:";
/// IFALIASZ - 1: the kernel keeps at most this many bytes of an alias.
const ALIAS_MAX: usize = 255;

/// One state root as the owner of network objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub root: PathBuf,
    registry: PathBuf,
}

impl Owner {
    /// The owner id of `root` (made on first use), registered under `registry` so other roots can tell
    /// this one is alive.
    pub(super) fn claim(root: &Path, registry: &Path) -> std::io::Result<Owner> {
        let owner = Owner { id: root_id(root)?, root: root.into(), registry: registry.into() };
        let entry = registry.join(&owner.id);
        let path = root.as_os_str().as_encoded_bytes();
        if std::fs::read(&entry).ok().as_deref() != Some(path) {
            std::fs::create_dir_all(registry)?;
            let tmp = registry.join(format!(".{}-{}", owner.id, std::process::id()));
            std::fs::write(&tmp, path)?;
            std::fs::rename(&tmp, &entry)?;
            owner.forget_dead_roots();
        }
        Ok(owner)
    }

    /// Drops the registrations of roots that are gone, so the registry holds about as many entries as there
    /// are live roots however many come and go (tests make one per run). Done when a root registers, not on
    /// every open.
    fn forget_dead_roots(&self) {
        let Ok(entries) = std::fs::read_dir(&self.registry) else { return };
        for entry in entries.flatten() {
            if let Some(id) = entry.file_name().to_str().filter(|id| valid_id(id)) {
                self.live_root(id);
            }
        }
    }

    /// The alias this root puts on its bridges: its id, then its path for whoever reads `ip link`.
    pub fn mark(&self) -> String {
        let mut mark = format!("{MARK_PREFIX}{} {}", self.id, self.root.display());
        if mark.len() > ALIAS_MAX {
            let mut end = ALIAS_MAX;
            while !mark.is_char_boundary(end) {
                end -= 1;
            }
            mark.truncate(end);
        }
        mark
    }

    /// The word this root's firewall rules carry in their comment.
    pub fn tag(&self) -> String {
        format!("{TAG_PREFIX}{}", self.id)
    }

    /// The path of the live root whose id is `id` (this one included); None once that root is gone, whose
    /// registration is then dropped (a root writes its id before it registers, so a registered id its root
    /// no longer holds never comes back).
    pub fn live_root(&self, id: &str) -> Option<PathBuf> {
        if id == self.id {
            return Some(self.root.clone());
        }
        if !valid_id(id) {
            return None;
        }
        let entry = self.registry.join(id);
        let path = PathBuf::from(std::ffi::OsString::from_vec(std::fs::read(&entry).ok()?));
        match std::fs::read_to_string(path.join(ID_FILE)) {
            Ok(current) if current.trim() == id => Some(path),
            // Unreadable is not gone: another root's objects are only ever taken on proof.
            Err(e) if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Some(path)
            }
            _ => {
                let _ = std::fs::remove_file(&entry);
                None
            }
        }
    }
}

/// The owner id in a bridge alias, if berth wrote it.
pub fn mark_id(alias: &str) -> Option<&str> {
    let id = alias.strip_prefix(MARK_PREFIX)?.split(' ').next()?;
    valid_id(id).then_some(id)
}

/// The owner id in a rule comment, if it has one.
pub fn tag_id(comment: &str) -> Option<&str> {
    comment.split(' ').find_map(|word| word.strip_prefix(TAG_PREFIX)).filter(|id| valid_id(id))
}

fn valid_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads the root's id, making it first if there is none: written aside and linked into place, so a
/// concurrent reader never sees a half-written id and the first of two racing processes wins.
fn root_id(root: &Path) -> std::io::Result<String> {
    let path = root.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if valid_id(id.trim()) => return Ok(id.trim().into()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds no owner id (16 hex digits)", path.display()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = root.join(format!(".{ID_FILE}-{}", std::process::id()));
    std::fs::write(&tmp, hex::encode(rand::random::<[u8; 8]>()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(std::fs::read_to_string(&path)?.trim().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_lives_while_its_root_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        let (a_root, b_root) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a_root).unwrap();
        std::fs::create_dir_all(&b_root).unwrap();
        let a = Owner::claim(&a_root, &registry).unwrap();
        assert_eq!(Owner::claim(&a_root, &registry).unwrap(), a, "a root keeps its id");
        let b = Owner::claim(&b_root, &registry).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(b.live_root(&a.id), Some(a_root.clone()));
        assert_eq!(mark_id(&a.mark()), Some(a.id.as_str()));
        assert_eq!(tag_id(&format!("net:abc {}", a.tag())), Some(a.id.as_str()));
        assert_eq!((tag_id("net:abc"), mark_id("uplink"), b.live_root("../../etc")), (None, None, None));

        // A root made again at the same path is a new owner: the old id is dead.
        std::fs::remove_dir_all(&a_root).unwrap();
        assert_eq!(b.live_root(&a.id), None);
        assert!(!registry.join(&a.id).exists(), "a dead root's registration is dropped");
        std::fs::create_dir_all(&a_root).unwrap();
        let again = Owner::claim(&a_root, &registry).unwrap();
        assert_ne!(again.id, a.id);
        assert_eq!((b.live_root(&a.id), b.live_root(&again.id)), (None, Some(a_root)));
    }

    #[test]
    fn a_new_registration_drops_those_of_deleted_roots() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        let roots: Vec<_> = (0..5).map(|i| dir.path().join(format!("r{i}"))).collect();
        for root in &roots {
            std::fs::create_dir_all(root).unwrap();
            Owner::claim(root, &registry).unwrap();
        }
        for root in &roots[..4] {
            std::fs::remove_dir_all(root).unwrap();
        }
        let fresh = dir.path().join("fresh");
        std::fs::create_dir_all(&fresh).unwrap();
        Owner::claim(&fresh, &registry).unwrap();
        assert_eq!(std::fs::read_dir(&registry).unwrap().count(), 2, "the live root and the new one");
    }

    #[test]
    fn a_long_root_path_is_cut_to_fit_an_alias() {
        let owner = Owner { id: "0123456789abcdef".into(), root: "/é".repeat(200).into(), registry: "/r".into() };
        let mark = owner.mark();
        assert!(mark.len() <= ALIAS_MAX && mark_id(&mark) == Some("0123456789abcdef"), "{mark}");
    }
}
