//! Published ports: the `-p [ip:][hostport:]containerport[/proto]` syntax, and picking host ports that no
//! program on the host holds.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::str::FromStr;

use super::{NetworkError, PortBinding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(format!("unsupported protocol {other:?} (use tcp or udp)")),
        }
    }
}

/// One published port. `host_port` 0 asks for any free port (`-P`, or `-p 80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortMapping {
    /// 0.0.0.0 publishes on every host address.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// Parses Docker's `-p` syntax: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, each with `/udp`.
    pub fn parse(spec: &str) -> Result<PortMapping, NetworkError> {
        let bad = |reason: &str| NetworkError::BadPort { spec: spec.into(), reason: reason.into() };
        let (ports, protocol) = match spec.rsplit_once('/') {
            Some((ports, proto)) => (ports, proto.parse().map_err(|e: String| bad(&e))?),
            None => (spec, Protocol::Tcp),
        };
        let parts: Vec<&str> = ports.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => return Err(bad("expected [ip:][hostport:]containerport[/protocol]")),
        };
        let host_ip = match ip {
            "" => Ipv4Addr::UNSPECIFIED,
            ip => ip.parse().map_err(|_| bad("the host address must be an IPv4 address"))?,
        };
        let port = |text: &str, what: &str| -> Result<u16, NetworkError> {
            match text.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(bad(&format!("{what} must be a number from 1 to 65535"))),
            }
        };
        let host_port = if host.is_empty() { 0 } else { port(host, "the host port")? };
        let container_port = port(container, "the container port")?;
        Ok(PortMapping { host_ip, host_port, container_port, protocol })
    }

    /// `80/tcp`, the key of Docker's `Ports` map.
    pub fn container_key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol.as_str())
    }

    /// As `ps` shows it: `127.0.0.1:8080->80/tcp` (`0.0.0.0:` for every host address, as Docker prints it).
    pub fn ps_form(&self) -> String {
        format!("{}:{}->{}", self.host_ip, self.host_port, self.container_key())
    }

    pub fn binding(&self) -> PortBinding {
        PortBinding { host_ip: self.host_ip.to_string(), host_port: self.host_port.to_string() }
    }

    /// Whether two bindings would receive the same packets.
    pub(super) fn clashes(&self, other: &PortMapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip || self.host_ip.is_unspecified() || other.host_ip.is_unspecified())
    }
}

impl fmt::Display for PortMapping {
    /// As `port` prints it: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}:{}", self.container_key(), self.host_ip, self.host_port)
    }
}

fn host_binding(m: &PortMapping) -> String {
    format!("{}:{}/{}", m.host_ip, m.host_port, m.protocol.as_str())
}

/// Fills in free host ports for mappings that ask for any, and refuses ports a host program listens on
/// (DNAT would silently steal their traffic). Clashes with other containers are checked in the database.
pub(super) fn reserve_host_ports(mappings: &[PortMapping], container: &str) -> Result<Vec<PortMapping>, NetworkError> {
    let mut out: Vec<PortMapping> = Vec::with_capacity(mappings.len());
    for m in mappings {
        let mut m = *m;
        let probe = bind(&m).map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => NetworkError::PortTaken {
                binding: host_binding(&m),
                container: container.into(),
                holder: "another program on the host".into(),
            },
            _ => NetworkError::PortUnavailable {
                binding: host_binding(&m),
                container: container.into(),
                reason: e.to_string(),
            },
        })?;
        if m.host_port == 0 {
            m.host_port = probe;
        }
        if let Some(prev) = out.iter().find(|o| o.clashes(&m)) {
            return Err(NetworkError::PortTaken {
                binding: host_binding(&m),
                container: container.into(),
                holder: format!("this container's own mapping {prev}"),
            });
        }
        out.push(m);
    }
    Ok(out)
}

/// Binds the host side briefly; returns the port bound (the kernel's pick when asked for 0).
fn bind(m: &PortMapping) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(m.host_ip, m.host_port);
    Ok(match m.protocol {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr()?.port(),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr()?.port(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_NETWORK, NetworkMode};
    use super::*;

    #[test]
    fn host_and_none_take_no_ports_or_aliases_and_no_flag_means_the_default_bridge() {
        let p = [PortMapping::parse("80").unwrap()];
        assert_eq!(NetworkMode::from_flags(Some("host"), &[], &[]).unwrap(), NetworkMode::Host);
        assert!(!NetworkMode::Host.needs_netns() && NetworkMode::None.needs_netns());
        let err = NetworkMode::from_flags(Some("none"), &[], &p).unwrap_err().to_string();
        assert_eq!(err, "--network none does not take published ports");
        let err = NetworkMode::from_flags(Some("host"), &["a".into()], &[]).unwrap_err().to_string();
        assert_eq!(err, "--network host does not take network aliases");
        let NetworkMode::Networks(reqs) = NetworkMode::from_flags(None, &[], &p).unwrap() else {
            panic!("not networks")
        };
        assert_eq!((reqs[0].network.as_str(), reqs[0].ports.len()), (DEFAULT_NETWORK, 1));
    }

    #[test]
    fn docker_port_syntax_parses_and_bad_specs_say_why() {
        let p = PortMapping::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.protocol),
            (Ipv4Addr::LOCALHOST, 8080, 80, Protocol::Udp)
        );
        let p = PortMapping::parse("80").unwrap();
        assert_eq!((p.host_ip, p.host_port, p.container_port), (Ipv4Addr::UNSPECIFIED, 0, 80));
        assert_eq!(PortMapping::parse("127.0.0.1::53").unwrap().host_port, 0);
        assert_eq!(PortMapping::parse("8080:80").unwrap().to_string(), "80/tcp -> 0.0.0.0:8080");
        assert_eq!(PortMapping::parse("8080:80").unwrap().ps_form(), "0.0.0.0:8080->80/tcp");
        assert_eq!(PortMapping::parse("127.0.0.1:53:53/udp").unwrap().ps_form(), "127.0.0.1:53->53/udp");
        for (spec, why) in [("0:80", "host port"), ("80/sctp", "sctp"), ("a:b:c:d", "expected"), ("x:1:2", "IPv4")] {
            let err = PortMapping::parse(spec).unwrap_err().to_string();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn a_port_held_by_a_host_program_is_refused_and_zero_gets_a_free_port() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let taken = PortMapping::parse(&format!("127.0.0.1:{port}:80")).unwrap();
        let err = reserve_host_ports(&[taken], "c1").unwrap_err();
        assert!(matches!(err, NetworkError::PortTaken { .. }), "{err}");
        assert!(err.to_string().contains("already allocated by another program"), "{err}");
        let any = PortMapping::parse("127.0.0.1::80").unwrap();
        let got = reserve_host_ports(&[any], "c1").unwrap();
        assert_ne!(got[0].host_port, 0);
        drop(holder);
        let twice = [taken, PortMapping::parse(&format!("{port}:81")).unwrap()];
        let err = reserve_host_ports(&twice, "c1").unwrap_err().to_string();
        assert!(err.contains("this container's own mapping 80/tcp"), "{err}");
    }
}
