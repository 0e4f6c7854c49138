//! An image's layers as dive shows them: each layer's entries marked added, modified or removed against
//! the merged tree below it, the tree merged up to any layer, and the image's wasted space and efficiency.
//!
//! Wasted space and efficiency follow dive's `efficiency.go`: every non-directory path of every layer is
//! one copy of that path (a removal is a copy of size 0); a path with more than one copy wastes the bytes
//! of all its copies, and the score is the sum of each path's smallest copy over the sum of all copies.
//! Unlike dive, whose whiteout of a directory counts only as that directory, each file a removal (or an
//! opaque directory) hides counts as removed, so deleting a directory wastes what it held. Contents are not
//! hashed: a file a later layer writes again is modified even when its bytes are the same.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::entries::{EntryKind, LayerEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Present below and not touched here (a directory a layer lists again as it was).
    Unchanged,
    Added,
    Modified,
    Removed,
}

/// One entry of a layer with what it does to the tree below it. A removal's size is that of the files
/// it hides; its mode and owner are those of the path it hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub entry: LayerEntry,
    pub mark: Mark,
}

/// One path of the tree merged up to a layer: the change that put it there and the layer it is from.
#[derive(Debug, Clone, Copy)]
pub struct MergedEntry<'a> {
    pub change: &'a Change,
    pub layer: usize,
}

impl MergedEntry<'_> {
    /// The mark seen from layer `at`: only that layer's own changes are marked.
    pub fn mark(&self, at: usize) -> Mark {
        if self.layer == at { self.change.mark } else { Mark::Unchanged }
    }
}

/// Every layer's changes, bottom first, each in path order (a directory right before what it holds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageChanges {
    pub layers: Vec<Vec<Change>>,
    /// Bytes of every copy of every file path over all layers.
    pub total: u64,
    /// Bytes of the copies of paths that more than one layer writes or removes.
    pub wasted: u64,
    /// dive's score: 1.0 when no path is written twice.
    pub efficiency: f64,
}

/// A path ordered component by component, so a directory's contents follow it directly.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key<S>(S);

impl<S: AsRef<str> + Eq> Ord for Key<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        path_cmp(self.0.as_ref(), other.0.as_ref())
    }
}

impl<S: AsRef<str> + Eq> PartialOrd for Key<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Component-wise path order: `/` sorts before every byte a name can hold.
pub fn path_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let common = a.len().min(b.len());
    let mut i = 0;
    while i < common && a[i] == b[i] {
        i += 1;
    }
    let lift = |c: u8| if c == b'/' { 0 } else { c };
    match (a.get(i), b.get(i)) {
        (Some(&x), Some(&y)) => lift(x).cmp(&lift(y)),
        _ => a.len().cmp(&b.len()),
    }
}

fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// Takes out of `map` everything below `dir`, and `dir` itself when `inclusive`.
fn take_subtree<S: AsRef<str> + Eq + Clone, V>(
    map: &mut BTreeMap<Key<S>, V>,
    dir: &Key<S>,
    inclusive: bool,
) -> Vec<(Key<S>, V)> {
    let start = if inclusive { Bound::Included(dir) } else { Bound::Excluded(dir) };
    let found: Vec<Key<S>> = map
        .range((start, Bound::Unbounded))
        .take_while(|(k, _)| k.0.as_ref() == dir.0.as_ref() || is_below(k.0.as_ref(), dir.0.as_ref()))
        .map(|(k, _)| k.clone())
        .collect();
    found.into_iter().filter_map(|k| map.remove_entry(&k)).collect()
}

/// What the merged tree holds at a path while the changes are computed.
#[derive(Debug, Clone, Copy)]
struct Lower {
    kind: EntryKind,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Lower {
    fn of(entry: &LayerEntry) -> Lower {
        Lower { kind: entry.kind, size: entry.size, mode: entry.mode, uid: entry.uid, gid: entry.gid }
    }
}

/// dive's per-path tally: copies, their bytes, the smallest.
#[derive(Debug, Default)]
struct Copies {
    count: u32,
    bytes: u64,
    least: u64,
}

#[derive(Default)]
struct Tally(HashMap<String, Copies>);

impl Tally {
    fn copy(&mut self, path: &str, size: u64) {
        let copies = match self.0.get_mut(path) {
            Some(c) => c,
            None => self.0.entry(path.to_string()).or_default(),
        };
        copies.least = if copies.count == 0 { size } else { copies.least.min(size) };
        copies.count += 1;
        copies.bytes += size;
    }
}

/// Removals first (whiteouts, then what opaque directories hide), then the entries, each in path order.
fn removal_first(a: &LayerEntry, b: &LayerEntry) -> Ordering {
    (a.kind != EntryKind::Removed).cmp(&(b.kind != EntryKind::Removed)).then_with(|| path_cmp(&a.path, &b.path))
}

impl ImageChanges {
    /// Marks every layer's entries (bottom first) against the tree the layers below it merge to.
    pub fn compute(layers: Vec<Vec<LayerEntry>>) -> ImageChanges {
        let mut merged: BTreeMap<Key<String>, Lower> = BTreeMap::new();
        let mut tally = Tally::default();
        let mut out = Vec::with_capacity(layers.len());
        for mut entries in layers {
            entries.sort_by(removal_first);
            let own: Vec<&str> = {
                let mut own: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
                own.sort_by(|a, b| path_cmp(a, b));
                own
            };
            let holds = |path: &str| own.binary_search_by(|p| path_cmp(p, path)).is_ok();
            let mut changes = Vec::with_capacity(entries.len());
            // What opaque directories hide, bar what this layer puts back: the top-most of each hidden
            // subtree with the bytes below it.
            let mut hidden: Vec<(String, Lower, u64)> = Vec::new();
            for dir in entries.iter().filter(|e| e.opaque) {
                for (key, lower) in take_subtree(&mut merged, &Key(dir.path.clone()), false) {
                    // A path the layer writes again stays, so it reads as modified rather than added.
                    if holds(&key.0) {
                        merged.insert(key, lower);
                        continue;
                    }
                    let size = if lower.kind == EntryKind::Dir { 0 } else { lower.size };
                    if lower.kind != EntryKind::Dir {
                        tally.copy(&key.0, 0);
                    }
                    match hidden.iter_mut().rev().find(|(top, _, _)| is_below(&key.0, top)) {
                        Some((_, _, bytes)) => *bytes += size,
                        None => hidden.push((key.0, lower, size)),
                    }
                }
            }
            for (path, lower, size) in hidden {
                changes.push(removal(path, lower, size));
            }
            for entry in entries {
                let key = Key(entry.path.clone());
                if entry.kind == EntryKind::Removed {
                    let gone = take_subtree(&mut merged, &key, true);
                    let mut size = 0;
                    for (k, lower) in &gone {
                        if lower.kind != EntryKind::Dir {
                            tally.copy(&k.0, 0);
                            size += lower.size;
                        }
                    }
                    let mut change = Change { entry, mark: Mark::Removed };
                    if let Some((_, top)) = gone.first() {
                        change.entry.size = size;
                        change.entry.mode = top.mode;
                        change.entry.uid = top.uid;
                        change.entry.gid = top.gid;
                    }
                    changes.push(change);
                    continue;
                }
                let mark = match merged.get(&key) {
                    None => Mark::Added,
                    Some(lower) if lower.kind == EntryKind::Dir && entry.kind == EntryKind::Dir => {
                        let same = (lower.mode, lower.uid, lower.gid) == (entry.mode, entry.uid, entry.gid);
                        if same && !entry.opaque { Mark::Unchanged } else { Mark::Modified }
                    }
                    Some(lower) => {
                        if lower.kind == EntryKind::Dir {
                            // A directory replaced by a file: what it held is gone.
                            for (k, l) in take_subtree(&mut merged, &key, false) {
                                if l.kind != EntryKind::Dir {
                                    tally.copy(&k.0, 0);
                                }
                            }
                        }
                        Mark::Modified
                    }
                };
                if entry.kind != EntryKind::Dir {
                    tally.copy(&entry.path, entry.size);
                }
                merged.insert(key, Lower::of(&entry));
                changes.push(Change { entry, mark });
            }
            changes.sort_by(|a, b| path_cmp(&a.entry.path, &b.entry.path));
            out.push(changes);
        }
        let (mut total, mut least, mut wasted) = (0u64, 0u64, 0u64);
        for copies in tally.0.values() {
            total += copies.bytes;
            least += copies.least;
            if copies.count > 1 {
                wasted += copies.bytes;
            }
        }
        let efficiency = if total == 0 { 1.0 } else { least as f64 / total as f64 };
        ImageChanges { layers: out, total, wasted, efficiency }
    }

    /// The tree layers `0..=at` merge to, in path order, with layer `at`'s removals kept (marked) so the
    /// view can show what it took away.
    pub fn merged(&self, at: usize) -> Vec<MergedEntry<'_>> {
        let mut map: BTreeMap<Key<&str>, MergedEntry<'_>> = BTreeMap::new();
        for (layer, changes) in self.layers.iter().enumerate().take(at + 1) {
            for change in changes.iter().filter(|c| c.entry.opaque) {
                take_subtree(&mut map, &Key(change.entry.path.as_str()), false);
            }
            for change in changes.iter().filter(|c| c.mark == Mark::Removed) {
                take_subtree(&mut map, &Key(change.entry.path.as_str()), true);
                if layer == at {
                    map.insert(Key(&change.entry.path), MergedEntry { change, layer });
                }
            }
            for change in changes.iter().filter(|c| c.mark != Mark::Removed) {
                let key = Key(change.entry.path.as_str());
                if change.entry.kind != EntryKind::Dir
                    && map.get(&key).is_some_and(|m| m.change.entry.kind == EntryKind::Dir)
                {
                    take_subtree(&mut map, &key, false);
                }
                map.insert(key, MergedEntry { change, layer });
            }
        }
        map.into_values().collect()
    }
}

/// A removal of `path` (what `lower` held there, `size` bytes in all) that no whiteout spells.
fn removal(path: String, lower: Lower, size: u64) -> Change {
    Change {
        entry: LayerEntry {
            path,
            kind: EntryKind::Removed,
            size,
            mode: lower.mode,
            uid: lower.uid,
            gid: lower.gid,
            link: None,
            opaque: false,
        },
        mark: Mark::Removed,
    }
}
