//! Container networks: Linux bridges, veth pairs, addresses from berth's IPAM, NAT and published ports in
//! berth's own nftables table, /etc/hosts and resolv.conf, and a name resolver for user networks.
//!
//! ```text
//! host netns                                         container netns
//!   berth0 (bridge, gateway 10.66.0.1/16) ── vb<hash> ═══ eth0 10.66.0.2/16, default via 10.66.0.1
//!   table inet berth: DNAT for published ports (prerouting + output, fib daddr type local),
//!                     masquerade out of each network, forward isolation between networks
//! ```
//! Records (networks, endpoints, port mappings) live in the state database; the kernel objects are derived
//! from them and named deterministically, so a new berth process finds what an earlier one made, and
//! teardown works from the database alone even after the container's netns is gone. Bridges and rules are
//! host-wide while records are per state root, so each root marks what it makes (`owner.rs`) and leaves
//! other live roots' objects alone.

mod bridge;
pub mod dns;
pub mod files;
pub mod firewall;
mod ipam;
#[cfg(feature = "testing")]
pub mod netlink;
#[cfg(not(feature = "testing"))]
mod netlink;
mod owner;
mod ports;
#[cfg(test)]
mod proptests;
mod records;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde::Serialize;
use thiserror::Error;

use crate::config::Config;
use crate::store::{Store, StoreError};
use firewall::{FirewallDriver, FirewallError};
pub use netlink::NetlinkError;

pub use ipam::Endpoint;
pub use owner::Owner;
pub use ports::{PortMapping, Protocol};
pub use records::{NetworkCreate, NetworkRecord};

/// How often an idle resolver checks whether its network still has containers.
const RESOLVER_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// The name of the network containers join when they name none.
pub const DEFAULT_NETWORK: &str = "bridge";

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network {network}: {source}")]
    Netlink { network: String, source: NetlinkError },
    #[error("network {network}: {source}")]
    Firewall { network: String, source: FirewallError },
    #[error("network {network}: bridge {bridge} belongs to the berth state root {owner}; {advice}")]
    BridgeTaken { network: String, bridge: String, owner: PathBuf, advice: String },
    #[error(
        "network {network}: subnet {subnet} overlaps {other} on bridge {bridge} of the berth state root {owner}; {advice}"
    )]
    SubnetTaken { network: String, subnet: Ipv4Net, other: Ipv4Net, bridge: String, owner: PathBuf, advice: String },
    #[error(transparent)]
    FirewallDriver(FirewallError),
    #[error("network {name} not found")]
    NotFound { name: String },
    #[error("network with name {name} already exists")]
    NameTaken { name: String },
    #[error("invalid network name {name:?}: use letters, digits, '_', '.', '-' (starting with a letter or digit)")]
    BadName { name: String },
    #[error("network {name}: {reason}")]
    BadConfig { name: String, reason: String },
    #[error("network {name}: subnet {subnet} overlaps network {other} ({other_subnet})")]
    SubnetOverlap { name: String, subnet: Ipv4Net, other: String, other_subnet: Ipv4Net },
    #[error("no free subnet left in the pool {pool} for network {name}")]
    PoolExhausted { name: String, pool: Ipv4Net },
    #[error("network {network}: no free address left in {subnet} for container {container}")]
    AddressesExhausted { network: String, subnet: Ipv4Net, container: String },
    #[error("network {network}: address {address} for container {container} is not in subnet {subnet}")]
    AddressOutsideSubnet { network: String, address: Ipv4Addr, subnet: Ipv4Net, container: String },
    #[error("network {network}: address {address} for container {container} is already in use")]
    AddressInUse { network: String, address: Ipv4Addr, container: String },
    #[error("network {network} has active endpoints ({containers})")]
    InUse { network: String, containers: String },
    #[error("{name} is a pre-defined network and cannot be removed")]
    Predefined { name: String },
    #[error("container {container} is already connected to network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("invalid port mapping {spec:?}: {reason}")]
    BadPort { spec: String, reason: String },
    #[error("cannot publish {binding} for container {container}: the port is already allocated by {holder}")]
    PortTaken { binding: String, container: String, holder: String },
    #[error("cannot publish {binding} for container {container}: {reason}")]
    PortUnavailable { binding: String, container: String, reason: String },
    #[error("--network {mode} does not take {what}")]
    ModeTakesNoOptions { mode: &'static str, what: &'static str },
    #[error("invalid --network container: no container named (expected container:NAME)")]
    NoContainerName,
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("tearing down the network of container {container}: {}", join(errors))]
    Teardown { container: String, errors: Vec<NetworkError> },
    #[error("removing network {network}: {}", join(errors))]
    RemoveIncomplete { network: String, errors: Vec<NetworkError> },
}

fn join(errors: &[NetworkError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Names and addresses for the kernel objects of one berth state root.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Linux bridge of the default `bridge` network.
    pub default_bridge: String,
    pub default_subnet: Ipv4Net,
    /// User networks created without `--subnet` get the first free /24 of this pool.
    pub pool: Ipv4Net,
    /// berth's own nftables table (family inet); no other table is touched.
    pub firewall_table: String,
    /// "nftables", or "none" to leave the firewall alone (no NAT, no published ports).
    pub firewall_driver: String,
    /// The config file these come from, named when a setting must change.
    pub config_file: Option<PathBuf>,
}

impl NetworkConfig {
    pub fn from_config(config: &Config) -> NetworkConfig {
        NetworkConfig {
            default_bridge: config.network_default_bridge.clone(),
            default_subnet: config.network_default_subnet,
            pool: config.network_pool,
            firewall_table: config.network_firewall_table.clone(),
            firewall_driver: config.network_firewall_driver.clone(),
            config_file: config.path.clone(),
        }
    }
}

/// The container a network request is for.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// One network a container joins, as `--network`, `--network-alias` and `-p` ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    /// Network name or id (or an unambiguous id prefix).
    pub network: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// A fixed address (`--ip`, compose's `ipv4_address`); None takes the first free one.
    pub ipv4_address: Option<Ipv4Addr>,
}

/// How a container is networked, from `--network`, `--network-alias` and `-p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// The host's namespace: the runtime creates no network namespace, berth wires nothing.
    Host,
    /// A namespace with only `lo`.
    None,
    /// A namespace joined to these networks (the first one gets the published ports).
    Networks(Vec<NetworkRequest>),
    /// `container:NAME`: another container's namespace, joined as it is; berth wires nothing.
    Container(String),
}

impl NetworkMode {
    /// `network` is `--network` (None: the default bridge); `host` and `none` take no aliases or ports.
    pub fn from_flags(
        network: Option<&str>,
        aliases: &[String],
        ports: &[PortMapping],
    ) -> Result<NetworkMode, NetworkError> {
        let mode = match network {
            Some("host") => Some(("host", NetworkMode::Host)),
            Some("none") => Some(("none", NetworkMode::None)),
            Some(other) => match other.strip_prefix("container:") {
                Some("") => return Err(NetworkError::NoContainerName),
                Some(target) => Some(("container", NetworkMode::Container(target.to_string()))),
                None => None,
            },
            None => None,
        };
        if let Some((name, mode)) = mode {
            if !ports.is_empty() {
                return Err(NetworkError::ModeTakesNoOptions { mode: name, what: "published ports" });
            }
            if !aliases.is_empty() {
                return Err(NetworkError::ModeTakesNoOptions { mode: name, what: "network aliases" });
            }
            return Ok(mode);
        }
        Ok(NetworkMode::Networks(vec![NetworkRequest {
            network: network.unwrap_or(DEFAULT_NETWORK).to_string(),
            aliases: aliases.to_vec(),
            ports: ports.to_vec(),
            ipv4_address: None,
        }]))
    }

    /// Whether the runtime must give the container its own network namespace.
    pub fn needs_netns(&self) -> bool {
        !matches!(self, NetworkMode::Host | NetworkMode::Container(_))
    }
}

/// A published port as `inspect` shows it under `Ports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// One network of a container, as Docker's `NetworkSettings.Networks.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    pub aliases: Vec<String>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    #[serde(rename = "DNSNames")]
    pub dns_names: Vec<String>,
}

/// A container's networks as Docker's `inspect` shows `NetworkSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// `"80/tcp"` → host bindings.
    pub ports: BTreeMap<String, Vec<PortBinding>>,
    /// Address of the first network (Docker's top-level fields describe the default bridge).
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// Networks of one state root: records in the store, kernel objects through netlink and the firewall driver.
pub struct Networks {
    store: Arc<Store>,
    config: NetworkConfig,
    firewall: Box<dyn FirewallDriver>,
    /// This root as the owner of bridges and rules; read (or made) when the first one is touched.
    owner: std::sync::OnceLock<Owner>,
}

impl Networks {
    pub fn new(store: Arc<Store>, config: NetworkConfig) -> Result<Networks, NetworkError> {
        let firewall = firewall::driver(&config.firewall_driver, &config.firewall_table, owner::HOST_LOCK.into())
            .map_err(NetworkError::FirewallDriver)?;
        Ok(Networks { store, config, firewall, owner: std::sync::OnceLock::new() })
    }

    /// The same networks over a database connection of their own, for a forked process: a connection
    /// carried over a fork must not be used.
    pub(crate) fn reopened(&self) -> Result<Networks, crate::Error> {
        let store = Arc::new(Store::open(self.store.root())?);
        Ok(Networks::new(store, self.config.clone())?)
    }

    fn owner(&self) -> Result<&Owner, NetworkError> {
        if let Some(owner) = self.owner.get() {
            return Ok(owner);
        }
        let root = self.store.root();
        let owner = Owner::claim(root, Path::new(owner::REGISTRY)).map_err(|source| NetworkError::Io {
            op: "claim network ownership for the state root",
            path: root.into(),
            source,
        })?;
        Ok(self.owner.get_or_init(|| owner))
    }

    /// Holds the lock every berth process of every root takes to change host-wide network objects.
    fn host_lock(&self) -> Result<crate::store::lock::LockGuard, NetworkError> {
        let path = Path::new(owner::HOST_LOCK);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| NetworkError::Io {
                op: "create",
                path: dir.into(),
                source,
            })?;
        }
        Ok(crate::store::lock::exclusive(path)?)
    }

    /// What to change when a bridge or subnet belongs to another root.
    fn advice(&self, network: &NetworkRecord, subnet: bool) -> String {
        if network.name != DEFAULT_NETWORK {
            let with = if subnet { " with another --subnet" } else { "" };
            return format!("remove network {} and create it again{with}", network.name);
        }
        let file = match &self.config.config_file {
            Some(path) => format!("in {}", path.display()),
            None => "in its config file (BERTH_CONFIG)".into(),
        };
        let root = self.store.root().display();
        match subnet {
            true => format!("give the state root {root} its own network_default_subnet {file}"),
            false => {
                format!("give the state root {root} its own network_default_bridge and network_default_subnet {file}")
            }
        }
    }

    /// Makes the network's bridge ready, as this root's.
    fn ensure_bridge(&self, network: &NetworkRecord) -> Result<(), NetworkError> {
        let owner = self.owner()?;
        let _host = self.host_lock()?;
        bridge::ensure(&bridge::RealKernel, network, owner).map_err(|e| match e {
            bridge::BridgeError::Netlink(source) => NetworkError::Netlink { network: network.name.clone(), source },
            bridge::BridgeError::Taken { bridge, owner } => NetworkError::BridgeTaken {
                network: network.name.clone(),
                bridge,
                owner,
                advice: self.advice(network, false),
            },
            bridge::BridgeError::SubnetTaken { subnet, other, bridge, owner } => NetworkError::SubnetTaken {
                network: network.name.clone(),
                subnet,
                other,
                bridge,
                owner,
                advice: self.advice(network, true),
            },
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Creates a user network (records only; its bridge appears when the first container joins).
    pub fn create(&self, req: &NetworkCreate) -> Result<NetworkRecord, NetworkError> {
        self.ensure_default()?;
        // Other berth networks are avoided in the database; the host's own routes only the kernel knows.
        let routes = match req.subnet {
            Some(_) => Vec::new(),
            None => netlink::Socket::open()
                .and_then(|mut s| s.routes())
                .map_err(|source| NetworkError::Netlink { network: req.name.clone(), source })?,
        };
        records::create(&self.store, &self.config, req, &routes)
    }

    /// All networks, the default one first.
    pub fn list(&self) -> Result<Vec<NetworkRecord>, NetworkError> {
        self.ensure_default()?;
        records::list(&self.store)
    }

    /// A network by name, id or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<NetworkRecord, NetworkError> {
        self.ensure_default()?;
        records::find(&self.store, name_or_id)
    }

    /// Containers attached to a network.
    pub fn endpoints(&self, network: &NetworkRecord) -> Result<Vec<Endpoint>, NetworkError> {
        ipam::endpoints_of_network(&self.store, &network.id)
    }

    /// Docker-shaped `network inspect` document.
    pub fn inspect(&self, name_or_id: &str) -> Result<serde_json::Value, NetworkError> {
        let network = self.get(name_or_id)?;
        let endpoints = self.endpoints(&network)?;
        Ok(records::inspect_json(&network, &endpoints))
    }

    /// Removes a user network and its bridge and rules; refused while containers are attached.
    pub fn remove(&self, name_or_id: &str) -> Result<NetworkRecord, NetworkError> {
        let network = self.get(name_or_id)?;
        if network.name == DEFAULT_NETWORK {
            return Err(NetworkError::Predefined { name: network.name });
        }
        records::delete_unused(&self.store, &network)?;
        self.teardown_network(&network)?;
        Ok(network)
    }

    /// The runtime's one call once the container's namespace exists: nothing for `host`, `lo` up for
    /// `none`, otherwise `attach`.
    pub fn setup(
        &self,
        container: ContainerRef<'_>,
        netns: &Path,
        mode: &NetworkMode,
    ) -> Result<NetworkSettings, NetworkError> {
        match mode {
            NetworkMode::Host | NetworkMode::Container(_) => Ok(NetworkSettings::default()),
            NetworkMode::None => {
                loopback_up(Some(netns))?;
                Ok(NetworkSettings::default())
            }
            NetworkMode::Networks(requests) => self.attach(container, netns, requests),
        }
    }

    /// Connects a container whose network namespace is `netns` (a path such as `/proc/PID/ns/net`) to each
    /// requested network: a veth pair with `eth<N>` inside, an address, the default route via the first
    /// network's gateway, and DNAT rules for its published ports.
    pub fn attach(
        &self,
        container: ContainerRef<'_>,
        netns: &Path,
        requests: &[NetworkRequest],
    ) -> Result<NetworkSettings, NetworkError> {
        let mut joined: Vec<String> = Vec::new();
        for req in requests {
            match self.attach_one(container, netns, req) {
                Ok(network_id) => joined.push(network_id),
                Err(e) => {
                    // Leave nothing half-made: the container gets all the networks of this call or none of
                    // them (networks it had before stay).
                    for network_id in &joined {
                        let _ = self.detach(container.id, Some(network_id));
                    }
                    return Err(e);
                }
            }
        }
        self.settings(container.id)
    }

    /// Joins one network; returns its id.
    fn attach_one(
        &self,
        container: ContainerRef<'_>,
        netns: &Path,
        req: &NetworkRequest,
    ) -> Result<String, NetworkError> {
        let network = self.get(&req.network)?;
        if network.internal && !req.ports.is_empty() {
            return Err(NetworkError::BadConfig {
                name: network.name.clone(),
                reason: "an internal network cannot publish ports".into(),
            });
        }
        let ports = ports::reserve_host_ports(&req.ports, container.name)?;
        let endpoint = ipam::allocate(&self.store, &network, container, req, &ports)?;
        if let Err(e) = self.wire(&network, &endpoint, netns) {
            let _ = self.unwire(&network, &endpoint, true);
            let _ = ipam::release(&self.store, &network.id, container.id);
            return Err(e);
        }
        let event = crate::journal::network_event("connect", &network).attr("container", container.id);
        crate::journal::record(self.store.root(), event);
        Ok(network.id)
    }

    fn wire(&self, network: &NetworkRecord, endpoint: &Endpoint, netns: &Path) -> Result<(), NetworkError> {
        let fw = |source| NetworkError::Firewall { network: network.name.clone(), source };
        self.ensure_bridge(network)?;
        let owner = self.owner()?;
        self.firewall.ensure_network(owner, network).map_err(fw)?;
        bridge::connect(&bridge::RealKernel, network, endpoint, netns)
            .map_err(|source| NetworkError::Netlink { network: network.name.clone(), source })?;
        self.firewall.add_ports(owner, endpoint).map_err(fw)
    }

    /// Removes the endpoint's port rules and, with `links`, its veth.
    fn unwire(&self, network: &NetworkRecord, endpoint: &Endpoint, links: bool) -> Vec<NetworkError> {
        let mut errors = Vec::new();
        if links && let Err(source) = bridge::disconnect(&bridge::RealKernel, endpoint) {
            errors.push(NetworkError::Netlink { network: network.name.clone(), source });
        }
        match self.owner() {
            Ok(owner) => {
                if let Err(source) = self.firewall.remove_ports(owner, endpoint) {
                    errors.push(NetworkError::Firewall { network: network.name.clone(), source });
                }
            }
            Err(e) => errors.push(e),
        }
        errors
    }

    /// Disconnects a container from one network, or from all when `network` is None: removes its veth,
    /// its port rules and its addresses. Keeps going past failures and reports every one.
    pub fn detach(&self, container_id: &str, network: Option<&str>) -> Result<(), NetworkError> {
        self.detach_with(container_id, network, true)
    }

    /// `detach` from every network but for the veths, which [`Networks::unplug_in_background`] is deleting.
    pub fn detach_leaving_links(&self, container_id: &str) -> Result<(), NetworkError> {
        self.detach_with(container_id, None, false)
    }

    fn detach_with(&self, container_id: &str, network: Option<&str>, links: bool) -> Result<(), NetworkError> {
        let mut errors = Vec::new();
        let wanted = match network {
            Some(name) => Some(self.get(name)?),
            None => None,
        };
        let endpoints = ipam::endpoints_of_container(&self.store, container_id)?;
        if let Some(w) = &wanted
            && !endpoints.iter().any(|e| e.network_id == w.id)
        {
            return Err(NetworkError::NotConnected { container: container_id.into(), network: w.name.clone() });
        }
        for endpoint in endpoints {
            if wanted.as_ref().is_some_and(|w| w.id != endpoint.network_id) {
                continue;
            }
            let network = match records::find(&self.store, &endpoint.network_id) {
                Ok(net) => {
                    errors.extend(self.unwire(&net, &endpoint, links));
                    Some(net)
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            match ipam::release(&self.store, &endpoint.network_id, container_id) {
                Ok(()) => {
                    if let Some(net) = network {
                        let event = crate::journal::network_event("disconnect", &net).attr("container", container_id);
                        crate::journal::record(self.store.root(), event);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(NetworkError::Teardown { container: container_id.into(), errors }),
        }
    }

    /// Deletes the container's veths on a thread of its own. Deleting a veth waits for the kernel's RCU
    /// grace periods (~10 ms): the monitor overlaps that with libcontainer's delete and joins the thread
    /// before its teardown, whose `detach` then finds them gone (and deletes, reporting, any this failed
    /// on); a disposable container's monitor (`--rm`, a build step) joins it only after answering its exit.
    pub fn unplug_in_background(&self, container_id: &str) -> Option<std::thread::JoinHandle<()>> {
        let endpoints = ipam::endpoints_of_container(&self.store, container_id).ok()?;
        if endpoints.is_empty() {
            return None;
        }
        let unplug = move || {
            for endpoint in &endpoints {
                let _ = bridge::disconnect(&bridge::RealKernel, endpoint);
            }
        };
        std::thread::Builder::new().name("unplug".into()).spawn(unplug).ok()
    }

    /// The container's networks as `inspect` shows them.
    pub fn settings(&self, container_id: &str) -> Result<NetworkSettings, NetworkError> {
        let endpoints = ipam::endpoints_of_container(&self.store, container_id)?;
        let mut settings = NetworkSettings::default();
        for endpoint in &endpoints {
            let network = records::find(&self.store, &endpoint.network_id)?;
            let entry = endpoint.settings(&network);
            if settings.ip_address.is_empty() {
                settings.ip_address = entry.ip_address.clone();
                settings.ip_prefix_len = entry.ip_prefix_len;
                settings.gateway = entry.gateway.clone();
                settings.mac_address = entry.mac_address.clone();
            }
            for port in &endpoint.ports {
                settings.ports.entry(port.container_key()).or_default().push(port.binding());
            }
            settings.networks.insert(network.name.clone(), entry);
        }
        Ok(settings)
    }

    /// The published ports of a container, as `port` lists them.
    pub fn ports(&self, container_id: &str) -> Result<Vec<PortMapping>, NetworkError> {
        Ok(ipam::endpoints_of_container(&self.store, container_id)?.into_iter().flat_map(|e| e.ports).collect())
    }

    /// Every container's published ports by container id, read in one query: what `ps` and the TUI's
    /// container list show. A container has ports only while it is attached (running).
    pub fn published_ports(&self) -> Result<HashMap<String, Vec<PortMapping>>, NetworkError> {
        ipam::published_ports(&self.store)
    }

    /// The address of a container name or alias on a network, for the name resolver.
    pub fn resolve(&self, network_id: &str, name: &str) -> Result<Option<Ipv4Addr>, NetworkError> {
        ipam::resolve(&self.store, network_id, name)
    }

    /// The resolver of a user network, listening on its gateway (the bridge must exist: attach a container
    /// first), answering with the network's containers and relaying other names to the container's `--dns`
    /// servers or else the host's resolvers (or, on an internal network, answering SERVFAIL for them).
    pub fn resolver(&self, network: &NetworkRecord, port: u16) -> Result<dns::Resolver, NetworkError> {
        let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        // An internal network keeps its queries to itself, as it keeps its traffic.
        let upstreams = match network.internal {
            true => Vec::new(),
            false => files::nameservers(&host_conf).into_iter().map(|ip| std::net::SocketAddr::new(ip, 53)).collect(),
        };
        let store = self.store.clone();
        let network_id = network.id.clone();
        let lookup: dns::Lookup = Arc::new(move |name| ipam::resolve(&store, &network_id, name).ok().flatten());
        let resolver =
            dns::Resolver::bind((network.gateway, port).into(), lookup, upstreams)?.only_from(network.subnet);
        if network.internal {
            return Ok(resolver);
        }
        let (store, network_id) = (self.store.clone(), network.id.clone());
        let own: dns::ClientUpstreams = Arc::new(move |client| container_dns(&store, &network_id, client));
        Ok(resolver.with_client_upstreams(own))
    }

    /// Serves a user network's names on its gateway, port 53, while containers are attached: returns once
    /// the network has had no endpoint for two polls in a row. When another resolver already holds the
    /// address it retries briefly (that one may be on its way out), then leaves the work to it.
    /// `listening` is called once the address is served: by this resolver, or by the other one.
    pub fn run_resolver(&self, name_or_id: &str, listening: impl FnOnce()) -> Result<(), NetworkError> {
        let network = self.get(name_or_id)?;
        let mut listening = Some(listening);
        let mut attempts = 0;
        let resolver = loop {
            match self.resolver(&network, 53) {
                Ok(r) => break r,
                Err(NetworkError::Dns(dns::DnsError::Bind { source, .. }))
                    if source.kind() == std::io::ErrorKind::AddrInUse && attempts < 10 =>
                {
                    if let Some(listening) = listening.take() {
                        listening();
                    }
                    attempts += 1;
                    std::thread::sleep(RESOLVER_POLL / 4);
                }
                Err(NetworkError::Dns(dns::DnsError::Bind { source, .. }))
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(listening) = listening.take() {
            listening();
        }
        let idle_polls = std::cell::Cell::new(0);
        let last_check = std::cell::Cell::new(std::time::Instant::now());
        resolver.serve(RESOLVER_POLL, || {
            if last_check.get().elapsed() < RESOLVER_POLL {
                return true;
            }
            last_check.set(std::time::Instant::now());
            let idle = ipam::endpoints_of_network(&self.store, &network.id).map(|e| e.is_empty()).unwrap_or(true);
            idle_polls.set(if idle { idle_polls.get() + 1 } else { 0 });
            idle_polls.get() < 2
        })?;
        Ok(())
    }

    /// Starts `exe __dns ROOT NETWORK` (exe is berth) for networks with name resolution and reaps its first
    /// half, so no zombie stays behind; a resolver already serving the network makes the new one exit.
    pub fn spawn_resolver(&self, exe: &Path, network: &NetworkRecord) -> Result<(), NetworkError> {
        if !network.dns {
            return Ok(());
        }
        Ok(dns::spawn(exe, self.store.root(), &network.id)?)
    }

    /// Removes the network's rules and bridge; a bridge another root marked stays.
    fn teardown_network(&self, network: &NetworkRecord) -> Result<(), NetworkError> {
        let owner = self.owner()?;
        let mut errors = Vec::new();
        if let Err(source) = self.firewall.remove_network(owner, network) {
            errors.push(NetworkError::Firewall { network: network.name.clone(), source });
        }
        let removed = self.host_lock().and_then(|_host| {
            bridge::remove(&bridge::RealKernel, network, owner)
                .map_err(|source| NetworkError::Netlink { network: network.name.clone(), source })
        });
        if let Err(e) = removed {
            errors.push(e);
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(NetworkError::RemoveIncomplete { network: network.name.clone(), errors }),
        }
    }

    /// Records the default network, and follows a config change of its bridge or subnet once it is unused.
    fn ensure_default(&self) -> Result<(), NetworkError> {
        records::ensure_default(&self.store, &self.config)?;
        if let Some(old) = records::outdated_default(&self.store, &self.config)?
            && records::reconfigure_default(&self.store, &old, &self.config)?
        {
            // The old bridge and its rules go; the new ones appear with the next container.
            if let Err(e) = self.teardown_network(&old) {
                tracing::warn!(%e, "removing the previous default bridge");
            }
        }
        Ok(())
    }
}

/// The `--dns` servers of the container at `address` on the network, if it has any.
fn container_dns(store: &Store, network_id: &str, address: Ipv4Addr) -> Option<Vec<std::net::SocketAddr>> {
    let endpoints = ipam::endpoints_of_network(store, network_id).ok()?;
    let endpoint = endpoints.into_iter().find(|e| e.address == address)?;
    let rec = crate::container::Records::new(store).lookup(&endpoint.container_id).ok()??;
    let servers: Vec<std::net::SocketAddr> = rec
        .options
        .dns
        .iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect();
    (!servers.is_empty()).then_some(servers)
}

/// Brings `lo` up in the network namespace at `netns`, or the calling thread's own when `None`: all a
/// container on `none` has.
pub(crate) fn loopback_up(netns: Option<&Path>) -> Result<(), NetworkError> {
    let sock = match netns {
        Some(netns) => netlink::Socket::open_in(netns),
        None => netlink::Socket::open(),
    };
    let up = sock.and_then(|mut sock| sock.set_up("lo"));
    up.map_err(|source| NetworkError::Netlink { network: "none".into(), source })
}
