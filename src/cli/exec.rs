//! `exec`: a process inside a running container, served by an exec helper; and the hidden `__exec` entry
//! that runs that helper.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_engine::container::{EXEC_SUBCOMMAND, ExecOptions, run_exec_helper};
use berth_engine::{Engine, monitor};
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

/// If this process was started as an exec helper, runs it (no async runtime) and returns its exit code.
pub fn exec_entry() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(EXEC_SUBCOMMAND)) {
        return None;
    }
    let (Some(root), Some(id), Some(exec_id)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: berth {EXEC_SUBCOMMAND} ROOT CONTAINER-ID EXEC-ID");
        return Some(ExitCode::from(125));
    };
    // The helper joins a container: the same protections as the monitor (read-only binary, no leaked fds).
    if let Err(e) = monitor::seal() {
        eprintln!("berth exec helper: {e}");
        return Some(ExitCode::from(125));
    }
    let ready = monitor::Ready::inherit();
    monitor::cloexec_from(monitor::READY_FD as u32);
    let id = id.to_string_lossy().into_owned();
    if let Err(e) = monitor::detach(&id) {
        eprintln!("berth exec helper: {e}");
        return Some(ExitCode::from(125));
    }
    let code = run_exec_helper(&PathBuf::from(root), &id, &exec_id.to_string_lossy(), ready);
    Some(ExitCode::from(code.clamp(0, 255) as u8))
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
