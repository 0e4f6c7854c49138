//! Shared fixtures for berth's integration tests: a real registry, OCI images built in Rust, a
//! fault-injecting fake registry, and a harness that runs the `berth` binary against a temporary root.
//!
//! Each test file includes this with `mod support;` and uses a subset, so unused items are expected.
#![allow(dead_code)]

pub mod berth;
pub mod certs;
pub mod fake;
pub mod oci;
pub mod podman;
pub mod registry;

pub use berth_engine::testing::require_root;

/// Deletes a test's own default bridge and nftables table, whatever state the test left them in.
pub fn remove_host_network(bridge: &str, table: &str) {
    if let Ok(mut sock) = berth_engine::network::netlink::Socket::open() {
        let _ = sock.delete_link(bridge);
    }
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "inet", table])
        .stderr(std::process::Stdio::null())
        .status();
}
