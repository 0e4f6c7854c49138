//! Interactive containers through a real pty, as a user's terminal drives them: `run -it`, `exec -it`,
//! `attach` with detach keys, several clients at once, `exec` options, and the terminal restored afterwards.
//! Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use rexpect::session::{PtySession, spawn_command};
use rt::{Env, require_root};

const TIMEOUT_MS: u64 = 30_000;

/// `berth ARGS` for this env as one shell word list.
fn berth_line(env: &Env, args: &str) -> String {
    format!("{} --root {} {args}", env!("CARGO_BIN_EXE_berth"), env.root().display())
}

/// A shell on a fresh pty that records the terminal state, runs `berth ARGS`, prints its exit code and
/// records the state again (in `before` and `after` under the env root).
fn spawn_in_pty(env: &Env, args: &str) -> PtySession {
    let root = env.root().display().to_string();
    let script = format!(
        "stty -g > {root}/before; {}; echo \"berth-exit=$?\"; stty -g > {root}/after; sleep 0.2",
        berth_line(env, args)
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).env("BERTH_CONFIG", env.root().join("config.toml")).env_remove("BERTH_LOG");
    spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn a pty")
}

/// Sets the pty's window size from the terminal side, as a terminal emulator does on resize.
fn resize(p: &PtySession, cols: u16, rows: u16) {
    let master = p.process().get_file_handle().expect("pty master");
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ with a valid winsize on a pty master we own.
    assert_eq!(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) }, 0);
}

fn terminal_restored(env: &Env) {
    let before = std::fs::read_to_string(env.root().join("before")).expect("state before");
    let after = std::fs::read_to_string(env.root().join("after")).expect("state after");
    assert!(!before.trim().is_empty());
    assert_eq!(before, after, "the terminal must be restored");
}

#[test]
fn run_it_is_a_real_terminal() {
    if !require_root("run_it_is_a_real_terminal") {
        return;
    }
    let env = Env::new();
    let mut p = spawn_in_pty(&env, "run -it --rm busybox sh");
    p.exp_string("# ").expect("the shell's prompt");
    p.send_line("echo hello $((6*7)); tty").unwrap();
    p.exp_string("hello 42").unwrap();
    p.exp_string("/dev/pts/").expect("stdin is a pty");
    resize(&p, 101, 33);
    std::thread::sleep(Duration::from_millis(300));
    p.send_line("stty size").unwrap();
    p.exp_string("33 101").expect("the window size follows the terminal");
    // Ctrl-C reaches the container's foreground process as a byte through the pty, not berth as a signal.
    p.send_line("sleep 100").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    p.send_control('c').unwrap();
    p.send_line("echo back-$((2+3))").unwrap();
    p.exp_string("back-5").expect("the prompt is back after Ctrl-C");
    p.send_line("exit 3").unwrap();
    p.exp_string("berth-exit=3").expect("the exit code is berth's");
    p.exp_eof().unwrap();
    terminal_restored(&env);
}

#[test]
fn a_signal_to_the_client_restores_the_terminal() {
    if !require_root("a_signal_to_the_client_restores_the_terminal") {
        return;
    }
    let env = Env::new();
    let pid_file = env.root().join("client.pid");
    // The client records its pid (exec keeps it), so the test can signal berth itself while in raw mode.
    let root = env.root().display().to_string();
    let script = format!(
        "stty -g > {root}/before; sh -c 'echo $$ > {pid}; exec {berth}'; echo \"berth-exit=$?\"; stty -g > {root}/after",
        pid = pid_file.display(),
        berth = berth_line(&env, "run -it --name victim busybox sh")
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).env("BERTH_CONFIG", env.root().join("config.toml")).env_remove("BERTH_LOG");
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn a pty");
    p.exp_string("# ").expect("the shell's prompt");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) on the berth client this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    p.exp_string("berth-exit=143").expect("SIGTERM ends the client with 128 + 15");
    p.exp_eof().unwrap();
    terminal_restored(&env);
    assert_eq!(env.status("victim"), "running", "with a tty the signal ends the client, not the container");
}

#[test]
fn run_i_pipes_stdin_without_a_terminal() {
    if !require_root("run_i_pipes_stdin_without_a_terminal") {
        return;
    }
    let env = Env::new();
    let mut child = env
        .command(&["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo err >&2; exit 4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped input\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED INPUT\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(4));

    // `attach` to a container without a tty: piped input reaches it, end of input closes its stdin.
    env.ok(&[
        "run",
        "-di",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "while read l; do echo \"got $l\"; done; exit 2",
    ]);
    let mut child = env
        .command(&["attach", "reader"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"one\ntwo\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got one\ngot two\n");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // `start -a` of a container without -i/-t misses none of its output.
    env.ok(&["create", "--name", "once", "busybox", "sh", "-c", "echo started-$((3*3)); exit 6"]);
    let out = env.run(&["start", "-a", "once"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started-9\n");
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn run_i_of_a_command_that_ends_at_once_loses_no_output() {
    if !require_root("run_i_of_a_command_that_ends_at_once_loses_no_output") {
        return;
    }
    let env = Env::new();
    // The command often ends before the CLI's attach reaches the monitor: its output comes from the log then.
    for round in 0..24 {
        let flags = if round % 3 == 2 { "-t" } else { "-i" };
        let out = env
            .command(&["run", flags, "--rm", "--network", "none", "busybox", "echo", "said-it"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.trim_end(), "said-it", "round {round} ({flags}): {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "round {round}");
    }
    assert!(env.ids().is_empty(), "every --rm container is gone");
}

#[test]
fn exec_joins_the_container() {
    if !require_root("exec_joins_the_container") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "box", "--hostname", "boxhost", "busybox", "sleep", "300"]);

    let mut p = spawn_in_pty(&env, "exec -it box sh");
    p.exp_string("# ").expect("the exec'd shell's prompt");
    p.send_line("echo in-$(hostname); ps -o comm | grep -c sleep").unwrap();
    p.exp_string("in-boxhost").expect("the container's uts namespace");
    resize(&p, 77, 21);
    std::thread::sleep(Duration::from_millis(300));
    p.send_line("stty size").unwrap();
    p.exp_string("21 77").unwrap();
    p.send_line("exit 4").unwrap();
    p.exp_string("berth-exit=4").unwrap();
    p.exp_eof().unwrap();
    terminal_restored(&env);

    let out = env.ok(&[
        "exec",
        "-e",
        "FOO=bar baz",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $FOO/$(id -un)/$(pwd); grep -E '^(Seccomp|CapEff):' /proc/self/status",
    ]);
    assert!(out.contains("bar baz/nobody//tmp"), "-e, -u and -w take effect: {out}");
    assert!(out.contains("Seccomp:\t2"), "the container's seccomp profile applies to exec: {out}");
    let root = env.ok(&["exec", "box", "grep", "CapEff", "/proc/self/status"]);
    assert!(root.contains("00000000a80425fb"), "the container's capabilities: {root}");
    let signals = env.ok(&["exec", "box", "sh", "-c", "grep SigIgn /proc/self/status; yes | head -c 3 | wc -c"]);
    assert_eq!(signals, "SigIgn:\t0000000000000000\n3\n", "exec'd commands keep no ignored signal of berth's");
    let privileged = env.ok(&["exec", "--privileged", "box", "grep", "CapEff", "/proc/self/status"]);
    assert!(!privileged.contains("00000000a80425fb"), "--privileged widens the capabilities: {privileged}");

    let out = env.run(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let (code, err) = env.fails(&["exec", "box", "no-such-command"]);
    assert_eq!(code, Some(127), "{err}");

    env.ok(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/marker"]);
    env.wait_for("the detached exec", 10, || env.run(&["exec", "box", "cat", "/tmp/marker"]).stdout == b"detached\n");

    env.ok(&["pause", "box"]);
    let (code, err) = env.fails(&["exec", "box", "true"]);
    assert!(err.contains("paused") && code.is_some(), "exec into a paused container: {err}");
    env.ok(&["unpause", "box"]);
    env.ok(&["rm", "-f", "box"]);
    let (_, err) = env.fails(&["exec", "box", "true"]);
    assert!(err.contains("No such container: box"), "{err}");
}

#[test]
fn attach_detach_and_two_clients() {
    if !require_root("attach_detach_and_two_clients") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-dit", "--name", "shared", "busybox", "sh"]);
    let config = env.inspect("shared")["Config"].clone();
    assert_eq!((config["Tty"].as_bool(), config["OpenStdin"].as_bool()), (Some(true), Some(true)), "{config}");
    let mut first = spawn_in_pty(&env, "attach shared");
    first.exp_string("# ").expect("the first client gets the shell's first prompt");
    let mut second = spawn_in_pty(&env, "attach shared");
    std::thread::sleep(Duration::from_millis(500));
    first.send_line("echo shared-$((40+2))").unwrap();
    first.exp_string("shared-42").unwrap();
    second.exp_string("shared-42").expect("both clients see the output");
    // Ctrl-P Ctrl-Q: the first client leaves, the container runs on.
    first.send_control('p').unwrap();
    first.send_control('q').unwrap();
    first.exp_string("berth-exit=0").expect("detaching ends the client");
    first.exp_eof().unwrap();
    assert_eq!(env.status("shared"), "running");
    second.send_line("exit 5").unwrap();
    second.exp_string("berth-exit=5").expect("the other client gets the exit code");
    second.exp_eof().unwrap();
    env.wait_for("the container to exit", 10, || env.status("shared") == "exited");
}

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    /// The TUI over `env`'s root in a 120x40 tmux session named by `tag`, once its containers pane shows one
    /// container.
    fn open_tui(env: &Env, tag: &str) -> Tmux {
        let tmux = Tmux(format!("berth-{tag}-{}", std::process::id()));
        let command = format!(
            "env BERTH_CONFIG={} BERTH_TUI_CONFIG={} TERM=xterm-256color {}",
            env.root().join("config.toml").display(),
            env.root().join("tui.toml").display(),
            berth_line(env, "")
        );
        let out = tmux.run(&["new-session", "-d", "-s", "tty", "-x", "120", "-y", "40", &command]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        tmux.wait_for("containers pane", "Containers (1)");
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.0).args(args).output().expect("tmux (apt package tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "tty"]).stdout).into_owned()
    }

    fn wait_for(&self, step: &str, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.screen().contains(needle) {
            assert!(std::time::Instant::now() < deadline, "{step}: {needle:?} not on screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn tui_shell_pane_runs_over_an_exec_session() {
    if !require_root("tui_shell_pane_runs_over_an_exec_session") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "pane", "busybox", "sleep", "300"]);
    let tmux = Tmux::open_tui(&env, "tty-test");
    tmux.run(&["send-keys", "-t", "tty", "e"]);
    tmux.wait_for("the shell's prompt", "# ");
    tmux.run(&["send-keys", "-t", "tty", "-l", "echo term=$TERM size=$(stty size | tr ' ' x)"]);
    tmux.run(&["send-keys", "-t", "tty", "Enter"]);
    tmux.wait_for("the shell's output", "term=xterm-256color size=");
    let screen = tmux.screen();
    assert!(!screen.contains("size=0x0"), "the pane gives the pty its size:\n{screen}");
}

#[test]
fn tui_attach_pane_reaches_the_main_process_and_leaves_it_running() {
    if !require_root("tui_attach_pane_reaches_the_main_process_and_leaves_it_running") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "-it", "--name", "main", "busybox", "sh"]);
    let tmux = Tmux::open_tui(&env, "tty-attach");
    tmux.run(&["send-keys", "-t", "tty", "a"]);
    tmux.wait_for("the attached pane", "main (attached)");
    // The shell is the container's PID 1: its own pid proves the pane reached the main process.
    tmux.run(&["send-keys", "-t", "tty", "-l", "echo main-pid-$$"]);
    tmux.run(&["send-keys", "-t", "tty", "Enter"]);
    tmux.wait_for("the main process's answer", "main-pid-1");
    // Leaving and closing the pane detaches; the container keeps running.
    tmux.run(&["send-keys", "-t", "tty", "C-a"]);
    tmux.run(&["send-keys", "-t", "tty", "x"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(env.status("main"), "running");
}
