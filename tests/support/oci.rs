//! OCI images built in memory (tar layers, config, manifest, index) and written as OCI image layouts, so
//! tests know every byte and digest of what a registry serves.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_IN_TOTO: &str = "application/vnd.in-toto+json";

/// The mtime every entry gets unless a test sets another, so layers are reproducible.
pub const EPOCH: u64 = 1_700_000_000;

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// One content-addressed blob with the media type its descriptor announces.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob { media_type: media_type.to_owned(), digest: digest_of(&bytes), bytes }
    }

    /// The OCI descriptor of this blob.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

/// Ownership, mode, mtime and xattrs of one tar entry.
#[derive(Clone, Debug)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Owned by root, mtime [`EPOCH`].
    pub fn mode(mode: u32) -> Meta {
        Meta { mode, uid: 0, gid: 0, mtime: EPOCH, xattrs: Vec::new() }
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Meta {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u64) -> Meta {
        self.mtime = mtime;
        self
    }

    pub fn xattr(mut self, name: &str, value: &[u8]) -> Meta {
        self.xattrs.push((name.to_owned(), value.to_vec()));
        self
    }
}

/// A layer tarball written entry by entry, in the order a test chooses.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder { tar: tar::Builder::new(Vec::new()) }
    }

    pub fn dir(&mut self, path: &str, meta: Meta) -> &mut Self {
        let path = format!("{}/", path.trim_end_matches('/'));
        self.entry(&path, EntryType::Directory, None, &[], &meta)
    }

    pub fn file(&mut self, path: &str, contents: &[u8], meta: Meta) -> &mut Self {
        self.entry(path, EntryType::Regular, None, contents, &meta)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, EntryType::Symlink, Some(target), &[], &Meta::mode(0o777))
    }

    /// A hard link at `path` to the earlier entry `target` (of this layer or a lower one).
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, EntryType::Link, Some(target), &[], &Meta::mode(0o644))
    }

    pub fn fifo(&mut self, path: &str, meta: Meta) -> &mut Self {
        self.entry(path, EntryType::Fifo, None, &[], &meta)
    }

    pub fn char_device(&mut self, path: &str, major: u32, minor: u32, meta: Meta) -> &mut Self {
        let mut header = header_for(EntryType::Char, 0, &meta);
        header.set_device_major(major).expect("GNU headers carry device numbers");
        header.set_device_minor(minor).expect("GNU headers carry device numbers");
        self.pax(path, &meta.xattrs);
        self.tar.append_data(&mut header, path, &[][..]).expect("tar into memory");
        self
    }

    /// The AUFS-style whiteout that deletes `path` from the layers below.
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (parent, name) = split_parent(path);
        let marker = format!("{parent}.wh.{name}");
        self.file(&marker, &[], Meta::mode(0o644))
    }

    /// The marker that hides everything below in directory `dir` (entries of this layer stay).
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        let marker = format!("{}/.wh..wh..opq", dir.trim_end_matches('/'));
        self.file(&marker, &[], Meta::mode(0o644))
    }

    /// An entry whose name and link name go into the header bytes as given, so tests can write what
    /// the tar crate refuses to (`..` components, absolute names, `.`). Names over 100 bytes go into
    /// GNU long-name (`L`) and long-link (`K`) records, as GNU tar writes them.
    pub fn raw(&mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> &mut Self {
        let mut header = header_for(kind, data.len() as u64, &Meta::mode(0o755));
        for (field, kind) in [(name, EntryType::GNULongName), (link, EntryType::GNULongLink)] {
            if field.len() > 100 {
                let mut long = header_for(kind, field.len() as u64 + 1, &Meta::mode(0o644));
                long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                long.set_cksum();
                let mut record = field.to_vec();
                record.push(0);
                self.tar.append(&long, record.as_slice()).expect("tar into memory");
            }
        }
        let old = header.as_old_mut();
        old.name[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        old.linkname[..link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        header.set_cksum();
        self.tar.append(&header, data).expect("tar into memory");
        self
    }

    /// The uncompressed tar stream.
    pub fn into_tar(self) -> Vec<u8> {
        self.tar.into_inner().expect("tar into memory")
    }

    pub fn build(self, compression: Compression) -> Layer {
        Layer::from_tar(&self.into_tar(), compression)
    }

    fn entry(&mut self, path: &str, kind: EntryType, link: Option<&str>, data: &[u8], meta: &Meta) -> &mut Self {
        let mut header = header_for(kind, data.len() as u64, meta);
        self.pax(path, &meta.xattrs);
        match link {
            Some(target) => self.tar.append_link(&mut header, path, target),
            None => self.tar.append_data(&mut header, path, data),
        }
        .expect("tar into memory");
        self
    }

    /// A PAX extended header carrying `SCHILY.xattr.*` records for the entry that follows.
    fn pax(&mut self, path: &str, xattrs: &[(String, Vec<u8>)]) {
        if xattrs.is_empty() {
            return;
        }
        let mut records = Vec::new();
        for (name, value) in xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{name}"), value));
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(records.len() as u64);
        let (_, name) = split_parent(path.trim_end_matches('/'));
        let pax_name: String = format!("PaxHeaders/{name}").chars().take(99).collect();
        header.set_path(pax_name).expect("short PAX header name");
        header.set_cksum();
        self.tar.append(&header, records.as_slice()).expect("tar into memory");
    }
}

fn header_for(kind: EntryType, size: u64, meta: &Meta) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(meta.mode);
    header.set_uid(meta.uid);
    header.set_gid(meta.gid);
    header.set_mtime(meta.mtime);
    header
}

/// One `"<len> <key>=<value>\n"` record, where `<len>` counts the whole record including itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// `("a/b/", "c")` for `"a/b/c"`, `("", "c")` for `"c"`.
fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

/// A compressed layer blob and the digest of its uncompressed tar (the diff id).
#[derive(Clone, Debug)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

impl Layer {
    pub fn from_tar(tar: &[u8], compression: Compression) -> Layer {
        let (media_type, bytes) = match compression {
            Compression::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(tar).expect("gzip into memory");
                (MEDIA_LAYER_GZIP, gz.finish().expect("gzip into memory"))
            }
            Compression::Zstd => (MEDIA_LAYER_ZSTD, zstd::encode_all(tar, 3).expect("zstd into memory")),
        };
        Layer { blob: Blob::new(media_type, bytes), diff_id: digest_of(tar) }
    }
}

/// What an index entry says an image runs on.
#[derive(Clone, Debug)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform { os: os.to_owned(), architecture: architecture.to_owned(), variant: variant.map(str::to_owned) }
    }

    /// linux on the architecture these tests run on, in OCI (GOARCH) spelling.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform::new("linux", architecture, None)
    }

    fn json(&self) -> Value {
        let mut platform = json!({"os": self.os, "architecture": self.architecture});
        if let Some(variant) = &self.variant {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

/// A single-platform image: config, layers and the manifest over them.
#[derive(Clone, Debug)]
pub struct Image {
    pub platform: Platform,
    pub config: Blob,
    pub layers: Vec<Layer>,
    pub manifest: Blob,
}

impl Image {
    /// An image for `platform` whose config runs `cmd` and names `label` (so configs of otherwise equal
    /// images differ).
    pub fn new(platform: Platform, layers: Vec<Layer>, cmd: &[&str], label: &str) -> Image {
        let mut config = platform.json();
        config["created"] = json!("2024-01-02T03:04:05Z");
        config["config"] = json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
            "WorkingDir": "/",
            "Labels": {"berth.test": label},
        });
        config["rootfs"] = json!({"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()});
        config["history"] = json!(layers.iter().map(|_| json!({"created_by": label})).collect::<Vec<_>>());
        Image::from_config(platform, config, layers, MEDIA_CONFIG)
    }

    /// An image whose config JSON the caller wrote.
    pub fn from_config(platform: Platform, config: Value, layers: Vec<Layer>, config_media_type: &str) -> Image {
        let config = Blob::new(config_media_type, serde_json::to_vec(&config).expect("config JSON"));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(MEDIA_MANIFEST, serde_json::to_vec(&manifest).expect("manifest JSON"));
        Image { platform, config, layers, manifest }
    }

    /// Digest of the image's manifest (what `name@sha256:...` pulls).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// The image ID Docker shows: the config digest.
    pub fn id(&self) -> &str {
        &self.config.digest
    }

    /// Hex chain ids of the layers, bottom first: the names of their directories under ROOT/layers.
    pub fn chain_ids(&self) -> Vec<String> {
        let mut chain: Option<String> = None;
        let mut ids = Vec::new();
        for layer in &self.layers {
            let next = match &chain {
                None => layer.diff_id.clone(),
                Some(below) => digest_of(format!("{below} {}", layer.diff_id).as_bytes()),
            };
            ids.push(hex_of(&next).to_owned());
            chain = Some(next);
        }
        ids
    }

    /// Every blob a registry must hold for this image, manifest last.
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut blobs: Vec<&Blob> = self.layers.iter().map(|l| &l.blob).collect();
        blobs.push(&self.config);
        blobs.push(&self.manifest);
        blobs
    }
}

/// A multi-platform image index over images, plus entries that are not runnable images (attestations).
#[derive(Clone, Debug)]
pub struct Index {
    pub images: Vec<Image>,
    pub attestations: Vec<Image>,
    pub manifest: Blob,
}

impl Index {
    /// An index of `images`, with a BuildKit-style attestation manifest (platform unknown/unknown)
    /// for the first image.
    pub fn with_attestation(images: Vec<Image>) -> Index {
        let subject = images.first().expect("an index needs an image").digest().to_owned();
        let statement = Blob::new(MEDIA_IN_TOTO, br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec());
        let unknown = Platform::new("unknown", "unknown", None);
        let config = json!({"architecture": "unknown", "os": "unknown", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [statement.digest]}});
        let layer = Layer { diff_id: statement.digest.clone(), blob: statement };
        let attestation = Image::from_config(unknown, config, vec![layer], MEDIA_CONFIG);
        let mut manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut entry = image.manifest.descriptor();
                entry["platform"] = image.platform.json();
                entry
            })
            .collect();
        let mut entry = attestation.manifest.descriptor();
        entry["platform"] = attestation.platform.json();
        entry["annotations"] = json!({
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": subject,
        });
        manifests.push(entry);
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests});
        let manifest = Blob::new(MEDIA_INDEX, serde_json::to_vec(&index).expect("index JSON"));
        Index { images, attestations: vec![attestation], manifest }
    }

    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    pub fn blobs(&self) -> Vec<&Blob> {
        let mut blobs: Vec<&Blob> = self.images.iter().chain(&self.attestations).flat_map(Image::blobs).collect();
        blobs.push(&self.manifest);
        blobs
    }
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`) holding one tagged
/// manifest or index; what skopeo and umoci read.
pub struct OciLayout {
    dir: tempfile::TempDir,
    pub tag: String,
}

impl OciLayout {
    pub fn of_image(image: &Image, tag: &str) -> OciLayout {
        OciLayout::write(image.blobs(), &image.manifest, tag)
    }

    pub fn of_index(index: &Index, tag: &str) -> OciLayout {
        OciLayout::write(index.blobs(), &index.manifest, tag)
    }

    fn write(blobs: Vec<&Blob>, top: &Blob, tag: &str) -> OciLayout {
        let dir = tempfile::Builder::new().prefix("berth-oci-").tempdir().expect("temp dir for OCI layout");
        let blob_dir = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blob_dir).expect("create blobs dir");
        for blob in blobs {
            fs::write(blob_dir.join(hex_of(&blob.digest)), &blob.bytes).expect("write blob");
        }
        fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write oci-layout");
        let mut entry = top.descriptor();
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry]});
        fs::write(dir.path().join("index.json"), serde_json::to_vec(&index).expect("index JSON"))
            .expect("write index.json");
        OciLayout { dir, tag: tag.to_owned() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR:TAG`, the form skopeo (`oci:` prefix) and umoci (`--image`) take.
    pub fn image_arg(&self) -> String {
        format!("{}:{}", self.dir.path().display(), self.tag)
    }
}

/// Applets and the busybox binary, read once from the host's busybox-static.
fn busybox_binary() -> (PathBuf, Vec<String>) {
    let path = PathBuf::from("/bin/busybox");
    let out =
        std::process::Command::new(&path).arg("--list").output().expect("run /bin/busybox --list (busybox-static)");
    assert!(out.status.success(), "busybox --list failed: {}", String::from_utf8_lossy(&out.stderr));
    let applets = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_owned)
        .collect();
    (path, applets)
}

/// A runnable busybox root filesystem: /bin/busybox, a symlink per applet, /etc/passwd and group,
/// /tmp, /root.
pub fn busybox_layer() -> Layer {
    let (path, applets) = busybox_binary();
    let binary = fs::read(&path).expect("read /bin/busybox");
    let mut layer = LayerBuilder::new();
    layer.dir("bin", Meta::mode(0o755));
    layer.file("bin/busybox", &binary, Meta::mode(0o755));
    for applet in &applets {
        layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    layer.dir("etc", Meta::mode(0o755));
    layer.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        Meta::mode(0o644),
    );
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n", Meta::mode(0o644));
    layer.dir("tmp", Meta::mode(0o1777));
    layer.dir("root", Meta::mode(0o700));
    layer.build(Compression::Gzip)
}

/// The busybox image for the host platform.
pub fn busybox_image() -> Image {
    Image::new(Platform::host(), vec![busybox_layer()], &["sh"], "busybox")
}

/// busybox plus a small top layer, so two such images share their base layer.
pub fn busybox_with(label: &str) -> Image {
    let mut top = LayerBuilder::new();
    top.dir("srv", Meta::mode(0o755));
    top.file(&format!("srv/{label}"), label.as_bytes(), Meta::mode(0o644));
    Image::new(Platform::host(), vec![busybox_layer(), top.build(Compression::Gzip)], &["sh"], label)
}

/// `security.capability` v2 granting CAP_NET_BIND_SERVICE (bit 10), effective.
pub fn capability_xattr() -> Vec<u8> {
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    cap
}

/// Four layers that exercise what layer application must get right: whiteouts of a file and a
/// directory, an opaque directory refilled in the same layer, hard links within one layer and across
/// layers, relative and absolute symlinks, user and capability xattrs, a fifo, a char device, setuid,
/// setgid and sticky modes, uid 1000 ownership and explicit mtimes.
pub fn multilayer_image() -> Image {
    let mut base = LayerBuilder::new();
    base.dir("bin", Meta::mode(0o755))
        .file("bin/tool", b"#!/bin/sh\necho tool\n", Meta::mode(0o755))
        .symlink("bin/sh", "tool")
        .dir("etc", Meta::mode(0o755))
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", Meta::mode(0o644))
        .symlink("etc/abs-link", "/etc/passwd")
        .dir("tmp", Meta::mode(0o1777))
        .dir("home", Meta::mode(0o755))
        .dir("home/user", Meta::mode(0o750).owner(1000, 1000))
        .file("home/user/notes", b"uid 1000 owns me\n", Meta::mode(0o640).owner(1000, 1000).mtime(1_234_567_890))
        .dir("data", Meta::mode(0o755))
        .dir("data/old", Meta::mode(0o755))
        .file("data/old/a", b"hidden by opaque\n", Meta::mode(0o644))
        .dir("data/old/sub", Meta::mode(0o755))
        .file("data/old/sub/b", b"hidden too\n", Meta::mode(0o644))
        .file("gone", b"whited out\n", Meta::mode(0o644))
        .dir("gone-dir", Meta::mode(0o755))
        .file("gone-dir/child", b"whited out with its dir\n", Meta::mode(0o644))
        .file("shared", b"linked across layers\n", Meta::mode(0o644))
        .hardlink("shared-link", "shared")
        .dir("l1", Meta::mode(0o755))
        .file("l1/x", b"hard linked in layer one\n", Meta::mode(0o600))
        .hardlink("l1/y", "l1/x")
        .dir("usr", Meta::mode(0o755))
        .dir("usr/bin", Meta::mode(0o755))
        .file("usr/bin/setuid-tool", b"setuid\n", Meta::mode(0o4755))
        .file("usr/bin/setgid-tool", b"setgid\n", Meta::mode(0o2755).owner(0, 1000))
        .file(
            "usr/bin/cap-tool",
            b"has a file capability\n",
            Meta::mode(0o755).xattr("security.capability", &capability_xattr()),
        )
        .file(
            "xattr-file",
            b"user xattrs\n",
            Meta::mode(0o644).xattr("user.comment", b"hello").xattr("user.binary", &[0, 1, 2, 255]),
        )
        .fifo("fifo", Meta::mode(0o620))
        .dir("dev", Meta::mode(0o755))
        .char_device("dev/mynull", 1, 3, Meta::mode(0o666));

    // Upper layers carry entries for the parents of what they change, as `docker build` writes them;
    // `implicit_parents_image` covers layers that leave them out.
    let mut second = LayerBuilder::new();
    second
        .whiteout("gone")
        .whiteout("gone-dir")
        .dir("data", Meta::mode(0o755))
        .dir("data/old", Meta::mode(0o750))
        .opaque("data/old")
        .file("data/old/new", b"after the opaque marker\n", Meta::mode(0o644))
        .hardlink("cross-link", "shared")
        .dir("etc", Meta::mode(0o755))
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/ash\n",
            Meta::mode(0o644),
        )
        .dir("home", Meta::mode(0o755))
        .dir("home/user", Meta::mode(0o750).owner(1000, 1000))
        .dir("home/user/.config", Meta::mode(0o700).owner(1000, 1000));

    let mut third = LayerBuilder::new();
    third
        .dir("gone-dir", Meta::mode(0o711))
        .file("gone-dir/reborn", b"a new dir where a whited out one was\n", Meta::mode(0o644))
        .dir("sticky", Meta::mode(0o1777).owner(1000, 1000))
        .dir("setgid-dir", Meta::mode(0o2775).owner(0, 1000))
        .dir("home", Meta::mode(0o755))
        .dir("home/user", Meta::mode(0o750).owner(1000, 1000))
        .symlink("home/user/passwd-link", "../../etc/passwd")
        .dir("l3", Meta::mode(0o755))
        .file("l3/a", b"three names\n", Meta::mode(0o644).mtime(1_000_000_000))
        .hardlink("l3/b", "l3/a")
        .hardlink("l3/c", "l3/a")
        .dir("data", Meta::mode(0o755))
        .dir("data/mixed", Meta::mode(0o755))
        .file("data/mixed/big", &pattern(300 * 1024), Meta::mode(0o644));

    let mut fourth = LayerBuilder::new();
    fourth
        .whiteout("shared-link")
        .dir("bin", Meta::mode(0o755))
        .file("bin/sh", b"a file where a symlink was\n", Meta::mode(0o755))
        .symlink("dangling", "/nowhere/at/all");

    let layers = vec![
        base.build(Compression::Gzip),
        second.build(Compression::Gzip),
        third.build(Compression::Gzip),
        fourth.build(Compression::Gzip),
    ];
    Image::new(Platform::host(), layers, &["/bin/tool"], "multilayer")
}

/// Two layers where the top one changes files deep in directories of the base without entries for those
/// directories (as non-Docker builders write layers). Stacked, the directories must keep the base's
/// mode, owner and xattrs, as overlayfs copy-up would keep them.
pub fn implicit_parents_image() -> Image {
    let mut base = LayerBuilder::new();
    base.dir("home", Meta::mode(0o755))
        .dir("home/user", Meta::mode(0o750).owner(1000, 1000).xattr("user.note", b"kept"))
        .file("home/user/profile", b"export A=1\n", Meta::mode(0o644).owner(1000, 1000))
        .dir("srv", Meta::mode(0o711).owner(33, 33))
        .dir("srv/www", Meta::mode(0o2750).owner(33, 33))
        .file("srv/www/old.html", b"old\n", Meta::mode(0o640).owner(33, 33));
    let mut top = LayerBuilder::new();
    top.file("home/user/profile", b"export A=2\n", Meta::mode(0o644).owner(1000, 1000))
        .file("srv/www/index.html", b"new\n", Meta::mode(0o640).owner(33, 33))
        .file("opt/fresh/file", b"in directories no layer names\n", Meta::mode(0o644));
    let layers = vec![base.build(Compression::Gzip), top.build(Compression::Gzip)];
    Image::new(Platform::host(), layers, &["/bin/sh"], "implicit-parents")
}

/// Bytes that do not compress to nothing, so blobs have real size.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// An index of busybox for amd64 and a small arm64/v8 image (different config), plus an attestation.
pub fn multiplatform_index() -> Index {
    let amd64 = Image::new(Platform::new("linux", "amd64", None), vec![busybox_layer()], &["sh"], "amd64");
    let mut arm = LayerBuilder::new();
    arm.dir("etc", Meta::mode(0o755)).file("etc/arch", b"arm64\n", Meta::mode(0o644));
    let arm64 =
        Image::new(Platform::new("linux", "arm64", Some("v8")), vec![arm.build(Compression::Gzip)], &["sh"], "arm64");
    Index::with_attestation(vec![amd64, arm64])
}

/// A two-layer image whose top layer is zstd-compressed.
pub fn zstd_image() -> Image {
    let mut top = LayerBuilder::new();
    top.dir("zstd", Meta::mode(0o755)).file("zstd/data", &pattern(64 * 1024), Meta::mode(0o644));
    Image::new(Platform::host(), vec![busybox_layer(), top.build(Compression::Zstd)], &["sh"], "zstd")
}

/// busybox plus `top`, declaring `volumes` as the image's VOLUMEs (what a Dockerfile `VOLUME` records).
pub fn busybox_with_volumes(top: Layer, volumes: &[&str], label: &str) -> Image {
    let base = Image::new(Platform::host(), vec![busybox_layer(), top], &["sh"], label);
    let mut config: Value = serde_json::from_slice(&base.config.bytes).expect("config JSON");
    config["config"]["Volumes"] = volumes.iter().map(|v| (v.to_string(), json!({}))).collect();
    Image::from_config(base.platform, config, base.layers, MEDIA_CONFIG)
}
