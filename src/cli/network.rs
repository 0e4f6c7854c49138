//! `network create|ls|inspect|rm|prune|connect|disconnect`, plus the entry of a user network's name resolver
//! (`berth __dns ROOT NETWORK`, dispatched before tokio starts).

use std::collections::BTreeMap;

use anyhow::bail;
use berth_engine::Engine;
use berth_engine::network::NetworkCreate;
use clap::{Args, Subcommand};
use serde_json::json;

use super::format::{Format, InspectFormat};

/// Docker's `network ls` columns: each row key's table header.
const NETWORK_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkSubcommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkSubcommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NamesArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Connect a network namespace to networks and print its NetworkSettings (a test hook)
    #[cfg(berth_testing)]
    #[command(hide = true)]
    Attach(AttachArgs),
    /// Disconnect a container from its networks (a test hook)
    #[cfg(berth_testing)]
    #[command(hide = true)]
    Detach(DetachArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form (default: the next free /24 of the configured pool)
    #[arg(long)]
    subnet: Option<ipnet::Ipv4Net>,
    /// Gateway address inside the subnet (default: its first address)
    #[arg(long)]
    gateway: Option<std::net::Ipv4Addr>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Driver (only bridge)
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Set metadata on the network (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Output format: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: json (the default, an array) or a Go template run over each object
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add a network-scoped alias for the container
    #[arg(long = "alias")]
    aliases: Vec<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[cfg(berth_testing)]
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The container's network namespace (/proc/PID/ns/net)
    #[arg(long)]
    netns: std::path::PathBuf,
    #[arg(long)]
    container_id: String,
    #[arg(long)]
    container_name: String,
    /// Network alias (applies to every network given)
    #[arg(long = "alias")]
    aliases: Vec<String>,
    /// Publish a port: [ip:][hostport:]containerport[/protocol] (on the first network)
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[cfg(berth_testing)]
#[derive(Debug, Args)]
pub struct DetachArgs {
    container_id: String,
    /// Only this network (default: all of the container's networks)
    #[arg(long)]
    network: Option<String>,
}

pub fn run(engine: &Engine, cmd: NetworkCommand) -> anyhow::Result<()> {
    let NetworkCommand::Network(cmd) = cmd;
    match cmd {
        NetworkSubcommand::Create(args) => {
            if args.driver != "bridge" {
                bail!("network driver {:?} is not supported (use bridge)", args.driver);
            }
            let mut labels = BTreeMap::new();
            for label in &args.labels {
                let (k, v) = label.split_once('=').unwrap_or((label, ""));
                labels.insert(k.to_string(), v.to_string());
            }
            let req = NetworkCreate {
                name: args.name,
                subnet: args.subnet,
                gateway: args.gateway,
                internal: args.internal,
                labels,
            };
            outln!("{}", engine.create_network(&req)?.id)?;
        }
        NetworkSubcommand::Ls(args) => {
            let format = Format::parse(args.format.as_deref(), "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}")?;
            let list = engine.list_networks()?;
            let id = |full: &str| if args.no_trunc { full.to_string() } else { full.chars().take(12).collect() };
            if args.quiet {
                for n in &list {
                    outln!("{}", id(&n.id))?;
                }
            } else {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|n| {
                        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        json!({
                            "CreatedAt": n.created,
                            "Driver": n.driver,
                            "ID": id(&n.id),
                            "IPv4": "true",
                            "IPv6": "false",
                            "Internal": n.internal.to_string(),
                            "Labels": labels.join(","),
                            "Name": n.name,
                            "Scope": "local",
                        })
                    })
                    .collect();
                format.print_rows(&rows, NETWORK_HEADERS)?;
            }
        }
        NetworkSubcommand::Inspect(args) => {
            let format = InspectFormat::parse(args.format.as_deref())?;
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in &args.networks {
                match engine.inspect_network(name) {
                    Ok(doc) => found.push(doc),
                    Err(e) => missing.push(e.to_string()),
                }
            }
            format.print(&found)?;
            if !missing.is_empty() {
                bail!("{}", missing.join("\n"));
            }
        }
        NetworkSubcommand::Rm(args) => {
            let mut failed = Vec::new();
            for name in &args.networks {
                match engine.remove_network(name) {
                    Ok(_) => outln!("{name}")?,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            if !failed.is_empty() {
                bail!("{}", failed.join("\n"));
            }
        }
        NetworkSubcommand::Prune(args) => {
            let warning = "WARNING! This will remove all custom networks not used by at least one container.";
            if !args.force && !super::confirm(warning)? {
                return Ok(());
            }
            let removed = engine.prune_networks()?;
            if !removed.is_empty() {
                outln!("Deleted Networks:")?;
                for n in &removed {
                    outln!("{n}")?;
                }
            }
        }
        #[cfg(berth_testing)]
        NetworkSubcommand::Attach(args) => attach(engine.network_internals(), args)?,
        NetworkSubcommand::Connect(args) => engine.connect_container(&args.network, &args.container, &args.aliases)?,
        NetworkSubcommand::Disconnect(args) => engine.disconnect_container(&args.network, &args.container)?,
        #[cfg(berth_testing)]
        NetworkSubcommand::Detach(args) => {
            engine.network_internals().detach(&args.container_id, args.network.as_deref())?
        }
    }
    Ok(())
}

/// `network attach` (a test hook): wires a network namespace as a container's monitor would, starts the
/// networks' resolvers, and prints the NetworkSettings.
#[cfg(berth_testing)]
fn attach(networks: &berth_engine::network::Networks, args: AttachArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use berth_engine::network::{ContainerRef, NetworkRequest, PortMapping};
    let mut ports = Vec::new();
    for spec in &args.publish {
        ports.push(PortMapping::parse(spec)?);
    }
    let requests: Vec<NetworkRequest> = args
        .networks
        .iter()
        .enumerate()
        .map(|(i, network)| NetworkRequest {
            network: network.clone(),
            aliases: args.aliases.clone(),
            ports: if i == 0 { ports.clone() } else { Vec::new() },
            ..NetworkRequest::default()
        })
        .collect();
    let container = ContainerRef { id: &args.container_id, name: &args.container_name };
    let settings = networks.attach(container, &args.netns, &requests)?;
    let exe = std::env::current_exe().context("cannot find the berth executable to start the DNS resolver")?;
    for req in &requests {
        networks.spawn_resolver(&exe, &networks.get(&req.network)?)?;
    }
    outln!("{}", serde_json::to_string_pretty(&settings)?)?;
    Ok(())
}
