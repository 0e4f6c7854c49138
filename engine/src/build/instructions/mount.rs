//! `RUN --mount=…` options, with docker's option names, defaults and errors (BuildKit's `parseMount`).

use crate::build::suggest::hint;

/// What a RUN mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    /// A stage name or image to take the source from (bind, cache).
    pub from: Option<String>,
    pub source: Option<String>,
    /// Where it appears in the RUN container; a secret's defaults to `/run/secrets/<id>`.
    pub target: Option<String>,
    pub readonly: bool,
    /// The cache's id (defaults to the target) or the secret's id (defaults to the target's file name).
    pub id: Option<String>,
    pub sharing: Sharing,
    /// A secret that must exist.
    pub required: bool,
    /// A tmpfs size limit in bytes.
    pub size: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A secret exposed as this environment variable.
    pub env: Option<String>,
}

/// Every option a mount takes, for suggestions.
const MOUNT_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// Splits the CSV the way Go's csv reader splits one record: commas, `"…"` quoting with `""` for a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = spec.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            '"' if at_start => quoted = true,
            '"' => return Err("failed to parse csv mounts: bare \" in non-quoted-field".into()),
            c => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("failed to parse csv mounts: extraneous or missing \" in quoted-field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// docker's `RAMInBytes`: a number with an optional b/k/m/g/t/p suffix (optionally followed by `b`), 1024-based.
fn ram_in_bytes(value: &str) -> Option<u64> {
    let lower = value.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let number: f64 = lower[..split].parse().ok()?;
    let unit = lower[split..].trim();
    let unit = unit.strip_suffix('b').filter(|u| !u.is_empty()).unwrap_or(unit);
    let scale = match unit {
        "" | "b" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    Some((number * scale as f64) as u64)
}

/// Parses one `--mount` value as written. `ssh` mounts are refused: berth has no SSH agent forwarding.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    parse_mount_with(spec, &|v| Ok(v.to_string()))
}

/// The value of a `key=value` field of a mount as written, for finding stage references before expansion.
pub fn mount_field(spec: &str, keys: &[&str]) -> Option<String> {
    csv_fields(spec).ok()?.into_iter().find_map(|f| {
        let (k, v) = f.split_once('=')?;
        keys.iter().any(|key| k.eq_ignore_ascii_case(key)).then(|| v.to_string())
    })
}

/// Parses one `--mount` value, each option's value passed through `expand` first (BuildKit expands the
/// values one by one, never the keys).
pub fn parse_mount_with(spec: &str, expand: &dyn Fn(&str) -> Result<String, String>) -> Result<Mount, String> {
    let mut m = Mount {
        kind: MountKind::Bind,
        from: None,
        source: None,
        target: None,
        readonly: true,
        id: None,
        sharing: Sharing::Shared,
        required: false,
        size: None,
        mode: None,
        uid: None,
        gid: None,
        env: None,
    };
    let mut ro_auto = true;
    let mut sharing_set = false;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(expand(v)?)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => (m.readonly, ro_auto) = (true, false),
                "readwrite" | "rw" => (m.readonly, ro_auto) = (false, false),
                "required" if m.kind == MountKind::Secret => m.required = true,
                "required" => return Err(format!("unexpected key '{key}' for mount type '{}'", m.kind.as_str())),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let uint = |radix: u32, what: &str| {
            u32::from_str_radix(&value, radix).map_err(|_| format!("invalid value {value} for {what}"))
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => {
                        return Err("RUN --mount=type=ssh is not supported by berth (no SSH agent forwarding)".into());
                    }
                    _ => {
                        let types = ["bind", "cache", "tmpfs", "secret", "ssh"];
                        return Err(hint(format!("unsupported mount type {value:?}"), &value, &types, true));
                    }
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => (m.readonly, ro_auto) = (parse_bool(&key, &value)?, false),
            "readwrite" | "rw" => (m.readonly, ro_auto) = (!parse_bool(&key, &value)?, false),
            "required" if m.kind == MountKind::Secret => m.required = parse_bool(&key, &value)?,
            "required" => return Err(format!("unexpected key '{key}' for mount type '{}'", m.kind.as_str())),
            "size" if m.kind == MountKind::Tmpfs => {
                m.size = Some(ram_in_bytes(&value).ok_or_else(|| format!("invalid value for {key}: {value}"))?)
            }
            "size" => return Err(format!("unexpected key '{key}' for mount type '{}'", m.kind.as_str())),
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let modes = ["shared", "private", "locked"];
                        return Err(hint(format!("unsupported sharing value {value:?}"), &value, &modes, true));
                    }
                };
                sharing_set = true;
            }
            "mode" => m.mode = Some(uint(8, "mode")?),
            "uid" => m.uid = Some(uint(10, "uid")?),
            "gid" => m.gid = Some(uint(10, "gid")?),
            "env" => m.env = Some(value),
            _ => return Err(hint(format!("unexpected key '{key}' in '{field}'"), &key, &MOUNT_KEYS, true)),
        }
    }
    let kind = m.kind.as_str();
    if !matches!(m.kind, MountKind::Secret | MountKind::Cache) {
        for (set, what) in [(m.mode.is_some(), "mode"), (m.uid.is_some(), "uid"), (m.gid.is_some(), "gid")] {
            if set {
                return Err(format!("{what} not allowed for {kind:?} type mounts"));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.kind == MountKind::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if sharing_set {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
        // For a secret, `source` is the secret's id.
        if m.id.is_none() {
            m.id = m.source.take();
        }
        if m.id.is_none() {
            m.id = m.target.as_deref().and_then(|t| t.rsplit('/').next()).map(str::to_string);
        }
        if m.target.is_none() && m.env.is_none() {
            m.target = m.id.as_ref().map(|id| format!("/run/secrets/{id}"));
        }
    } else {
        if sharing_set && m.kind != MountKind::Cache {
            return Err(format!("invalid cache sharing set for {kind} mount"));
        }
        match &m.target {
            None => return Err(format!("mount type {kind} requires a target")),
            Some(t) if t.is_empty() => return Err(format!("invalid mount target {t:?}")),
            Some(_) => {}
        }
        if m.kind == MountKind::Cache && m.id.is_none() {
            m.id = m.target.clone();
        }
    }
    Ok(m)
}
