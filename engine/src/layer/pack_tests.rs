//! Packing tests: round trips through berth's own unpacker, determinism, where markers go, hostile uppers.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::pack::PackReport;
use super::*;
use crate::testing::require_root;

fn whiteout(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .expect("mknod whiteout");
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).expect("setxattr");
}

fn opaque(path: &Path) {
    set_xattr(path, "trusted.overlay.opaque", b"y");
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, data).expect("write");
}

fn set_mtime(path: &Path, secs: i64) {
    let t = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("utimensat");
}

/// Every node under `root` described by what a layer must keep: type, mode, owner, mtime, xattrs (overlay's
/// own as `opaque`), contents, link target, device number, and which paths share an inode.
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> =
            fs::read_dir(root.join(&rel)).expect("read_dir").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        for name in names {
            let path = rel.join(&name);
            let full = root.join(&path);
            let meta = fs::symlink_metadata(&full).expect("lstat");
            let kind = meta.file_type();
            let mut xattrs = Vec::new();
            if !kind.is_symlink() {
                let mut list = vec![0u8; 4096];
                let len = rustix::fs::listxattr(&full, &mut list[..]).expect("listxattr");
                list.truncate(len);
                for n in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
                    let n = String::from_utf8_lossy(n).into_owned();
                    let mut v = vec![0u8; 4096];
                    let len = rustix::fs::getxattr(&full, n.as_str(), &mut v[..]).expect("getxattr");
                    v.truncate(len);
                    xattrs.push(format!("{n}={}", String::from_utf8_lossy(&v)));
                }
                xattrs.sort();
            }
            let what = if kind.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if kind.is_symlink() {
                format!("symlink->{}", fs::read_link(&full).expect("readlink").display())
            } else if kind.is_char_device() || kind.is_block_device() {
                format!("dev {}", meta.rdev())
            } else if kind.is_fifo() {
                "fifo".into()
            } else if meta.nlink() > 1 && inodes.contains_key(&meta.ino()) {
                format!("link to {}", inodes[&meta.ino()].display())
            } else {
                inodes.insert(meta.ino(), path.clone());
                format!("file {:?}", String::from_utf8_lossy(&fs::read(&full).expect("read")))
            };
            let mtime = if kind.is_symlink() || kind.is_char_device() { 0 } else { meta.mtime() };
            out.insert(
                path,
                format!(
                    "{what} mode={:o} {}:{} mtime={mtime} {}",
                    meta.permissions().mode() & 0o7777,
                    meta.uid(),
                    meta.gid(),
                    xattrs.join(",")
                ),
            );
        }
    }
    out
}

/// The entry names of a tar stream, in order.
fn names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .expect("entries")
        .map(|e| String::from_utf8_lossy(&e.expect("entry").path_bytes()).into_owned())
        .collect()
}

fn pack_to_vec(upper: &Path, lowers: &[PathBuf], opts: &PackOptions) -> (Vec<u8>, PackReport) {
    let mut out = Vec::new();
    let report = pack(upper, lowers, opts, &mut out).expect("pack");
    (out, report)
}

/// A lower layer with a few dirs and files, and an upper over it that changes, deletes, replaces and adds.
fn fixture(base: &Path) -> (PathBuf, PathBuf) {
    let lower = base.join("lower");
    write(&lower.join("etc/passwd"), b"root:x:0:0\n");
    write(&lower.join("etc/keep"), b"kept");
    write(&lower.join("usr/lib/gone"), b"old");
    write(&lower.join("opq/old"), b"hidden by the opaque dir");
    write(&lower.join("bin/tool"), b"tool");

    let upper = base.join("upper");
    write(&upper.join("etc/passwd"), b"root:x:0:0\nuser:x:1000:1000\n");
    write(&upper.join("etc/new"), b"new");
    fs::create_dir_all(upper.join("usr/lib")).expect("mkdir");
    whiteout(&upper.join("usr/lib/gone"));
    write(&upper.join("opq/new"), b"fresh");
    opaque(&upper.join("opq"));
    write(&upper.join("data/a"), b"shared inode");
    fs::hard_link(upper.join("data/a"), upper.join("data/b")).expect("hardlink");
    symlink("/etc", upper.join("data/etc-link")).expect("symlink");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("data/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    write(&upper.join("bin/ping"), b"ping");
    fs::set_permissions(upper.join("bin/ping"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    set_xattr(
        &upper.join("bin/ping"),
        "security.capability",
        &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    rustix::fs::chown(
        upper.join("etc/new"),
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(50)),
    )
    .expect("chown");
    for path in
        ["etc/passwd", "etc/new", "usr/lib", "usr", "etc", "opq/new", "opq", "data/a", "data", "bin/ping", "bin"]
    {
        set_mtime(&upper.join(path), 1_600_000_000);
    }
    (lower, upper)
}

#[test]
fn packing_then_unpacking_onto_the_same_lowers_gives_the_same_tree() {
    if !require_root("packing_then_unpacking_onto_the_same_lowers_gives_the_same_tree") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, upper) = fixture(tmp.path());
    let (tar, report) = pack_to_vec(&upper, std::slice::from_ref(&lower), &PackOptions::default());
    assert_eq!(report.tar_bytes, tar.len() as u64);

    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).expect("mkdir");
    let opts = UnpackOptions { max_bytes: 1 << 30, preserve_owners: true };
    let unpacked = unpack(tar.as_slice(), Compression::None, &dest, &opts).expect("unpack");
    assert_eq!(unpacked.diff_id, report.diff_id);
    assert!(unpacked.deferred_links.is_empty() && unpacked.implicit_dirs.is_empty());
    assert_eq!(unpacked.size, report.size);
    assert_eq!(tree(&dest), tree(&upper));

    // The unpacked layer packs to the same bytes: a layer's diffID can be made again from its directory.
    let (again, _) = pack_to_vec(&dest, &[lower], &PackOptions::default());
    assert_eq!(again, tar);
}

#[test]
fn the_same_tree_packs_to_the_same_bytes_and_gzip_blob() {
    if !require_root("the_same_tree_packs_to_the_same_bytes_and_gzip_blob") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, upper) = fixture(tmp.path());
    let lowers = [lower];
    let (first, report) = pack_to_vec(&upper, &lowers, &PackOptions::default());
    let (second, _) = pack_to_vec(&upper, &lowers, &PackOptions::default());
    assert_eq!(first, second);
    assert_eq!(report.diff_id, crate::digest::sha256_digest(&first));

    let gzip = |out: &mut Vec<u8>| {
        super::gzip_blob(
            out,
            |w| pack(&upper, &lowers, &PackOptions::default(), w),
            |source| LayerError::Output { source },
        )
        .expect("gzip")
    };
    let mut gz1 = Vec::new();
    let (packed, digest, compressed_bytes) = gzip(&mut gz1);
    let mut gz2 = Vec::new();
    gzip(&mut gz2);
    assert_eq!(gz1, gz2);
    assert_eq!(&gz1[4..8], &[0, 0, 0, 0], "gzip header mtime is 0");
    assert_eq!(packed, report);
    assert_eq!(digest, crate::digest::sha256_digest(&gz1));
    assert_eq!(compressed_bytes, gz1.len() as u64);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gz1.as_slice()).read_to_end(&mut plain).expect("gunzip");
    assert_eq!(plain, first);

    let sorted = names(&first);
    let mut expected = sorted.clone();
    expected.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(sorted, expected, "entries are sorted depth first");
    // Hardlinks are one file and one link entry.
    let mut archive = tar::Archive::new(first.as_slice());
    let link = archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| e.path_bytes().as_ref() == b"data/b")
        .expect("data/b");
    assert_eq!(link.header().entry_type(), tar::EntryType::Link);
    assert_eq!(link.link_name_bytes().as_deref(), Some(&b"data/a"[..]));
}

#[test]
fn whiteouts_and_opaque_markers_only_where_a_lower_has_the_path() {
    if !require_root("whiteouts_and_opaque_markers_only_where_a_lower_has_the_path") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let bottom = tmp.path().join("bottom");
    write(&bottom.join("a/x"), b"x");
    write(&bottom.join("a/y"), b"y");
    write(&bottom.join("b/z"), b"z");
    write(&bottom.join("file"), b"f");
    // The layer above already deleted a/y and made b opaque (empty).
    let middle = tmp.path().join("middle");
    fs::create_dir_all(middle.join("a")).expect("mkdir");
    whiteout(&middle.join("a/y"));
    fs::create_dir_all(middle.join("b")).expect("mkdir");
    opaque(&middle.join("b"));

    let upper = tmp.path().join("upper");
    fs::create_dir_all(upper.join("a")).expect("mkdir");
    whiteout(&upper.join("a/x")); // in bottom: needed
    whiteout(&upper.join("a/y")); // already deleted by middle: not needed
    whiteout(&upper.join("ghost")); // nowhere: not needed
    fs::create_dir_all(upper.join("b")).expect("mkdir");
    whiteout(&upper.join("b/z")); // hidden by middle's opaque b: not needed
    fs::create_dir_all(upper.join("fresh")).expect("mkdir");
    opaque(&upper.join("fresh")); // new dir: no marker
    fs::create_dir_all(upper.join("a2")).expect("mkdir");
    fs::create_dir_all(upper.join("o/inner")).expect("mkdir");
    opaque(&upper.join("o"));
    whiteout(&upper.join("o/inner/q"));
    fs::create_dir_all(bottom.join("o/inner")).expect("mkdir");
    write(&bottom.join("o/inner/q"), b"q");
    // A file replaced by a directory: the directory needs no opaque marker, there is nothing to hide.
    fs::create_dir_all(upper.join("file")).expect("mkdir");
    opaque(&upper.join("file"));

    let (tar, _) = pack_to_vec(&upper, &[middle, bottom], &PackOptions::default());
    let names = names(&tar);
    assert_eq!(names, ["a", "a/.wh.x", "a2", "b", "file", "fresh", "o", "o/.wh..wh..opq", "o/inner"], "{names:?}");
}

#[test]
fn a_symlink_in_the_upper_is_packed_as_a_symlink_never_followed() {
    if !require_root("a_symlink_in_the_upper_is_packed_as_a_symlink_never_followed") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let upper = tmp.path().join("upper");
    fs::create_dir_all(&upper).expect("mkdir");
    symlink("/etc", upper.join("etc")).expect("symlink");
    symlink("/etc/shadow", upper.join("shadow")).expect("symlink");
    let (tar, report) = pack_to_vec(&upper, &[], &PackOptions::default());
    assert_eq!(report.size, 0);
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(String, tar::EntryType, String)> = archive
        .entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
            (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().entry_type(), link)
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("etc".to_string(), tar::EntryType::Symlink, "/etc".to_string()),
            ("shadow".to_string(), tar::EntryType::Symlink, "/etc/shadow".to_string())
        ]
    );
}

#[test]
fn mtimes_are_clamped_to_source_date_epoch() {
    if !require_root("mtimes_are_clamped_to_source_date_epoch") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let upper = tmp.path().join("upper");
    write(&upper.join("d/new"), b"n");
    write(&upper.join("d/old"), b"o");
    set_mtime(&upper.join("d/old"), 1000);
    let opts = PackOptions { source_date_epoch: Some(5000), ..PackOptions::default() };
    let (tar, _) = pack_to_vec(&upper, &[], &opts);
    let mut archive = tar::Archive::new(tar.as_slice());
    let times: Vec<(String, u64)> = archive
        .entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().mtime().expect("mtime"))
        })
        .collect();
    assert_eq!(times, [("d".into(), 5000), ("d/new".into(), 5000), ("d/old".into(), 1000)]);
}

#[test]
fn excluded_mount_points_are_left_out_unless_a_lower_has_them() {
    if !require_root("excluded_mount_points_are_left_out_unless_a_lower_has_them") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lower = tmp.path().join("lower");
    write(&lower.join("etc/hostname"), b"image's");
    let upper = tmp.path().join("upper");
    write(&upper.join("etc/hosts"), b"");
    write(&upper.join("etc/hostname"), b"changed");
    write(&upper.join("etc/other"), b"o");
    let opts = PackOptions { exclude: vec!["etc/hosts".into(), "etc/hostname".into()], ..PackOptions::default() };
    let (tar, _) = pack_to_vec(&upper, std::slice::from_ref(&lower), &opts);
    assert_eq!(names(&tar), ["etc", "etc/hostname", "etc/other"]);

    // A directory copied up only to hold the stubs is no change: the layer is empty.
    let stubs_only = tmp.path().join("stubs-only");
    write(&stubs_only.join("etc/hosts"), b"");
    let (tar, report) = pack_to_vec(&stubs_only, &[lower], &opts);
    assert!(names(&tar).is_empty(), "{:?}", names(&tar));
    assert_eq!(report.diff_id, crate::local::EMPTY_LAYER_DIFF_ID);
}

#[test]
fn changes_are_lettered_and_ordered_as_docker_diff() {
    if !require_root("changes_are_lettered_and_ordered_as_docker_diff") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lower = tmp.path().join("lower");
    write(&lower.join("etc/passwd"), b"p");
    write(&lower.join("same/x"), b"x");
    write(&lower.join("gone/y"), b"y");
    write(&lower.join("opq/z"), b"z");
    let upper = tmp.path().join("upper");
    fs::create_dir_all(&upper).expect("mkdir");
    // A directory copied up with the lower's metadata is no change of its own.
    fs::create_dir_all(upper.join("same")).expect("mkdir");
    write(&upper.join("same/new"), b"n");
    let lower_same = fs::metadata(lower.join("same")).expect("stat");
    fs::set_permissions(upper.join("same"), lower_same.permissions()).expect("chmod");
    set_mtime(&upper.join("same"), lower_same.mtime());
    set_mtime(&lower.join("same"), lower_same.mtime());
    fs::create_dir_all(upper.join("gone")).expect("mkdir");
    whiteout(&upper.join("gone/y"));
    whiteout(&upper.join("ghost"));
    write(&upper.join("opq/w"), b"w");
    opaque(&upper.join("opq"));
    // /etc changed only by the runtime's stub is not reported.
    write(&upper.join("etc/hosts"), b"");
    let opts = PackOptions { exclude: vec!["etc/hosts".into()], ..PackOptions::default() };
    let found: Vec<String> = changes(&upper, &[lower], &opts)
        .expect("changes")
        .into_iter()
        .map(|(path, kind)| format!("{kind:?} /{}", path.display()))
        .collect();
    assert_eq!(
        found,
        ["Changed /gone", "Deleted /gone/y", "Deleted /opq", "Added /opq/w", "Changed /same", "Added /same/new"],
        "{found:?}"
    );
}

#[test]
fn a_file_named_like_a_whiteout_is_refused_not_turned_into_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let upper = tmp.path().join("upper");
    write(&upper.join("etc/.wh.passwd"), b"a file, not a deletion");
    let err = pack(&upper, &[], &PackOptions::default(), std::io::sink()).expect_err("reserved name");
    assert!(matches!(&err, LayerError::ReservedName { path } if path == Path::new("etc/.wh.passwd")), "{err}");
    assert!(err.to_string().contains("etc/.wh.passwd"), "{err}");
}
