//! `volume create|ls|inspect|rm|prune` with Docker's flags and output shapes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use berth_engine::Engine;
use berth_engine::volume::{PruneOptions, VolumeCreate, VolumeFilter, VolumeRecord, inspect_json};
use clap::{Args, Subcommand};
use serde_json::json;

use super::format::{Format, InspectFormat, human_size};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeSubcommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum VolumeSubcommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones only, unless --all)
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Volume driver (only local)
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Driver options (the local driver takes none)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    opts: Vec<String>,
    /// Volume name (a random one when omitted)
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Filter output (dangling=true|false, name=, label=KEY[=VALUE], driver=)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Output format: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: json (the default, an array) or a Go template run over each object
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail on volumes that do not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Filter: label=KEY[=VALUE]
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation (berth never prompts)
    #[arg(short, long)]
    force: bool,
}

fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Docker's `volume ls` columns: each row key's table header.
const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];

pub fn run(engine: &Engine, cmd: VolumeCommand) -> anyhow::Result<ExitCode> {
    let VolumeCommand::Volume(cmd) = cmd;
    match cmd {
        VolumeSubcommand::Create(args) => {
            let req = VolumeCreate {
                name: args.name,
                driver: Some(args.driver),
                labels: key_values(&args.labels),
                options: key_values(&args.opts),
            };
            outln!("{}", engine.create_volume(&req)?.name)?;
            Ok(ExitCode::SUCCESS)
        }
        VolumeSubcommand::Ls(args) => ls(engine, args),
        VolumeSubcommand::Inspect(args) => {
            let format = InspectFormat::parse(args.format.as_deref())?;
            let mut docs = Vec::new();
            let mut failed = false;
            for name in &args.volumes {
                match engine.volume(name) {
                    Ok(v) => docs.push(inspect_json(&v)),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            format.print(&docs)?;
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        VolumeSubcommand::Rm(args) => {
            let mut failed = false;
            for name in &args.volumes {
                match engine.remove_volume(name, args.force) {
                    Ok(()) => outln!("{name}")?,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        VolumeSubcommand::Prune(args) => {
            let filter = VolumeFilter::parse(&args.filter)?;
            if filter.dangling.is_some() || !filter.name.is_empty() || !filter.driver.is_empty() {
                bail!("volume prune filters by label only");
            }
            let (removed, bytes) = engine.prune_volumes(&PruneOptions { all: args.all, label: filter.label })?;
            if !removed.is_empty() {
                outln!("Deleted Volumes:")?;
                for name in &removed {
                    outln!("{name}")?;
                }
                outln!()?;
            }
            outln!("Total reclaimed space: {}", human_size(bytes))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ls(engine: &Engine, args: ListArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(args.format.as_deref(), "table {{.Driver}}\t{{.Name}}")?;
    let volumes = engine.volumes(&VolumeFilter::parse(&args.filter)?)?;
    if args.quiet {
        for v in &volumes {
            outln!("{}", v.name)?;
        }
    } else {
        let rows: Vec<serde_json::Value> = volumes.iter().map(ls_json).collect();
        format.print_rows(&rows, VOLUME_HEADERS)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker's `volume ls --format json` line.
fn ls_json(v: &VolumeRecord) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "Driver": v.driver,
        "Labels": labels.join(","),
        "Links": v.used_by.len().to_string(),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": "local",
        "Size": "N/A",
    })
}
