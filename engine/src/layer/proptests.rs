//! The tar applier against a model: random layers of files, directories, symlinks (absolute, `..`, out of
//! the root), hardlinks, fifos, whiteouts and opaque markers, applied to a real directory and to an
//! in-memory tree that resolves paths the way `openat2(RESOLVE_IN_ROOT)` does. The two must agree on
//! success or failure and, on success, on every node; nothing outside the layer directory may change.
//!
//! Directory modes, whiteouts of this layer and deferred hardlinks are keyed by the entry's own (lexical)
//! path, as the applier documents, so the model keys them the same way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tar::{EntryType, Header};

use super::{Compression, UnpackOptions, erofs, unpack, whiteout};
use crate::proptest_support::cases;

/// A path as components; the model's key for a node (canonical) or for an entry (lexical).
type Components = Vec<Vec<u8>>;

/// Stands for the absolute path of the fixture's `outside` directory in generated link targets.
const OUTSIDE: &str = "{OUTSIDE}";
const MAXSYMLINKS: usize = 40;

#[derive(Clone, Debug)]
enum Op {
    File {
        path: String,
        content: u8,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    Fifo {
        path: String,
        mode: u32,
    },
    /// `DIR/.wh.NAME`
    Whiteout {
        dir: String,
        name: String,
    },
    /// `DIR/.wh..wh..opq`
    Opaque {
        dir: String,
    },
}

fn component() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => proptest::sample::select(vec!["a", "b", "c"]),
        1 => Just("outside"),
        1 => Just(".."),
        1 => Just("."),
        1 => Just(""),
    ]
}

fn name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        60 => proptest::sample::select(vec!["a", "b", "c"]),
        6 => Just("outside"),
        1 => Just(".."),
        1 => Just("."),
    ]
}

/// Entry paths: up to three components, sometimes absolute, with `..`, `.` and empty components; the last
/// one is mostly a plain name, since a path ending in `..` or naming the root fails at once.
fn entry_path() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(component(), 0..3), name()).prop_map(|(absolute, mut parts, last)| {
        parts.push(last);
        format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
    })
}

fn link_target() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => entry_path(),
        8 => proptest::sample::select(vec![
            "/", ".", "..", "../..", "../outside", "../../outside/target", "/../outside", "a", "/a", "b/c", "../a",
        ]).prop_map(str::to_string),
        2 => proptest::sample::select(vec![OUTSIDE, "{OUTSIDE}/target", "{OUTSIDE}/.."]).prop_map(str::to_string),
        1 => Just(String::new()),
    ]
}

fn op(whiteouts: bool) -> BoxedStrategy<Op> {
    let mode = |modes: Vec<u32>| proptest::sample::select(modes);
    let base = prop_oneof![
        4 => (entry_path(), 0u8..4, mode(vec![0o644, 0o755, 0o600, 0o4755, 0o000]))
            .prop_map(|(path, content, mode)| Op::File { path, content, mode }),
        3 => (entry_path(), mode(vec![0o755, 0o700, 0o1777, 0o555, 0o2755]))
            .prop_map(|(path, mode)| Op::Dir { path, mode }),
        3 => (entry_path(), link_target()).prop_map(|(path, target)| Op::Symlink { path, target }),
        2 => (entry_path(), entry_path()).prop_map(|(path, target)| Op::Hardlink { path, target }),
        1 => (entry_path(), mode(vec![0o644, 0o600])).prop_map(|(path, mode)| Op::Fifo { path, mode }),
    ];
    if !whiteouts {
        return base.boxed();
    }
    let hidden =
        prop_oneof![16 => name().prop_map(str::to_string), 1 => Just(String::new()), 1 => Just(".wh.x".to_string())];
    prop_oneof![
        10 => base,
        2 => (entry_path(), hidden).prop_map(|(dir, name)| Op::Whiteout { dir, name }),
        1 => entry_path().prop_map(|dir| Op::Opaque { dir }),
        1 => entry_path().prop_map(|dir| Op::File { path: format!("{dir}/.wh..wh.plnk/1.2"), content: 0, mode: 0o644 }),
    ]
    .boxed()
}

/// Xattrs an entry may carry in PAX records: overlay's own must never reach the disk from an archive.
const XATTRS: [(&str, &[u8]); 6] = [
    ("user.k", b"v"),
    ("user.other", b""),
    ("trusted.k", b"t"),
    ("trusted.overlay.opaque", b"y"),
    ("user.overlay.opaque", b"y"),
    ("trusted.overlay.redirect", b"/elsewhere"),
];
const RESERVED_XATTRS: [&str; 2] = ["trusted.overlay.", "user.overlay."];

/// How an entry is written beyond its plain header: names in PAX records (padded past the 100 bytes a
/// header holds, behind a decoy header name), and PAX xattrs (files and directories only: user xattrs
/// cannot be set on symlinks or fifos).
#[derive(Clone, Debug, Default)]
struct Pax {
    names: bool,
    xattrs: Vec<usize>,
}

fn pax() -> impl Strategy<Value = Pax> {
    prop_oneof![
        3 => Just(Pax::default()),
        1 => (any::<bool>(), proptest::collection::vec(0..XATTRS.len(), 0..3)).prop_map(|(names, xattrs)| Pax { names, xattrs }),
    ]
}

/// One tar entry, as the generator meant it and with `{OUTSIDE}` filled in.
#[derive(Clone, Debug)]
struct Entry {
    kind: EntryType,
    path: Vec<u8>,
    link: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    /// Path and link name go in PAX records; the header holds a decoy name.
    pax_names: bool,
    xattrs: Vec<(&'static str, &'static [u8])>,
}

impl Entry {
    fn from_op((op, pax): &(Op, Pax), outside: &str) -> Entry {
        let fill = |s: &str| s.replace(OUTSIDE, outside).into_bytes();
        // `./` components change nothing once cleaned, but push the name past what a header holds.
        let pad = |s: &str| if pax.names { format!("{}{s}", "./".repeat(60)) } else { s.to_string() };
        let xattrs = match op {
            Op::File { .. } | Op::Dir { .. } => pax.xattrs.iter().map(|&i| XATTRS[i]).collect(),
            _ => Vec::new(),
        };
        let entry = |kind, path: &str, link: &str, data: Vec<u8>, mode| Entry {
            kind,
            path: fill(&pad(path)),
            link: if kind == EntryType::Link && !link.is_empty() { fill(&pad(link)) } else { fill(link) },
            data,
            mode,
            pax_names: pax.names,
            xattrs: xattrs.clone(),
        };
        match op {
            Op::File { path, content, mode } => {
                entry(EntryType::Regular, path, "", vec![b'x'; *content as usize], *mode)
            }
            Op::Dir { path, mode } => entry(EntryType::Directory, path, "", Vec::new(), *mode),
            Op::Symlink { path, target } => entry(EntryType::Symlink, path, target, Vec::new(), 0o777),
            Op::Hardlink { path, target } => entry(EntryType::Link, path, target, Vec::new(), 0o644),
            Op::Fifo { path, mode } => entry(EntryType::Fifo, path, "", Vec::new(), *mode),
            Op::Whiteout { dir, name } => {
                entry(EntryType::Regular, &format!("{dir}/.wh.{name}"), "", Vec::new(), 0o644)
            }
            Op::Opaque { dir } => entry(EntryType::Regular, &format!("{dir}/.wh..wh..opq"), "", Vec::new(), 0o644),
        }
    }
}

/// Writes the entries with their names verbatim (the tar crate's path setters refuse `..`).
fn build_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut records: Vec<(String, Vec<u8>)> =
            e.xattrs.iter().map(|(name, value)| (format!("SCHILY.xattr.{name}"), value.to_vec())).collect();
        let (name, link): (&[u8], &[u8]) = if e.pax_names {
            records.push(("path".into(), e.path.clone()));
            if !e.link.is_empty() {
                records.push(("linkpath".into(), e.link.clone()));
            }
            (b"pax-decoy", if e.link.is_empty() { b"" } else { b"pax-decoy" })
        } else {
            (&e.path, &e.link)
        };
        if !records.is_empty() {
            let data = super::tests::pax_records(&records);
            let mut header = Header::new_ustar();
            header.set_entry_type(EntryType::XHeader);
            header.set_path("PaxHeader").expect("pax header name");
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, data.as_slice()).expect("append pax header");
        }
        let mut header = Header::new_gnu();
        header.set_entry_type(e.kind);
        let old = header.as_old_mut();
        assert!(name.len() <= old.name.len() && link.len() <= old.linkname.len(), "generated names fit a header");
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        builder.append(&header, e.data.as_slice()).expect("append to in-memory tar");
    }
    builder.into_inner().expect("finish in-memory tar")
}

/// Why a lookup failed, as far as the applier tells failures apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    NotFound,
    NotDir,
    Loop,
}

type Xattrs = BTreeMap<String, Vec<u8>>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir { mode: u32, opaque: bool, xattrs: Xattrs },
    File { ino: u64 },
    Symlink { ino: u64, target: Vec<u8> },
    Fifo { ino: u64 },
    Whiteout { ino: u64 },
}

impl Node {
    fn ino(&self) -> Option<u64> {
        match self {
            Node::Dir { .. } => None,
            Node::File { ino } | Node::Symlink { ino, .. } | Node::Fifo { ino } | Node::Whiteout { ino } => Some(*ino),
        }
    }
}

/// What one path holds, as compared between the model and the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Dir { mode: u32, opaque: bool, xattrs: Xattrs },
    File { mode: u32, data: Vec<u8>, xattrs: Xattrs },
    Symlink(Vec<u8>),
    Fifo { mode: u32 },
    Whiteout,
}

/// The whole observable result: every node, which paths share an inode, and the deferred hardlinks.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    nodes: BTreeMap<Components, Seen>,
    links: BTreeSet<BTreeSet<Components>>,
    deferred: Vec<(PathBuf, PathBuf)>,
}

struct Model {
    nodes: BTreeMap<Components, Node>,
    /// Mode, data and xattrs by inode (data is empty for fifos and whiteouts).
    inodes: BTreeMap<u64, (u32, Vec<u8>, Xattrs)>,
    next_ino: u64,
    implicit_mode: u32,
    dirs: BTreeMap<PathBuf, u32>,
    whiteouts: BTreeSet<Components>,
    deferred: Vec<(Components, Components)>,
}

/// The entry's xattrs that may land on disk: overlay's own are dropped.
fn kept_xattrs(e: &Entry) -> Xattrs {
    e.xattrs
        .iter()
        .filter(|(name, _)| !RESERVED_XATTRS.iter().any(|prefix| name.starts_with(prefix)))
        .map(|(name, value)| (name.to_string(), value.to_vec()))
        .collect()
}

/// Lexical cleaning as Docker does it: `None` when the last component is `..`.
fn clean(raw: &[u8]) -> Option<Components> {
    let parts: Vec<&[u8]> = raw.split(|&b| b == b'/').filter(|p| !p.is_empty() && *p != b".").collect();
    if parts.last() == Some(&&b".."[..]) {
        return None;
    }
    let mut out: Components = Vec::new();
    for part in parts {
        if part == b".." {
            out.pop();
        } else {
            out.push(part.to_vec());
        }
    }
    Some(out)
}

fn to_path(components: &[Vec<u8>]) -> PathBuf {
    components.iter().map(|c| OsStr::from_bytes(c)).collect()
}

fn child(parent: &[Vec<u8>], name: &[u8]) -> Components {
    let mut out = parent.to_vec();
    out.push(name.to_vec());
    out
}

type Step = Result<(), &'static str>;

impl Model {
    fn new(root_mode: u32, implicit_mode: u32) -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert(Vec::new(), Node::Dir { mode: root_mode, opaque: false, xattrs: Xattrs::new() });
        Model {
            nodes,
            inodes: BTreeMap::new(),
            next_ino: 1,
            implicit_mode,
            dirs: BTreeMap::new(),
            whiteouts: BTreeSet::new(),
            deferred: Vec::new(),
        }
    }

    fn ino(&mut self, mode: u32, data: Vec<u8>, xattrs: Xattrs) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, (mode, data, xattrs));
        self.next_ino
    }

    /// Opens a directory inside the root: every symlink followed, `..` and absolute targets clamped to it.
    fn resolve(&self, path: &[Vec<u8>]) -> Result<Components, Lookup> {
        let mut queue: VecDeque<Vec<u8>> = path.iter().cloned().collect();
        let mut cur: Components = Vec::new();
        let mut followed = 0;
        while let Some(name) = queue.pop_front() {
            if name.is_empty() || name == b"." {
                continue;
            }
            if name == b".." {
                cur.pop();
                continue;
            }
            let next = child(&cur, &name);
            match self.nodes.get(&next) {
                None => return Err(Lookup::NotFound),
                Some(Node::Dir { .. }) => cur = next,
                Some(Node::Symlink { target, .. }) => {
                    followed += 1;
                    if followed > MAXSYMLINKS {
                        return Err(Lookup::Loop);
                    }
                    if target.first() == Some(&b'/') {
                        cur.clear();
                    }
                    for part in target.split(|&b| b == b'/').rev() {
                        queue.push_front(part.to_vec());
                    }
                }
                Some(_) => return Err(Lookup::NotDir),
            }
        }
        Ok(cur)
    }

    /// A parent directory, made (one component at a time, in whatever each prefix resolves to) if missing.
    fn parent(&mut self, dir: &[Vec<u8>]) -> Result<Components, Lookup> {
        match self.resolve(dir) {
            Err(Lookup::NotFound) => {}
            other => return other,
        }
        let mut parent = Vec::new();
        for i in 0..dir.len() {
            parent = match self.resolve(&dir[..=i]) {
                Err(Lookup::NotFound) => {
                    let slot = child(&parent, &dir[i]);
                    if !self.nodes.contains_key(&slot) {
                        self.nodes
                            .insert(slot, Node::Dir { mode: self.implicit_mode, opaque: false, xattrs: Xattrs::new() });
                    }
                    self.resolve(&dir[..=i])?
                }
                other => other?,
            };
        }
        Ok(parent)
    }

    fn remove(&mut self, slot: &Components, lexical: &Components) {
        if matches!(self.nodes.get(slot), Some(Node::Dir { .. })) {
            self.nodes.retain(|k, _| !k.starts_with(slot));
            let prefix = to_path(lexical);
            self.dirs.retain(|p, _| !p.starts_with(&prefix));
            self.whiteouts.retain(|w| !w.starts_with(lexical));
            self.deferred.retain(|(p, _)| !p.starts_with(lexical));
        } else {
            self.nodes.remove(slot);
            self.whiteouts.remove(lexical);
        }
    }

    fn clear(&mut self, slot: &Components, lexical: &Components) {
        if self.nodes.contains_key(slot) {
            self.remove(slot, lexical);
        }
    }

    fn apply(&mut self, e: &Entry) -> Step {
        let path = clean(&e.path).ok_or("last component is ..")?;
        if path.iter().any(|c| c.starts_with(b".wh..wh.") && c != b".wh..wh..opq") {
            return Ok(());
        }
        if let Some((name, parent)) = path.split_last() {
            if name == b".wh..wh..opq" {
                let dir = self.parent(parent).map_err(|_| "opaque parent")?;
                if let Some(Node::Dir { opaque, .. }) = self.nodes.get_mut(&dir) {
                    *opaque = true;
                }
                return Ok(());
            }
            if let Some(hidden) = name.strip_prefix(b".wh.") {
                return self.whiteout(parent, hidden);
            }
        }
        self.deferred.retain(|(p, _)| *p != path);
        match e.kind {
            EntryType::Directory => self.directory(&path, e),
            _ if path.is_empty() => Err("non-directory at the root"),
            EntryType::Regular => {
                let slot = self.slot(&path)?;
                self.clear(&slot, &path);
                let ino = self.ino(e.mode, e.data.clone(), kept_xattrs(e));
                self.nodes.insert(slot, Node::File { ino });
                Ok(())
            }
            EntryType::Fifo => {
                let slot = self.slot(&path)?;
                self.clear(&slot, &path);
                let ino = self.ino(e.mode, Vec::new(), Xattrs::new());
                self.nodes.insert(slot, Node::Fifo { ino });
                Ok(())
            }
            EntryType::Symlink => {
                if e.link.is_empty() {
                    return Err("symlink without a target");
                }
                let slot = self.slot(&path)?;
                self.clear(&slot, &path);
                let ino = self.ino(0, Vec::new(), Xattrs::new());
                self.nodes.insert(slot, Node::Symlink { ino, target: e.link.clone() });
                Ok(())
            }
            EntryType::Link => self.hardlink(&path, &e.link),
            _ => unreachable!("the generator makes no other entry types"),
        }
    }

    /// Where a non-directory entry goes: its parent made if missing, plus its name.
    fn slot(&mut self, path: &Components) -> Result<Components, &'static str> {
        let (name, parent) = path.split_last().expect("non-empty path");
        let parent = self.parent(parent).map_err(|_| "parent")?;
        Ok(child(&parent, name))
    }

    fn whiteout(&mut self, parent: &[Vec<u8>], hidden: &[u8]) -> Step {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err("whiteout of an invalid name");
        }
        let dir = self.parent(parent).map_err(|_| "whiteout parent")?;
        let slot = child(&dir, hidden);
        match self.nodes.get_mut(&slot) {
            Some(Node::Dir { opaque, .. }) => *opaque = true,
            Some(_) => {}
            None => {
                let ino = self.ino(0, Vec::new(), Xattrs::new());
                self.nodes.insert(slot, Node::Whiteout { ino });
                self.whiteouts.insert(child(parent, hidden));
            }
        }
        Ok(())
    }

    fn directory(&mut self, path: &Components, e: &Entry) -> Step {
        let mut slot = Vec::new();
        if !path.is_empty() {
            slot = self.slot(path)?;
            let existing = self.nodes.get(&slot).cloned();
            if !matches!(existing, Some(Node::Dir { .. })) {
                let replaced_whiteout =
                    matches!(existing, Some(Node::Whiteout { .. })) && self.whiteouts.contains(path);
                if existing.is_some() {
                    self.nodes.remove(&slot);
                    self.whiteouts.remove(path);
                }
                let dir =
                    Node::Dir { mode: 0o700 & self.implicit_mode, opaque: replaced_whiteout, xattrs: Xattrs::new() };
                self.nodes.insert(slot.clone(), dir);
            }
        }
        if let Some(Node::Dir { xattrs, .. }) = self.nodes.get_mut(&slot) {
            xattrs.extend(kept_xattrs(e));
        }
        self.dirs.insert(to_path(path), e.mode);
        Ok(())
    }

    fn hardlink(&mut self, path: &Components, raw_target: &[u8]) -> Step {
        let target = clean(raw_target).ok_or("link target ends in ..")?;
        let (target_name, target_parent) = target.split_last().ok_or("link to the root")?;
        if target == *path {
            return Err("link to itself");
        }
        let slot = self.slot(path)?;
        let source = self.resolve(target_parent).ok().map(|dir| child(&dir, target_name));
        let found = source.as_ref().and_then(|s| self.nodes.get(s)).cloned();
        self.clear(&slot, path);
        match (found, source) {
            (Some(Node::Dir { .. }), _) => Err("link to a directory"),
            (Some(Node::Whiteout { .. }), _) if self.whiteouts.contains(&target) => {
                Err("link to this layer's whiteout")
            }
            (Some(_), Some(source)) => {
                // The source may have gone with what the link replaced.
                let node = self.nodes.get(&source).cloned().ok_or("link source removed")?;
                self.nodes.insert(slot, node);
                Ok(())
            }
            _ => {
                let target = match self.deferred.iter().find(|(p, _)| *p == target) {
                    Some((_, earlier)) => earlier.clone(),
                    None => target,
                };
                self.deferred.push((path.clone(), target));
                Ok(())
            }
        }
    }

    /// Directory modes last, deepest path first, each looked up again by its entry's path.
    fn finish(&mut self) {
        for (path, mode) in std::mem::take(&mut self.dirs).into_iter().rev() {
            let components: Components = path.iter().map(|c| c.as_bytes().to_vec()).collect();
            let slot = match components.split_last() {
                None => Some(Vec::new()),
                Some((name, parent)) => self.resolve(parent).ok().map(|dir| child(&dir, name)),
            };
            if let Some(Node::Dir { mode: m, .. }) = slot.and_then(|s| self.nodes.get_mut(&s)) {
                *m = mode;
            }
        }
    }

    fn outcome(&self) -> Outcome {
        let mut nodes = BTreeMap::new();
        let mut by_ino: BTreeMap<u64, BTreeSet<Components>> = BTreeMap::new();
        for (path, node) in &self.nodes {
            let seen = match node {
                Node::Dir { mode, opaque, xattrs } => {
                    Seen::Dir { mode: *mode, opaque: *opaque, xattrs: xattrs.clone() }
                }
                Node::File { ino } => {
                    let (mode, data, xattrs) = self.inodes[ino].clone();
                    Seen::File { mode, data, xattrs }
                }
                Node::Symlink { target, .. } => Seen::Symlink(target.clone()),
                Node::Fifo { ino } => Seen::Fifo { mode: self.inodes[ino].0 },
                Node::Whiteout { .. } => Seen::Whiteout,
            };
            nodes.insert(path.clone(), seen);
            if let Some(ino) = node.ino() {
                by_ino.entry(ino).or_default().insert(path.clone());
            }
        }
        let deferred = self.deferred.iter().map(|(p, t)| (to_path(p), to_path(t))).collect();
        Outcome { nodes, links: by_ino.into_values().collect(), deferred }
    }
}

/// The `user.` and `trusted.` xattrs of `path` (the namespaces a layer can write).
fn xattrs_of(path: &Path) -> Xattrs {
    let mut names = vec![0u8; 4096];
    let len = rustix::fs::llistxattr(path, &mut names[..]).expect("llistxattr");
    let mut out = Xattrs::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| n.starts_with(b"user.") || n.starts_with(b"trusted.")) {
        let name = String::from_utf8(name.to_vec()).expect("utf-8 xattr name");
        let mut value = vec![0u8; 4096];
        let n = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).expect("lgetxattr");
        value.truncate(n);
        out.insert(name, value);
    }
    out
}

/// Reads the tree under `root` back in the model's terms.
fn observe(root: &Path, deferred: Vec<(PathBuf, PathBuf)>) -> Outcome {
    fn walk(
        dir: &Path,
        at: &Components,
        nodes: &mut BTreeMap<Components, Seen>,
        by_ino: &mut BTreeMap<u64, BTreeSet<Components>>,
    ) {
        let meta = fs::symlink_metadata(dir).expect("lstat");
        let mut xattrs = xattrs_of(dir);
        let opaque = xattrs.remove(whiteout::opaque_xattr()).is_some_and(|v| v == b"y");
        nodes.insert(at.clone(), Seen::Dir { mode: meta.mode() & 0o7777, opaque, xattrs });
        for entry in fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let here = child(at, entry.file_name().as_bytes());
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let kind = meta.file_type();
            let seen = if kind.is_dir() {
                walk(&path, &here, nodes, by_ino);
                continue;
            } else if kind.is_file() {
                Seen::File {
                    mode: meta.mode() & 0o7777,
                    data: fs::read(&path).expect("read"),
                    xattrs: xattrs_of(&path),
                }
            } else if kind.is_symlink() {
                Seen::Symlink(fs::read_link(&path).expect("readlink").into_os_string().into_encoded_bytes())
            } else if kind.is_fifo() {
                Seen::Fifo { mode: meta.mode() & 0o7777 }
            } else if kind.is_char_device() && meta.rdev() == 0 {
                Seen::Whiteout
            } else {
                panic!("unexpected node {path:?}: {kind:?}");
            };
            nodes.insert(here.clone(), seen);
            by_ino.entry(meta.ino()).or_default().insert(here);
        }
    }
    let mut nodes = BTreeMap::new();
    let mut by_ino = BTreeMap::new();
    walk(root, &Vec::new(), &mut nodes, &mut by_ino);
    Outcome { nodes, links: by_ino.into_values().collect(), deferred }
}

fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("Umask in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

/// Applies `ops` to a fresh layer of the `image` store (an EROFS image, read back through a detached
/// mount) or the directory store, and to the model; returns a description of any disagreement.
fn check(ops: &[(Op, Pax)], image: bool) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).expect("create dest");
    fs::write(tmp.path().join("decoy"), b"decoy").expect("write decoy");
    fs::create_dir(tmp.path().join("outside")).expect("create outside");
    fs::write(tmp.path().join("outside/target"), b"target").expect("write outside/target");
    let before = super::tests::state_around(tmp.path(), &dest);

    let outside = tmp.path().join("outside");
    let entries: Vec<Entry> =
        ops.iter().map(|op| Entry::from_op(op, outside.to_str().expect("utf-8 tempdir"))).collect();
    let root_mode = fs::metadata(&dest).expect("stat dest").mode() & 0o7777;
    let mut model = Model::new(root_mode, 0o755 & !umask());
    let expected = entries.iter().enumerate().try_for_each(|(i, e)| model.apply(e).map_err(|why| (i, why)));
    model.finish();

    let opts = UnpackOptions { max_bytes: 1 << 20, preserve_owners: rustix::process::geteuid().is_root() };
    let tar = build_tar(&entries);
    let mut mounted = None;
    let actual = if image {
        let path = dest.join("layer.erofs");
        erofs::unpack_image(tar.as_slice(), Compression::None, &path, &opts).and_then(|(report, pending)| {
            pending.write()?;
            mounted = Some(erofs::mount::mount_image(&path).expect("mount the layer image"));
            Ok(report)
        })
    } else {
        unpack(tar.as_slice(), Compression::None, &dest, &opts)
    };
    if image {
        // The image is the only thing the EROFS store writes.
        let names: Vec<_> = fs::read_dir(&dest).expect("read dest").map(|e| e.expect("entry").file_name()).collect();
        prop_assert!(names.is_empty() || names == ["layer.erofs"], "the image store wrote {names:?}");
        let _ = fs::remove_file(dest.join("layer.erofs"));
    }

    prop_assert_eq!(
        super::tests::state_around(tmp.path(), &dest),
        before,
        "something outside the layer directory changed"
    );
    match (expected, actual) {
        (Ok(()), Ok(report)) => {
            let deferred = report.deferred_links.into_iter().map(|l| (l.path, l.target)).collect();
            let root = mounted.as_ref().map_or(dest.clone(), |fd| erofs::mount::fd_path(fd).join("."));
            prop_assert_eq!(observe(&root, deferred), model.outcome());
        }
        (Err(_), Err(e)) => prop_assert!(!e.to_string().is_empty()),
        (Ok(()), Err(e)) => prop_assert!(false, "the model applies every entry, the applier failed: {e}"),
        (Err((i, why)), Ok(_)) => prop_assert!(false, "the model refuses entry {i} ({why}), the applier took it"),
    }
    Ok(())
}

/// Unpacks `stream` into a fresh directory; it may fail, but only with an error, and only inside.
fn unpack_anything(stream: &[u8], compression: Compression) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).expect("create dest");
    fs::create_dir(tmp.path().join("outside")).expect("create outside");
    let before = super::tests::state_around(tmp.path(), &dest);
    let opts = UnpackOptions { max_bytes: 1 << 20, preserve_owners: privileged() };
    if let Err(e) = unpack(stream, compression, &dest, &opts) {
        prop_assert!(!e.to_string().is_empty());
    }
    prop_assert_eq!(
        super::tests::state_around(tmp.path(), &dest),
        before,
        "something outside the layer directory changed"
    );
    Ok(())
}

/// A generated layer with some of its bytes overwritten: headers with bad checksums, sizes, types, names.
fn damaged_layer() -> impl Strategy<Value = Vec<u8>> {
    let ops = proptest::collection::vec((op(privileged()), pax()), 1..6);
    let damage = proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8);
    (ops, damage).prop_map(|(ops, damage)| {
        let entries: Vec<Entry> = ops.iter().map(|op| Entry::from_op(op, "/nonexistent")).collect();
        let mut tar = build_tar(&entries);
        for (at, byte) in damage {
            let i = at.index(tar.len());
            tar[i] = byte;
        }
        tar
    })
}

fn compression() -> impl Strategy<Value = Compression> {
    proptest::sample::select(vec![Compression::None, Compression::Gzip, Compression::Zstd])
}

fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    use std::io::Write;
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(tar).expect("gzip");
            enc.finish().expect("gzip finish")
        }
        Compression::Zstd => zstd::encode_all(tar, 1).expect("zstd"),
    }
}

fn privileged() -> bool {
    rustix::process::geteuid().is_root()
}

proptest! {
    #![proptest_config(cases(384))]

    /// Whiteouts are 0:0 character devices, which only root can make: unprivileged runs leave them out.
    #[test]
    fn applier_matches_the_model_and_stays_inside(ops in proptest::collection::vec((op(privileged()), pax()), 1..14)) {
        check(&ops, false)?;
    }

    /// The same model, through the EROFS image store (mounting images needs root).
    #[test]
    fn image_applier_matches_the_model(ops in proptest::collection::vec((op(privileged()), pax()), 1..14)) {
        if privileged() {
            check(&ops, true)?;
        }
    }

    #[test]
    fn damaged_or_random_streams_fail_cleanly(
        (stream, compression) in prop_oneof![
            3 => (damaged_layer(), compression()).prop_map(|(tar, c)| (compress(&tar, c), c)),
            1 => (proptest::collection::vec(any::<u8>(), 0..2048), compression()),
        ],
    ) {
        unpack_anything(&stream, compression)?;
    }
}
