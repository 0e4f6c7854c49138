//! The layer explorer on hand-made layers: marks, the merged tree, wasted space and efficiency, and the
//! two readers (tar index, directory in overlay form) agreeing on a real unpacked layer.

use std::io::Cursor;

use tar::{EntryType, Header};

use super::*;
use crate::testing::require_root;

fn entry(path: &str, kind: EntryKind, size: u64) -> LayerEntry {
    LayerEntry {
        path: path.into(),
        kind,
        size,
        mode: if kind == EntryKind::Dir { 0o755 } else { 0o644 },
        uid: 0,
        gid: 0,
        link: None,
        opaque: false,
    }
}

fn file(path: &str, size: u64) -> LayerEntry {
    entry(path, EntryKind::File, size)
}

fn dir(path: &str) -> LayerEntry {
    entry(path, EntryKind::Dir, 0)
}

fn removed(path: &str) -> LayerEntry {
    entry(path, EntryKind::Removed, 0)
}

/// Each change of a layer as (path, mark, size).
fn marks(changes: &[explore::Change]) -> Vec<(&str, Mark, u64)> {
    changes.iter().map(|c| (c.entry.path.as_str(), c.mark, c.entry.size)).collect()
}

fn base() -> Vec<LayerEntry> {
    vec![dir("etc"), file("etc/a", 10), file("etc/b", 20), dir("bin"), file("bin/sh", 5)]
}

#[test]
fn bl_marks_add_modify_remove_against_the_layers_below() {
    let upper = vec![dir("etc"), file("etc/a", 15), file("etc/c", 3), removed("etc/b")];
    let image = ImageChanges::compute(vec![base(), upper]);
    assert_eq!(
        marks(&image.layers[0]),
        [
            ("bin", Mark::Added, 0),
            ("bin/sh", Mark::Added, 5),
            ("etc", Mark::Added, 0),
            ("etc/a", Mark::Added, 10),
            ("etc/b", Mark::Added, 20),
        ]
    );
    // The removal carries the bytes it hides; the directory listed again as it was is unchanged.
    assert_eq!(
        marks(&image.layers[1]),
        [
            ("etc", Mark::Unchanged, 0),
            ("etc/a", Mark::Modified, 15),
            ("etc/b", Mark::Removed, 20),
            ("etc/c", Mark::Added, 3)
        ]
    );
    // dive's tally: etc/a has copies of 10 and 15, etc/b of 20 and 0 (removed): all of them wasted.
    assert_eq!(image.total, 10 + 20 + 5 + 15 + 3);
    assert_eq!(image.wasted, 10 + 15 + 20);
    // The smallest copies: etc/a 10, etc/b 0 (its removal), bin/sh 5, etc/c 3.
    let least = 10 + 5 + 3;
    assert!((image.efficiency - least as f64 / image.total as f64).abs() < 1e-9);
}

#[test]
fn bl_an_image_that_writes_each_path_once_wastes_nothing() {
    let image = ImageChanges::compute(vec![base(), vec![dir("srv"), file("srv/x", 7)]]);
    assert_eq!(image.wasted, 0);
    assert_eq!(image.efficiency, 1.0);
    assert_eq!(ImageChanges::compute(Vec::new()).efficiency, 1.0);
}

#[test]
fn bl_removing_a_directory_removes_and_wastes_what_it_held() {
    let upper = vec![removed("etc")];
    let image = ImageChanges::compute(vec![base(), upper]);
    assert_eq!(marks(&image.layers[1]), [("etc", Mark::Removed, 30)]);
    assert_eq!(image.wasted, 30);
    let merged: Vec<&str> = image.merged(1).iter().map(|m| m.change.entry.path.as_str()).collect();
    assert_eq!(merged, ["bin", "bin/sh", "etc"]);
}

#[test]
fn bl_an_opaque_directory_hides_what_it_does_not_write_again() {
    let lower = vec![dir("d"), file("d/x", 4), dir("d/y"), file("d/y/z", 6), file("d/y/w", 1), file("top", 2)];
    let mut opaque = dir("d");
    opaque.opaque = true;
    let upper = vec![opaque, file("d/x", 1)];
    let image = ImageChanges::compute(vec![lower, upper]);
    assert_eq!(
        marks(&image.layers[1]),
        [("d", Mark::Modified, 0), ("d/x", Mark::Modified, 1), ("d/y", Mark::Removed, 7)]
    );
    assert_eq!(image.wasted, 4 + 1 + 6 + 1);
    let merged: Vec<(&str, Mark)> = image.merged(1).iter().map(|m| (m.change.entry.path.as_str(), m.mark(1))).collect();
    assert_eq!(
        merged,
        [("d", Mark::Modified), ("d/x", Mark::Modified), ("d/y", Mark::Removed), ("top", Mark::Unchanged)]
    );
}

#[test]
fn bl_a_hardlink_counts_its_bytes_once() {
    let mut link = entry("bin/ls", EntryKind::Hardlink, 0);
    link.link = Some("bin/busybox".into());
    let image = ImageChanges::compute(vec![vec![dir("bin"), file("bin/busybox", 100), link]]);
    assert_eq!(image.total, 100);
    assert_eq!(image.wasted, 0);
    assert_eq!(image.layers[0][2].entry.kind, EntryKind::Hardlink);
}

#[test]
fn bl_the_merged_tree_is_in_path_order_and_marks_only_its_layer() {
    let upper = vec![dir("etc"), file("etc/a", 15), file("etc.conf", 1), removed("etc/b")];
    let image = ImageChanges::compute(vec![base(), upper]);
    let at = |layer: usize| -> Vec<(String, Mark)> {
        image.merged(layer).iter().map(|m| (m.change.entry.path.clone(), m.mark(layer))).collect()
    };
    let names = |v: &[(&str, Mark)]| -> Vec<(String, Mark)> { v.iter().map(|(p, m)| (p.to_string(), *m)).collect() };
    assert_eq!(
        at(0),
        names(&[
            ("bin", Mark::Added),
            ("bin/sh", Mark::Added),
            ("etc", Mark::Added),
            ("etc/a", Mark::Added),
            ("etc/b", Mark::Added)
        ])
    );
    // `etc/...` sorts right after `etc`, before `etc.conf`.
    assert_eq!(
        at(1),
        names(&[
            ("bin", Mark::Unchanged),
            ("bin/sh", Mark::Unchanged),
            ("etc", Mark::Unchanged),
            ("etc/a", Mark::Modified),
            ("etc/b", Mark::Removed),
            ("etc.conf", Mark::Added)
        ])
    );
}

#[test]
fn bl_a_file_replacing_a_directory_removes_its_contents() {
    let image = ImageChanges::compute(vec![base(), vec![file("etc", 9)]]);
    assert_eq!(marks(&image.layers[1]), [("etc", Mark::Modified, 9)]);
    let merged: Vec<&str> = image.merged(1).iter().map(|m| m.change.entry.path.as_str()).collect();
    assert_eq!(merged, ["bin", "bin/sh", "etc"]);
    assert_eq!(image.wasted, 30);
}

fn header(kind: EntryType, path: &str, link: &str, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_path(path).expect("tar path");
    if !link.is_empty() {
        h.set_link_name(link).expect("tar link");
    }
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(1000);
    h.set_gid(100);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

#[test]
fn bl_index_and_directory_readers_agree() {
    if !require_root("bl_index_and_directory_readers_agree") {
        return;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |kind, path: &str, link: &str, data: &[u8], mode| {
        tar.append(&header(kind, path, link, data.len() as u64, mode), data).expect("append");
    };
    add(EntryType::Directory, "etc/", "", b"", 0o755);
    add(EntryType::Regular, "etc/passwd", "", b"root:x:0:0\n", 0o644);
    add(EntryType::Regular, "etc/.wh.group", "", b"", 0o644);
    add(EntryType::Directory, "var/", "", b"", 0o700);
    add(EntryType::Regular, "var/.wh..wh..opq", "", b"", 0o644);
    add(EntryType::Directory, "bin/", "", b"", 0o755);
    add(EntryType::Regular, "bin/busybox", "", &[7u8; 3000], 0o755);
    add(EntryType::Link, "bin/ls", "bin/busybox", b"", 0o755);
    add(EntryType::Symlink, "bin/sh", "busybox", b"", 0o777);
    let tar = tar.into_inner().expect("tar");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("layer");
    std::fs::create_dir(&dest).expect("layer dir");
    let index = tmp.path().join("layer.tarsplit");
    let opts = UnpackOptions { max_bytes: 1 << 30, preserve_owners: true };
    let (_, indexed) = unpack_indexed(Cursor::new(tar), Compression::None, &dest, &opts, Some(&index)).expect("unpack");
    assert!(indexed);

    let sorted = |mut v: Vec<LayerEntry>| {
        v.sort_by(|a, b| path_cmp(&a.path, &b.path));
        v
    };
    let from_index = sorted(entries_from_index(&index).expect("read index"));
    let from_dir = sorted(entries_from_dir(&dest).expect("walk layer"));
    let summary = |v: &[LayerEntry]| -> Vec<(String, EntryKind, u64, bool)> {
        v.iter().map(|e| (e.path.clone(), e.kind, e.size, e.opaque)).collect()
    };
    let expected: Vec<(String, EntryKind, u64, bool)> = [
        ("bin", EntryKind::Dir, 0, false),
        ("bin/busybox", EntryKind::File, 3000, false),
        ("bin/ls", EntryKind::Hardlink, 0, false),
        ("bin/sh", EntryKind::Symlink, 0, false),
        ("etc", EntryKind::Dir, 0, false),
        ("etc/group", EntryKind::Removed, 0, false),
        ("etc/passwd", EntryKind::File, 11, false),
        ("var", EntryKind::Dir, 0, true),
    ]
    .into_iter()
    .map(|(p, k, s, o)| (p.to_string(), k, s, o))
    .collect();
    assert_eq!(summary(&from_index), expected);
    assert_eq!(summary(&from_dir), expected);
    for entries in [&from_index, &from_dir] {
        let busybox = &entries[1];
        assert_eq!((busybox.mode, busybox.uid, busybox.gid), (0o755, 1000, 100));
        assert_eq!(entries[2].link.as_deref(), Some("bin/busybox"));
        assert_eq!(entries[3].link.as_deref(), Some("busybox"));
    }
}

#[test]
fn bl_path_order_is_component_wise() {
    use std::cmp::Ordering::*;
    assert_eq!(path_cmp("etc", "etc"), Equal);
    assert_eq!(path_cmp("etc", "etc/a"), Less);
    assert_eq!(path_cmp("etc/z", "etc.conf"), Less, "a directory's contents come before its next sibling");
    assert_eq!(path_cmp("etc-old", "etc/a"), Greater);
    assert_eq!(path_cmp("a/b", "a/c"), Less);
    assert_eq!(path_cmp("ab", "a"), Greater);
}
