//! The name resolver of user networks: answers A queries for container names, 12-digit id prefixes and
//! network aliases from the state database (so it never needs reloading), and relays every other query
//! to the host's resolvers (`relay.rs`). It listens on the network's gateway address, port 53, UDP and
//! TCP, in a process of its own (`process.rs`: `berth __dns ROOT NETWORK`). One thread receives and
//! answers the network's names; relayed queries and TCP connections run on a bounded pool (`pool.rs`).

mod pool;
mod process;
mod relay;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{RData, Record, RecordType, rdata::A};
use thiserror::Error;

use pool::{Limits, Pool};
pub(super) use process::spawn;
pub use process::{DNS_SUBCOMMAND, main};

#[derive(Debug, Error)]
pub enum DnsError {
    #[error("DNS resolver: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("DNS resolver on {addr}: {source}")]
    Receive { addr: SocketAddr, source: std::io::Error },
    #[error("starting the DNS resolver of network {network} ({exe}): {source}")]
    Spawn { network: String, exe: std::path::PathBuf, source: std::io::Error },
}

/// A name → address lookup; errors count as "not found" and the query goes upstream.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Ipv4Addr> + Send + Sync>;

/// A client's own upstream servers (a container's `--dns`), asked instead of the resolver's; None when it
/// has none.
pub type ClientUpstreams = Arc<dyn Fn(Ipv4Addr) -> Option<Vec<SocketAddr>> + Send + Sync>;

/// How long a TCP client may stay silent before its connection is closed (and its worker freed).
const TCP_IDLE: Duration = Duration::from_secs(5);

pub struct Resolver {
    socket: UdpSocket,
    listener: TcpListener,
    addr: SocketAddr,
    lookup: Lookup,
    upstreams: Arc<[SocketAddr]>,
    client_upstreams: Option<ClientUpstreams>,
    /// Only clients from here are answered: containers of other networks must not learn this one's names.
    clients: Option<ipnet::Ipv4Net>,
}

impl Resolver {
    /// Listens on `addr`, UDP and TCP (port 0: a free port, the same for both).
    /// Listens on `addr` over UDP and TCP, the same port for both. Port 0 picks one free for both: the UDP
    /// port the kernel chose may be taken on TCP, so a few ports are tried.
    pub fn bind(addr: SocketAddr, lookup: Lookup, upstreams: Vec<SocketAddr>) -> Result<Resolver, DnsError> {
        let tries = if addr.port() == 0 { 8 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            let bind_err = |source| DnsError::Bind { addr, source };
            let socket = UdpSocket::bind(addr).map_err(bind_err)?;
            let bound = socket.local_addr().map_err(bind_err)?;
            match TcpListener::bind(bound) {
                Ok(listener) => {
                    let upstreams = upstreams.into();
                    return Ok(Resolver {
                        socket,
                        listener,
                        addr: bound,
                        lookup,
                        upstreams,
                        client_upstreams: None,
                        clients: None,
                    });
                }
                Err(source) => last = Some(DnsError::Bind { addr: bound, source }),
            }
        }
        Err(last.expect("at least one try"))
    }

    /// Ignores queries from outside `subnet`.
    pub fn only_from(mut self, subnet: ipnet::Ipv4Net) -> Resolver {
        self.clients = Some(subnet);
        self
    }

    /// Relays a client's queries to its own servers when `upstreams` names some, as Docker's embedded DNS
    /// does for a container's `--dns`.
    pub fn with_client_upstreams(mut self, upstreams: ClientUpstreams) -> Resolver {
        self.client_upstreams = Some(upstreams);
        self
    }

    /// Where a client's relayed queries go.
    fn upstreams_for(&self, client: SocketAddr) -> Arc<[SocketAddr]> {
        let own = match (&self.client_upstreams, client.ip()) {
            (Some(of), std::net::IpAddr::V4(ip)) => of(ip),
            _ => None,
        };
        own.map_or_else(|| self.upstreams.clone(), Into::into)
    }

    fn admits(&self, client: SocketAddr) -> bool {
        match (self.clients, client.ip()) {
            (None, _) => true,
            (Some(net), std::net::IpAddr::V4(ip)) => net.contains(&ip),
            (Some(_), std::net::IpAddr::V6(_)) => false,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers queries until `keep_going` returns false (checked at least every `poll`). The pool of
    /// workers lives as long as this call.
    pub fn serve(&self, poll: Duration, keep_going: impl Fn() -> bool) -> Result<(), DnsError> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let recv_err = |source| DnsError::Receive { addr: self.addr, source };
        self.socket.set_nonblocking(true).map_err(recv_err)?;
        self.listener.set_nonblocking(true).map_err(recv_err)?;
        let replies = Arc::new(self.socket.try_clone().map_err(recv_err)?);
        let pool = Pool::start(Limits::default());
        let timeout = Timespec::try_from(poll).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
        while keep_going() {
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN), PollFd::new(&self.listener, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(recv_err(e.into())),
            }
            let (udp, tcp) = (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
            if udp {
                self.receive_udp(&pool, &replies).map_err(recv_err)?;
            }
            if tcp {
                self.accept_tcp(&pool).map_err(recv_err)?;
            }
        }
        Ok(())
    }

    /// Answers every datagram waiting: the network's names here, the rest through the pool.
    fn receive_udp(&self, pool: &Pool, replies: &Arc<UdpSocket>) -> std::io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let (len, client) = match self.socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if !self.admits(client) {
                continue;
            }
            let query = buf[..len].to_vec();
            if let Some(reply) = answer_locally(&self.lookup, &query) {
                let _ = self.socket.send_to(&reply, client);
                continue;
            }
            let (upstreams, replies) = (self.upstreams_for(client), replies.clone());
            let relayed = pool.submit({
                let query = query.clone();
                move || {
                    if let Some(reply) = relay::for_udp(&upstreams, &query) {
                        let _ = replies.send_to(&reply, client);
                    }
                }
            });
            // Every worker busy and the queue full: the client hears at once instead of waiting.
            if !relayed && let Some(reply) = relay::servfail(&query) {
                let _ = self.socket.send_to(&reply, client);
            }
        }
    }

    /// Hands every waiting TCP connection to the pool; with the pool full it is closed at once.
    fn accept_tcp(&self, pool: &Pool) -> std::io::Result<()> {
        loop {
            let (stream, client) = match self.listener.accept() {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The client gave up before we accepted: nothing to serve.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return Err(e),
            };
            if !self.admits(client) {
                continue;
            }
            let (lookup, upstreams) = (self.lookup.clone(), self.upstreams_for(client));
            pool.submit(move || serve_connection(stream, &lookup, &upstreams));
        }
    }
}

/// Answers the queries of one TCP client until it closes, errs or stays silent for [`TCP_IDLE`].
fn serve_connection(mut stream: TcpStream, lookup: &Lookup, upstreams: &[SocketAddr]) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(TCP_IDLE)).is_err()
        || stream.set_write_timeout(Some(TCP_IDLE)).is_err()
    {
        return;
    }
    while let Ok(query) = relay::read_framed(&mut stream) {
        let reply = answer_locally(lookup, &query).or_else(|| relay::for_tcp(upstreams, &query));
        let Some(reply) = reply else { return };
        if relay::write_framed(&mut stream, &reply).is_err() {
            return;
        }
    }
}

/// The reply for a query about a container on this network; None when the name is not one.
fn answer_locally(lookup: &Lookup, query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let question = request.queries.first()?;
    let name = question.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let address = lookup(&name)?;
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(question.clone());
    // Other record types for a container name get an empty answer, not the world's opinion.
    if question.query_type() == RecordType::A {
        reply.add_answer(Record::from_rdata(question.name().clone(), 0, RData::A(A(address))));
    }
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Query, ResponseCode};
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_str(name).unwrap(), kind));
        m.to_vec().unwrap()
    }

    fn exchange(server: SocketAddr, packet: &[u8]) -> Message {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.send_to(packet, server).unwrap();
        let mut buf = [0u8; 4096];
        let (len, _) = client.recv_from(&mut buf).unwrap();
        Message::from_vec(&buf[..len]).unwrap()
    }

    /// A fake upstream on UDP that answers every name with `answer`.
    fn fake_upstream(answer: Ipv4Addr) -> SocketAddr {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((len, from)) = upstream.recv_from(&mut buf) {
                let req = Message::from_vec(&buf[..len]).unwrap();
                let mut reply = Message::response(req.metadata.id, req.metadata.op_code);
                let q = req.queries[0].clone();
                reply.add_answer(Record::from_rdata(q.name().clone(), 30, RData::A(A(answer))));
                reply.add_query(q);
                upstream.send_to(&reply.to_vec().unwrap(), from).unwrap();
            }
        });
        upstream_addr
    }

    #[test]
    fn container_names_are_answered_and_other_names_go_upstream() {
        let upstream_addr = fake_upstream(Ipv4Addr::new(192, 0, 2, 7));
        let lookup: Lookup = Arc::new(|name| (name == "web").then_some(Ipv4Addr::new(10, 9, 0, 2)));
        let resolver = Resolver::bind("127.0.0.1:0".parse().unwrap(), lookup, vec![upstream_addr]).unwrap();
        let addr = resolver.local_addr();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let server = std::thread::spawn(move || {
            resolver.serve(Duration::from_millis(50), || !stop2.load(std::sync::atomic::Ordering::Relaxed))
        });

        let local = exchange(addr, &query("WEB.", RecordType::A));
        assert_eq!(local.metadata.id, 4242);
        assert_eq!(local.answers.len(), 1);
        assert_eq!(local.answers[0].data, RData::A(A(Ipv4Addr::new(10, 9, 0, 2))));
        let v6 = exchange(addr, &query("web.", RecordType::AAAA));
        assert_eq!((v6.metadata.response_code, v6.answers.len()), (ResponseCode::NoError, 0));
        let relayed = exchange(addr, &query("example.org.", RecordType::A));
        assert_eq!(relayed.answers[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 7))));

        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.join().unwrap().unwrap();
    }

    #[test]
    fn tcp_clients_get_the_network_s_names_and_relayed_answers() {
        // A fake upstream on TCP that answers everything with 192.0.2.8.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in upstream.incoming().flatten() {
                let req = Message::from_vec(&relay::read_framed(&mut stream).unwrap()).unwrap();
                let mut reply = Message::response(req.metadata.id, req.metadata.op_code);
                let q = req.queries[0].clone();
                reply.add_answer(Record::from_rdata(q.name().clone(), 30, RData::A(A(Ipv4Addr::new(192, 0, 2, 8)))));
                reply.add_query(q);
                relay::write_framed(&mut stream, &reply.to_vec().unwrap()).unwrap();
            }
        });
        let lookup: Lookup = Arc::new(|name| (name == "web").then_some(Ipv4Addr::new(10, 9, 0, 2)));
        let resolver = Resolver::bind("127.0.0.1:0".parse().unwrap(), lookup, vec![upstream_addr]).unwrap();
        let addr = resolver.local_addr();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let server = std::thread::spawn(move || {
            resolver.serve(Duration::from_millis(50), || !stop2.load(std::sync::atomic::Ordering::Relaxed))
        });

        // Two queries on one connection, as a stub resolver retrying over TCP may send.
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut ask = |packet: &[u8]| {
            relay::write_framed(&mut conn, packet).unwrap();
            Message::from_vec(&relay::read_framed(&mut conn).unwrap()).unwrap()
        };
        let local = ask(&query("web.", RecordType::A));
        assert_eq!(local.answers[0].data, RData::A(A(Ipv4Addr::new(10, 9, 0, 2))));
        let relayed = ask(&query("example.org.", RecordType::A));
        assert_eq!(relayed.answers[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 8))));

        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.join().unwrap().unwrap();
    }

    #[test]
    fn a_client_with_its_own_servers_is_relayed_to_them() {
        let (shared, own) = (fake_upstream(Ipv4Addr::new(192, 0, 2, 7)), fake_upstream(Ipv4Addr::new(192, 0, 2, 9)));
        let lookup: Lookup = Arc::new(|_| None);
        let resolver = Resolver::bind("127.0.0.1:0".parse().unwrap(), lookup, vec![shared]).unwrap();
        // Only 127.0.0.1 has servers of its own (a container with --dns); others use the network's.
        let resolver =
            resolver.with_client_upstreams(Arc::new(move |ip| (ip == Ipv4Addr::LOCALHOST).then(|| vec![own])));
        assert_eq!(&*resolver.upstreams_for("127.0.0.2:5353".parse().unwrap()), &[shared]);
        let addr = resolver.local_addr();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let server = std::thread::spawn(move || {
            resolver.serve(Duration::from_millis(50), || !stop2.load(std::sync::atomic::Ordering::Relaxed))
        });
        let relayed = exchange(addr, &query("example.org.", RecordType::A));
        assert_eq!(relayed.answers[0].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 9))));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.join().unwrap().unwrap();
    }

    #[test]
    fn clients_outside_the_network_get_no_answer() {
        let lookup: Lookup = Arc::new(|_| Some(Ipv4Addr::new(10, 9, 0, 2)));
        let resolver = Resolver::bind("127.0.0.1:0".parse().unwrap(), lookup, vec![])
            .unwrap()
            .only_from("10.9.0.0/24".parse().unwrap());
        assert!(!resolver.admits("127.0.0.1:5353".parse().unwrap()));
        assert!(resolver.admits("10.9.0.7:5353".parse().unwrap()));
        assert!(!resolver.admits("[::1]:5353".parse().unwrap()));
    }
}
