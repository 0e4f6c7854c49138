//! The bridge driver: one Linux bridge per network holding the gateway address, and one veth pair per
//! container endpoint with its peer inside the container's namespace.

use std::path::Path;

use ipnet::Ipv4Net;

use super::netlink::{NetlinkError, Socket};
use super::{Endpoint, NetworkRecord};

/// Makes the network's bridge exist, carry the gateway and be up. Safe to repeat and to race: another
/// berth process making the same bridge at the same moment is fine.
pub(super) fn ensure(network: &NetworkRecord) -> Result<(), NetlinkError> {
    let mut sock = Socket::open()?;
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
    sysctl(&format!("/proc/sys/net/ipv4/conf/{}/route_localnet", network.bridge), "1")?;
    if !network.internal {
        sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    Ok(())
}

fn sysctl(path: &str, value: &str) -> Result<(), NetlinkError> {
    let err = |source| NetlinkError::Sysctl { path: path.into(), source };
    if std::fs::read_to_string(path).map_err(err)?.trim() == value {
        return Ok(());
    }
    std::fs::write(path, value).map_err(err)
}

fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (slot, part) in out.iter_mut().zip(mac.split(':')) {
        *slot = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    out
}

/// Creates the endpoint's veth pair into `netns`, plugs the host end into the bridge, and configures the
/// container end: address, up, and (on its first interface) the default route.
pub(super) fn connect(network: &NetworkRecord, endpoint: &Endpoint, netns: &Path) -> Result<(), NetlinkError> {
    let mut host = Socket::open()?;
    // A veth left by a crashed berth under the same deterministic name would block the new one.
    host.delete_link(&endpoint.host_veth)?;
    let ns = std::fs::File::open(netns).map_err(|source| NetlinkError::Netns { path: netns.into(), source })?;
    host.create_veth(&endpoint.host_veth, &endpoint.ifname, mac_bytes(&endpoint.mac), std::os::fd::AsFd::as_fd(&ns))?;
    host.set_master(&endpoint.host_veth, &network.bridge)?;
    host.set_up(&endpoint.host_veth)?;
    let mut inside = Socket::open_in(netns)?;
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
pub(super) fn disconnect(endpoint: &Endpoint) -> Result<(), NetlinkError> {
    Socket::open()?.delete_link(&endpoint.host_veth).map(drop)
}

pub(super) fn remove(network: &NetworkRecord) -> Result<(), NetlinkError> {
    Socket::open()?.delete_link(&network.bridge).map(drop)
}
