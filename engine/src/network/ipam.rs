//! Address management: a container's endpoint on a network (address, MAC, veth name, aliases, published
//! ports), allocated in one IMMEDIATE transaction so berth processes starting containers at once never
//! hand out the same address or host port, and released on detach.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use rusqlite::{Row, Transaction, params};
use sha2::{Digest, Sha256};

use super::records::{NetworkRecord, write_tx};
use super::{ContainerRef, EndpointSettings, NetworkError, NetworkRequest, PortMapping};
use crate::store::Store;

/// A container's place on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    pub container_id: String,
    pub container_name: String,
    pub address: Ipv4Addr,
    pub mac: String,
    /// The host end of the veth pair, named from the network and container ids.
    pub host_veth: String,
    /// The container end: eth0, eth1 ...
    pub ifname: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
}

impl Endpoint {
    /// Stable id for `inspect`, derived from the network and the container.
    pub fn endpoint_id(&self) -> String {
        hex::encode(Sha256::digest(format!("{}/{}", self.network_id, self.container_id)))
    }

    pub fn settings(&self, network: &NetworkRecord) -> EndpointSettings {
        let mut dns_names = vec![self.container_name.clone(), self.container_id.chars().take(12).collect()];
        dns_names.extend(self.aliases.iter().cloned());
        let mut seen = HashSet::new();
        dns_names.retain(|n| seen.insert(n.clone()));
        EndpointSettings {
            aliases: self.aliases.clone(),
            network_id: network.id.clone(),
            endpoint_id: self.endpoint_id(),
            gateway: network.gateway.to_string(),
            ip_address: self.address.to_string(),
            ip_prefix_len: network.subnet.prefix_len(),
            mac_address: self.mac.clone(),
            dns_names: if network.dns { dns_names } else { Vec::new() },
        }
    }
}

/// `vb` + 11 hex digits: fits IFNAMSIZ, and teardown can find it from the ids alone.
fn veth_name(network_id: &str, container_id: &str) -> String {
    let hash = hex::encode(Sha256::digest(format!("{network_id}/{container_id}")));
    format!("vb{}", &hash[..11])
}

/// Locally administered, derived from the address as Docker does, so a reused address keeps one MAC.
fn mac_for(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

const COLUMNS: &str = "network_id, container_id, container_name, address, mac, host_veth, ifname, aliases";

fn from_row(row: &Row) -> rusqlite::Result<Endpoint> {
    let bad = |i: usize, e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    Ok(Endpoint {
        network_id: row.get(0)?,
        container_id: row.get(1)?,
        container_name: row.get(2)?,
        address: row.get::<_, String>(3)?.parse().map_err(|e: std::net::AddrParseError| bad(3, e.to_string()))?,
        mac: row.get(4)?,
        host_veth: row.get(5)?,
        ifname: row.get(6)?,
        aliases: serde_json::from_str(&row.get::<_, String>(7)?).map_err(|e| bad(7, e.to_string()))?,
        ports: Vec::new(),
    })
}

fn load_ports(tx: &rusqlite::Connection, store: &Store, endpoint: &mut Endpoint) -> Result<(), NetworkError> {
    let mut stmt = tx
        .prepare(
            "SELECT host_ip, host_port, container_port, protocol FROM port_mappings
             WHERE network_id = ?1 AND container_id = ?2 ORDER BY container_port, protocol, host_ip",
        )
        .map_err(|e| store.db_err(e))?;
    let rows = stmt
        .query_map([&endpoint.network_id, &endpoint.container_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, u16>(2)?, r.get::<_, String>(3)?))
        })
        .map_err(|e| store.db_err(e))?;
    for row in rows {
        endpoint.ports.push(port_mapping(row.map_err(|e| store.db_err(e))?)?);
    }
    Ok(())
}

/// A `port_mappings` row's `(host_ip, host_port, container_port, protocol)` as a mapping.
fn port_mapping(
    (ip, host_port, container_port, proto): (String, u16, u16, String),
) -> Result<PortMapping, NetworkError> {
    let corrupt =
        |reason: String| NetworkError::BadPort { spec: format!("{ip}:{host_port}:{container_port}/{proto}"), reason };
    Ok(PortMapping {
        host_ip: ip.parse().map_err(|e: std::net::AddrParseError| corrupt(e.to_string()))?,
        host_port,
        container_port,
        protocol: proto.parse().map_err(corrupt)?,
    })
}

/// Every container's published ports in one query, by container id: what a container list shows. Only
/// attached (running) containers have any.
pub(super) fn published_ports(store: &Store) -> Result<HashMap<String, Vec<PortMapping>>, NetworkError> {
    let conn = store.conn();
    let db = |e| store.db_err(e);
    let mut stmt = conn
        .prepare(
            "SELECT container_id, host_ip, host_port, container_port, protocol FROM port_mappings
             ORDER BY container_id, container_port, protocol, host_ip",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            let port = (r.get::<_, String>(1)?, r.get::<_, u16>(2)?, r.get::<_, u16>(3)?, r.get::<_, String>(4)?);
            Ok((r.get::<_, String>(0)?, port))
        })
        .map_err(db)?;
    let mut ports: HashMap<String, Vec<PortMapping>> = HashMap::new();
    for row in rows {
        let (container, port) = row.map_err(db)?;
        ports.entry(container).or_default().push(port_mapping(port)?);
    }
    Ok(ports)
}

fn query(conn: &rusqlite::Connection, store: &Store, filter: &str, arg: &str) -> Result<Vec<Endpoint>, NetworkError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM network_endpoints WHERE {filter} = ?1 ORDER BY ifname, container_name"
        ))
        .map_err(|e| store.db_err(e))?;
    let rows = stmt.query_map([arg], from_row).map_err(|e| store.db_err(e))?;
    let mut endpoints: Vec<Endpoint> = rows.collect::<Result<_, _>>().map_err(|e| store.db_err(e))?;
    for e in &mut endpoints {
        load_ports(conn, store, e)?;
    }
    Ok(endpoints)
}

pub(super) fn endpoints_of_network(store: &Store, network_id: &str) -> Result<Vec<Endpoint>, NetworkError> {
    query(&store.conn(), store, "network_id", network_id)
}

pub(super) fn endpoints_of_container(store: &Store, container_id: &str) -> Result<Vec<Endpoint>, NetworkError> {
    query(&store.conn(), store, "container_id", container_id)
}

/// Records the container on the network with the lowest free address and its ports; fails when the
/// container is already there, the subnet is full, or another container holds one of the host ports.
pub(super) fn allocate(
    store: &Store,
    network: &NetworkRecord,
    container: ContainerRef<'_>,
    request: &NetworkRequest,
    ports: &[PortMapping],
) -> Result<Endpoint, NetworkError> {
    write_tx(store, |tx| {
        let db = |e| store.db_err(e);
        let mine = query(tx, store, "container_id", container.id)?;
        if mine.iter().any(|e| e.network_id == network.id) {
            return Err(NetworkError::AlreadyConnected {
                container: container.name.into(),
                network: network.name.clone(),
            });
        }
        check_ports(tx, store, container, ports)?;
        let used: HashSet<Ipv4Addr> = {
            let mut stmt = tx.prepare("SELECT address FROM network_endpoints WHERE network_id = ?1").map_err(db)?;
            let rows = stmt.query_map([&network.id], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.filter_map(|r| r.ok().and_then(|a| a.parse().ok())).collect()
        };
        let address = match request.ipv4_address {
            Some(fixed) => fixed_address(network, container, fixed, &used)?,
            None => network.subnet.hosts().find(|a| *a != network.gateway && !used.contains(a)).ok_or_else(|| {
                NetworkError::AddressesExhausted {
                    network: network.name.clone(),
                    subnet: network.subnet,
                    container: container.name.into(),
                }
            })?,
        };
        let taken: HashSet<&str> = mine.iter().map(|e| e.ifname.as_str()).collect();
        let ifname = (0..).map(|n| format!("eth{n}")).find(|n| !taken.contains(n.as_str())).unwrap_or_default();
        let endpoint = Endpoint {
            network_id: network.id.clone(),
            container_id: container.id.into(),
            container_name: container.name.into(),
            address,
            mac: mac_for(address),
            host_veth: veth_name(&network.id, container.id),
            ifname,
            aliases: request.aliases.clone(),
            ports: ports.to_vec(),
        };
        insert(tx, store, &endpoint)?;
        Ok(endpoint)
    })
}

/// A requested address, if it is a host address of the subnet other than the gateway and free.
fn fixed_address(
    network: &NetworkRecord,
    container: ContainerRef<'_>,
    address: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Result<Ipv4Addr, NetworkError> {
    let subnet = network.subnet;
    let host = subnet.contains(&address) && address != subnet.network() && address != subnet.broadcast();
    if !host {
        return Err(NetworkError::AddressOutsideSubnet {
            network: network.name.clone(),
            address,
            subnet,
            container: container.name.into(),
        });
    }
    if address == network.gateway || used.contains(&address) {
        return Err(NetworkError::AddressInUse {
            network: network.name.clone(),
            address,
            container: container.name.into(),
        });
    }
    Ok(address)
}

fn check_ports(
    tx: &Transaction,
    store: &Store,
    container: ContainerRef<'_>,
    ports: &[PortMapping],
) -> Result<(), NetworkError> {
    if ports.is_empty() {
        return Ok(());
    }
    let db = |e| store.db_err(e);
    let mut stmt = tx
        .prepare(
            "SELECT p.host_ip, p.host_port, p.protocol, e.container_name FROM port_mappings p
             JOIN network_endpoints e USING (network_id, container_id)",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .map_err(db)?;
    for row in rows {
        let (ip, host_port, proto, holder) = row.map_err(db)?;
        let (Ok(host_ip), Ok(protocol)) = (ip.parse(), proto.parse()) else { continue };
        let existing = PortMapping { host_ip, host_port, container_port: 0, protocol };
        if let Some(clash) = ports.iter().find(|p| p.clashes(&existing)) {
            return Err(NetworkError::PortTaken {
                binding: format!("{}:{}/{}", clash.host_ip, clash.host_port, clash.protocol.as_str()),
                container: container.name.into(),
                holder: format!("container {holder}"),
            });
        }
    }
    Ok(())
}

fn insert(tx: &Transaction, store: &Store, e: &Endpoint) -> Result<(), NetworkError> {
    let db = |err| store.db_err(err);
    let aliases = serde_json::to_string(&e.aliases).unwrap_or_else(|_| "[]".into());
    tx.execute(
        &format!("INSERT INTO network_endpoints ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            e.network_id,
            e.container_id,
            e.container_name,
            e.address.to_string(),
            e.mac,
            e.host_veth,
            e.ifname,
            aliases
        ],
    )
    .map_err(db)?;
    for p in &e.ports {
        tx.execute(
            "INSERT INTO port_mappings (network_id, container_id, host_ip, host_port, container_port, protocol)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                e.network_id,
                e.container_id,
                p.host_ip.to_string(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ],
        )
        .map_err(db)?;
    }
    Ok(())
}

/// Frees the container's address and ports on one network.
pub(super) fn release(store: &Store, network_id: &str, container_id: &str) -> Result<(), NetworkError> {
    write_tx(store, |tx| {
        tx.execute(
            "DELETE FROM network_endpoints WHERE network_id = ?1 AND container_id = ?2",
            [network_id, container_id],
        )
        .map_err(|e| store.db_err(e))?;
        Ok(())
    })
}

/// A container name, id prefix (12) or alias on a network → its address.
pub(super) fn resolve(store: &Store, network_id: &str, name: &str) -> Result<Option<Ipv4Addr>, NetworkError> {
    let name = name.trim_end_matches('.');
    let endpoints = endpoints_of_network(store, network_id)?;
    let hit = endpoints.iter().find(|e| {
        e.container_name.eq_ignore_ascii_case(name)
            || (name.len() >= 12 && e.container_id.starts_with(&name.to_ascii_lowercase()))
            || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    });
    Ok(hit.map(|e| e.address))
}

#[cfg(test)]
mod tests {
    use super::super::records::{NetworkCreate, create, ensure_default, find};
    use super::super::{NetworkConfig, Protocol};
    use super::*;

    fn setup(subnet: &str) -> (tempfile::TempDir, Store, NetworkRecord) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cfg = NetworkConfig {
            default_bridge: "bt0".into(),
            default_subnet: "10.66.0.0/16".parse().unwrap(),
            pool: "10.67.0.0/16".parse().unwrap(),
            firewall_table: "berth_unit".into(),
            firewall_driver: "none".into(),
            config_file: None,
        };
        ensure_default(&store, &cfg).unwrap();
        let req = NetworkCreate { name: "n".into(), subnet: Some(subnet.parse().unwrap()), ..Default::default() };
        let net = create(&store, &cfg, &req, &[]).unwrap();
        assert_eq!(find(&store, "n").unwrap(), net);
        (dir, store, net)
    }

    fn ctr(id: &str) -> ContainerRef<'_> {
        ContainerRef { id, name: id }
    }

    #[test]
    fn addresses_skip_the_gateway_are_reused_after_release_and_run_out_cleanly() {
        let (_dir, store, net) = setup("10.70.0.0/29");
        let got: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|id| allocate(&store, &net, ctr(id), &NetworkRequest::default(), &[]).unwrap().address.to_string())
            .collect();
        assert_eq!(got, ["10.70.0.2", "10.70.0.3", "10.70.0.4", "10.70.0.5", "10.70.0.6"]);
        let err = allocate(&store, &net, ctr("f"), &NetworkRequest::default(), &[]).unwrap_err();
        assert!(matches!(err, NetworkError::AddressesExhausted { .. }), "{err}");
        assert!(matches!(
            allocate(&store, &net, ctr("a"), &NetworkRequest::default(), &[]),
            Err(NetworkError::AlreadyConnected { .. })
        ));
        release(&store, &net.id, "b").unwrap();
        let again = allocate(
            &store,
            &net,
            ctr("f"),
            &NetworkRequest { aliases: vec!["web".into()], ..NetworkRequest::default() },
            &[],
        )
        .unwrap();
        assert_eq!((again.address.to_string(), again.mac.as_str()), ("10.70.0.3".into(), "02:42:0a:46:00:03"));
        assert_eq!(resolve(&store, &net.id, "WEB.").unwrap(), Some(again.address));
        assert_eq!(resolve(&store, &net.id, "b").unwrap(), None);
        assert!(again.host_veth.len() <= 15 && again.ifname == "eth0");
    }

    #[test]
    fn a_fixed_address_is_taken_when_it_is_a_free_host_address_of_the_subnet() {
        let (_dir, store, net) = setup("10.73.0.0/24");
        let at = |ip: &str| NetworkRequest { ipv4_address: Some(ip.parse().unwrap()), ..NetworkRequest::default() };
        assert_eq!(allocate(&store, &net, ctr("a"), &at("10.73.0.50"), &[]).unwrap().address.to_string(), "10.73.0.50");
        let taken = allocate(&store, &net, ctr("b"), &at("10.73.0.50"), &[]).unwrap_err();
        assert!(matches!(taken, NetworkError::AddressInUse { .. }), "{taken}");
        assert!(taken.to_string().contains("container b"), "{taken}");
        let gateway = allocate(&store, &net, ctr("b"), &at("10.73.0.1"), &[]).unwrap_err();
        assert!(matches!(gateway, NetworkError::AddressInUse { .. }), "{gateway}");
        for outside in ["10.74.0.5", "10.73.0.0", "10.73.0.255"] {
            let err = allocate(&store, &net, ctr("b"), &at(outside), &[]).unwrap_err();
            assert!(matches!(err, NetworkError::AddressOutsideSubnet { .. }), "{outside}: {err}");
        }
        assert_eq!(
            allocate(&store, &net, ctr("b"), &NetworkRequest::default(), &[]).unwrap().address.to_string(),
            "10.73.0.2"
        );
    }

    #[test]
    fn a_host_port_belongs_to_one_container_and_comes_back_on_release() {
        let (_dir, store, net) = setup("10.71.0.0/24");
        let p = |spec: &str| PortMapping::parse(spec).unwrap();
        let a =
            allocate(&store, &net, ctr("a"), &NetworkRequest::default(), &[p("127.0.0.1:18080:80"), p("18081:81/udp")])
                .unwrap();
        assert_eq!(endpoints_of_container(&store, "a").unwrap()[0].ports, a.ports);
        let err =
            allocate(&store, &net, ctr("b"), &NetworkRequest::default(), &[p("18080:80")]).unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:18080/tcp") && err.contains("container a"), "{err}");
        let other_proto = allocate(&store, &net, ctr("c"), &NetworkRequest::default(), &[p("18080:80/udp")]).unwrap();
        assert_eq!(other_proto.ports[0].protocol, Protocol::Udp);
        release(&store, &net.id, "a").unwrap();
        allocate(&store, &net, ctr("b"), &NetworkRequest::default(), &[p("18080:80")]).unwrap();
    }

    #[test]
    fn one_query_lists_every_containers_ports_in_order() {
        let (_dir, store, net) = setup("10.72.0.0/24");
        let p = |spec: &str| PortMapping::parse(spec).unwrap();
        allocate(
            &store,
            &net,
            ctr("a"),
            &NetworkRequest::default(),
            &[p("18091:91"), p("127.0.0.1:18090:90"), p("18090:90/udp")],
        )
        .unwrap();
        allocate(&store, &net, ctr("b"), &NetworkRequest::default(), &[p("18092:92")]).unwrap();
        allocate(&store, &net, ctr("c"), &NetworkRequest::default(), &[]).unwrap();
        let ports = published_ports(&store).unwrap();
        let shown = |id: &str| ports[id].iter().map(PortMapping::ps_form).collect::<Vec<_>>();
        assert_eq!(shown("a"), ["127.0.0.1:18090->90/tcp", "0.0.0.0:18090->90/udp", "0.0.0.0:18091->91/tcp"]);
        assert_eq!(shown("b"), ["0.0.0.0:18092->92/tcp"]);
        assert!(!ports.contains_key("c"), "no ports, no entry");
        release(&store, &net.id, "a").unwrap();
        assert!(!published_ports(&store).unwrap().contains_key("a"), "detached containers publish nothing");
    }
}
