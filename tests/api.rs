//! `berth serve` driven by the real docker CLI (28.x, /usr/local/bin/docker) over a temporary socket and
//! state root, as users drive Docker: run in every mode, ps, logs, exec, stop/kill/rm, inspect, networks,
//! volumes, tag/rmi/pull, system df; plus raw requests for the faults. Needs root (skips loudly
//! otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rt::{Env, require_root};

const DOCKER: &str = "/usr/local/bin/docker";

/// A `berth serve` process on a socket of its own; stopped by its PID (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: std::process::Child,
    socket: PathBuf,
    /// The docker CLI's config dir, empty, so the user's contexts and credentials play no part.
    config: tempfile::TempDir,
    /// The server's own Docker config dir, empty: what a registry sees comes from the client's requests.
    engine_config: tempfile::TempDir,
}

impl Server {
    fn start(env: &Env) -> Server {
        assert!(Path::new(DOCKER).exists(), "the docker CLI is missing at {DOCKER}: these tests need it");
        let socket = env.root().join("api.sock");
        let mut command = env.command(&["serve", "-H", &format!("unix://{}", socket.display())]);
        let engine_config = tempfile::tempdir().expect("server's docker config dir");
        command.env("DOCKER_CONFIG", engine_config.path());
        // BS_LOG=debug shows each request and error of the server on the test's stderr.
        if let Ok(level) = std::env::var("BS_LOG") {
            command.env("BERTH_LOG", level);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth serve");
        let server = Server { child, socket, config: tempfile::tempdir().expect("docker config dir"), engine_config };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&server.socket).is_err() {
            assert!(Instant::now() < deadline, "berth serve did not listen on {}", server.socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.config.path())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        cmd
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_command(args).stdin(Stdio::null()).output().expect("run docker")
    }

    /// Runs docker with `input` on its stdin, written from a thread so a docker that stops reading early
    /// shows in its output rather than as a write error here.
    fn docker_with_stdin(&self, args: &[&str], input: impl Into<Vec<u8>>) -> Output {
        let mut child = self
            .docker_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.into();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("docker output");
        let _ = writer.join();
        out
    }

    /// Runs docker and requires success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?} failed ({:?}):\n{}", out.status.code(), text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs docker and requires failure; its exit code and stderr.
    fn fails(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = self.docker(args);
        assert!(!out.status.success(), "docker {args:?} should have failed:\n{}", text(&out));
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// One raw HTTP/1.1 request on the socket; the status and body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_raw(self.pid()).expect("pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn text(out: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Containers of this root left behind by a failed test are removed with it.
fn cleanup(env: &Env) {
    for id in env.ids() {
        let _ = env.run(&["rm", "-f", &id]);
    }
}

#[test]
fn bs_version_info_and_missing_objects() {
    if !require_root("bs_version_info_and_missing_objects") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let version = server.ok(&["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
    assert_eq!(version.trim(), "1.44 linux");
    let info = server.ok(&["info", "--format", "{{.Images}} {{.OSType}} {{.Driver}}"]);
    assert_eq!(info.trim(), "1 linux overlay");
    assert_eq!(server.ok(&["ps", "-q"]), "");
    let (_, err) = server.fails(&["inspect", "nosuchthing"]);
    assert!(err.contains("No such object: nosuchthing"), "{err}");
    let (_, err) = server.fails(&["rm", "nosuch"]);
    assert!(err.contains("No such container: nosuch"), "{err}");
    let (_, err) = server.fails(&["rmi", "nosuchimage"]);
    assert!(err.contains("No such image"), "{err}");
    // Versioned and unversioned paths alike; unknown endpoints are 404 with a message.
    let (status, body) = server.request("GET", "/v1.41/version", b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ApiVersion\":\"1.44\""), "{body}");
    let (status, body) = server.request("GET", "/_ping", b"");
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, body) = server.request("GET", "/v1.44/nosuch/endpoint", b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"message\""), "{body}");
}

#[test]
fn bs_run_attached_detached_removed_and_failing() {
    if !require_root("bs_run_attached_detached_removed_and_failing") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    assert_eq!(server.ok(&["run", "--name", "echoer", "busybox", "echo", "hello-world"]), "hello-world\n");
    // --rm: the real exit code, and the container is gone.
    let out = server.docker(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(env.ids().len(), 1, "the --rm container must be gone");
    // -i with piped input.
    let out = server.docker_with_stdin(&["run", "-i", "--rm", "busybox", "cat"], "piped-input\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped-input\n", "{}", text(&out));
    // -d, then ps with filters and --format.
    let id = server.ok(&["run", "-d", "--name", "web", "--label", "app=web", "busybox", "sleep", "1000"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = server.ok(&["ps", "--filter", "label=app=web", "--format", "{{.Names}} {{.State}} {{.Image}}"]);
    assert_eq!(ps, "web running busybox\n");
    let ps = server.ok(&["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}"]);
    assert_eq!(ps, "echoer\n");
    assert_eq!(server.ok(&["ps", "-aq", "--no-trunc", "--filter", "name=web"]).trim(), id);
    // A name conflict is docker's message.
    let (code, err) = server.fails(&["run", "-d", "--name", "web", "busybox", "true"]);
    assert_eq!(code, Some(125));
    assert!(err.contains("The container name \"/web\" is already in use"), "{err}");
    // A missing executable exits 127.
    let (code, err) = server.fails(&["run", "--rm", "busybox", "/no/such/binary"]);
    assert_eq!(code, Some(127), "{err}");
    // A missing image is pulled on the fly.
    server.ok(&["rmi", &env.reference]);
    let out = server.docker(&["run", "--rm", &env.reference, "echo", "pulled"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pulled\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unable to find image"), "{}", text(&out));
    server.ok(&["rm", "-f", "web"]);
    cleanup(&env);
}

#[test]
fn bs_logs_exec_and_lifecycle_verbs() {
    if !require_root("bs_logs_exec_and_lifecycle_verbs") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let ticker = server.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick$i; sleep 0.3; done",
    ]);
    // logs -f ends with the container.
    assert_eq!(server.ok(&["logs", "-f", "ticker"]), "tick1\ntick2\ntick3\n");
    assert_eq!(server.ok(&["logs", "--tail", "1", "ticker"]), "tick3\n");
    assert_eq!(server.ok(&["wait", "ticker"]).trim(), "0");
    server.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]);
    assert_eq!(server.ok(&["exec", "web", "echo", "hi"]), "hi\n");
    let out = server.docker(&["exec", "web", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let out = server.docker_with_stdin(&["exec", "-i", "web", "cat"], "exec-data\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "exec-data\n", "{}", text(&out));
    let out = server.docker(&["exec", "web", "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
    assert_eq!(server.ok(&["inspect", "--format", "{{.State.Status}}", "web"]).trim(), "running");
    server.ok(&["pause", "web"]);
    assert_eq!(server.ok(&["inspect", "--format", "{{.State.Status}}", "web"]).trim(), "paused");
    server.ok(&["unpause", "web"]);
    let top = server.ok(&["top", "web"]);
    assert!(top.contains("sleep 1000"), "{top}");
    assert_eq!(server.ok(&["stop", "-t", "1", "web"]).trim(), "web");
    // Stopping a stopped container is no error (304).
    assert_eq!(server.ok(&["stop", "web"]).trim(), "web");
    let (_, err) = server.fails(&["kill", "web"]);
    assert!(err.contains("is not running"), "{err}");
    server.ok(&["start", "web"]);
    let (_, err) = server.fails(&["rm", "web"]);
    assert!(err.contains("You cannot remove a running container"), "{err}");
    server.ok(&["kill", "web"]);
    server.ok(&["rename", "web", "web2"]);
    assert_eq!(server.ok(&["rm", "web2"]).trim(), "web2");
    let pruned = server.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains(ticker.trim()), "{pruned}");
    assert!(env.ids().is_empty());
    cleanup(&env);
}

#[test]
fn bs_networks_volumes_images_and_df() {
    if !require_root("bs_networks_volumes_images_and_df") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let net = format!("bsnet{}", env.octet);
    let subnet = format!("10.213.{}.0/24", env.octet);
    server.ok(&["network", "create", "--subnet", &subnet, "--label", "k=v", &net]);
    let (_, err) = server.fails(&["network", "create", &net]);
    assert!(err.contains("already exists"), "{err}");
    assert!(server.ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == net));
    assert_eq!(server.ok(&["network", "inspect", "--format", "{{.Name}}", &net]).trim(), net);
    server.ok(&["volume", "create", "--label", "a=b", "bsvol"]);
    assert_eq!(server.ok(&["volume", "ls", "-q", "--filter", "label=a=b"]).trim(), "bsvol");
    assert!(server.ok(&["volume", "inspect", "bsvol"]).contains("\"Mountpoint\""));
    let out = server.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--network-alias",
        "svc",
        "-v",
        "bsvol:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f; nslookup svc 2>/dev/null | grep -c Address; cat /data/f",
    ]);
    assert!(out.ends_with("kept\n"), "{out}");
    server.ok(&["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]);
    server.ok(&["network", "connect", &net, "c1"]);
    let nets = server.ok(&["inspect", "--format", "{{json .NetworkSettings.Networks}}", "c1"]);
    assert!(nets.contains(&net), "{nets}");
    server.ok(&["network", "disconnect", &net, "c1"]);
    // stats, one-shot.
    let stats = server.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "c1"]);
    assert_eq!(stats.trim(), "c1 1");
    // cp both ways, a file and a directory.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("file.txt"), "from-host\n").unwrap();
    let src = host.path().join("file.txt");
    server.ok(&["cp", src.to_str().unwrap(), "c1:/tmp/"]);
    server.ok(&["cp", src.to_str().unwrap(), "c1:/tmp/renamed.txt"]);
    assert_eq!(server.ok(&["exec", "c1", "cat", "/tmp/file.txt", "/tmp/renamed.txt"]), "from-host\nfrom-host\n");
    // A tar on stdin goes to the daemon as it is; what follows its end marker (padding, here 4 MiB of
    // zeros) is read before the answer, or docker sees its connection closed under it.
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    archive.append_data(&mut header, "piped.txt", &b"piped\n"[..]).unwrap();
    let mut archive = archive.into_inner().unwrap();
    archive.resize(archive.len() + (4 << 20), 0);
    let out = server.docker_with_stdin(&["cp", "-", "c1:/tmp"], archive);
    assert!(out.status.success(), "docker cp - failed:\n{}", text(&out));
    assert_eq!(server.ok(&["exec", "c1", "cat", "/tmp/piped.txt"]), "piped\n");
    let out = host.path().join("hostname.out");
    server.ok(&["cp", "c1:/etc/hostname", out.to_str().unwrap()]);
    assert!(!std::fs::read_to_string(&out).unwrap().trim().is_empty());
    server.ok(&["cp", "c1:/etc", host.path().join("etc.out").to_str().unwrap()]);
    assert!(host.path().join("etc.out/hostname").exists());
    let (_, err) = server.fails(&["cp", "c1:/nonexist", host.path().join("x").to_str().unwrap()]);
    assert!(err.contains("Could not find the file /nonexist"), "{err}");
    server.ok(&["rm", "-f", "c1"]);
    let (_, err) = server.fails(&["volume", "inspect", "nosuchvol"]);
    assert!(err.contains("no such volume"), "{err}");
    server.ok(&["volume", "rm", "bsvol"]);
    server.ok(&["network", "rm", &net]);
    // Images: tag, inspect by a name with a registry, history, rmi, pull back.
    server.ok(&["tag", "busybox", "bs/mybox:v1"]);
    let tags = server.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(tags.contains("bs/mybox:v1"), "{tags}");
    assert_eq!(server.ok(&["inspect", "--format", "{{.Os}}", &env.reference]).trim(), "linux");
    assert!(!server.ok(&["history", "busybox"]).is_empty());
    let untagged = server.ok(&["rmi", "bs/mybox:v1"]);
    assert!(untagged.contains("Untagged: bs/mybox:v1"), "{untagged}");
    let pulled = server.ok(&["pull", &env.reference]);
    assert!(pulled.contains("Status: Image is up to date"), "{pulled}");
    // `create --platform`: the local image of that platform, else the CLI's pull of it (none here).
    let host = server.ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    let made = server.ok(&["create", "--platform", host.trim(), &env.reference, "true"]);
    server.ok(&["rm", made.trim()]);
    let (_, err) = server.fails(&["create", "--platform", "linux/s390x", &env.reference, "true"]);
    assert!(err.contains("linux/s390x"), "{err}");
    // A pull the registry refuses before any progress is an HTTP error, as moby's.
    let missing = format!("{}:no-such-tag", env.reference.rsplit_once(':').unwrap().0);
    let (code, err) = server.fails(&["pull", &missing]);
    assert!(err.starts_with("Error response from daemon:") && err.contains("no-such-tag"), "{err}");
    assert_eq!(code, Some(1));
    let df = server.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Images 1"), "{df}");
    cleanup(&env);
}

#[test]
fn bs_bad_requests_are_400s_with_messages() {
    if !require_root("bs_bad_requests_are_400s_with_messages") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    for body in [&b"{not json"[..], br#"{"Image": 5}"#, br#"{"Image":"busybox","HostConfig":{"Memory":"x"}}"#] {
        let (status, reply) = server.request("POST", "/v1.44/containers/create", body);
        assert_eq!(status, 400, "{reply}");
        assert!(reply.contains("\"message\""), "{reply}");
    }
    let (status, reply) =
        server.request("POST", "/containers/create", br#"{"Image":"busybox","HostConfig":{"Memory":1}}"#);
    assert_eq!(status, 400, "{reply}");
    let big = vec![b' '; 8 << 20];
    let (status, reply) = server.request("POST", "/containers/create", &big);
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = server.request("GET", "/containers/json?filters=%7Bnope", b"");
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = server.request("POST", "/containers/create", br#"{"Image":"nosuch/image"}"#);
    assert_eq!(status, 404, "{reply}");
    assert!(reply.contains("No such image"), "{reply}");
    // The server is still there.
    assert_eq!(server.request("GET", "/_ping", b"").0, 200);
}

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    fn new(tag: &str) -> Tmux {
        Tmux(format!("bs-{tag}-{}", std::process::id()))
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.0).args(args).output().expect("tmux (apt package tmux)")
    }

    /// Runs `command` (a shell line) in a new 100x30 window named `window`.
    fn open(&self, server: &Server, window: &str, command: &str) {
        let line = format!(
            "env DOCKER_HOST=unix://{} DOCKER_CONFIG={} TERM=xterm {command}; echo EXIT=$?; sleep 600",
            server.socket.display(),
            server.config.path().display()
        );
        let verb = if self.run(&["has-session"]).status.success() { "new-window" } else { "new-session" };
        let mut args = vec![verb, "-d"];
        if verb == "new-session" {
            args.extend(["-s", "bs", "-x", "100", "-y", "30"]);
        }
        args.extend(["-n", window, &line]);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux {verb}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn screen(&self, window: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", &format!("bs:{window}")]).stdout).into_owned()
    }

    fn send(&self, window: &str, text: &str) {
        self.run(&["send-keys", "-t", &format!("bs:{window}"), "-l", text]);
        self.run(&["send-keys", "-t", &format!("bs:{window}"), "Enter"]);
    }

    fn wait_for(&self, window: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.screen(window).contains(needle) {
            assert!(Instant::now() < deadline, "{needle:?} not on screen:\n{}", self.screen(window));
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
fn bs_run_and_exec_with_a_tty_follow_the_terminal() {
    if !require_root("bs_run_and_exec_with_a_tty_follow_the_terminal") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let tmux = Tmux::new("tty");
    tmux.open(&server, "run", "docker run -it --name tty1 busybox sh");
    tmux.wait_for("run", "/ #");
    tmux.send("run", "echo size=$(stty size | tr ' ' x)");
    tmux.wait_for("run", "size=30x100");
    // The window shrinks: the CLI sends the new size, the container's pty takes it.
    tmux.run(&["resize-window", "-t", "bs:run", "-x", "90", "-y", "25"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.send("run", "echo resized=$(stty size | tr ' ' x)");
    tmux.wait_for("run", "resized=25x90");
    tmux.send("run", "exit 5");
    tmux.wait_for("run", "EXIT=5");
    assert_eq!(server.ok(&["inspect", "--format", "{{.State.ExitCode}}", "tty1"]).trim(), "5");
    server.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]);
    tmux.open(&server, "exec", "docker exec -it web sh");
    tmux.wait_for("exec", "/ #");
    tmux.send("exec", "echo esize=$(stty size | tr ' ' x) tty=$(tty)");
    tmux.wait_for("exec", "tty=/dev/pts/");
    assert!(tmux.screen("exec").contains("esize=30x100"), "{}", tmux.screen("exec"));
    tmux.send("exec", "exit 3");
    tmux.wait_for("exec", "EXIT=3");
    // Ctrl-P Ctrl-Q detaches: the CLI ends, the container runs on.
    tmux.open(&server, "detach", "docker run -it --name det busybox sh");
    tmux.wait_for("detach", "/ #");
    tmux.run(&["send-keys", "-t", "bs:detach", "C-p", "C-q"]);
    tmux.wait_for("detach", "EXIT=0");
    assert_eq!(env.status("det"), "running");
    assert_eq!(server.ok(&["exec", "det", "echo", "still-here"]), "still-here\n");
    cleanup(&env);
}

#[test]
fn bs_legacy_build_of_a_context_with_dockerignore() {
    if !require_root("bs_legacy_build_of_a_context_with_dockerignore") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nARG GREETING\nCOPY . /ctx\nRUN ls -a /ctx > /list && echo $GREETING > /greeting\nLABEL built=yes\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("kept.txt"), "kept").unwrap();
    std::fs::write(ctx.path().join("secret.txt"), "secret").unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "secret.txt\n").unwrap();
    let out = server
        .docker_command(&["build", "-t", "bs/built:1", "--build-arg", "GREETING=hello", ctx.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Successfully built "), "{stdout}");
    assert!(stdout.contains("Successfully tagged bs/built:1"), "{stdout}");
    let list = server.ok(&["run", "--rm", "bs/built:1", "sh", "-c", "cat /list /greeting"]);
    assert!(list.contains("kept.txt") && list.contains("hello"), "{list}");
    assert!(!list.contains("secret.txt"), "the .dockerignore'd file must stay out:\n{list}");
    assert_eq!(server.ok(&["inspect", "--format", "{{.Config.Labels.built}}", "bs/built:1"]).trim(), "yes");
    // A failing step is the client's error, with the step's message.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 7\n").unwrap();
    let (_, err) = server.fails(&["build", "-q", ctx.path().to_str().unwrap()]);
    assert!(err.contains("exit") || err.contains("7"), "{err}");
    server.ok(&["builder", "prune", "-f"]);
}

/// Debian's python3-docker (docker-py 5) against the server: a script that fails with a message on any
/// wrong answer.
const PYTHON_CLIENT: &str = r#"
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1], version="auto")
out = client.containers.run("busybox", ["sh", "-c", "echo from-py; echo err >&2"], remove=True, stderr=True)
assert out == b"from-py\nerr\n" or out == b"err\nfrom-py\n", out
web = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="pyweb", labels={"by": "py"})
# Many, quickly: output that came with the 101's headers would be lost in docker-py's buffer.
for i in range(60):
    code, output = web.exec_run(["sh", "-c", "echo line-%d; echo more-%d" % (i, i)])
    assert code == 0, (i, code)
    assert output == b"line-%d\nmore-%d\n" % (i, i), (i, output)
code, output = web.exec_run(["sh", "-c", "exit 6"])
assert code == 6, code
assert [c.name for c in client.containers.list(filters={"label": ["by=py"]})] == ["pyweb"]
try:
    client.images.get("no/such-image:1")
    raise SystemExit("images.get of a missing image did not raise")
except docker.errors.ImageNotFound as e:
    assert "No such image" in str(e), e
try:
    client.containers.get("nosuch")
    raise SystemExit("containers.get of a missing container did not raise")
except docker.errors.NotFound:
    pass
web.remove(force=True)
print("python-ok")
"#;

#[test]
fn bs_python_docker_sdk() {
    if !require_root("bs_python_docker_sdk") {
        return;
    }
    assert!(Path::new("/usr/bin/python3").exists(), "python3 is missing");
    let probe = Command::new("/usr/bin/python3").args(["-c", "import docker"]).output().unwrap();
    assert!(probe.status.success(), "Debian's python3-docker is missing (scripts/deps.sh installs it)");
    let env = Env::new();
    let server = Server::start(&env);
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PYTHON_CLIENT, &format!("unix://{}", server.socket.display())])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "python-ok\n");
    assert!(env.ids().is_empty(), "containers.run(remove=True) and remove(force=True) leave nothing");
}

#[test]
fn bs_socket_lifecycle_timeout_and_sigterm() {
    if !require_root("bs_socket_lifecycle_timeout_and_sigterm") {
        return;
    }
    let env = Env::new();
    let socket = env.root().join("api.sock");
    let host = format!("unix://{}", socket.display());
    let printed = env.ok(&["serve", "-H", &host, "--print-env"]);
    assert_eq!(printed, format!("DOCKER_HOST={host}\n"));
    let (_, err) = env.fails(&["serve", "-H", "tcp://0.0.0.0:2375"]);
    assert!(err.contains("loopback"), "{err}");
    let server = Server::start(&env);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    // A live socket is refused.
    let (_, err) = env.fails(&["serve", "-H", &host]);
    assert!(err.contains("another server is listening"), "{err}");
    server.ok(&["run", "-d", "--name", "outlives", "busybox", "sleep", "1000"]);
    // SIGTERM: the server ends and takes its socket; the container runs on under its monitor.
    let mut server = server;
    let pid = rustix::process::Pid::from_raw(server.pid()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket must go with the server");
    assert_eq!(env.status("outlives"), "running");
    drop(server);
    // A stale socket (its server killed) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(stale);
    assert!(socket.exists());
    let mut idle = env.command(&["serve", "-H", &host, "--timeout", "1"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = idle.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "--timeout 1 did not end the idle server");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    env.ok(&["rm", "-f", "outlives"]);
}

/// Reads from `stream` until `needle` arrived (or panics after 20 s); what was read.
fn read_until(stream: &mut std::os::unix::net::UnixStream, needle: &str) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = stream.read(&mut buf).expect("read from the server");
        assert!(n > 0, "the stream ended before {needle:?}: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn bs_clients_that_leave_mid_stream_leave_the_container_alone() {
    if !require_root("bs_clients_that_leave_mid_stream_leave_the_container_alone") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    server.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    for (what, request) in [
        (
            "attach",
            "POST /containers/talker/attach?stream=1&stdout=1&stderr=1&stdin=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        ),
        ("logs", "GET /v1.44/containers/talker/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: b\r\n\r\n"),
    ] {
        let mut stream = std::os::unix::net::UnixStream::connect(&server.socket).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let seen = read_until(&mut stream, "tick");
        if what == "attach" {
            assert!(seen.starts_with("HTTP/1.1 101"), "{seen}");
        }
        drop(stream);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(env.status("talker"), "running", "after a client left mid-{what}");
    }
    // The server still answers, and the container's output goes on.
    let before = server.ok(&["logs", "talker"]).lines().count();
    std::thread::sleep(Duration::from_millis(600));
    assert!(server.ok(&["logs", "talker"]).lines().count() > before);
    server.ok(&["rm", "-f", "talker"]);
}

#[test]
fn bs_fifty_clients_list_and_inspect_while_containers_come_and_go() {
    if !require_root("bs_fifty_clients_list_and_inspect_while_containers_come_and_go") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for n in 0..50 {
            let (server, stop, statuses) = (&server, &stop, &statuses);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (list, body) = server.request("GET", "/v1.44/containers/json?all=1", b"");
                    assert!(body.starts_with('['), "{body}");
                    let (inspect, _) = server.request("GET", &format!("/containers/c{}/json", n % 5), b"");
                    statuses.lock().unwrap().extend([list, inspect]);
                }
            });
        }
        for _ in 0..2 {
            for i in 0..5 {
                server.ok(&["run", "-d", "--name", &format!("c{i}"), "busybox", "sleep", "1000"]);
            }
            for i in 0..5 {
                server.ok(&["rm", "-f", &format!("c{i}")]);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let statuses = statuses.into_inner().unwrap();
    assert!(statuses.len() >= 100, "{} answers", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 404),
        "{:?}",
        statuses.iter().filter(|s| **s != 200 && **s != 404).collect::<Vec<_>>()
    );
    assert!(env.ids().is_empty());
}

#[test]
fn bs_bollard_create_attach_start_wait_logs_exec() {
    if !require_root("bs_bollard_create_attach_start_wait_logs_exec") {
        return;
    }
    use bollard::Docker;
    use bollard::container::AttachContainerResults;
    use bollard::exec::{StartExecOptions, StartExecResults};
    use bollard::models::{ContainerCreateBody, ExecConfig};
    use bollard::query_parameters::{
        AttachContainerOptions, CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
        WaitContainerOptions,
    };
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;

    let env = Env::new();
    let server = Server::start(&env);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let socket = server.socket.to_str().unwrap();
        let docker = Docker::connect_with_unix(socket, 60, bollard::API_DEFAULT_VERSION).unwrap();
        assert_eq!(docker.version().await.unwrap().api_version.as_deref(), Some("1.44"));
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: Some(["sh", "-c", "read x; echo got-$x; echo oops >&2"].map(String::from).to_vec()),
            open_stdin: Some(true),
            stdin_once: Some(true),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some("bol".into()), ..Default::default() };
        docker.create_container(Some(options), body).await.unwrap();
        let attach =
            AttachContainerOptions { stream: true, stdin: true, stdout: true, stderr: true, ..Default::default() };
        let AttachContainerResults { mut output, mut input } =
            docker.attach_container("bol", Some(attach)).await.unwrap();
        docker.start_container("bol", None::<StartContainerOptions>).await.unwrap();
        input.write_all(b"hello\n").await.unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        while let Some(chunk) = output.next().await {
            match chunk.unwrap() {
                bollard::container::LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
                bollard::container::LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
                _ => {}
            }
        }
        assert_eq!((out.as_str(), err.as_str()), ("got-hello\n", "oops\n"));
        // bollard sends a wait only once its stream is read, here after the attach ended, when the container
        // may have exited already: `not-running` answers then, where `next-exit` would wait for another run.
        let mut wait = docker.wait_container("bol", Some(WaitContainerOptions { condition: "not-running".into() }));
        assert_eq!(wait.next().await.unwrap().unwrap().status_code, 0);
        let logs: Vec<String> = docker
            .logs("bol", Some(LogsOptions { stdout: true, stderr: true, ..Default::default() }))
            .map(|l| l.unwrap().to_string())
            .collect()
            .await;
        assert_eq!(logs.concat().lines().count(), 2, "{logs:?}");
        // exec in a running container.
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: Some(vec!["sleep".into(), "1000".into()]),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some("bolweb".into()), ..Default::default() };
        docker.create_container(Some(options), body).await.unwrap();
        docker.start_container("bolweb", None::<StartContainerOptions>).await.unwrap();
        let exec = ExecConfig {
            cmd: Some(vec!["sh".into(), "-c".into(), "echo exec-out; exit 2".into()]),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = docker.create_exec("bolweb", exec).await.unwrap();
        let started = docker.start_exec(&exec.id, None::<StartExecOptions>).await.unwrap();
        let StartExecResults::Attached { mut output, .. } = started else { panic!("exec was not attached") };
        let mut out = String::new();
        while let Some(chunk) = output.next().await {
            out.push_str(&chunk.unwrap().to_string());
        }
        assert_eq!(out, "exec-out\n");
        assert_eq!(docker.inspect_exec(&exec.id).await.unwrap().exit_code, Some(2));
        // A missing container is a 404 with moby's message.
        match docker.inspect_container("nosuch", None).await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
                assert_eq!(status_code, 404);
                assert!(message.contains("No such container: nosuch"), "{message}");
            }
            other => panic!("inspect of a missing container: {other:?}"),
        }
        for name in ["bol", "bolweb"] {
            let force = RemoveContainerOptions { force: true, ..Default::default() };
            docker.remove_container(name, Some(force)).await.unwrap();
        }
    });
    assert!(env.ids().is_empty());
}

#[test]
fn bs_docker_events_replays_and_follows_the_journal() {
    if !require_root("bs_docker_events_replays_and_follows_the_journal") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    // A follower started first hears another client's container die, live.
    let mut follower = server
        .docker_command(&["events", "--filter", "event=die", "--format", "{{.Actor.Attributes.name}} {{.Status}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker events");
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The follower may still be connecting: run containers until it has heard one.
    let heard = (0..20).find_map(|i| {
        server.ok(&["run", "--name", &format!("bs-ev{i}"), "busybox", "true"]);
        rx.recv_timeout(Duration::from_secs(5)).ok()
    });
    follower.kill().unwrap();
    follower.wait().unwrap();
    let heard = heard.expect("the follower heard a die event");
    assert!(heard.starts_with("bs-ev") && heard.ends_with(" die"), "{heard}");
    // Replay with since/until and filters as map: create, start, die of the first container, in order.
    // docker sends whole seconds: `until` a second ahead takes in what happened within this one.
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let out = server.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=bs-ev0",
        "--filter",
        "type=container",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = out.lines().collect();
    assert_eq!(&actions[..3], ["create", "start", "die"], "{out}");
}

#[test]
fn bs_save_load_export_and_import_through_the_docker_cli() {
    if !require_root("bs_save_load_export_and_import_through_the_docker_cli") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    let archive = archive.to_str().unwrap();
    server.ok(&["tag", "busybox", "bs-saved:v1"]);
    server.ok(&["save", "-o", archive, "bs-saved:v1"]);
    server.ok(&["rmi", "bs-saved:v1"]);
    let loaded = server.ok(&["load", "-i", archive]);
    assert!(loaded.contains("Loaded image: bs-saved:v1"), "{loaded}");
    assert_eq!(server.ok(&["run", "--rm", "bs-saved:v1", "echo", "back"]), "back\n");
    let (_, err) = server.fails(&["save", "-o", archive, "bs-nosuch:v1"]);
    assert!(err.contains("bs-nosuch"), "{err}");

    server.ok(&["run", "--name", "bs-exported", "busybox", "sh", "-c", "echo made > /made"]);
    let flat = dir.path().join("flat.tar");
    server.ok(&["export", "-o", flat.to_str().unwrap(), "bs-exported"]);
    let mut names = Vec::new();
    let mut tar = tar::Archive::new(std::fs::File::open(&flat).unwrap());
    for entry in tar.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|n| n.trim_end_matches('/') == "made"), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("bin/busybox")), "{names:?}");
    // And back in as a one-layer image, with a change.
    let flat = flat.to_str().unwrap();
    let id = server.ok(&["import", "--change", "CMD [\"cat\", \"/made\"]", "-m", "flat", flat, "bs-imported:v1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(server.ok(&["run", "--rm", "bs-imported:v1"]), "made\n");
    let history = server.ok(&["history", "--format", "{{.Comment}}", "bs-imported:v1"]);
    assert!(history.contains("flat"), "{history}");
}

#[test]
fn bs_docker_push_then_pull_back() {
    if !require_root("bs_docker_push_then_pull_back") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let target = format!("{}/bs-pushed/app:v1", env.registry().host());
    server.ok(&["run", "--name", "bs-src", "busybox", "sh", "-c", "echo made > /made"]);
    server.ok(&["commit", "bs-src", &target]);
    let out = server.ok(&["push", &target]);
    assert!(out.contains("Pushed") && out.contains("v1: digest: sha256:"), "{out}");
    let again = server.ok(&["push", &target]);
    assert!(again.contains("Layer already exists") && !again.contains("Pushed"), "{again}");
    server.ok(&["rm", "bs-src"]);
    server.ok(&["rmi", &target]);
    server.ok(&["pull", &target]);
    assert_eq!(server.ok(&["run", "--rm", &target, "cat", "/made"]), "made\n");
    let (_, err) = server.fails(&["push", &format!("{}/bs-pushed/none:v1", env.registry().host())]);
    assert!(err.contains("bs-pushed/none"), "{err}");
}

/// `docker-compose ARGS` (Debian's 1.29, Python) in `dir`, against the server.
fn compose(server: &Server, dir: &Path, args: &[&str]) -> Output {
    let found = Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(found, "docker-compose is missing (scripts/deps.sh installs it)");
    Command::new("docker-compose")
        .args(["-p", "bsdc"])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", server.socket.display()))
        .env("DOCKER_CONFIG", server.config.path())
        .env("DOCKER_BUILDKIT", "0")
        .env("COMPOSE_DOCKER_CLI_BUILD", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose")
}

fn compose_ok(server: &Server, dir: &Path, args: &[&str]) -> String {
    let out = compose(server, dir, args);
    assert!(out.status.success(), "docker-compose {args:?} failed:\n{}", text(&out));
    text(&out)
}

#[test]
fn bs_docker_compose_1_29_runs_a_project() {
    if !require_root("bs_docker_compose_1_29_runs_a_project") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), format!("FROM {}\nRUN echo built > /built\n", env.reference)).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"3.8\"\nservices:\n  web:\n    build: ./app\n    image: bsdc-web:1\n    command: [\"sh\", \"-c\", \
             \"echo hi > /data/x; httpd -f -p 8080\"]\n    volumes: [\"data:/data\", \"./app:/src\"]\n    ports: \
             [\"127.0.0.1:{port}:8080\"]\n    init: true\n    labels: {{bsdc: \"yes\"}}\n    networks: {{default: {{aliases: [www]}}}}\n  \
             worker:\n    image: {}\n    command: [\"sleep\", \"300\"]\n    init: true\n    depends_on: [web]\nvolumes:\n  \
             data: {{}}\n",
            env.reference
        ),
    )
    .unwrap();
    compose_ok(&server, dir, &["up", "-d"]);
    let again = compose_ok(&server, dir, &["up", "-d"]);
    assert!(again.contains("bsdc_web_1 is up-to-date") && again.contains("bsdc_worker_1 is up-to-date"), "{again}");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the published port answers");
    stream.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1."), "{answer}");
    let files = compose_ok(&server, dir, &["exec", "-T", "web", "cat", "/data/x", "/built", "/src/Dockerfile"]);
    assert!(files.contains("hi\nbuilt\nFROM "), "volume, image and bind mount: {files}");
    let ping = compose_ok(&server, dir, &["exec", "-T", "worker", "ping", "-c1", "-W2", "www"]);
    assert!(ping.contains("1 packets received"), "the alias resolves and answers: {ping}");
    let label = server.ok(&["inspect", "--format", "{{index .Config.Labels \"bsdc\"}}", "bsdc_web_1"]);
    assert_eq!(label.trim(), "yes");
    // A one-off's output (compose attaches with input, then starts) and its exit code come back.
    let one_off = compose_ok(&server, dir, &["run", "--rm", "-T", "worker", "echo", "one-off"]);
    assert!(one_off.contains("one-off"), "{one_off}");
    let one_off = compose(&server, dir, &["run", "--rm", "-T", "worker", "sh", "-c", "exit 3"]);
    assert_eq!(one_off.status.code(), Some(3), "{}", text(&one_off));
    compose_ok(&server, dir, &["down", "-v"]);
    let filter = "label=com.docker.compose.project=bsdc";
    assert_eq!(server.ok(&["ps", "-aq", "--filter", filter]), "", "no container of the project is left");
    assert_eq!(server.ok(&["volume", "ls", "-q", "--filter", "name=bsdc"]), "");
    assert_eq!(server.ok(&["network", "ls", "-q", "--filter", "name=bsdc"]), "");
}

/// docker-py pulling with `auth_config`, which it sends as `X-Registry-Auth`; argv: socket, image, tag,
/// user, password.
const PYTHON_AUTH_PULL: &str = r#"
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1], version="1.44")
repo, tag, user, password = sys.argv[2:6]
try:
    client.images.pull(repo, tag=tag)
    print("anonymous pull succeeded")
    sys.exit(1)
except docker.errors.APIError:
    pass
image = client.images.pull(repo, tag=tag, auth_config={"username": user, "password": password})
assert f"{repo}:{tag}" in image.tags, image.tags
print("python-auth-ok")
"#;

#[test]
fn bs2_registry_auth_reaches_pull_push_and_build_for_that_request_only() {
    if !require_root("bs2_registry_auth_reaches_pull_push_and_build_for_that_request_only") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let registry = support::registry::Registry::start_with_auth("alice", "s3cret");
    let host = registry.host();
    let target = format!("{host}/bs2/app:v1");
    server.ok(&["tag", "busybox", &target]);
    // Without credentials the registry's 401 is named.
    let (_, err) = server.fails(&["push", &target]);
    assert!(err.contains("push access denied") && err.contains("401 Unauthorized"), "{err}");
    // `docker login` is checked through `/auth`: a wrong password is refused, and nothing is saved there.
    let out = server.docker_with_stdin(&["login", "-u", "alice", "--password-stdin", &host], "wrong\n");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401 Unauthorized"), "{}", text(&out));
    let out = server.docker_with_stdin(&["login", "-u", "alice", "--password-stdin", &host], "s3cret\n");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"), "{}", text(&out));
    // The client's X-Registry-Auth carries them to the push and the pull.
    let out = server.ok(&["push", &target]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    server.ok(&["rmi", &target]);
    server.ok(&["pull", &target]);
    // A build's base image comes with X-Registry-Config.
    server.ok(&["rmi", &target]);
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {target}\nRUN echo built > /built\n")).unwrap();
    server.ok(&["build", "-t", "bs2-built", context.path().to_str().unwrap()]);
    assert_eq!(server.ok(&["run", "--rm", "bs2-built", "cat", "/built"]), "built\n");
    // The server kept none of them: after logout the same pull is refused again.
    server.ok(&["logout", &host]);
    server.ok(&["rmi", &target]);
    let (_, err) = server.fails(&["pull", &target]);
    assert!(err.contains("pull access denied") && err.contains("401 Unauthorized"), "{err}");
    assert!(!server.engine_config.path().join("config.json").exists(), "the server saved credentials");
    // docker-py's auth_config.
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            PYTHON_AUTH_PULL,
            &format!("unix://{}", server.socket.display()),
            &format!("{host}/bs2/app"),
            "v1",
            "alice",
            "s3cret",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "python-auth-ok\n");
    server.ok(&["rmi", "bs2-built", &target]);
    cleanup(&env);
}

#[test]
fn bs2_search_says_registries_have_none() {
    if !require_root("bs2_search_says_registries_have_none") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let (status, body) = server.request("GET", "/v1.44/images/search?term=busybox", b"");
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("\"message\"") && body.contains("no search"), "{body}");
    let (_, err) = server.fails(&["search", "busybox"]);
    assert!(err.contains("search is not supported by berth") && err.contains("Distribution API"), "{err}");
}

#[test]
fn bs2_short_runs_never_lose_their_output() {
    if !require_root("bs2_short_runs_never_lose_their_output") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    // The CLI attaches, then starts; the container prints and exits at once, often before the attach's
    // stream has looked at the log.
    for round in 0..30 {
        let out = server.docker(&["run", "--rm", "busybox", "echo", "hi"]);
        assert!(out.status.success(), "round {round}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n", "round {round}: {}", text(&out));
    }
    // With input attached too (`-i`, as compose's `run` starts one-offs): the output still comes whole.
    for round in 0..30 {
        let out = server.docker_with_stdin(&["run", "-i", "--rm", "busybox", "echo", "hi"], "");
        assert!(out.status.success(), "round {round}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n", "round {round}: {}", text(&out));
    }
    assert!(env.ids().is_empty(), "every --rm container is gone");
}
