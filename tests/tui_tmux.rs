//! The TUI in a real terminal: `berth` runs in tmux against a temporary root and a local registry; keys go in
//! with `send-keys`, and every step is asserted from `capture-pane`.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::berth::Berth;
use support::oci;
use support::registry::{PushFormat, Registry};

/// A tmux server of our own (its own socket), killed on drop, so no other tmux is touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str, width: u16, height: u16) -> Tmux {
        // Tests of this file run at once in one process: each gets its own server.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("berth-tui-test-{}-{n}", std::process::id());
        let tmux = Tmux { socket };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "berth",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux (apt package tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "berth"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "berth"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    /// Types text literally (no key-name lookup).
    fn text(&self, text: &str) {
        assert!(self.run(&["send-keys", "-t", "berth", "-l", text]).status.success(), "send-keys -l {text}");
    }

    /// Waits until `done` holds for the screen; fails with `step`, `what` and the last screen.
    fn wait_until(&self, step: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{step}: {what} after 20 s:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the screen shows every needle.
    fn wait_for(&self, step: &str, needles: &[&str]) -> String {
        self.wait_until(step, &format!("{needles:?} not on screen"), |screen| {
            needles.iter().all(|n| screen.contains(n))
        })
    }

    /// Waits until the screen shows `needle` at least `times` times.
    fn wait_for_count(&self, step: &str, needle: &str, times: usize) -> String {
        self.wait_until(step, &format!("{needle:?} not {times} times on screen"), |screen| {
            screen.matches(needle).count() >= times
        })
    }

    /// Waits until the screen no longer shows `needle`.
    fn wait_without(&self, step: &str, needle: &str) {
        self.wait_until(step, &format!("{needle:?} still on screen"), |screen| !screen.contains(needle));
    }

    /// Waits until a line shows every needle: a row, not a header that shows before the rows load.
    fn wait_for_line(&self, step: &str, needles: &[&str]) -> String {
        self.wait_until(step, &format!("no line with {needles:?}"), |screen| {
            screen.lines().any(|l| needles.iter().all(|n| l.contains(n)))
        })
    }

    /// Waits until the container's row (a line with its name and a state) shows `state`, or for `None` until
    /// no row shows it.
    fn wait_for_row(&self, step: &str, name: &str, state: Option<&str>) -> String {
        const STATES: [&str; 7] = ["created", "running", "paused", "restarting", "exited", "dead", "removing"];
        self.wait_until(step, &format!("row {name} {state:?} not on screen"), |screen| {
            let mut rows = screen.lines().filter(|l| l.contains(name) && STATES.iter().any(|s| l.contains(s)));
            match state {
                Some(state) => rows.any(|l| l.contains(state)),
                None => rows.next().is_none(),
            }
        })
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "berth"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Runs a berth command however the test ends, to remove what the test made: no monitor or network outlives it.
struct CleanupOnDrop<'a> {
    berth: &'a Berth,
    args: Vec<String>,
}

impl<'a> CleanupOnDrop<'a> {
    fn new(berth: &'a Berth, args: &[&str]) -> CleanupOnDrop<'a> {
        CleanupOnDrop { berth, args: args.iter().map(|a| a.to_string()).collect() }
    }
}

impl Drop for CleanupOnDrop<'_> {
    fn drop(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let _ = self.berth.command(&args).output();
    }
}

/// This run's own default bridge and nftables table (never the host-wide `berth0`/`berth`), removed on drop.
/// `n` tells apart the tests of this file, which run at once in one process: each has its own bridge, table
/// and subnets (`10.(199-2n).P.0/24` default, `10.(198-2n).P.0/24` pool, P from the pid or the next free one).
struct HostNetwork {
    n: u32,
    bridge: String,
    table: String,
    octet: u32,
}

impl HostNetwork {
    fn new(n: u32) -> HostNetwork {
        let pid = std::process::id();
        let octet = support::free_octet(&[199 - 2 * n, 198 - 2 * n]);
        HostNetwork { n, bridge: format!("bt{n}{}", pid % 100_000), table: format!("berth_tui{pid}_{n}"), octet }
    }

    /// The first three octets of the pool user networks get their subnets from (`10.198.P.` for n = 0).
    fn pool_prefix(&self) -> String {
        format!("10.{}.{}.", 198 - 2 * self.n, self.octet)
    }

    fn config(&self) -> String {
        let octet = self.octet;
        let default = 199 - 2 * self.n;
        format!(
            "network_default_bridge = \"{}\"\nnetwork_default_subnet = \"10.{default}.{octet}.0/24\"\n\
             network_pool = \"{}0/24\"\nnetwork_firewall_table = \"{}\"\n",
            self.bridge,
            self.pool_prefix(),
            self.table
        )
    }
}

impl Drop for HostNetwork {
    fn drop(&mut self) {
        support::remove_host_network(&self.bridge, &self.table);
    }
}

/// Exec helpers (`berth __exec ROOT ...`) running for this state root.
fn exec_helpers(root: &std::path::Path) -> usize {
    let root = root.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| c.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>())
        .filter(|args| args.iter().any(|a| a == "__exec") && args.contains(&root))
        .count()
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shell command that opens berth's TUI over `berth`'s root, config and tui.toml, with `DOCKER_HOST` unset
/// (only engines the test configures) and `env` (`NAME=value` words, quoted by the caller) added.
fn tui_command(berth: &Berth, env: &[String]) -> String {
    format!(
        "env -u BERTH_ROOT -u DOCKER_HOST BERTH_CONFIG={} BERTH_TUI_CONFIG={} {} TERM=xterm-256color {} --root {}",
        quote(&berth.sandbox().join("config.toml").display().to_string()),
        quote(&berth.sandbox().join("tui.toml").display().to_string()),
        env.join(" "),
        quote(env!("CARGO_BIN_EXE_berth")),
        quote(&berth.root().display().to_string()),
    )
}

#[test]
fn pull_run_and_manage_a_container() {
    if !support::require_root("pull_run_and_manage_a_container") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let network = HostNetwork::new(0);
    let berth = Berth::with_config(&network.config());
    let sandbox = berth.sandbox();
    // The exit status lands in a file, so the test sees how berth ended after tmux closed the pane.
    let status = sandbox.join("exit-status");
    let docker_config = format!("DOCKER_CONFIG={}", quote(&berth.docker_config_dir().display().to_string()));
    let command =
        format!("{}; echo $? > {}", tui_command(&berth, &[docker_config]), quote(&status.display().to_string()));
    let tmux = Tmux::start(&command, 120, 40);

    let started = Instant::now();
    tmux.wait_for("first frame", &["1 Containers", "2 Images", "Containers ("]);
    eprintln!("first frame seen after {:?} (including tmux start and polling)", started.elapsed());

    tmux.keys(&["2"]);
    tmux.wait_for("images pane", &["Images (0)", "REPOSITORY:TAG"]);

    tmux.keys(&["p"]);
    tmux.wait_for("pull dialog", &["Pull image", "Enter pulls"]);
    tmux.text(&reference);
    tmux.keys(&["Enter"]);
    let done = tmux.wait_for("pull finished", &["Pulled 127.0.0.1:", "Enter/Esc closes"]);
    assert!(done.contains("done") || done.contains("already exists"), "a per-layer bar ends done:\n{done}");

    tmux.keys(&["Enter"]);
    tmux.wait_for("image listed", &["Images (1)", "library/busybox:latest"]);
    tmux.wait_without("the dialog closed", "Pull image");

    tmux.keys(&["Enter"]);
    tmux.wait_for("layer view", &["Layers ", "CREATED BY"]);

    tmux.keys(&["6"]);
    tmux.wait_for("operations log", &["Operations (", "pulled 127.0.0.1:"]);

    let name = format!("tui-web-{}", std::process::id());
    let _cleanup = CleanupOnDrop::new(&berth, &["rm", "-f", &name]);
    tmux.keys(&["1"]);
    tmux.wait_for("containers pane", &["Containers (0)"]);
    tmux.keys(&[":"]);
    // The log line is computed by the shell, so seeing it proves the container's output, not the typed command.
    tmux.text(&format!(
        r#"run -d --name {name} {reference} sh -c 'trap "exit 0" TERM; echo hello-$((40+2)); while true; do sleep 1; done'"#
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for_row("container running", &name, Some("running"));
    // A CPU % needs two readings, two seconds apart; memory shows from the first.
    tmux.wait_for_line("its CPU and memory", &[&name, "running", "%", "iB"]);
    tmux.wait_for("its logs", &["Logs ", "hello-42"]);

    // A shell beside the logs: the word shows once as typed and once more only if the shell ran the command.
    tmux.keys(&["e"]);
    tmux.wait_for("shell pane", &["Shell ", "· typing"]);
    tmux.text("echo hello-from-shell");
    tmux.keys(&["Enter"]);
    let shell = tmux.wait_for_count("shell output", "hello-from-shell", 2);
    assert!(
        shell.lines().any(|l| l.contains("hello-from-shell") && !l.contains("echo")),
        "a line of output, not only the typed command:\n{shell}"
    );
    assert!(exec_helpers(&berth.root()) > 0, "the shell runs in an exec helper of this root");
    tmux.keys(&["C-a"]);
    tmux.wait_without("left the shell", "· typing");
    // Enter takes the shell up again: what is typed reaches it.
    tmux.keys(&["Enter"]);
    tmux.wait_for("shell resumed", &["· typing"]);
    tmux.text("echo resumed-$((1+1))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the resumed shell answers", &["resumed-2"]);
    tmux.keys(&["C-a"]);
    tmux.wait_without("left the shell again", "· typing");
    // Closing the pane drops the session: the shell gets SIGHUP and its exec helper goes.
    tmux.keys(&["x"]);
    tmux.wait_without("shell closed", "hello-from-shell");
    let deadline = Instant::now() + Duration::from_secs(10);
    while exec_helpers(&berth.root()) > 0 {
        assert!(Instant::now() < deadline, "the exec helper outlived its closed shell");
        std::thread::sleep(Duration::from_millis(100));
    }

    // `run -it` from `:` starts detached (the TUI has no terminal to give it), then attaches a pane to the main
    // process by the ID the child berth printed; `:rm -f` takes the container away again.
    let tty = format!("tui-tty-{}", std::process::id());
    let _tty_cleanup = CleanupOnDrop::new(&berth, &["rm", "-f", &tty]);
    tmux.keys(&[":"]);
    tmux.text(&format!("run -it --name {tty} {reference} sh"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("attach pane on the new container", &["(attached)", "· typing"]);
    tmux.text("echo main-pid-$$");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the container's main process answers", &["main-pid-1"]);
    tmux.keys(&["C-a"]);
    tmux.keys(&["x"]);
    tmux.wait_for_row("the pane closed and the container runs on", &tty, Some("running"));
    tmux.keys(&[":"]);
    tmux.text(&format!("rm -f {tty}"));
    tmux.keys(&["Enter"]);
    tmux.wait_for_row("removed from the command line", &tty, None);

    tmux.keys(&["7"]);
    tmux.wait_for("networks pane", &["Networks (", "SUBNET", "GATEWAY"]);
    tmux.wait_for_line("the default network bridge lists the container", &["bridge", &name]);

    // Any CLI command from `:`: the child berth shares this root and config (its subnet comes from this test's
    // pool), and the pane re-reads when it finishes.
    let net = format!("tui-net-{}", std::process::id());
    let _net_cleanup = CleanupOnDrop::new(&berth, &["network", "rm", &net]);
    tmux.keys(&[":"]);
    tmux.text(&format!("network create {net}"));
    tmux.keys(&["Enter"]);
    let pool = network.pool_prefix();
    tmux.wait_for_line("network created from the command line", &[&net, &pool]);
    tmux.keys(&[":"]);
    tmux.text(&format!("network rm {net}"));
    tmux.keys(&["Enter"]);
    tmux.wait_until("network removed from the command line", "its row still listed", |screen| {
        !screen.lines().any(|l| l.contains(&net) && l.contains(&pool))
    });
    // What clap rejects comes back in clap's words.
    tmux.keys(&[":"]);
    tmux.text("network frobnicate");
    tmux.keys(&["Enter"]);
    tmux.wait_for("clap's error in the status line", &["berth network frobnicate: error: unrecognized subcommand"]);
    tmux.keys(&["8"]);
    tmux.wait_for("volumes pane", &["Volumes (0)", "MOUNTPOINT"]);
    tmux.keys(&["1"]);
    tmux.wait_for_row("back to containers", &name, Some("running"));

    tmux.keys(&["p"]);
    tmux.wait_for_row("paused", &name, Some("paused"));
    tmux.keys(&["p"]);
    tmux.wait_for_row("unpaused", &name, Some("running"));
    tmux.keys(&["S"]);
    tmux.wait_for_row("stopped", &name, Some("exited"));
    tmux.keys(&["D"]);
    tmux.wait_for("remove confirmation", &["Remove "]);
    tmux.keys(&["y"]);
    tmux.wait_for_row("removed", &name, None);
    tmux.wait_for("list empty", &["Containers (0)"]);

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !status.exists() {
        assert!(Instant::now() < deadline, "berth did not quit on q:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = std::fs::read_to_string(&status).unwrap_or_default();
    assert_eq!(code.trim(), "0", "berth exit status");
    assert!(!tmux.alive() || !tmux.screen().contains("Images (1)"), "the alternate screen is gone after quit");
}

#[test]
fn btb_build_from_the_images_pane_selects_the_new_image_and_shows_its_layers() {
    if !support::require_root("btb_build_from_the_images_pane_selects_the_new_image_and_shows_its_layers") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    // No RUN step, so the build needs no network.
    let berth = Berth::new();
    berth.run(&["pull", &reference]).success();
    let context = tempfile::Builder::new().prefix("btb-ctx-").tempdir().expect("context dir");
    std::fs::write(context.path().join("greeting"), "hello\n").unwrap();
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {reference}\nCOPY greeting /greeting\nENV A=1\n"))
        .unwrap();
    let command = tui_command(&berth, &[]);
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame", &["1 Containers", "2 Images"]);
    tmux.keys(&["2"]);
    tmux.wait_for("images pane", &["Images (1)", "library/busybox:latest"]);

    // A context without a Dockerfile: the engine's error, and the dialog stays open to fix it.
    tmux.keys(&["b"]);
    tmux.wait_for("build dialog", &["Build an image", "Enter builds"]);
    tmux.keys(&["BSpace"]);
    tmux.text("/nonexistent-btb");
    tmux.keys(&["Enter"]);
    tmux.wait_for("missing context", &["Build an image", "nonexistent-btb/Dockerfile"]);
    for _ in 0.."/nonexistent-btb".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.text(&context.path().display().to_string());
    tmux.keys(&["Tab", "Tab"]);
    tmux.text("btb-app:1");
    tmux.keys(&["Enter"]);
    // The whole frame: a capture can land while the terminal has the ending's line but not yet the steps below.
    tmux.wait_for("build finished with its steps", &["Built ", "Enter/Esc closes", "COPY greeting /greeting", "DONE"]);

    tmux.keys(&["Enter"]);
    tmux.wait_for("new image listed", &["Images (2)", "btb-app:1"]);
    tmux.keys(&["Enter"]);
    let layers = tmux.wait_for("layers of the selected image", &["Layers btb-app:1", "KIND", "ENV A=1"]);
    let copy = layers.lines().find(|l| l.contains("COPY greeting")).expect("the COPY layer's line");
    assert!(copy.contains("layer") && !copy.contains("0 B"), "a built layer has its size: {copy}");
    let env = layers.lines().find(|l| l.contains("ENV A=1")).unwrap();
    assert!(env.contains("empty"), "ENV made no layer: {env}");
}

#[test]
fn btb_quitting_during_a_build_leaves_no_step_running() {
    if !support::require_root("btb_quitting_during_a_build_leaves_no_step_running") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let network = HostNetwork::new(1);
    let berth = Berth::with_config(&network.config());
    berth.run(&["pull", &reference]).success();
    let context = tempfile::Builder::new().prefix("btb-ctx-").tempdir().expect("context dir");
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {reference}\nRUN echo started; sleep 60\n"))
        .unwrap();
    let status = berth.sandbox().join("exit-status");
    let command = format!(
        "cd {} && {}; echo $? > {}",
        quote(&context.path().display().to_string()),
        tui_command(&berth, &[]),
        quote(&status.display().to_string()),
    );
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame", &["1 Containers", "2 Images"]);
    tmux.keys(&["2"]);
    tmux.wait_for("images pane", &["Images (1)"]);
    // The context is the TUI's working directory, the dialog's default.
    tmux.keys(&["b"]);
    tmux.wait_for("build dialog", &["Build an image", "Enter builds"]);
    tmux.keys(&["Enter"]);
    let running = tmux.wait_for("the RUN step runs", &["RUN echo started; sleep 60", "      started"]);
    assert!(running.contains("▶"), "the step shows running:\n{running}");
    let containers = berth.root().join("containers");
    assert_eq!(std::fs::read_dir(&containers).unwrap().count(), 1, "the step's container exists");

    tmux.keys(&["Escape"]);
    tmux.wait_without("the view closed", "Build an image");
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status.exists() {
        assert!(Instant::now() < deadline, "the TUI did not exit:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    let left: Vec<_> = std::fs::read_dir(&containers).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the build's step container outlived the TUI: {left:?}");
}

/// A `berth serve` process on a socket in `berth`'s sandbox, over `berth`'s root; stopped by its PID on drop.
struct Served {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl Served {
    fn start(berth: &Berth) -> Served {
        let socket = berth.sandbox().join("api.sock");
        let child = berth
            .command(&["serve", "-H", &format!("unix://{}", socket.display())])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start berth serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "berth serve did not listen on {}", socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        Served { child, socket }
    }

    /// The docker CLI against this server, with an empty config of its own.
    fn docker(&self, berth: &Berth, args: &[&str]) -> String {
        let out = Command::new("/usr/local/bin/docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", berth.sandbox().join("docker-cli"))
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run the docker CLI (/usr/local/bin/docker)");
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached container on the served engine that prints `WORD-42` (computed by its shell, so seeing the
    /// line proves the container's output came through the API), then sleeps until stopped.
    fn run_printing(&self, berth: &Berth, reference: &str, name: &str, word: &str) {
        let script = format!(r#"trap "exit 0" TERM; echo {word}-$((40+2)); while true; do sleep 1; done"#);
        self.docker(berth, &["run", "-d", "--network", "none", "--name", name, reference, "sh", "-c", &script]);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn br_a_remote_engine_lists_logs_and_opens_a_shell_in_a_berth_serve_container() {
    if !support::require_root("br_a_remote_engine_lists_logs_and_opens_a_shell_in_a_berth_serve_container") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    // The served engine has a root of its own; the TUI's own engine is another, empty one.
    let served_berth = Berth::new();
    served_berth.run(&["pull", &reference]).success();
    let served = Served::start(&served_berth);
    let name = format!("br-remote-{}", std::process::id());
    let _cleanup = CleanupOnDrop::new(&served_berth, &["rm", "-f", &name]);
    served.run_printing(&served_berth, &reference, &name, "remote");

    let berth = Berth::new();
    let tui_toml = berth.sandbox().join("tui.toml");
    std::fs::write(
        &tui_toml,
        format!("[[engines]]\nname = \"served\"\nhost = \"unix://{}\"\n", served.socket.display()),
    )
    .unwrap();
    let docker_config =
        format!("DOCKER_CONFIG={}", quote(&berth.sandbox().join("no-docker-config").display().to_string()));
    let command = tui_command(&berth, &[docker_config]);
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame on berth's own engine", &["engine berth", "Containers (0)"]);

    tmux.keys(&["E"]);
    tmux.wait_for("switched to the served engine", &["engine served"]);
    tmux.wait_for_row("the served container is listed", &name, Some("running"));
    tmux.wait_for("its logs through the API", &["Logs ", "remote-42"]);

    tmux.keys(&["e"]);
    tmux.wait_for("shell pane over the hijacked exec stream", &["Shell ", "· typing"]);
    tmux.text("echo shell-$((6*7))-ok");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the remote shell answers", &["shell-42-ok"]);
    tmux.keys(&["C-a"]);
    tmux.keys(&["x"]);
    tmux.wait_without("shell closed", "shell-42-ok");

    // Images of the served engine: a pull through the API with its progress, then the image's history.
    tmux.keys(&["2"]);
    tmux.wait_for("the served engine's images", &["Images (1)", "library/busybox:latest"]);
    tmux.keys(&["p"]);
    tmux.wait_for("pull dialog", &["Pull image", "Enter pulls"]);
    tmux.text(&reference);
    tmux.keys(&["Enter"]);
    tmux.wait_for("pulled through the API", &["Pulled 127.0.0.1:", "Enter/Esc closes"]);
    tmux.keys(&["Enter"]);
    tmux.wait_without("the dialog closed", "Pull image");
    tmux.keys(&["Enter"]);
    tmux.wait_for("layers from the image's history", &["Layers ", "CREATED BY"]);

    // A build on the served engine: the context goes over as a tar, the builder's steps show in the dialog.
    let context = berth.sandbox().join("br-context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("greeting"), "hello\n").unwrap();
    std::fs::write(context.join("Dockerfile"), format!("FROM {reference}\nCOPY greeting /greeting\n")).unwrap();
    tmux.keys(&["b"]);
    tmux.wait_for("build dialog", &["Build an image", "Enter builds"]);
    tmux.keys(&["BSpace"]);
    tmux.text(&context.display().to_string());
    tmux.keys(&["Tab", "Tab"]);
    tmux.text("br-built:1");
    tmux.keys(&["Enter"]);
    let built = tmux.wait_for("built on the served engine", &["Built ", "Enter/Esc closes"]);
    assert!(built.contains("COPY greeting /greeting"), "the steps show:\n{built}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the built image listed", &["br-built:1"]);
    assert!(served.docker(&served_berth, &["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains("br-built:1"));
    tmux.keys(&["1"]);

    tmux.keys(&["E"]);
    tmux.wait_for("every engine at once, with an ENGINE column", &["engine all engines", "ENGINE"]);
    tmux.wait_until("the served container in the all-engines view", "its row naming the engine", |screen| {
        screen.lines().any(|l| l.contains(&name) && l.contains(" served ") && l.contains("running"))
    });
    // An action in the all-engines view goes to the engine that listed the container.
    tmux.keys(&["S"]);
    tmux.wait_for_row("stopped through the served engine", &name, Some("exited"));
    let state = served.docker(&served_berth, &["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(state.trim(), "exited", "the served engine stopped it");

    tmux.keys(&["E"]);
    tmux.wait_for("back to berth's own engine", &["engine berth", "Containers (0)"]);
    tmux.keys(&["q"]);
}

#[test]
fn br_an_ssh_engine_goes_through_the_system_ssh_as_docker_does() {
    if !support::require_root("br_an_ssh_engine_goes_through_the_system_ssh_as_docker_does") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let served_berth = Berth::new();
    served_berth.run(&["pull", &reference]).success();
    let served = Served::start(&served_berth);
    let name = format!("br-ssh-{}", std::process::id());
    let _cleanup = CleanupOnDrop::new(&served_berth, &["rm", "-f", &name]);
    served.run_printing(&served_berth, &reference, &name, "over-ssh");

    // A stand-in for ssh on PATH: it notes its arguments and relays stdin and stdout to the served socket, as
    // `docker system dial-stdio` on the far side would.
    let berth = Berth::new();
    let bin = berth.sandbox().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args_log = berth.sandbox().join("ssh-args");
    let relay = format!(
        "import os, socket, threading\n\
         s = socket.socket(socket.AF_UNIX); s.connect({socket:?})\n\
         def up():\n    while True:\n        d = os.read(0, 65536)\n        if not d:\n            s.shutdown(socket.SHUT_WR); return\n        s.sendall(d)\n\
         threading.Thread(target=up, daemon=True).start()\n\
         while True:\n    d = s.recv(65536)\n    if not d:\n        break\n    os.write(1, d)\n",
        socket = served.socket.display().to_string()
    );
    std::fs::write(bin.join("relay.py"), relay).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {}\nexec /usr/bin/python3 {}\n",
        quote(&args_log.display().to_string()),
        quote(&bin.join("relay.py").display().to_string())
    );
    std::fs::write(bin.join("ssh"), script).unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let tui_toml = berth.sandbox().join("tui.toml");
    std::fs::write(&tui_toml, "[[engines]]\nname = \"tunnel\"\nhost = \"ssh://tester@farhost:2222\"\n").unwrap();
    let path = format!("PATH={}:\"$PATH\"", quote(&bin.display().to_string()));
    let docker_config =
        format!("DOCKER_CONFIG={}", quote(&berth.sandbox().join("no-docker-config").display().to_string()));
    let command = tui_command(&berth, &[path, docker_config]);
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame on berth's own engine", &["engine berth", "Containers (0)"]);
    tmux.keys(&["E"]);
    tmux.wait_for("switched to the ssh engine", &["engine tunnel"]);
    tmux.wait_for_row("the container listed over ssh", &name, Some("running"));
    tmux.wait_for("its logs over ssh", &["Logs ", "over-ssh-42"]);
    // The shell needs the connection upgraded (a hijacked exec stream) through the ssh pipe.
    tmux.keys(&["e"]);
    tmux.wait_for("shell pane over ssh", &["Shell ", "· typing"]);
    tmux.text("echo ssh-shell-$((6*7))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell answers over ssh", &["ssh-shell-42"]);
    tmux.keys(&["C-a"]);
    tmux.keys(&["x"]);
    tmux.keys(&["q"]);
    let args = std::fs::read_to_string(&args_log).unwrap();
    let first = args.lines().next().unwrap_or_default();
    assert_eq!(first, "-o BatchMode=yes -p 2222 -- tester@farhost docker system dial-stdio", "ssh's arguments");
}

#[test]
fn blx_the_layer_explorer_shows_a_file_the_upper_layer_removes_as_removed() {
    if !support::require_root("blx_the_layer_explorer_shows_a_file_the_upper_layer_removes_as_removed") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let network = HostNetwork::new(5);
    let berth = Berth::with_config(&network.config());
    berth.run(&["pull", &reference]).success();
    let context = tempfile::Builder::new().prefix("blx-ctx-").tempdir().expect("context dir");
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {reference}\nRUN rm /etc/group\n")).unwrap();
    berth.run(&["build", "-t", "blx:1", &context.path().display().to_string()]).success();
    let command = tui_command(&berth, &[]);
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame", &["1 Containers", "2 Images"]);
    tmux.keys(&["2"]);
    tmux.wait_for("images pane", &["Images (2)", "blx:1"]);
    // blx:1 sorts after the registry's name. Enter lists its layers, Enter again explores them.
    tmux.keys(&["G", "Enter"]);
    tmux.wait_for("layers", &["Layers blx:1", "rm /etc/group"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("explorer", &["Explore blx:1", "Efficiency", "merged up to this layer"]);
    tmux.keys(&["/"]);
    tmux.text("etc/");
    tmux.keys(&["Enter"]);
    // The tree's mark column, right after its border (thick while focused).
    let marked = |line: &str, mark: char| ['│', '┃'].iter().any(|b| line.contains(&format!("{b}{mark} -rw-r--r--")));
    // A key shows its view's name at once and the tree it asked for once built off the UI thread.
    let built = |step: &str, needles: &[&str]| {
        tmux.wait_until(step, &format!("{needles:?} not in a built tree"), |screen| {
            !screen.contains("building…") && needles.iter().all(|n| screen.contains(n))
        })
    };
    let screen = built("filtered tree", &["passwd", "group"]);
    let group = screen.lines().find(|l| l.contains(" group")).expect("the group line");
    assert!(marked(group, '-'), "etc/group is marked removed: {group}");
    let passwd = screen.lines().find(|l| l.contains(" passwd")).expect("the passwd line");
    assert!(marked(passwd, ' '), "etc/passwd is unchanged: {passwd}");

    // This layer's changes alone: the removal, not the files it left.
    tmux.keys(&["c"]);
    let screen = built("changes only", &["this layer's changes", "group"]);
    assert!(!screen.contains(" passwd"), "only the layer's own entries:\n{screen}");
    // The base layer: every file added there, group among them.
    tmux.keys(&["Tab", "k"]);
    let screen =
        tmux.wait_until("base layer", "etc/group added", |s| s.lines().any(|l| l.contains(" group") && marked(l, '+')));
    assert!(screen.contains("passwd"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_until("filter cleared", "the filter still shows", |s| !s.contains(" /etc/ "));
    tmux.keys(&["Escape"]);
    tmux.wait_until("back to the images", "the explorer still shows", |s| {
        !s.contains("Explore blx:1") && s.contains("Layers blx:1")
    });
}

/// A free TCP port on 127.0.0.1 for this run to publish on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:port, the whole answer.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn bpt_run_dialog_publishes_a_port_and_logs_scroll_to_the_first_of_100k_lines() {
    if !support::require_root("bpt_run_dialog_publishes_a_port_and_logs_scroll_to_the_first_of_100k_lines") {
        return;
    }
    let registry = Registry::start();
    let reference = registry.push_image(&oci::busybox_image(), "library/busybox:latest", PushFormat::Oci);
    let network = HostNetwork::new(2);
    let berth = Berth::with_config(&network.config());
    berth.run(&["pull", &reference]).success();
    let command = tui_command(&berth, &[]);
    let tmux = Tmux::start(&command, 120, 40);
    tmux.wait_for("first frame", &["1 Containers", "Containers (0)"]);

    // The run dialog with -p HOSTPORT:80: busybox's httpd answers on the host port.
    let port = free_port();
    let web = format!("bpt-web-{}", std::process::id());
    let _web_cleanup = CleanupOnDrop::new(&berth, &["rm", "-f", &web]);
    tmux.keys(&["n"]);
    tmux.wait_for("run dialog", &["Image", "Ports"]);
    tmux.text(&reference);
    tmux.keys(&["Tab"]);
    tmux.text(&web);
    tmux.keys(&["Tab"]);
    tmux.text("httpd -f -p 80 -h /etc");
    tmux.keys(&["Tab", "Tab"]);
    tmux.text(&format!("{port}:80"));
    tmux.keys(&["Enter"]);
    tmux.wait_for_line("the httpd runs with its port", &[&web, "running", &format!("{port}->80")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match http_get(port, "/hostname") {
            Ok(answer) if answer.starts_with("HTTP/1.") => break answer,
            other => assert!(Instant::now() < deadline, "no answer on 127.0.0.1:{port}: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answer.contains("200 OK"), "{answer}");
    tmux.keys(&[":"]);
    tmux.text(&format!("rm -f {web}"));
    tmux.keys(&["Enter"]);
    tmux.wait_for_row("the httpd removed", &web, None);

    // A 100k-line log: the top of the Logs pane reads older pages from the file until the first line shows.
    let log = format!("bpt-log-{}", std::process::id());
    let _log_cleanup = CleanupOnDrop::new(&berth, &["rm", "-f", &log]);
    berth
        .run(&["run", "-d", "--name", &log, &reference, "sh", "-c", "echo first-line-of-log; seq 2 100000; sleep 300"])
        .success();
    tmux.wait_for_row("the logging container", &log, Some("running"));
    tmux.wait_for("its last line followed", &["Logs ", "100000"]);
    tmux.keys(&["3"]);
    // The Logs pane's top row: what changes when an older page has been read.
    let top_row = |screen: &str| -> String {
        let mut lines = screen.lines().skip_while(|l| !l.contains(&format!(" Logs {log} ")));
        lines.nth(1).map(|l| l.chars().take(20).collect()).unwrap_or_default()
    };
    // `g` goes to the top of what is held and asks for the page before it; once that page is in, the next
    // `g` moves the top row again.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let before = top_row(&tmux.screen());
        tmux.keys(&["g"]);
        let moved = Instant::now() + Duration::from_millis(300);
        let screen = loop {
            let screen = tmux.screen();
            if screen.contains("first-line-of-log") || top_row(&screen) != before || Instant::now() > moved {
                break screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if screen.contains("first-line-of-log") {
            assert!(!screen.contains("↑ older in file"), "the first line is the log's first:\n{screen}");
            assert_eq!(top_row(&screen).trim_start_matches(['┃', '│']).trim(), "first-line-of-log", "{screen}");
            break;
        }
        assert!(Instant::now() < deadline, "the first line never showed:\n{screen}");
    }
}
