//! `load`: docker archives (before and since Docker 25), podman's docker-archive, OCI archives and OCI
//! layout directories, optionally gzip-, zstd-, bzip2- or xz-compressed as a whole, from a file or a pipe.
//!
//! The archive is read once, in whatever order it lists its entries (docker puts `manifest.json` last):
//! small JSON files are kept in memory, every entry that is a (compressed) tar goes through the pull's
//! unpacker into a work dir of its own as it streams past, hashed for its blob digest and diffID, and keeps
//! its tar index. Only once the archive has ended do the manifests say which entries are which layers of
//! which image; then every reference is checked (inside the archive, present, diffIDs and digests as the
//! config and manifest say) before anything is stored, layers are committed bottom up as a pull commits
//! them, and the images are recorded last. Whatever fails leaves no image, tag or layer behind.
//!
//! A layer the archive holds compressed (an OCI archive skopeo or containerd wrote keeps the registry's
//! blobs) is also copied to a file as it passes and kept as the layer's blob, and an OCI manifest is kept
//! as the image's: a push then sends those exact blobs and, when they all go as they are, that manifest,
//! so a pulled image saved and loaded elsewhere is pushed back under its own digest, with nothing
//! compressed again.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ArchiveError;
use crate::layer::erofs::PendingImage;
use crate::layer::{self, Compression, UnpackOptions, UnpackReport};
use crate::reference::Reference;
use crate::registry::Platform;
use crate::store::{LayerBlob, LayerDriver, LayerRecord, LocalImage, TempDir, WORK_IMAGE, chain_ids};
use crate::{Engine, Error};

/// Largest non-layer entry read (configs, manifests, indexes), and most such bytes one archive may hold.
const MAX_JSON: u64 = 64 << 20;
const MAX_JSON_TOTAL: usize = 256 << 20;
const TAR_INDEX: &str = "tar-index";
const KEPT_BLOB: &str = "blob";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// An image a load stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// `sha256:` + the config digest.
    pub image_id: String,
    /// Names pointed at it, in familiar form (`busybox:latest`).
    pub tags: Vec<String>,
}

/// An entry that was a layer tar, unpacked into its work dir.
pub(super) struct Candidate {
    dir: TempDir,
    index: Option<TempDir>,
    pub(super) report: UnpackReport,
    pending: Option<PendingImage>,
    /// sha256 of the entry's bytes as stored in the archive (compressed or not).
    blob_digest: String,
    /// A compressed entry's bytes, copied as they passed (when asked for).
    kept: Option<KeptBlob>,
}

/// A compressed layer entry as the archive held it, in a work dir of its own.
pub(super) struct KeptBlob {
    dir: TempDir,
    size: u64,
    compression: Compression,
}

/// What the archive held, by cleaned path.
#[derive(Default)]
struct Collected {
    json: HashMap<String, Vec<u8>>,
    layers: HashMap<String, Candidate>,
    links: HashMap<String, String>,
}

/// An image of the archive, checked and ready to store.
struct Planned {
    config: Vec<u8>,
    /// Paths of its layers' candidates, bottom first.
    layers: Vec<String>,
    diff_ids: Vec<String>,
    tags: Vec<Reference>,
    /// The layers' media types as the manifest gives them (an OCI manifest; none for docker's).
    media_types: Vec<Option<String>>,
    /// An OCI manifest's bytes and media type.
    manifest: Option<(Vec<u8>, String)>,
}

/// A path inside the archive: cleaned, relative, `None` when it climbs out.
fn inside(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// Whether `head` (the first bytes of an entry) starts a layer: gzip, zstd, or a tar header whose
/// checksum holds (an empty tar is zero blocks).
pub(super) fn layer_compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Compression::Gzip);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Compression::Zstd);
    }
    let block: &[u8; 512] = head.get(..512)?.try_into().ok()?;
    if block.iter().all(|b| *b == 0) {
        return Some(Compression::None);
    }
    let header = tar::Header::from_byte_slice(block);
    let sum: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    (header.cksum().ok() == Some(sum)).then_some(Compression::None)
}

/// Reads `reader` while hashing it, and copying it to `copy` when given.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    copy: Option<io::BufWriter<std::fs::File>>,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(copy) = &mut self.copy {
            io::Write::write_all(copy, &buf[..n])?;
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The tar stream under an optional gzip, zstd, bzip2 or xz layer (docker's `load` takes all four), told
/// by its first bytes.
fn decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let head = input.fill_buf().map_err(|source| ArchiveError::Read { source })?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(input))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(|source| ArchiveError::Read { source })?)
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(input))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input))
    } else {
        Box::new(input)
    })
}

impl Engine {
    /// Docker's `load` from a stream (an archive file or a pipe, compressed or not).
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>, Error> {
        let mut collected = Collected::default();
        let mut archive = tar::Archive::new(decompressed(input)?);
        let read_err = |source| Error::from(ArchiveError::Read { source });
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let Some(path) = inside(&name) else { continue };
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                    let Some(target) = target else { continue };
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        Path::new(&path).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
                    } else {
                        String::new()
                    };
                    if let Some(target) = inside(&format!("{base}/{target}")) {
                        collected.links.insert(path, target);
                    }
                }
                kind if kind.is_file() => self.collect(&mut collected, path, &mut entry)?,
                _ => {}
            }
        }
        self.store_archive(collected)
    }

    /// Docker's `load` of an OCI image layout directory.
    pub fn load_dir(&self, dir: &Path) -> Result<Vec<Loaded>, Error> {
        let mut collected = Collected::default();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let full = dir.join(&rel);
            let io_err = |op| {
                let full = full.clone();
                move |source| Error::from(ArchiveError::Io { op, path: full, source })
            };
            for entry in std::fs::read_dir(&full).map_err(io_err("list"))? {
                let entry = entry.map_err(io_err("list"))?;
                let rel = rel.join(entry.file_name());
                let kind = entry.file_type().map_err(io_err("stat"))?;
                if kind.is_dir() {
                    stack.push(rel);
                } else if kind.is_file() {
                    let path = String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned();
                    let file = std::fs::File::open(entry.path()).map_err(io_err("open"))?;
                    self.collect(&mut collected, path, &mut BufReader::new(file))?;
                }
            }
        }
        self.store_archive(collected)
    }

    /// Keeps one regular entry: JSON in memory, a layer unpacked, anything else passed over.
    fn collect(&self, collected: &mut Collected, path: String, entry: &mut dyn Read) -> Result<(), Error> {
        let mut head = Vec::with_capacity(512);
        entry.take(512).read_to_end(&mut head).map_err(|source| ArchiveError::Read { source })?;
        let json_like = head.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
        if json_like || path.ends_with(".json") || path == "repositories" || path == "oci-layout" {
            let mut data = head;
            entry.take(MAX_JSON).read_to_end(&mut data).map_err(|source| ArchiveError::Read { source })?;
            if data.len() as u64 > MAX_JSON {
                return Err(ArchiveError::Entry { entry: path, reason: format!("larger than {MAX_JSON} bytes") }.into());
            }
            if collected.json.values().map(Vec::len).sum::<usize>() + data.len() > MAX_JSON_TOTAL {
                return Err(ArchiveError::Entry {
                    entry: path,
                    reason: format!("the archive's JSON files pass {MAX_JSON_TOTAL} bytes together"),
                }
                .into());
            }
            collected.json.insert(path, data);
            return Ok(());
        }
        let Some(compression) = layer_compression(&head) else {
            // Old docker archives' VERSION files and the like.
            io::copy(entry, &mut io::sink()).map_err(|source| ArchiveError::Read { source })?;
            return Ok(());
        };
        let candidate = self.unpack_candidate(&path, compression, io::Cursor::new(head).chain(entry), true)?;
        collected.layers.insert(path, candidate);
        Ok(())
    }

    /// Unpacks one layer entry into a work dir; with `keep_blob`, a compressed entry's bytes are kept too.
    pub(super) fn unpack_candidate(
        &self,
        path: &str,
        compression: Compression,
        reader: impl Read,
        keep_blob: bool,
    ) -> Result<Candidate, Error> {
        let store = self.store();
        let dir = store.temp_dir("load")?;
        let index_dir = store.temp_dir("index")?;
        let index = index_dir.path().join(TAR_INDEX);
        let opts = UnpackOptions {
            max_bytes: self.config().max_layer_bytes,
            preserve_owners: rustix::process::geteuid().is_root(),
        };
        let kept_dir = match keep_blob && compression != Compression::None {
            true => Some(store.temp_dir("blob")?),
            false => None,
        };
        let copy = match &kept_dir {
            Some(kept) => {
                let file = kept.path().join(KEPT_BLOB);
                let file = std::fs::File::create(&file).map_err(|source| ArchiveError::Io {
                    op: "create",
                    path: file,
                    source,
                })?;
                Some(io::BufWriter::with_capacity(1 << 20, file))
            }
            None => None,
        };
        let mut hashed = HashingReader { inner: reader, hasher: Sha256::new(), copy, bytes: 0 };
        let layer_err = |source| ArchiveError::Layer { layer: path.to_string(), source };
        let (report, pending, kept) = match store.layer_driver(&self.config().layer_store) {
            LayerDriver::Dir => {
                let (report, kept) = layer::unpack_indexed(&mut hashed, compression, dir.path(), &opts, Some(&index))
                    .map_err(layer_err)?;
                (report, None, kept)
            }
            LayerDriver::Erofs => {
                let image = dir.path().join(WORK_IMAGE);
                let (report, pending, kept) =
                    layer::erofs::unpack_image_indexed(&mut hashed, compression, &image, &opts, Some(&index))
                        .map_err(layer_err)?;
                (report, Some(pending), kept)
            }
        };
        let kept_blob = match (kept_dir, hashed.copy.take()) {
            (Some(dir), Some(copy)) => {
                let file = dir.path().join(KEPT_BLOB);
                copy.into_inner().map_err(io::IntoInnerError::into_error).map_err(|source| ArchiveError::Io {
                    op: "write",
                    path: file,
                    source,
                })?;
                Some(KeptBlob { dir, size: hashed.bytes, compression })
            }
            _ => None,
        };
        let blob_digest = format!("sha256:{}", hex::encode(hashed.hasher.finalize()));
        Ok(Candidate { dir, index: kept.then_some(index_dir), report, pending, blob_digest, kept: kept_blob })
    }

    /// Keeps a loaded layer's compressed entry as its blob (a push sends it as it is), unless the layer
    /// has one already. `media_type` is the manifest's for it, if any. The caller holds the layer lock.
    fn keep_blob(&self, chain_id: &str, kept: KeptBlob, digest: &str, media_type: Option<&str>) -> Result<(), Error> {
        let store = self.store();
        if store.layer_blob(chain_id)?.is_some() {
            return Ok(());
        }
        let media_type = match (media_type, kept.compression) {
            (Some(m), _) => m.to_string(),
            (None, Compression::Zstd) => OCI_LAYER_ZSTD.to_string(),
            (None, _) => crate::local::LAYER_MEDIA_TYPE.to_string(),
        };
        let blob = LayerBlob { digest: digest.to_string(), size: kept.size, media_type };
        store.record_layer_blob(chain_id, &kept.dir.path().join(KEPT_BLOB), &blob)?;
        Ok(())
    }

    /// Finishes an unpacked layer over `lowers` (its parent layers, top-most first: hardlinks into them,
    /// implicit directories' metadata) and commits it with its tar index as `record`. The caller holds
    /// the layer's lock; `committed` gets its chain id once it may be in the store.
    pub(super) fn commit_candidate(
        &self,
        candidate: Candidate,
        record: &LayerRecord,
        lowers: &[PathBuf],
        committed: &mut Vec<String>,
    ) -> Result<(), Error> {
        let store = self.store();
        let layer_err = |source| ArchiveError::Layer { layer: record.diff_id.clone(), source };
        let report = &candidate.report;
        let needs_lowers = !report.deferred_links.is_empty() || !report.implicit_dirs.is_empty();
        match candidate.pending {
            Some(mut pending) => {
                if needs_lowers {
                    let mounted = layer::erofs::MountedLowers::mount(lowers).map_err(layer_err)?;
                    pending.take_from_lowers(mounted.paths()).map_err(layer_err)?;
                }
                pending.write().map_err(layer_err)?;
            }
            None if needs_lowers => {
                let dest = candidate.dir.path();
                let mut dirs = report.implicit_dirs.clone();
                dirs.extend(layer::link_from_lowers(dest, lowers, &report.deferred_links).map_err(layer_err)?);
                layer::inherit_from_lowers(dest, lowers, &dirs).map_err(layer_err)?;
            }
            None => {}
        }
        if let Some(index) = &candidate.index {
            store.commit_layer_index(&record.chain_id, &index.path().join(TAR_INDEX))?;
        }
        committed.push(record.chain_id.clone());
        if candidate.dir.path().join(WORK_IMAGE).is_file() {
            store.commit_layer_image(candidate.dir, record)?;
        } else {
            store.commit_layer(candidate.dir, record)?;
        }
        Ok(())
    }

    /// Checks every image of the archive, then stores their layers and records them.
    fn store_archive(&self, mut collected: Collected) -> Result<Vec<Loaded>, Error> {
        let planned = if collected.json.contains_key("manifest.json") {
            plan_docker(&collected)?
        } else if collected.json.contains_key("index.json") {
            plan_oci(&collected)?
        } else {
            return Err(ArchiveError::Empty.into());
        };
        let store = self.store();
        let _gc = store.gc_shared_lock()?;
        let mut committed: Vec<String> = Vec::new();
        let mut stored_configs: Vec<String> = Vec::new();
        let result = self.commit_planned(&planned, &mut collected, &mut committed, &mut stored_configs);
        if result.is_err() {
            drop(_gc);
            if let Err(e) = store.discard_unused(&committed, &stored_configs) {
                tracing::warn!("cannot remove what a failed load stored: {e}");
            }
        }
        result
    }

    fn commit_planned(
        &self,
        planned: &[Planned],
        collected: &mut Collected,
        committed: &mut Vec<String>,
        stored_configs: &mut Vec<String>,
    ) -> Result<Vec<Loaded>, Error> {
        let store = self.store();
        for image in planned {
            let chains = chain_ids(&image.diff_ids);
            for (i, path) in image.layers.iter().enumerate() {
                let chain = &chains[i];
                let media_type = image.media_types.get(i).cloned().flatten();
                let _lock = store.layer_lock(chain)?;
                if store.layer(chain)?.is_some() && store.layer_stored(chain) {
                    if let Some(candidate) = collected.layers.get_mut(path)
                        && let Some(kept) = candidate.kept.take()
                    {
                        self.keep_blob(chain, kept, &candidate.blob_digest, media_type.as_deref())?;
                    }
                    continue;
                }
                let Some(mut candidate) = collected.layers.remove(path) else {
                    return Err(ArchiveError::Entry {
                        entry: path.clone(),
                        reason: "the same layer over two different parents, which berth cannot load".into(),
                    }
                    .into());
                };
                let lowers: Vec<PathBuf> = chains[..i].iter().rev().map(|c| store.layer_path(c)).collect();
                let kept = candidate.kept.take();
                let record = LayerRecord {
                    chain_id: chain.clone(),
                    diff_id: image.diff_ids[i].clone(),
                    parent: i.checked_sub(1).map(|p| chains[p].clone()),
                    blob_digest: kept.as_ref().map(|_| candidate.blob_digest.clone()).unwrap_or_default(),
                    size: candidate.report.size,
                };
                let digest = candidate.blob_digest.clone();
                self.commit_candidate(candidate, &record, &lowers, committed)?;
                if let Some(kept) = kept {
                    self.keep_blob(chain, kept, &digest, media_type.as_deref())?;
                }
            }
        }
        let mut loaded = Vec::new();
        for image in planned {
            let id = crate::digest::sha256_digest(&image.config);
            if !store.blobs().contains(&id) {
                store.blobs().put(&id, &image.config)?;
                stored_configs.push(id.clone());
            }
            let config: Value = serde_json::from_slice(&image.config).unwrap_or_default();
            let text = |key: &str| config[key].as_str().map(str::to_string);
            let tags: Vec<String> =
                image.tags.iter().map(|t| t.with_tag(t.tag.as_deref().unwrap_or("latest")).to_string()).collect();
            store.add_local_image(&LocalImage {
                id: id.clone(),
                architecture: text("architecture").unwrap_or_default(),
                os: text("os").unwrap_or_default(),
                variant: text("variant"),
                created: text("created"),
                layers: chain_ids(&image.diff_ids),
                tag: tags.first().cloned(),
                parent: None,
            })?;
            for tag in tags.iter().skip(1) {
                store.tag_image(&id, &Reference::parse(tag)?)?;
            }
            // A tag names one image; `run --platform` still finds the others loaded under it.
            let platform = crate::registry::Platform::new(
                &text("os").unwrap_or_default(),
                &text("architecture").unwrap_or_default(),
                text("variant").as_deref(),
            );
            for tag in &image.tags {
                store.record_platform_image(tag, &platform.to_string(), &id)?;
            }
            if let Some((manifest, media_type)) = &image.manifest {
                let digest = crate::digest::sha256_digest(manifest);
                if !store.blobs().contains(&digest) {
                    store.blobs().put(&digest, manifest)?;
                }
                store.set_loaded_manifest(&id, &digest, media_type)?;
            }
            loaded.push(Loaded {
                image_id: id,
                tags: image.tags.iter().filter_map(Reference::familiar_tagged).collect(),
            });
        }
        Ok(loaded)
    }
}

impl Collected {
    /// Follows archive links from `path` (a few hops at most).
    fn resolve(&self, path: &str) -> String {
        let mut path = path.to_string();
        for _ in 0..16 {
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        path
    }

    /// The JSON entry `target`, named by `entry`.
    fn json(&self, entry: &str, target: &str) -> Result<(String, &[u8]), ArchiveError> {
        let path =
            inside(target).ok_or_else(|| ArchiveError::Outside { entry: entry.into(), target: target.into() })?;
        let path = self.resolve(&path);
        let data =
            self.json.get(&path).ok_or_else(|| ArchiveError::Missing { entry: entry.into(), target: target.into() })?;
        Ok((path, data))
    }

    /// The layer entry `target`, named by `entry`: its cleaned path.
    fn layer(&self, entry: &str, target: &str) -> Result<String, ArchiveError> {
        let path =
            inside(target).ok_or_else(|| ArchiveError::Outside { entry: entry.into(), target: target.into() })?;
        let path = self.resolve(&path);
        if !self.layers.contains_key(&path) {
            return Err(ArchiveError::Missing { entry: entry.into(), target: target.into() });
        }
        Ok(path)
    }
}

fn parse_json(entry: &str, data: &[u8]) -> Result<Value, ArchiveError> {
    serde_json::from_slice(data)
        .map_err(|e| ArchiveError::Entry { entry: entry.into(), reason: format!("not JSON: {e}") })
}

/// The config's diffIDs, which the layers' tars must hash to.
fn diff_ids(entry: &str, config: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let config = parse_json(entry, config)?;
    let ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| ArchiveError::Entry { entry: entry.into(), reason: "no rootfs.diff_ids".into() })?;
    ids.iter()
        .map(|id| {
            id.as_str().filter(|id| sha256_hex(id).is_some()).map(str::to_string).ok_or_else(|| ArchiveError::Entry {
                entry: entry.into(),
                reason: format!("diff id {id} is not a sha256 digest"),
            })
        })
        .collect()
}

/// Checks each layer's tar against the config's diffIDs.
fn check_layers(
    collected: &Collected,
    image: &str,
    layers: &[String],
    diff_ids: &[String],
) -> Result<(), ArchiveError> {
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::Entry {
            entry: image.into(),
            reason: format!("{} layers but the config has {} diff ids", layers.len(), diff_ids.len()),
        });
    }
    for (path, expected) in layers.iter().zip(diff_ids) {
        let actual = &collected.layers[path].report.diff_id;
        if actual != expected {
            return Err(ArchiveError::DiffId {
                image: image.into(),
                layer: path.clone(),
                expected: expected.clone(),
                actual: actual.clone(),
            });
        }
    }
    Ok(())
}

/// `manifest.json`'s images (docker's and podman's docker-archive, Docker 25's hybrid).
fn plan_docker(collected: &Collected) -> Result<Vec<Planned>, ArchiveError> {
    const ENTRY: &str = "manifest.json";
    let manifest = parse_json(ENTRY, &collected.json[ENTRY])?;
    let images =
        manifest.as_array().ok_or_else(|| ArchiveError::Entry { entry: ENTRY.into(), reason: "not a list".into() })?;
    let mut planned = Vec::new();
    for image in images {
        let config_path = image["Config"]
            .as_str()
            .ok_or_else(|| ArchiveError::Entry { entry: ENTRY.into(), reason: "an image without Config".into() })?;
        let (config_path, config) = collected.json(ENTRY, config_path)?;
        let diff_ids = diff_ids(&config_path, config)?;
        let layers = image["Layers"]
            .as_array()
            .map(|l| {
                l.iter().filter_map(Value::as_str).map(|l| collected.layer(ENTRY, l)).collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        check_layers(collected, &config_path, &layers, &diff_ids)?;
        let tags = image["RepoTags"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).map(Reference::parse).collect::<Result<Vec<_>, _>>())
            .transpose()
            .map_err(|e| ArchiveError::Entry { entry: ENTRY.into(), reason: e.to_string() })?
            .unwrap_or_default();
        let media_types = vec![None; layers.len()];
        planned.push(Planned { config: config.to_vec(), layers, diff_ids, tags, media_types, manifest: None });
    }
    Ok(planned)
}

/// The hex of a `sha256:<64 hex>` digest.
fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The path of blob `digest` in an OCI layout.
fn oci_blob(digest: &str) -> Result<String, ArchiveError> {
    let hex = sha256_hex(digest).ok_or_else(|| ArchiveError::Entry {
        entry: "index.json".into(),
        reason: format!("{digest:?} is not a sha256 digest"),
    })?;
    Ok(format!("blobs/sha256/{hex}"))
}

/// A JSON blob of an OCI layout, its digest checked.
fn oci_json<'c>(collected: &'c Collected, entry: &str, digest: &str) -> Result<&'c [u8], ArchiveError> {
    let (path, data) = collected.json(entry, &oci_blob(digest)?)?;
    let actual = crate::digest::sha256_digest(data);
    if actual != digest {
        return Err(ArchiveError::Entry { entry: path, reason: format!("its digest is {actual}, not {digest}") });
    }
    Ok(data)
}

/// `index.json`'s images (OCI archives and layouts; the host's platform of a multi-platform index).
fn plan_oci(collected: &Collected) -> Result<Vec<Planned>, ArchiveError> {
    const ENTRY: &str = "index.json";
    let index = parse_json(ENTRY, &collected.json[ENTRY])?;
    let host = Platform::host();
    let mut planned = Vec::new();
    for descriptor in index["manifests"].as_array().into_iter().flatten() {
        let names = oci_names(descriptor);
        let mut descriptor = descriptor.clone();
        let mut manifest_entry = ENTRY.to_string();
        // Nested indexes: the entry for this platform.
        for _ in 0..4 {
            let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
            if !media_type.contains("index") && !media_type.contains("manifest.list") {
                break;
            }
            let digest = descriptor["digest"].as_str().unwrap_or_default().to_string();
            let nested = parse_json(&digest, oci_json(collected, &manifest_entry, &digest)?)?;
            let found = nested["manifests"].as_array().into_iter().flatten().find(|m| {
                let p = &m["platform"];
                let platform = Platform::new(
                    p["os"].as_str().unwrap_or_default(),
                    p["architecture"].as_str().unwrap_or_default(),
                    p["variant"].as_str(),
                );
                host.matches(&platform)
            });
            descriptor = found.cloned().ok_or_else(|| ArchiveError::NoPlatform {
                entry: oci_blob(&digest).unwrap_or(digest.clone()),
                platform: host.to_string(),
            })?;
            manifest_entry = oci_blob(&digest)?;
        }
        let digest = descriptor["digest"].as_str().unwrap_or_default().to_string();
        let manifest_path = oci_blob(&digest)?;
        let manifest = parse_json(&manifest_path, oci_json(collected, &manifest_entry, &digest)?)?;
        let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
        let config = oci_json(collected, &manifest_path, config_digest)?;
        let diff_ids = diff_ids(&oci_blob(config_digest)?, config)?;
        let mut layers = Vec::new();
        let mut media_types = Vec::new();
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            let layer_digest = layer["digest"].as_str().unwrap_or_default();
            media_types.push(layer["mediaType"].as_str().map(str::to_string));
            let path = collected.layer(&manifest_path, &oci_blob(layer_digest)?)?;
            let actual = &collected.layers[&path].blob_digest;
            if actual != layer_digest {
                return Err(ArchiveError::Digest {
                    image: manifest_path.clone(),
                    layer: path,
                    expected: layer_digest.into(),
                    actual: actual.clone(),
                });
            }
            layers.push(path);
        }
        check_layers(collected, &manifest_path, &layers, &diff_ids)?;
        let manifest_type = descriptor["mediaType"].as_str().or(manifest["mediaType"].as_str());
        let manifest_bytes = collected.json.get(&collected.resolve(&manifest_path)).cloned();
        let kept_manifest = manifest_bytes.map(|bytes| (bytes, manifest_type.unwrap_or(OCI_MANIFEST).to_string()));
        match planned.iter_mut().find(|p: &&mut Planned| p.config == config) {
            Some(p) => p.tags.extend(names),
            None => planned.push(Planned {
                config: config.to_vec(),
                layers,
                diff_ids,
                tags: names,
                media_types,
                manifest: kept_manifest,
            }),
        }
    }
    if planned.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok(planned)
}

/// The names an index entry gives its image: containerd's full name, or a reference in the OCI ref name
/// (a bare tag names nothing, as in docker).
fn oci_names(descriptor: &Value) -> Vec<Reference> {
    let annotations = &descriptor["annotations"];
    let name = annotations["io.containerd.image.name"]
        .as_str()
        .or_else(|| annotations["org.opencontainers.image.ref.name"].as_str().filter(|n| n.contains(['/', ':'])));
    name.and_then(|n| Reference::parse(n).ok()).filter(|r| r.digest.is_none()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_cleaned_and_may_not_climb_out() {
        assert_eq!(inside("./blobs//sha256/./ab").as_deref(), Some("blobs/sha256/ab"));
        assert_eq!(inside("a/../b/layer.tar").as_deref(), Some("b/layer.tar"));
        assert_eq!(inside("../etc/passwd"), None);
        assert_eq!(inside("a/../../etc"), None);
        assert_eq!(inside("/etc/shadow"), None);
    }

    #[test]
    fn layers_are_told_from_other_entries_by_their_first_bytes() {
        assert_eq!(layer_compression(&[0x1f, 0x8b, 8, 0]), Some(Compression::Gzip));
        assert_eq!(layer_compression(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Compression::Zstd));
        assert_eq!(layer_compression(&[0; 512]), Some(Compression::None), "an empty tar");
        let mut header = tar::Header::new_ustar();
        header.set_path("etc/passwd").unwrap();
        header.set_size(0);
        header.set_cksum();
        assert_eq!(layer_compression(header.as_bytes()), Some(Compression::None));
        let mut damaged = header.as_bytes().to_vec();
        damaged[0] ^= 1;
        assert_eq!(layer_compression(&damaged), None, "a bad checksum is no tar");
        assert_eq!(layer_compression(b"1.0"), None, "old archives' VERSION files");
    }
}
