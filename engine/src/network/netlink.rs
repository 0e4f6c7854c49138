//! A typed rtnetlink socket: one method per operation berth needs (links, bridges, veth pairs, addresses,
//! routes), synchronous so the monitor can use it before any async runtime exists.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket as RawSocket, SocketAddr, protocols::NETLINK_ROUTE};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NetlinkError {
    #[error("netlink socket: {source}")]
    Socket { source: std::io::Error },
    #[error("entering network namespace {path}: {source}")]
    Netns { path: PathBuf, source: std::io::Error },
    #[error("{op} {target}: {source}")]
    Request { op: &'static str, target: String, source: std::io::Error },
    #[error("{op} {target}: malformed netlink reply: {reason}")]
    Decode { op: &'static str, target: String, reason: String },
    #[error("setting {path}: {source}")]
    Sysctl { path: PathBuf, source: std::io::Error },
    #[error("{op} {target}: no such link")]
    NoLink { op: &'static str, target: String },
}

/// What berth needs to know about an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub up: bool,
    pub kind: Option<String>,
    /// The link's alias (IFLA_IFALIAS): berth's ownership mark on its bridges.
    pub alias: Option<String>,
}

/// The link operations the bridge driver uses: `Socket` does them in the kernel; tests record them.
pub trait LinkOps {
    fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError>;
    fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError>;
    fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: BorrowedFd<'_>,
        master: &str,
    ) -> Result<(), NetlinkError>;
    fn set_up(&mut self, name: &str) -> Result<(), NetlinkError>;
    fn add_address(&mut self, name: &str, net: Ipv4Net) -> Result<(), NetlinkError>;
    fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError>;
    fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError>;
    fn set_alias(&mut self, name: &str, alias: &str) -> Result<(), NetlinkError>;
    /// Every link of the namespace with an alias, as (name, alias).
    fn aliased_links(&mut self) -> Result<Vec<(String, String)>, NetlinkError>;
    fn addresses(&mut self, name: &str) -> Result<Vec<Ipv4Net>, NetlinkError>;
}

impl LinkOps for Socket {
    fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        Socket::link(self, name)
    }

    fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        Socket::create_bridge(self, name)
    }

    fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: BorrowedFd<'_>,
        master: &str,
    ) -> Result<(), NetlinkError> {
        Socket::create_veth(self, host, peer, peer_mac, peer_netns, master)
    }

    fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        Socket::set_up(self, name)
    }

    fn add_address(&mut self, name: &str, net: Ipv4Net) -> Result<(), NetlinkError> {
        Socket::add_address(self, name, net)
    }

    fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        Socket::add_default_route(self, gateway)
    }

    fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        Socket::delete_link(self, name)
    }

    fn set_alias(&mut self, name: &str, alias: &str) -> Result<(), NetlinkError> {
        Socket::set_alias(self, name, alias)
    }

    fn aliased_links(&mut self) -> Result<Vec<(String, String)>, NetlinkError> {
        Socket::aliased_links(self)
    }

    fn addresses(&mut self, name: &str) -> Result<Vec<Ipv4Net>, NetlinkError> {
        Socket::addresses(self, name)
    }
}

pub struct Socket {
    raw: RawSocket,
    seq: u32,
}

impl Socket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Socket, NetlinkError> {
        let socket_err = |source| NetlinkError::Socket { source };
        let mut raw = RawSocket::new(NETLINK_ROUTE).map_err(socket_err)?;
        raw.bind_auto().map_err(socket_err)?;
        raw.connect(&SocketAddr::new(0, 0)).map_err(socket_err)?;
        // Extended acks carry the kernel's reason text; without them errors are bare errnos.
        let _ = raw.set_ext_ack(true);
        Ok(Socket { raw, seq: 0 })
    }

    /// A socket inside the network namespace at `netns` (`/proc/PID/ns/net` or a bind mount of one).
    /// A netlink socket stays in the namespace it was created in, so a short-lived thread enters the
    /// namespace, opens it, and exits; the calling thread never changes namespace.
    pub fn open_in(netns: &Path) -> Result<Socket, NetlinkError> {
        let netns_err = |source| NetlinkError::Netns { path: netns.into(), source };
        let file = std::fs::File::open(netns).map_err(netns_err)?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    rustix::thread::move_into_link_name_space(
                        file.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .map_err(|e| netns_err(e.into()))?;
                    Socket::open()
                })
                .join()
                .unwrap_or_else(|_| Err(netns_err(std::io::Error::other("namespace thread panicked"))))
        })
    }

    /// Sends one request and collects the kernel's replies until its acknowledgement.
    fn request(
        &mut self,
        op: &'static str,
        target: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let req_err = |source| NetlinkError::Request { op, target: target.into(), source };
        let decode = |reason: String| NetlinkError::Decode { op, target: target.into(), reason };
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.raw.send(&buf, 0).map_err(req_err)?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.raw.recv_from_full().map_err(req_err)?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| decode(e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(decode("zero-length message".into()));
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(req_err(e.to_io())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    /// The link with this name, or None.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        let replies = match self.request("look up link", name, RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(r) => r,
            Err(NetlinkError::Request { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(replies.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(Link {
                index: link.header.index,
                up: link.header.flags.contains(LinkFlags::Up),
                kind: link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                        LinkInfo::Kind(kind) => Some(kind.to_string()),
                        _ => None,
                    }),
                    _ => None,
                }),
                alias: link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfAlias(alias) => Some(alias.clone()),
                    _ => None,
                }),
            }),
            _ => None,
        }))
    }

    fn require(&mut self, op: &'static str, name: &str) -> Result<Link, NetlinkError> {
        self.link(name)?.ok_or_else(|| NetlinkError::NoLink { op, target: name.into() })
    }

    pub fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.request("create bridge", name, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// A veth pair whose `peer` end is created directly inside another namespace, with a fixed MAC, and
    /// whose host end is a port of the bridge `master`, up. One request rather than one per
    /// setting: each round trip counts in a container's start.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: BorrowedFd<'_>,
        master: &str,
    ) -> Result<(), NetlinkError> {
        use std::os::fd::AsRawFd;
        let bridge = self.require("attach to bridge", master)?;
        // The peer cannot come up in the same request: the kernel opens it before pairing it (ENOTCONN).
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
        peer_msg.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.into()));
        msg.attributes.push(LinkAttribute::Controller(bridge.index));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request("create veth", host, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    fn set_link(
        &mut self,
        op: &'static str,
        name: &str,
        edit: impl FnOnce(&mut LinkMessage),
    ) -> Result<(), NetlinkError> {
        let link = self.require(op, name)?;
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        edit(&mut msg);
        self.request(op, name, RouteNetlinkMessage::SetLink(msg), 0)?;
        Ok(())
    }

    pub fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        self.set_link("bring up", name, |msg| {
            msg.header.flags = LinkFlags::Up;
            msg.header.change_mask = LinkFlags::Up;
        })
    }

    /// Sets the link's alias, the free text `ip link` shows.
    pub fn set_alias(&mut self, name: &str, alias: &str) -> Result<(), NetlinkError> {
        self.set_link("set alias of", name, |msg| msg.attributes.push(LinkAttribute::IfAlias(alias.into())))
    }

    /// Adds an IPv4 address; one already there is fine (a restarted engine re-applies the gateway).
    pub fn add_address(&mut self, name: &str, net: Ipv4Net) -> Result<(), NetlinkError> {
        let link = self.require("add address", name)?;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = net.prefix_len();
        msg.header.index = link.index;
        msg.attributes.push(AddressAttribute::Local(net.addr().into()));
        msg.attributes.push(AddressAttribute::Address(net.addr().into()));
        if net.prefix_len() < 31 {
            msg.attributes.push(AddressAttribute::Broadcast(net.broadcast()));
        }
        let target = format!("{net} on {name}");
        match self.request("add address", &target, RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL) {
            Err(NetlinkError::Request { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other.map(drop),
        }
    }

    /// `default via gateway` in the main table.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            "add default route via",
            &gateway.to_string(),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Deletes a link; false when it was already gone.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let Some(link) = self.link(name)? else { return Ok(false) };
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        match self.request("delete link", name, RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(NetlinkError::Request { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The kernel's answer to a dump of every link in this namespace; `target` names what the caller looks
    /// for, in errors.
    fn all_links(&mut self, target: &str) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.request(
            "list links",
            target,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            netlink_packet_core::NLM_F_DUMP,
        )
    }

    /// Names of every link in this namespace (tests compare the host's links).
    #[cfg(any(test, feature = "testing"))]
    pub fn link_names(&mut self) -> Result<Vec<String>, NetlinkError> {
        Ok(self
            .all_links("")?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => link.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    /// Every link with an alias, as (name, alias).
    pub fn aliased_links(&mut self) -> Result<Vec<(String, String)>, NetlinkError> {
        Ok(self
            .all_links("")?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => {
                    let (mut name, mut alias) = (None, None);
                    for attr in link.attributes {
                        match attr {
                            LinkAttribute::IfName(n) => name = Some(n),
                            LinkAttribute::IfAlias(a) => alias = Some(a),
                            _ => {}
                        }
                    }
                    name.zip(alias)
                }
                _ => None,
            })
            .collect())
    }

    /// Names of the links plugged into a bridge (integration tests check a bridge has nothing left on it).
    #[cfg(feature = "testing")]
    pub fn bridge_ports(&mut self, bridge: &str) -> Result<Vec<String>, NetlinkError> {
        let master = self.require("list bridge ports", bridge)?;
        Ok(self
            .all_links(bridge)?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link)
                    if link.attributes.contains(&LinkAttribute::Controller(master.index)) =>
                {
                    link.attributes.into_iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Destinations of the IPv4 routes in the main table.
    pub fn routes(&mut self) -> Result<Vec<Ipv4Net>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let dump = netlink_packet_core::NLM_F_DUMP;
        let replies = self.request("list routes", "", RouteNetlinkMessage::GetRoute(msg), dump)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) if r.header.table == RouteHeader::RT_TABLE_MAIN => {
                    let prefix = r.header.destination_prefix_length;
                    let dest = r.attributes.into_iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(ip),
                        _ => None,
                    });
                    Ipv4Net::new(dest.unwrap_or(Ipv4Addr::UNSPECIFIED), prefix).ok()
                }
                _ => None,
            })
            .collect())
    }

    /// IPv4 addresses on a link, with their prefixes.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<Ipv4Net>, NetlinkError> {
        let link = self.require("list addresses", name)?;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(
            "list addresses",
            name,
            RouteNetlinkMessage::GetAddress(msg),
            netlink_packet_core::NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == link.index => {
                    let prefix = a.header.prefix_len;
                    a.attributes.into_iter().find_map(|attr| match attr {
                        AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Ipv4Net::new(ip, prefix).ok(),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_a_missing_link_is_none() {
        let mut sock = Socket::open().unwrap();
        let lo = sock.link("lo").unwrap().expect("every namespace has lo");
        assert_eq!(lo.index, 1);
        assert!(sock.link("no-such-link0").unwrap().is_none());
        assert!(sock.link_names().unwrap().iter().any(|n| n == "lo"));
        assert!(matches!(sock.set_up("no-such-link0"), Err(NetlinkError::NoLink { .. })));
    }
}
