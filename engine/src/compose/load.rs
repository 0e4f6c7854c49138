//! From files to a [`Project`]: find the files, read the variables, and per file parse the YAML,
//! interpolate every scalar, drop `x-` extensions, refuse keys berth does not run, resolve relative paths
//! against the project (or included file's) directory, apply `extends` and `include`; then merge the
//! files in order as the specification's merge rules say and check the result as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::ComposeError;
use super::interpolate::{Lookup, TemplateError, interpolate, parse_env_file};
use super::model::Project;

/// The file names `docker compose` looks for, in its order of preference.
pub const DEFAULT_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// What the user gave: `-f` files, `-p`, `--env-file`, `--profile`, `--project-directory`, and the
/// environment (`COMPOSE_FILE`, `COMPOSE_PROJECT_NAME`, `COMPOSE_PROFILES` and the interpolation
/// variables). `environment` is passed in so that tests and the API server do not depend on this process's.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// The directory to search for a default file (and its parents), normally the current one.
    pub cwd: PathBuf,
}

/// A loaded project: its name, where it lives, its files and variables, and the merged model.
#[derive(Debug, Clone)]
pub struct LoadedProject {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub variables: BTreeMap<String, String>,
    pub profiles: Vec<String>,
    pub model: Project,
    /// Variables used without a value or default (docker compose warns of each).
    pub unset: BTreeSet<String>,
}

/// Keys the Compose Specification defines that berth does not run; refusing them by name beats both
/// silence and an "unknown field" that suggests a typo.
const UNSUPPORTED_SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_runtime",
    "cpu_rt_period",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "external_links",
    "gpus",
    "group_add",
    "ipc",
    "isolation",
    "label_file",
    "links",
    "logging",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "provider",
    "runtime",
    "scale",
    "security_opt",
    "storage_opt",
    "sysctls",
    "ulimits",
    "use_api_socket",
    "userns_mode",
    "uts",
    "volumes_from",
];
const UNSUPPORTED_BUILD: &[&str] = &[
    "additional_contexts",
    "cache_from",
    "cache_to",
    "dockerfile_inline",
    "entitlements",
    "extra_hosts",
    "isolation",
    "labels",
    "network",
    "no_cache",
    "platforms",
    "privileged",
    "pull",
    "secrets",
    "shm_size",
    "ssh",
    "tags",
    "ulimits",
];
const UNSUPPORTED_DEPLOY: &[&str] =
    &["endpoint_mode", "labels", "mode", "placement", "restart_policy", "rollback_config", "update_config"];
const UNSUPPORTED_TOP: &[&str] = &["models"];
const UNSUPPORTED_NETWORK: &[&str] = &["attachable", "driver_opts", "enable_ipv4", "enable_ipv6"];
const UNSUPPORTED_VOLUME: &[&str] = &["driver_opts"];
const UNSUPPORTED_FILE_OBJECT: &[&str] = &["content", "environment", "external", "labels", "template_driver"];

impl LoadOptions {
    /// The options as `docker compose` reads them from its environment.
    pub fn from_environment(cwd: PathBuf) -> LoadOptions {
        let environment: BTreeMap<String, String> = std::env::vars().collect();
        LoadOptions { environment, cwd, ..LoadOptions::default() }
    }
}

/// Loads and checks a project.
pub fn load(options: &LoadOptions) -> Result<LoadedProject, ComposeError> {
    let files = config_files(options)?;
    let working_dir = match &options.project_directory {
        Some(dir) => absolute(&options.cwd, dir),
        None => files[0].parent().map(Path::to_path_buf).unwrap_or_else(|| options.cwd.clone()),
    };
    let variables = variables(options, &working_dir)?;
    let mut unset = BTreeSet::new();
    let mut merged = Value::Mapping(Mapping::new());
    for file in &files {
        let value = load_file(file, &working_dir, &variables, &mut unset, &mut Vec::new())?;
        merged = merge(merged, value, &[]);
    }
    let model: Project = typed(merged, files.last().expect("one file at least"), None)?;
    let name = project_name(options, &model, &working_dir)?;
    let profiles = match options.profiles.is_empty() {
        false => options.profiles.clone(),
        true => options
            .environment
            .get("COMPOSE_PROFILES")
            .map(|p| p.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
            .unwrap_or_default(),
    };
    let project = LoadedProject { name, working_dir, config_files: files, variables, profiles, model, unset };
    // A whole-project error names the files it came from and the service's key.
    super::plan::check(&project).map_err(|e| match e {
        ComposeError::Service { service, message } => ComposeError::Invalid {
            file: project.config_files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ").into(),
            line: None,
            key: format!("services.{service}"),
            message,
        },
        other => other,
    })?;
    Ok(project)
}

/// `-f` files, else `COMPOSE_FILE` (split on `:`), else the first default name found in the directory or
/// its parents (with a `compose.override.yaml`-style file beside it, as docker compose adds).
fn config_files(options: &LoadOptions) -> Result<Vec<PathBuf>, ComposeError> {
    let given: Vec<PathBuf> = if !options.files.is_empty() {
        options.files.clone()
    } else if let Some(list) = options.environment.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let separator = options.environment.get("COMPOSE_PATH_SEPARATOR").and_then(|s| s.chars().next()).unwrap_or(':');
        list.split(separator).map(PathBuf::from).collect()
    } else {
        let start =
            options.project_directory.as_deref().map(|d| absolute(&options.cwd, d)).unwrap_or(options.cwd.clone());
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if let Some(found) = DEFAULT_FILES.iter().map(|f| d.join(f)).find(|p| p.is_file()) {
                let mut files = vec![found.clone()];
                let stem = found.file_stem().and_then(|s| s.to_str()).unwrap_or("compose");
                let ext = found.extension().and_then(|s| s.to_str()).unwrap_or("yaml");
                let over = d.join(format!("{stem}.override.{ext}"));
                if over.is_file() {
                    files.push(over);
                }
                return Ok(files);
            }
            dir = d.parent();
        }
        return Err(ComposeError::NoFile { dir: start });
    };
    Ok(given.iter().map(|f| absolute(&options.cwd, f)).collect())
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
    normalize(&joined)
}

/// `a/./b/../c` as `a/c`, without touching the file system (paths in compose files may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The interpolation variables: `--env-file` files (or the project directory's `.env`), under this
/// process's environment, which wins as in docker compose.
fn variables(options: &LoadOptions, working_dir: &Path) -> Result<BTreeMap<String, String>, ComposeError> {
    let files: Vec<PathBuf> = if options.env_files.is_empty() {
        let default = working_dir.join(".env");
        if default.is_file() { vec![default] } else { Vec::new() }
    } else {
        options.env_files.iter().map(|f| absolute(&options.cwd, f)).collect()
    };
    let mut vars = BTreeMap::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|source| ComposeError::Read { path: file.clone(), source })?;
        let base = Over { first: &options.environment, then: &vars };
        let parsed =
            parse_env_file(&text, &base).map_err(|message| ComposeError::EnvFile { path: file.clone(), message })?;
        vars.extend(parsed);
    }
    vars.extend(options.environment.clone());
    Ok(vars)
}

struct Over<'a> {
    first: &'a BTreeMap<String, String>,
    then: &'a BTreeMap<String, String>,
}

impl Lookup for Over<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.first.get(name).or_else(|| self.then.get(name)).cloned()
    }
}

/// `-p`, `COMPOSE_PROJECT_NAME`, the top-level `name`, or the directory's name, normalised as docker
/// compose does (lowercase; letters, digits, `-` and `_`), and refused when nothing is left.
fn project_name(options: &LoadOptions, model: &Project, working_dir: &Path) -> Result<String, ComposeError> {
    let explicit = options
        .project_name
        .clone()
        .or_else(|| options.environment.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()).cloned())
        .or_else(|| model.name.as_ref().map(|n| n.0.clone()));
    if let Some(name) = explicit {
        let valid = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(ComposeError::ProjectName { name });
        }
        return Ok(name);
    }
    let dir = working_dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let name: String =
        dir.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_').collect();
    let name = name.trim_start_matches(['-', '_']).to_string();
    if name.is_empty() {
        return Err(ComposeError::ProjectName { name: dir });
    }
    Ok(name)
}

/// One file, ready to merge: parsed, interpolated, checked, its paths absolute, `extends` and `include`
/// applied. `chain` holds the files being included, to refuse an include cycle.
fn load_file(
    file: &Path,
    base_dir: &Path,
    vars: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
    chain: &mut Vec<PathBuf>,
) -> Result<Value, ComposeError> {
    if chain.contains(&file.to_path_buf()) {
        return Err(ComposeError::Invalid {
            file: file.to_path_buf(),
            line: None,
            key: "include".into(),
            message: "includes itself".into(),
        });
    }
    let raw =
        std::fs::read_to_string(file).map_err(|source| ComposeError::Read { path: file.to_path_buf(), source })?;
    let parsed: Value = serde_norway::from_str(&raw).map_err(|e| ComposeError::Invalid {
        file: file.to_path_buf(),
        line: e.location().map(|l| l.line()),
        key: String::new(),
        message: e.to_string(),
    })?;
    let mut value = match parsed {
        Value::Mapping(m) => Value::Mapping(m),
        Value::Null => Value::Mapping(Mapping::new()),
        other => {
            return Err(ComposeError::Invalid {
                file: file.to_path_buf(),
                line: None,
                key: String::new(),
                message: format!("expected a mapping at the top, found {}", super::model::kind(&other)),
            });
        }
    };
    let mut path = Vec::new();
    interpolate_tree(&mut value, &mut path, file, vars, unset)?;
    strip_extensions(&mut value);
    check_unsupported(&value, file)?;
    resolve_paths(&mut value, base_dir);
    apply_extends(&mut value, file, base_dir, vars, unset)?;
    // Each file is checked on its own, so a wrong key or type is reported against the file that has it.
    let _: Project = typed(without(&value, "include"), file, Some(&raw))?;
    if let Some(includes) = value.as_mapping_mut().and_then(|m| m.remove("include")) {
        chain.push(file.to_path_buf());
        let own = value.as_mapping_mut().expect("mapping");
        for (index, include) in includes.as_sequence().cloned().unwrap_or_default().into_iter().enumerate() {
            let key = format!("include[{index}]");
            let paths: Vec<String> = match &include {
                Value::String(p) => vec![p.clone()],
                Value::Mapping(m) => match m.get("path") {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Sequence(ps)) => ps.iter().filter_map(|p| p.as_str().map(String::from)).collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            if paths.is_empty() {
                let message = "expected a path or a mapping with `path`".to_string();
                return Err(ComposeError::Invalid { file: file.to_path_buf(), line: None, key, message });
            }
            let mut included = Value::Mapping(Mapping::new());
            for p in paths {
                let target = absolute(file.parent().unwrap_or(base_dir), Path::new(&p));
                let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
                included = merge(included, load_file(&target, &dir, vars, unset, chain)?, &[]);
            }
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(Value::Mapping(items)) = included.get(section).cloned() else { continue };
                let target = own.entry(section.into()).or_insert_with(|| Value::Mapping(Mapping::new()));
                let Some(target) = target.as_mapping_mut() else { continue };
                for (name, item) in items {
                    if target.contains_key(&name) && section == "services" {
                        return Err(ComposeError::Invalid {
                            file: file.to_path_buf(),
                            line: None,
                            key: format!("services.{}", name.as_str().unwrap_or_default()),
                            message: format!("also defined by the included {}", key),
                        });
                    }
                    target.entry(name).or_insert(item);
                }
            }
        }
        chain.pop();
    }
    Ok(value)
}

fn without(value: &Value, key: &str) -> Value {
    let mut copy = value.clone();
    if let Some(m) = copy.as_mapping_mut() {
        m.remove(key);
    }
    copy
}

/// Deserializes the typed model, the error naming the key path; with the file's text, a line found by
/// reading the raw text the same way (when its error is at the same key).
fn typed(value: Value, file: &Path, raw: Option<&str>) -> Result<Project, ComposeError> {
    serde_path_to_error::deserialize::<_, Project>(value).map_err(|e| {
        let key = e.path().to_string();
        let line = raw.and_then(|raw| {
            let de = serde_norway::Deserializer::from_str(raw);
            match serde_path_to_error::deserialize::<_, Project>(de) {
                Err(raw_err) if raw_err.path().to_string() == key => raw_err.inner().location().map(|l| l.line()),
                _ => None,
            }
        });
        ComposeError::Invalid { file: file.to_path_buf(), line, key, message: e.into_inner().to_string() }
    })
}

/// Interpolates every string scalar (not keys), naming the key path in an error.
fn interpolate_tree(
    value: &mut Value,
    path: &mut Vec<String>,
    file: &Path,
    vars: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
) -> Result<(), ComposeError> {
    match value {
        Value::String(s) if s.contains('$') => {
            let result = interpolate(s, vars, &mut |name| {
                unset.insert(name.to_string());
            });
            *s = result.map_err(|e: TemplateError| ComposeError::Invalid {
                file: file.to_path_buf(),
                line: None,
                key: path.join("."),
                message: e.to_string(),
            })?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let last = path.pop();
                path.push(format!("{}[{i}]", last.clone().unwrap_or_default()));
                interpolate_tree(item, path, file, vars, unset)?;
                path.pop();
                path.extend(last);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                path.push(key.as_str().map(String::from).unwrap_or_else(|| format!("{key:?}")));
                interpolate_tree(item, path, file, vars, unset)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Removes `x-` keys at the top and in services, networks, volumes, secrets and configs.
fn strip_extensions(value: &mut Value) {
    fn strip(map: &mut Mapping) {
        map.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
    let Some(top) = value.as_mapping_mut() else { return };
    strip(top);
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Mapping(items)) = top.get_mut(section) {
            for (_, item) in items.iter_mut() {
                if let Some(m) = item.as_mapping_mut() {
                    strip(m);
                }
            }
        }
    }
}

fn check_unsupported(value: &Value, file: &Path) -> Result<(), ComposeError> {
    let refuse = |key: String| Err(ComposeError::Unsupported { file: file.to_path_buf(), key });
    let keys = |v: Option<&Value>| -> Vec<(String, Value)> {
        v.and_then(Value::as_mapping)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone()))).collect())
            .unwrap_or_default()
    };
    for (key, _) in keys(Some(value)) {
        if UNSUPPORTED_TOP.contains(&key.as_str()) {
            return refuse(key);
        }
    }
    for (name, service) in keys(value.get("services")) {
        for (key, inner) in keys(Some(&service)) {
            if UNSUPPORTED_SERVICE.contains(&key.as_str()) {
                return refuse(format!("services.{name}.{key}"));
            }
            let table = match key.as_str() {
                "build" => UNSUPPORTED_BUILD,
                "deploy" => UNSUPPORTED_DEPLOY,
                _ => continue,
            };
            for (sub, subvalue) in keys(Some(&inner)) {
                if table.contains(&sub.as_str()) {
                    return refuse(format!("services.{name}.{key}.{sub}"));
                }
                if key == "deploy" && sub == "resources" && subvalue.get("reservations").is_some() {
                    return refuse(format!("services.{name}.deploy.resources.reservations"));
                }
            }
        }
    }
    let sections: [(&str, &[&str]); 4] = [
        ("networks", UNSUPPORTED_NETWORK),
        ("volumes", UNSUPPORTED_VOLUME),
        ("secrets", UNSUPPORTED_FILE_OBJECT),
        ("configs", UNSUPPORTED_FILE_OBJECT),
    ];
    for (section, table) in sections {
        for (name, item) in keys(value.get(section)) {
            for (key, _) in keys(Some(&item)) {
                if table.contains(&key.as_str()) {
                    return refuse(format!("{section}.{name}.{key}"));
                }
            }
        }
    }
    Ok(())
}

/// Makes the relative paths of a file absolute against `dir`: build contexts, env files, bind sources,
/// secret and config files, `extends.file`. Volume sources that are names stay names.
fn resolve_paths(value: &mut Value, dir: &Path) {
    let fix = |s: &mut String| {
        let expanded = match s.strip_prefix("~/") {
            Some(rest) => std::env::var("HOME").map(|h| format!("{h}/{rest}")).unwrap_or(s.clone()),
            None => s.clone(),
        };
        *s = absolute(dir, Path::new(&expanded)).to_string_lossy().into_owned();
    };
    let is_path = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    let Some(top) = value.as_mapping_mut() else { return };
    if let Some(Value::Mapping(services)) = top.get_mut("services") {
        for (_, service) in services.iter_mut() {
            let Some(service) = service.as_mapping_mut() else { continue };
            match service.get_mut("build") {
                Some(Value::String(context)) => fix(context),
                Some(Value::Mapping(build)) => match build.get_mut("context") {
                    Some(Value::String(context)) => fix(context),
                    None => {
                        build.insert("context".into(), Value::String(dir.to_string_lossy().into_owned()));
                    }
                    _ => {}
                },
                _ => {}
            }
            if let Some(Value::Mapping(extends)) = service.get_mut("extends")
                && let Some(Value::String(f)) = extends.get_mut("file")
            {
                fix(f);
            }
            match service.get_mut("env_file") {
                Some(Value::String(f)) => fix(f),
                Some(Value::Sequence(files)) => {
                    for f in files {
                        match f {
                            Value::String(f) => fix(f),
                            Value::Mapping(m) => {
                                if let Some(Value::String(p)) = m.get_mut("path") {
                                    fix(p)
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            if let Some(Value::Sequence(volumes)) = service.get_mut("volumes") {
                for v in volumes {
                    match v {
                        Value::String(spec) => {
                            if let Some((source, rest)) = spec.split_once(':')
                                && is_path(source)
                            {
                                let mut source = source.to_string();
                                fix(&mut source);
                                *spec = format!("{source}:{rest}");
                            }
                        }
                        Value::Mapping(m) => {
                            let bind = m.get("type").and_then(Value::as_str) == Some("bind");
                            if let Some(Value::String(source)) = m.get_mut("source")
                                && bind
                            {
                                fix(source);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Mapping(items)) = top.get_mut(section) {
            for (_, item) in items.iter_mut() {
                if let Some(Value::String(f)) = item.as_mapping_mut().and_then(|m| m.get_mut("file")) {
                    fix(f);
                }
            }
        }
    }
}

/// `extends`: a service starts from another (in this file, or `file`'s, interpolated and resolved the
/// same way) and its own keys are merged over it.
fn apply_extends(
    value: &mut Value,
    file: &Path,
    base_dir: &Path,
    vars: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
) -> Result<(), ComposeError> {
    let Some(Value::Mapping(services)) = value.get("services").cloned() else { return Ok(()) };
    let mut done = Mapping::new();
    for (name, _) in services.iter() {
        let name = name.as_str().unwrap_or_default().to_string();
        let resolved = extended(&services, &name, file, base_dir, vars, unset, &mut Vec::new())?;
        done.insert(name.into(), resolved);
    }
    value.as_mapping_mut().expect("mapping").insert("services".into(), Value::Mapping(done));
    Ok(())
}

fn extended(
    services: &Mapping,
    name: &str,
    file: &Path,
    base_dir: &Path,
    vars: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
    seen: &mut Vec<String>,
) -> Result<Value, ComposeError> {
    let invalid = |message: String| ComposeError::Invalid {
        file: file.to_path_buf(),
        line: None,
        key: format!("services.{name}.extends"),
        message,
    };
    let mut service = services.get(name).cloned().ok_or_else(|| invalid(format!("no service {name:?} to extend")))?;
    let Some(extends) = service.as_mapping_mut().and_then(|m| m.remove("extends")) else { return Ok(service) };
    let marker = format!("{}:{name}", file.display());
    if seen.contains(&marker) {
        return Err(invalid(format!("extends cycle: {} -> {name}", seen.join(" -> "))));
    }
    seen.push(marker);
    let (base_name, base_file) = match &extends {
        Value::String(s) => (s.clone(), None),
        Value::Mapping(m) => (
            m.get("service")
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| invalid("`service` is required".into()))?,
            m.get("file").and_then(Value::as_str).map(PathBuf::from),
        ),
        _ => return Err(invalid("expected a service name or a mapping".into())),
    };
    let base = match base_file {
        None => extended(services, &base_name, file, base_dir, vars, unset, seen)?,
        Some(other) => {
            let raw =
                std::fs::read_to_string(&other).map_err(|source| ComposeError::Read { path: other.clone(), source })?;
            let mut parsed: Value = serde_norway::from_str(&raw).map_err(|e| ComposeError::Invalid {
                file: other.clone(),
                line: e.location().map(|l| l.line()),
                key: String::new(),
                message: e.to_string(),
            })?;
            interpolate_tree(&mut parsed, &mut Vec::new(), &other, vars, unset)?;
            strip_extensions(&mut parsed);
            let dir = other.parent().map(Path::to_path_buf).unwrap_or_else(|| base_dir.to_path_buf());
            resolve_paths(&mut parsed, &dir);
            let Some(Value::Mapping(theirs)) = parsed.get("services").cloned() else {
                return Err(invalid(format!("{} has no services", other.display())));
            };
            extended(&theirs, &base_name, &other, &dir, vars, unset, seen)?
        }
    };
    seen.pop();
    Ok(merge(base, service, &["services", "x"]))
}

/// The specification's merge: mappings merge key by key; `command`, `entrypoint` and `healthcheck.test`
/// are replaced; `environment`, `labels`, `build.args` merge by key whichever form each side uses;
/// `volumes` of a service by target, `ports`, `expose` and other lists append what is not there yet;
/// scalars are replaced. `path` is where `base` sits (`["services", NAME]` for a service).
pub(crate) fn merge(base: Value, over: Value, path: &[&str]) -> Value {
    let key = path.last().copied().unwrap_or("");
    match (base, over) {
        (base, Value::Null) if !matches!(base, Value::Null) => base,
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (k, v) in over {
                let name = k.as_str().unwrap_or("").to_string();
                let mut child: Vec<&str> = path.to_vec();
                child.push(&name);
                let merged = match base.remove(&k) {
                    Some(old) => merge(old, v, &child),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Mapping(base)
        }
        (base, over) if matches!(key, "environment" | "labels" | "args") => {
            let mut map = as_key_values(base);
            for (k, v) in as_key_values(over) {
                map.insert(k, v);
            }
            Value::Mapping(map)
        }
        (Value::Sequence(mut base), Value::Sequence(over)) if !matches!(key, "command" | "entrypoint" | "test") => {
            for item in over {
                if key == "volumes" {
                    let target = volume_target(&item);
                    base.retain(|old| target.is_none() || volume_target(old) != target);
                    base.push(item);
                } else if !base.contains(&item) {
                    base.push(item);
                }
            }
            Value::Sequence(base)
        }
        (_, over) => over,
    }
}

fn as_key_values(value: Value) -> Mapping {
    match value {
        Value::Mapping(m) => m,
        Value::Sequence(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(String::from))
            .map(|i| match i.split_once('=') {
                Some((k, v)) => (Value::String(k.into()), Value::String(v.into())),
                None => (Value::String(i), Value::Null),
            })
            .collect(),
        _ => Mapping::new(),
    }
}

fn volume_target(item: &Value) -> Option<String> {
    match item {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() >= 2 { parts[1] } else { parts[0] }.to_string())
        }
        Value::Mapping(m) => m.get("target").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).unwrap()
    }

    /// compose-go's merge rules (override/merge tests), re-expressed on service keys.
    #[test]
    fn services_merge_as_the_specification_says() {
        let base = yaml(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['./a:/data', 'v:/keep']\n    labels: {l: '1'}\n    healthcheck: {test: [CMD, one], interval: 1s}\n",
        );
        let over = yaml(
            "services:\n  web:\n    image: b\n    command: [z]\n    environment: {B: '3', C: '4'}\n    ports: ['80:80', '90:90']\n    volumes: ['./b:/data']\n    labels: [m=2]\n    healthcheck: {test: [CMD, two]}\n",
        );
        let merged = merge(base, over, &[]);
        let web = &merged["services"]["web"];
        assert_eq!(web["image"], yaml("b"));
        assert_eq!(web["command"], yaml("[z]"), "command is replaced");
        assert_eq!(web["environment"], yaml("{A: '1', B: '3', C: '4'}"), "environment merges by key across forms");
        assert_eq!(web["labels"], yaml("{l: '1', m: '2'}"));
        assert_eq!(web["ports"], yaml("['80:80', '90:90']"), "ports append what is new");
        assert_eq!(web["volumes"], yaml("['v:/keep', './b:/data']"), "volumes merge by target");
        assert_eq!(web["healthcheck"], yaml("{test: [CMD, two], interval: 1s}"), "healthcheck.test is replaced");
    }

    #[test]
    fn project_names_are_checked_and_derived() {
        let model = Project::default();
        let named = |name: &str| LoadOptions { project_name: Some(name.into()), ..LoadOptions::default() };
        assert_eq!(project_name(&named("app_1-x"), &model, Path::new("/")).unwrap(), "app_1-x");
        assert!(matches!(project_name(&named("App"), &model, Path::new("/")), Err(ComposeError::ProjectName { .. })));
        assert!(project_name(&named("-x"), &model, Path::new("/")).is_err());
        let from_dir = project_name(&LoadOptions::default(), &model, Path::new("/srv/My.App")).unwrap();
        assert_eq!(from_dir, "myapp");
    }
}
