//! `--format` Go templates as scripts written against docker use them, driving the `berth` binary over real
//! containers: ps, inspect, images, network ls, volume inspect, stats, and a bad template's error and exit
//! code; and list commands printing into a closed pipe. Needs root (skips loudly otherwise; CI=true forbids
//! skipping).

mod rt;
mod support;

use rt::{Env, require_root};

#[test]
fn templates_over_containers() {
    if !require_root("templates_over_containers") {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "web", "--label", "tier=front", "busybox", "sleep", "1000"]);
    env.ok(&["create", "--name", "idle", "busybox", "true"]);

    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "web\n", "running containers only");
    let mut names: Vec<String> = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["idle", "web"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}} {{.Labels}} {{.State}}"]), "web tier=front running\n");
    assert_eq!(env.ok(&["ps", "--format", "{{.Label \"tier\"}}"]), "front\n");
    // Sizes cost a walk of the container's files: computed when the template asks for them, as docker does.
    let size = env.ok(&["ps", "--format", "{{.Size}}"]);
    assert!(size.ends_with("B\n") && size.len() > 2, "{size:?}");

    // `\t` as the shell passes it: two characters, a tab to docker.
    let table = env.ok(&["ps", "--format", r"table {{.ID}}\t{{.Status}}"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(lines[0], "CONTAINER ID   STATUS", "{table}");
    let id = env.ok(&["ps", "-q"]).trim().to_string();
    assert!(lines[1].starts_with(&format!("{id}   Up ")), "{table}");

    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "web", "idle"]), "running\ncreated\n");
    assert_eq!(env.ok(&["container", "inspect", "--format", "{{.State.Running}} {{.Name}}", "web"]), "true /web\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{index .Config.Labels \"tier\"}}", "web"]), "front\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{json .Config.Labels}}", "web"]), "{\"tier\":\"front\"}\n");

    let stats = env.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "web"]);
    let (name, usage) = stats.trim_end().split_once(' ').unwrap_or_else(|| panic!("{stats:?}"));
    assert_eq!(name, "web");
    assert!(usage.contains(" / ") && usage.ends_with('B'), "{stats:?}");
}

#[test]
fn templates_over_images_networks_and_volumes_and_bad_templates() {
    if !require_root("templates_over_images_networks_and_volumes_and_bad_templates") {
        return;
    }
    let env = Env::new();
    let repository = env.reference.rsplit_once(':').map(|(r, _)| r.to_string()).unwrap_or_default();
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut images: Vec<&str> = images.lines().collect();
    images.sort();
    assert_eq!(images, [format!("{repository}:latest"), "busybox:latest".to_string()]);
    let id = env.ok(&["images", "-q"]).trim().to_string();
    let full = env.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert!(full.starts_with(&format!("sha256:{id}")) && full.ends_with('\n'), "{full:?} for {id}");

    env.ok(&["network", "create", "--subnet", &format!("10.195.{}.0/24", env.octet), "fmtnet"]);
    let networks = env.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(networks.lines().any(|l| l == "fmtnet"), "{networks}");
    assert_eq!(env.ok(&["network", "inspect", "-f", "{{.Name}} {{.Driver}}", "fmtnet"]), "fmtnet bridge\n");

    env.ok(&["volume", "create", "--label", "k=v", "data"]);
    assert_eq!(env.ok(&["volume", "inspect", "-f", "{{.Name}}", "data"]), "data\n");
    assert_eq!(env.ok(&["volume", "ls", "--format", "{{.Name}}={{.Labels}}"]), "data=k=v\n");

    // As `berth images -q | head -0`: the reader is gone before berth prints, which ends each command
    // quietly, as a closed pipe ends docker's, never in a panic.
    for args in
        [["images", "-q"].as_slice(), &["images"], &["volume", "ls", "-q"], &["network", "ls", "-q"], &["version"]]
    {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.command(args).stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: exit {:?}: {stderr}", out.status.code());
        assert_eq!(stderr, "", "{args:?}: a closed stdout is no error to report");
    }

    for args in [
        ["ps", "--format", "{{.Names"].as_slice(),
        ["volume", "inspect", "-f", "{{.Name | nosuch}}", "data"].as_slice(),
        ["images", "--format", "{{define \"x\"}}{{end}}"].as_slice(),
    ] {
        let (code, err) = env.fails(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains("template parsing error: template: :1:"), "{args:?}: {err}");
    }
    let (_, err) = env.fails(&["ps", "--format", "{{.Names"]);
    assert!(err.contains("unclosed action"), "{err}");
    let (_, err) = env.fails(&["volume", "inspect", "-f", "{{.Name | nosuch}}", "data"]);
    assert!(err.contains("function \"nosuch\" not defined"), "{err}");
    let (_, err) = env.fails(&["volume", "ls", "--format", "{{.Nmae}}"]);
    assert!(err.contains("executing at <.Nmae>: can't evaluate field Nmae"), "{err}");
}
