//! berth: a container workstation for the terminal.

#![forbid(unsafe_code)]

#[macro_use]
mod output;
mod cli;
mod serve;

use std::process::ExitCode;

use berth_engine::container::migration;
use clap::Parser;

fn main() -> ExitCode {
    // A container monitor must never start an async runtime: it forks containers; nor may the exec helper
    // or a network's DNS resolver, which fork away from their spawner.
    if let Some(code) = berth_engine::helpers::entry() {
        return ExitCode::from(code);
    }
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = cli::usage_error_code(&e, std::env::args().skip(1));
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        // libcgroups warns about every v1 controller this kernel lacks, on every use.
        .unwrap_or_else(|_| format!("{},libcgroups=error", args.log_level).as_str().into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    // The TUI owns the terminal: its diagnostics go to a file in the state root instead of over the screen.
    match args.command.is_none().then(|| tui_log_file(&args)).flatten() {
        Some(file) => logs.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init(),
        None => logs.with_ansi(colour_stderr()).with_writer(std::io::stderr).init(),
    }
    // Before the runtime's threads: the warming forks, and a descriptor table grows without waiting only
    // while one thread uses it.
    reserve_descriptors();
    let _warming = args.command.as_ref().filter(|c| cli::starts_containers(c)).and_then(|_| migration::warm_reaped());
    // A worker per CPU this process may run on. Tokio's default also reads the cgroup's CPU quota, which on
    // cgroup v1 means scanning the mount table: every command paid for it, and a container workstation's
    // mount table grows with its running containers.
    let workers = berth_engine::run::host_cpus();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        // The reader of stdout went away (`berth ... | head`): it has what it wanted, nothing to report.
        Err(e) if stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// Grows this process's descriptor table to 1024 entries now, while it has a single thread: once threads
/// share the table, the kernel waits out an RCU grace period (8-15 ms here) at each doubling, and a command
/// can hold hundreds of files (`stats --no-stream` keeps ~10 per container open between its two readings:
/// three doublings, ~30 ms of its ~100). A lower descriptor limit just leaves the table as it is.
fn reserve_descriptors() {
    if let Ok(high) = rustix::io::fcntl_dupfd_cloexec(std::io::stderr(), 1023) {
        drop(high);
    }
}

/// Colours only for a person reading a terminal, and not when NO_COLOR is set (https://no-color.org): a
/// pipe or a log file gets plain text.
fn colour_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `ROOT/tui.log`, appended to; None when it cannot be opened (diagnostics then go to stderr).
fn tui_log_file(args: &cli::Cli) -> Option<std::fs::File> {
    let root = args.root.clone().unwrap_or_else(berth_engine::EngineOptions::default_root);
    std::fs::create_dir_all(&root).ok()?;
    std::fs::OpenOptions::new().create(true).append(true).open(root.join("tui.log")).ok()
}

/// Whether the error is a write to a stdout nobody reads any more. A broken pipe inside an engine error (a
/// container's session, a packer's pipe) is a real failure, never this.
fn stdout_closed(error: &anyhow::Error) -> bool {
    let broken = |cause: &(dyn std::error::Error + 'static)| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    };
    error.chain().any(broken) && !error.chain().any(|cause| cause.is::<berth_engine::Error>())
}

/// The error and its causes on one line (see `berth_engine::with_causes`).
fn describe(error: &anyhow::Error) -> String {
    berth_engine::with_causes(error.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_stdout_of_the_cli_itself_is_quiet() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(stdout_closed(&anyhow::Error::from(pipe())));
        assert!(stdout_closed(&anyhow::Error::from(pipe()).context("writing the list")));
        let session = berth_engine::container::ContainerError::Io {
            id: "c".into(),
            action: "attach",
            path: "attach.sock".into(),
            source: pipe(),
        };
        let engine = anyhow::Error::from(berth_engine::Error::from(session));
        assert!(!stdout_closed(&engine), "an engine failure over a broken pipe must be reported");
        assert!(!stdout_closed(&anyhow::Error::msg("no such image")));
    }

    #[test]
    fn the_descriptor_table_is_grown_up_front() {
        reserve_descriptors();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let size: usize = status.lines().find_map(|l| l.strip_prefix("FDSize:")).unwrap().trim().parse().unwrap();
        assert!(size >= 1024, "FDSize {size}");
    }
}
