//! The `none` backend: for hosts whose firewall someone else manages. Containers still get addresses and
//! reach each other on a bridge; nothing is NATed and no port is published.

use super::{FirewallDriver, FirewallError};
use crate::network::{Endpoint, NetworkRecord, Owner};

pub struct NoFirewall;

impl FirewallDriver for NoFirewall {
    fn ensure_network(&self, _: &Owner, _: &NetworkRecord) -> Result<(), FirewallError> {
        Ok(())
    }

    fn remove_network(&self, _: &Owner, _: &NetworkRecord) -> Result<(), FirewallError> {
        Ok(())
    }

    fn add_ports(&self, _: &Owner, _: &Endpoint) -> Result<(), FirewallError> {
        Ok(())
    }

    fn remove_ports(&self, _: &Owner, _: &Endpoint) -> Result<(), FirewallError> {
        Ok(())
    }
}
