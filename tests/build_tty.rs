//! `berth build`'s live view on a terminal: the build runs in tmux and the pane is captured while a step
//! runs and after. Needs root (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rt::{Env, require_root};

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(tag: &str, command: &str) -> Tmux {
        let tmux = Tmux(format!("berth-{tag}-{}", std::process::id()));
        let out = tmux.run(&["new-session", "-d", "-s", "tty", "-x", "100", "-y", "70", command]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.0).args(args).output().expect("tmux (apt package tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "tty"]).stdout).into_owned()
    }

    fn wait_for(&self, step: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{step}: {needle:?} not on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn lines_equal(screen: &str, line: &str) -> usize {
    screen.lines().filter(|l| l.trim_end() == line).count()
}

#[test]
fn bbr_tty_progress_redraws_one_line_per_step_and_keeps_a_failed_steps_output() {
    if !require_root("bbr_tty_progress_redraws_one_line_per_step_and_keeps_a_failed_steps_output") {
        return;
    }
    let env = Env::new();
    let ctx = tempfile::Builder::new().prefix("bbr-ctx-").tempdir().unwrap();
    // The RUN prints eight lines, then waits for the test to create `go` in its cache mount: the pane is
    // captured while the step runs, whatever the machine's speed.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY a.txt /a.txt\n\
         RUN --mount=type=cache,target=/c for i in 1 2 3 4 5 6 7 8; do echo tick-$i; done; \
         while [ ! -e /c/go ]; do sleep 0.1; done; echo after\nENV X=1\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("a.txt"), "a\n").unwrap();
    let failing = tempfile::Builder::new().prefix("bbr-ctx-").tempdir().unwrap();
    std::fs::write(
        failing.path().join("Dockerfile"),
        "FROM busybox\nRUN for i in $(seq 1 14); do echo line-$i; done; exit 3\n",
    )
    .unwrap();
    let berth = format!(
        "env BERTH_CONFIG={} {} --root {}",
        env.root().join("config.toml").display(),
        env!("CARGO_BIN_EXE_berth"),
        env.root().display()
    );
    // Fresh, then from the cache, then a failing build with the default `auto` (a terminal: the live view).
    let script = format!(
        "{berth} build --progress tty -t bbr-tty:1 {ctx}; echo first-exit=$?; \
         {berth} build --progress tty -t bbr-tty:1 {ctx}; echo second-exit=$?; \
         {berth} build {failing}; echo third-exit=$?; sleep 600",
        ctx = ctx.path().display(),
        failing = failing.path().display()
    );
    let tmux = Tmux::start("bbr-tty", &script);

    let running = tmux.wait_for("the RUN's output under its line", "=> => # tick-8");
    assert!(running.contains("[+] Building "), "{running}");
    assert!(running.contains(" => [stage-0 2/3] RUN --mount=type=cache,target=/c for i in"), "{running}");
    // Only the last six lines show under the running step.
    assert_eq!(lines_equal(&running, " => => # tick-3"), 1, "{running}");
    assert_eq!(lines_equal(&running, " => => # tick-2"), 0, "{running}");
    let caches: Vec<_> =
        std::fs::read_dir(env.root().join("build-cache")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    std::fs::write(caches[0].join("go"), "").unwrap();

    let screen = tmux.wait_for("the failing build", "third-exit=");
    let (first, rest) = screen.split_once("first-exit=0").unwrap_or_else(|| panic!("{screen}"));
    let (second, third) = rest.split_once("second-exit=0").unwrap_or_else(|| panic!("{screen}"));
    // One header, redrawn in place; the done step's output collapsed.
    assert_eq!(first.matches("[+] Building").count(), 1, "{screen}");
    assert!(first.contains("(3/3) FINISHED"), "{screen}");
    assert!(!first.contains("=> => # tick-"), "{screen}");
    let run_line = first.lines().find(|l| l.contains(" => [stage-0 2/3] RUN")).unwrap_or_else(|| panic!("{screen}"));
    assert!(run_line.trim_end().ends_with('s'), "the step's time at the right: {run_line:?}");
    assert!(first.contains(" => [stage-0 1/3] COPY a.txt /a.txt"), "{screen}");
    assert!(first.contains("naming to docker.io/library/bbr-tty:1 done"), "{screen}");
    // The rebuild: every step from the cache.
    assert_eq!(second.matches("[+] Building").count(), 1, "{screen}");
    assert_eq!(second.matches(" => CACHED [stage-0 ").count(), 3, "{screen}");
    // The failure: the step marked, and its whole output below the view (the error itself shows only
    // the last ten lines).
    assert!(third.contains("third-exit=1"), "{screen}");
    assert!(third.contains("(0/1) FAILED"), "{screen}");
    assert!(third.contains(" => ERROR [stage-0 1/1] RUN for i in"), "{screen}");
    assert!(third.contains(" > [stage-0 1/1] RUN for i in $(seq 1 14); do echo line-$i; done; exit 3:"), "{screen}");
    assert_eq!(lines_equal(third, "line-1"), 1, "{screen}");
    assert!(third.contains("exit code: 3"), "{screen}");
}
