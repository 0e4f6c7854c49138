//! berth's unpacked layers, stacked by overlayfs the way a container sees them, must equal umoci's
//! unpack of the same OCI layout: paths, types, modes, owners, symlink targets, contents, device
//! numbers, xattrs, mtimes and hard link groups.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use support::berth::{Berth, STORES, walk};
use support::oci::{self, Image, OciLayout};
use support::registry::{PushFormat, Registry};

/// What the comparison sees of one path.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    /// Permission bits with setuid/setgid/sticky; not for symlinks, whose mode means nothing.
    mode: Option<Mode>,
    uid: u32,
    gid: u32,
    /// sha256 of a regular file's contents.
    contents: Option<String>,
    link: Option<PathBuf>,
    device: Option<(u32, u32)>,
    xattrs: BTreeMap<String, Vec<u8>>,
    /// Directory mtimes move as children are added, so only non-directories are compared.
    mtime: Option<i64>,
}

/// Permission bits, shown in octal.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Mode(u32);

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0o{:o}", self.0)
    }
}

/// A whole file tree: nodes by path relative to its top, and hard link groups (paths sharing an inode).
struct Tree {
    nodes: BTreeMap<String, Node>,
    links: BTreeSet<BTreeSet<String>>,
}

impl Tree {
    fn read(top: &Path) -> Tree {
        let mut nodes = BTreeMap::new();
        let mut inodes: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        walk(top, &mut |path, meta| {
            let Ok(rel) = path.strip_prefix(top) else { return };
            if rel.as_os_str().is_empty() {
                return;
            }
            let rel = rel.to_string_lossy().into_owned();
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_fifo() {
                "fifo"
            } else {
                "socket"
            };
            if ft.is_file() && meta.nlink() > 1 {
                inodes.entry(meta.ino()).or_default().insert(rel.clone());
            }
            let device = (ft.is_char_device() || ft.is_block_device())
                .then(|| (libc::major(meta.rdev()), libc::minor(meta.rdev())));
            let node = Node {
                kind,
                mode: (!ft.is_symlink()).then_some(Mode(meta.mode() & 0o7777)),
                uid: meta.uid(),
                gid: meta.gid(),
                contents: ft.is_file().then(|| hex::encode(Sha256::digest(fs::read(path).expect("read file in tree")))),
                link: ft.is_symlink().then(|| fs::read_link(path).expect("read link in tree")),
                device,
                xattrs: xattrs(path),
                mtime: (!ft.is_dir()).then_some(meta.mtime()),
            };
            nodes.insert(rel, node);
        });
        let links = inodes.into_values().filter(|group| group.len() > 1).collect();
        Tree { nodes, links }
    }

    /// Every difference, one line each.
    fn diff(&self, other: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        let paths: BTreeSet<&String> = self.nodes.keys().chain(other.nodes.keys()).collect();
        for path in paths {
            match (self.nodes.get(path), other.nodes.get(path)) {
                (Some(a), Some(b)) if a != b => out.push(format!("{path}: umoci {a:?}\n    berth {b:?}")),
                (Some(_), None) => out.push(format!("{path}: only in umoci's unpack")),
                (None, Some(_)) => out.push(format!("{path}: only in berth's overlay")),
                _ => {}
            }
        }
        if self.links != other.links {
            out.push(format!("hard link groups: umoci {:?}\n    berth {:?}", self.links, other.links));
        }
        out
    }
}

/// The `user.*` and `security.capability` xattrs of `path` (not following symlinks).
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 4096];
    let Ok(len) = rustix::fs::llistxattr(path, &mut names[..]) else { return BTreeMap::new() };
    names[..len]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| n.starts_with("user.") || n == "security.capability")
        .filter_map(|name| {
            let mut value = vec![0u8; 65536];
            let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).ok()?;
            value.truncate(len);
            Some((name, value))
        })
        .collect()
}

/// A read-only overlay of berth's layer dirs; unmounted on drop, also when the test fails.
struct Overlay {
    target: PathBuf,
}

impl Overlay {
    fn mount(lowers: &[PathBuf], target: &Path, spare: &Path) -> Overlay {
        let mut lowers: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        if lowers.len() == 1 {
            fs::create_dir_all(spare).expect("create empty bottom lower");
            lowers.push(spare.display().to_string());
        }
        fs::create_dir_all(target).expect("create mountpoint");
        let options = format!("ro,lowerdir={}", lowers.join(":"));
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(target)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mount overlay {options}: {}", String::from_utf8_lossy(&out.stderr));
        Overlay { target: target.to_path_buf() }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.target).status();
        if !status.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}

/// Unpacks `image` with umoci and with berth (pulled from a real registry into the layer `store`), mounts
/// berth's layers as overlay, and returns umoci's tree and the differences.
fn compare_with_umoci(image: &Image, store: &str) -> (Tree, Vec<String>) {
    let work = tempfile::Builder::new().prefix("berth-umoci-").tempdir().expect("work dir");

    let layout = OciLayout::of_image(image, "v1");
    let bundle = work.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &layout.image_arg()])
        .arg(&bundle)
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    let expected = Tree::read(&bundle.join("rootfs"));

    let registry = Registry::start();
    let reference = registry.push_image(image, "test/compare:v1", PushFormat::Oci);
    let berth = Berth::with_store(store);
    berth.run(&["pull", &reference]).success();
    berth.assert_no_wh_files();

    let inspect = berth.inspect(&reference);
    let lower = inspect["GraphDriver"]["Data"]["LowerDir"].as_str().expect("GraphDriver.Data.LowerDir string");
    let lowers: Vec<PathBuf> = lower.split(':').map(PathBuf::from).collect();
    let stored = |id: &String| match store {
        "erofs" => berth.layers_dir().join(format!("{id}.erofs")),
        _ => berth.layers_dir().join(id),
    };
    let expected_lowers: Vec<PathBuf> = image.chain_ids().iter().rev().map(stored).collect();
    assert_eq!(lowers, expected_lowers, "LowerDir lists the chain-id dirs or images, top-most first");

    let views: Vec<PathBuf> = image.chain_ids().iter().rev().map(|id| berth.layer_view(id)).collect();
    let merged = Overlay::mount(&views, &work.path().join("merged"), &work.path().join("empty"));
    let mut actual = Tree::read(&merged.target);
    let cross = ["cross-link", "shared"];
    if store == "erofs" && cross.iter().all(|p| actual.nodes.contains_key(*p)) {
        // An image cannot share an inode with another layer's image: the fixture's hardlink into a lower
        // layer is stored as a copy (as the dir store does across filesystems), equal in every attribute.
        assert_eq!(actual.nodes[cross[0]], actual.nodes[cross[1]], "the cross-layer link's copy");
        actual.links.insert(cross.iter().map(|p| p.to_string()).collect());
    }
    let diff = expected.diff(&actual);
    (expected, diff)
}

#[test]
fn multilayer_pull_matches_umoci_unpack() {
    if !support::require_root("multilayer_pull_matches_umoci_unpack") {
        return;
    }
    for store in STORES {
        let (expected, diff) = compare_with_umoci(&oci::multilayer_image(), store);
        assert_reference_has_the_tricky_parts(&expected);
        assert!(diff.is_empty(), "berth's {store} layers differ from umoci's unpack:\n{}", diff.join("\n"));
    }
}

#[test]
fn implicit_parent_dirs_match_umoci_unpack() {
    if !support::require_root("implicit_parent_dirs_match_umoci_unpack") {
        return;
    }
    for store in STORES {
        let (expected, diff) = compare_with_umoci(&oci::implicit_parents_image(), store);
        let user = expected.nodes.get("home/user").expect("umoci's unpack has home/user");
        assert_eq!(
            (user.mode, user.uid),
            (Some(Mode(0o750)), 1000),
            "fixture: the base's attributes survive in umoci's unpack"
        );
        assert!(diff.is_empty(), "berth's {store} layers differ from umoci's unpack:\n{}", diff.join("\n"));
    }
}

/// The reference unpack holds what the fixture meant to test, so an equal berth tree means something.
fn assert_reference_has_the_tricky_parts(tree: &Tree) {
    let node = |p: &str| tree.nodes.get(p).unwrap_or_else(|| panic!("umoci's unpack lacks {p}"));
    assert!(!tree.nodes.contains_key("gone") && !tree.nodes.contains_key("gone-dir/child"), "whiteouts applied");
    assert!(!tree.nodes.contains_key("data/old/a") && !tree.nodes.contains_key("data/old/sub"), "opaque dir applied");
    assert_eq!(node("data/old/new").kind, "file");
    assert_eq!(node("gone-dir/reborn").kind, "file");
    assert_eq!(node("usr/bin/setuid-tool").mode, Some(Mode(0o4755)));
    assert_eq!(node("sticky").mode, Some(Mode(0o1777)));
    assert_eq!((node("home/user/notes").uid, node("home/user/notes").mtime), (1000, Some(1_234_567_890)));
    assert_eq!(node("dev/mynull").device, Some((1, 3)));
    assert_eq!(node("fifo").kind, "fifo");
    assert_eq!(node("etc/abs-link").link.as_deref(), Some(Path::new("/etc/passwd")));
    assert_eq!(node("xattr-file").xattrs.get("user.comment").map(Vec::as_slice), Some(&b"hello"[..]));
    assert_eq!(node("usr/bin/cap-tool").xattrs.get("security.capability"), Some(&oci::capability_xattr()));
    let groups: Vec<Vec<&str>> = tree.links.iter().map(|g| g.iter().map(String::as_str).collect()).collect();
    assert!(groups.contains(&vec!["cross-link", "shared"]), "cross-layer hard link group: {groups:?}");
    assert!(groups.contains(&vec!["l3/a", "l3/b", "l3/c"]), "in-layer hard link group: {groups:?}");
}
