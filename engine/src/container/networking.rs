//! A container's networks seen from the container side: `network connect`/`disconnect` (live when it runs,
//! remembered in its options for the next start), its NetworkSettings, refusing to remove (or prune) a
//! network a container still names, and the network listings the CLI and the TUI show.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{ContainerRecord, Records, reconcile};
use crate::network::{
    ContainerRef, Endpoint, NetworkCreate, NetworkError, NetworkRecord, NetworkRequest, NetworkSettings, PortMapping,
    files,
};
use crate::{Engine, Error};

/// The networks a container's options name (its `--network` or the default bridge, then connected ones);
/// empty for `host`, `none` and another container's network.
fn named_networks(rec: &ContainerRecord) -> Vec<String> {
    let mut names = match rec.options.network.as_deref() {
        Some("host" | "none") => return Vec::new(),
        Some(mode) if mode.starts_with("container:") => return Vec::new(),
        Some(name) => vec![name.to_string()],
        None => vec![crate::network::DEFAULT_NETWORK.to_string()],
    };
    names.extend(rec.options.extra_networks.iter().cloned());
    names
}

impl Engine {
    /// Whether a container's options name this network (by name or id).
    fn names_network(&self, rec: &ContainerRecord, network: &NetworkRecord) -> bool {
        named_networks(rec).iter().any(|n| self.networks().get(n).is_ok_and(|r| r.id == network.id))
    }

    /// `network connect NETWORK CONTAINER`: joins now when the container runs, and at every later start.
    pub fn connect_container(&self, network: &str, container: &str, aliases: &[String]) -> Result<(), Error> {
        let rec = self.container(container)?;
        let net = self.networks().get(network)?;
        let mode = rec.options.network.as_deref().unwrap_or_default();
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return Err(NetworkError::BadConfig {
                name: net.name,
                reason: format!("container {} uses --network {}", rec.name, rec.options.network.unwrap_or_default()),
            }
            .into());
        }
        if self.names_network(&rec, &net) {
            return Err(NetworkError::AlreadyConnected { container: rec.name, network: net.name }.into());
        }
        if rec.status.is_active() && rec.pid > 0 {
            let netns = PathBuf::from(format!("/proc/{}/ns/net", rec.pid));
            let request =
                NetworkRequest { network: net.id.clone(), aliases: aliases.to_vec(), ..NetworkRequest::default() };
            let settings = self.networks().attach(ContainerRef { id: &rec.id, name: &rec.name }, &netns, &[request])?;
            // /proc/self/exe: this berth binary, resolved in the child at exec.
            self.networks().spawn_resolver(std::path::Path::new("/proc/self/exe"), &net)?;
            self.rewrite_hosts(&rec, &settings)?;
        }
        let mut options = rec.options.clone();
        options.extra_networks.push(net.name);
        Records::new(self.store()).set_options(&rec.id, &options)
    }

    /// `network disconnect NETWORK CONTAINER`: leaves now when it runs, and no longer joins at start.
    pub fn disconnect_container(&self, network: &str, container: &str) -> Result<(), Error> {
        let rec = self.container(container)?;
        let net = self.networks().get(network)?;
        if !self.names_network(&rec, &net) {
            return Err(NetworkError::NotConnected { container: rec.name, network: net.name }.into());
        }
        if rec.status.is_active() {
            match self.networks().detach(&rec.id, Some(&net.id)) {
                Ok(()) | Err(NetworkError::NotConnected { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.rewrite_hosts(&rec, &self.networks().settings(&rec.id)?)?;
        }
        let mut options = rec.options.clone();
        let is_net = |n: &String| self.networks().get(n).is_ok_and(|r| r.id == net.id);
        options.extra_networks.retain(|n| !is_net(n));
        let primary = options.network.clone().unwrap_or_else(|| crate::network::DEFAULT_NETWORK.to_string());
        if is_net(&primary) {
            // The first remaining network takes the primary's place; with none left, only lo remains.
            options.network = Some(match options.extra_networks.is_empty() {
                true => "none".to_string(),
                false => options.extra_networks.remove(0),
            });
            options.network_aliases.clear();
            options.publish.clear();
            options.publish_all = false;
        }
        Records::new(self.store()).set_options(&rec.id, &options)
    }

    /// The container's NetworkSettings as `inspect` shows them (addresses only while it runs).
    pub fn container_network_settings(&self, rec: &ContainerRecord) -> Result<NetworkSettings, Error> {
        Ok(self.networks().settings(&rec.id)?)
    }

    /// `network rm`: refused while any container, running or not, names the network.
    pub fn remove_network(&self, name_or_id: &str) -> Result<NetworkRecord, Error> {
        let net = self.networks().get(name_or_id)?;
        let mut users = Vec::new();
        for rec in Records::new(self.store()).all()? {
            let Some(rec) = reconcile::reconcile(self.store(), self.networks(), self.host(), rec)? else {
                continue;
            };
            if self.names_network(&rec, &net) {
                users.push(rec.name);
            }
        }
        if !users.is_empty() && net.name != crate::network::DEFAULT_NETWORK {
            return Err(NetworkError::InUse { network: net.name, containers: users.join(", ") }.into());
        }
        let removed = self.networks().remove(&net.id)?;
        self.record_event(crate::journal::network_event("destroy", &removed));
        Ok(removed)
    }

    /// `network prune`: removes every user network no container names, running or not (as `remove_network`
    /// refuses them); returns their names.
    pub fn prune_networks(&self) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        for network in self.networks().list()? {
            if network.name == crate::network::DEFAULT_NETWORK {
                continue;
            }
            match self.remove_network(&network.id) {
                Ok(record) => removed.push(record.name),
                // Named by a container, or one attached meanwhile: it stays, as prune promises.
                Err(Error::Network(e)) if matches!(*e, NetworkError::InUse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.record_event(crate::journal::prune_event(crate::journal::EventType::Network, None));
        Ok(removed)
    }

    /// `network create`.
    pub fn create_network(&self, request: &NetworkCreate) -> Result<NetworkRecord, Error> {
        let network = self.networks().create(request)?;
        self.record_event(crate::journal::network_event("create", &network));
        Ok(network)
    }

    /// `network ls`: every network of this root.
    pub fn list_networks(&self) -> Result<Vec<NetworkRecord>, Error> {
        Ok(self.networks().list()?)
    }

    /// `network inspect`: one network as docker shows it.
    pub fn inspect_network(&self, name_or_id: &str) -> Result<serde_json::Value, Error> {
        Ok(self.networks().inspect(name_or_id)?)
    }

    /// Every network with the endpoints attached to it now, as lists show them.
    pub fn networks_with_endpoints(&self) -> Result<Vec<(NetworkRecord, Vec<Endpoint>)>, Error> {
        let networks = self.networks();
        let mut all = Vec::new();
        for record in networks.list()? {
            let endpoints = networks.endpoints(&record)?;
            all.push((record, endpoints));
        }
        Ok(all)
    }

    /// Every container's published ports by container id, in one query (lists refresh every second).
    pub fn published_ports(&self) -> Result<HashMap<String, Vec<PortMapping>>, Error> {
        Ok(self.networks().published_ports()?)
    }

    /// Rewrites a running container's /etc/hosts after its networks changed (in place: it is bind-mounted).
    fn rewrite_hosts(&self, rec: &ContainerRecord, settings: &NetworkSettings) -> Result<(), Error> {
        let path = rec.dir(self.store().root()).join("hosts");
        let hostname = rec.options.hostname.clone().unwrap_or_else(|| rec.short_id().to_string());
        let io = |source| super::ContainerError::Io { id: rec.id.clone(), action: "write", path: path.clone(), source };
        files::rewrite_in_place(&path, &files::hosts(&hostname, settings, &rec.options.extra_hosts)).map_err(io)?;
        Ok(())
    }
}
