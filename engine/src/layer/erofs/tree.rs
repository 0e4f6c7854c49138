//! The in-memory tree of one layer being written as an EROFS image: every node's metadata, with file data
//! either held inline (small files) or already written to the image's data blocks.
//!
//! Lookups mirror what the directory store gets from `openat2(RESOLVE_IN_ROOT)`: symlinks in parent paths
//! are followed inside the tree, `..` is clamped at the root, and a loop ends after [`MAX_SYMLINKS`] links.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::Timespec;
use rustix::io::Errno;

/// Symlinks one lookup may follow, as Linux allows.
const MAX_SYMLINKS: u32 = 40;

pub(crate) type Id = usize;
pub(crate) const ROOT: Id = 0;

#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// Held in memory, written next to the inode.
    Inline(Vec<u8>),
    /// Already in the image: `size` bytes from block `block` on.
    Blocks { block: u32, size: u64 },
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Dir { entries: BTreeMap<OsString, Id>, parent: Id },
    File(Data),
    Symlink(Vec<u8>),
    Char(u64),
    Block(u64),
    Fifo,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// Permission bits (`0o7777`).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: Timespec,
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
}

impl Node {
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir { .. })
    }

    pub(crate) fn is_whiteout(&self) -> bool {
        matches!(self.kind, Kind::Char(0))
    }

    /// Sets (or replaces) one xattr.
    pub(crate) fn set_xattr(&mut self, name: &str, value: &[u8]) {
        match self.xattrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_vec(),
            None => self.xattrs.push((name.to_string(), value.to_vec())),
        }
    }
}

/// A layer's nodes; [`ROOT`] is the root directory. Removed nodes stay in the arena, unreachable.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    /// Owner and mtime given to nodes the archive does not describe (implicit dirs, whiteouts).
    default_uid: u32,
    default_gid: u32,
    now: Timespec,
}

fn errno(e: Errno) -> io::Error {
    e.into()
}

impl Tree {
    pub(crate) fn new(uid: u32, gid: u32, now: Timespec) -> Tree {
        let root = Node {
            kind: Kind::Dir { entries: BTreeMap::new(), parent: ROOT },
            mode: 0o755,
            uid,
            gid,
            mtime: now,
            xattrs: Vec::new(),
        };
        Tree { nodes: vec![root], default_uid: uid, default_gid: gid, now }
    }

    pub(crate) fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub(crate) fn node_mut(&mut self, id: Id) -> &mut Node {
        &mut self.nodes[id]
    }

    /// A new node owned by the default owner, stamped now.
    pub(crate) fn add(&mut self, kind: Kind, mode: u32) -> Id {
        self.nodes.push(Node {
            kind,
            mode,
            uid: self.default_uid,
            gid: self.default_gid,
            mtime: self.now,
            xattrs: Vec::new(),
        });
        self.nodes.len() - 1
    }

    pub(crate) fn entries(&self, dir: Id) -> &BTreeMap<OsString, Id> {
        match &self.nodes[dir].kind {
            Kind::Dir { entries, .. } => entries,
            _ => unreachable!("entries of a non-directory"),
        }
    }

    fn entries_mut(&mut self, dir: Id) -> &mut BTreeMap<OsString, Id> {
        match &mut self.nodes[dir].kind {
            Kind::Dir { entries, .. } => entries,
            _ => unreachable!("entries of a non-directory"),
        }
    }

    /// What sits at `name` in `dir`, without following a symlink there.
    pub(crate) fn child(&self, dir: Id, name: &OsStr) -> Option<Id> {
        self.entries(dir).get(name).copied()
    }

    /// Puts `node` at `name` in `dir` (the slot must be empty); a directory learns its new parent.
    pub(crate) fn insert(&mut self, dir: Id, name: &OsStr, node: Id) {
        if let Kind::Dir { parent, .. } = &mut self.nodes[node].kind {
            *parent = dir;
        }
        self.entries_mut(dir).insert(name.to_os_string(), node);
    }

    /// Whether directory `dir` is still reachable from the root (a removed directory and everything below it
    /// stay in the arena, unreachable), as an open directory fd stays usable only while not deleted.
    pub(crate) fn is_attached(&self, mut dir: Id) -> bool {
        for _ in 0..self.nodes.len() {
            if dir == ROOT {
                return true;
            }
            let Kind::Dir { parent, .. } = &self.nodes[dir].kind else { return false };
            if self.child_ids(*parent).all(|child| child != dir) {
                return false;
            }
            dir = *parent;
        }
        false
    }

    fn child_ids(&self, dir: Id) -> impl Iterator<Item = Id> + '_ {
        self.entries(dir).values().copied()
    }

    /// Takes whatever is at `name` out of `dir` (a directory goes with everything below it).
    pub(crate) fn remove(&mut self, dir: Id, name: &OsStr) {
        self.entries_mut(dir).remove(name);
    }

    /// Makes a directory at `name` in `dir`.
    pub(crate) fn mkdir(&mut self, dir: Id, name: &OsStr, mode: u32) -> Id {
        let id = self.add(Kind::Dir { entries: BTreeMap::new(), parent: dir }, mode);
        self.insert(dir, name, id);
        id
    }

    /// Resolves directory `path` (cleaned, relative), following symlinks inside the tree.
    pub(crate) fn open_dir(&self, path: &Path) -> io::Result<Id> {
        let mut budget = MAX_SYMLINKS;
        let mut cur = ROOT;
        for component in path.components() {
            let Component::Normal(name) = component else { continue };
            let child = self.child(cur, name).ok_or_else(|| errno(Errno::NOENT))?;
            cur = self.follow(cur, child, &mut budget)?;
        }
        Ok(cur)
    }

    /// Like [`Tree::open_dir`], making missing directories (0755) one component at a time; each made is
    /// pushed to `created` with its path.
    pub(crate) fn open_dir_create(&mut self, path: &Path, created: &mut Vec<(PathBuf, Id)>) -> io::Result<Id> {
        let mut budget = MAX_SYMLINKS;
        let mut cur = ROOT;
        let mut prefix = PathBuf::new();
        for component in path.components() {
            let Component::Normal(name) = component else { continue };
            prefix.push(name);
            cur = match self.child(cur, name) {
                None => {
                    let id = self.mkdir(cur, name, 0o755);
                    created.push((prefix.clone(), id));
                    id
                }
                Some(child) => self.follow(cur, child, &mut budget)?,
            };
        }
        Ok(cur)
    }

    /// The directory `node` (found in `dir`) stands for: itself, or where its symlink leads.
    fn follow(&self, dir: Id, node: Id, budget: &mut u32) -> io::Result<Id> {
        match &self.nodes[node].kind {
            Kind::Dir { .. } => Ok(node),
            Kind::Symlink(target) => {
                *budget = budget.checked_sub(1).ok_or_else(|| errno(Errno::LOOP))?;
                let target = Path::new(OsStr::from_bytes(target));
                let mut cur = if target.is_absolute() { ROOT } else { dir };
                for component in target.components() {
                    cur = match component {
                        Component::Normal(name) => {
                            let child = self.child(cur, name).ok_or_else(|| errno(Errno::NOENT))?;
                            self.follow(cur, child, budget)?
                        }
                        Component::ParentDir => match &self.nodes[cur].kind {
                            Kind::Dir { parent, .. } => *parent,
                            _ => unreachable!("walked into a non-directory"),
                        },
                        Component::RootDir | Component::CurDir | Component::Prefix(_) => cur,
                    };
                }
                Ok(cur)
            }
            _ => Err(errno(Errno::NOTDIR)),
        }
    }
}
