//! Relaying queries the resolver cannot answer to the host's resolvers: a fixed pool of worker threads
//! takes them from a bounded queue (a query that finds the queue full gets SERVFAIL at once, so a flood
//! costs no more threads or memory), asks each upstream over UDP in turn, and re-asks over TCP when an
//! upstream's UDP answer is truncated.
//!
//! The resolver listens on UDP only (containers' stub resolvers ask over UDP first), so a full answer
//! from TCP goes back only when it fits the client's UDP size (512 bytes, or its EDNS payload size);
//! otherwise the client gets the upstream's truncated answer with TC set, as DNS says, and its retry over
//! TCP is refused, after which it works with the partial answer or asks its next nameserver.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};

/// How long one upstream may take (per transport) before the next is asked or the client gets SERVFAIL.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// The pool's size: relays in flight at once, and relays waiting for a worker.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) workers: usize,
    pub(super) queued: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { workers: 4, queued: 32 }
    }
}

struct Job {
    query: Vec<u8>,
    client: SocketAddr,
}

/// The worker pool; dropping it lets the workers finish their current query and end.
pub(super) struct Relay {
    jobs: SyncSender<Job>,
}

impl Relay {
    /// Starts `limits.workers` threads that answer clients through `replies` (the resolver's socket).
    pub(super) fn start(upstreams: Vec<SocketAddr>, replies: UdpSocket, limits: Limits) -> Relay {
        let (jobs, queue) = std::sync::mpsc::sync_channel(limits.queued);
        let queue = Arc::new(Mutex::new(queue));
        let upstreams: Arc<[SocketAddr]> = upstreams.into();
        let replies = Arc::new(replies);
        for _ in 0..limits.workers.max(1) {
            let (queue, upstreams, replies) = (queue.clone(), upstreams.clone(), replies.clone());
            std::thread::spawn(move || work(&queue, &upstreams, &replies));
        }
        Relay { jobs }
    }

    /// Queues a query for the pool; false when the queue is full (the caller answers SERVFAIL).
    pub(super) fn submit(&self, query: Vec<u8>, client: SocketAddr) -> bool {
        match self.jobs.try_send(Job { query, client }) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

fn work(queue: &Mutex<Receiver<Job>>, upstreams: &[SocketAddr], replies: &UdpSocket) {
    loop {
        // The lock is held only while waiting for the next job, never while relaying one.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(Job { query, client }) = job else { return };
        let limit = Message::from_vec(&query).map(|m| usize::from(m.max_payload())).unwrap_or(512);
        let reply = upstreams.iter().find_map(|up| relay_one(*up, &query, limit)).or_else(|| servfail(&query));
        if let Some(reply) = reply {
            let _ = replies.send_to(&reply, client);
        }
    }
}

/// One upstream's answer for a UDP client that takes at most `limit` bytes: the UDP answer, or when it is
/// truncated the full one over TCP if that fits (else the truncated one, TC still set).
fn relay_one(upstream: SocketAddr, query: &[u8], limit: usize) -> Option<Vec<u8>> {
    let answer = ask_udp(upstream, query)?;
    if !truncated(&answer) {
        return Some(answer);
    }
    match ask_tcp(upstream, query) {
        Some(full) if full.len() <= limit => Some(full),
        _ => Some(answer),
    }
}

/// The TC bit: byte 2 of the header, bit 1.
fn truncated(answer: &[u8]) -> bool {
    answer.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// Whether `answer` answers `query` (same id), so stray or forged packets are not passed on.
fn answers(answer: &[u8], query: &[u8]) -> bool {
    answer.len() >= 12 && query.len() >= 2 && answer[..2] == query[..2]
}

fn ask_udp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket.connect(upstream).ok()?;
    socket.send(query).ok()?;
    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        socket.set_read_timeout(Some(left)).ok()?;
        let len = socket.recv(&mut buf).ok()?;
        if answers(&buf[..len], query) {
            buf.truncate(len);
            return Some(buf);
        }
    }
}

/// Asks over TCP: the query and the answer each prefixed by their length (RFC 1035 4.2.2).
fn ask_tcp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, UPSTREAM_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    let mut framed = u16::try_from(query.len()).ok()?.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).ok()?;
    answers(&answer, query).then_some(answer)
}

/// SERVFAIL for `query`, or None when it is not a DNS message at all.
pub(super) fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let mut reply = Message::error_msg(request.metadata.id, request.metadata.op_code, ResponseCode::ServFail);
    reply.add_queries(request.queries.iter().cloned());
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Query};
    use hickory_proto::rr::{Name, RData, Record, RecordType, rdata::A};
    use std::net::TcpListener;
    use std::str::FromStr;
    use std::sync::mpsc;

    fn query(id: u16, edns_payload: Option<u16>) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = id;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_str("many.example.").unwrap(), RecordType::A));
        if let Some(size) = edns_payload {
            let mut edns = Edns::new();
            edns.set_max_payload(size);
            m.set_edns(edns);
        }
        m.to_vec().unwrap()
    }

    /// An answer to `request` with `count` A records (192.0.2.1, .2, …).
    fn answer(request: &[u8], count: u8, truncated: bool) -> Vec<u8> {
        let req = Message::from_vec(request).unwrap();
        let mut reply = Message::response(req.metadata.id, req.metadata.op_code);
        reply.metadata.truncation = truncated;
        let q = req.queries[0].clone();
        for i in 1..=count {
            reply.add_answer(Record::from_rdata(q.name().clone(), 30, RData::A(A(Ipv4Addr::new(192, 0, 2, i)))));
        }
        reply.add_query(q);
        reply.to_vec().unwrap()
    }

    /// A UDP socket and a TCP listener on one port of 127.0.0.1.
    fn udp_and_tcp() -> (UdpSocket, TcpListener) {
        loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                return (udp, tcp);
            }
        }
    }

    fn client() -> UdpSocket {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client
    }

    fn receive(client: &UdpSocket) -> Message {
        let mut buf = [0u8; 65535];
        let len = client.recv(&mut buf).unwrap();
        Message::from_vec(&buf[..len]).unwrap()
    }

    #[test]
    fn a_truncated_answer_is_asked_again_over_tcp_and_passed_on_when_it_fits() {
        // Over UDP the upstream answers with one record and TC set; over TCP with all forty (~700 bytes).
        let (udp, tcp) = udp_and_tcp();
        let upstream = udp.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((len, from)) = udp.recv_from(&mut buf) {
                udp.send_to(&answer(&buf[..len], 1, true), from).unwrap();
            }
        });
        std::thread::spawn(move || {
            for mut stream in tcp.incoming().flatten() {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).unwrap();
                let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut request).unwrap();
                let full = answer(&request, 40, false);
                stream.write_all(&(full.len() as u16).to_be_bytes()).unwrap();
                stream.write_all(&full).unwrap();
            }
        });
        let client = client();
        let relay = Relay::start(vec![upstream], UdpSocket::bind("127.0.0.1:0").unwrap(), Limits::default());

        // A client that takes 4096 bytes over UDP gets the whole answer.
        assert!(relay.submit(query(1, Some(4096)), client.local_addr().unwrap()));
        let full = receive(&client);
        assert_eq!((full.metadata.id, full.metadata.truncation, full.answers.len()), (1, false, 40));

        // One limited to 512 bytes cannot take it: it gets the truncated answer, TC still set.
        assert!(relay.submit(query(2, None), client.local_addr().unwrap()));
        let partial = receive(&client);
        assert_eq!((partial.metadata.id, partial.metadata.truncation, partial.answers.len()), (2, true, 1));
    }

    #[test]
    fn a_full_pool_refuses_more_queries_instead_of_growing() {
        // The upstream reports each query it gets and answers only once released.
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let (got, arrivals) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let mut buf = [0u8; 4096];
            upstream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            loop {
                if let Ok((len, from)) = upstream.recv_from(&mut buf) {
                    held.push((answer(&buf[..len], 1, false), from));
                    let _ = got.send(());
                }
                if released.try_recv().is_ok() || held.len() > 4 {
                    break;
                }
            }
            upstream.set_read_timeout(None).unwrap();
            for (reply, to) in held.drain(..) {
                upstream.send_to(&reply, to).unwrap();
            }
            while let Ok((len, from)) = upstream.recv_from(&mut buf) {
                upstream.send_to(&answer(&buf[..len], 1, false), from).unwrap();
            }
        });
        let client = client();
        let to = client.local_addr().unwrap();
        let relay = Relay::start(
            vec![upstream_addr],
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            Limits { workers: 2, queued: 2 },
        );

        // Both workers wait on the upstream...
        assert!(relay.submit(query(1, None), to));
        assert!(relay.submit(query(2, None), to));
        for _ in 0..2 {
            arrivals.recv_timeout(Duration::from_secs(10)).expect("the upstream hears from both workers");
        }
        // ...two more queries wait for them, and the next one is refused.
        assert!(relay.submit(query(3, None), to));
        assert!(relay.submit(query(4, None), to));
        assert!(!relay.submit(query(5, None), to));

        release.send(()).unwrap();
        let mut ids: Vec<u16> = (0..4).map(|_| receive(&client).metadata.id).collect();
        ids.sort();
        assert_eq!(ids, [1, 2, 3, 4]);
    }
}
