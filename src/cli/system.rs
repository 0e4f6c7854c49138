//! `system df`, `system prune`, `info` and `version`: the engine as a whole, in docker's words.

use anyhow::Context;
use berth_engine::Engine;
use berth_engine::images::DiskUsageReport;
use berth_engine::system::VERSION;
use berth_engine::volume::PruneOptions;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{InspectFormat, human_size, table, time_ago};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemSubcommand {
    /// Show disk usage
    Df(DfArgs),
    /// Remove unused data: stopped containers, unused networks, dangling images (and more with -a, --volumes)
    Prune(PruneArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage QEMU user emulation for foreign-platform builds (binfmt_misc)
    #[command(subcommand)]
    Binfmt(super::binfmt::BinfmtSubcommand),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format the output: json or a Go template (`{{.Containers}}`)
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output: json or a Go template (`{{.Server.Version}}`)
    #[arg(short, long)]
    format: Option<String>,
}

pub async fn run(engine: &Engine, cmd: SystemSubcommand) -> anyhow::Result<()> {
    match cmd {
        SystemSubcommand::Df(args) => df(engine, args),
        SystemSubcommand::Prune(args) => prune(engine, args).await,
        SystemSubcommand::Info(args) => info(engine, args),
        SystemSubcommand::Binfmt(cmd) => super::binfmt::run(cmd),
    }
}

fn df(engine: &Engine, args: DfArgs) -> anyhow::Result<()> {
    let report = engine.disk_usage()?;
    if args.verbose {
        out!("{}", verbose(&report))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report
        .summary
        .iter()
        .map(|u| {
            let pct = (u.reclaimable * 100).checked_div(u.size).unwrap_or(0);
            vec![
                u.kind.to_string(),
                u.total.to_string(),
                u.active.to_string(),
                human_size(u.size),
                format!("{} ({pct}%)", human_size(u.reclaimable)),
            ]
        })
        .collect();
    out!("{}", table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows))?;
    Ok(())
}

/// `system df -v`: docker's four sections, one table each.
fn verbose(report: &DiskUsageReport) -> String {
    let images: Vec<Vec<String>> = report
        .images
        .iter()
        .flat_map(|u| {
            let names = if u.image.repo_tags.is_empty() {
                vec!["<none>:<none>".to_string()]
            } else {
                u.image.repo_tags.clone()
            };
            names.into_iter().map(move |name| {
                let (repo, tag) = name.rsplit_once(':').unwrap_or((name.as_str(), "<none>"));
                vec![
                    repo.to_string(),
                    tag.to_string(),
                    short(&u.image.id),
                    time_ago(u.image.created.as_deref()),
                    human_size(u.size),
                    human_size(u.shared_size),
                    human_size(u.size - u.shared_size),
                    u.containers.to_string(),
                ]
            })
        })
        .collect();
    let containers: Vec<Vec<String>> = report
        .containers
        .iter()
        .map(|u| {
            let c = &u.container;
            let volumes = c.options.mounts.iter().filter(|m| m.kind == berth_engine::volume::MountKind::Volume).count();
            vec![
                c.short_id().to_string(),
                c.image_name.clone(),
                format!("\"{}\"", c.command.join(" ")),
                volumes.to_string(),
                human_size(u.size),
                time_ago(Some(&c.created_at)),
                c.status.as_str().to_string(),
                c.name.clone(),
            ]
        })
        .collect();
    let volumes: Vec<Vec<String>> =
        report.volumes.iter().map(|v| vec![v.name.clone(), v.links.to_string(), human_size(v.size)]).collect();
    format!(
        "Images space usage:\n\n{}\nContainers space usage:\n\n{}\nLocal Volumes space usage:\n\n{}\nBuild cache usage: 0B\n",
        table(
            &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
            &images
        ),
        table(
            &["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
            &containers
        ),
        table(&["VOLUME NAME", "LINKS", "SIZE"], &volumes),
    )
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Docker's `system prune`: stopped containers, networks no container names, dangling images (every image no
/// container uses with `-a`), and with `--volumes` anonymous volumes no container uses.
async fn prune(engine: &Engine, args: PruneArgs) -> anyhow::Result<()> {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if args.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if args.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    if !args.force && !super::confirm(&warning)? {
        return Ok(());
    }
    let all = berth_engine::container::ListOptions { all: true, filters: Vec::new() };
    let stopped: u64 =
        engine.list_containers(&all)?.iter().filter(|c| !c.status.can_stop()).map(|c| engine.container_size(c)).sum();
    let containers = engine.prune_containers().await?;
    let mut reclaimed = if containers.is_empty() { 0 } else { stopped };
    section("Deleted Containers:", &containers)?;
    let networks = engine.prune_networks()?;
    section("Deleted Networks:", &networks)?;
    if args.volumes {
        let (volumes, bytes) = engine.prune_volumes(&PruneOptions { all: false, label: Vec::new() })?;
        section("Deleted Volumes:", &volumes)?;
        reclaimed += bytes;
    }
    let images = engine.prune_images(args.all)?;
    super::images::print_pruned_images(&images.removed)?;
    reclaimed += images.reclaimed;
    let cache = engine.prune_build_cache()?;
    section("Deleted build cache objects:", &cache.images)?;
    reclaimed += cache.reclaimed;
    outln!("Total reclaimed space: {}", human_size(reclaimed))?;
    Ok(())
}

fn section(title: &str, names: &[String]) -> std::io::Result<()> {
    if !names.is_empty() {
        outln!("{title}")?;
        for name in names {
            outln!("{name}")?;
        }
        outln!()?;
    }
    Ok(())
}

/// `berth info`: docker's text, or the JSON object / a template over it with `--format`.
pub fn info(engine: &Engine, args: InfoArgs) -> anyhow::Result<()> {
    let info = serde_json::to_value(engine.info()?).context("encoding berth info")?;
    if args.format.is_some() {
        return print_object(&info, args.format.as_deref());
    }
    let field = |k: &str| match &info[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let security = info["SecurityOptions"]
        .as_array()
        .map(|o| o.iter().filter_map(Value::as_str).map(|s| format!("  {s}\n")).collect::<String>())
        .unwrap_or_default();
    out!(
        "Client:\n Version:    {VERSION}\n\nServer:\n Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n \
         Images: {}\n Server Version: {}\n Storage Driver: {}\n Logging Driver: {}\n Cgroup Driver: {}\n \
         Cgroup Version: {}\n Default Runtime: {}\n Security Options:\n{security} Kernel Version: {}\n \
         Operating System: {}\n OSType: {}\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n \
         Docker Root Dir: {}\n",
        field("Containers"),
        field("ContainersRunning"),
        field("ContainersPaused"),
        field("ContainersStopped"),
        field("Images"),
        field("ServerVersion"),
        field("Driver"),
        field("LoggingDriver"),
        field("CgroupDriver"),
        field("CgroupVersion"),
        field("DefaultRuntime"),
        field("KernelVersion"),
        field("OperatingSystem"),
        field("OSType"),
        field("Architecture"),
        field("NCPU"),
        berth_engine::display::memory(info["MemTotal"].as_u64().unwrap_or(0)),
        field("Name"),
        field("DockerRootDir"),
    )?;
    Ok(())
}

/// `berth version`: the client's and the engine's (one binary, so the same) in docker's layout.
pub fn version(args: VersionArgs) -> anyhow::Result<()> {
    let host = berth_engine::system::host();
    let arch = go_arch(&host.architecture);
    let os_arch = format!("linux/{arch}");
    let doc = json!({
        "Client": {"Version": VERSION, "Os": "linux", "Arch": arch},
        "Server": {
            "Version": VERSION,
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": host.kernel_version,
            "Components": [{"Name": "Engine", "Version": VERSION}],
        },
    });
    if args.format.is_some() {
        return print_object(&doc, args.format.as_deref());
    }
    out!(
        "Client:\n Version:           {VERSION}\n OS/Arch:           {os_arch}\n\nServer: berth\n Engine:\n  \
         Version:          {VERSION}\n  OS/Arch:          {os_arch}\n  Kernel:           {}\n",
        host.kernel_version
    )?;
    Ok(())
}

/// One object under `--format`: `json` prints it as JSON (not an array, as docker's info and version do),
/// anything else is a template over it.
fn print_object(doc: &Value, format: Option<&str>) -> anyhow::Result<()> {
    if format == Some("json") {
        outln!("{}", serde_json::to_string(doc)?)?;
        return Ok(());
    }
    InspectFormat::parse(format)?.print(std::slice::from_ref(doc))
}

/// Go's name for the machine, as docker's OS/Arch shows it.
pub(crate) fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i386" => "386",
        "armv7l" => "arm",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_as_go_names_them() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }
}
