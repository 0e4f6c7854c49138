//! Stage one of a run: the overlay rootfs mounted and the OCI bundle (`config.json`) written.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::MonitorError;
use crate::container::{Cgroup, ContainerRecord};
use crate::network::NetworkMode;
use crate::runtime::{Rootfs, RunOptions, Seccomp, SharedNamespace, SpecInput, Upper, build_spec, find_init_binary};
use crate::store::Store;

/// A bundle ready for libcontainer.
pub(super) struct Bundle {
    pub(super) dir: PathBuf,
    pub(super) network: NetworkMode,
    /// The seccomp filter the init loads itself, compiled once per profile (see `runtime::seccomp_bpf`).
    pub(super) seccomp: Option<Seccomp>,
    /// The network namespace made for a container on bridge networks (or a standby's spare, for `none` as
    /// well), which its init joins; held until the init has (see `wiring`).
    pub(super) netns: Option<OwnedFd>,
    /// The layer images' mounts under the overlay, held until the teardown (see `Rootfs::mount`).
    pub(super) layers: crate::layer::erofs::MountedLowers,
}

/// `spare_netns`: a standby's network namespace (see `wiring::SpareNetns`), used when the
/// container needs one of its own.
pub(super) fn prepare(
    store: &Store,
    rec: &ContainerRecord,
    dir: &Path,
    spare_netns: Option<OwnedFd>,
) -> Result<Bundle, MonitorError> {
    let image = store.image(&rec.image_id).map_err(crate::Error::from)?;
    let layers = store.image_layer_dirs(&rec.image_id).map_err(crate::Error::from)?;
    let rootfs = Rootfs::in_dir(dir);
    let upper = if rec.options.is_disposable() { Upper::Volatile } else { Upper::Synced };
    let layers = rootfs.mount(&rec.id, &layers, upper)?;

    let init = if rec.options.init { Some(find_init_binary()?) } else { None };
    let cgroup = Cgroup::for_container(&rec.id).path();
    let network = rec.options.network_mode(&image.config).map_err(crate::Error::from)?;
    let joined = crate::container::shared::joined_namespaces(store, rec)?;
    // Sharing a network is sharing its hosts, resolv.conf and hostname too, as in Docker.
    let network_target = joined.iter().find(|j| j.kind == SharedNamespace::Network).map(|j| &j.owner);
    let (etc_files, options) = match network_target {
        Some(target) => (
            super::wiring::etc_files(&target.dir(store.root())).to_vec(),
            RunOptions { hostname: Some(super::wiring::hostname(target)), ..rec.options.clone() },
        ),
        None => (super::wiring::create_etc_files(rec, dir)?, rec.options.clone()),
    };
    let mut joined: Vec<(SharedNamespace, PathBuf)> = joined.into_iter().map(|j| (j.kind, j.path)).collect();
    let netns = match network {
        NetworkMode::Networks(_) => Some(match spare_netns {
            Some(netns) => netns,
            None => super::wiring::new_network_namespace(&rec.id)?,
        }),
        NetworkMode::None => spare_netns,
        _ => None,
    };
    if let Some(netns) = &netns {
        joined.push((SharedNamespace::Network, super::wiring::namespace_path(netns)));
    }
    let volume_err = |e: crate::volume::VolumeError| MonitorError::Engine(e.into());
    crate::volume::seed_volumes(store, rec, &rootfs.merged).map_err(volume_err)?;
    let mut spec = build_spec(&SpecInput {
        id: &rec.id,
        image: &image.config,
        options: &options,
        rootfs: &rootfs.merged,
        cgroups_path: &cgroup,
        init_binary: init.as_deref(),
        network_namespace: network.needs_netns(),
        etc_files: &etc_files,
        joined: &joined,
    })?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.extend(crate::volume::oci_mounts(store.root(), rec, &rootfs.merged).map_err(volume_err)?);
    spec.set_mounts(Some(mounts));
    let process = spec.process().as_ref();
    if let Some(p) = process {
        let (args, env) = (p.args().as_deref().unwrap_or_default(), p.env().as_deref().unwrap_or_default());
        crate::runtime::check_exec_size(&rec.id, args, env)?;
    }
    // Docker creates a missing working directory; do it inside the rootfs, never through its symlinks.
    if let Some(cwd) = process.map(|p| p.cwd().to_string_lossy().into_owned()) {
        crate::runtime::create_dir_in_root(&rootfs.merged, &cwd)?;
    }
    let seccomp = crate::runtime::take_init_seccomp(&mut spec, store.root(), dir)?;
    let config = dir.join("config.json");
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| MonitorError::Io {
        id: rec.id.clone(),
        action: "encode",
        path: config.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&config, json).map_err(|source| MonitorError::Io {
        id: rec.id.clone(),
        action: "write",
        path: config.clone(),
        source,
    })?;
    Ok(Bundle { dir: dir.to_path_buf(), network, seccomp, netns, layers })
}
