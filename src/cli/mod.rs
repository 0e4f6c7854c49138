//! The Docker-style command line: parsing and dispatch. Each group of commands lives in its own file.

mod archive;
mod attach;
mod binfmt;
mod build;
mod build_progress;
mod compose;
mod compose_ops;
pub mod container;
mod cp;
mod events;
pub mod exec;
mod format;
mod images;
mod kube;
mod line_plan;
mod local;
mod login;
mod manifest;
pub mod network;
mod pull;
mod push;
mod stats;
pub(crate) mod system;
mod template;
mod terminal;
mod volume;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use berth_engine::{Config, Engine, EngineOptions};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "A container workstation for the terminal", propagate_version = true)]
pub struct Cli {
    /// State root (images, layers, containers); default /var/lib/berth as root, the XDG data dir otherwise.
    #[arg(long, global = true, env = "BERTH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace); BERTH_LOG overrides.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// TUI colour theme: dark, light, high-contrast, a name from $XDG_CONFIG_HOME/berth/themes or a path.
    #[arg(long, global = true, value_name = "THEME")]
    pub theme: Option<String>,
    /// Without a command, berth opens the terminal UI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Every subcommand enum defers its arguments (`defer`): clap builds only the subcommand a command line names,
// where it built all of them first (~1.5 ms of every berth command).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    #[command(flatten)]
    Images(images::ImageCommand),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Manage images
    #[command(subcommand)]
    Image(images::ImageSubcommand),
    /// Manage berth
    #[command(subcommand)]
    System(system::SystemSubcommand),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Show the berth version information
    Version(system::VersionArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    #[command(flatten)]
    Containers(container::ContainerCommand),
    #[command(flatten)]
    Network(network::NetworkCommand),
    /// Display a live stream of container resource usage statistics
    Stats(stats::StatsArgs),
    #[command(flatten)]
    Volume(volume::VolumeCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    #[command(flatten)]
    Local(local::LocalCommand),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Get real time events from berth
    Events(events::EventsArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderSubcommand),
    /// Generate Kubernetes YAML from containers, or run it as local pods
    #[command(subcommand)]
    Kube(kube::KubeSubcommand),
    /// Define and run multi-container applications (the Compose Specification)
    Compose(compose::ComposeArgs),
    /// Serve the Docker Engine API on a socket, for the docker CLI, compose and the SDKs
    Serve(crate::serve::ServeArgs),
    #[command(flatten)]
    Archive(archive::ArchiveCommand),
    /// Manage manifest lists: images of several platforms under one name
    #[command(subcommand)]
    Manifest(manifest::ManifestSubcommand),
}

/// Whether the command starts containers or execs in them, so that its processes join cgroups soon: a build
/// only with `--no-cache` (every RUN step then runs), as a cached one mostly starts none.
pub fn starts_containers(command: &Command) -> bool {
    use container::ContainerCommand as C;
    match command {
        Command::Build(args) => args.no_cache,
        Command::Containers(c) => matches!(c, C::Run(_) | C::Start(_) | C::Restart(_) | C::Exec(_)),
        _ => false,
    }
}

/// The exit code for a command line clap refused: Docker's 125 for `run`, `create` and `exec` (an unknown
/// flag or a bad value is an error of the engine's client, not of the container), clap's own otherwise.
pub fn usage_error_code(error: &clap::Error, args: impl Iterator<Item = String>) -> u8 {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return error.exit_code().clamp(0, 255) as u8;
    }
    let mut args = args.peekable();
    // The first word that is neither a global option nor its value names the command.
    while let Some(arg) = args.next() {
        if matches!(arg.as_str(), "--root" | "--log-level" | "--theme") {
            args.next();
        } else if !arg.starts_with('-') {
            if matches!(arg.as_str(), "run" | "create" | "exec") {
                return 125;
            }
            break;
        }
    }
    error.exit_code().clamp(0, 255) as u8
}

/// Asks docker's "Are you sure" after `warning`; true for a yes typed on standard input.
fn confirm(warning: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    out!("{warning}\nAre you sure you want to continue? [y/N] ")?;
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Opens the engine over the chosen state root with berth's config file.
fn open_engine(root: Option<PathBuf>) -> anyhow::Result<Engine> {
    let config = Config::load()?;
    let root = root.unwrap_or_else(EngineOptions::default_root);
    Engine::open(EngineOptions { root: root.clone(), config })
        .with_context(|| format!("cannot open the state root {}", root.display()))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let engine = open_engine(cli.root)?;
    let Some(command) = cli.command else {
        // The `:` command line runs this same binary, planned by this same grammar.
        let program = std::env::current_exe().context("cannot find the berth binary for the : command line")?;
        let link = berth_ui::cli::CliLink { program, plan: line_plan::plan, complete: line_plan::complete };
        berth_ui::run(engine, berth_ui::UiOptions { theme: cli.theme, config: None, cli: link }).await?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Containers(cmd) => return container::run(&engine, cmd).await,
        Command::Stats(args) => return stats::run(&engine, args).await,
        Command::Images(cmd) => images::run(&engine, cmd),
        Command::Image(cmd) => images::run_image(&engine, cmd).await,
        Command::System(cmd) => system::run(&engine, cmd).await,
        Command::Info(args) => system::info(&engine, args),
        Command::Version(args) => system::version(args),
        Command::Pull(args) => pull::run(&engine, args).await,
        Command::Push(args) => push::run(&engine, args).await,
        Command::Login(args) => login::login(&engine, args).await,
        Command::Logout(args) => login::logout(&engine, args),
        Command::Network(cmd) => network::run(&engine, cmd),
        Command::Volume(cmd) => return volume::run(&engine, cmd),
        Command::Cp(args) => return cp::run(&engine, args),
        Command::Local(cmd) => local::run(&engine, cmd),
        Command::Build(args) => build::build(&engine, args).await,
        Command::Builder(cmd) => build::builder(&engine, cmd),
        Command::Events(args) => events::run(&engine, args).await,
        Command::Kube(cmd) => kube::run(&engine, cmd).await,
        Command::Compose(args) => return compose::run(&engine, args).await,
        Command::Serve(args) => crate::serve::run(engine, args).await,
        Command::Archive(cmd) => archive::run(&engine, cmd).await,
        Command::Manifest(cmd) => manifest::run(&engine, cmd).await,
    }?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn commands_that_start_containers_are_told_apart() {
        let starts = |line: &str| {
            let cli = Cli::try_parse_from(line.split(' ')).unwrap();
            starts_containers(&cli.command.unwrap())
        };
        for line in
            ["berth run img true", "berth start c", "berth restart c", "berth exec c true", "berth build --no-cache ."]
        {
            assert!(starts(line), "{line}");
        }
        for line in ["berth build .", "berth ps", "berth stop c", "berth pull img"] {
            assert!(!starts(line), "{line}");
        }
    }

    /// clap's own checks of the whole tree (conflicting names, bad defaults), which deferred subcommands would
    /// otherwise meet only when invoked.
    #[test]
    fn every_subcommand_is_well_formed() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn a_built_subcommand_keeps_its_own_about() {
        let mut cli = <Cli as clap::CommandFactory>::command();
        cli.build();
        let about = |name: &str| cli.find_subcommand(name).and_then(|c| c.get_about()).map(|a| a.to_string());
        assert_eq!(about("run").as_deref(), Some("Create and run a new container from an image"));
        assert_eq!(about("create").as_deref(), Some("Create a new container"));
    }

    #[test]
    fn a_deferred_subcommand_still_parses_its_flags_and_the_global_ones() {
        let cli = Cli::try_parse_from(["berth", "--root", "/r", "run", "-d", "--name", "x", "busybox"]).unwrap();
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/r")));
        let cli = Cli::try_parse_from(["berth", "network", "create", "--log-level", "debug", "n"]).unwrap();
        assert_eq!(cli.log_level, "debug", "a global option after a deferred subcommand");
        assert!(Cli::try_parse_from(["berth", "run", "--no-such-flag", "busybox"]).is_err());
    }

    fn code(line: &[&str]) -> u8 {
        let error = Cli::try_parse_from(std::iter::once("berth").chain(line.iter().copied())).unwrap_err();
        usage_error_code(&error, line.iter().map(|s| s.to_string()))
    }

    #[test]
    fn refused_run_create_and_exec_lines_exit_125() {
        assert_eq!(code(&["run", "--bogus", "busybox"]), 125);
        assert_eq!(code(&["--root", "/tmp/x", "create", "--memory"]), 125);
        assert_eq!(code(&["exec"]), 125);
        assert_eq!(code(&["ps", "--bogus"]), 2);
        assert_eq!(code(&["--help"]), 0);
    }
}
