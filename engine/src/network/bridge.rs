//! The bridge driver: one Linux bridge per network holding the gateway address, and one veth pair per
//! container endpoint with its peer inside the container's namespace. Kernel access goes through
//! `Kernel`, so the driver's decisions are tested without root against a recording fake.

use std::path::Path;

use ipnet::Ipv4Net;

use super::netlink::{LinkOps, NetlinkError, Socket};
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

/// Makes the network's bridge exist, carry the gateway and be up. Safe to repeat and to race: another
/// berth process making the same bridge at the same moment is fine.
pub(super) fn ensure(k: &dyn Kernel, network: &NetworkRecord) -> Result<(), NetlinkError> {
    let mut sock = k.host()?;
    if sock.link(&network.bridge)?.is_none() {
        match sock.create_bridge(&network.bridge) {
            Err(NetlinkError::Request { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {}
            other => other?,
        }
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

fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(mac.split(':')) {
        *slot = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    out
}

/// Creates the endpoint's veth pair into `netns`, plugs the host end into the bridge, and configures the
/// container end: address, up, and (on its first interface, unless internal) the default route.
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
    host.create_veth(&endpoint.host_veth, &endpoint.ifname, mac_bytes(&endpoint.mac), std::os::fd::AsFd::as_fd(&ns))?;
    host.set_master(&endpoint.host_veth, &network.bridge)?;
    host.set_up(&endpoint.host_veth)?;
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

pub(super) fn remove(k: &dyn Kernel, network: &NetworkRecord) -> Result<(), NetlinkError> {
    k.host()?.delete_link(&network.bridge).map(drop)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;
    use std::os::fd::BorrowedFd;
    use std::sync::{Arc, Mutex};

    use super::super::netlink::Link;
    use super::*;

    /// Records every call as text, and keeps the set of links that exist.
    #[derive(Clone, Default)]
    struct Fake {
        log: Arc<Mutex<Vec<String>>>,
        links: Arc<Mutex<Vec<String>>>,
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
            let exists = self.fake.links.lock().unwrap().iter().any(|l| l == name);
            Ok(exists.then_some(Link { index: 7, up: true, kind: None }))
        }
        fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
            self.fake.links.lock().unwrap().push(name.into());
            self.note(format!("create bridge {name}"));
            Ok(())
        }
        fn create_veth(&mut self, host: &str, peer: &str, mac: [u8; 6], _: BorrowedFd<'_>) -> Result<(), NetlinkError> {
            self.fake.links.lock().unwrap().push(host.into());
            self.note(format!("create veth {host} peer {peer} mac {mac:02x?}"));
            Ok(())
        }
        fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
            self.note(format!("up {name}"));
            Ok(())
        }
        fn set_master(&mut self, name: &str, master: &str) -> Result<(), NetlinkError> {
            self.note(format!("master {name} {master}"));
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
            let mut links = self.fake.links.lock().unwrap();
            let before = links.len();
            links.retain(|l| l != name);
            let gone = links.len() != before;
            drop(links);
            if gone {
                self.note(format!("delete {name}"));
            }
            Ok(gone)
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

    #[test]
    fn the_bridge_is_made_once_and_the_gateway_reapplied() {
        let fake = Fake::default();
        ensure(&fake, &network(false)).unwrap();
        assert_eq!(
            take(&fake),
            [
                "host: create bridge br-test",
                "host: addr 10.5.0.1/24 br-test",
                "host: up br-test",
                "sysctl /proc/sys/net/ipv4/conf/br-test/route_localnet=1",
                "sysctl /proc/sys/net/ipv4/ip_forward=1",
            ]
        );
        ensure(&fake, &network(true)).unwrap();
        let again = take(&fake);
        assert!(!again.iter().any(|l| l.contains("create") || l.contains("ip_forward")), "{again:?}");
        remove(&fake, &network(false)).unwrap();
        assert_eq!(take(&fake), ["host: delete br-test"]);
    }

    #[test]
    fn a_veth_goes_into_the_namespace_with_address_and_route_only_where_it_belongs() {
        let fake = Fake::default();
        fake.links.lock().unwrap().push("vb123".into());
        let netns = Path::new("/proc/self/ns/net");
        connect(&fake, &network(false), &endpoint("eth0"), netns).unwrap();
        assert_eq!(
            take(&fake),
            [
                "host: delete vb123",
                "host: create veth vb123 peer eth0 mac [02, 42, 0a, 05, 00, 02]",
                "host: master vb123 br-test",
                "host: up vb123",
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
