//! `export` and `import`: a container's filesystem as one flat tar, and a flat tar as a one-layer image.
//!
//! Export reads a read-only overlay of the image's layers with the container's upper as the top-most lower,
//! mounted in a private mount namespace (as `cp` mounts a stopped container), so it works on running and
//! stopped containers alike and never shares the container's work dir. The merged view holds no whiteouts;
//! berth's runtime stubs (`/dev`, `/proc`, `/sys`, `/etc/hosts`, …) are left out unless the image has them.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use serde_json::json;

use super::ArchiveError;
use super::load::layer_compression;
use crate::layer::PackOptions;
use crate::local::RUNTIME_STUBS;
use crate::reference::Reference;
use crate::registry::Platform;
use crate::runtime::Rootfs;
use crate::store::{LayerRecord, LocalImage};
use crate::{Engine, Error};

/// `berth import`'s flags.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `REPO[:TAG]` to point at the new image.
    pub reference: Option<String>,
    /// `-c/--change`: Dockerfile instructions applied to the new image's config.
    pub changes: Vec<String>,
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// What the tar came from, for the default comment (`Imported from -`).
    pub source: String,
}

impl Engine {
    /// Docker's `export`: the container's filesystem as a tar, written to `out`.
    pub fn export(&self, container: &str, out: &mut dyn Write) -> Result<(), Error> {
        let rec = self.container(container)?;
        let store = self.store();
        let _gc = store.gc_shared_lock()?;
        let image = store.image(&rec.image_id)?;
        let mut layers = store.image_layer_dirs(&rec.image_id)?;
        let upper = rec.dir(store.root()).join("upper");
        if upper.is_dir() {
            layers.push(upper);
        }
        let work = store.temp_dir("export")?;
        let rootfs = Rootfs {
            merged: work.path().join("rootfs"),
            upper: work.path().join("upper"),
            work: work.path().join("work"),
        };
        let root = crate::volume::mount_privately(&rec.id, &rootfs, &layers)?;
        let merged = PathBuf::from(format!("/proc/self/fd/{}", root.fd().as_raw_fd()));
        let lowers = self.image_lowers(&image)?;
        let exclude = RUNTIME_STUBS
            .iter()
            .map(PathBuf::from)
            .filter(|stub| !lowers.paths().iter().any(|l| l.join(stub).symlink_metadata().is_ok()))
            .collect();
        let opts = PackOptions { source_date_epoch: None, exclude };
        crate::layer::pack(&merged, &[], &opts, out)
            .map_err(|source| ArchiveError::Layer { layer: format!("container {}", rec.name), source })?;
        Ok(())
    }

    /// `import` of an http(s) URL: downloaded into a work dir first (size-capped as a layer is), then
    /// imported as a file.
    pub async fn import_url(&self, url: &str, opts: &ImportOptions) -> Result<String, Error> {
        let dir = self.store().temp_dir("import")?;
        let fetched =
            crate::builder::fetch::fetch(&[url.to_string()], None, dir, self.config().max_layer_bytes, self.store())
                .await
                .map_err(|reason| ArchiveError::Entry { entry: url.to_string(), reason })?;
        let path = fetched.dir.path().join(&fetched.names[0]);
        let file = std::fs::File::open(&path).map_err(|source| ArchiveError::Io { op: "open", path, source })?;
        self.import(file, opts)
    }

    /// Docker's `import`: a tar (plain, gzip or zstd) read from `input` becomes a one-layer image; returns
    /// its ID. A failure leaves no image or layer.
    pub fn import(&self, input: impl Read, opts: &ImportOptions) -> Result<String, Error> {
        let reference = match &opts.reference {
            None => None,
            Some(text) => {
                let reference = Reference::parse(text)?;
                if reference.digest.is_some() {
                    return Err(crate::local::LocalError::DigestReference { reference: text.clone() }.into());
                }
                Some(reference)
            }
        };
        let tag = reference.as_ref().map(|r| r.with_tag(r.tag.as_deref().unwrap_or("latest")).to_string());
        let changes = crate::local::parse_changes(&opts.changes)?;
        let mut input = std::io::BufReader::with_capacity(1 << 20, input);
        let head = std::io::BufRead::fill_buf(&mut input).map_err(|source| ArchiveError::Read { source })?.to_vec();
        let compression = match layer_compression(&head) {
            Some(c) => c,
            None if head.is_empty() => crate::layer::Compression::None,
            None => {
                return Err(ArchiveError::Entry {
                    entry: opts.source.clone(),
                    reason: "not a tar archive (plain, gzip or zstd)".into(),
                }
                .into());
            }
        };
        let store = self.store();
        let _gc = store.gc_shared_lock()?;
        let candidate = self.unpack_candidate(&opts.source, compression, input, false)?;
        let diff_id = candidate.report.diff_id.clone();
        let record = LayerRecord {
            chain_id: diff_id.clone(),
            diff_id: diff_id.clone(),
            parent: None,
            blob_digest: String::new(),
            size: candidate.report.size,
        };
        let mut committed = Vec::new();
        let mut stored_config = Vec::new();
        let made = (|| {
            {
                let _lock = store.layer_lock(&record.chain_id)?;
                if store.layer(&record.chain_id)?.is_none() || !store.layer_stored(&record.chain_id) {
                    self.commit_candidate(candidate, &record, &[], &mut committed)?;
                }
            }
            let platform = Platform::host();
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let comment = opts.message.clone().unwrap_or_else(|| format!("Imported from {}", opts.source));
            let mut config = json!({
                "architecture": platform.architecture,
                "os": platform.os,
                "created": created,
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": created, "comment": comment}],
            });
            if let Some(variant) = &platform.variant {
                config["variant"] = json!(variant);
            }
            crate::local::apply_changes(&mut config, &changes);
            let (id, new) = crate::local::store_config(store, &config, &opts.source)?;
            if new {
                stored_config.push(id.clone());
            }
            store.add_local_image(&LocalImage {
                id: id.clone(),
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                variant: platform.variant.clone(),
                created: Some(created),
                layers: vec![record.chain_id.clone()],
                tag: tag.clone(),
                parent: None,
            })?;
            if let Some(reference) = &reference {
                store.record_platform_image(reference, &platform.to_string(), &id)?;
            }
            Ok::<_, Error>(id)
        })();
        if made.is_err() {
            drop(_gc);
            if let Err(e) = store.discard_unused(&committed, &stored_config) {
                tracing::warn!("cannot remove what a failed import stored: {e}");
            }
        }
        made
    }
}
