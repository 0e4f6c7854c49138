//! Network records in the state database: create (with subnet choice and overlap checks), find, list,
//! remove, and Docker's `network inspect` shape.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::json;

use super::ipam::Endpoint;
use super::{DEFAULT_NETWORK, NetworkConfig, NetworkError};
use crate::store::Store;

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// No route out of the network and no published ports.
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// The Linux bridge device.
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    /// Whether containers on it find each other by name (user networks do; the default bridge doesn't).
    pub dns: bool,
    pub labels: BTreeMap<String, String>,
    pub created: String,
}

impl NetworkRecord {
    /// The gateway with the subnet's prefix, as it sits on the bridge.
    pub fn gateway_net(&self) -> Ipv4Net {
        Ipv4Net::new(self.gateway, self.subnet.prefix_len()).unwrap_or(self.subnet)
    }
}

const COLUMNS: &str = "id, name, driver, bridge, subnet, gateway, internal, dns, labels, created";

fn from_row(row: &Row) -> rusqlite::Result<NetworkRecord> {
    let text = |i: usize| row.get::<_, String>(i);
    let bad = |i: usize, e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    Ok(NetworkRecord {
        id: text(0)?,
        name: text(1)?,
        driver: text(2)?,
        bridge: text(3)?,
        subnet: text(4)?.parse().map_err(|e: ipnet::AddrParseError| bad(4, e.to_string()))?,
        gateway: text(5)?.parse().map_err(|e: std::net::AddrParseError| bad(5, e.to_string()))?,
        internal: row.get(6)?,
        dns: row.get(7)?,
        labels: serde_json::from_str(&text(8)?).map_err(|e| bad(8, e.to_string()))?,
        created: text(9)?,
    })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 128
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Checks a requested subnet and gateway and fills in the gateway when none is given.
fn check_subnet(name: &str, subnet: Ipv4Net, gateway: Option<Ipv4Addr>) -> Result<Ipv4Addr, NetworkError> {
    let bad = |reason: String| NetworkError::BadConfig { name: name.into(), reason };
    if subnet.trunc() != subnet {
        return Err(bad(format!("subnet {subnet} has host bits set; did you mean {}?", subnet.trunc())));
    }
    if subnet.prefix_len() > 30 {
        return Err(bad(format!("subnet {subnet} is too small; use a prefix of /30 or shorter")));
    }
    let first = subnet.hosts().next().ok_or_else(|| bad(format!("subnet {subnet} has no host addresses")))?;
    let gateway = gateway.unwrap_or(first);
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(bad(format!("gateway {gateway} is not a host address of subnet {subnet}")));
    }
    Ok(gateway)
}

fn all(tx: &Transaction, store: &Store) -> Result<Vec<NetworkRecord>, NetworkError> {
    let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM networks")).map_err(|e| store.db_err(e))?;
    let rows = stmt.query_map([], from_row).map_err(|e| store.db_err(e))?;
    Ok(rows.collect::<Result<_, _>>().map_err(|e| store.db_err(e))?)
}

fn insert(tx: &Transaction, store: &Store, n: &NetworkRecord) -> Result<(), NetworkError> {
    let labels = serde_json::to_string(&n.labels).unwrap_or_else(|_| "{}".into());
    tx.execute(
        &format!("INSERT INTO networks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            n.id,
            n.name,
            n.driver,
            n.bridge,
            n.subnet.to_string(),
            n.gateway.to_string(),
            n.internal,
            n.dns,
            labels,
            n.created
        ],
    )
    .map_err(|e| store.db_err(e))?;
    Ok(())
}

fn new_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Records the default `bridge` network the first time any berth process needs it.
pub(super) fn ensure_default(store: &Store, config: &NetworkConfig) -> Result<(), NetworkError> {
    let exists: Option<i64> = store
        .conn()
        .query_row("SELECT 1 FROM networks WHERE name = ?1", [DEFAULT_NETWORK], |r| r.get(0))
        .optional()
        .map_err(|e| store.db_err(e))?;
    if exists.is_some() {
        return Ok(());
    }
    let gateway = check_subnet(DEFAULT_NETWORK, config.default_subnet, None)?;
    let record = NetworkRecord {
        id: new_id(),
        name: DEFAULT_NETWORK.into(),
        driver: "bridge".into(),
        bridge: config.default_bridge.clone(),
        subnet: config.default_subnet,
        gateway,
        internal: false,
        dns: false,
        labels: BTreeMap::new(),
        created: now(),
    };
    write_tx(store, |tx| {
        // Another process may have recorded it since the check above; it wins.
        let exists: Option<i64> = tx
            .query_row("SELECT 1 FROM networks WHERE name = ?1", [DEFAULT_NETWORK], |r| r.get(0))
            .optional()
            .map_err(|e| store.db_err(e))?;
        match exists {
            Some(_) => Ok(()),
            None => insert(tx, store, &record),
        }
    })
}

/// The default network's record when the config now asks for another bridge or subnet.
pub(super) fn outdated_default(store: &Store, config: &NetworkConfig) -> Result<Option<NetworkRecord>, NetworkError> {
    let current = find(store, DEFAULT_NETWORK)?;
    let stale = current.bridge != config.default_bridge || current.subnet != config.default_subnet;
    Ok(stale.then_some(current))
}

/// Points the default network at the configured bridge and subnet, unless containers still use it
/// (then it changes once they are gone). True when the record changed.
pub(super) fn reconfigure_default(
    store: &Store,
    old: &NetworkRecord,
    config: &NetworkConfig,
) -> Result<bool, NetworkError> {
    let gateway = check_subnet(DEFAULT_NETWORK, config.default_subnet, None)?;
    write_tx(store, |tx| {
        let used: i64 = tx
            .query_row("SELECT count(*) FROM network_endpoints WHERE network_id = ?1", [&old.id], |r| r.get(0))
            .map_err(|e| store.db_err(e))?;
        if used > 0 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE networks SET bridge = ?2, subnet = ?3, gateway = ?4 WHERE id = ?1",
            params![old.id, config.default_bridge, config.default_subnet.to_string(), gateway.to_string()],
        )
        .map_err(|e| store.db_err(e))?;
        Ok(true)
    })
}

pub(super) fn create(
    store: &Store,
    config: &NetworkConfig,
    req: &NetworkCreate,
    host_routes: &[Ipv4Net],
) -> Result<NetworkRecord, NetworkError> {
    if !valid_name(&req.name) {
        return Err(NetworkError::BadName { name: req.name.clone() });
    }
    if matches!(req.name.as_str(), "host" | "none" | DEFAULT_NETWORK) {
        return Err(NetworkError::NameTaken { name: req.name.clone() });
    }
    if req.gateway.is_some() && req.subnet.is_none() {
        return Err(NetworkError::BadConfig { name: req.name.clone(), reason: "--gateway needs --subnet".into() });
    }
    let id = new_id();
    let mut record = NetworkRecord {
        bridge: format!("br-{}", &id[..12]),
        id,
        name: req.name.clone(),
        driver: "bridge".into(),
        subnet: config.pool,
        gateway: Ipv4Addr::UNSPECIFIED,
        internal: req.internal,
        dns: true,
        labels: req.labels.clone(),
        created: now(),
    };
    write_tx(store, |tx| {
        let existing = all(tx, store)?;
        if existing.iter().any(|n| n.name == req.name) {
            return Err(NetworkError::NameTaken { name: req.name.clone() });
        }
        let subnet = match req.subnet {
            Some(subnet) => {
                if let Some(other) = existing.iter().find(|n| overlaps(n.subnet, subnet)) {
                    return Err(NetworkError::SubnetOverlap {
                        name: req.name.clone(),
                        subnet,
                        other: other.name.clone(),
                        other_subnet: other.subnet,
                    });
                }
                subnet
            }
            None => free_subnet(config.pool, &existing, host_routes)
                .ok_or_else(|| NetworkError::PoolExhausted { name: req.name.clone(), pool: config.pool })?,
        };
        record.gateway = check_subnet(&req.name, subnet, req.gateway)?;
        record.subnet = subnet;
        insert(tx, store, &record)
    })?;
    Ok(record)
}

/// The first /24 of the pool that no berth network uses and no host route (a LAN, a VPN) covers.
fn free_subnet(pool: Ipv4Net, existing: &[NetworkRecord], host_routes: &[Ipv4Net]) -> Option<Ipv4Net> {
    let prefix = pool.prefix_len().max(24);
    pool.subnets(prefix).ok()?.find(|candidate| {
        !existing.iter().any(|n| overlaps(n.subnet, *candidate))
            && !host_routes.iter().filter(|r| r.prefix_len() > 0).any(|r| overlaps(*r, *candidate))
    })
}

/// Like `Store::write_tx` (IMMEDIATE, so writers from every berth process queue), speaking network errors.
pub(super) fn write_tx<T>(
    store: &Store,
    f: impl FnOnce(&Transaction) -> Result<T, NetworkError>,
) -> Result<T, NetworkError> {
    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| store.db_err(e))?;
    let out = f(&tx)?;
    tx.commit().map_err(|e| store.db_err(e))?;
    Ok(out)
}

pub(super) fn list(store: &Store) -> Result<Vec<NetworkRecord>, NetworkError> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM networks ORDER BY name != ?1, created"))
        .map_err(|e| store.db_err(e))?;
    let rows = stmt.query_map([DEFAULT_NETWORK], from_row).map_err(|e| store.db_err(e))?;
    Ok(rows.collect::<Result<_, _>>().map_err(|e| store.db_err(e))?)
}

/// By exact name, exact id, then unique id prefix.
pub(super) fn find(store: &Store, name_or_id: &str) -> Result<NetworkRecord, NetworkError> {
    let conn = store.conn();
    let one = |sql: &str, arg: &str| -> Result<Vec<NetworkRecord>, NetworkError> {
        let mut stmt = conn.prepare(sql).map_err(|e| store.db_err(e))?;
        let rows = stmt.query_map([arg], from_row).map_err(|e| store.db_err(e))?;
        Ok(rows.collect::<Result<_, _>>().map_err(|e| store.db_err(e))?)
    };
    let exact = one(&format!("SELECT {COLUMNS} FROM networks WHERE name = ?1 OR id = ?1"), name_or_id)?;
    if let Some(n) = exact.into_iter().next() {
        return Ok(n);
    }
    let is_hex = !name_or_id.is_empty() && name_or_id.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex {
        let mut matches =
            one(&format!("SELECT {COLUMNS} FROM networks WHERE substr(id, 1, length(?1)) = ?1"), name_or_id)?;
        if matches.len() == 1 {
            return Ok(matches.remove(0));
        }
    }
    Err(NetworkError::NotFound { name: name_or_id.into() })
}

/// Deletes the record if no container is attached, in one transaction with the check.
pub(super) fn delete_unused(store: &Store, network: &NetworkRecord) -> Result<(), NetworkError> {
    write_tx(store, |tx| {
        let mut stmt = tx
            .prepare("SELECT container_name FROM network_endpoints WHERE network_id = ?1 ORDER BY container_name")
            .map_err(|e| store.db_err(e))?;
        let names: Vec<String> =
            stmt.query_map([&network.id], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| store.db_err(e))?;
        if !names.is_empty() {
            return Err(NetworkError::InUse { network: network.name.clone(), containers: names.join(", ") });
        }
        tx.execute("DELETE FROM networks WHERE id = ?1", [&network.id]).map_err(|e| store.db_err(e))?;
        Ok(())
    })
}

/// The document Docker's `network inspect` prints for one network.
pub(super) fn inspect_json(network: &NetworkRecord, endpoints: &[Endpoint]) -> serde_json::Value {
    let containers: serde_json::Map<String, serde_json::Value> = endpoints
        .iter()
        .map(|e| {
            let value = json!({
                "Name": e.container_name,
                "EndpointID": e.endpoint_id(),
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{}", e.address, network.subnet.prefix_len()),
                "IPv6Address": "",
            });
            (e.container_id.clone(), value)
        })
        .collect();
    // Docker names the bridge only for its default network; a user network's options are what its
    // creator gave (none in berth), so clients that compare options (docker-compose) see no change.
    let options = match network.name == DEFAULT_NETWORK {
        true => json!({ "com.docker.network.bridge.name": network.bridge }),
        false => json!({}),
    };
    json!({
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{ "Subnet": network.subnet.to_string(), "Gateway": network.gateway.to_string() }],
        },
        "Internal": network.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": network.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig {
            default_bridge: "bt0".into(),
            default_subnet: "10.66.0.0/16".parse().unwrap(),
            pool: "10.67.0.0/23".parse().unwrap(),
            firewall_table: "berth_unit".into(),
            firewall_driver: "none".into(),
            config_file: None,
        }
    }

    fn req(name: &str) -> NetworkCreate {
        NetworkCreate { name: name.into(), ..NetworkCreate::default() }
    }

    #[test]
    fn subnets_come_from_the_pool_until_it_runs_out_and_never_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cfg = config();
        ensure_default(&store, &cfg).unwrap();
        ensure_default(&store, &cfg).unwrap();
        let a = create(&store, &cfg, &req("a"), &[]).unwrap();
        let b = create(&store, &cfg, &req("b"), &[]).unwrap();
        assert_eq!((a.subnet.to_string(), a.gateway.to_string()), ("10.67.0.0/24".into(), "10.67.0.1".into()));
        assert_eq!(b.subnet.to_string(), "10.67.1.0/24");
        assert!(matches!(create(&store, &cfg, &req("c"), &[]), Err(NetworkError::PoolExhausted { .. })));
        assert!(matches!(create(&store, &cfg, &req("a"), &[]), Err(NetworkError::NameTaken { .. })));
        let overlapping = NetworkCreate { subnet: Some("10.66.5.0/24".parse().unwrap()), ..req("d") };
        let err = create(&store, &cfg, &overlapping, &[]).unwrap_err();
        assert!(err.to_string().contains("overlaps network bridge"), "{err}");
        assert_eq!(list(&store).unwrap().iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["bridge", "a", "b"]);
        assert_eq!(find(&store, &a.id[..6]).unwrap().name, "a");
        assert!(a.bridge.starts_with("br-") && a.bridge.len() <= 15);
    }

    #[test]
    fn a_changed_default_subnet_applies_once_the_default_network_is_unused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut cfg = config();
        ensure_default(&store, &cfg).unwrap();
        assert_eq!(outdated_default(&store, &cfg).unwrap(), None);
        cfg.default_subnet = "10.99.0.0/24".parse().unwrap();
        let old = outdated_default(&store, &cfg).unwrap().expect("subnet changed");
        let busy = super::super::ContainerRef { id: "c", name: "c" };
        super::super::ipam::allocate(&store, &old, busy, &super::super::NetworkRequest::default(), &[]).unwrap();
        assert!(!reconfigure_default(&store, &old, &cfg).unwrap());
        super::super::ipam::release(&store, &old.id, "c").unwrap();
        assert!(reconfigure_default(&store, &old, &cfg).unwrap());
        let now = find(&store, DEFAULT_NETWORK).unwrap();
        assert_eq!(
            (now.id, now.subnet.to_string(), now.gateway.to_string()),
            (old.id, "10.99.0.0/24".into(), "10.99.0.1".into())
        );
        assert_eq!(outdated_default(&store, &cfg).unwrap(), None);
    }

    #[test]
    fn automatic_subnets_avoid_host_routes_but_not_the_default_route() {
        let existing = [];
        let pool: Ipv4Net = "10.67.0.0/16".parse().unwrap();
        let routes: Vec<Ipv4Net> =
            ["0.0.0.0/0", "10.67.0.0/23", "10.67.2.128/25"].iter().map(|r| r.parse().unwrap()).collect();
        assert_eq!(free_subnet(pool, &existing, &routes).unwrap().to_string(), "10.67.3.0/24");
    }

    #[test]
    fn bad_names_subnets_and_gateways_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cfg = config();
        assert!(matches!(create(&store, &cfg, &req("-x"), &[]), Err(NetworkError::BadName { .. })));
        assert!(matches!(create(&store, &cfg, &req("host"), &[]), Err(NetworkError::NameTaken { .. })));
        let host_bits = NetworkCreate { subnet: Some("10.9.0.1/24".parse().unwrap()), ..req("e") };
        assert!(create(&store, &cfg, &host_bits, &[]).unwrap_err().to_string().contains("did you mean 10.9.0.0/24"));
        let outside = NetworkCreate {
            subnet: Some("10.9.0.0/24".parse().unwrap()),
            gateway: Some("10.9.1.1".parse().unwrap()),
            ..req("e")
        };
        assert!(create(&store, &cfg, &outside, &[]).unwrap_err().to_string().contains("not a host address"));
        let custom = NetworkCreate {
            subnet: Some("10.9.0.0/24".parse().unwrap()),
            gateway: Some("10.9.0.254".parse().unwrap()),
            internal: true,
            labels: BTreeMap::from([("k".into(), "v".into())]),
            ..req("e")
        };
        let e = create(&store, &cfg, &custom, &[]).unwrap();
        let doc = inspect_json(&e, &[]);
        assert_eq!(doc["IPAM"]["Config"][0]["Gateway"], "10.9.0.254");
        assert_eq!((doc["Internal"].as_bool(), doc["Labels"]["k"].as_str()), (Some(true), Some("v")));
        delete_unused(&store, &e).unwrap();
        assert!(matches!(find(&store, "e"), Err(NetworkError::NotFound { .. })));
    }
}
