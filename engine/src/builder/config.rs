//! A build's image config as JSON, changed step by step: metadata instructions, history entries and
//! layers, as BuildKit writes them.

use serde_json::{Map, Value, json};

use crate::build::instructions::{CommandLine, Healthcheck, Instruction};

/// BuildKit's default SHELL.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// A new config for a build from scratch.
pub(crate) fn scratch() -> Value {
    json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    })
}

/// The host's architecture under OCI's name.
pub(crate) fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The run config (`config` object), made when missing.
pub(crate) fn run_config(config: &mut Value) -> &mut Map<String, Value> {
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    config["config"].as_object_mut().expect("made an object above")
}

pub(crate) fn string(config: &Value, key: &str) -> String {
    config["config"][key].as_str().unwrap_or_default().to_string()
}

pub(crate) fn strings(config: &Value, key: &str) -> Vec<String> {
    config["config"][key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The SHELL a shell-form command runs under.
pub(crate) fn shell(config: &Value) -> Vec<String> {
    let shell = strings(config, "Shell");
    if shell.is_empty() { DEFAULT_SHELL.iter().map(|s| s.to_string()).collect() } else { shell }
}

/// A command line as the argv it runs: exec form as written, shell form behind SHELL. With heredocs (as
/// BuildKit runs them): a command that is one heredoc alone runs its body with the shell (tabs stripped
/// for `<<-`); otherwise the shell gets the command line followed by the bodies and their delimiters.
pub(crate) fn argv(config: &Value, command: &CommandLine) -> Vec<String> {
    if !command.shell {
        return command.args.clone();
    }
    let line = command.args.join(" ");
    let script = match command.files.as_slice() {
        [] => line,
        [only]
            if line.trim().trim_start_matches('<').trim_start_matches('-').trim_matches(['"', '\'']) == only.name =>
        {
            if only.chomp {
                only.content.lines().map(|l| format!("{}\n", l.trim_start_matches('\t'))).collect()
            } else {
                only.content.clone()
            }
        }
        files => {
            let mut script = line;
            script.push('\n');
            for f in files {
                script.push_str(&f.content);
                if !f.content.is_empty() && !f.content.ends_with('\n') {
                    script.push('\n');
                }
                script.push_str(&f.name);
                script.push('\n');
            }
            script
        }
    };
    let mut argv = shell(config);
    argv.push(script);
    argv
}

/// A RUN that is one heredoc alone whose body is a script with its own interpreter (`#!`), which BuildKit
/// writes out and executes.
pub(crate) fn runs_script_file(command: &CommandLine) -> bool {
    let line = command.args.join(" ");
    let alone = line.trim().trim_start_matches('<').trim_start_matches('-').trim_matches(['"', '\'']);
    command.shell
        && command.files.len() == 1
        && alone == command.files[0].name
        && command.files[0].content.starts_with("#!")
}

/// Appends a history entry (and the layer's diffID when the step made one).
pub(crate) fn add_history(config: &mut Value, created: &str, created_by: &str, diff_id: Option<&str>) {
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(created_by));
    entry.insert("comment".into(), json!("buildkit.dockerfile.v0"));
    match diff_id {
        Some(diff_id) => {
            if !config["rootfs"].is_object() {
                config["rootfs"] = json!({"type": "layers", "diff_ids": []});
            }
            match config["rootfs"]["diff_ids"].as_array_mut() {
                Some(ids) => ids.push(json!(diff_id)),
                None => config["rootfs"]["diff_ids"] = json!([diff_id]),
            }
        }
        None => {
            entry.insert("empty_layer".into(), json!(true));
        }
    }
    match config["history"].as_array_mut() {
        Some(history) => history.push(Value::Object(entry)),
        None => config["history"] = json!([entry]),
    }
    config["created"] = json!(created);
}

fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

fn healthcheck(h: &Healthcheck) -> Value {
    let mut out = Map::new();
    out.insert("Test".into(), json!(h.test));
    for (key, value) in [
        ("Interval", h.interval_ns),
        ("Timeout", h.timeout_ns),
        ("StartPeriod", h.start_period_ns),
        ("StartInterval", h.start_interval_ns),
    ] {
        if value != 0 {
            out.insert(key.into(), json!(value));
        }
    }
    if h.retries != 0 {
        out.insert("Retries".into(), json!(h.retries));
    }
    Value::Object(out)
}

/// What a stage's metadata steps remember between them: whether CMD was set in this stage, since an
/// ENTRYPOINT resets only an inherited CMD.
#[derive(Debug, Default, Clone)]
pub(crate) struct StageFlags {
    pub cmd_set: bool,
}

/// Applies a metadata instruction (expanded) to the config; returns its history line. `None` for
/// instructions that change no config (ARG).
pub(crate) fn apply(config: &mut Value, instruction: &Instruction, flags: &mut StageFlags) -> Option<String> {
    let shell_now = shell(config);
    let c = run_config(config);
    match instruction {
        Instruction::Env(pairs) => {
            let mut env: Vec<String> = c
                .get("Env")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            for kv in pairs {
                set_env(&mut env, &kv.key, &kv.value);
            }
            c.insert("Env".into(), json!(env));
            let words: Vec<String> = pairs.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
            Some(format!("ENV {}", words.join(" ")))
        }
        Instruction::Label(pairs) => {
            let labels = c.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for kv in pairs {
                labels[&kv.key] = json!(kv.value);
            }
            let words: Vec<String> = pairs.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
            Some(format!("LABEL {}", words.join(" ")))
        }
        Instruction::Expose(ports) => {
            let exposed = c.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !exposed.is_object() {
                *exposed = json!({});
            }
            for p in ports {
                exposed[p] = json!({});
            }
            let keys: Vec<String> = ports.iter().map(|p| format!("{p}:{{}}")).collect();
            Some(format!("EXPOSE map[{}]", keys.join(" ")))
        }
        Instruction::Volume(paths) => {
            let volumes = c.entry("Volumes").or_insert_with(|| json!({}));
            if !volumes.is_object() {
                *volumes = json!({});
            }
            for p in paths {
                volumes[p] = json!({});
            }
            Some(format!("VOLUME [{}]", paths.join(" ")))
        }
        Instruction::User(user) => {
            c.insert("User".into(), json!(user));
            Some(format!("USER {user}"))
        }
        Instruction::Cmd(command) => {
            let argv = if command.shell {
                let mut a = shell_now;
                a.push(command.args.join(" "));
                a
            } else {
                command.args.clone()
            };
            c.insert("Cmd".into(), json!(argv));
            flags.cmd_set = true;
            Some(format!("CMD {}", serde_json::to_string(&argv).unwrap_or_default()))
        }
        Instruction::Entrypoint(command) => {
            let argv = if command.shell {
                let mut a = shell_now;
                a.push(command.args.join(" "));
                a
            } else {
                command.args.clone()
            };
            if argv.is_empty() {
                c.remove("Entrypoint");
            } else {
                c.insert("Entrypoint".into(), json!(argv));
            }
            if !flags.cmd_set {
                c.remove("Cmd");
            }
            Some(format!("ENTRYPOINT {}", serde_json::to_string(&argv).unwrap_or_default()))
        }
        Instruction::Shell(shell) => {
            c.insert("Shell".into(), json!(shell));
            Some(format!("SHELL {}", serde_json::to_string(shell).unwrap_or_default()))
        }
        Instruction::Healthcheck(h) => {
            c.insert("Healthcheck".into(), healthcheck(h));
            Some(format!("HEALTHCHECK {}", serde_json::to_string(&h.test).unwrap_or_default()))
        }
        Instruction::StopSignal(signal) => {
            c.insert("StopSignal".into(), json!(signal));
            Some(format!("STOPSIGNAL {signal}"))
        }
        Instruction::Onbuild(trigger) => {
            let list = c.entry("OnBuild").or_insert_with(|| json!([]));
            match list.as_array_mut() {
                Some(a) => a.push(json!(trigger)),
                None => *list = json!([trigger]),
            }
            Some(format!("ONBUILD {trigger}"))
        }
        Instruction::Maintainer(name) => {
            config["author"] = json!(name);
            Some(format!("MAINTAINER {name}"))
        }
        Instruction::Workdir(dir) => {
            c.insert("WorkingDir".into(), json!(dir));
            Some(format!("WORKDIR {dir}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::instructions::KeyValue;

    #[test]
    fn bbx_entrypoint_resets_only_an_inherited_cmd() {
        let mut config = scratch();
        config["config"]["Cmd"] = json!(["base"]);
        let mut flags = StageFlags::default();
        let ep = Instruction::Entrypoint(CommandLine { args: vec!["run".into()], shell: false, files: vec![] });
        apply(&mut config, &ep, &mut flags);
        assert!(config["config"].get("Cmd").is_none());
        let cmd = Instruction::Cmd(CommandLine { args: vec!["echo hi".into()], shell: true, files: vec![] });
        assert_eq!(apply(&mut config, &cmd, &mut flags).unwrap(), r#"CMD ["/bin/sh","-c","echo hi"]"#);
        apply(&mut config, &ep, &mut flags);
        assert_eq!(config["config"]["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
    }

    #[test]
    fn bbx_heredocs_run_as_buildkit_runs_them() {
        use crate::build::dockerfile::Heredoc;
        let config = scratch();
        let doc = |name: &str, content: &str, chomp: bool| Heredoc {
            name: name.into(),
            content: content.into(),
            chomp,
            expand: true,
            fd: 0,
        };
        let alone = CommandLine { args: vec!["<<EOF".into()], shell: true, files: vec![doc("EOF", "a\nb\n", false)] };
        assert_eq!(argv(&config, &alone), ["/bin/sh", "-c", "a\nb\n"]);
        let tabs = CommandLine { args: vec!["<<-EOF".into()], shell: true, files: vec![doc("EOF", "\ta\n", true)] };
        assert_eq!(argv(&config, &tabs), ["/bin/sh", "-c", "a\n"]);
        let piped =
            CommandLine { args: vec!["<<'EOF' | sh".into()], shell: true, files: vec![doc("EOF", "echo hi\n", false)] };
        assert_eq!(argv(&config, &piped), ["/bin/sh", "-c", "<<'EOF' | sh\necho hi\nEOF\n"]);
    }

    #[test]
    fn bbx_env_replaces_and_appends() {
        let mut config = scratch();
        config["config"]["Env"] = json!(["PATH=/bin", "A=1"]);
        let env = Instruction::Env(vec![
            KeyValue { key: "A".into(), value: "2".into() },
            KeyValue { key: "B".into(), value: "x y".into() },
        ]);
        let line = apply(&mut config, &env, &mut StageFlags::default()).unwrap();
        assert_eq!(line, "ENV A=2 B=x y");
        assert_eq!(config["config"]["Env"], json!(["PATH=/bin", "A=2", "B=x y"]));
        add_history(&mut config, "2026-01-01T00:00:00Z", &line, None);
        assert_eq!(config["history"][0]["empty_layer"], json!(true));
    }
}
