//! Container networking through the `berth` binary, as root, in network namespaces the tests create
//! (`unshare -n sleep`). Each test uses its own state root, bridge name, nftables table and subnets, and
//! removes all of them on success and on failure. Traffic goes only to 127.0.0.1 and into those namespaces.

mod support;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_engine::network::netlink::Socket;
use berth_engine::network::{ContainerRef, NetworkMode};
use berth_engine::{Config, Engine, EngineOptions};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// One test's networking world: state root, config, namespaces, helper processes; all undone on drop.
struct World {
    dir: tempfile::TempDir,
    bridge: String,
    table: String,
    /// Third octet shared by this run's subnets: 10.<base+k>.<octet>.0/24.
    octet: u8,
    sleepers: Vec<Child>,
    servers: Vec<Child>,
    containers: Vec<String>,
}

impl World {
    fn new(n: u32) -> World {
        let pid = std::process::id();
        let dir = tempfile::tempdir().unwrap();
        let bridge = format!("bt{}{n}", pid % 10000);
        let table = format!("berth_t{pid}_{n}");
        let (default, pool) = (200 + n, 210 + n);
        let octet = support::free_octet(&[default, pool]) as u8;
        let config = format!(
            "network_default_bridge = \"{bridge}\"\nnetwork_default_subnet = \"10.{default}.{octet}.0/24\"\n\
             network_pool = \"10.{pool}.{octet}.0/24\"\nnetwork_firewall_table = \"{table}\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        World { dir, bridge, table, octet, sleepers: Vec::new(), servers: Vec::new(), containers: Vec::new() }
    }

    fn berth(&self) -> Command {
        let mut cmd = Command::new(BERTH);
        cmd.env("BERTH_CONFIG", self.dir.path().join("config.toml")).env("BERTH_ROOT", self.dir.path().join("root"));
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.berth().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A fresh network namespace held by a sleeping process; returns the holder's pid.
    fn netns(&mut self) -> u32 {
        let child = Command::new("unshare").args(["-n", "sleep", "600"]).spawn().unwrap();
        let pid = child.id();
        self.sleepers.push(child);
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok().as_ref() == Some(&ours) {
            assert!(Instant::now() < deadline, "unshare -n did not make a namespace");
            std::thread::sleep(Duration::from_millis(10));
        }
        pid
    }

    /// Ends the namespace's holder, as when a container dies without its monitor's cleanup.
    fn kill_netns(&mut self, pid: u32) {
        if let Some(child) = self.sleepers.iter_mut().find(|c| c.id() == pid) {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The engine over this world's state root, whose network API the runtime uses.
    fn engine(&self) -> Engine {
        let config = Config::load_from(&self.dir.path().join("config.toml")).unwrap();
        Engine::open(EngineOptions { root: self.dir.path().join("root"), config }).unwrap()
    }

    fn attach_cmd(&mut self, pid: u32, id: &str, extra: &[&str]) -> Command {
        self.containers.push(id.to_string());
        let mut cmd = self.berth();
        cmd.args(["network", "attach", "--netns", &format!("/proc/{pid}/ns/net"), "--container-id", id])
            .args(["--container-name", id])
            .args(extra);
        cmd
    }

    /// Attaches and returns the NetworkSettings document.
    fn attach(&mut self, pid: u32, id: &str, extra: &[&str]) -> Value {
        let out = self.attach_cmd(pid, id, extra).output().unwrap();
        assert!(out.status.success(), "attach {id}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// busybox httpd serving `body` on port 80 inside the namespace of `pid`.
    fn http_server(&mut self, pid: u32, body: &str) {
        let www = self.dir.path().join(format!("www{pid}"));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), body).unwrap();
        let server = in_netns(pid, &["busybox", "httpd", "-f", "-p", "80", "-h", www.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.servers.push(server);
    }

    fn rules(&self) -> String {
        let out = Command::new("nft").args(["list", "table", "inet", &self.table]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for this root's DNS resolvers to exit by themselves (they do once their network is empty).
    fn resolvers_gone(&self) -> bool {
        let root = self.dir.path().join("root");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if resolver_pids(&root).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.run(&["network", "detach", id]);
        }
        for child in self.servers.iter_mut().chain(self.sleepers.iter_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let listed = self.run(&["network", "ls", "-q", "--no-trunc"]);
        for id in String::from_utf8_lossy(&listed.stdout).lines() {
            let _ = self.run(&["network", "rm", id]);
        }
        if let Ok(mut sock) = Socket::open() {
            let _ = sock.delete_link(&self.bridge);
        }
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.table]).stderr(Stdio::null()).status();
    }
}

fn in_netns(pid: u32, argv: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg("-t").arg(pid.to_string()).arg("-n").args(argv);
    cmd
}

/// `curl` from inside a namespace (or from the host when pid is None); the body on success.
/// An HTTP GET of `/` from inside the namespace of `pid` (or from the host when None); the body on a 200.
/// A thread enters the namespace, so no client program needs to be installed.
fn fetch(pid: Option<u32>, addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(pid) = pid {
                    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
                    let net = rustix::thread::LinkNameSpaceType::Network;
                    rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(&ns), Some(net)).unwrap();
                }
                let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
                conn.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
                conn.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
                let mut reply = String::new();
                conn.read_to_string(&mut reply).ok()?;
                let (head, body) = reply.split_once("\r\n\r\n")?;
                (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
            })
            .join()
            .unwrap()
    })
}

/// Retries briefly: a server or resolver just started may not be listening yet.
fn fetch_eventually(pid: Option<u32>, addr: &str) -> Option<String> {
    (0..20).find_map(|_| {
        fetch(pid, addr).or_else(|| {
            std::thread::sleep(Duration::from_millis(150));
            None
        })
    })
}

/// An A query for `name` over TCP to `server`:53 from inside the namespace of `pid`; the first address in
/// the answer.
fn lookup_over_tcp(pid: u32, server: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
    use std::io::{Read, Write};
    // Header: id, flags (recursion desired), one question; then the name as labels, type A, class IN.
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
                let net = rustix::thread::LinkNameSpaceType::Network;
                rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(&ns), Some(net)).unwrap();
                let addr = std::net::SocketAddr::from((server, 53));
                let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                conn.write_all(&(query.len() as u16).to_be_bytes()).ok()?;
                conn.write_all(&query).ok()?;
                let mut len = [0u8; 2];
                conn.read_exact(&mut len).ok()?;
                let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
                conn.read_exact(&mut answer).ok()?;
                // One answer record, A, for our question: its address is the answer's last four bytes.
                let answers = u16::from_be_bytes([answer[6], answer[7]]);
                (answer[..2] == [0x12, 0x34] && answers == 1).then(|| {
                    Ipv4Addr::new(
                        answer[answer.len() - 4],
                        answer[answer.len() - 3],
                        answer[answer.len() - 2],
                        answer[answer.len() - 1],
                    )
                })
            })
            .join()
            .unwrap()
    })
}

fn resolver_pids(root: &Path) -> Vec<u32> {
    let needle = format!("__dns\0{}\0", root.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

fn vb_links() -> HashSet<String> {
    Socket::open().unwrap().link_names().unwrap().into_iter().filter(|n| n.starts_with("vb")).collect()
}

fn ip_of(settings: &Value, network: &str) -> String {
    settings["Networks"][network]["IPAddress"].as_str().unwrap_or_default().to_string()
}

#[test]
fn user_networks_connect_resolve_names_and_stay_isolated_and_ports_publish_on_localhost() {
    if !support::require_root("user_networks_connect_resolve_names_and_stay_isolated_and_ports_publish_on_localhost") {
        return;
    }
    let mut w = World::new(1);
    let front = format!("10.221.{}.0/24", w.octet);
    let back = format!("10.222.{}.0/24", w.octet);
    w.ok(&["network", "create", "--subnet", &front, "--label", "tier=front", "front"]);
    w.ok(&["network", "create", "--subnet", &back, "back"]);
    let (a, b, c) = (w.netns(), w.netns(), w.netns());

    let sa = w.attach(a, "web", &["--alias", "www", "front"]);
    let sb = w.attach(b, "client", &["front"]);
    let sc = w.attach(c, "outsider", &["back"]);
    let (ip_a, ip_c) = (ip_of(&sa, "front"), ip_of(&sc, "back"));
    assert!(ip_a.starts_with("10.221.") && ip_of(&sb, "front").starts_with("10.221.") && ip_c.starts_with("10.222."));
    assert_eq!(sa["Networks"]["front"]["DNSNames"], serde_json::json!(["web", "www"]));
    let gateway: Ipv4Addr = sa["Gateway"].as_str().unwrap().parse().unwrap();

    w.http_server(a, "hello from web");
    assert_eq!(fetch_eventually(Some(b), &format!("{ip_a}:80")).as_deref(), Some("hello from web"));
    assert_eq!(fetch(Some(c), &format!("{ip_a}:80")), None, "a namespace on another network reached web");

    // The embedded resolver answers for container names and aliases on the network.
    let lookup = |name: &str| {
        (0..25).find_map(|_| {
            let out = in_netns(b, &["busybox", "nslookup", name, &gateway.to_string()]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && text.contains(&ip_a) {
                return Some(text);
            }
            std::thread::sleep(Duration::from_millis(200));
            None
        })
    };
    assert!(lookup("web").is_some(), "web did not resolve to {ip_a} through {gateway}");
    assert!(lookup("www").is_some(), "alias www did not resolve");
    // Over TCP too (where a client retries a truncated answer).
    let ip: Ipv4Addr = ip_a.parse().unwrap();
    assert_eq!(lookup_over_tcp(b, gateway, "web"), Some(ip), "web over TCP through {gateway}");

    // A call that fails partway undoes only its own networks: client keeps front, does not keep back.
    let partial = w.attach_cmd(b, "client", &["back", "no-such-net"]).output().unwrap();
    assert!(String::from_utf8_lossy(&partial.stderr).contains("network no-such-net not found"));
    let back_doc: Value = serde_json::from_str(&w.ok(&["network", "inspect", "back"])).unwrap();
    assert_eq!(back_doc[0]["Containers"].as_object().unwrap().len(), 1, "{back_doc}");
    assert_eq!(fetch(Some(b), &format!("{ip_a}:80")).as_deref(), Some("hello from web"));

    // Removing a network in use is refused with the names of its containers.
    let refused = w.run(&["network", "rm", "front"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("active endpoints (client, web)"));

    // prune takes only networks nobody uses.
    w.ok(&["network", "create", "--internal", "spare"]);
    assert_eq!(w.ok(&["network", "prune", "-f"]), "Deleted Networks:\nspare\n");

    // A published port answers on 127.0.0.1 from the host, and is gone after detach.
    let d = w.netns();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let published = w.attach(d, "pub", &["-p", &format!("127.0.0.1:{port}:80"), "bridge"]);
    assert_eq!(published["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    w.http_server(d, "published");
    let url = format!("127.0.0.1:{port}");
    assert_eq!(fetch_eventually(None, &url).as_deref(), Some("published"));
    let clash = w.attach_cmd(c, "thief", &["-p", &format!("127.0.0.1:{port}:80"), "bridge"]).output().unwrap();
    assert!(String::from_utf8_lossy(&clash.stderr).contains("already allocated by container pub"));
    assert!(w.rules().contains(&format!("dport {port}")));
    w.ok(&["network", "detach", "pub"]);
    assert_eq!(fetch(None, &url), None, "the mapping outlived detach");
    assert!(!w.rules().contains(&format!("dport {port}")));

    for id in ["web", "client", "outsider"] {
        w.ok(&["network", "detach", id]);
    }
    assert!(w.resolvers_gone(), "a DNS resolver kept running after its network emptied");
    let bridges: Vec<String> = ["front", "back"]
        .iter()
        .map(|n| {
            let doc: Value = serde_json::from_str(&w.ok(&["network", "inspect", n])).unwrap();
            format!("br-{}", &doc[0]["Id"].as_str().unwrap()[..12])
        })
        .collect();
    // Other berth roots make veths meanwhile: only ports of this test's own bridges count.
    for bridge in bridges.iter().chain([&w.bridge]) {
        let left = Socket::open().unwrap().bridge_ports(bridge).unwrap();
        assert!(left.is_empty(), "veths left on {bridge}: {left:?}");
    }
    w.ok(&["network", "rm", "front", "back"]);
    let mut sock = Socket::open().unwrap();
    for bridge in &bridges {
        assert!(sock.link(bridge).unwrap().is_none(), "bridge {bridge} outlived its network");
    }
    assert!(!w.rules().contains("10.221.") && !w.rules().contains("10.222."), "{}", w.rules());
}

#[test]
fn twenty_parallel_attaches_get_distinct_addresses_and_leave_nothing_behind() {
    if !support::require_root("twenty_parallel_attaches_get_distinct_addresses_and_leave_nothing_behind") {
        return;
    }
    let mut w = World::new(2);
    let pids: Vec<u32> = (0..20).map(|_| w.netns()).collect();
    let children: Vec<Child> = pids
        .iter()
        .enumerate()
        .map(|(i, pid)| {
            w.attach_cmd(*pid, &format!("par{i}"), &["bridge"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut addresses = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let settings: Value = serde_json::from_slice(&out.stdout).unwrap();
        addresses.insert(ip_of(&settings, "bridge"));
    }
    assert_eq!(addresses.len(), 20, "{addresses:?}");
    let made: HashSet<String> = Socket::open().unwrap().bridge_ports(&w.bridge).unwrap().into_iter().collect();
    assert_eq!(made.len(), 20, "{made:?}");
    let inspect: Value = serde_json::from_str(&w.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(inspect[0]["Containers"].as_object().unwrap().len(), 20);

    let detaches: Vec<Child> =
        (0..20).map(|i| w.berth().args(["network", "detach", &format!("par{i}")]).spawn().unwrap()).collect();
    for mut child in detaches {
        assert!(child.wait().unwrap().success());
    }
    assert!(vb_links().is_disjoint(&made), "veths left: {:?}", vb_links().intersection(&made));
    assert_eq!(Socket::open().unwrap().bridge_ports(&w.bridge).unwrap(), Vec::<String>::new());
    let inspect: Value = serde_json::from_str(&w.ok(&["network", "inspect", "bridge"])).unwrap();
    assert!(inspect[0]["Containers"].as_object().unwrap().is_empty());
    assert!(!w.rules().contains("ep:"), "{}", w.rules());
    let netns_dir: Vec<PathBuf> = std::fs::read_dir("/run/netns")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    assert!(netns_dir.iter().all(|p| !p.to_string_lossy().contains(&w.bridge)), "{netns_dir:?}");
}

#[test]
fn a_new_berth_process_reuses_the_bridge_and_table_without_duplicating_rules() {
    if !support::require_root("a_new_berth_process_reuses_the_bridge_and_table_without_duplicating_rules") {
        return;
    }
    let mut w = World::new(3);
    let (a, b) = (w.netns(), w.netns());
    w.attach(a, "first", &["bridge"]);
    let rules_once = w.rules();
    let count = |text: &str| text.lines().filter(|l| l.contains("comment")).count();
    w.ok(&["network", "detach", "first"]);
    let again = w.attach(b, "second", &["bridge"]);
    assert_eq!(count(&w.rules()), count(&rules_once), "{}", w.rules());
    assert_eq!(w.rules().matches("jump hostports").count(), 2);
    let mut sock = Socket::open().unwrap();
    assert!(sock.link(&w.bridge).unwrap().is_some_and(|l| l.up));
    let gateway_addrs = sock.addresses(&w.bridge).unwrap();
    assert_eq!(gateway_addrs.len(), 1, "{gateway_addrs:?}");
    assert_eq!(gateway_addrs[0].addr().to_string(), again["Gateway"].as_str().unwrap());
    assert!(sock.routes().unwrap().contains(&gateway_addrs[0].trunc()), "no route to the bridge's subnet");

    // A container that died without cleanup: its netns is gone, its address, port rule and record remain
    // until the reconcile pass detaches it.
    let g = w.netns();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    w.attach(g, "ghost", &["-p", &format!("127.0.0.1:{port}:80"), "bridge"]);
    w.kill_netns(g);
    assert!(w.rules().contains(&format!("dport {port}")));
    let engine = w.engine();
    let networks = engine.network_internals();
    networks.detach("ghost", None).unwrap();
    assert!(!w.rules().contains(&format!("dport {port}")), "{}", w.rules());
    assert!(networks.settings("ghost").unwrap().networks.is_empty());
    assert_eq!(networks.settings("second").unwrap().networks.len(), 1);

    // --network none: a namespace with only lo, and it is up.
    let n = w.netns();
    let netns = PathBuf::from(format!("/proc/{n}/ns/net"));
    let nothing = ContainerRef { id: "lonely", name: "lonely" };
    let settings = networks.setup(nothing, &netns, &NetworkMode::None).unwrap();
    assert!(settings.networks.is_empty());
    let mut inside = Socket::open_in(&netns).unwrap();
    assert_eq!(inside.link_names().unwrap(), ["lo"]);
    assert!(inside.link("lo").unwrap().is_some_and(|l| l.up));
}

#[test]
fn firewall_rules_removed_behind_berths_back_come_back_with_the_next_attach() {
    if !support::require_root("firewall_rules_removed_behind_berths_back_come_back_with_the_next_attach") {
        return;
    }
    let mut w = World::new(5);
    let (a, b, c, d) = (w.netns(), w.netns(), w.netns(), w.netns());
    w.attach(a, "first", &["bridge"]);
    let masquerades = |rules: &str| rules.matches("masquerade").count();
    let once = masquerades(&w.rules());
    assert!(once > 0, "{}", w.rules());
    // Nothing changed since: the next attach knows the rules are there (berth skips listing the table).
    w.attach(b, "second", &["bridge"]);
    assert_eq!(masquerades(&w.rules()), once, "{}", w.rules());

    // The table deleted by someone else: the next container's network rules must be made again.
    let deleted = Command::new("nft").args(["delete", "table", "inet", &w.table]).status().unwrap();
    assert!(deleted.success());
    w.attach(c, "third", &["bridge"]);
    assert_eq!(masquerades(&w.rules()), once, "{}", w.rules());
    assert_eq!(w.rules().matches("jump hostports").count(), 2, "{}", w.rules());

    // Only the network's chain emptied, the table kept: made again too.
    let flushed = Command::new("nft").args(["flush", "chain", "inet", &w.table, "postrouting"]).status().unwrap();
    assert!(flushed.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    w.attach(d, "fourth", &["-p", &format!("127.0.0.1:{port}:80"), "bridge"]);
    assert_eq!(masquerades(&w.rules()), once, "{}", w.rules());
    assert!(w.rules().contains(&format!("dport {port}")), "{}", w.rules());
}

#[test]
fn attach_into_a_closed_pipe_ends_quietly() {
    if !support::require_root("attach_into_a_closed_pipe_ends_quietly") {
        return;
    }
    let mut w = World::new(4);
    let pid = w.netns();
    // As `berth network attach ... | head -0`: the reader is gone before berth prints.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = w.attach_cmd(pid, "quiet", &["bridge"]).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    assert_eq!(stderr, "", "a closed stdout is no error to report");
    // The attach itself happened: the container is on the network.
    let inspect: Value = serde_json::from_str(&w.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(inspect[0]["Containers"].as_object().unwrap().len(), 1, "{inspect}");
}
