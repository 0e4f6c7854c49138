//! Runs berth CLI command lines for the `:` line: the berth binary re-executed with `--root` of this UI's state
//! root (its environment, so BERTH_CONFIG and DOCKER_CONFIG, passes down), stdin /dev/null, and stdout and
//! stderr on one pipe so they interleave as written. The output is kept up to a bound; the rest is drained
//! and counted so the command never blocks on a full pipe.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::{BackendError, CliExit, CliOutput};

/// Output kept per command.
pub const OUTPUT_LIMIT: usize = 256 * 1024;

/// How long output is still read once the command has exited: a process it left behind may hold the pipe
/// open (berth's own helpers do not, with /dev/null for stdio), and must not keep the result from arriving.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct CliRunner {
    program: PathBuf,
    root: PathBuf,
}

impl CliRunner {
    pub fn new(program: PathBuf, root: PathBuf) -> CliRunner {
        CliRunner { program, root }
    }

    pub async fn run(&self, args: Vec<String>) -> Result<CliOutput, BackendError> {
        let target = crate::cli::command_text(&args);
        let failed = |message: String| BackendError::Failed { operation: "run", target: target.clone(), message };
        let (reader, writer) = std::io::pipe().map_err(|e| failed(format!("cannot make a pipe: {e}")))?;
        let stderr = writer.try_clone().map_err(|e| failed(format!("cannot share the pipe: {e}")))?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--root")
            .arg(&self.root)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(stderr)
            // A UI that quits takes its unfinished commands with it, as a closed terminal would.
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| failed(format!("cannot start {}: {e}", self.program.display())))?;
        // The command keeps our copies of the write end: they must close for the read to see the end.
        drop(command);
        let mut pipe =
            pipe::Receiver::from_owned_fd(reader.into()).map_err(|e| failed(format!("cannot read the pipe: {e}")))?;
        let mut kept = Vec::new();
        let mut dropped = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut exited: Option<ExitStatus> = None;
        let drain = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                status = child.wait(), if exited.is_none() => {
                    exited = Some(status.map_err(|e| failed(format!("cannot wait for it: {e}")))?);
                    drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
                }
                read = pipe.read(&mut chunk) => match read {
                    Ok(0) => break,
                    Ok(n) => {
                        let keep = n.min(OUTPUT_LIMIT - kept.len());
                        kept.extend_from_slice(&chunk[..keep]);
                        dropped += (n - keep) as u64;
                    }
                    Err(e) => return Err(failed(format!("cannot read its output: {e}"))),
                },
                () = &mut drain, if exited.is_some() => break,
            }
        }
        let status = match exited {
            Some(status) => status,
            None => child.wait().await.map_err(|e| failed(format!("cannot wait for it: {e}")))?,
        };
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => CliExit::Code(code),
            (None, Some(signal)) => CliExit::Signal(signal),
            (None, None) => return Err(failed(format!("ended without a status ({status})"))),
        };
        Ok(CliOutput { exit, output: String::from_utf8_lossy(&kept).into_owned(), dropped })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A stand-in for the berth binary: a shell script in a temporary directory.
    fn script(dir: &tempfile::TempDir, body: &str) -> CliRunner {
        let path = dir.path().join("berth");
        berth_engine::testing::install_script(&path, &format!("#!/bin/sh\n{body}\n"));
        CliRunner::new(path, PathBuf::from("/state root"))
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn the_root_comes_first_and_both_streams_interleave_with_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let runner = script(&dir, r#"for a in "$@"; do echo "[$a]"; done; echo oops >&2; echo after; exit 3"#);
        let out = runner.run(args(&["network", "create", "a b"])).await.unwrap();
        assert_eq!(out.exit, CliExit::Code(3));
        assert_eq!(out.output, "[--root]\n[/state root]\n[network]\n[create]\n[a b]\noops\nafter\n");
        assert_eq!(out.dropped, 0);
    }

    #[tokio::test]
    async fn stdin_is_empty_so_nothing_waits_for_input() {
        let dir = tempfile::tempdir().unwrap();
        let out = script(&dir, "cat; echo read-all").run(Vec::new()).await.unwrap();
        assert_eq!((out.exit, out.output.as_str()), (CliExit::Code(0), "read-all\n"));
    }

    #[tokio::test]
    async fn output_past_the_limit_is_counted_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let total = OUTPUT_LIMIT + 1000;
        let out = script(&dir, &format!("head -c {total} /dev/zero | tr '\\0' x")).run(Vec::new()).await.unwrap();
        assert_eq!(out.output.len(), OUTPUT_LIMIT);
        assert_eq!(out.dropped, 1000);
        assert!(out.exit.success());
    }

    #[tokio::test]
    async fn a_process_left_holding_the_pipe_does_not_hold_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let runner = script(&dir, "sleep 30 & echo $! > \"$0.pid\"; echo started");
        let started = Instant::now();
        let out = runner.run(Vec::new()).await.unwrap();
        let pid = std::fs::read_to_string(dir.path().join("berth.pid")).unwrap();
        // The sleep is this test's own child's child; it is ended by its PID.
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        assert_eq!(out.output, "started\n");
        assert!(started.elapsed() < Duration::from_secs(10), "returned after {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn signals_and_missing_programs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = script(&dir, "kill -TERM $$").run(Vec::new()).await.unwrap();
        assert_eq!(out.exit, CliExit::Signal(15));
        assert_eq!(out.exit.to_string(), "killed by signal 15");
        let missing = CliRunner::new(dir.path().join("nowhere"), PathBuf::from("/r"));
        let err = missing.run(args(&["ps"])).await.unwrap_err();
        assert!(err.to_string().starts_with("run berth ps: cannot start"), "{err}");
    }
}
