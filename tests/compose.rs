//! `berth compose` on real containers: a multi-service project (a healthcheck-gated dependency, replicas,
//! profiles, a build section, bind and named volumes, an internal network, DNS by service name, a port
//! published on 127.0.0.1, `.env` interpolation) brought up twice (nothing changes), a changed service
//! recreated alone, and `down -v` leaving none of the project's containers, networks, volumes, rules or
//! veths; and malformed files, each refused with the file, line and key. The project test needs root
//! (skips loudly otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use berth_engine::network::netlink::Socket;
use rt::{Env, require_root};

const PATIENCE: u64 = 90;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `berth compose ARGS` in `dir`.
fn compose(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    env.command(&full).current_dir(dir).env_remove("COMPOSE_FILE").env_remove("COMPOSE_PROJECT_NAME").output().unwrap()
}

fn compose_ok(env: &Env, dir: &Path, args: &[&str]) -> (String, String) {
    let out = compose(env, dir, args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "compose {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
    (stdout, stderr)
}

/// Container names to ids, of this project only.
fn project_ids(env: &Env, project: &str) -> BTreeMap<String, String> {
    let filter = format!("label=com.docker.compose.project={project}");
    env.ok(&["ps", "-a", "--no-trunc", "--filter", &filter, "--format", "{{.Names}} {{.ID}}"])
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(n, i)| (n.to_string(), i.to_string())))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the published port");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn links() -> HashSet<String> {
    Socket::open().expect("netlink").link_names().expect("links").into_iter().collect()
}

/// The host end of a container's veth on a network, named as the engine names it.
fn veth_of(env: &Env, network: &str, container_id: &str) -> String {
    use sha2::Digest;
    let doc: serde_json::Value = serde_json::from_str(&env.ok(&["network", "inspect", network])).expect("inspect");
    let network_id = doc[0]["Id"].as_str().expect("network id");
    let hash = hex::encode(sha2::Sha256::digest(format!("{network_id}/{container_id}")));
    format!("vb{}", &hash[..11])
}

fn project_files(dir: &Path, worker_sleep: u32, port: u16, subnet: &str, project: &str) {
    write(dir, ".env", &format!("PROJECT={project}\nWEB_PORT={port}\nBACK_SUBNET={subnet}\n"));
    write(
        dir,
        "compose.yaml",
        &format!(
            r#"name: ${{PROJECT}}
services:
  db:
    image: busybox
    command: sh -c "echo ready > /data/ready; exec httpd -f -p 80 -h /data"
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/ready"]
      interval: 1s
      retries: 60
    volumes: [dbdata:/data]
    networks: [default, back]
  web:
    build:
      context: ./web
      args: {{GREETING: hello}}
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: ["127.0.0.1:${{WEB_PORT}}:8080"]
    depends_on:
      db: {{condition: service_healthy}}
    volumes: ["./site:/www:ro"]
  worker:
    image: busybox
    command: sh -c "echo working; exec sleep {worker_sleep}"
    deploy: {{replicas: 2}}
    networks: [back]
  debug:
    image: busybox
    profiles: [debug]
    command: sleep 300
networks:
  back:
    internal: true
    ipam:
      config: [{{subnet: "${{BACK_SUBNET}}"}}]
volumes:
  dbdata: {{}}
"#
        ),
    );
    write(dir, "web/Dockerfile", "FROM busybox\nARG GREETING\nRUN echo $GREETING > /greeting\n");
    write(dir, "site/index.html", "from the site\n");
}

#[test]
fn bc_a_project_comes_up_stays_up_changes_alone_and_goes_down() {
    if !require_root("bc_a_project_comes_up_stays_up_changes_alone_and_goes_down") {
        return;
    }
    let env = Env::new();
    let project = format!("bc{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let port = free_port();
    let subnet = format!("10.211.{}.0/24", env.octet);
    project_files(dir, 300, port, &subnet, &project);

    let (_, stderr) = compose_ok(&env, dir, &["up", "-d"]);
    assert!(stderr.contains(&format!("Network {project}_default  Created")), "{stderr}");
    assert!(stderr.contains(&format!("Container {project}-db-1  Healthy")), "web waited for db: {stderr}");
    let ids = project_ids(&env, &project);
    let names: Vec<&str> = ids.keys().map(String::as_str).collect();
    let want = [
        format!("{project}-db-1"),
        format!("{project}-web-1"),
        format!("{project}-worker-1"),
        format!("{project}-worker-2"),
    ];
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>(), "replicas, and no profiled service");

    let web = format!("{project}-web-1");
    let labels = &env.inspect(&web)["Config"]["Labels"];
    assert_eq!(labels["com.docker.compose.project"], project.as_str());
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["com.docker.compose.project.working_dir"], dir.to_str().unwrap());
    assert_eq!(labels["com.docker.compose.config-hash"].as_str().map(str::len), Some(64));
    // The build section's image, with its build argument.
    assert_eq!(env.ok(&["exec", &web, "cat", "/greeting"]), "hello\n");
    // DNS by service name on the project network; the named volume's content served by db.
    assert_eq!(env.ok(&["exec", &web, "wget", "-qO-", "http://db/ready"]), "ready\n");
    // The published port answered from the host, serving the bind-mounted site.
    env.wait_for("web to answer on its published port", PATIENCE, || TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(http_get(port, "/index.html").ends_with("from the site\n"));
    let back: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", &format!("{project}_back")])).unwrap();
    assert_eq!(back[0]["Internal"], true);
    assert_eq!(back[0]["IPAM"]["Config"][0]["Subnet"], subnet.as_str(), ".env interpolation in ipam");
    assert!(env.ok(&["volume", "ls", "--format", "{{.Name}}"]).lines().any(|v| v == format!("{project}_dbdata")));
    let (ps, _) = compose_ok(&env, dir, &["ps"]);
    assert!(ps.lines().next().unwrap().starts_with("NAME"), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->8080/tcp")), "{ps}");

    // The other verbs over the same containers.
    assert_eq!(compose_ok(&env, dir, &["exec", "-T", "web", "cat", "/greeting"]).0, "hello\n");
    assert_eq!(compose_ok(&env, dir, &["port", "web", "8080"]).0, format!("127.0.0.1:{port}\n"));
    let (ls, _) = compose_ok(&env, dir, &["ls"]);
    assert!(ls.lines().any(|l| l.starts_with(&project) && l.contains("running(4)")), "{ls}");
    let (top, _) = compose_ok(&env, dir, &["top", "worker"]);
    assert!(top.contains(&format!("{project}-worker-2")) && top.contains("sleep 300"), "{top}");
    env.wait_for("the workers' output", PATIENCE, || compose_ok(&env, dir, &["logs", "worker"]).0.lines().count() == 2);
    let (logs, _) = compose_ok(&env, dir, &["logs", "worker"]);
    let lines: Vec<&str> = logs.lines().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(lines, [format!("{project}-worker-1  | working"), format!("{project}-worker-2  | working")], "{logs}");
    let (run, _) = compose_ok(&env, dir, &["run", "--rm", "worker", "echo", "one-off"]);
    assert_eq!(run, "one-off\n");
    env.wait_for("the --rm one-off to go", PATIENCE, || project_ids(&env, &project).len() == 4);

    // Unchanged: nothing is recreated.
    let (_, stderr) = compose_ok(&env, dir, &["up", "-d"]);
    assert_eq!(project_ids(&env, &project), ids, "up on an unchanged project changed containers: {stderr}");
    assert!(stderr.contains(&format!("Container {project}-worker-2  Running")), "{stderr}");
    assert!(!stderr.contains("Recreate"), "{stderr}");

    // A changed service is recreated alone.
    project_files(dir, 301, port, &subnet, &project);
    let (_, stderr) = compose_ok(&env, dir, &["up", "-d"]);
    let after = project_ids(&env, &project);
    for (name, id) in &ids {
        if name.contains("-worker-") {
            assert_ne!(&after[name], id, "{name} should have been recreated: {stderr}");
        } else {
            assert_eq!(&after[name], id, "{name} should have stayed: {stderr}");
        }
    }

    // `down -v` leaves nothing of the project.
    let bridges: Vec<String> = ["default", "back"]
        .iter()
        .map(|n| {
            let doc: serde_json::Value =
                serde_json::from_str(&env.ok(&["network", "inspect", &format!("{project}_{n}")])).unwrap();
            format!("br-{}", &doc[0]["Id"].as_str().unwrap()[..12])
        })
        .collect();
    let mut veths = Vec::new();
    for (name, id) in &after {
        let net = if name.contains("-worker-") { "back" } else { "default" };
        veths.push(veth_of(&env, &format!("{project}_{net}"), id));
    }
    assert!(veths.iter().all(|v| links().contains(v)), "the veths are named as expected");
    let (_, stderr) = compose_ok(&env, dir, &["down", "-v"]);
    assert!(stderr.contains(&format!("Volume {project}_dbdata  Removed")), "{stderr}");
    assert!(project_ids(&env, &project).is_empty(), "containers left");
    let networks = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains(&project), "networks left: {networks}");
    assert!(!env.ok(&["volume", "ls", "--format", "{{.Name}}"]).contains(&project), "volumes left");
    let now = links();
    for link in bridges.iter().chain(&veths) {
        assert!(!now.contains(link), "{link} left");
    }
    let rules = std::process::Command::new("nft").args(["list", "table", "inet", &env.table]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains(&port.to_string()), "a port rule left: {rules}");
    for bridge in &bridges {
        assert!(!rules.contains(bridge.as_str()), "a rule of {bridge} left: {rules}");
    }
}

/// One malformed file and the words its error must hold.
fn refused(env: &Env, dir: &Path, name: &str, text: &str, needles: &[&str]) {
    write(dir, name, text);
    let out = compose(env, dir, &["-f", name, "config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name} was accepted");
    let path = dir.join(name);
    assert!(
        stderr.contains(path.to_str().unwrap()) || needles.iter().any(|n| n.starts_with("dependency")),
        "{name}: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{name}: no {needle:?} in {stderr}");
    }
}

#[test]
fn bc_malformed_files_are_refused_naming_file_line_and_key() {
    if !require_root("bc_malformed_files_are_refused_naming_file_line_and_key") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    refused(
        &env,
        dir,
        "unknown.yaml",
        "services:\n  web:\n    imagee: x\n",
        &["unknown.yaml:3:", "services.web.imagee: unknown field `imagee`"],
    );
    refused(
        &env,
        dir,
        "type.yaml",
        "services:\n  web:\n    image: x\n    ports: 80\n",
        &["type.yaml:4:", "services.web.ports: invalid type: integer `80`"],
    );
    refused(
        &env,
        dir,
        "bool.yaml",
        "services:\n  web:\n    image: x\n    read_only: maybe\n",
        &["services.web.read_only: expected a boolean"],
    );
    refused(&env, dir, "syntax.yaml", "services:\n  web:\n    image: x\n  ports: [\n", &["syntax.yaml:5:"]);
    refused(
        &env,
        dir,
        "cycle.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
        &["dependency cycle detected: a -> b -> c -> a"],
    );
    refused(
        &env,
        dir,
        "required.yaml",
        "services:\n  a: {image: \"x:${BC_UNSET_TAG:?set a tag}\"}\n",
        &["services.a.image: required variable BC_UNSET_TAG is missing a value: set a tag"],
    );
    refused(
        &env,
        dir,
        "links.yaml",
        "services:\n  a:\n    image: x\n    links: [b]\n",
        &["services.a.links: berth does not support this key"],
    );
    refused(
        &env,
        dir,
        "noimage.yaml",
        "services:\n  a:\n    command: [\"true\"]\n",
        &["services.a: has neither an image nor build"],
    );
    refused(
        &env,
        dir,
        "undefined.yaml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n",
        &["services.a: depends on undefined service \"b\""],
    );
}

#[test]
fn bc_files_merge_in_order_with_env_and_extends() {
    if !require_root("bc_files_merge_in_order_with_env_and_extends") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, ".env", "TAG=1.0\nPORT=8000\n");
    write(
        dir,
        "compose.yaml",
        "services:\n  base:\n    image: busybox\n    environment: {A: one, B: two}\n  web:\n    extends: base\n    image: \"app:${TAG}\"\n    command: echo $$HOME\n    ports: [\"${PORT}:80\"]\n    volumes: [./a:/data]\n",
    );
    write(
        dir,
        "override.yaml",
        "services:\n  web:\n    environment: [B=zwei, C=drei]\n    ports: [\"9000:90\"]\n    volumes: [./b:/data]\n",
    );
    let (out, _) = compose_ok(&env, dir, &["-f", "compose.yaml", "-f", "override.yaml", "-p", "merged", "config"]);
    let doc: serde_json::Value = serde_norway_value(&out);
    let web = &doc["services"]["web"];
    assert_eq!(doc["name"], "merged");
    assert_eq!(web["image"], "app:1.0");
    assert_eq!(web["command"], "echo $HOME");
    assert_eq!(web["environment"], serde_json::json!({"A": "one", "B": "zwei", "C": "drei"}));
    assert_eq!(web["ports"], serde_json::json!(["8000:80", "9000:90"]));
    assert_eq!(web["volumes"], serde_json::json!([format!("{}/b:/data", dir.display())]), "merged by target");
    // The process environment wins over .env.
    let out = compose(&env, dir, &["config"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("app:1.0"));
    let mut cmd = env.command(&["compose", "config"]);
    let out = cmd.current_dir(dir).env("TAG", "2.0").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("app:2.0"));
}

/// `config`'s YAML as JSON, for comparisons.
fn serde_norway_value(yaml: &str) -> serde_json::Value {
    let value: serde_norway::Value = serde_norway::from_str(yaml).expect("config prints YAML");
    serde_json::to_value(value).unwrap()
}

#[test]
fn bc_push_sends_each_service_image_through_berth_push() {
    if !require_root("bc_push_sends_each_service_image_through_berth_push") {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = format!("{}/bc-pushed/app:1", env.registry().host());
    write(dir, "app/Dockerfile", "FROM busybox\nRUN echo pushed > /made\n");
    write(
        dir,
        "compose.yaml",
        &format!("services:\n  app:\n    image: {image}\n    build: ./app\n  plain:\n    build: ./app\n"),
    );
    compose_ok(&env, dir, &["-p", "bcpush", "build", "app"]);
    let (_, err) = compose_ok(&env, dir, &["-p", "bcpush", "push"]);
    assert!(err.contains("app") && err.contains("Pushed"), "{err}");
    // What the registry got runs: removed here, pulled back and run.
    env.ok(&["rmi", &image]);
    env.ok(&["pull", &image]);
    assert_eq!(env.ok(&["run", "--rm", &image, "cat", "/made"]).trim(), "pushed");
}

/// `berth compose ARGS` in `dir` with `input` on its stdin (a pipe, not a terminal).
fn compose_piped(env: &Env, dir: &Path, args: &[&str], input: &str) -> std::process::Output {
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    let mut child = env
        .command(&full)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn started_at(env: &Env, name: &str) -> String {
    env.inspect(name)["State"]["StartedAt"].as_str().unwrap_or_default().to_string()
}

fn fidelity_files(dir: &Path, subnet_prefix: &str, db_env: &str) {
    write(
        dir,
        "compose.yaml",
        &format!(
            r#"services:
  db:
    image: busybox
    command: sh -c "mkdir -p /www && echo from-db > /www/index.html && exec httpd -f -p 80 -h /www"
    environment: {{MARK: "{db_env}"}}
    expose: ["5432", "7000-7001/udp"]
    networks:
      back:
        ipv4_address: {subnet_prefix}.50
      front:
        aliases: [db-front]
  app:
    image: busybox
    command: sleep 300
    depends_on:
      db: {{condition: service_started, restart: true}}
    networks: [front]
  other:
    image: busybox
    command: sleep 300
    depends_on: [db]
    networks: [front]
  tool:
    image: busybox
    command: cat
    profiles: [tools]
    networks: [back]
networks:
  front: {{}}
  back:
    ipam:
      config: [{{subnet: "{subnet_prefix}.0/24"}}]
"#
        ),
    );
}

#[test]
fn bp_fixed_address_aliases_everywhere_expose_dependency_restart_and_piped_run() {
    if !require_root("bp_fixed_address_aliases_everywhere_expose_dependency_restart_and_piped_run") {
        return;
    }
    let env = Env::new();
    let project = format!("bp{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let prefix = format!("10.212.{}", env.octet);
    fidelity_files(dir, &prefix, "one");
    let p = ["-p", project.as_str()];
    compose_ok(&env, dir, &[&p[..], &["up", "-d"]].concat());
    let (db, app, other) = (format!("{project}-db-1"), format!("{project}-app-1"), format!("{project}-other-1"));

    // ipv4_address: the fixed address on the network with ipam.
    let doc = env.inspect(&db);
    let networks = &doc["NetworkSettings"]["Networks"];
    assert_eq!(networks[format!("{project}_back")]["IPAddress"], format!("{prefix}.50"), "{networks}");
    // expose: recorded in Config.ExposedPorts as docker records it.
    let exposed = doc["Config"]["ExposedPorts"].as_object().expect("ExposedPorts");
    let keys: Vec<&str> = exposed.keys().map(String::as_str).collect();
    assert_eq!(keys, ["5432/tcp", "7000/udp", "7001/udp"]);
    // Aliases on the second network too (back sorts first): the service name and db-front on front.
    let aliases = &networks[format!("{project}_front")]["Aliases"];
    assert!(
        aliases.as_array().is_some_and(|a| a.contains(&"db".into()) && a.contains(&"db-front".into())),
        "{aliases}"
    );
    env.wait_for("db to serve", PATIENCE, || {
        env.command(&["exec", &app, "wget", "-qO-", "http://db/"]).output().is_ok_and(|o| o.status.success())
    });
    assert_eq!(env.ok(&["exec", &app, "wget", "-qO-", "http://db-front/"]), "from-db\n");

    // restart: true — restarting db restarts app, not other.
    let (app_before, other_before) = (started_at(&env, &app), started_at(&env, &other));
    let (_, stderr) = compose_ok(&env, dir, &[&p[..], &["restart", "db"]].concat());
    assert!(stderr.contains(&format!("Container {app}  Restarting")), "{stderr}");
    assert_ne!(started_at(&env, &app), app_before, "app restarted with db");
    assert_eq!(started_at(&env, &other), other_before, "other has no restart: true");
    // ... and so does recreating db in `up`, which leaves app's container in place.
    let app_id = env.inspect(&app)["Id"].clone();
    let app_before = started_at(&env, &app);
    fidelity_files(dir, &prefix, "two");
    let (_, stderr) = compose_ok(&env, dir, &[&p[..], &["up", "-d"]].concat());
    assert!(stderr.contains(&format!("Container {db}  Recreate")), "{stderr}");
    assert_eq!(env.inspect(&app)["Id"], app_id, "app is restarted, not recreated: {stderr}");
    assert_ne!(started_at(&env, &app), app_before, "app restarted after db was recreated: {stderr}");
    assert_eq!(started_at(&env, &other), other_before, "{stderr}");
    let doc = env.inspect(&db);
    assert_eq!(doc["NetworkSettings"]["Networks"][format!("{project}_back")]["IPAddress"], format!("{prefix}.50"));

    // run -T: piped stdin reaches the one-off, no pty.
    let out =
        compose_piped(&env, dir, &[&p[..], &["--profile", "tools", "run", "--rm", "-T", "tool"]].concat(), "piped\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\n", "{stderr}");
    let out =
        compose_piped(&env, dir, &[&p[..], &["run", "--rm", "-T", "tool", "sh", "-c", "tty; exit 3"]].concat(), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not a tty\n", "{stderr}");

    compose_ok(&env, dir, &[&p[..], &["down"]].concat());
    assert!(project_ids(&env, &project).is_empty());
}

#[test]
fn bp_the_tuis_project_operations_are_the_engines_compose_use_cases() {
    use berth_ui::backend::{Backend, EngineBackend, ProjectOp};
    if !require_root("bp_the_tuis_project_operations_are_the_engines_compose_use_cases") {
        return;
    }
    let env = Env::new();
    let project = format!("bpt{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(
        dir,
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    command: sleep 300\n  side:\n    image: busybox\n    command: sleep 300\n",
    );
    compose_ok(&env, dir, &["-p", &project, "up", "-d"]);
    berth_engine::testing::use_monitor_executable(env!("CARGO_BIN_EXE_berth").into());
    let config = berth_engine::Config::load_from(&env.root().join("config.toml")).unwrap();
    let engine = berth_engine::Engine::open(berth_engine::EngineOptions { root: env.root().to_path_buf(), config })
        .expect("open the engine");
    let backend = EngineBackend::new(std::sync::Arc::new(engine), env!("CARGO_BIN_EXE_berth").into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let op = |op: ProjectOp| runtime.block_on(backend.project_op(project.clone(), op));

    // The project is found again from its containers' labels, so the files it names are read afresh.
    op(ProjectOp::Scale { service: "web".into(), replicas: 2 }).expect("scale");
    let names: Vec<String> = project_ids(&env, &project).into_keys().collect();
    assert_eq!(names, [format!("{project}-side-1"), format!("{project}-web-1"), format!("{project}-web-2")]);
    let before = started_at(&env, &format!("{project}-side-1"));
    op(ProjectOp::Restart).expect("restart");
    assert_ne!(started_at(&env, &format!("{project}-side-1")), before, "restart reaches every service");
    op(ProjectOp::Down).expect("down");
    assert!(project_ids(&env, &project).is_empty());
    assert!(!env.ok(&["network", "ls", "--format", "{{.Name}}"]).contains(&project), "the project network went");
    let err = op(ProjectOp::Up).unwrap_err().to_string();
    assert!(err.contains(&project) && err.contains("records its files"), "{err}");
}
