//! Stage between create and start: the container's network namespace exists but its command has not run.
//! The container joins its networks, each user network's name resolver is started, and the /etc/hosts and
//! /etc/resolv.conf that the spec bind-mounts get their content (/etc/hostname gets its own when made).

use std::path::{Path, PathBuf};

use super::MonitorError;
use crate::container::ContainerRecord;
use crate::network::{ContainerRef, NetworkMode, NetworkSettings, Networks, files};

/// The files the spec bind-mounts over the container's own, kept in the container's directory.
pub(super) fn etc_files(dir: &Path) -> [(String, PathBuf); 3] {
    [
        ("/etc/hosts".into(), dir.join("hosts")),
        ("/etc/resolv.conf".into(), dir.join("resolv.conf")),
        ("/etc/hostname".into(), dir.join("hostname")),
    ]
}

/// Creates the bind-mount sources so the runtime can mount them: hosts and resolv.conf stay empty until
/// [`wire`] fills them; hostname holds the container's hostname, as docker's does.
pub(super) fn create_etc_files(rec: &ContainerRecord, dir: &Path) -> Result<Vec<(String, PathBuf)>, MonitorError> {
    let files = etc_files(dir);
    for (_, path) in &files {
        std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|source| MonitorError::Io {
            id: rec.id.clone(),
            action: "create",
            path: path.clone(),
            source,
        })?;
    }
    let [_, _, (_, hostname_path)] = &files;
    write_in_place(rec, hostname_path, &format!("{}\n", hostname(rec)))?;
    Ok(files.to_vec())
}

/// The container's hostname: `--hostname`, else its short id (as the spec's UTS namespace gets it).
pub(super) fn hostname(rec: &ContainerRecord) -> String {
    rec.options.hostname.clone().unwrap_or_else(|| rec.short_id().to_string())
}

/// Joins the container whose init is `pid` to its networks and writes its hosts and resolv.conf. On
/// failure the caller's teardown detaches whatever was joined.
pub(super) fn wire(
    networks: &Networks,
    rec: &ContainerRecord,
    pid: i32,
    mode: &NetworkMode,
    dir: &Path,
) -> Result<(), MonitorError> {
    // Another container's namespace, wired and with its etc files already.
    if let NetworkMode::Container(_) = mode {
        return Ok(());
    }
    let engine = |e: crate::network::NetworkError| MonitorError::Engine(e.into());
    let settings = match mode.needs_netns() {
        true => {
            let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            networks.setup(ContainerRef { id: &rec.id, name: &rec.name }, &netns, mode).map_err(engine)?
        }
        false => NetworkSettings::default(),
    };
    for name in settings.networks.keys() {
        let network = networks.get(name).map_err(engine)?;
        // /proc/self/exe: the berth binary this monitor runs from, resolved in the child at exec.
        networks.spawn_resolver(Path::new("/proc/self/exe"), &network).map_err(engine)?;
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let o = &rec.options;
    let dns = files::DnsOverrides { servers: &o.dns, search: &o.dns_search };
    let (hosts, resolv) = match mode {
        NetworkMode::Host => {
            let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            hosts.push_str(&files::extra_hosts(&o.extra_hosts));
            let resolv = match o.dns.is_empty() && o.dns_search.is_empty() {
                true => host_resolv,
                false => files::resolv_conf(&host_resolv, None, dns),
            };
            (hosts, resolv)
        }
        _ => (
            files::hosts(&hostname(rec), &settings, &o.extra_hosts),
            files::resolv_conf(&host_resolv, files::resolver_for(&settings), dns),
        ),
    };
    let [(_, hosts_path), (_, resolv_path), _] = etc_files(dir);
    write_in_place(rec, &hosts_path, &hosts)?;
    write_in_place(rec, &resolv_path, &resolv)
}

fn write_in_place(rec: &ContainerRecord, path: &Path, text: &str) -> Result<(), MonitorError> {
    files::rewrite_in_place(path, text).map_err(|source| MonitorError::Io {
        id: rec.id.clone(),
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}
