//! `exec`: a process inside a running container, served by an exec helper; and the hidden `__exec` entry
//! that runs that helper.

use std::process::ExitCode;

use berth_engine::Engine;
use berth_engine::container::ExecOptions;
use clap::Args;

use super::attach::{Ended, Interaction, interact};
use super::terminal::{DEFAULT_DETACH_KEYS, parse_detach_keys, window_size};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub(super) detach: bool,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from this environment)
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = super::container::env_flag)]
    pub(super) env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub(super) user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub(super) workdir: Option<String>,
    /// Keep STDIN open
    #[arg(short, long)]
    pub(super) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(super) tty: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub(super) privileged: bool,
    /// Override the key sequence for detaching
    #[arg(long, default_value = DEFAULT_DETACH_KEYS)]
    detach_keys: String,
    pub(super) container: String,
    /// Command and arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub(super) command: Vec<String>,
}

pub async fn exec(engine: &Engine, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let (cols, rows) = if args.tty { window_size().unwrap_or((0, 0)) } else { (0, 0) };
    let env = args
        .env
        .iter()
        .filter_map(
            |e| if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) },
        )
        .collect();
    let options = ExecOptions {
        cmd: args.command,
        env,
        user: args.user,
        workdir: args.workdir,
        privileged: args.privileged,
        tty: args.tty,
        stdin: args.interactive,
        detach: args.detach,
        cols,
        rows,
    };
    let session = match engine.exec(&args.container, options).await {
        Ok(Some(session)) => session,
        Ok(None) => return Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("Error: {e}");
            return Ok(ExitCode::from(e.exit_code().clamp(0, 255) as u8));
        }
    };
    let how = Interaction { tty: args.tty, stdin: args.interactive, detach_keys, signal_target: None };
    let code = match interact(engine, session, how).await? {
        Ended::Exit(code) => code,
        Ended::Detached => 0,
        Ended::Signalled(signal) => 128 + signal,
        Ended::Lost => 125,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
