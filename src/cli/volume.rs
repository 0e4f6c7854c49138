//! `volume create|ls|inspect|rm|prune` with Docker's flags and output shapes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use berth_engine::Engine;
use berth_engine::volume::{PruneOptions, VolumeCreate, VolumeFilter, VolumeRecord, inspect_json};
use clap::{Args, Subcommand};
use serde_json::json;

use super::format::{human_size, table};

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeSubcommand),
}

#[derive(Debug, Subcommand)]
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
    /// Output format: table (default) or json (one object per line)
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output format: json (the default, an array)
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

fn check_format(format: Option<&str>) -> anyhow::Result<bool> {
    match format {
        None | Some("table") => Ok(false),
        Some("json") | Some("{{json .}}") => Ok(true),
        Some(other) => bail!("unsupported --format {other:?}: use table or json"),
    }
}

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
            println!("{}", engine.create_volume(&req)?.name);
            Ok(ExitCode::SUCCESS)
        }
        VolumeSubcommand::Ls(args) => ls(engine, args),
        VolumeSubcommand::Inspect(args) => {
            if !matches!(args.format.as_deref(), None | Some("json")) {
                bail!("volume inspect prints JSON; --format takes json only");
            }
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
            println!("{}", serde_json::to_string_pretty(&docs)?);
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        VolumeSubcommand::Rm(args) => {
            let mut failed = false;
            for name in &args.volumes {
                match engine.remove_volume(name, args.force) {
                    Ok(()) => println!("{name}"),
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
                println!("Deleted Volumes:");
                for name in &removed {
                    println!("{name}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", human_size(bytes));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ls(engine: &Engine, args: ListArgs) -> anyhow::Result<ExitCode> {
    let json_lines = check_format(args.format.as_deref())?;
    let volumes = engine.volumes(&VolumeFilter::parse(&args.filter)?)?;
    if args.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
    } else if json_lines {
        for v in &volumes {
            println!("{}", ls_json(v));
        }
    } else {
        let rows: Vec<Vec<String>> = volumes.iter().map(|v| vec![v.driver.clone(), v.name.clone()]).collect();
        print!("{}", table(&["DRIVER", "VOLUME NAME"], &rows));
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
