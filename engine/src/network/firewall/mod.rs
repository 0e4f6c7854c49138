//! Firewall backends behind one trait: NAT out of networks, isolation between them, published ports.
//! berth changes only its own table; every rule it adds is tagged with its network or endpoint and the
//! state root that owns it, so it can be found and removed again, by that root or, once that root is
//! deleted, by any other sharing the table.

mod nft;
mod none;
mod verified;

use std::path::PathBuf;

use thiserror::Error;

use super::{Endpoint, NetworkRecord, Owner};

#[derive(Debug, Error)]
pub enum FirewallError {
    #[error("nftables table inet {table}: {action}: {source}")]
    Nft { table: String, action: String, source: Box<nftables::helper::NftablesError> },
    #[error("nftables table inet {table}: {action}: nft said: {stderr}")]
    NftFailed { table: String, action: String, stderr: String },
    #[error("unknown firewall driver {name:?} (use nftables or none)")]
    UnknownDriver { name: String },
    #[error("firewall lock {path}: {reason}")]
    Lock { path: PathBuf, reason: String },
}

/// A firewall backend. Calls are idempotent: repeating one after a crash or from a new berth process
/// neither duplicates nor fails. `owner` is the state root the network belongs to; a backend touches
/// only its rules and those of roots that no longer exist.
pub trait FirewallDriver: Send + Sync {
    /// Masquerade out of the network (unless internal), isolation from other networks, hairpin NAT; and
    /// the rules of deleted roots go.
    fn ensure_network(&self, owner: &Owner, network: &NetworkRecord) -> Result<(), FirewallError>;
    fn remove_network(&self, owner: &Owner, network: &NetworkRecord) -> Result<(), FirewallError>;
    /// DNAT for the endpoint's published ports, from other hosts and from the host itself.
    fn add_ports(&self, owner: &Owner, endpoint: &Endpoint) -> Result<(), FirewallError>;
    fn remove_ports(&self, owner: &Owner, endpoint: &Endpoint) -> Result<(), FirewallError>;
}

/// The backend named in the config: `nftables` (berth's table `inet <table>`) or `none`.
pub fn driver(name: &str, table: &str, lock: PathBuf) -> Result<Box<dyn FirewallDriver>, FirewallError> {
    match name {
        "nftables" => Ok(Box::new(nft::Nftables::new(table, lock))),
        "none" => Ok(Box::new(none::NoFirewall)),
        other => Err(FirewallError::UnknownDriver { name: other.into() }),
    }
}
