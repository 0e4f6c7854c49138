//! The bridge driver: one Linux bridge per network holding the gateway address, and one veth pair per
//! container endpoint with its peer inside the container's namespace. Kernel access goes through
//! `Kernel`, so the driver's decisions are tested without root against a recording fake.

use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use thiserror::Error;

use super::netlink::{LinkOps, NetlinkError, Socket};
use super::owner::{Owner, mark_id};
use super::{Endpoint, NetworkRecord};

/// Netlink sockets (in the host's namespace or a container's) and sysctls.
pub(super) trait Kernel {
    fn host(&self) -> Result<Box<dyn LinkOps>, NetlinkError>;
    fn inside(&self, netns: &Path) -> Result<Box<dyn LinkOps>, NetlinkError>;
    fn sysctl(&self, path: &str, value: &str) -> Result<(), NetlinkError>;
}

pub(super) struct RealKernel;

impl Kernel for RealKernel {
    fn host(&self) -> Result<Box<dyn LinkOps>, NetlinkError> {
        Ok(Box::new(Socket::open()?))
    }

    fn inside(&self, netns: &Path) -> Result<Box<dyn LinkOps>, NetlinkError> {
        Ok(Box::new(Socket::open_in(netns)?))
    }

    /// Writes a /proc/sys value unless it is already set.
    fn sysctl(&self, path: &str, value: &str) -> Result<(), NetlinkError> {
        let err = |source| NetlinkError::Sysctl { path: path.into(), source };
        if std::fs::read_to_string(path).map_err(err)?.trim() == value {
            return Ok(());
        }
        std::fs::write(path, value).map_err(err)
    }
}

/// Why a bridge could not be made ready.
#[derive(Debug, Error)]
pub(super) enum BridgeError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("bridge {bridge} belongs to the berth state root {owner}")]
    Taken { bridge: String, owner: PathBuf },
    #[error("subnet {subnet} overlaps {other} on bridge {bridge} of the berth state root {owner}")]
    SubnetTaken { subnet: Ipv4Net, other: Ipv4Net, bridge: String, owner: PathBuf },
}

/// Makes the network's bridge exist, marked as `owner`'s, carry the gateway and be up. Safe to repeat.
/// A bridge another live root marked is refused, one a deleted root left is replaced, and an unmarked one
/// (made before berth marked its bridges) is adopted. The caller holds the host-wide network lock.
pub(super) fn ensure(k: &dyn Kernel, network: &NetworkRecord, owner: &Owner) -> Result<(), BridgeError> {
    let mut sock = k.host()?;
    match sock.link(&network.bridge)? {
        None => create(sock.as_mut(), network, owner)?,
        Some(link) => match link.alias.as_deref().and_then(mark_id) {
            Some(id) if id == owner.id => {}
            Some(id) => match owner.live_root(id) {
                Some(root) => return Err(BridgeError::Taken { bridge: network.bridge.clone(), owner: root }),
                None => {
                    sock.delete_link(&network.bridge)?;
                    create(sock.as_mut(), network, owner)?;
                }
            },
            None => sock.set_alias(&network.bridge, &owner.mark())?,
        },
    }
    sock.add_address(&network.bridge, network.gateway_net())?;
    sock.set_up(&network.bridge)?;
    // Lets the host reach published ports on 127.0.0.1: DNAT'd loopback packets may then leave through
    // the bridge (they are masqueraded on the way out).
    k.sysctl(&format!("/proc/sys/net/ipv4/conf/{}/route_localnet", network.bridge), "1")?;
    if !network.internal {
        k.sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    Ok(())
}

/// Creates and marks the bridge, after removing the bridges of deleted roots and checking that no live
/// root's bridge already routes an overlapping subnet.
fn create(sock: &mut dyn LinkOps, network: &NetworkRecord, owner: &Owner) -> Result<(), BridgeError> {
    for (name, alias) in sock.aliased_links()? {
        let Some(id) = mark_id(&alias).filter(|id| *id != owner.id) else { continue };
        let Some(root) = owner.live_root(id) else {
            sock.delete_link(&name)?;
            continue;
        };
        // Whoever owns a listed bridge may remove it meanwhile (a test tears its own down without berth's
        // host lock): a bridge gone is one that overlaps nothing.
        let addresses = match sock.addresses(&name) {
            Err(NetlinkError::NoLink { .. }) => continue,
            other => other?,
        };
        let overlap = addresses
            .into_iter()
            .map(|a| a.trunc())
            .find(|other| other.contains(&network.subnet.network()) || network.subnet.contains(&other.network()));
        if let Some(other) = overlap {
            return Err(BridgeError::SubnetTaken { subnet: network.subnet, other, bridge: name, owner: root });
        }
    }
    match sock.create_bridge(&network.bridge) {
        Err(NetlinkError::Request { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {}
        other => other?,
    }
    sock.set_alias(&network.bridge, &owner.mark())?;
    Ok(())
}

fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(mac.split(':')) {
        *slot = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    out
}

/// Creates the endpoint's veth pair into `netns` with the host end plugged into the bridge and up, and
/// configures the container end: address, up, and (on its first interface, unless internal) the default
/// route.
pub(super) fn connect(
    k: &dyn Kernel,
    network: &NetworkRecord,
    endpoint: &Endpoint,
    netns: &Path,
) -> Result<(), NetlinkError> {
    let mut host = k.host()?;
    // A veth left by a crashed berth under the same deterministic name would block the new one.
    host.delete_link(&endpoint.host_veth)?;
    let ns = std::fs::File::open(netns).map_err(|source| NetlinkError::Netns { path: netns.into(), source })?;
    let mac = mac_bytes(&endpoint.mac);
    host.create_veth(&endpoint.host_veth, &endpoint.ifname, mac, std::os::fd::AsFd::as_fd(&ns), &network.bridge)?;
    let mut inside = k.inside(netns)?;
    inside.set_up("lo")?;
    let addr = Ipv4Net::new(endpoint.address, network.subnet.prefix_len()).unwrap_or(network.subnet);
    inside.add_address(&endpoint.ifname, addr)?;
    inside.set_up(&endpoint.ifname)?;
    if endpoint.ifname == "eth0" && !network.internal {
        inside.add_default_route(network.gateway)?;
    }
    Ok(())
}

/// Deletes the endpoint's veth pair (both ends go with the host end); already gone is fine.
pub(super) fn disconnect(k: &dyn Kernel, endpoint: &Endpoint) -> Result<(), NetlinkError> {
    k.host()?.delete_link(&endpoint.host_veth).map(drop)
}

/// Deletes the network's bridge unless another root marked it: a bridge name two roots' configs share
/// stays with the root that made it.
pub(super) fn remove(k: &dyn Kernel, network: &NetworkRecord, owner: &Owner) -> Result<(), NetlinkError> {
    let mut sock = k.host()?;
    let Some(link) = sock.link(&network.bridge)? else { return Ok(()) };
    if link.alias.as_deref().and_then(mark_id).is_some_and(|id| id != owner.id) {
        return Ok(());
    }
    sock.delete_link(&network.bridge).map(drop)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;
    use std::os::fd::BorrowedFd;
    use std::sync::{Arc, Mutex};

    use super::super::netlink::Link;
    use super::*;

    /// A link of the fake kernel: its alias and addresses.
    #[derive(Clone, Default)]
    struct FakeLink {
        alias: Option<String>,
        addrs: Vec<Ipv4Net>,
    }

    /// Records every call as text, and keeps the links that exist.
    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<String>>>,
        links: Arc<Mutex<BTreeMap<String, FakeLink>>>,
        /// A link another process removes right after it was listed.
        vanishing: Arc<Mutex<Option<String>>>,
    }

    impl Fake {
        fn add_link(&self, name: &str, alias: Option<String>, addr: &str) {
            let link = FakeLink { alias, addrs: vec![addr.parse().unwrap()] };
            self.links.lock().unwrap().insert(name.into(), link);
        }
    }

    struct FakeSocket {
        ns: &'static str,
        fake: Fake,
    }

    impl FakeSocket {
        fn note(&self, what: String) {
            self.fake.log.lock().unwrap().push(format!("{}: {what}", self.ns));
        }
    }

    impl LinkOps for FakeSocket {
        fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
            let links = self.fake.links.lock().unwrap();
            Ok(links.get(name).map(|l| Link { index: 7, up: true, kind: None, alias: l.alias.clone() }))
        }
        fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
            self.fake.links.lock().unwrap().insert(name.into(), FakeLink::default());
            self.note(format!("create bridge {name}"));
            Ok(())
        }
        fn create_veth(
            &mut self,
            host: &str,
            peer: &str,
            mac: [u8; 6],
            _: BorrowedFd<'_>,
            master: &str,
        ) -> Result<(), NetlinkError> {
            self.fake.links.lock().unwrap().insert(host.into(), FakeLink::default());
            self.note(format!("create veth {host} up in {master} peer {peer} mac {mac:02x?}"));
            Ok(())
        }
        fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
            self.note(format!("up {name}"));
            Ok(())
        }
        fn add_address(&mut self, name: &str, net: Ipv4Net) -> Result<(), NetlinkError> {
            self.note(format!("addr {net} {name}"));
            Ok(())
        }
        fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
            self.note(format!("default via {gateway}"));
            Ok(())
        }
        fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
            let gone = self.fake.links.lock().unwrap().remove(name).is_some();
            if gone {
                self.note(format!("delete {name}"));
            }
            Ok(gone)
        }
        fn set_alias(&mut self, name: &str, alias: &str) -> Result<(), NetlinkError> {
            if let Some(link) = self.fake.links.lock().unwrap().get_mut(name) {
                link.alias = Some(alias.into());
            }
            self.note(format!("mark {name}"));
            Ok(())
        }
        fn aliased_links(&mut self) -> Result<Vec<(String, String)>, NetlinkError> {
            let mut links = self.fake.links.lock().unwrap();
            let listed = links.iter().filter_map(|(n, l)| Some((n.clone(), l.alias.clone()?))).collect();
            if let Some(name) = self.fake.vanishing.lock().unwrap().take() {
                links.remove(&name);
            }
            Ok(listed)
        }
        fn addresses(&mut self, name: &str) -> Result<Vec<Ipv4Net>, NetlinkError> {
            let links = self.fake.links.lock().unwrap();
            let link = links.get(name).ok_or(NetlinkError::NoLink { op: "list addresses", target: name.into() })?;
            Ok(link.addrs.clone())
        }
    }

    impl Kernel for Fake {
        fn host(&self) -> Result<Box<dyn LinkOps>, NetlinkError> {
            Ok(Box::new(FakeSocket { ns: "host", fake: self.clone() }))
        }
        fn inside(&self, _: &Path) -> Result<Box<dyn LinkOps>, NetlinkError> {
            Ok(Box::new(FakeSocket { ns: "ctr", fake: self.clone() }))
        }
        fn sysctl(&self, path: &str, value: &str) -> Result<(), NetlinkError> {
            self.log.lock().unwrap().push(format!("sysctl {path}={value}"));
            Ok(())
        }
    }

    fn network(internal: bool) -> NetworkRecord {
        NetworkRecord {
            id: "n1".into(),
            name: "front".into(),
            driver: "bridge".into(),
            bridge: "br-test".into(),
            subnet: "10.5.0.0/24".parse().unwrap(),
            gateway: "10.5.0.1".parse().unwrap(),
            internal,
            dns: true,
            labels: BTreeMap::new(),
            created: String::new(),
        }
    }

    fn endpoint(ifname: &str) -> Endpoint {
        Endpoint {
            network_id: "n1".into(),
            container_id: "c1".into(),
            container_name: "web".into(),
            address: "10.5.0.2".parse().unwrap(),
            mac: "02:42:0a:05:00:02".into(),
            host_veth: "vb123".into(),
            ifname: ifname.into(),
            aliases: vec![],
            ports: vec![],
        }
    }

    fn take(fake: &Fake) -> Vec<String> {
        std::mem::take(&mut *fake.log.lock().unwrap())
    }

    /// Owners of roots in a temporary dir, registered in a registry there too.
    struct Roots {
        dir: tempfile::TempDir,
    }

    impl Roots {
        fn new() -> Roots {
            Roots { dir: tempfile::tempdir().unwrap() }
        }

        fn owner(&self, name: &str) -> Owner {
            let root = self.dir.path().join(name);
            std::fs::create_dir_all(&root).unwrap();
            Owner::claim(&root, &self.dir.path().join("registry")).unwrap()
        }

        fn delete(&self, name: &str) {
            std::fs::remove_dir_all(self.dir.path().join(name)).unwrap();
        }
    }

    #[test]
    fn the_bridge_is_made_once_and_the_gateway_reapplied() {
        let fake = Fake::default();
        let roots = Roots::new();
        let me = roots.owner("me");
        ensure(&fake, &network(false), &me).unwrap();
        assert_eq!(
            take(&fake),
            [
                "host: create bridge br-test",
                "host: mark br-test",
                "host: addr 10.5.0.1/24 br-test",
                "host: up br-test",
                "sysctl /proc/sys/net/ipv4/conf/br-test/route_localnet=1",
                "sysctl /proc/sys/net/ipv4/ip_forward=1",
            ]
        );
        ensure(&fake, &network(true), &me).unwrap();
        let again = take(&fake);
        assert!(!again.iter().any(|l| l.contains("create") || l.contains("ip_forward")), "{again:?}");
        remove(&fake, &network(false), &me).unwrap();
        assert_eq!(take(&fake), ["host: delete br-test"]);
    }

    #[test]
    fn a_bridge_of_another_live_root_is_neither_used_nor_removed() {
        let fake = Fake::default();
        let roots = Roots::new();
        let (me, other) = (roots.owner("me"), roots.owner("other"));
        fake.add_link("br-test", Some(other.mark()), "10.5.0.1/24");
        let err = ensure(&fake, &network(false), &me).unwrap_err();
        assert!(matches!(&err, BridgeError::Taken { owner, .. } if *owner == other.root), "{err}");
        remove(&fake, &network(false), &me).unwrap();
        assert_eq!(take(&fake), Vec::<String>::new(), "nothing of the other root's bridge changed");

        // Another name over the same subnet would route it twice: refused too.
        let mut renamed = network(false);
        renamed.bridge = "br-mine".into();
        let err = ensure(&fake, &renamed, &me).unwrap_err();
        assert!(matches!(&err, BridgeError::SubnetTaken { bridge, .. } if bridge == "br-test"), "{err}");
        assert!(fake.links.lock().unwrap().contains_key("br-test"));
        assert!(!fake.links.lock().unwrap().contains_key("br-mine"));
    }

    #[test]
    fn a_deleted_roots_bridges_are_replaced_and_an_unmarked_bridge_adopted() {
        let fake = Fake::default();
        let roots = Roots::new();
        let me = roots.owner("me");
        let gone = roots.owner("gone");
        fake.add_link("br-test", Some(gone.mark()), "10.9.0.1/24");
        fake.add_link("br-old", Some(gone.mark()), "10.5.0.1/24");
        fake.add_link("eth9", Some("uplink".into()), "10.5.0.7/24");
        roots.delete("gone");
        ensure(&fake, &network(false), &me).unwrap();
        let log = take(&fake);
        assert!(log.starts_with(&["host: delete br-test".to_string()]), "{log:?}");
        assert!(log.contains(&"host: delete br-old".to_string()) && log.contains(&"host: mark br-test".to_string()));
        let links = fake.links.lock().unwrap().clone();
        assert_eq!(links.keys().collect::<Vec<_>>(), ["br-test", "eth9"], "what is not berth's stays");
        assert_eq!(links["br-test"].alias.as_deref(), Some(me.mark().as_str()));

        fake.add_link("br-legacy", None, "10.8.0.1/24");
        let mut legacy = network(false);
        legacy.bridge = "br-legacy".into();
        ensure(&fake, &legacy, &me).unwrap();
        assert!(!take(&fake).iter().any(|l| l.contains("create") || l.contains("delete")));
        assert_eq!(fake.links.lock().unwrap()["br-legacy"].alias.as_deref(), Some(me.mark().as_str()));
    }

    #[test]
    fn a_bridge_removed_while_bridges_are_compared_is_passed_over() {
        let fake = Fake::default();
        let roots = Roots::new();
        let (me, other) = (roots.owner("me"), roots.owner("other"));
        fake.add_link("br-other", Some(other.mark()), "10.5.0.1/24");
        *fake.vanishing.lock().unwrap() = Some("br-other".into());
        ensure(&fake, &network(false), &me).unwrap();
        assert!(fake.links.lock().unwrap().contains_key("br-test"));
    }

    #[test]
    fn a_veth_goes_into_the_namespace_with_address_and_route_only_where_it_belongs() {
        let fake = Fake::default();
        fake.links.lock().unwrap().insert("vb123".into(), FakeLink::default());
        let netns = Path::new("/proc/self/ns/net");
        connect(&fake, &network(false), &endpoint("eth0"), netns).unwrap();
        assert_eq!(
            take(&fake),
            [
                "host: delete vb123",
                "host: create veth vb123 up in br-test peer eth0 mac [02, 42, 0a, 05, 00, 02]",
                "ctr: up lo",
                "ctr: addr 10.5.0.2/24 eth0",
                "ctr: up eth0",
                "ctr: default via 10.5.0.1",
            ]
        );
        connect(&fake, &network(false), &endpoint("eth1"), netns).unwrap();
        assert!(!take(&fake).iter().any(|l| l.contains("default")));
        connect(&fake, &network(true), &endpoint("eth0"), netns).unwrap();
        assert!(!take(&fake).iter().any(|l| l.contains("default")));
        disconnect(&fake, &endpoint("eth0")).unwrap();
        disconnect(&fake, &endpoint("eth0")).unwrap();
        assert_eq!(take(&fake), ["host: delete vb123"]);
    }
}
