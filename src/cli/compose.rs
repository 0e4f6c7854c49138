//! `berth compose`: docker compose v2's commands over the engine's compose module. This file only reads
//! flags and prints; loading, planning and the project operations are the engine's.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_engine::Engine;
use berth_engine::compose::{self, DownOptions, LoadOptions, LoadedProject, Progress, UpOptions};
use berth_engine::container::ContainerRecord;
use berth_engine::logs::{LogEntry, LogFilter, LogFollower};
use berth_engine::network::PortMapping;
use clap::{Args, Subcommand};
use serde_json::json;

use super::compose_ops;
use super::container::{command_text, status_text};
use super::format::{Format, time_ago};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    project_name: Option<String>,
    /// Specify an alternate working directory
    #[arg(long, value_name = "DIR")]
    project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long, value_name = "PROFILE")]
    profile: Vec<String>,
    #[command(subcommand)]
    command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
enum ComposeCommand {
    /// Create and start containers
    Up(UpArgs),
    /// Stop and remove containers, networks
    Down(DownArgs),
    /// List containers
    Ps(PsArgs),
    /// View output from containers
    Logs(LogsArgs),
    /// Parse, resolve and render compose file in canonical format
    Config(ConfigArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(ServicesArgs),
    /// Restart service containers
    Restart(ServicesArgs),
    /// Force stop service containers
    Kill(KillArgs),
    /// Removes stopped service containers
    Rm(RmArgs),
    /// Pause services
    Pause(ServicesArgs),
    /// Unpause services
    Unpause(ServicesArgs),
    /// List running compose projects
    Ls(compose_ops::LsArgs),
    /// Execute a command in a running container
    Exec(compose_ops::ExecArgs),
    /// Run a one-off command on a service
    Run(compose_ops::RunArgs),
    /// Build or rebuild services
    Build(compose_ops::ServiceArgs),
    /// Pull service images
    Pull(compose_ops::ServiceArgs),
    /// Push service images
    Push(compose_ops::ServiceArgs),
    /// Display the running processes
    Top(compose_ops::ServiceArgs),
    /// List images used by the created containers
    Images(compose_ops::ServiceArgs),
    /// Print the public port for a port binding
    Port(compose_ops::PortArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long, conflicts_with = "force_recreate")]
    no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    wait: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    services: Vec<String>,
}

#[derive(Debug, Args)]
struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag
    #[arg(long, value_parser = ["all", "local"])]
    rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
}

#[derive(Debug, Args)]
struct PsArgs {
    /// Show all stopped containers
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display services
    #[arg(long)]
    services: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    services_named: Vec<String>,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    services: Vec<String>,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the service names, one per line
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    volumes: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ServicesArgs {
    services: Vec<String>,
}

#[derive(Debug, Args)]
struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short = 's', long, default_value = "SIGKILL")]
    signal: String,
    services: Vec<String>,
}

#[derive(Debug, Args)]
struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long)]
    stop: bool,
    services: Vec<String>,
}

pub async fn run(engine: &Engine, args: ComposeArgs) -> anyhow::Result<ExitCode> {
    // `ls` lists every project of this root, so it reads no project.
    let command = match args.command {
        ComposeCommand::Ls(a) => return compose_ops::ls(engine, a),
        other => other,
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let options = LoadOptions {
        files: args.files,
        project_name: args.project_name,
        project_directory: args.project_directory,
        env_files: args.env_file,
        profiles: args.profile,
        ..LoadOptions::from_environment(cwd)
    };
    let project = compose::load(&options)?;
    for name in &project.unset {
        eprintln!("WARN[0000] The \"{name}\" variable is not set. Defaulting to a blank string.");
    }
    match command {
        ComposeCommand::Ls(_) => unreachable!("handled before the project is read"),
        ComposeCommand::Push(a) => {
            engine.compose_push(&project, &a.services, &print_progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        ComposeCommand::Exec(a) => compose_ops::exec(engine, &project, a).await,
        ComposeCommand::Run(a) => compose_ops::run(engine, &project, a).await,
        ComposeCommand::Build(a) => compose_ops::build(engine, &project, a).await,
        ComposeCommand::Pull(a) => compose_ops::pull(engine, &project, a).await,
        ComposeCommand::Top(a) => compose_ops::top(engine, &project, a),
        ComposeCommand::Images(a) => compose_ops::images(engine, &project, a),
        ComposeCommand::Port(a) => compose_ops::port(engine, &project, a),
        ComposeCommand::Up(a) => up(engine, &project, a).await,
        ComposeCommand::Down(a) => {
            let options = DownOptions { volumes: a.volumes, remove_orphans: a.remove_orphans, rmi: a.rmi };
            engine.compose_down(&project, &options, &print_progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        ComposeCommand::Ps(a) => ps(engine, &project, a),
        ComposeCommand::Logs(a) => logs(engine, &project, a).await,
        ComposeCommand::Config(a) => config(&project, a),
        ComposeCommand::Start(a) => {
            each(engine, &project, &a.services, "Starting", "Started", async |e, r| {
                e.start_container(&r.id).await.map(drop)
            })
            .await
        }
        ComposeCommand::Stop(a) => {
            each(engine, &project, &a.services, "Stopping", "Stopped", async |e, r| {
                e.stop_container(&r.id, r.options.stop_timeout).await.map(drop)
            })
            .await
        }
        ComposeCommand::Restart(a) => {
            engine.compose_restart(&project, &a.services, &print_progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        ComposeCommand::Kill(a) => {
            let signal = a.signal.clone();
            each(engine, &project, &a.services, "Killing", "Killed", async move |e, r| {
                e.kill_container(&r.id, Some(&signal)).await.map(drop)
            })
            .await
        }
        ComposeCommand::Rm(a) => {
            let stop = a.stop;
            each(engine, &project, &a.services, "Removing", "Removed", async move |e, r| {
                if stop && r.status.can_stop() {
                    e.stop_container(&r.id, r.options.stop_timeout).await?;
                }
                e.remove_container(&r.id, false).await.map(drop)
            })
            .await
        }
        ComposeCommand::Pause(a) => {
            each(engine, &project, &a.services, "Pausing", "Paused", async |e, r| e.pause_container(&r.id).map(drop))
                .await
        }
        ComposeCommand::Unpause(a) => {
            each(engine, &project, &a.services, "Unpausing", "Unpaused", async |e, r| {
                e.unpause_container(&r.id).map(drop)
            })
            .await
        }
    }
}

/// docker compose's progress lines as its plain (non-tty) output writes them.
pub(super) fn print_progress(p: Progress) {
    eprintln!(" {} {}  {}", p.kind, p.name, p.status);
}

/// The project's containers of the named services (all when none are named), in name order.
pub(super) fn containers(
    engine: &Engine,
    project: &LoadedProject,
    services: &[String],
) -> anyhow::Result<Vec<ContainerRecord>> {
    for s in services {
        if !project.model.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let all = engine.compose_containers(&project.name, None)?;
    Ok(all
        .into_iter()
        .filter(|r| {
            services.is_empty() || r.options.labels.get(compose::LABEL_SERVICE).is_some_and(|s| services.contains(s))
        })
        .collect())
}

async fn each(
    engine: &Engine,
    project: &LoadedProject,
    services: &[String],
    doing: &str,
    done: &str,
    op: impl AsyncFn(&Engine, &ContainerRecord) -> Result<(), berth_engine::Error>,
) -> anyhow::Result<ExitCode> {
    for rec in containers(engine, project, services)? {
        eprintln!(" Container {}  {doing}", rec.name);
        op(engine, &rec).await?;
        eprintln!(" Container {}  {done}", rec.name);
    }
    Ok(ExitCode::SUCCESS)
}

async fn up(engine: &Engine, project: &LoadedProject, args: UpArgs) -> anyhow::Result<ExitCode> {
    let mut scale = BTreeMap::new();
    for s in &args.scale {
        let (service, n) = s.split_once('=').with_context(|| format!("invalid --scale {s:?}: expected SERVICE=NUM"))?;
        scale.insert(
            service.to_string(),
            n.parse().with_context(|| format!("invalid --scale {s:?}: expected SERVICE=NUM"))?,
        );
    }
    let options = UpOptions {
        services: args.services.clone(),
        build: args.build,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        scale,
        wait: args.wait,
    };
    engine.compose_up(project, &options, &print_progress).await?;
    if args.detach || args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    // Attached: the services' logs, prefixed, until Ctrl-C (which stops the project) or until every
    // container has exited.
    let list = containers(engine, project, &args.services)?;
    let from_now = LogFilter { tail: Some(0), ..LogFilter::default() };
    let follow = stream_logs(engine, &list, &from_now, false, true, true, true);
    tokio::select! {
        result = follow => result?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            for rec in &list {
                eprintln!(" Container {}  Stopping", rec.name);
                engine.stop_container(&rec.id, rec.options.stop_timeout).await?;
                eprintln!(" Container {}  Stopped", rec.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// docker compose's `ps` columns.
const PS_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("Service", "SERVICE"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Ports", "PORTS"),
    ("ID", "ID"),
    ("State", "STATE"),
    ("Project", "PROJECT"),
];

fn ps(engine: &Engine, project: &LoadedProject, args: PsArgs) -> anyhow::Result<ExitCode> {
    let list: Vec<ContainerRecord> = containers(engine, project, &args.services_named)?
        .into_iter()
        .filter(|r| args.all || r.status.is_active())
        .collect();
    if args.services {
        let mut names: Vec<&String> =
            list.iter().filter_map(|r| r.options.labels.get(compose::LABEL_SERVICE)).collect();
        names.dedup();
        for n in &names {
            outln!("{n}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.quiet {
        for r in &list {
            outln!("{}", r.id)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = Format::parse(
        args.format.as_deref(),
        "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
    )?;
    let published = engine.published_ports()?;
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|rec| {
            let ports = published.get(&rec.id).map(Vec::as_slice).unwrap_or_default();
            json!({
                "ID": rec.id,
                "Name": rec.name,
                "Image": rec.image_name,
                "Command": command_text(rec, false),
                "Project": project.name,
                "Service": rec.options.labels.get(compose::LABEL_SERVICE).cloned().unwrap_or_default(),
                "RunningFor": time_ago(Some(&rec.created_at)),
                "State": rec.status.as_str(),
                "Status": status_text(rec),
                "Ports": ports.iter().map(PortMapping::ps_form).collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    format.print_rows(&rows, PS_HEADERS)?;
    Ok(ExitCode::SUCCESS)
}

async fn logs(engine: &Engine, project: &LoadedProject, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().with_context(|| format!("invalid --tail {n:?}"))?),
    };
    let list = containers(engine, project, &args.services)?;
    let filter = LogFilter { tail, ..LogFilter::default() };
    stream_logs(engine, &list, &filter, args.timestamps, !args.no_log_prefix, args.follow, !args.no_color).await?;
    Ok(ExitCode::SUCCESS)
}

/// The containers' logs with docker compose's `name  | ` prefixes (coloured on a terminal, one colour
/// per container), interleaved by time; with `follow`, until every container has stopped.
pub(super) async fn stream_logs(
    engine: &Engine,
    list: &[ContainerRecord],
    filter: &LogFilter,
    timestamps: bool,
    prefix: bool,
    follow: bool,
    colour: bool,
) -> anyhow::Result<()> {
    let colour = colour && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = list.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let prefix_of = |index: usize, name: &str| -> String {
        if !prefix {
            return String::new();
        }
        let padded = format!("{name:width$}  | ");
        if colour { format!("\x1b[{}m{padded}\x1b[0m", 31 + (index % 6)) } else { padded }
    };
    let mut followers = Vec::new();
    let mut backlog: Vec<(usize, LogEntry)> = Vec::new();
    for (index, rec) in list.iter().enumerate() {
        let follower = LogFollower::at_end(&engine.container_log_path(rec))?;
        let (_, entries) = engine.container_logs(&rec.id, filter)?;
        backlog.extend(entries.into_iter().map(|e| (index, e)));
        followers.push(follower);
    }
    backlog.sort_by_key(|(_, e)| e.time);
    let print = |batch: &[(usize, LogEntry)]| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for (index, e) in batch {
            let time = if timestamps {
                format!("{} ", e.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            } else {
                String::new()
            };
            for line in e.text.split_inclusive('\n') {
                write!(out, "{}{time}{line}", prefix_of(*index, &list[*index].name))?;
            }
        }
        out.flush()
    };
    print(&backlog)?;
    if !follow {
        return Ok(());
    }
    loop {
        let mut fresh = Vec::new();
        let mut active = false;
        for (index, follower) in followers.iter_mut().enumerate() {
            fresh.extend(follower.poll()?.into_iter().map(|e| (index, e)));
            active |= engine.container(&list[index].id).map(|r| r.status.is_active()).unwrap_or(false);
        }
        fresh.sort_by_key(|(_, e)| e.time);
        print(&fresh)?;
        if !active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn config(project: &LoadedProject, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if args.services {
        for s in project.model.services.keys() {
            outln!("{s}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.volumes {
        for v in project.model.volumes.keys() {
            outln!("{v}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut model = project.model.clone();
    model.name = Some(compose::model::Text(project.name.clone()));
    out!("{}", compose::to_yaml(&model)?)?;
    Ok(ExitCode::SUCCESS)
}
