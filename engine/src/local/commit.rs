//! `commit`: a container's changes as a new image, as Docker makes it.
//!
//! The container's upper is packed against its image's layers and the stream unpacked, through a pipe,
//! into the new layer's directory (the container keeps its upper, so it cannot simply be adopted; the
//! unpacker also rebuilds anything hostile the container wrote in berth's own safe way). The new config is
//! the image's with the container's run config over it and one more history entry.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{EMPTY_LAYER_DIFF_ID, LocalError, container_pack_options, source_date_epoch};
use crate::build::instructions::Instruction;
use crate::container::{Cgroup, ContainerRecord, Status};
use crate::layer::{Compression, PackOptions, UnpackOptions};
use crate::reference::Reference;
use crate::runtime::RunOptions;
use crate::store::{ImageRecord, LocalImage};
use crate::{Engine, Error};

/// `berth commit`'s flags. `--change` (Dockerfile instructions over the new config) needs the Dockerfile
/// parser and is not here yet; it applies to the config [`child_config`] makes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPO[:TAG]` to point at the new image.
    pub reference: Option<String>,
    /// `-m`: the history entry's comment.
    pub comment: Option<String>,
    /// `-a`: the image's and the history entry's author.
    pub author: Option<String>,
    /// `--pause`: freeze a running container while its changes are read.
    pub pause: bool,
    /// `-c/--change`: Dockerfile instructions applied to the new image's config (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR, as docker accepts).
    pub changes: Vec<String>,
}

/// The instructions docker's `commit --change` and `import --change` accept.
const CHANGE_COMMANDS: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses `--change` lines, refusing what docker refuses, before anything is made.
pub(crate) fn parse_changes(changes: &[String]) -> Result<Vec<Instruction>, Error> {
    changes
        .iter()
        .map(|text| {
            let located = crate::build::parse_trigger(text)?;
            if !CHANGE_COMMANDS.contains(&located.name.as_str()) {
                return Err(LocalError::Change { change: text.clone(), command: located.name }.into());
            }
            match located.instruction {
                // As a Dockerfile's EXPOSE: `ExposedPorts` keys (`8080/tcp`).
                Instruction::Expose(raw) => {
                    let mut ports = Vec::new();
                    for word in raw.iter().flat_map(|r| r.split_whitespace()) {
                        ports.extend(
                            crate::build::expose::expose_ports(word)
                                .map_err(|reason| LocalError::BadChange { change: text.clone(), reason })?,
                        );
                    }
                    Ok(Instruction::Expose(ports))
                }
                instruction => Ok(instruction),
            }
        })
        .collect()
}

/// Applies parsed `--change` instructions to an image config, in order (an ENTRYPOINT resets a CMD
/// only when no change before it set one, as in a Dockerfile stage).
pub(crate) fn apply_changes(config: &mut Value, changes: &[Instruction]) {
    let mut flags = crate::builder::config::StageFlags::default();
    for change in changes {
        crate::builder::config::apply(config, change, &mut flags);
    }
}

/// Freezes a container's cgroup until dropped.
struct Frozen(Cgroup);

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Err(e) = self.0.freeze(false) {
            tracing::warn!("cannot thaw {} after commit: {e}", self.0.path());
        }
    }
}

impl Engine {
    /// Docker's `commit`: returns the new image's ID. A failure leaves no image, layer or work directory.
    pub fn commit(&self, container: &str, opts: &CommitOptions) -> Result<String, Error> {
        let tag = match &opts.reference {
            None => None,
            Some(text) => {
                let reference = Reference::parse(text)?;
                if reference.digest.is_some() {
                    return Err(LocalError::DigestReference { reference: text.clone() }.into());
                }
                Some(reference.with_tag(reference.tag.as_deref().unwrap_or("latest")).to_string())
            }
        };
        let changes = parse_changes(&opts.changes)?;
        let rec = self.container(container)?;
        let store = self.store();
        // Held shared, as a pull does: no prune runs between the layer's commit and the image row.
        let _gc = store.gc_shared_lock()?;
        let image = store.image(&rec.image_id)?;
        let lowers = self.image_lowers(&image)?;
        let epoch = source_date_epoch();

        let work = store.temp_dir("commit")?;
        let upper = rec.dir(store.root()).join("upper");
        let (diff_id, size) = {
            let _frozen = if opts.pause && rec.status == Status::Running {
                let cgroup = Cgroup::for_container(&rec.id);
                cgroup.freeze(true)?;
                Some(Frozen(cgroup))
            } else {
                None
            };
            self.copy_upper(&rec, &upper, lowers.paths(), work.path(), &container_pack_options(epoch))?
        };
        let parent = image.layers.last().map(String::as_str);
        let layer =
            if diff_id == EMPTY_LAYER_DIFF_ID { None } else { Some(self.record_layer(work, parent, &diff_id, size)?) };

        let mut stored_config = None;
        let made = (|| {
            let mut config = child_config(store.blobs().get(&image.id)?, &image, &rec, opts, &diff_id, epoch)?;
            apply_changes(&mut config, &changes);
            let (id, new) = super::store_config(store, &config, &image.id)?;
            if new {
                stored_config = Some(id.clone());
            }
            let mut layers = image.layers.clone();
            layers.extend(layer.as_ref().map(|l| l.chain_id.clone()));
            store.add_local_image(&LocalImage {
                id: id.clone(),
                architecture: image.architecture.clone(),
                os: image.os.clone(),
                variant: image.variant.clone(),
                created: config["created"].as_str().map(str::to_string),
                layers,
                tag: tag.clone(),
                parent: Some(image.id.clone()),
            })?;
            Ok::<_, Error>(id)
        })();
        if made.is_err() {
            // What this commit stored and no image uses goes again (when no pull is between its steps).
            drop(_gc);
            let chains: Vec<String> = layer.iter().map(|l| l.chain_id.clone()).collect();
            let blobs: Vec<String> = stored_config.into_iter().collect();
            if let Err(e) = store.discard_unused(&chains, &blobs) {
                tracing::warn!("cannot remove what a failed commit of {} stored: {e}", rec.name);
            }
        }
        if let Ok(id) = &made {
            let event = crate::journal::container_event(&rec, "commit")
                .attr("comment", opts.comment.clone().unwrap_or_default())
                .attr("imageID", id.clone())
                .attr(
                    "imageRef",
                    tag.as_deref().and_then(|t| Reference::parse(t).ok()).map(|r| r.familiar()).unwrap_or_default(),
                );
            crate::journal::record_container(self.root(), &rec, event);
            if let Some(reference) = tag.as_deref().and_then(|t| Reference::parse(t).ok()) {
                self.record_tag(&reference);
            }
        }
        made
    }

    /// Packs the container's upper and unpacks the stream into `dest`; returns the diffID and file bytes.
    fn copy_upper(
        &self,
        rec: &ContainerRecord,
        upper: &Path,
        lowers: &[PathBuf],
        dest: &Path,
        opts: &PackOptions,
    ) -> Result<(String, u64), Error> {
        if !upper.exists() {
            // Never started: nothing written.
            return Ok((EMPTY_LAYER_DIFF_ID.to_string(), 0));
        }
        let what = format!("container {}", rec.name);
        let layer_err = |source| LocalError::Layer { what: what.clone(), source };
        let (reader, writer) =
            std::io::pipe().map_err(|source| LocalError::Io { op: "make a pipe for", path: upper.into(), source })?;
        let unpack_opts = UnpackOptions {
            max_bytes: self.config().max_layer_bytes,
            preserve_owners: rustix::process::geteuid().is_root(),
        };
        let (packed, unpacked) = std::thread::scope(|scope| {
            let packer = scope.spawn(move || crate::layer::pack(upper, lowers, opts, writer));
            let unpacked = crate::layer::unpack(reader, Compression::None, dest, &unpack_opts);
            let packed = packer.join().unwrap_or_else(|_| {
                Err(crate::layer::LayerError::Output { source: std::io::Error::other("the packing thread panicked") })
            });
            (packed, unpacked)
        });
        // When both failed, one caused the other: a packer that could not write lost its reader (the
        // unpacker's error is the cause); otherwise the unpacker only saw the stream end early.
        let (packed, unpacked) = match (packed, unpacked) {
            (Err(crate::layer::LayerError::Output { .. }), Err(e)) => return Err(layer_err(e).into()),
            (packed, unpacked) => (packed.map_err(layer_err)?, unpacked.map_err(layer_err)?),
        };
        crate::layer::link_from_lowers(dest, lowers, &unpacked.deferred_links).map_err(layer_err)?;
        crate::layer::inherit_from_lowers(dest, lowers, &unpacked.implicit_dirs).map_err(layer_err)?;
        Ok((packed.diff_id, unpacked.size))
    }
}

/// The committed image's config: the image's, with the container's run config, the new layer and a
/// history entry as Docker's `NewChildImage` writes them (no layer and `empty_layer` for an empty diff).
fn child_config(
    raw: Vec<u8>,
    image: &ImageRecord,
    rec: &ContainerRecord,
    opts: &CommitOptions,
    diff_id: &str,
    epoch: Option<i64>,
) -> Result<Value, Error> {
    let bad = |reason: String| LocalError::Config { image: image.id.clone(), action: "read", reason };
    let mut config: Value = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    let Some(object) = config.as_object_mut() else {
        return Err(bad("not a JSON object".into()).into());
    };
    let now = match epoch.and_then(|e| chrono::DateTime::from_timestamp(e, 0)) {
        Some(time) => time,
        None => chrono::Utc::now(),
    };
    let created = now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    object.insert("created".into(), json!(created));
    match opts.author.as_deref().filter(|a| !a.is_empty()) {
        Some(author) => object.insert("author".into(), json!(author)),
        None => object.remove("author"),
    };
    let run_config = container_config(object.get("config"), &rec.options);
    let created_by = run_config
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|cmd| cmd.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    object.insert("config".into(), Value::Object(run_config));

    let empty = diff_id == EMPTY_LAYER_DIFF_ID;
    let rootfs = object.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    if !empty {
        match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
            Some(ids) => ids.push(json!(diff_id)),
            None => rootfs["diff_ids"] = json!([diff_id]),
        }
    }
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(created_by));
    if let Some(author) = opts.author.as_deref().filter(|a| !a.is_empty()) {
        entry.insert("author".into(), json!(author));
    }
    if let Some(comment) = opts.comment.as_deref().filter(|c| !c.is_empty()) {
        entry.insert("comment".into(), json!(comment));
    }
    if empty {
        entry.insert("empty_layer".into(), json!(true));
    }
    match object.get_mut("history").and_then(Value::as_array_mut) {
        Some(history) => history.push(Value::Object(entry)),
        None => {
            object.insert("history".into(), json!([entry]));
        }
    }
    Ok(config)
}

/// The container's config as Docker records it: the image's, with what `run` changed (Cmd, Entrypoint,
/// Env, WorkingDir, User, Labels, StopSignal, Healthcheck).
fn container_config(image: Option<&Value>, options: &RunOptions) -> Map<String, Value> {
    let mut config = image.and_then(Value::as_object).cloned().unwrap_or_default();
    let key = |entry: &str| entry.split_once('=').map_or(entry, |(k, _)| k).to_string();
    let mut env: Vec<String> = config
        .get("Env")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    for entry in &options.env {
        let k = key(entry);
        match env.iter_mut().find(|e| key(e) == k) {
            Some(slot) => *slot = entry.clone(),
            None => env.push(entry.clone()),
        }
    }
    if !env.is_empty() {
        config.insert("Env".into(), json!(env));
    }
    if let Some(entrypoint) = &options.entrypoint {
        // `--entrypoint` drops the image's Cmd too.
        config.remove("Cmd");
        if entrypoint.is_empty() {
            config.remove("Entrypoint");
        } else {
            config.insert("Entrypoint".into(), json!(entrypoint));
        }
    }
    if !options.cmd.is_empty() {
        config.insert("Cmd".into(), json!(options.cmd));
    }
    if let Some(dir) = &options.workdir {
        config.insert("WorkingDir".into(), json!(dir));
    }
    if let Some(user) = &options.user {
        config.insert("User".into(), json!(user));
    }
    if !options.labels.is_empty() {
        let labels = config.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in &options.labels {
            labels[k] = json!(v);
        }
    }
    if let Some(signal) = &options.stop_signal {
        config.insert("StopSignal".into(), json!(signal));
    }
    // The container's healthcheck, the image's merged in at create (`NONE` after `--no-healthcheck`).
    if let Some(health) = &options.healthcheck {
        config.insert("Healthcheck".into(), json!(health));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_containers_healthcheck_goes_into_the_image() {
        let image = json!({"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "old"]}});
        let health = crate::health::HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 1_000_000_000,
            ..Default::default()
        };
        let options = RunOptions { healthcheck: Some(health), ..RunOptions::default() };
        let config = container_config(Some(&image), &options);
        assert_eq!(config["Healthcheck"], json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000}));
        let kept = container_config(Some(&image), &RunOptions::default());
        assert_eq!(kept["Healthcheck"], image["Healthcheck"]);
    }
}
