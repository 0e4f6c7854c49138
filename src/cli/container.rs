//! Container commands with Docker's names and flags: create, run, start, stop, kill, pause, unpause,
//! restart, rm, ps, logs, wait, inspect, top, rename, `container prune`; plus the hidden monitor entry.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_engine::container::{ContainerError, ContainerRecord, ListFilter, ListOptions, SessionError, Status};
use berth_engine::logs::{LogEntry, LogFilter, LogFollower, Stream, parse_time};
use berth_engine::network::PortMapping;
use berth_engine::run::{RunOutcome, RunProgress, RunSpec};
use berth_engine::volume::{MountKind, MountSpec};
use berth_engine::{Engine, Error};
use clap::{Args, Subcommand};
use serde_json::json;

use super::attach::{Ended, Interaction, interact};
use super::format::{Format, InspectFormat, human_size, table, time_ago};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Create a new container
    Create(Box<CreateArgs>),
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Return low-level information on containers
    Inspect(InspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// List port mappings of a container
    Port(PortArgs),
    /// Execute a command in a running container
    Exec(Box<super::exec::ExecArgs>),
    /// Attach local standard input, output, and error streams to a running container
    Attach(super::attach::AttachArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerSubcommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerSubcommand {
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// List containers
    #[command(visible_alias = "list")]
    Ls(PsArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Create a new image from a container's changes
    Commit(super::local::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(super::local::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(super::archive::ExportArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    options: RunFlags,
    /// The image to run
    image: String,
    /// Command and arguments (replace the image's Cmd)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run the container in the background and print its ID
    #[arg(short, long)]
    pub(super) detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = super::terminal::DEFAULT_DETACH_KEYS)]
    detach_keys: String,
    /// Attach to STDIN, STDOUT or STDERR (default: STDOUT and STDERR, and STDIN with -i)
    #[arg(short, long, value_name = "STREAM", value_parser = attach_stream)]
    attach: Vec<AttachStream>,
    #[command(flatten)]
    pub(super) options: RunFlags,
    /// The image to run
    image: String,
    /// Command and arguments (replace the image's Cmd)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

// Flags shared by `create` and `run` (a plain comment: a doc comment would become their about text).
#[derive(Debug, Args)]
pub struct RunFlags {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from this environment)
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = env_flag)]
    env: Vec<String>,
    /// Read environment variables from a file of KEY=VALUE lines
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image ("" clears it)
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    /// Memory limit (e.g. 512m, 1g; 0 for none)
    #[arg(short, long, allow_negative_numbers = true)]
    memory: Option<String>,
    /// Number of CPUs (e.g. 0.5; 0 for no limit)
    #[arg(long, allow_negative_numbers = true)]
    cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Security options: seccomp=FILE, seccomp=unconfined, no-new-privileges
    #[arg(long)]
    security_opt: Vec<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long)]
    restart: Option<String>,
    /// Seconds to wait for the stop signal before SIGKILL (-1: wait however long it takes)
    #[arg(long, allow_hyphen_values = true)]
    stop_timeout: Option<String>,
    /// Signal to stop the container
    #[arg(long)]
    stop_signal: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Set metadata on a container (KEY=VALUE)
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Connect the container to a network: a network name, host, none or container:NAME (default: bridge)
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Add a network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// Publish a container's port to the host: [ip:][hostport:]containerport[/udp]
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to free host ports
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// Bind mount a volume: [NAME|/HOST/PATH:]/CONTAINER/PATH[:ro|rw][,nocopy]
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount: type=volume|bind|tmpfs,source=,target=[,readonly][,volume-nocopy][,tmpfs-size=][,tmpfs-mode=]
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory: /PATH[:size=64m,mode=1777,ro]
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub(super) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(super) tty: bool,
    /// Pull image before running: missing, always or never
    #[arg(long, value_name = "POLICY")]
    pull: Option<String>,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long, value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    dns_search: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add a host device to the container (/dev/HOST[:/dev/CONTAINER][:rwm])
    #[arg(long)]
    device: Vec<String>,
    /// Size of /dev/shm (e.g. 128m)
    #[arg(long)]
    shm_size: Option<String>,
    /// Add additional groups to join
    #[arg(long)]
    group_add: Vec<String>,
    /// Sysctl options (KEY=VALUE)
    #[arg(long)]
    sysctl: Vec<String>,
    /// IPC mode to use: private, shareable, host or container:NAME
    #[arg(long)]
    ipc: Option<String>,
    /// PID namespace to use: host or container:NAME
    #[arg(long)]
    pid: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N
    #[arg(long)]
    log_opt: Vec<String>,
    /// Command to run to check health
    #[arg(long, value_name = "CMD")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s)
    #[arg(long, value_name = "DURATION")]
    health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(long, value_name = "N")]
    health_retries: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long, value_name = "DURATION")]
    health_start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s)
    #[arg(long, value_name = "DURATION")]
    health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    no_healthcheck: bool,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    cidfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 512m, 1g)
    #[arg(short, long, allow_negative_numbers = true)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long, allow_negative_numbers = true)]
    memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long, allow_negative_numbers = true)]
    cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub(super) attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub(super) interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = super::terminal::DEFAULT_DETACH_KEYS)]
    detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: json (the default, an array) or a Go template run over each object
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (-1: wait however long it takes)
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    /// Filter output (status=, name=, label=, ancestor=, id=)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Output format: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub(super) follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since a timestamp (RFC 3339, Unix seconds) or a relative time (42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    container: String,
    /// Only this container port: PORT[/PROTO]
    private_port: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation (berth never prompts; accepted for Docker compatibility)
    #[arg(short, long)]
    force: bool,
}

pub async fn run(engine: &Engine, cmd: ContainerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ContainerCommand::Create(args) => match create(engine, *args).await {
            Ok(rec) => {
                outln!("{}", rec.id)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(berth_failure(&e)),
        },
        ContainerCommand::Run(args) => Ok(run_container(engine, *args).await.unwrap_or_else(|e| berth_failure(&e))),
        ContainerCommand::Start(args) if args.attach || args.interactive => start_attached(engine, args).await,
        ContainerCommand::Start(args) => {
            // As docker: starting a running container changes nothing and is no error.
            each(&args.containers, async |c| match engine.start_container(c).await {
                Ok(_) | Err(Error::Container(ContainerError::AlreadyRunning { .. })) => Ok(()),
                Err(e) => Err(e),
            })
            .await
        }
        ContainerCommand::Stop(args) => {
            each(&args.containers, async |c| engine.stop_container(c, args.time).await.map(drop)).await
        }
        ContainerCommand::Kill(args) => {
            each(&args.containers, async |c| engine.kill_container(c, Some(&args.signal)).await.map(drop)).await
        }
        ContainerCommand::Pause(args) => each(&args.containers, async |c| engine.pause_container(c).map(drop)).await,
        ContainerCommand::Unpause(args) => {
            each(&args.containers, async |c| engine.unpause_container(c).map(drop)).await
        }
        ContainerCommand::Restart(args) => {
            each(&args.containers, async |c| engine.restart_container(c, args.time).await.map(drop)).await
        }
        ContainerCommand::Update(args) => {
            let flags = berth_engine::container::UpdateFlags {
                memory: args.memory,
                memory_swap: args.memory_swap,
                cpus: args.cpus,
                pids_limit: args.pids_limit,
                restart: args.restart,
            };
            match berth_engine::container::Update::from_flags(&flags) {
                Ok(update) => each(&args.containers, async |c| engine.update_container(c, &update).map(drop)).await,
                Err(e) => Ok(berth_failure(&anyhow::Error::from(e))),
            }
        }
        ContainerCommand::Rm(args) => {
            each(&args.containers, async |c| {
                let rec = engine.remove_container(c, args.force).await?;
                if args.volumes {
                    engine.remove_anonymous_volumes(&rec.options.mounts)?;
                }
                Ok(())
            })
            .await
        }
        ContainerCommand::Ps(args) | ContainerCommand::Container(ContainerSubcommand::Ls(args)) => ps(engine, args),
        ContainerCommand::Logs(args) => logs(engine, args).await,
        ContainerCommand::Wait(args) => wait(engine, args).await,
        ContainerCommand::Inspect(args) | ContainerCommand::Container(ContainerSubcommand::Inspect(args)) => {
            inspect(engine, args)
        }
        ContainerCommand::Top(args) => top(engine, args),
        ContainerCommand::Port(args) => port(engine, args),
        ContainerCommand::Exec(args) => {
            Ok(super::exec::exec(engine, *args).await.unwrap_or_else(|e| berth_failure(&e)))
        }
        ContainerCommand::Attach(args) => super::attach::attach(engine, args).await,
        ContainerCommand::Rename(args) => {
            engine.rename_container(&args.container, &args.new_name)?;
            Ok(ExitCode::SUCCESS)
        }
        ContainerCommand::Container(ContainerSubcommand::Commit(args)) => {
            super::local::run(engine, super::local::LocalCommand::Commit(args))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainerCommand::Container(ContainerSubcommand::Diff(args)) => {
            super::local::run(engine, super::local::LocalCommand::Diff(args))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainerCommand::Container(ContainerSubcommand::Export(args)) => {
            super::archive::run(engine, super::archive::ArchiveCommand::Export(args)).await?;
            Ok(ExitCode::SUCCESS)
        }
        ContainerCommand::Container(ContainerSubcommand::Prune(_)) => {
            let removed = engine.prune_containers().await?;
            if !removed.is_empty() {
                outln!("Deleted Containers:")?;
                for id in &removed {
                    outln!("{id}")?;
                }
                outln!()?;
            }
            outln!("Total reclaimed containers: {}", removed.len())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a failed `run`/`create`/`exec` as the top level prints errors; Docker's exit code for it.
fn berth_failure(error: &anyhow::Error) -> ExitCode {
    eprintln!("Error: {}", crate::describe(error));
    failure_code(error)
}

/// Runs `op` on each named container, printing each name as Docker does; the first failures are
/// reported and make the exit code 1, but the other containers are still handled.
async fn each(names: &[String], op: impl AsyncFn(&str) -> Result<(), Error>) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in names {
        match op(name).await {
            Ok(()) => outln!("{name}")?,
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The flags as the engine's [`berth_engine::run::RunFlags`]: every value is parsed and checked there.
fn engine_flags(flags: RunFlags) -> berth_engine::run::RunFlags {
    berth_engine::run::RunFlags {
        name: flags.name,
        rm: flags.rm,
        env: flags.env,
        env_file: flags.env_file,
        workdir: flags.workdir,
        user: flags.user,
        entrypoint: flags.entrypoint,
        hostname: flags.hostname,
        memory: flags.memory,
        cpus: flags.cpus,
        pids_limit: flags.pids_limit,
        read_only: flags.read_only,
        cap_add: flags.cap_add,
        cap_drop: flags.cap_drop,
        privileged: flags.privileged,
        security_opt: flags.security_opt,
        restart: flags.restart,
        stop_timeout: flags.stop_timeout,
        stop_signal: flags.stop_signal,
        init: flags.init,
        label: flags.label,
        network: flags.network,
        network_alias: flags.network_alias,
        publish: flags.publish,
        publish_all: flags.publish_all,
        expose: flags.expose,
        ip: flags.ip,
        volume: flags.volume,
        mount: flags.mount,
        tmpfs: flags.tmpfs,
        interactive: flags.interactive,
        tty: flags.tty,
        pull: flags.pull,
        platform: flags.platform,
        add_host: flags.add_host,
        dns: flags.dns,
        dns_search: flags.dns_search,
        ulimit: flags.ulimit,
        device: flags.device,
        shm_size: flags.shm_size,
        group_add: flags.group_add,
        sysctl: flags.sysctl,
        ipc: flags.ipc,
        pid: flags.pid,
        log_opt: flags.log_opt,
        health: berth_engine::health::HealthFlags {
            cmd: flags.health_cmd,
            interval: flags.health_interval,
            timeout: flags.health_timeout,
            retries: flags.health_retries,
            start_period: flags.health_start_period,
            start_interval: flags.health_start_interval,
            none: flags.no_healthcheck,
        },
    }
}

/// `-e`'s value as Docker checks it: an entry must name a variable (`=value` does not).
pub(super) fn env_flag(text: &str) -> Result<String, String> {
    berth_engine::run::check_env(text)
        .map(|()| text.to_string())
        .map_err(|_| format!("invalid environment variable: {text}"))
}

/// What Docker's client prints about a run's pull, on stderr.
fn print_progress(progress: RunProgress) {
    match progress {
        RunProgress::Pulling { image, missing: true } => eprintln!("Unable to find image '{image}' locally"),
        RunProgress::Pulling { .. } | RunProgress::Created { .. } => {}
        RunProgress::Pulled(pulled) => {
            eprintln!("Digest: {}", pulled.digest);
            match pulled.updated {
                true => eprintln!("Status: Downloaded newer image for {}", pulled.reference),
                false => eprintln!("Status: Image is up to date for {}", pulled.reference),
            }
        }
    }
}

/// Docker's exit code for a failed `run`, `create` or `exec`: 125 when berth itself failed, the
/// container's code (126/127) when its command could not be run.
pub(super) fn failure_code(error: &anyhow::Error) -> ExitCode {
    let code = error.downcast_ref::<Error>().map_or(125, Error::exit_code);
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// `create`: pulls the image when the policy says so, then records the container.
async fn create(engine: &Engine, mut args: CreateArgs) -> anyhow::Result<ContainerRecord> {
    let cidfile = args.options.cidfile.take();
    check_cidfile(cidfile.as_deref())?;
    let spec = RunSpec::from_flags(&args.image, args.command, &engine_flags(args.options)).map_err(Error::from)?;
    let rec = engine.create(spec, &print_progress).await?;
    write_cidfile(cidfile.as_deref(), &rec.id)?;
    Ok(rec)
}

/// A stream `run -a` attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachStream {
    Stdin,
    Out(Stream),
}

/// `-a`'s value: Docker's stream names, in any case.
fn attach_stream(text: &str) -> Result<AttachStream, String> {
    match text.to_ascii_lowercase().as_str() {
        "stdout" => Ok(AttachStream::Out(Stream::Stdout)),
        "stderr" => Ok(AttachStream::Out(Stream::Stderr)),
        "stdin" => Ok(AttachStream::Stdin),
        _ => Err("valid streams are STDIN, STDOUT and STDERR".to_string()),
    }
}

/// `--cidfile`: Docker refuses a file that exists, so a second container never takes over the first's.
fn check_cidfile(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    if let Some(path) = path
        && path.exists()
    {
        bail!("Container ID file found, make sure the other container isn't running or delete {}", path.display());
    }
    Ok(())
}

/// Writes the new container's id to `--cidfile`, refusing (as [`check_cidfile`]) a file made meanwhile.
fn write_cidfile(path: Option<&std::path::Path>, id: &str) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("failed to create the container ID file {}", path.display()))?;
    file.write_all(id.as_bytes()).with_context(|| format!("writing the container ID file {}", path.display()))?;
    Ok(())
}

async fn run_container(engine: &Engine, mut args: RunArgs) -> anyhow::Result<ExitCode> {
    let detach_keys = super::terminal::parse_detach_keys(&args.detach_keys)?;
    if args.detach && !args.attach.is_empty() {
        bail!("Conflicting options: -a and -d");
    }
    let cidfile = args.options.cidfile.take();
    check_cidfile(cidfile.as_deref())?;
    let spec = RunSpec::from_flags(&args.image, args.command, &engine_flags(args.options)).map_err(Error::from)?;
    let RunOutcome { record: rec, started, log } = engine.run(spec, &print_progress).await?;
    write_cidfile(cidfile.as_deref(), &rec.id)?;
    if args.detach {
        outln!("{}", rec.id)?;
        return Ok(ExitCode::SUCCESS);
    }
    let attached = |stream: AttachStream| args.attach.is_empty() || args.attach.contains(&stream);
    let streams: Vec<Stream> =
        [Stream::Stdout, Stream::Stderr].into_iter().filter(|s| attached(AttachStream::Out(*s))).collect();
    if rec.options.tty || rec.options.open_stdin {
        let session = match engine.attach(&rec.id).await {
            Ok(session) => session,
            // A command that ended before the attach could join it: its output is all in the log.
            Err(e) if run_ended(engine, &rec.id, &e) => {
                return follow_until_exit(engine, &rec.id, log, started, &streams).await;
            }
            Err(e) => return Err(e.into()),
        };
        let how = Interaction {
            tty: rec.options.tty,
            stdin: rec.options.open_stdin && attached(AttachStream::Stdin),
            detach_keys,
            signal_target: Some(rec.id.clone()),
        };
        let ended = match interact(engine, session, how).await? {
            // An --rm container is gone once its monitor says the run ended.
            Ended::Exit(code) => {
                started.wait_exit().await;
                Ended::Exit(code)
            }
            // Joined as the run ended: the session closed without the exit, which the run's end gives.
            Ended::Lost => started.wait_exit().await.map_or(Ended::Lost, Ended::Exit),
            other => other,
        };
        return Ok(super::attach::exit_code(engine, &rec.id, ended));
    }
    follow_until_exit(engine, &rec.id, log, started, &streams).await
}

/// Whether an attach failed because the run already ended: the monitor's session socket is gone (it is
/// removed as the run ends, before the store says so) or the container no longer runs (or, `--rm`, exists).
fn run_ended(engine: &Engine, id: &str, error: &SessionError) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, ConnectionReset, NotFound};
    let socket_gone = matches!(error, SessionError::Io { source, .. }
        if matches!(source.kind(), NotFound | ConnectionRefused | ConnectionReset));
    socket_gone || !engine.container(id).is_ok_and(|rec| rec.status == Status::Running)
}

/// Prints the container's log as it grows until its first run ends, only the `streams` attached (`-a`);
/// its exit code.
pub(super) async fn follow_until_exit(
    engine: &Engine,
    id: &str,
    mut follower: LogFollower,
    started: berth_engine::container::StartOutcome,
    streams: &[Stream],
) -> anyhow::Result<ExitCode> {
    let print = |entries: Vec<LogEntry>| {
        let chosen: Vec<LogEntry> = entries.into_iter().filter(|e| streams.contains(&e.stream)).collect();
        print_entries(&chosen, false)
    };
    let mut exit = tokio::spawn(started.wait_exit());
    let exit = loop {
        print(follower.poll()?)?;
        tokio::select! {
            ended = &mut exit => break ended?,
            () = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    };
    // Whatever the container wrote last, once it is gone.
    print(follower.poll()?)?;
    let code = match exit {
        Some(code) => code,
        None => engine.container(id).map(|r| r.exit_code).unwrap_or(125),
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The container's log file, created empty if it does not exist yet.
fn open_log(engine: &Engine, rec: &ContainerRecord) -> std::io::Result<PathBuf> {
    let path = engine.container_log_path(rec);
    std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    Ok(path)
}

/// `start -a`/`start -i`: starts one container and attaches to it.
async fn start_attached(engine: &Engine, args: StartArgs) -> anyhow::Result<ExitCode> {
    let [name] = args.containers.as_slice() else {
        bail!("you cannot start and attach multiple containers at once");
    };
    let detach_keys = super::terminal::parse_detach_keys(&args.detach_keys)?;
    let rec = engine.container(name)?;
    if !rec.options.tty && !rec.options.open_stdin {
        // Nothing to type into: the log, followed from before the start, misses none of the output.
        let follower = LogFollower::at_end(&open_log(engine, &rec)?)?;
        let started = engine.start_container(&rec.id).await?;
        return follow_until_exit(engine, &rec.id, follower, started, &[Stream::Stdout, Stream::Stderr]).await;
    }
    let started = engine.start_container(&rec.id).await?;
    let session = engine.attach(&rec.id).await?;
    let how = Interaction {
        tty: rec.options.tty,
        stdin: args.interactive && rec.options.open_stdin,
        detach_keys,
        signal_target: Some(rec.id.clone()),
    };
    let ended = interact(engine, session, how).await?;
    if matches!(ended, Ended::Exit(_)) {
        started.wait_exit().await;
    }
    Ok(super::attach::exit_code(engine, &rec.id, ended))
}

fn print_entries(entries: &[LogEntry], timestamps: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for e in entries {
        let sink: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if timestamps {
            write!(sink, "{} ", e.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))?;
        }
        sink.write_all(e.text.as_bytes())?;
    }
    out.flush()?;
    err.flush()
}

async fn logs(engine: &Engine, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let time = |t: &Option<String>| -> anyhow::Result<_> {
        t.as_deref()
            .map(|s| {
                parse_time(s, now).with_context(|| format!("invalid time {s:?}: use RFC 3339, Unix seconds or 10m"))
            })
            .transpose()
    };
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().with_context(|| format!("invalid --tail {n:?}"))?),
    };
    let filter = LogFilter { tail, since: time(&args.since)?, until: time(&args.until)? };
    let (_, entries, tail) = engine.open_logs(&args.container, &filter, args.follow)?;
    print_entries(&entries, args.timestamps)?;
    if let Some(mut tail) = tail {
        while let Some(fresh) = engine.next_logs(&mut tail).await {
            print_entries(&fresh, args.timestamps)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(engine: &Engine, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for c in &args.containers {
        match engine.wait_container(c).await {
            Ok(code) => outln!("{code}")?,
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `port`: `80/tcp -> 127.0.0.1:8080`, one line per published port.
fn port(engine: &Engine, args: PortArgs) -> anyhow::Result<ExitCode> {
    let rec = engine.container(&args.container)?;
    let wanted = args.private_port.as_deref().map(|p| if p.contains('/') { p.to_string() } else { format!("{p}/tcp") });
    let mut found = false;
    for (key, bindings) in engine.container_network_settings(&rec)?.ports {
        if wanted.as_ref().is_some_and(|w| *w != key) {
            continue;
        }
        for b in bindings {
            found = true;
            match &wanted {
                Some(_) => outln!("{}:{}", b.host_ip, b.host_port)?,
                None => outln!("{key} -> {}:{}", b.host_ip, b.host_port)?,
            }
        }
    }
    if let Some(w) = wanted
        && !found
    {
        anyhow::bail!("Error: No public port '{w}' published for {}", rec.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(engine: &Engine, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let format = InspectFormat::parse(args.format.as_deref())?;
    let mut docs = Vec::new();
    let mut failed = false;
    for c in &args.containers {
        match engine.container(c) {
            Ok(rec) => docs.push(engine.inspect_container(&rec)?),
            Err(Error::Container(ContainerError::NotFound { .. })) if engine.image(c).is_ok() => {
                docs.push(engine.inspect_image(c)?)
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    format.print(&docs)?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn top(engine: &Engine, args: TopArgs) -> anyhow::Result<ExitCode> {
    let rows: Vec<Vec<String>> = engine
        .top_container(&args.container)?
        .into_iter()
        .map(|p| vec![p.uid.to_string(), p.pid.to_string(), p.ppid.to_string(), p.cmd])
        .collect();
    out!("{}", table(&["UID", "PID", "PPID", "CMD"], &rows))?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's STATUS column: "Up 5 minutes", "Up 2 hours (Paused)", "Exited (0) 3 seconds ago".
pub(super) fn status_text(rec: &ContainerRecord) -> String {
    let fields = berth_engine::display::StatusFields {
        status: rec.status,
        exit_code: rec.exit_code.into(),
        started_at: rec.started_at.as_deref(),
        finished_at: rec.finished_at.as_deref(),
        health: rec.health.as_ref().map(|h| h.status),
    };
    berth_engine::display::status(fields, chrono::Utc::now())
}

pub(super) fn command_text(rec: &ContainerRecord, no_trunc: bool) -> String {
    let cmd = rec.command.join(" ");
    if no_trunc || cmd.chars().count() <= 20 {
        format!("\"{cmd}\"")
    } else {
        format!("\"{}…\"", cmd.chars().take(19).collect::<String>())
    }
}

/// Docker's `ps` columns: each row key's table header.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

fn ps(engine: &Engine, args: PsArgs) -> anyhow::Result<ExitCode> {
    let mut default_table =
        String::from("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}");
    if args.size {
        default_table.push_str("\t{{.Size}}");
    }
    let format = Format::parse(args.format.as_deref(), &default_table)?;
    let filters = args.filter.iter().map(|f| ListFilter::parse(f)).collect::<Result<Vec<_>, _>>()?;
    let list = engine.list_containers(&ListOptions { all: args.all, filters })?;
    if args.quiet {
        for rec in &list {
            outln!("{}", if args.no_trunc { rec.id.as_str() } else { rec.short_id() })?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // As docker does, sizes (a walk of each container's upper dir) are computed for -s or a template using them.
    let want_size = args.size || args.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let size = |rec: &ContainerRecord| human_size(engine.container_size(rec));
    let published = engine.published_ports()?;
    let ports = |rec: &ContainerRecord| {
        let mappings = published.get(&rec.id).map(Vec::as_slice).unwrap_or_default();
        mappings.iter().map(PortMapping::ps_form).collect::<Vec<_>>().join(", ")
    };
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|rec| {
            let labels: Vec<String> = rec.options.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let volumes: Vec<&MountSpec> = rec.options.mounts.iter().filter(|m| m.kind == MountKind::Volume).collect();
            let mounts: Vec<&str> =
                rec.options.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs).map(|m| m.source.as_str()).collect();
            let networks: Vec<&str> = std::iter::once(rec.options.network.as_deref().unwrap_or("bridge"))
                .chain(rec.options.extra_networks.iter().map(String::as_str))
                .collect();
            json!({
                "Command": command_text(rec, args.no_trunc),
                "CreatedAt": rec.created_at,
                "ID": if args.no_trunc { rec.id.as_str() } else { rec.short_id() },
                "Image": rec.image_name,
                "Labels": labels.join(","),
                "LocalVolumes": volumes.len().to_string(),
                "Mounts": mounts.join(","),
                "Names": rec.name,
                "Networks": networks.join(","),
                "Ports": ports(rec),
                "RunningFor": time_ago(Some(&rec.created_at)),
                "Size": if want_size { size(rec) } else { String::new() },
                "State": rec.status.as_str(),
                "Status": status_text(rec),
            })
        })
        .collect();
    format.print_rows(&rows, PS_HEADERS)?;
    Ok(ExitCode::SUCCESS)
}
