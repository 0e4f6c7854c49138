//! `berth kube generate|play|down` with real containers: generated YAML read back into k8s-openapi's typed
//! models and compared field by field, that YAML played back serving the same port from the same volume,
//! a Deployment's replicas as pods whose containers share one network namespace, `down` leaving nothing,
//! and files that are malformed or ask for what berth cannot do refused by name. Needs root (skips loudly
//! otherwise; CI=true forbids skipping).

mod rt;
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rt::{Env, require_root};
use serde::Deserialize;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The documents of a YAML stream as JSON values, by kind.
fn documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde_json::Value::deserialize(doc).expect("generated YAML parses"))
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(docs: &[serde_json::Value], kind: &str) -> Vec<T> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_json::from_value(d.clone()).unwrap_or_else(|e| panic!("{kind} as the API defines it: {e}\n{d}")))
        .collect()
}

/// The body an HTTP GET of / on 127.0.0.1:`port` answers, if any.
fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// Names of this root's containers that begin with `bk`.
fn bk_containers(env: &Env) -> Vec<String> {
    env.ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().filter(|n| n.starts_with("bk")).map(String::from).collect()
}

fn bk_volumes(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls", "-q"]).lines().filter(|n| n.starts_with("bk")).map(String::from).collect()
}

const SITE: &str = "mkdir -p /data/www && echo hello-kube > /data/www/index.html && exec httpd -f -p 80 -h /data/www";

#[test]
fn bk_generate_writes_typed_objects_field_by_field() {
    if !require_root("bk_generate_writes_typed_objects_field_by_field") {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("{port}:80");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bk-web",
        "-e",
        "GREETING=hi",
        "-e",
        "EMPTY=",
        "-p",
        &publish,
        "-v",
        "bk-data:/data",
        "--health-cmd",
        "test -f /data/www/index.html",
        "--health-interval",
        "5s",
        "--health-timeout",
        "2s",
        "--health-retries",
        "4",
        "--health-start-period",
        "3s",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "-w",
        "/data",
        "-u",
        "0",
        "--label",
        "tier=front",
        "--label",
        "Not A Label=x",
        "--init",
        "--entrypoint",
        "sh",
        "busybox",
        "-c",
        SITE,
    ]);
    let out = env.command(&["kube", "generate", "bk-web"]).output().expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("container bk-web: --init cannot be expressed in Kubernetes"), "{stderr}");
    assert!(stderr.contains("label \"Not A Label\" is not a valid Kubernetes label"), "{stderr}");
    let docs = documents(&String::from_utf8_lossy(&out.stdout));

    let pods: Vec<Pod> = of_kind(&docs, "Pod");
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(pod.metadata.name.as_deref(), Some("bk-web-pod"));
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert_eq!(labels.get("app").map(String::as_str), Some("bk-web-pod"));
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("Not A Label").map(String::as_str), Some("x"));
    let spec = pod.spec.as_ref().expect("pod spec");
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let [c] = spec.containers.as_slice() else { panic!("one container: {spec:?}") };
    assert_eq!(c.name, "bk-web");
    assert_eq!(c.image.as_deref(), Some("busybox"));
    assert_eq!(c.command.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(c.args.as_deref(), Some(&["-c".to_string(), SITE.to_string()][..]));
    assert_eq!(c.working_dir.as_deref(), Some("/data"));
    let env_vars: Vec<(String, Option<String>)> =
        c.env.iter().flatten().map(|e| (e.name.clone(), e.value.clone())).collect();
    assert_eq!(env_vars, [("GREETING".into(), Some("hi".into())), ("EMPTY".into(), Some(String::new()))]);
    let [p] = c.ports.as_deref().unwrap_or_default() else { panic!("one port: {c:?}") };
    assert_eq!((p.container_port, p.host_port, p.protocol.as_deref()), (80, Some(port.into()), Some("TCP")));
    let limits = c.resources.as_ref().and_then(|r| r.limits.clone()).unwrap_or_default();
    assert_eq!(
        limits,
        BTreeMap::from([("cpu".to_string(), Quantity("500m".into())), ("memory".to_string(), Quantity("64Mi".into()))])
    );
    let probe = c.liveness_probe.as_ref().expect("liveness probe from the healthcheck");
    let command = probe.exec.as_ref().and_then(|e| e.command.clone()).unwrap_or_default();
    assert_eq!(command, ["/bin/sh", "-c", "test -f /data/www/index.html"]);
    assert_eq!(
        (probe.period_seconds, probe.timeout_seconds, probe.failure_threshold, probe.initial_delay_seconds),
        (Some(5), Some(2), Some(4), Some(3))
    );
    assert_eq!(c.security_context.as_ref().and_then(|s| s.run_as_user), Some(0));
    let [mount] = c.volume_mounts.as_deref().unwrap_or_default() else { panic!("one mount: {c:?}") };
    assert_eq!((mount.name.as_str(), mount.mount_path.as_str()), ("bk-data", "/data"));
    let [volume] = spec.volumes.as_deref().unwrap_or_default() else { panic!("one volume: {spec:?}") };
    assert_eq!(volume.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()), Some("bk-data"));

    let claims: Vec<PersistentVolumeClaim> = of_kind(&docs, "PersistentVolumeClaim");
    assert_eq!(claims.iter().map(|c| c.metadata.name.clone().unwrap_or_default()).collect::<Vec<_>>(), ["bk-data"]);
    assert!(of_kind::<Service>(&docs, "Service").is_empty(), "hostPort rather than a Service without --service");

    // With --service the published port is the Service's, aimed at the container's.
    let yaml = env.ok(&["kube", "generate", "--service", "bk-web"]);
    let docs = documents(&yaml);
    let services: Vec<Service> = of_kind(&docs, "Service");
    let [service] = services.as_slice() else { panic!("one Service: {yaml}") };
    let spec = service.spec.as_ref().expect("service spec");
    assert_eq!(spec.selector.as_ref().and_then(|s| s.get("app")).map(String::as_str), Some("bk-web-pod"));
    let [sp] = spec.ports.as_deref().unwrap_or_default() else { panic!("one service port: {yaml}") };
    assert_eq!((sp.port, sp.target_port.clone()), (i32::from(port), Some(IntOrString::Int(80))));
    let pods: Vec<Pod> = of_kind(&docs, "Pod");
    let port = &pods[0].spec.as_ref().unwrap().containers[0].ports.as_deref().unwrap_or_default()[0];
    assert_eq!((port.container_port, port.host_port), (80, None));

    // The hostPort form played back: the same port, limits, healthcheck and environment.
    let file = env.root().join("bk-web.yaml");
    env.ok(&["kube", "generate", "-f", file.to_str().unwrap(), "bk-web"]);
    env.ok(&["rm", "-f", "bk-web"]);
    env.ok(&["kube", "play", file.to_str().unwrap()]);
    let port = u16::try_from(p.host_port.unwrap()).unwrap();
    env.wait_for("the played pod to answer", 10, || get(port).is_some_and(|b| b.contains("hello-kube")));
    let doc = env.inspect("bk-web-pod-bk-web");
    assert_eq!(
        (doc["HostConfig"]["Memory"].as_i64(), doc["HostConfig"]["NanoCpus"].as_i64()),
        (Some(64 << 20), Some(500_000_000))
    );
    let health = &doc["Config"]["Healthcheck"];
    assert_eq!(health["Test"], serde_json::json!(["CMD", "/bin/sh", "-c", "test -f /data/www/index.html"]));
    assert_eq!((health["Interval"].as_i64(), health["Retries"].as_i64()), (Some(5_000_000_000), Some(4)));
    let env_list = doc["Config"]["Env"].as_array().cloned().unwrap_or_default();
    assert!(env_list.contains(&"GREETING=hi".into()), "{env_list:?}");
    assert_eq!((doc["Config"]["User"].as_str(), doc["Config"]["WorkingDir"].as_str()), (Some("0"), Some("/data")));
    env.ok(&["kube", "down", "--volumes", file.to_str().unwrap()]);
    assert!(bk_containers(&env).is_empty() && bk_volumes(&env).is_empty());
}

#[test]
fn bk_play_of_generated_yaml_serves_the_same_port_and_down_leaves_nothing() {
    if !require_root("bk_play_of_generated_yaml_serves_the_same_port_and_down_leaves_nothing") {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("{port}:80");
    env.ok(&["run", "-d", "--name", "bk-site", "-p", &publish, "-v", "bk-www:/data", "busybox", "sh", "-c", SITE]);
    env.wait_for("the original to answer", 10, || get(port).is_some_and(|b| b.contains("hello-kube")));
    let file = env.root().join("bk-site.yaml");
    env.ok(&["kube", "generate", "--service", "-f", file.to_str().unwrap(), "bk-site"]);
    env.ok(&["rm", "-f", "bk-site"]);
    assert!(get(port).is_none(), "the port is free again once the original is gone");

    let out = env.ok(&["kube", "play", file.to_str().unwrap()]);
    assert!(out.contains("Pod: bk-site-pod") && out.contains("Container: bk-site-pod-bk-site"), "{out}");
    env.wait_for("the played pod to answer on the same port", 10, || {
        get(port).is_some_and(|b| b.contains("hello-kube"))
    });
    let doc = env.inspect("bk-site-pod-bk-site");
    assert_eq!(doc["Config"]["Labels"]["io.berth.kube.pod"], "bk-site-pod");
    assert_eq!(doc["Mounts"][0]["Name"], "bk-www", "the claim is the original's volume: {}", doc["Mounts"]);

    let out = env.ok(&["kube", "down", file.to_str().unwrap()]);
    assert!(out.contains("Container: bk-site-pod-bk-site"), "{out}");
    assert!(bk_containers(&env).is_empty(), "{:?}", bk_containers(&env));
    assert_eq!(bk_volumes(&env), ["bk-www"], "a claim's volume stays without --volumes");
    let out = env.ok(&["kube", "down", "--volumes", file.to_str().unwrap()]);
    assert!(out.contains("Volume: bk-www"), "{out}");
    assert!(bk_volumes(&env).is_empty(), "{:?}", bk_volumes(&env));
    assert!(get(port).is_none(), "nothing answers after down");
}

#[test]
fn bk_play_runs_deployment_replicas_as_pods_sharing_one_network() {
    if !require_root("bk_play_runs_deployment_replicas_as_pods_sharing_one_network") {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let yaml = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bk-dep
spec:
  replicas: 2
  selector:
    matchLabels: {{app: bk-dep}}
  template:
    metadata:
      labels: {{app: bk-dep}}
    spec:
      volumes:
      - name: scratch
        emptyDir: {{}}
      containers:
      - name: web
        image: busybox
        command: [sh, -c, "mkdir -p /s && echo from-$HOSTNAME > /s/index.html && exec httpd -f -p 8080 -h /s"]
        ports:
        - {{name: http, containerPort: 8080}}
        volumeMounts:
        - {{name: scratch, mountPath: /s}}
      - name: side
        image: busybox
        command: [sleep, "300"]
        env:
        - {{name: ROLE, value: sidecar}}
        volumeMounts:
        - {{name: scratch, mountPath: /shared}}
---
apiVersion: v1
kind: Service
metadata:
  name: bk-dep
spec:
  selector: {{app: bk-dep}}
  ports:
  - {{port: {port}, targetPort: http}}
"#
    );
    let file = env.root().join("bk-dep.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = env.command(&["kube", "play", file.to_str().unwrap()]).output().expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("its ports are published by the first pod it selects; bk-dep-pod-2"), "{stderr}");
    let mut names = bk_containers(&env);
    names.sort();
    assert_eq!(names, ["bk-dep-pod-1-side", "bk-dep-pod-1-web", "bk-dep-pod-2-side", "bk-dep-pod-2-web"]);

    // Playing the file again touches nothing of the running pods.
    let (_, err) = env.fails(&["kube", "play", file.to_str().unwrap()]);
    assert!(err.contains("pod bk-dep-pod-1 already exists"), "{err}");
    assert_eq!(env.status("bk-dep-pod-1-web"), "running");

    // The Service's named targetPort is published by the first replica.
    env.wait_for("the first replica to answer", 10, || get(port).is_some_and(|b| b.contains("from-bk-dep-pod-1")));
    for pod in ["bk-dep-pod-1", "bk-dep-pod-2"] {
        let web = env.ok(&["exec", &format!("{pod}-web"), "readlink", "/proc/self/ns/net"]);
        let side = env.ok(&["exec", &format!("{pod}-side"), "readlink", "/proc/self/ns/net"]);
        assert_eq!(web, side, "{pod}: the sidecar joins the holder's network namespace");
        // The sidecar reaches the web container on the pod's loopback and sees the pod's emptyDir.
        let body = env.ok(&[
            "exec",
            &format!("{pod}-side"),
            "sh",
            "-c",
            "echo $ROLE; cat /shared/index.html; \
            for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1",
        ]);
        assert_eq!(body.lines().collect::<Vec<_>>(), ["sidecar", &format!("from-{pod}"), &format!("from-{pod}")]);
    }
    let labels = &env.inspect("bk-dep-pod-2-side")["Config"]["Labels"];
    assert_eq!((labels["io.berth.kube.pod"].as_str(), labels["app"].as_str()), (Some("bk-dep-pod-2"), Some("bk-dep")));

    env.ok(&["kube", "down", file.to_str().unwrap()]);
    assert!(bk_containers(&env).is_empty(), "{:?}", bk_containers(&env));
    assert!(bk_volumes(&env).is_empty(), "the pods' emptyDirs go with them: {:?}", bk_volumes(&env));
}

#[test]
fn bk_play_refuses_malformed_and_unsupported_files_by_name() {
    if !require_root("bk_play_refuses_malformed_and_unsupported_files_by_name") {
        return;
    }
    let env = Env::new();
    let play = |name: &str, yaml: &str| {
        let file = env.root().join(name);
        std::fs::write(&file, yaml).unwrap();
        env.fails(&["kube", "play", file.to_str().unwrap()]).1
    };
    let err = play("bad.yaml", "kind: Pod\nmetadata:\n  name: bk-x\n spec: [\n");
    assert!(err.contains("bad.yaml: document 1:"), "{err}");
    let err = play("kind.yaml", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: bk-s}\n");
    assert!(err.contains("StatefulSet \"bk-s\": kind is not supported by kube play"), "{err}");
    let err = play(
        "envfrom.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bk-e}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    envFrom: [{configMapRef: {name: x}}]\n",
    );
    assert!(err.contains("Pod \"bk-e\": spec.containers[0].envFrom is not supported by kube play"), "{err}");
    let err = play(
        "type.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bk-t}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    ports: [{containerPort: eighty}]\n",
    );
    assert!(err.contains("type.yaml: document 1: Pod \"bk-t\":"), "{err}");
    let err = play(
        "memory.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bk-m}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {limits: {memory: 12Q}}\n",
    );
    assert!(err.contains("spec.containers[0].resources.limits.memory"), "{err}");
    assert!(bk_containers(&env).is_empty(), "a refused file runs nothing: {:?}", bk_containers(&env));

    // A field berth leaves out is named on stderr, and the pod runs.
    let file = env.root().join("lifecycle.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bk-l}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, \"300\"]\n    lifecycle: {preStop: {exec: {command: [\"true\"]}}}\n",
    )
    .unwrap();
    let out = env.command(&["kube", "play", file.to_str().unwrap()]).output().expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Pod \"bk-l\": spec.containers[0].lifecycle is not supported by kube play; left out"),
        "{stderr}"
    );
    assert_eq!(env.status("bk-l-c"), "running");
    env.ok(&["kube", "down", file.to_str().unwrap()]);
    assert!(bk_containers(&env).is_empty());
}

#[test]
fn bk_generate_writes_a_deployment_per_compose_service() {
    if !require_root("bk_generate_writes_a_deployment_per_compose_service") {
        return;
    }
    let env = Env::new();
    let compose = |name: &str, service: &str, number: &str| {
        let project = "com.docker.compose.project=bkp".to_string();
        let service = format!("com.docker.compose.service={service}");
        let number = format!("com.docker.compose.container-number={number}");
        env.ok(&[
            "create", "--name", name, "--label", &project, "--label", &service, "--label", &number, "busybox", "sleep",
            "300",
        ]);
    };
    compose("bkp-web-1", "web", "1");
    compose("bkp-web-2", "web", "2");
    compose("bkp-db-1", "db", "1");
    env.ok(&["create", "--name", "bk-other", "busybox", "true"]);
    let out = env.command(&["kube", "generate", "--type", "deployment", "--project", "bkp"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("web: a Deployment's pods always restart; restart policy \"Never\" left out"), "{stderr}");
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    let deployments: Vec<k8s_openapi::api::apps::v1::Deployment> = of_kind(&docs, "Deployment");
    let shape: Vec<(String, Option<i32>, String)> = deployments
        .iter()
        .map(|d| {
            let spec = d.spec.as_ref().expect("deployment spec");
            let template = spec.template.spec.as_ref().expect("template spec");
            (d.metadata.name.clone().unwrap_or_default(), spec.replicas, template.containers[0].name.clone())
        })
        .collect();
    assert_eq!(shape, [("web".into(), Some(2), "web".into()), ("db".into(), Some(1), "db".into())]);
    for d in &deployments {
        let spec = d.spec.as_ref().unwrap();
        let selector = spec.selector.match_labels.clone().unwrap_or_default();
        let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)), "the selector matches the template: {d:?}");
        assert_eq!(labels.get("com.docker.compose.project").map(String::as_str), Some("bkp"));
    }

    // Played back, the pods are pods, not members of the compose project.
    let file = env.root().join("bkp.yaml");
    env.ok(&["kube", "generate", "--type", "deployment", "--project", "bkp", "-f", file.to_str().unwrap()]);
    env.ok(&["rm", "-f", "bkp-web-1", "bkp-web-2", "bkp-db-1", "bk-other"]);
    let out = env.command(&["kube", "play", file.to_str().unwrap()]).output().expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Deployment \"web\": labels com.docker.compose.container-number"), "{stderr}");
    let labels = &env.inspect("web-pod-1-web")["Config"]["Labels"];
    assert!(labels.get("com.docker.compose.project").is_none(), "{labels}");
    assert_eq!(labels["io.berth.kube.pod"], "web-pod-1");
    env.ok(&["kube", "down", file.to_str().unwrap()]);
    assert!(env.ok(&["ps", "-aq"]).trim().is_empty(), "down removes every replica");

    let (_, err) = env.fails(&["kube", "generate", "--project", "bk-none"]);
    assert!(err.contains("no containers of compose project \"bk-none\""), "{err}");
}
