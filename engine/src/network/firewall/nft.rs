//! The nftables backend, through `nft`'s JSON interface, all in one table `inet <name>`:
//!
//! ```text
//! chain prerouting  (nat, dstnat)   fib daddr type local jump hostports
//! chain output      (nat, dstnat)   fib daddr type local jump hostports
//! chain hostports                   [ip daddr H] th dport P dnat ip to C:CP   comment "ep:<endpoint> owner:<id>"
//! chain postrouting (nat, srcnat)   ip saddr SUBNET oifname != BR masquerade   comment "net:<network> owner:<id>"
//!                                   oifname BR ip saddr 127.0.0.0/8 masquerade      (host → 127.0.0.1:P)
//!                                   oifname BR ip saddr SUBNET ct status dnat masquerade   (hairpin)
//! chain forward     (filter)        iifname BR oifname BR accept; oifname BR ct state established,related
//!                                   accept; oifname BR ct status dnat accept; oifname BR drop
//!                                   (internal: iifname BR drop, no dnat accept)
//! ```
//! Rules carry a comment naming their network or endpoint and the state root that owns them (`owner.rs`);
//! removal deletes exactly those by handle. Several roots may share the table: each adds and removes only
//! its own rules, and whoever adds a network's rules first deletes those of roots that no longer exist, so
//! deleted roots leave nothing behind for long. A host-wide flock serialises changes between berth
//! processes of every root, so the table and base rules are made once. A network whose rules are not all
//! there (a chain flushed by hand) gets them all again. A container start lists the table only when the
//! ruleset changed since this root last saw its network's rules there (`verified.rs`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use nftables::batch::Batch;
use nftables::expr::{
    CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::helper::{self, NftablesError};
use nftables::schema::{Chain, NfListObject, NfObject, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::verified::{Verified, generation};
use super::{FirewallDriver, FirewallError};
use crate::network::owner::tag_id;
use crate::network::{Endpoint, NetworkRecord, Owner};

pub struct Nftables {
    table: String,
    lock: PathBuf,
}

const HOSTPORTS: &str = "hostports";

/// A rule of berth's table as (chain, handle, comment).
type TaggedRule = (String, u32, String);

impl Nftables {
    pub fn new(table: &str, lock: PathBuf) -> Nftables {
        Nftables { table: table.into(), lock }
    }

    fn locked<T>(&self, f: impl FnOnce() -> Result<T, FirewallError>) -> Result<T, FirewallError> {
        let lock_err = |reason: String| FirewallError::Lock { path: self.lock.clone(), reason };
        if let Some(dir) = self.lock.parent() {
            std::fs::create_dir_all(dir).map_err(|e| lock_err(e.to_string()))?;
        }
        let _guard = crate::store::lock::exclusive(&self.lock).map_err(|e| lock_err(e.to_string()))?;
        f()
    }

    fn err(&self, action: &str, source: NftablesError) -> FirewallError {
        match source {
            NftablesError::NftFailed { stderr, .. } => FirewallError::NftFailed {
                table: self.table.clone(),
                action: action.into(),
                stderr: stderr.trim().into(),
            },
            source => FirewallError::Nft { table: self.table.clone(), action: action.into(), source: Box::new(source) },
        }
    }

    /// The table's rules as (chain, handle, comment); None when the table does not exist.
    fn rules(&self) -> Result<Option<Vec<TaggedRule>>, FirewallError> {
        let args = ["list", "table", "inet", self.table.as_str()];
        let ruleset = match helper::get_current_ruleset_with_args(helper::DEFAULT_NFT, args) {
            Ok(r) => r,
            Err(NftablesError::NftFailed { stderr, .. }) if stderr.contains("No such file or directory") => {
                return Ok(None);
            }
            Err(e) => return Err(self.err("listing rules", e)),
        };
        Ok(Some(
            ruleset
                .objects
                .iter()
                .filter_map(|o| match o {
                    NfObject::ListObject(NfListObject::Rule(r)) => {
                        Some((r.chain.to_string(), r.handle?, r.comment.as_deref().unwrap_or_default().to_string()))
                    }
                    _ => None,
                })
                .collect(),
        ))
    }

    fn apply(&self, action: &str, batch: Batch) -> Result<(), FirewallError> {
        helper::apply_ruleset(&batch.to_nftables()).map_err(|e| self.err(action, e))
    }

    fn chain(&self, name: &'static str, base: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
        NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            name: name.into(),
            _type: base.map(|b| b.0),
            hook: base.map(|b| b.1),
            prio: base.map(|b| b.2),
            policy: base.map(|_| NfChainPolicy::Accept),
            ..Chain::default()
        })
    }

    fn rule(&self, chain: &str, comment: &str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
        NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.into()),
            expr: Cow::Owned(expr),
            comment: Some(Cow::Owned(comment.into())),
            ..Rule::default()
        })
    }

    /// Adds the table, its chains and the jumps into `hostports`, once.
    fn base(&self, batch: &mut Batch<'static>) {
        batch.add(NfListObject::Table(Table {
            family: NfFamily::INet,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        }));
        batch.add(self.chain(HOSTPORTS, None));
        batch.add(self.chain("prerouting", Some((NfChainType::NAT, NfHook::Prerouting, -100))));
        batch.add(self.chain("output", Some((NfChainType::NAT, NfHook::Output, -100))));
        batch.add(self.chain("postrouting", Some((NfChainType::NAT, NfHook::Postrouting, 100))));
        batch.add(self.chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0))));
        for chain in ["prerouting", "output"] {
            let local = eq(
                Expression::Named(NamedExpression::Fib(Fib {
                    result: FibResult::Type,
                    flags: HashSet::from([FibFlag::Daddr]),
                })),
                s("local"),
            );
            let jump = Statement::Jump(JumpTarget { target: HOSTPORTS.into() });
            batch.add(self.rule(chain, "berth", vec![local, jump]));
        }
    }

    /// A batch step deleting one rule by its handle.
    fn delete_rule(&self, batch: &mut Batch<'static>, chain: String, handle: u32) {
        batch.delete(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain),
            handle: Some(handle),
            ..Rule::default()
        }));
    }

    /// Deletes the rules whose comment is one of `tags`; whether any were.
    fn delete_tagged(&self, action: &str, tags: &[String]) -> Result<bool, FirewallError> {
        let Some(rules) = self.rules()? else { return Ok(false) };
        let mut batch = Batch::new();
        let mut any = false;
        for (chain, handle, comment) in rules {
            if tags.contains(&comment) {
                any = true;
                self.delete_rule(&mut batch, chain, handle);
            }
        }
        if !any {
            return Ok(false);
        }
        self.apply(action, batch).map(|()| true)
    }

    /// The rules of one network, all tagged `tag`.
    fn network_rules(&self, n: &NetworkRecord, tag: &str) -> Vec<NfListObject<'static>> {
        let mut rules = Vec::new();
        let br = || s(&n.bridge);
        let subnet = || prefix(n.subnet.network().to_string(), n.subnet.prefix_len());
        let iif = || meta(MetaKey::Iifname);
        let oif = || meta(MetaKey::Oifname);
        let saddr = || payload("ip", "saddr");
        let dnat_status = || Statement::Match(Match { left: ct("status"), right: s("dnat"), op: Operator::IN });
        let post = "postrouting";
        if !n.internal {
            rules.push(self.rule(
                post,
                tag,
                vec![eq(saddr(), subnet()), neq(oif(), br()), Statement::Masquerade(None)],
            ));
        }
        rules.push(self.rule(
            post,
            tag,
            vec![eq(oif(), br()), eq(saddr(), prefix("127.0.0.0".into(), 8)), Statement::Masquerade(None)],
        ));
        rules.push(self.rule(
            post,
            tag,
            vec![eq(oif(), br()), eq(saddr(), subnet()), dnat_status(), Statement::Masquerade(None)],
        ));
        let fwd = "forward";
        rules.push(self.rule(fwd, tag, vec![eq(iif(), br()), eq(oif(), br()), Statement::Accept(None)]));
        let established = Statement::Match(Match {
            left: ct("state"),
            right: Expression::List(vec![s("established"), s("related")]),
            op: Operator::IN,
        });
        rules.push(self.rule(fwd, tag, vec![eq(oif(), br()), established, Statement::Accept(None)]));
        if n.internal {
            rules.push(self.rule(fwd, tag, vec![eq(iif(), br()), Statement::Drop(None)]));
        } else {
            rules.push(self.rule(fwd, tag, vec![eq(oif(), br()), dnat_status(), Statement::Accept(None)]));
        }
        rules.push(self.rule(fwd, tag, vec![eq(oif(), br()), Statement::Drop(None)]));
        rules
    }
}

fn s(text: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(text.into()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT { key: key.into(), family: None, dir: None }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

fn prefix(addr: String, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(Cow::Owned(addr))),
        len: len.into(),
    }))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn neq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::NEQ })
}

fn network_tag(owner: &Owner, n: &NetworkRecord) -> String {
    format!("net:{} {}", n.id, owner.tag())
}

fn endpoint_tag(owner: &Owner, e: &Endpoint) -> String {
    format!("ep:{} {}", e.endpoint_id(), owner.tag())
}

/// The comments of a network's or endpoint's rules as berth wrote them before it marked their owner: ids
/// are random per root, so these are the same root's rules.
fn legacy_tag(owner_tag: &str) -> String {
    owner_tag.split(' ').next().unwrap_or_default().to_string()
}

/// The rules of roots that no longer exist, by their owner mark.
fn orphaned(owner: &Owner, rules: &[TaggedRule]) -> Vec<(String, u32)> {
    let mut alive: HashMap<&str, bool> = HashMap::new();
    rules
        .iter()
        .filter(|(_, _, comment)| {
            tag_id(comment).is_some_and(|id| !*alive.entry(id).or_insert_with(|| owner.live_root(id).is_some()))
        })
        .map(|(chain, handle, _)| (chain.clone(), *handle))
        .collect()
}

/// The DNAT rules for an endpoint's published ports.
fn port_rules(table: &Nftables, owner: &Owner, e: &Endpoint) -> Vec<NfListObject<'static>> {
    let tag = endpoint_tag(owner, e);
    e.ports
        .iter()
        .map(|p| {
            let mut expr = vec![
                eq(meta(MetaKey::Nfproto), s("ipv4")),
                eq(meta(MetaKey::L4proto), s(p.protocol.as_str())),
                eq(payload("th", "dport"), Expression::Number(p.host_port.into())),
            ];
            if !p.host_ip.is_unspecified() {
                expr.push(eq(payload("ip", "daddr"), s(&p.host_ip.to_string())));
            }
            expr.push(Statement::DNAT(Some(NAT {
                addr: Some(s(&e.address.to_string())),
                family: Some(NATFamily::IP),
                port: Some(Expression::Number(p.container_port.into())),
                flags: None,
            })));
            table.rule(HOSTPORTS, &tag, expr)
        })
        .collect()
}

impl FirewallDriver for Nftables {
    fn ensure_network(&self, owner: &Owner, network: &NetworkRecord) -> Result<(), FirewallError> {
        let tag = network_tag(owner, network);
        let seen = Verified::new(&owner.root, &self.table);
        if seen.holds(&tag) {
            return Ok(());
        }
        self.locked(|| {
            let legacy = legacy_tag(&tag);
            let before = generation().ok();
            let mut batch = Batch::new();
            let mut changed = false;
            let wanted = self.network_rules(network, &tag);
            let mut present = false;
            match self.rules()? {
                None => self.base(&mut batch),
                Some(rules) => {
                    let ours = || rules.iter().filter(|(_, _, c)| *c == tag);
                    present = ours().count() == wanted.len();
                    // Some of them gone (a chain flushed by hand): all of them are made again.
                    let partial = ours().filter(|_| !present);
                    let stale = rules.iter().filter(|(_, _, c)| *c == legacy).chain(partial);
                    let stale = stale.map(|(ch, h, _)| (ch.clone(), *h));
                    for (chain, handle) in orphaned(owner, &rules).into_iter().chain(stale) {
                        changed = true;
                        self.delete_rule(&mut batch, chain, handle);
                    }
                }
            }
            if !present {
                changed = true;
                for rule in wanted {
                    batch.add(rule);
                }
            }
            if changed {
                let applied = self.apply(&format!("adding rules for network {}", network.name), batch);
                if applied.is_err() {
                    seen.forget();
                }
                applied?;
            }
            seen.record(before, u32::from(changed), generation().ok(), Some(&tag));
            Ok(())
        })
    }

    fn remove_network(&self, owner: &Owner, network: &NetworkRecord) -> Result<(), FirewallError> {
        let tag = network_tag(owner, network);
        self.locked(|| {
            let action = format!("removing rules of network {}", network.name);
            self.delete_tagged(&action, &[legacy_tag(&tag), tag.clone()]).map(drop)
        })
    }

    fn add_ports(&self, owner: &Owner, endpoint: &Endpoint) -> Result<(), FirewallError> {
        if endpoint.ports.is_empty() {
            return Ok(());
        }
        let seen = Verified::new(&owner.root, &self.table);
        self.locked(|| {
            let before = generation().ok();
            let mut batch = Batch::new();
            // The table exists while the record holds any network's rules; otherwise it is listed.
            let known = before.is_some_and(|g| seen.holds_any_at(g));
            if !known && self.rules()?.is_none() {
                self.base(&mut batch);
            }
            for rule in port_rules(self, owner, endpoint) {
                batch.add(rule);
            }
            let applied = self.apply(&format!("publishing ports of container {}", endpoint.container_name), batch);
            match applied {
                Ok(()) => seen.record(before, 1, generation().ok(), None),
                Err(_) => seen.forget(),
            }
            applied
        })
    }

    fn remove_ports(&self, owner: &Owner, endpoint: &Endpoint) -> Result<(), FirewallError> {
        if endpoint.ports.is_empty() {
            return Ok(());
        }
        let tag = endpoint_tag(owner, endpoint);
        let seen = Verified::new(&owner.root, &self.table);
        self.locked(|| {
            let before = generation().ok();
            let action = format!("unpublishing ports of container {}", endpoint.container_name);
            match self.delete_tagged(&action, &[legacy_tag(&tag), tag.clone()]) {
                // Port rules only: the networks' rules the record lists are still there.
                Ok(deleted) => seen.record(before, u32::from(deleted), generation().ok(), None),
                Err(e) => {
                    seen.forget();
                    return Err(e);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::PortMapping;

    fn owner(dir: &std::path::Path, name: &str) -> Owner {
        let root = dir.join(name);
        std::fs::create_dir_all(&root).unwrap();
        Owner::claim(&root, &dir.join("registry")).unwrap()
    }

    #[test]
    fn rules_of_deleted_roots_are_orphans_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (me, other, gone) = (owner(dir.path(), "me"), owner(dir.path(), "other"), owner(dir.path(), "gone"));
        std::fs::remove_dir_all(dir.path().join("gone")).unwrap();
        let rule = |handle: u32, comment: String| ("postrouting".to_string(), handle, comment);
        let rules = vec![
            rule(1, "berth".into()),
            rule(2, format!("net:a {}", me.tag())),
            rule(3, format!("net:b {}", other.tag())),
            rule(4, format!("net:c {}", gone.tag())),
            rule(5, "net:d".into()),
            rule(6, format!("ep:e {}", gone.tag())),
        ];
        assert_eq!(orphaned(&me, &rules), [("postrouting".to_string(), 4), ("postrouting".to_string(), 6)]);
        assert_eq!(legacy_tag(&format!("net:a {}", me.tag())), "net:a");
    }

    #[test]
    fn published_ports_become_dnat_rules_tagged_with_their_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let me = owner(dir.path(), "me");
        let fw = Nftables::new("berth_unit", PathBuf::from("/nonexistent"));
        let endpoint = Endpoint {
            network_id: "n".into(),
            container_id: "c".into(),
            container_name: "web".into(),
            address: "10.66.0.2".parse().unwrap(),
            mac: "02:42:0a:42:00:02".into(),
            host_veth: "vb0".into(),
            ifname: "eth0".into(),
            aliases: vec![],
            ports: vec![PortMapping::parse("127.0.0.1:8080:80").unwrap(), PortMapping::parse("53:53/udp").unwrap()],
        };
        let rules = port_rules(&fw, &me, &endpoint);
        let json = serde_json::to_value(&rules).unwrap();
        let first = json[0]["rule"].to_string();
        assert!(first.contains(r#""dnat":{"addr":"10.66.0.2","family":"ip","port":80}"#), "{first}");
        assert!(first.contains(r#""right":"127.0.0.1""#) && first.contains(&endpoint_tag(&me, &endpoint)), "{first}");
        let second = json[1]["rule"].to_string();
        assert!(second.contains(r#""right":"udp""#) && !second.contains("daddr"), "{second}");
    }
}
