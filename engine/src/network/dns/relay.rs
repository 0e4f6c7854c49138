//! Relaying queries the resolver cannot answer to the host's resolvers, each upstream in turn, SERVFAIL
//! when none answers. A UDP client's query goes over UDP, and again over TCP when an upstream's answer is
//! truncated: the full answer goes back when it fits the client's UDP size (512 bytes, or its EDNS payload
//! size), else the truncated one with TC set, as DNS says, and the client asks again over TCP. A TCP
//! client's query goes over TCP.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};

/// How long one upstream may take (per transport) before the next is asked or the client gets SERVFAIL.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer for a client that asked over UDP.
pub(super) fn for_udp(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    let limit = Message::from_vec(query).map(|m| usize::from(m.max_payload())).unwrap_or(512);
    upstreams.iter().find_map(|up| relay_one(*up, query, limit)).or_else(|| servfail(query))
}

/// The answer for a client that asked over TCP.
pub(super) fn for_tcp(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    upstreams.iter().find_map(|up| ask_tcp(*up, query)).or_else(|| servfail(query))
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

/// Asks over TCP.
fn ask_tcp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, UPSTREAM_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    write_framed(&mut stream, query).ok()?;
    let answer = read_framed(&mut stream).ok()?;
    answers(&answer, query).then_some(answer)
}

/// Writes a DNS message as TCP carries it: prefixed by its length (RFC 1035 4.2.2).
pub(super) fn write_framed(stream: &mut impl Write, message: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(message.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed)
}

/// Reads one length-prefixed DNS message.
pub(super) fn read_framed(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message)?;
    Ok(message)
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
                let request = read_framed(&mut stream).unwrap();
                write_framed(&mut stream, &answer(&request, 40, false)).unwrap();
            }
        });
        let received = |reply: Option<Vec<u8>>| Message::from_vec(&reply.expect("an answer")).unwrap();

        // A client that takes 4096 bytes over UDP gets the whole answer.
        let full = received(for_udp(&[upstream], &query(1, Some(4096))));
        assert_eq!((full.metadata.id, full.metadata.truncation, full.answers.len()), (1, false, 40));

        // One limited to 512 bytes cannot take it: it gets the truncated answer, TC still set.
        let partial = received(for_udp(&[upstream], &query(2, None)));
        assert_eq!((partial.metadata.id, partial.metadata.truncation, partial.answers.len()), (2, true, 1));

        // A client asking over TCP gets the whole answer whatever its size.
        let whole = received(for_tcp(&[upstream], &query(3, None)));
        assert_eq!((whole.metadata.id, whole.metadata.truncation, whole.answers.len()), (3, false, 40));
    }
}
