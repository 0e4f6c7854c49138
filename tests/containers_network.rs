//! Real containers on real networks, through the `berth` binary as root. Each test's state root has its own
//! default bridge, nftables table and subnets (tests/rt writes its config.toml); user networks get subnets
//! derived from the test process id. Traffic goes only to 127.0.0.1 and to the tests' own containers.

mod rt;
mod support;

use std::collections::HashSet;
use std::net::TcpListener;

use berth_engine::network::netlink::Socket;
use rt::{Env, require_root};

/// A subnet for user network `k` of this test process: 10.<190+k>.<octet>.0/24.
fn subnet(env: &Env, k: u8) -> String {
    format!("10.{}.{}.0/24", 190 + k, env.octet)
}

/// The tests compare the host's links before and after, so they take turns (each test may run many
/// containers at once inside).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn links() -> HashSet<String> {
    Socket::open().expect("netlink").link_names().expect("links").into_iter().collect()
}

/// The bridge of one of this test's networks (named from its id, so no other berth root has it).
fn bridge_of(env: &Env, network: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(&env.ok(&["network", "inspect", network])).expect("inspect");
    format!("br-{}", &doc[0]["Id"].as_str().expect("network id")[..12])
}

/// The host end of a container's veth on a network, named as the engine names it (`vb` + 11 hex digits of
/// the endpoint's hash), so a test can look for its own even when it is plugged into no bridge.
fn veth_of(env: &Env, network: &str, container_id: &str) -> String {
    use sha2::Digest;
    let doc: serde_json::Value = serde_json::from_str(&env.ok(&["network", "inspect", network])).expect("inspect");
    let network_id = doc[0]["Id"].as_str().expect("network id");
    let hash = hex::encode(sha2::Sha256::digest(format!("{network_id}/{container_id}")));
    format!("vb{}", &hash[..11])
}

/// The veths still plugged into this test's bridges. Other berth roots on the machine make and remove
/// veths of their own meanwhile, so "nothing left" counts only the ports of the test's own bridges.
fn veths_on(bridges: &[&str]) -> Vec<String> {
    let mut sock = Socket::open().expect("netlink");
    bridges.iter().flat_map(|b| sock.bridge_ports(b).unwrap_or_default()).collect()
}

fn netns_entries() -> HashSet<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn rules(env: &Env) -> String {
    let out = std::process::Command::new("nft").args(["list", "table", "inet", &env.table]).output().expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(env: &Env, name: &str) -> String {
    env.inspect(name)["NetworkSettings"]["IPAddress"].as_str().unwrap_or_default().to_string()
}

#[test]
fn user_network_names_aliases_isolation_none_and_host() {
    if !require_root("user_network_names_aliases_isolation_none_and_host") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let (front, back) = (format!("front{}", std::process::id()), format!("back{}", std::process::id()));
    env.ok(&["network", "create", "--subnet", &subnet(&env, 0), &front]);
    env.ok(&["network", "create", "--subnet", &subnet(&env, 1), &back]);

    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &front,
        "--network-alias",
        "www",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let web_ip = ip(&env, "web");
    let v = env.inspect("web");
    assert!(web_ip.starts_with(&format!("10.190.{}.", env.octet)), "web got {web_ip}");
    assert_eq!(v["NetworkSettings"]["Networks"][&front]["IPAddress"], web_ip.as_str());
    assert!(!v["NetworkSettings"]["MacAddress"].as_str().unwrap_or_default().is_empty());
    assert!(!v["NetworkSettings"]["Gateway"].as_str().unwrap_or_default().is_empty());

    // By name and alias through the network's resolver (busybox nslookup: the static busybox's libc
    // lookups cannot run in a container), then by address with nc and ping.
    let script = format!(
        "for i in $(seq 1 20); do nslookup web >/dev/null 2>&1 && break; sleep 0.25; done; \
         nslookup web | grep -q {web_ip} && echo byname; nslookup www | grep -q {web_ip} && echo byalias; \
         printf 'GET /hosts HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 80 | grep -q localhost && echo tcp; ping -c 1 -W 2 {web_ip} >/dev/null && echo ping; \
         grep -q \"$(hostname)\" /etc/hosts && echo hosts"
    );
    let out = env.ok(&["run", "--rm", "--network", &front, "busybox", "sh", "-c", &script]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["byname", "byalias", "tcp", "ping", "hosts"], "{out}");

    // Another network reaches neither the address nor the name.
    let probe = format!(
        "echo | nc -w 2 {web_ip} 80 >/dev/null 2>&1 && echo reached; \
         nslookup web 2>/dev/null | grep -q {web_ip} && echo named; echo probed"
    );
    let out = env.ok(&["run", "--rm", "--network", &back, "busybox", "sh", "-c", &probe]);
    assert_eq!(out.trim(), "probed", "{back} must not see {front}");

    // `network connect` joins the running container live; then its name resolves on `back` too.
    env.ok(&["network", "connect", &back, "web"]);
    let v = env.inspect("web");
    let back_ip = v["NetworkSettings"]["Networks"][&back]["IPAddress"].as_str().unwrap_or_default().to_string();
    assert!(back_ip.starts_with(&format!("10.191.{}.", env.octet)), "{v}");
    env.ok(&["run", "--rm", "--network", &back, "busybox", "sh", "-c", &format!("echo | nc -w 2 {back_ip} 80")]);
    env.fails(&["network", "connect", &back, "web"]);
    env.ok(&["network", "disconnect", &back, "web"]);
    assert!(env.inspect("web")["NetworkSettings"]["Networks"][&back].is_null());

    // A network a container names cannot go, even once the container stopped.
    let (_, err) = env.fails(&["network", "rm", &front]);
    assert!(err.contains("active endpoints"), "{err}");
    env.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(ip(&env, "web"), "", "a stopped container keeps no address");
    env.fails(&["network", "rm", &front]);

    // none: only lo, and up (IFF_UP | IFF_LOOPBACK), whether the namespace was made ahead by a standing-by
    // monitor (`run`) or by the runtime (`create` then `start`); host: the host's interfaces.
    let out = env.ok(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let lo_flags = ["--network", "none", "busybox", "cat", "/sys/class/net/lo/flags"];
    assert_eq!(env.ok(&[&["run", "--rm"][..], &lo_flags[..]].concat()).trim(), "0x9");
    let created = env.ok(&[&["create"][..], &lo_flags[..]].concat()).trim().to_string();
    assert_eq!(env.ok(&["start", "-a", &created]).trim(), "0x9");
    env.ok(&["rm", &created]);
    // Links other processes add or remove meanwhile do not count: only those there before and after.
    let host_before = links();
    let out = env.ok(&["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
    let inside: HashSet<String> = out.split_whitespace().map(str::to_string).collect();
    assert!(inside.len() > 1, "host mode must see more than lo: {inside:?}");
    let steady: Vec<String> = links().intersection(&host_before).cloned().collect();
    assert!(steady.iter().all(|l| inside.contains(l)), "host view {inside:?} lacks some of {steady:?}");
    env.fails(&["run", "--rm", "--network", "host", "-p", "80", "busybox", "true"]);

    env.ok(&["rm", "web"]);
    let bridges = [bridge_of(&env, &front), bridge_of(&env, &back), env.bridge.clone()];
    let bridges: Vec<&str> = bridges.iter().map(String::as_str).collect();
    assert_eq!(veths_on(&bridges), Vec::<String>::new(), "veths left on this test's bridges");
    env.ok(&["network", "rm", &front, &back]);
    let left: Vec<&str> = bridges[..2].iter().copied().filter(|b| links().contains(*b)).collect();
    assert!(left.is_empty(), "bridges left: {left:?}");
}

#[test]
fn published_port_answers_on_localhost_and_goes_with_the_container() {
    if !require_root("published_port_answers_on_localhost_and_goes_with_the_container") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let publish = format!("127.0.0.1:{port}:80");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "site",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello-berth > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    assert_eq!(env.ok(&["port", "site"]).trim(), format!("80/tcp -> 127.0.0.1:{port}"));
    let shown = format!("127.0.0.1:{port}->80/tcp");
    let ps = env.ok(&["ps"]);
    assert!(ps.lines().any(|l| l.contains(&shown) && l.ends_with("site")), "ps PORTS column:\n{ps}");
    let json: serde_json::Value = serde_json::from_str(env.ok(&["ps", "--format", "json"]).trim()).unwrap();
    assert_eq!(json["Ports"], shown.as_str());
    let bindings = &env.inspect("site")["NetworkSettings"]["Ports"]["80/tcp"][0];
    assert_eq!(bindings["HostPort"], port.to_string().as_str());

    let get = || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        use std::io::{Read, Write};
        stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        Some(body)
    };
    env.wait_for("httpd to answer on the published port", 10, || get().is_some_and(|b| b.contains("hello-berth")));
    assert!(rules(&env).contains(&port.to_string()));

    env.ok(&["rm", "-f", "site"]);
    assert!(!rules(&env).contains(&format!("dport {port}")), "rule left: {}", rules(&env));
    assert!(get().is_none_or(|b| !b.contains("hello-berth")));

    // -P publishes what the image exposes; busybox exposes nothing, so no mapping appears.
    env.ok(&["run", "-d", "--name", "all", "-P", "busybox", "sleep", "30"]);
    assert_eq!(env.ok(&["port", "all"]).trim(), "");
    env.ok(&["rm", "-f", "all"]);
}

#[test]
fn twenty_parallel_containers_get_distinct_addresses_and_leave_nothing() {
    if !require_root("twenty_parallel_containers_get_distinct_addresses_and_leave_nothing") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let names: Vec<String> = (0..20).map(|i| format!("par{i}")).collect();
    std::thread::scope(|s| {
        for name in &names {
            let env = &env;
            s.spawn(move || env.ok(&["run", "-d", "--name", name, "busybox", "sleep", "60"]));
        }
    });
    let ips: HashSet<String> = names.iter().map(|n| ip(&env, n)).collect();
    assert_eq!(ips.len(), 20, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.")), "{ips:?}");
    assert!(!rules(&env).is_empty(), "the table exists while containers run");
    let ids = env.ids();

    std::thread::scope(|s| {
        for name in &names {
            let env = &env;
            s.spawn(move || env.ok(&["rm", "-f", name]));
        }
    });
    assert_eq!(veths_on(&[&env.bridge]), Vec::<String>::new(), "veths left on this test's bridge");
    // Named namespaces of other programs come and go: only ones naming these containers count.
    let named: Vec<String> =
        netns_entries().into_iter().filter(|n| ids.iter().any(|id| n.contains(&id[..12]))).collect();
    assert!(named.is_empty(), "network namespaces left: {named:?}");
    let table = rules(&env);
    assert!(ips.iter().all(|ip| !table.contains(ip.as_str())), "{table}");
    let out = std::process::Command::new("ip").args(["-4", "addr", "show"]).output().expect("ip");
    for ip in &ips {
        assert!(!String::from_utf8_lossy(&out.stdout).contains(&format!("{ip}/")), "{ip} still on the host");
    }
}

#[test]
fn a_failed_start_leaves_no_network_behind() {
    if !require_root("a_failed_start_leaves_no_network_behind") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let (code, _) = env.fails(&["run", "--name", "bad", "busybox", "/no/such/binary"]);
    assert_eq!(code, Some(127));
    assert_eq!(veths_on(&[&env.bridge]), Vec::<String>::new(), "veths left on this test's bridge");
    let (_, err) = env.fails(&["run", "--network", "nosuchnet", "busybox", "true"]);
    assert!(err.contains("nosuchnet"), "{err}");
    env.fails(&["run", "-p", "notaport", "busybox", "true"]);
}

#[test]
fn a_killed_monitor_leaves_no_network_behind_after_the_next_command() {
    if !require_root("a_killed_monitor_leaves_no_network_behind_after_the_next_command") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let id = env
        .ok(&["run", "-d", "--name", "orphan", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "60"])
        .trim()
        .to_string();
    let address = ip(&env, "orphan");
    let veth = veth_of(&env, "bridge", &id);
    assert!(links().contains(&veth), "the running container's veth is {veth}");
    assert!(rules(&env).contains(&format!("dport {port}")), "{}", rules(&env));
    let monitor = rt::monitor_pid(&id).expect("the monitor process");
    std::process::Command::new("kill").args(["-9", &monitor.to_string()]).status().expect("kill");
    env.wait_for("the monitor to die", 10, || !rt::pid_alive(monitor));

    // Any command reconciles: the container is exited and its veth, address, port rule and netns are gone.
    assert_eq!(env.status("orphan"), "exited");
    assert_eq!(ip(&env, "orphan"), "");
    assert_eq!(veths_on(&[&env.bridge]), Vec::<String>::new(), "veths left on this test's bridge");
    assert!(!links().contains(&veth), "the veth {veth} of the dead container is left");
    let table = rules(&env);
    assert!(!table.contains(&format!("dport {port}")) && !table.contains(&address), "{table}");
    env.ok(&["rm", "orphan"]);
    env.assert_no_leftovers(&id);
}

/// Processes whose command line names this root and `network_id` (a network's DNS resolvers), monitors
/// aside. Zombies have no command line, so only live ones count.
fn resolvers(env: &Env, network_id: &str) -> Vec<i32> {
    let root = env.root().to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = args.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            args.contains(&root) && args.contains(&network_id.to_string()) && !args.contains(&"__monitor".into())
        })
        .collect()
}

/// Zombie children of `parent`, read from /proc/<pid>/stat.
fn zombies_under(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name in parentheses: state, then the parent's pid.
            let mut rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default().split(' ');
            let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse::<i32>().ok()));
            state == Some("Z") && ppid == Some(parent)
        })
        .collect()
}

#[test]
fn a_network_s_second_resolver_leaves_no_zombie_under_the_monitors() {
    if !require_root("a_network_s_second_resolver_leaves_no_zombie_under_the_monitors") {
        return;
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new();
    let net = format!("bdn{}", std::process::id());
    let network_id = env.ok(&["network", "create", "--subnet", &subnet(&env, 2), &net]).trim().to_string();
    // Each start spawns the network's resolver; the second and the restarted one find the first serving
    // and end, and their parent (the spawner) must have reaped them.
    let a = env.ok(&["run", "-d", "--name", "zomb-a", "--network", &net, "busybox", "sleep", "300"]).trim().to_string();
    let b = env.ok(&["run", "-d", "--name", "zomb-b", "--network", &net, "busybox", "sleep", "300"]).trim().to_string();
    env.ok(&["restart", "-t", "0", "zomb-a"]);
    env.wait_for("the extra resolvers to end", 60, || resolvers(&env, &network_id).len() <= 1);
    assert_eq!(resolvers(&env, &network_id).len(), 1, "the network keeps one resolver while it has containers");

    for id in [&a, &b] {
        let monitor = rt::monitor_pid(id).expect("the monitor process");
        assert_eq!(zombies_under(monitor), Vec::<i32>::new(), "zombies under the monitor of {id}");
    }
    // The resolver belongs to no monitor: it outlives them and ends by itself.
    let resolver = resolvers(&env, &network_id)[0];
    let stat = std::fs::read_to_string(format!("/proc/{resolver}/stat")).unwrap_or_default();
    let ppid: i32 = stat.rsplit_once(") ").and_then(|(_, r)| r.split(' ').nth(1)?.parse().ok()).unwrap_or(0);
    assert!(![&a, &b].iter().any(|id| rt::monitor_pid(id) == Some(ppid)), "the resolver is a monitor's child");
    env.ok(&["rm", "-f", "zomb-a", "zomb-b"]);
    env.wait_for("the resolver to end once its network is empty", 30, || resolvers(&env, &network_id).is_empty());
}

/// A DNS server on `addr` answering every A query with `answer` (and AAAA with no address), for as long as
/// the test process lives.
fn fake_dns_server(addr: std::net::SocketAddr, answer: [u8; 4]) {
    let socket = std::net::UdpSocket::bind(addr).expect("bind the fake DNS server");
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            // Header (12 bytes), then the one question: name, type, class.
            if len < 17 {
                continue;
            }
            let question = &buf[12..len];
            let is_a = question[question.len() - 4..question.len() - 2] == [0, 1];
            let mut reply = vec![buf[0], buf[1], 0x81, 0x80, 0, 1, 0, u8::from(is_a), 0, 0, 0, 0];
            reply.extend_from_slice(question);
            if is_a {
                reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
                reply.extend_from_slice(&answer);
            }
            let _ = socket.send_to(&reply, from);
        }
    });
}

#[test]
fn a_containers_dns_servers_answer_what_its_network_does_not_know() {
    if !require_root("a_containers_dns_servers_answer_what_its_network_does_not_know") {
        return;
    }
    let env = Env::new();
    let net = format!("bdns{}", std::process::id());
    env.ok(&["network", "create", "--subnet", &subnet(&env, 3), &net]);
    // The container's --dns server: a loopback address of this test's own (the resolver relays from the
    // host, where loopback reaches it).
    let server = format!("127.53.{}.1", env.octet);
    fake_dns_server(format!("{server}:53").parse().unwrap(), [192, 0, 2, 99]);
    // Asked once, as the command's first act: the network's resolver listens before the container starts
    // (busybox's nslookup gives up at once on a refused query, as it did while the resolver still started).
    let script = "nslookup bdns-outside.example; grep nameserver /etc/resolv.conf";
    let out = env.ok(&["run", "--rm", "--network", &net, "--dns", &server, "busybox", "sh", "-c", script]);
    assert!(out.contains("192.0.2.99"), "the name went to the container's --dns server: {out}");
    assert!(!out.contains(&format!("nameserver {server}")), "names of the network still resolve first: {out}");
    env.ok(&["network", "rm", &net]);
}
