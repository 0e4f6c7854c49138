//! `berth compose` verbs beyond up/down/ps/logs: ls, exec, run, build, pull, top, images, port.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, bail};
use berth_engine::Engine;
use berth_engine::compose::{self, LoadedProject};
use berth_engine::container::{ContainerRecord, ListFilter, ListOptions};
use berth_engine::logs::Stream;
use clap::{Args, Parser};

use super::attach::{Ended, Interaction, interact};
use super::format::{human_size, table};
use super::terminal::{DEFAULT_DETACH_KEYS, parse_detach_keys};

#[derive(Debug, Args)]
pub(super) struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display project names
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub(super) struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u64,
    /// Give extended privileges to the process
    #[arg(long)]
    privileged: bool,
    service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct ServiceArgs {
    pub(super) services: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct PortArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u64,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    service: String,
    private_port: u16,
}

/// `docker compose ls`: projects found by the labels of this root's containers.
pub(super) fn ls(engine: &Engine, args: LsArgs) -> anyhow::Result<ExitCode> {
    let filters = vec![ListFilter::Label { key: compose::LABEL_PROJECT.into(), value: None }];
    let list = engine.list_containers(&ListOptions { all: true, filters })?;
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for rec in &list {
        let labels = &rec.options.labels;
        let entry = projects.entry(labels[compose::LABEL_PROJECT].clone()).or_default();
        *entry.0.entry(rec.status.as_str().to_string()).or_default() += 1;
        entry.1 = labels.get(compose::LABEL_CONFIG_FILES).cloned().unwrap_or_default();
    }
    let rows: Vec<Vec<String>> = projects
        .into_iter()
        .filter(|(_, (states, _))| args.all || states.contains_key("running"))
        .map(|(name, (states, files))| {
            let status = states.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", ");
            vec![name, status, files]
        })
        .collect();
    if args.quiet {
        for r in &rows {
            outln!("{}", r[0])?;
        }
    } else {
        out!("{}", table(&["NAME", "STATUS", "CONFIG FILES"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The container of replica `index` of `service`.
fn replica(engine: &Engine, project: &LoadedProject, service: &str, index: u64) -> anyhow::Result<ContainerRecord> {
    if !project.model.services.contains_key(service) {
        bail!("no such service: {service}");
    }
    engine
        .compose_containers(&project.name, Some(service))?
        .into_iter()
        .find(|r| r.options.labels.get(compose::LABEL_NUMBER).is_some_and(|n| *n == index.to_string()))
        .with_context(|| format!("service {service:?} is not running container #{index}"))
}

/// `berth exec`'s own flags, so compose's exec is the same exec.
#[derive(Debug, Parser)]
struct ExecLine {
    #[command(flatten)]
    args: super::exec::ExecArgs,
}

pub(super) async fn exec(engine: &Engine, project: &LoadedProject, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let rec = replica(engine, project, &args.service, args.index)?;
    let mut line: Vec<String> = vec!["exec".into()];
    let tty = !args.no_tty && !args.detach && std::io::stdin().is_terminal();
    if args.detach {
        line.push("-d".into());
    } else {
        line.push("-i".into());
    }
    if tty {
        line.push("-t".into());
    }
    for e in &args.env {
        line.extend(["-e".into(), e.clone()]);
    }
    if let Some(u) = &args.user {
        line.extend(["-u".into(), u.clone()]);
    }
    if let Some(w) = &args.workdir {
        line.extend(["-w".into(), w.clone()]);
    }
    if args.privileged {
        line.push("--privileged".into());
    }
    line.push(rec.id.clone());
    line.extend(args.command.iter().cloned());
    let parsed = ExecLine::try_parse_from(line)?;
    super::exec::exec(engine, parsed.args).await
}

/// `docker compose run`: stdin goes to the one-off unless detached (piped input too), with a pty only
/// on a terminal and without `-T`.
pub(super) async fn run(engine: &Engine, project: &LoadedProject, args: RunArgs) -> anyhow::Result<ExitCode> {
    let one_off = compose::OneOffOptions {
        command: args.command,
        remove: args.rm,
        interactive: !args.detach,
        tty: !args.detach && !args.no_tty && std::io::stdin().is_terminal(),
    };
    let outcome = engine.compose_run(project, &args.service, &one_off, &super::compose::print_progress).await?;
    let rec = outcome.record;
    if args.detach {
        outln!("{}", rec.name)?;
        return Ok(ExitCode::SUCCESS);
    }
    match engine.attach(&rec.id).await {
        Ok(session) => {
            let how = Interaction {
                tty: rec.options.tty,
                stdin: true,
                detach_keys: parse_detach_keys(DEFAULT_DETACH_KEYS)?,
                signal_target: Some(rec.id.clone()),
            };
            let ended = interact(engine, session, how).await?;
            if matches!(ended, Ended::Exit(_)) {
                // An --rm one-off is gone once its monitor says the run ended.
                outcome.started.wait_exit().await;
            }
            Ok(super::attach::exit_code(engine, &rec.id, ended))
        }
        // `attach` fails only once the one-off no longer runs (or its monitor, ending, has closed the
        // socket): what it wrote is in the log, followed from before the start.
        Err(_) => {
            let streams = [Stream::Stdout, Stream::Stderr];
            super::container::follow_until_exit(engine, &rec.id, outcome.log, outcome.started, &streams).await
        }
    }
}

pub(super) async fn build(engine: &Engine, project: &LoadedProject, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    engine.compose_build(project, &args.services, &super::compose::print_progress).await?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn pull(engine: &Engine, project: &LoadedProject, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    engine.compose_pull(project, &args.services, &super::compose::print_progress).await?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn top(engine: &Engine, project: &LoadedProject, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    for rec in super::compose::containers(engine, project, &args.services)?.iter().filter(|r| r.status.is_active()) {
        let rows: Vec<Vec<String>> = engine
            .top_container(&rec.id)?
            .into_iter()
            .map(|p| vec![p.uid.to_string(), p.pid.to_string(), p.ppid.to_string(), p.cmd])
            .collect();
        outln!("{}", rec.name)?;
        outln!("{}", table(&["UID", "PID", "PPID", "CMD"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn images(engine: &Engine, project: &LoadedProject, args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for rec in super::compose::containers(engine, project, &args.services)? {
        let (repo, tag) = match rec.image_name.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => (rec.image_name.clone(), "latest".to_string()),
        };
        let size = engine.image(&rec.image_id).map(|i| human_size(i.size)).unwrap_or_default();
        let id = rec.image_id.trim_start_matches("sha256:").chars().take(12).collect();
        rows.push(vec![rec.name.clone(), repo, tag, id, size]);
    }
    out!("{}", table(&["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], &rows))?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn port(engine: &Engine, project: &LoadedProject, args: PortArgs) -> anyhow::Result<ExitCode> {
    let rec = replica(engine, project, &args.service, args.index)?;
    let published = engine.published_ports()?;
    let found = published
        .get(&rec.id)
        .into_iter()
        .flatten()
        .find(|p| p.ps_form().ends_with(&format!("->{}/{}", args.private_port, args.protocol)));
    match found {
        Some(p) => {
            let form = p.ps_form();
            outln!("{}", form.split("->").next().unwrap_or_default())?;
            Ok(ExitCode::SUCCESS)
        }
        None => bail!("no port {}/{} for container {}", args.private_port, args.protocol, rec.name),
    }
}
