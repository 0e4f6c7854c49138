//! Unpack tests on real tar streams. Every trap test also checks that nothing outside `dest` changed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;
use crate::testing::require_root;

const LIMIT: u64 = 1 << 30;

fn opts() -> UnpackOptions {
    UnpackOptions { max_bytes: LIMIT, preserve_owners: rustix::process::geteuid().is_root() }
}

/// A layer tar under construction. Names go into the header verbatim so hostile paths can be written.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, path: &str, link: &str, size: u64, mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        header
    }

    fn append(&mut self, mut header: Header, data: &[u8]) -> &mut Self {
        header.set_cksum();
        self.0.append(&header, data).expect("append to in-memory tar");
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.append(Self::header(EntryType::Regular, path, "", data.len() as u64, 0o644), data)
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.append(Self::header(EntryType::Directory, path, "", 0, 0o755), b"")
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.append(Self::header(EntryType::Symlink, path, target, 0, 0o777), b"")
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.append(Self::header(EntryType::Link, path, target, 0, 0o644), b"")
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let data = pax_records(records);
        self.append(Self::header(EntryType::XHeader, "PaxHeader", "", data.len() as u64, 0o644), &data)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.0.finish().expect("finish in-memory tar");
        self.0.get_ref().clone()
    }
}

/// A tempdir holding `dest` plus things a broken unpack could reach: a decoy file and an `outside` dir.
struct Fixture {
    tmp: tempfile::TempDir,
    dest: PathBuf,
    before: BTreeMap<PathBuf, String>,
    /// Unpack as the EROFS store does: an image in `dest`, read back through a detached mount.
    image: bool,
    mounted: std::cell::RefCell<Option<std::os::fd::OwnedFd>>,
}

impl Fixture {
    /// One fixture per layer store: the directory store, and the EROFS store (mounting needs root).
    fn each() -> Vec<Fixture> {
        let mut out = vec![Fixture::new()];
        if rustix::process::geteuid().is_root() {
            out.push(Fixture { image: true, ..Fixture::new() });
        }
        out
    }

    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).expect("create dest");
        fs::write(tmp.path().join("decoy"), b"decoy").expect("write decoy");
        fs::create_dir(tmp.path().join("outside")).expect("create outside");
        fs::write(tmp.path().join("outside/target"), b"target").expect("write outside target");
        let mut fixture = Fixture { tmp, dest, before: BTreeMap::new(), image: false, mounted: Default::default() };
        fixture.before = fixture.outside_state();
        fixture
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// Everything in the tempdir except `dest`: type, mode, size, link count, content.
    fn outside_state(&self) -> BTreeMap<PathBuf, String> {
        state_around(self.tmp.path(), &self.dest)
    }

    fn assert_outside_untouched(&self) {
        assert_eq!(self.outside_state(), self.before, "something outside dest changed");
        assert!(fs::symlink_metadata(&self.dest).expect("lstat dest").is_dir(), "dest is no longer a directory");
    }

    fn unpack(&self, tar: &[u8]) -> Result<UnpackReport, LayerError> {
        if !self.image {
            return unpack(tar, Compression::None, &self.dest, &opts());
        }
        let image = self.dest.join("layer.erofs");
        let (report, pending) = erofs::unpack_image(tar, Compression::None, &image, &opts())?;
        pending.write()?;
        let names: Vec<_> =
            fs::read_dir(&self.dest).expect("read dest").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["layer.erofs"], "the image store writes its image and nothing else");
        *self.mounted.borrow_mut() = Some(erofs::mount::mount_image(&image).expect("mount the layer image"));
        Ok(report)
    }

    /// `rel` in the unpacked layer: under `dest`, or in the mounted image.
    fn path(&self, rel: &str) -> PathBuf {
        match &*self.mounted.borrow() {
            Some(fd) => erofs::mount::fd_path(fd).join(".").join(rel),
            None => self.dest.join(rel),
        }
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip finish")
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    rustix::fs::lgetxattr(path, name, &mut buf[..]).ok().map(|n| buf[..n].to_vec())
}

fn is_whiteout(path: &Path) -> bool {
    let meta = fs::symlink_metadata(path).expect("lstat whiteout");
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn names_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        out.push(entry.file_name().to_string_lossy().into_owned());
        if entry.file_type().expect("file type").is_dir() {
            out.extend(names_under(&entry.path()));
        }
    }
    out
}

#[test]
fn dotdot_entry_lands_inside() {
    for fx in Fixture::each() {
        let tar = Layer::new().file("../../escape", b"x").file("a/../../../decoy", b"overwritten?").finish();
        fx.unpack(&tar).expect("unpack");
        assert_eq!(fs::read(fx.path("escape")).expect("escape inside dest"), b"x");
        assert_eq!(fs::read(fx.path("decoy")).expect("decoy inside dest"), b"overwritten?");
        fx.assert_outside_untouched();
    }
}

#[test]
fn final_dotdot_component_is_rejected() {
    for fx in Fixture::each() {
        let tar = Layer::new().file("a/..", b"x").finish();
        assert!(matches!(fx.unpack(&tar), Err(LayerError::Escape { .. })));
        fx.assert_outside_untouched();
    }
}

#[test]
fn absolute_entry_lands_inside() {
    for fx in Fixture::each() {
        let abs = format!("{}/decoy", fx.tmp.path().display());
        let tar = Layer::new().file("/etc/x", b"etc").file(&abs, b"abs").finish();
        fx.unpack(&tar).expect("unpack");
        assert_eq!(fs::read(fx.path("etc/x")).expect("etc/x inside"), b"etc");
        assert_eq!(fs::read(fx.path(abs.trim_start_matches('/'))).expect("absolute path inside"), b"abs");
        fx.assert_outside_untouched();
    }
}

#[test]
fn symlink_to_slash_is_resolved_in_root() {
    for fx in Fixture::each() {
        let host_file = Path::new("/etc/berth-layer-escape-test");
        let tar = Layer::new().symlink("link", "/").file("link/etc/berth-layer-escape-test", b"x").finish();
        fx.unpack(&tar).expect("unpack");
        assert_eq!(fs::read(fx.path("etc/berth-layer-escape-test")).expect("file inside"), b"x");
        assert!(!host_file.exists(), "wrote through the symlink onto the host");
        fx.assert_outside_untouched();
    }
}

#[test]
fn symlink_to_absolute_outside_dir_is_resolved_in_root() {
    let fx = Fixture::new();
    let outside = fx.outside();
    let tar =
        Layer::new().symlink("link", outside.to_str().expect("utf8 tempdir")).file("link/target", b"pwned").finish();
    // The symlink points at a path that does not exist inside dest: an error or a file inside are both safe.
    if fx.unpack(&tar).is_ok() {
        assert_eq!(
            fs::read(fx.dest.join(outside.strip_prefix("/").expect("absolute")).join("target")).expect("inside"),
            b"pwned"
        );
    }
    fx.assert_outside_untouched();
}

#[test]
fn relative_symlink_upwards_is_clamped() {
    for fx in Fixture::each() {
        let tar = Layer::new()
            .symlink("link", "../..")
            .file("link/decoy", b"pwned")
            .file("link/outside/target", b"pwned")
            .finish();
        fx.unpack(&tar).expect("unpack");
        assert_eq!(fs::read(fx.path("decoy")).expect("clamped to root"), b"pwned");
        assert_eq!(fs::read(fx.path("outside/target")).expect("clamped to root"), b"pwned");
        fx.assert_outside_untouched();
    }
}

#[test]
fn hardlink_through_symlink_to_outside_never_links_outside() {
    let fx = Fixture::new();
    let tar = Layer::new()
        .symlink("link", fx.outside().to_str().expect("utf8 tempdir"))
        .hardlink("h", "link/target")
        .finish();
    let report = fx.unpack(&tar).expect("unpack");
    // Resolved inside the root the target does not exist, so the link waits for lower layers.
    assert_eq!(report.deferred_links, vec![DeferredLink { path: "h".into(), target: "link/target".into() }]);
    assert!(!fx.path("h").exists());
    let err = link_from_lowers(&fx.dest, &[], &report.deferred_links).expect_err("no lower has it");
    assert!(matches!(err, LayerError::LinkTargetMissing { .. }), "{err}");
    fx.assert_outside_untouched();
}

/// Found by the property test: a hardlink that replaces the very symlink its target path goes through is made
/// to the target as it resolved before the slot was cleared (an open directory stays usable), by both stores.
#[test]
fn hardlink_replacing_the_symlink_its_target_goes_through() {
    for fx in Fixture::each() {
        let tar = Layer::new().symlink("b", "/").symlink("c", "a").hardlink("b", "b/c").finish();
        let report = fx.unpack(&tar).expect("unpack");
        assert!(report.deferred_links.is_empty(), "{:?}", report.deferred_links);
        assert_eq!(fs::read_link(fx.path("b")).expect("b is the link's copy of c"), Path::new("a"));
        fx.assert_outside_untouched();
    }
}

#[test]
fn hardlink_with_dotdot_target_stays_inside() {
    for fx in Fixture::each() {
        let tar = Layer::new().hardlink("h", "../../outside/target").finish();
        let report = fx.unpack(&tar).expect("unpack");
        assert_eq!(report.deferred_links, vec![DeferredLink { path: "h".into(), target: "outside/target".into() }]);
        fx.assert_outside_untouched();
    }
}

#[test]
fn symlink_named_dot_or_slash_is_rejected() {
    for name in [".", "./", "/"] {
        let fx = Fixture::new();
        let tar =
            Layer::new().symlink(name, fx.outside().to_str().expect("utf8 tempdir")).file("target", b"pwned").finish();
        let err = fx.unpack(&tar).expect_err("symlink over the root");
        assert!(matches!(err, LayerError::Escape { .. }), "{name}: {err}");
        fx.assert_outside_untouched();
    }
}

#[test]
fn file_and_directory_replace_each_other() {
    for fx in Fixture::each() {
        let tar = Layer::new()
            .file("a", b"file")
            .dir("a")
            .file("a/inner", b"inner")
            .dir("d")
            .file("d/child", b"child")
            .file("d", b"now a file")
            .symlink("s", "d")
            .file("s", b"replaced symlink")
            .finish();
        fx.unpack(&tar).expect("unpack");
        assert!(fx.path("a").is_dir());
        assert_eq!(fs::read(fx.path("a/inner")).expect("inner"), b"inner");
        assert_eq!(fs::read(fx.path("d")).expect("d"), b"now a file");
        assert!(fs::symlink_metadata(fx.path("s")).expect("s").is_file());
        fx.assert_outside_untouched();
    }
}

#[test]
fn gzip_bomb_is_capped() {
    let fx = Fixture::new();
    let zeros = vec![0u8; 8 << 20];
    let tar = Layer::new().file("bomb", &zeros).finish();
    let compressed = gzip(&tar);
    assert!(compressed.len() < 100_000);
    let opts = UnpackOptions { max_bytes: 1 << 20, preserve_owners: false };
    let err = unpack(&compressed[..], Compression::Gzip, &fx.dest, &opts).expect_err("over the cap");
    assert!(matches!(err, LayerError::TooLarge { limit } if limit == 1 << 20), "{err}");
    fx.assert_outside_untouched();
}

#[test]
fn zstd_and_gzip_layers_unpack_with_diff_id_of_the_tar() {
    let tar = Layer::new().dir("etc").file("etc/hostname", b"berth\n").finish();
    let zstd = zstd::encode_all(&tar[..], 3).expect("zstd");
    for (compression, data) in
        [(Compression::Zstd, zstd), (Compression::Gzip, gzip(&tar)), (Compression::None, tar.clone())]
    {
        let fx = Fixture::new();
        let report = unpack(&data[..], compression, &fx.dest, &opts()).expect("unpack");
        assert_eq!(fs::read(fx.path("etc/hostname")).expect("hostname"), b"berth\n");
        assert_eq!(report.diff_id, sha256(&tar), "{compression:?}");
        assert_eq!(report.tar_bytes, tar.len() as u64);
        assert_eq!(report.size, 6);
        fx.assert_outside_untouched();
    }
}

#[test]
fn diff_id_covers_bytes_after_the_end_marker_and_source_is_drained() {
    let fx = Fixture::new();
    let mut tar = Layer::new().file("f", b"data").finish();
    tar.extend_from_slice(&[0u8; 4096]);
    let compressed = gzip(&tar);
    struct Counting<'a>(&'a [u8], usize);
    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n;
            Ok(n)
        }
    }
    let mut source = Counting(&compressed, 0);
    let report = unpack(&mut source, Compression::Gzip, &fx.dest, &opts()).expect("unpack");
    assert_eq!(report.diff_id, sha256(&tar));
    assert_eq!(report.tar_bytes, tar.len() as u64);
    assert_eq!(source.1, compressed.len(), "source not read to EOF");
}

#[test]
fn corrupt_and_failing_streams_are_told_apart() {
    let fx = Fixture::new();
    let err = unpack(&b"not gzip at all"[..], Compression::Gzip, &fx.dest, &opts()).expect_err("bad gzip");
    assert!(matches!(err, LayerError::Corrupt { .. }), "{err}");

    let mut tar = Layer::new().file("f", b"data").finish();
    tar[0] ^= 0xff; // breaks the header checksum
    let err = unpack(&tar[..], Compression::None, &fx.dest, &opts()).expect_err("bad tar");
    assert!(matches!(err, LayerError::Corrupt { .. }), "{err}");

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "network went away"))
        }
    }
    let err = unpack(Failing, Compression::Zstd, &fx.dest, &opts()).expect_err("source fails");
    assert!(matches!(err, LayerError::Read { .. }), "{err}");
}

#[test]
fn oversized_pax_header_is_rejected() {
    for fx in Fixture::each() {
        let huge = vec![b'a'; (MAX_HEADER_BYTES + 1024) as usize];
        let tar = Layer::new().pax(&[("comment", &huge)]).file("f", b"x").finish();
        let err = fx.unpack(&tar).expect_err("huge pax");
        assert!(matches!(err, LayerError::HeaderTooLarge { .. }), "{err}");
    }
}

#[test]
fn xattrs_and_capabilities_are_applied_after_chown() {
    if !require_root("xattrs_and_capabilities_are_applied_after_chown") {
        return;
    }
    for fx in Fixture::each() {
        // VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE (bit 10) permitted and effective.
        let mut cap = Vec::new();
        for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
            cap.extend_from_slice(&word.to_le_bytes());
        }
        let mut header = Layer::header(EntryType::Regular, "bin/ping", "", 3, 0o755);
        header.set_uid(1000);
        header.set_gid(1000);
        let tar = Layer::new()
            .pax(&[
                ("SCHILY.xattr.security.capability", &cap),
                ("SCHILY.xattr.user.berth", b"yes"),
                ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ])
            .append(header, b"elf")
            .finish();
        fx.unpack(&tar).expect("unpack");
        let ping = fx.path("bin/ping");
        assert_eq!(xattr(&ping, "security.capability"), Some(cap));
        assert_eq!(xattr(&ping, "user.berth"), Some(b"yes".to_vec()));
        assert_eq!(xattr(&ping, "trusted.overlay.opaque"), None, "overlay xattrs from the archive must be dropped");
        let meta = fs::metadata(&ping).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    }
}

#[test]
fn setuid_survives_chown_and_owners_apply() {
    if !require_root("setuid_survives_chown_and_owners_apply") {
        return;
    }
    for fx in Fixture::each() {
        let mut header = Layer::header(EntryType::Regular, "usr/bin/su", "", 2, 0o4755);
        header.set_uid(1000);
        header.set_gid(2000);
        let mut dir = Layer::header(EntryType::Directory, "tmp", "", 0, 0o1777);
        dir.set_uid(3);
        let tar = Layer::new().append(header, b"su").append(dir, b"").finish();
        fx.unpack(&tar).expect("unpack");
        let su = fs::metadata(fx.path("usr/bin/su")).expect("stat su");
        assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
        assert_eq!((su.uid(), su.gid()), (1000, 2000));
        let tmp = fs::metadata(fx.path("tmp")).expect("stat tmp");
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
        assert_eq!(tmp.uid(), 3);
    }
}

#[test]
fn symlink_metadata_lands_on_the_link_not_its_target() {
    if !require_root("symlink_metadata_lands_on_the_link_not_its_target") {
        return;
    }
    for fx in Fixture::each() {
        let mut link = Layer::header(EntryType::Symlink, "link", "file", 0, 0o777);
        link.set_uid(1000);
        link.set_gid(1001);
        link.set_mtime(1_000_000);
        let tar =
            Layer::new().file("file", b"f").pax(&[("SCHILY.xattr.trusted.berth", b"link")]).append(link, b"").finish();
        fx.unpack(&tar).expect("unpack");
        let meta = fs::symlink_metadata(fx.path("link")).expect("lstat link");
        assert!(meta.file_type().is_symlink());
        assert_eq!((meta.uid(), meta.gid(), meta.mtime()), (1000, 1001, 1_000_000));
        assert_eq!(xattr(&fx.path("link"), "trusted.berth"), Some(b"link".to_vec()));
        let file = fs::symlink_metadata(fx.path("file")).expect("lstat file");
        assert_eq!((file.uid(), file.mtime()), (0, 1_600_000_000));
        assert_eq!(xattr(&fx.path("file"), "trusted.berth"), None);
    }
}

#[test]
fn devices_and_fifos_are_created() {
    if !require_root("devices_and_fifos_are_created") {
        return;
    }
    for fx in Fixture::each() {
        let mut null = Layer::header(EntryType::Char, "dev/null", "", 0, 0o666);
        null.set_device_major(1).expect("major");
        null.set_device_minor(3).expect("minor");
        let fifo = Layer::header(EntryType::Fifo, "run/fifo", "", 0, 0o640);
        let tar = Layer::new().append(null, b"").append(fifo, b"").finish();
        fx.unpack(&tar).expect("unpack");
        let null = fs::symlink_metadata(fx.path("dev/null")).expect("stat null");
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
        assert_eq!(null.permissions().mode() & 0o7777, 0o666);
        let fifo = fs::symlink_metadata(fx.path("run/fifo")).expect("stat fifo");
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.permissions().mode() & 0o7777, 0o640);
    }
}

#[test]
fn whiteouts_become_overlay_devices() {
    if !require_root("whiteouts_become_overlay_devices") {
        return;
    }
    for fx in Fixture::each() {
        let tar = Layer::new()
            .file("etc/.wh.passwd", b"")
            .file(".wh.gone", b"")
            .file("keep", b"k")
            .file("keep/../.wh.keep", b"") // same-layer entry: the whiteout only hides lower layers
            .file(".wh..wh.plnk/12.34", b"aufs")
            .finish();
        fx.unpack(&tar).expect("unpack");
        assert!(is_whiteout(&fx.path("etc/passwd")));
        assert!(is_whiteout(&fx.path("gone")));
        assert_eq!(fs::read(fx.path("keep")).expect("keep"), b"k");
        let names = names_under(&fx.path(""));
        assert!(names.iter().all(|n| !n.starts_with(".wh.")), "{names:?}");
        fx.assert_outside_untouched();
    }
}

#[test]
fn opaque_marker_after_siblings_keeps_them() {
    if !require_root("opaque_marker_after_siblings_keeps_them") {
        return;
    }
    for fx in Fixture::each() {
        let tar = Layer::new()
            .dir("d")
            .file("d/a", b"a")
            .file("d/.wh..wh..opq", b"")
            .file("d/b", b"b")
            .file("e/.wh..wh..opq", b"")
            .finish();
        fx.unpack(&tar).expect("unpack");
        assert_eq!(xattr(&fx.path("d"), "trusted.overlay.opaque"), Some(b"y".to_vec()));
        assert_eq!(xattr(&fx.path("e"), "trusted.overlay.opaque"), Some(b"y".to_vec()));
        assert_eq!(fs::read(fx.path("d/a")).expect("a"), b"a");
        assert_eq!(fs::read(fx.path("d/b")).expect("b"), b"b");
        assert!(names_under(&fx.path("")).iter().all(|n| !n.starts_with(".wh.")));
    }
}

#[test]
fn directory_replacing_a_whiteout_is_opaque_in_either_order() {
    if !require_root("directory_replacing_a_whiteout_is_opaque_in_either_order") {
        return;
    }
    for fx in Fixture::each() {
        let tar = Layer::new().file(".wh.x", b"").dir("x").file("x/new", b"n").dir("y").file(".wh.y", b"").finish();
        fx.unpack(&tar).expect("unpack");
        for dir in ["x", "y"] {
            assert!(fx.path(dir).is_dir());
            assert_eq!(xattr(&fx.path(dir), "trusted.overlay.opaque"), Some(b"y".to_vec()), "{dir}");
        }
        assert_eq!(fs::read(fx.path("x/new")).expect("new"), b"n");
    }
}

#[test]
fn hardlink_within_layer_shares_inode() {
    for fx in Fixture::each() {
        let tar = Layer::new()
            .file("bin/busybox", b"bb")
            .hardlink("bin/sh", "bin/busybox")
            .hardlink("sh2", "./bin/sh")
            .finish();
        let report = fx.unpack(&tar).expect("unpack");
        assert!(report.deferred_links.is_empty());
        let ino = |p| fs::metadata(fx.path(p)).expect("stat").ino();
        assert_eq!(ino("bin/busybox"), ino("bin/sh"));
        assert_eq!(ino("bin/busybox"), ino("sh2"));
        assert_eq!(report.size, 2, "hardlinks add no size");
    }
}

#[test]
fn directory_mtimes_are_set_after_children() {
    for fx in Fixture::each() {
        let mut dir = Layer::header(EntryType::Directory, "d", "", 0, 0o750);
        dir.set_mtime(1_000_000);
        let mut root = Layer::header(EntryType::Directory, "./", "", 0, 0o711);
        root.set_mtime(2_000_000);
        let tar = Layer::new()
            .append(root, b"")
            .append(dir, b"")
            .file("d/child", b"c")
            .dir("d/sub")
            .file("top", b"t")
            .finish();
        fx.unpack(&tar).expect("unpack");
        let d = fs::metadata(fx.path("d")).expect("stat d");
        assert_eq!(d.mtime(), 1_000_000);
        assert_eq!(d.permissions().mode() & 0o7777, 0o750);
        let root = fs::metadata(fx.path("")).expect("stat root");
        assert_eq!(root.mtime(), 2_000_000);
        assert_eq!(root.permissions().mode() & 0o7777, 0o711);
        assert_eq!(fs::metadata(fx.path("d/child")).expect("child").mtime(), 1_600_000_000);
    }
}

#[test]
fn pax_mtime_with_nanoseconds() {
    for fx in Fixture::each() {
        let tar = Layer::new().pax(&[("mtime", b"1700000000.5")]).file("f", b"x").finish();
        fx.unpack(&tar).expect("unpack");
        let meta = fs::metadata(fx.path("f")).expect("stat");
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_700_000_000, 500_000_000));
    }
}

/// Unpacks `tar` into a fresh directory under `base` and returns it.
fn layer_dir(base: &Path, name: &str, tar: &[u8]) -> (PathBuf, UnpackReport) {
    let dir = base.join(name);
    fs::create_dir(&dir).expect("create layer dir");
    let report = unpack(tar, Compression::None, &dir, &opts()).expect("unpack layer");
    (dir, report)
}

#[test]
fn deferred_links_resolve_through_lowers() {
    if !require_root("deferred_links_resolve_through_lowers") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, _) = layer_dir(tmp.path(), "lower", &Layer::new().file("bin/tool", b"tool").finish());
    let (middle, _) = layer_dir(tmp.path(), "middle", &Layer::new().file("etc/x", b"x").finish());
    let mut usr = Layer::header(EntryType::Directory, "usr", "", 0, 0o755);
    usr.set_mtime(1_234_567);
    let upper_tar = Layer::new().append(usr, b"").hardlink("usr/tool", "bin/tool").finish();
    let (upper, report) = layer_dir(tmp.path(), "upper", &upper_tar);
    assert_eq!(report.deferred_links, vec![DeferredLink { path: "usr/tool".into(), target: "bin/tool".into() }]);

    link_from_lowers(&upper, &[middle.clone(), lower.clone()], &report.deferred_links).expect("link");
    let ino = |p: &Path| fs::metadata(p).expect("stat").ino();
    assert_eq!(ino(&upper.join("usr/tool")), ino(&lower.join("bin/tool")));
    assert_eq!(fs::metadata(upper.join("usr")).expect("usr").mtime(), 1_234_567, "parent mtime kept");

    // A whiteout in a higher lower deletes the target.
    let (hiding, _) = layer_dir(tmp.path(), "hiding", &Layer::new().file("bin/.wh.tool", b"").finish());
    let (upper2, report2) = layer_dir(tmp.path(), "upper2", &upper_tar);
    let err = link_from_lowers(&upper2, &[hiding.clone(), lower.clone()], &report2.deferred_links).expect_err("hidden");
    match &err {
        LayerError::LinkTargetHidden { path, layer, whiteout, .. } => {
            assert_eq!(path, Path::new("usr/tool"));
            assert_eq!(layer, &hiding);
            assert_eq!(whiteout, Path::new("bin/tool"));
        }
        other => panic!("expected LinkTargetHidden, got {other}"),
    }
    assert!(err.to_string().contains("usr/tool"), "{err}");

    // An opaque directory in a higher lower hides everything below it.
    let (opaque, _) = layer_dir(tmp.path(), "opaque", &Layer::new().file("bin/.wh..wh..opq", b"").finish());
    let (upper3, report3) = layer_dir(tmp.path(), "upper3", &upper_tar);
    let err = link_from_lowers(&upper3, &[opaque, lower], &report3.deferred_links).expect_err("opaque");
    assert!(matches!(err, LayerError::LinkTargetMissing { .. }), "{err}");
}

#[test]
fn deferred_link_is_copied_across_filesystems() {
    if !require_root("deferred_link_is_copied_across_filesystems") {
        return;
    }
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("SKIPPED deferred_link_is_copied_across_filesystems: no /dev/shm");
        return;
    }
    let other_fs = tempfile::tempdir_in(shm).expect("tempdir in /dev/shm");
    let tmp = tempfile::tempdir().expect("tempdir");
    if fs::metadata(other_fs.path()).expect("stat").dev() == fs::metadata(tmp.path()).expect("stat").dev() {
        eprintln!("SKIPPED deferred_link_is_copied_across_filesystems: /dev/shm is on the same filesystem");
        return;
    }
    let mut tool = Layer::header(EntryType::Regular, "bin/tool", "", 4, 0o4750);
    tool.set_uid(7);
    let lower_tar = Layer::new().pax(&[("SCHILY.xattr.user.kind", b"tool")]).append(tool, b"tool").finish();
    let (lower, _) = layer_dir(other_fs.path(), "lower", &lower_tar);
    let (upper, report) = layer_dir(tmp.path(), "upper", &Layer::new().hardlink("usr/tool", "bin/tool").finish());
    link_from_lowers(&upper, std::slice::from_ref(&lower), &report.deferred_links).expect("copy");
    let copy = fs::metadata(upper.join("usr/tool")).expect("stat copy");
    let orig = fs::metadata(lower.join("bin/tool")).expect("stat orig");
    assert_ne!(copy.ino(), orig.ino());
    assert_eq!(fs::read(upper.join("usr/tool")).expect("read copy"), b"tool");
    assert_eq!(copy.permissions().mode() & 0o7777, 0o4750);
    assert_eq!(copy.uid(), 7);
    assert_eq!(copy.mtime(), orig.mtime());
    assert_eq!(xattr(&upper.join("usr/tool"), "user.kind"), Some(b"tool".to_vec()));
}

#[test]
fn deferred_links_chain_and_yield_to_later_entries() {
    for fx in Fixture::each() {
        let tar = Layer::new()
            .hardlink("a", "lib/libc.so")
            .hardlink("b", "a")
            .hardlink("c", "lib/libm.so")
            .file("c", b"replaced in the same layer")
            .finish();
        let report = fx.unpack(&tar).expect("unpack");
        assert_eq!(
            report.deferred_links,
            vec![
                DeferredLink { path: "a".into(), target: "lib/libc.so".into() },
                DeferredLink { path: "b".into(), target: "lib/libc.so".into() },
            ]
        );
        assert_eq!(fs::read(fx.path("c")).expect("c"), b"replaced in the same layer");
    }
}

#[test]
fn overlong_paths_and_unknown_entry_types_are_rejected() {
    let fx = Fixture::new();
    let long = "d/".repeat(MAX_PATH_BYTES / 2 + 1);
    let tar = Layer::new().pax(&[("path", long.as_bytes())]).file("short", b"x").finish();
    let err = fx.unpack(&tar).expect_err("long path");
    assert!(matches!(err, LayerError::PathTooLong { .. }), "{err}");

    let fx = Fixture::new();
    let tar = Layer::new().append(Layer::header(EntryType::new(b'V'), "volume", "", 0, 0o644), b"").finish();
    let err = fx.unpack(&tar).expect_err("volume header");
    assert!(matches!(&err, LayerError::UnsupportedEntry { path, .. } if path == Path::new("volume")), "{err}");
    fx.assert_outside_untouched();
}

#[test]
fn media_types_map_to_compression() {
    let cases = [
        ("application/vnd.oci.image.layer.v1.tar", Some(Compression::None)),
        ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Compression::Gzip)),
        ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Compression::Zstd)),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", Some(Compression::Gzip)),
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Some(Compression::Gzip)),
        ("application/vnd.oci.image.config.v1+json", None),
    ];
    for (media_type, expected) in cases {
        assert_eq!(Compression::from_media_type(media_type), expected, "{media_type}");
    }
}

/// A directory entry with an owner, mode and mtime of its own.
fn owned_dir(path: &str, mode: u32, uid: u64, mtime: u64) -> Header {
    let mut header = Layer::header(EntryType::Directory, path, "", 0, mode);
    header.set_uid(uid);
    header.set_gid(uid);
    header.set_mtime(mtime);
    header
}

/// Mode bits, owner and mtime of `path`, without following a symlink.
fn attrs(path: &Path) -> (u32, u32, u32, i64) {
    let meta = fs::symlink_metadata(path).expect("lstat");
    (meta.permissions().mode() & 0o7777, meta.uid(), meta.gid(), meta.mtime())
}

#[test]
fn implicit_dirs_inherit_from_the_lower_that_shows_them() {
    if !require_root("implicit_dirs_inherit_from_the_lower_that_shows_them") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lower_tar = Layer::new()
        .append(owned_dir("home", 0o711, 3, 1_000), b"")
        .pax(&[("SCHILY.xattr.user.kind", b"home")])
        .append(owned_dir("home/user", 0o750, 1000, 1_234_567), b"")
        .file("home/user/.wh..wh..opq", b"")
        .append(owned_dir("etc/deep", 0o700, 7, 2_000), b"")
        .file("bin/tool", b"tool")
        .finish();
    let (lower, _) = layer_dir(tmp.path(), "lower", &lower_tar);
    let (middle, report) = layer_dir(tmp.path(), "middle", &Layer::new().file("home/other", b"x").finish());
    inherit_from_lowers(&middle, std::slice::from_ref(&lower), &report.implicit_dirs).expect("inherit middle");
    let upper_tar =
        Layer::new().file("home/user/.config/x", b"x").append(owned_dir("etc", 0o755, 0, 1_111), b"").finish();
    let (upper, report) = layer_dir(tmp.path(), "upper", &upper_tar);
    let expected: Vec<PathBuf> = ["home", "home/user", "home/user/.config"].iter().map(PathBuf::from).collect();
    assert_eq!(report.implicit_dirs, expected);

    let lowers = [middle, lower];
    // Unpack makes a hardlink's parent before deferring it; link_from_lowers makes any that is gone since.
    let link = DeferredLink { path: "etc/deep/tool".into(), target: "bin/tool".into() };
    let made = link_from_lowers(&upper, &lowers, &[link]).expect("link");
    assert_eq!(made, vec![PathBuf::from("etc/deep")]);
    let dirs: Vec<PathBuf> = report.implicit_dirs.iter().chain(&made).cloned().collect();
    inherit_from_lowers(&upper, &lowers, &dirs).expect("inherit");

    assert_eq!(attrs(&upper.join("home")), (0o711, 3, 3, 1_000));
    let user = upper.join("home/user");
    assert_eq!(attrs(&user), (0o750, 1000, 1000, 1_234_567));
    assert_eq!(xattr(&user, "user.kind"), Some(b"home".to_vec()));
    assert_eq!(xattr(&user, "trusted.overlay.opaque"), None, "the lower's opaque mark is its own, not inherited");
    let config = attrs(&upper.join("home/user/.config"));
    assert_eq!((config.0, config.1, config.2), (0o755, 0, 0), "no lower has it: defaults");
    assert_eq!(attrs(&upper.join("etc/deep")), (0o700, 7, 7, 2_000), "a link's parent made by link_from_lowers");
    assert_eq!(attrs(&upper.join("etc")).3, 1_111, "making etc/deep left etc's mtime alone");
}

#[test]
fn directory_entry_after_its_children_keeps_its_own_metadata() {
    if !require_root("directory_entry_after_its_children_keeps_its_own_metadata") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lower_tar = Layer::new().append(owned_dir("home/user", 0o750, 1000, 1_234_567), b"").finish();
    let (lower, _) = layer_dir(tmp.path(), "lower", &lower_tar);
    let upper_tar = Layer::new()
        .file("home/user/notes", b"n")
        .append(owned_dir("home/user", 0o700, 5, 4_000), b"")
        .file("gone/sub/f", b"f")
        .file("gone", b"now a file")
        .finish();
    let (upper, report) = layer_dir(tmp.path(), "upper", &upper_tar);
    assert_eq!(report.implicit_dirs, vec![PathBuf::from("home")], "entries drop dirs from the implicit list");
    inherit_from_lowers(&upper, &[lower], &report.implicit_dirs).expect("inherit");
    assert_eq!(attrs(&upper.join("home/user")), (0o700, 5, 5, 4_000));
}

#[test]
fn implicit_dirs_hidden_from_the_lowers_keep_defaults() {
    if !require_root("implicit_dirs_hidden_from_the_lowers_keep_defaults") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let lower_tar = Layer::new()
        .append(owned_dir("home", 0o711, 3, 1_000), b"")
        .append(owned_dir("home/user", 0o750, 1000, 1_234_567), b"")
        .finish();
    let (lower, _) = layer_dir(tmp.path(), "lower", &lower_tar);
    let upper_tar = Layer::new().file("home/user/x", b"x").finish();
    let defaults = |upper: &Path| {
        let user = attrs(&upper.join("home/user"));
        (user.0, user.1, user.2)
    };

    // A whiteout in a higher lower deletes it.
    let (whiteout, hiding) = layer_dir(tmp.path(), "whiteout", &Layer::new().file("home/.wh.user", b"").finish());
    inherit_from_lowers(&whiteout, std::slice::from_ref(&lower), &hiding.implicit_dirs).expect("inherit home");
    let (upper, report) = layer_dir(tmp.path(), "upper", &upper_tar);
    inherit_from_lowers(&upper, &[whiteout, lower.clone()], &report.implicit_dirs).expect("inherit");
    assert_eq!(defaults(&upper), (0o755, 0, 0));
    assert_eq!(attrs(&upper.join("home")).0, 0o711, "home itself still shows through");

    // An opaque directory in a higher lower hides it.
    let (opaque, hiding) = layer_dir(tmp.path(), "opaque", &Layer::new().file("home/.wh..wh..opq", b"").finish());
    inherit_from_lowers(&opaque, std::slice::from_ref(&lower), &hiding.implicit_dirs).expect("inherit home");
    let (upper, report) = layer_dir(tmp.path(), "upper-opaque", &upper_tar);
    inherit_from_lowers(&upper, &[opaque, lower.clone()], &report.implicit_dirs).expect("inherit");
    assert_eq!(defaults(&upper), (0o755, 0, 0));

    // So does an opaque directory of the layer itself.
    let own_tar = Layer::new().file("home/.wh..wh..opq", b"").file("home/user/x", b"x").finish();
    let (upper, report) = layer_dir(tmp.path(), "upper-own", &own_tar);
    inherit_from_lowers(&upper, &[lower], &report.implicit_dirs).expect("inherit");
    assert_eq!(defaults(&upper), (0o755, 0, 0));
    assert_eq!(attrs(&upper.join("home")).0, 0o711);
}

/// A PAX extended header body: `LEN KEY=VALUE\n` records, LEN counting itself.
pub(super) fn pax_records(records: &[(impl AsRef<str>, impl AsRef<[u8]>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (key, value) in records {
        let (key, value) = (key.as_ref(), value.as_ref());
        let body = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    data
}

/// Everything in `tmp` except `dest` (a layer being applied): path, mode, size, link count, content, and the
/// tempdir's own mode and link count, so a test can tell that nothing outside the layer changed.
pub(super) fn state_around(tmp: &Path, dest: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path == skip {
                continue;
            }
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let content = if meta.is_file() { fs::read(&path).expect("read") } else { Vec::new() };
            let desc = format!("{:o} {} {} {:?}", meta.mode(), meta.len(), meta.nlink(), content);
            out.insert(path.clone(), desc);
            if meta.is_dir() {
                walk(&path, skip, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(tmp, dest, &mut out);
    let parent = fs::symlink_metadata(tmp).expect("lstat tempdir");
    out.insert(PathBuf::from("<tempdir>"), format!("{:o} {}", parent.mode(), parent.nlink()));
    out
}

/// Writes `tar` as a layer image at `path` (no lowers) and returns its report.
fn layer_image(path: &Path, tar: &[u8]) -> UnpackReport {
    let (report, pending) = erofs::unpack_image(tar, Compression::None, path, &opts()).expect("unpack image");
    pending.write().expect("write image");
    report
}

#[test]
fn image_holds_large_files_and_directories_of_many_blocks() {
    if !require_root("image_holds_large_files_and_directories_of_many_blocks") {
        return;
    }
    let big: Vec<u8> = (0..(1 << 20) + 3).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut layer = Layer::new();
    layer.file("big", &big).file("block", &[7; 4096]).file("inline", &[1; 2048]).file("over", &[2; 2049]);
    layer.file("empty", b"").symlink("long-link", &"t/".repeat(45));
    let names: Vec<String> = (0..2000).map(|i| format!("{i:05}-{}", "n".repeat(40))).collect();
    for name in &names {
        layer.file(&format!("many/{name}"), name.as_bytes());
    }
    let fx = Fixture { image: true, ..Fixture::new() };
    fx.unpack(&layer.finish()).expect("unpack");
    assert_eq!(fs::read(fx.path("big")).expect("big"), big);
    assert_eq!(fs::read(fx.path("block")).expect("block"), vec![7; 4096]);
    assert_eq!(fs::read(fx.path("inline")).expect("inline"), vec![1; 2048]);
    assert_eq!(fs::read(fx.path("over")).expect("over"), vec![2; 2049]);
    assert_eq!(fs::read(fx.path("empty")).expect("empty"), b"");
    assert_eq!(fs::read_link(fx.path("long-link")).expect("readlink"), Path::new(&"t/".repeat(45)));
    assert_eq!(fs::read_dir(fx.path("many")).expect("read many").count(), names.len());
    // Lookups bisect the directory's blocks: every name must be found, the first and last included.
    for name in &names {
        assert_eq!(fs::read(fx.path(&format!("many/{name}"))).expect("lookup"), name.as_bytes());
    }
    assert!(!fx.path("many/00000-").exists());
}

#[test]
fn image_takes_deferred_links_and_implicit_dirs_from_lower_images() {
    if !require_root("image_takes_deferred_links_and_implicit_dirs_from_lower_images") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut tool = Layer::header(EntryType::Regular, "bin/tool", "", 4, 0o750);
    tool.set_uid(7);
    let lower_tar = Layer::new()
        .append(owned_dir("home/", 0o755, 0, 1_000), b"")
        .append(owned_dir("home/user/", 0o750, 1000, 1_234_567), b"")
        .pax(&[("SCHILY.xattr.user.x", b"1")])
        .append(tool, b"tool")
        .finish();
    let lower = tmp.path().join("lower.erofs");
    layer_image(&lower, &lower_tar);

    let upper_tar = Layer::new()
        .hardlink("usr/tool", "bin/tool")
        .hardlink("usr/tool2", "bin/tool")
        .file("home/user/n", b"n")
        .finish();
    let upper = tmp.path().join("upper.erofs");
    let (report, mut pending) =
        erofs::unpack_image(upper_tar.as_slice(), Compression::None, &upper, &opts()).expect("unpack upper");
    assert_eq!(report.deferred_links.len(), 2);
    let mounted = erofs::MountedLowers::mount(std::slice::from_ref(&lower)).expect("mount lower");
    pending.take_from_lowers(mounted.paths()).expect("take from lowers");
    pending.write().expect("write upper");
    drop(mounted);

    let view = erofs::mount::mount_image(&upper).expect("mount upper");
    let at = |p: &str| erofs::mount::fd_path(&view).join(".").join(p);
    assert_eq!(fs::read(at("usr/tool")).expect("copied tool"), b"tool");
    assert_eq!(attrs(&at("usr/tool")).0 & 0o7777, 0o750);
    assert_eq!(attrs(&at("usr/tool")).1, 7);
    assert_eq!(xattr(&at("usr/tool"), "user.x"), Some(b"1".to_vec()));
    let ino = |p: &str| fs::metadata(at(p)).expect("stat").ino();
    assert_eq!(ino("usr/tool"), ino("usr/tool2"), "links to one lower file stay one file");
    let (mode, uid, _, mtime) = attrs(&at("home/user"));
    assert_eq!((mode & 0o7777, uid, mtime), (0o750, 1000, 1_234_567), "implicit dir inherits the lower's");
}

#[test]
fn names_and_xattrs_a_filesystem_refuses_are_refused_by_both_stores() {
    if !require_root("names_and_xattrs_a_filesystem_refuses_are_refused_by_both_stores") {
        return;
    }
    let long_name = format!("dir/{}", "n".repeat(256));
    let long_xattr = format!("SCHILY.xattr.user.{}", "x".repeat(260));
    let big_value = vec![b'v'; 70_000];
    for fx in Fixture::each() {
        let tar = Layer::new().pax(&[("path", long_name.as_bytes())]).file("short", b"x").finish();
        let err = fx.unpack(&tar).expect_err("name over 255 bytes");
        assert!(err.to_string().contains(&"n".repeat(256)), "the error names the entry: {err}");
    }
    for records in [[(long_xattr.as_str(), &b"v"[..])], [("SCHILY.xattr.user.big", &big_value[..])]] {
        for fx in Fixture::each() {
            let err = fx.unpack(&Layer::new().pax(&records).file("f", b"x").finish()).expect_err("xattr refused");
            assert!(matches!(&err, LayerError::Io { path, .. } if path == Path::new("f")), "{err}");
        }
    }
}
