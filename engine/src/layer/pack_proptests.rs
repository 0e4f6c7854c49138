//! Packing random uppers over a random lower: unpacking the stream onto the same lower gives the upper
//! back (less the markers that hide nothing), packing is deterministic, and nothing a symlink points at is
//! ever read.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::proptest_support::cases;

/// Something to make in the upper (or, for files and dirs, the lower).
#[derive(Debug, Clone)]
enum Op {
    Dir(String),
    File(String, u8, u32),
    Symlink(String, String),
    Hardlink(String, String),
    Whiteout(String),
    Opaque(String),
}

fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4).prop_map(|c| c.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => path().prop_map(Op::Dir),
        3 => (path(), any::<u8>(), prop::sample::select(vec![0o644u32, 0o755, 0o4755, 0o600])).prop_map(|(p, d, m)| Op::File(p, d, m)),
        1 => (path(), prop::sample::select(vec!["/etc", "../../outside", "a", "/outside/secret"])).prop_map(|(p, t)| Op::Symlink(p, t.to_string())),
        1 => (path(), path()).prop_map(|(p, t)| Op::Hardlink(p, t)),
        2 => path().prop_map(Op::Whiteout),
        1 => path().prop_map(Op::Opaque),
    ]
}

/// Makes `op` under `root`, creating parents; anything the tree does not allow (a parent that is a file,
/// a name already taken) is skipped, as a container would fail at it.
fn apply(root: &Path, op: &Op) {
    let at = |p: &str| root.join(p);
    let parent_ok = |p: &str| {
        let full = at(p);
        let parent = full.parent().expect("parent");
        fs::create_dir_all(parent).is_ok() && fs::symlink_metadata(&full).is_err()
    };
    match op {
        Op::Dir(p) if parent_ok(p) => {
            let _ = fs::create_dir(at(p));
        }
        Op::File(p, data, mode) if parent_ok(p) && fs::write(at(p), [*data]).is_ok() => {
            let _ = fs::set_permissions(at(p), fs::Permissions::from_mode(*mode));
        }
        Op::Symlink(p, target) if parent_ok(p) => {
            let _ = symlink(target, at(p));
        }
        Op::Hardlink(p, target) => {
            let is_file = fs::symlink_metadata(at(target)).is_ok_and(|m| m.is_file());
            if is_file && parent_ok(p) {
                let _ = fs::hard_link(at(target), at(p));
            }
        }
        Op::Whiteout(p) if parent_ok(p) => {
            let _ = rustix::fs::mknodat(
                rustix::fs::CWD,
                at(p),
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            );
        }
        Op::Opaque(p) if fs::symlink_metadata(at(p)).is_ok_and(|m| m.is_dir()) => {
            let _ = rustix::fs::lsetxattr(at(p), "trusted.overlay.opaque", b"y", rustix::fs::XattrFlags::empty());
        }
        _ => {}
    }
}

/// Whether the lower shows `rel` through directories only (the lower holds no whiteouts or opaque dirs).
fn lower_has(lower: &Path, rel: &Path) -> bool {
    let mut at = lower.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for (i, c) in components.iter().enumerate() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(_) if i + 1 == components.len() => return true,
            Ok(m) if m.is_dir() => {}
            _ => return false,
        }
    }
    false
}

/// What a layer keeps of each path, as the unit tests compare it, with inodes as link groups.
fn describe(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut first: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> =
            fs::read_dir(root.join(&rel)).expect("read_dir").map(|e| e.expect("e").file_name()).collect();
        names.sort();
        for name in names {
            let path = rel.join(name);
            let full = root.join(&path);
            let m = fs::symlink_metadata(&full).expect("lstat");
            let kind = if m.is_dir() {
                stack.push(path.clone());
                let mut v = [0u8; 4];
                let opaque = rustix::fs::lgetxattr(&full, "trusted.overlay.opaque", &mut v[..]).is_ok();
                format!("dir opaque={opaque}")
            } else if m.file_type().is_symlink() {
                format!("symlink {}", fs::read_link(&full).expect("readlink").display())
            } else if m.file_type().is_char_device() {
                "whiteout".to_string()
            } else if let Some(p) = first.get(&m.ino()) {
                format!("link {}", p.display())
            } else {
                first.insert(m.ino(), path.clone());
                format!("file {:?}", fs::read(&full).expect("read"))
            };
            let mode = if m.file_type().is_symlink() || m.file_type().is_char_device() { 0 } else { m.mode() & 0o7777 };
            let mtime =
                if m.is_dir() || m.file_type().is_symlink() || m.file_type().is_char_device() { 0 } else { m.mtime() };
            out.insert(path, format!("{kind} {mode:o} {mtime}"));
        }
    }
    out
}

fn check(lower_ops: &[Op], upper_ops: &[Op]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, upper, dest) = (tmp.path().join("lower"), tmp.path().join("upper"), tmp.path().join("dest"));
    for dir in [&lower, &upper, &dest] {
        fs::create_dir(dir).expect("mkdir");
    }
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("secret"), b"SECRET-OUTSIDE").expect("write");
    for op in lower_ops.iter().filter(|o| matches!(o, Op::Dir(_) | Op::File(..))) {
        apply(&lower, op);
    }
    for op in upper_ops {
        apply(&upper, op);
    }
    let lowers = [lower.clone()];
    let mut tar = Vec::new();
    let report =
        pack(&upper, &lowers, &PackOptions::default(), &mut tar).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut again = Vec::new();
    pack(&upper, &lowers, &PackOptions::default(), &mut again).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&tar, &again, "packing is deterministic");
    prop_assert!(!tar.windows(14).any(|w| w == b"SECRET-OUTSIDE"), "a symlink was followed");

    let opts = UnpackOptions { max_bytes: 1 << 30, preserve_owners: true };
    let unpacked =
        unpack(tar.as_slice(), Compression::None, &dest, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&unpacked.diff_id, &report.diff_id);

    // The upper as a layer keeps it: whiteouts and opaque markers only where the lower has the path
    // (and no opaque directory of the upper above it).
    let mut expected = describe(&upper);
    let opaque_dirs: Vec<PathBuf> =
        expected.iter().filter(|(_, v)| v.starts_with("dir opaque=true")).map(|(p, _)| p.clone()).collect();
    let shown = |p: &Path| lower_has(&lower, p) && !opaque_dirs.iter().any(|d| p != d && p.starts_with(d));
    expected.retain(|p, v| !v.starts_with("whiteout") || shown(p));
    for (p, v) in expected.iter_mut() {
        if v.starts_with("dir opaque=true")
            && !(shown(p) && fs::symlink_metadata(lower.join(p)).is_ok_and(|m| m.is_dir()))
        {
            *v = v.replacen("opaque=true", "opaque=false", 1);
        }
    }
    prop_assert_eq!(describe(&dest), expected);
    Ok(())
}

proptest! {
    #![proptest_config(cases(128))]

    /// Whiteouts and opaque xattrs need root: the property runs only there.
    #[test]
    fn packed_uppers_unpack_to_themselves(
        lower in proptest::collection::vec(op(), 0..10),
        upper in proptest::collection::vec(op(), 1..14),
    ) {
        if rustix::process::geteuid().is_root() {
            check(&lower, &upper)?;
        }
    }
}
