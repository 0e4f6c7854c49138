//! What berth last saw of its nftables table, so a container start need not list the table again (an `nft`
//! exec, most of a bridged start's cost). The kernel numbers every committed change of a namespace's
//! ruleset (its generation, `NFT_MSG_GETGEN`): a network's rules seen at generation G are still there while
//! the generation is G, whoever might have changed the ruleset meanwhile. The record is a file in the state
//! root holding the boot, the generation and the tags of the rules found (or added) then.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN` and the reply's `NFT_MSG_NEWGEN`.
const GETGEN: u16 = (10 << 8) | 16;
const NEWGEN: u16 = (10 << 8) | 15;
const NLMSG_ERROR: u16 = 2;
const NFTA_GEN_ID: u16 = 1;

/// The ruleset generation of the calling thread's network namespace.
pub(super) fn generation() -> std::io::Result<u32> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    // nlmsghdr (length, type, flags = NLM_F_REQUEST, seq, pid), then nfgenmsg (AF_UNSPEC, NFNETLINK_V0, 0).
    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&GETGEN.to_ne_bytes());
    req.extend_from_slice(&1u16.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[0, 0, 0, 0]);
    sock.send(&req, 0)?;
    let (reply, _) = sock.recv_from_full()?;
    parse_generation(&reply)
}

fn parse_generation(reply: &[u8]) -> std::io::Result<u32> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("NFT_MSG_GETGEN: {what}"));
    let u16_at = |at: usize| reply.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |at: usize| reply.get(at..at + 4).map(|b| [b[0], b[1], b[2], b[3]]);
    match u16_at(4) {
        Some(NEWGEN) => {}
        Some(NLMSG_ERROR) => {
            let errno = u32_at(16).map(i32::from_ne_bytes).ok_or_else(|| bad("short error"))?;
            return Err(std::io::Error::from_raw_os_error(-errno));
        }
        _ => return Err(bad("unexpected reply")),
    }
    let len = u32_at(0).map(u32::from_ne_bytes).ok_or_else(|| bad("short reply"))? as usize;
    // Attributes follow the 16-byte header and the 4-byte nfgenmsg, each padded to 4 bytes.
    let mut at = 20;
    while at + 4 <= len.min(reply.len()) {
        let (Some(attr_len), Some(kind)) = (u16_at(at), u16_at(at + 2)) else { break };
        if kind & 0x3fff == NFTA_GEN_ID {
            return u32_at(at + 4).map(u32::from_be_bytes).ok_or_else(|| bad("short generation"));
        }
        if attr_len < 4 {
            break;
        }
        at += (attr_len as usize + 3) & !3;
    }
    Err(bad("no generation id"))
}

/// The record of one table for one state root.
pub(super) struct Verified {
    path: PathBuf,
}

/// A generation as berth saw it: the rules with these tags were in the table then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    boot: String,
    generation: u32,
    tags: BTreeSet<String>,
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Verified {
    pub(super) fn new(root: &Path, table: &str) -> Verified {
        Verified { path: root.join(format!("nft-{table}.seen")) }
    }

    fn load(&self) -> Option<Seen> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let mut lines = text.lines();
        let (boot, generation) = lines.next()?.split_once(' ')?;
        let generation = generation.parse().ok()?;
        Some(Seen { boot: boot.into(), generation, tags: lines.map(String::from).collect() })
    }

    /// Whether the rules tagged `tag` are in the table now, as far as this record tells without listing it.
    pub(super) fn holds(&self, tag: &str) -> bool {
        let Some(seen) = self.load() else { return false };
        seen.tags.contains(tag) && seen.boot == boot_id() && generation().is_ok_and(|g| g == seen.generation)
    }

    /// Whether the record holds some network's rules at generation `generation` (so the table exists).
    pub(super) fn holds_any_at(&self, generation: u32) -> bool {
        self.load().is_some_and(|s| !s.tags.is_empty() && s.generation == generation && s.boot == boot_id())
    }

    /// Records what one change (or check) under the firewall lock left: the table was listed at `before`
    /// and the change committed `commits` transactions (0 or 1), after which the generation was `after`.
    /// Only when no other commit came in between does the record hold: the tags seen earlier at `before`
    /// plus `tag`, which the listing or the change put there; otherwise the record is dropped.
    pub(super) fn record(&self, before: Option<u32>, commits: u32, after: Option<u32>, tag: Option<&str>) {
        let (Some(before), Some(after)) = (before, after) else { return self.forget() };
        if before.wrapping_add(commits) != after {
            return self.forget();
        }
        let boot = boot_id();
        let mut tags = match self.load() {
            Some(seen) if seen.boot == boot && seen.generation == before => seen.tags,
            _ => BTreeSet::new(),
        };
        tags.extend(tag.map(String::from));
        if tags.is_empty() {
            return self.forget();
        }
        let mut text = format!("{boot} {after}\n");
        for tag in &tags {
            text.push_str(tag);
            text.push('\n');
        }
        // A cache: when it cannot be written, the next start lists the table as before.
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            self.forget();
        }
    }

    pub(super) fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(v: &Verified) -> Option<(u32, Vec<String>)> {
        v.load().map(|s| (s.generation, s.tags.into_iter().collect()))
    }

    #[test]
    fn a_record_holds_only_what_no_foreign_commit_can_have_changed() {
        let dir = tempfile::tempdir().unwrap();
        let v = Verified::new(dir.path(), "t");
        v.record(Some(7), 0, Some(7), Some("net:a"));
        assert_eq!(seen(&v), Some((7, vec!["net:a".into()])));
        // Our own one commit on top of what was seen: the earlier tags still hold, with the new one.
        v.record(Some(7), 1, Some(8), Some("net:b"));
        assert_eq!(seen(&v), Some((8, vec!["net:a".into(), "net:b".into()])));
        // Listed at a generation the record was not made at: only what that listing saw.
        v.record(Some(20), 0, Some(20), Some("net:c"));
        assert_eq!(seen(&v), Some((20, vec!["net:c".into()])));
        // Someone else committed between the listing and the end: nothing is known any more.
        v.record(Some(20), 1, Some(22), Some("net:d"));
        assert_eq!(seen(&v), None);
        v.record(Some(30), 0, Some(30), Some("net:e"));
        v.record(None, 0, Some(30), Some("net:f"));
        assert_eq!(seen(&v), None);
    }

    #[test]
    fn a_record_of_another_boot_or_generation_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let v = Verified::new(dir.path(), "t");
        let tags = "net:a\n";
        std::fs::write(&v.path, format!("other-boot 5\n{tags}")).unwrap();
        assert!(!v.holds("net:a"));
        let Ok(now) = generation() else { return };
        std::fs::write(&v.path, format!("{} {}\n{tags}", boot_id(), now.wrapping_add(1))).unwrap();
        assert!(!v.holds("net:a"));
        std::fs::write(&v.path, format!("{} {now}\n{tags}", boot_id())).unwrap();
        assert!(!v.holds("net:b"));
        // The generation may move under a busy host; when it did not, the record holds.
        if generation().is_ok_and(|g| g == now) {
            assert!(v.holds("net:a") || generation().is_ok_and(|g| g != now));
        }
    }

    #[test]
    fn generation_replies_are_parsed_and_errors_reported() {
        let mut reply = Vec::new();
        reply.extend_from_slice(&44u32.to_ne_bytes());
        reply.extend_from_slice(&NEWGEN.to_ne_bytes());
        reply.extend_from_slice(&[0; 10]);
        reply.extend_from_slice(&[0; 4]);
        // NFTA_GEN_PROC_PID first, then the id (big-endian), as the kernel orders them may vary.
        reply.extend_from_slice(&8u16.to_ne_bytes());
        reply.extend_from_slice(&2u16.to_ne_bytes());
        reply.extend_from_slice(&99u32.to_be_bytes());
        reply.extend_from_slice(&8u16.to_ne_bytes());
        reply.extend_from_slice(&NFTA_GEN_ID.to_ne_bytes());
        reply.extend_from_slice(&1234u32.to_be_bytes());
        reply.extend_from_slice(&[0; 8]);
        assert_eq!(parse_generation(&reply).unwrap(), 1234);

        let mut error = Vec::new();
        error.extend_from_slice(&36u32.to_ne_bytes());
        error.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error.extend_from_slice(&[0; 10]);
        error.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(parse_generation(&error).unwrap_err().raw_os_error(), Some(libc::EPERM));
    }
}
