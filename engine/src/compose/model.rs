//! The Compose Specification's file model, typed after interpolation and merging. Every struct denies
//! unknown keys (`x-` extensions are taken away before), and keys the specification has but berth does
//! not run are refused by name in `load.rs` rather than parsed and ignored.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// A scalar where the specification takes text: YAML numbers and booleans are read as their text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::String(s) => Ok(Text(s)),
            serde_norway::Value::Number(n) => Ok(Text(n.to_string())),
            serde_norway::Value::Bool(b) => Ok(Text(b.to_string())),
            other => Err(de::Error::custom(format!("expected a string, found {}", kind(&other)))),
        }
    }
}

/// A boolean that interpolation may have turned into text (`read_only: ${RO}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::Bool(b) => Ok(Flag(b)),
            serde_norway::Value::String(s) if matches!(s.as_str(), "true" | "True" | "yes") => Ok(Flag(true)),
            serde_norway::Value::String(s) if matches!(s.as_str(), "false" | "False" | "no") => Ok(Flag(false)),
            other => Err(de::Error::custom(format!("expected a boolean, found {}", kind(&other)))),
        }
    }
}

/// A whole number that interpolation may have turned into text (`replicas: ${N}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(transparent)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_norway::Value::deserialize(d)?;
        let number = match &value {
            serde_norway::Value::Number(n) => n.as_u64(),
            serde_norway::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        number.map(Count).ok_or_else(|| de::Error::custom(format!("expected a whole number, found {}", kind(&value))))
    }
}

pub(super) fn kind(value: &serde_norway::Value) -> String {
    match value {
        serde_norway::Value::Null => "null".into(),
        serde_norway::Value::Bool(b) => format!("boolean {b}"),
        serde_norway::Value::Number(n) => format!("number {n}"),
        serde_norway::Value::String(s) => format!("string {s:?}"),
        serde_norway::Value::Sequence(_) => "a list".into(),
        serde_norway::Value::Mapping(_) => "a mapping".into(),
        serde_norway::Value::Tagged(_) => "a tagged value".into(),
    }
}

/// Either form the specification allows for environment and labels: `KEY=VALUE` items or a mapping
/// (a null value: take it from the environment, as `-e KEY` does).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(transparent)]
pub struct KeyValues(pub BTreeMap<String, Option<String>>);

impl<'de> Deserialize<'de> for KeyValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<Text>),
            Map(BTreeMap<String, Option<Text>>),
        }
        let map = match Form::deserialize(d)? {
            Form::List(items) => items
                .into_iter()
                .map(|Text(item)| match item.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (item, None),
                })
                .collect(),
            Form::Map(map) => map.into_iter().map(|(k, v)| (k, v.map(|t| t.0))).collect(),
        };
        Ok(KeyValues(map))
    }
}

/// A command as text (split as a shell would, without running one) or as a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Command {
    Shell(String),
    List(Vec<Text>),
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::Sequence(items) => items
                .into_iter()
                .map(|i| Text::deserialize(i).map_err(de::Error::custom))
                .collect::<Result<_, _>>()
                .map(Command::List),
            other => Text::deserialize(other)
                .map(|t| Command::Shell(t.0))
                .map_err(|_| de::Error::custom("expected a string or a list of strings")),
        }
    }
}

/// One value or a list of them (`env_file`, `tmpfs`, `dns`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Project {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// Obsolete; docker compose warns and ignores it.
    #[serde(default, skip_serializing)]
    pub version: Option<Text>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<Network>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Option<Volume>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObject>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<KeyValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<OneOrMany<EnvFile>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<ServiceNetworks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<KeyValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<OneOrMany<Text>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<Flag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<OneOrMany<Text>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Build {
    Context(String),
    Full(BuildSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<KeyValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvFile {
    Path(String),
    Long {
        path: String,
        #[serde(default)]
        required: Option<Flag>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Port {
    Short(Text),
    Long(PortLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortLong {
    pub target: Count,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceVolume {
    Short(String),
    Long(VolumeLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLong {
    #[serde(rename = "type")]
    pub kind: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Text>,
    pub target: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocopy: Option<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Count>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

impl ServiceNetworks {
    /// The networks in the order given (a mapping's in key order), with their settings.
    pub fn entries(&self) -> Vec<(String, ServiceNetwork)> {
        match self {
            ServiceNetworks::List(names) => names.iter().map(|n| (n.clone(), ServiceNetwork::default())).collect(),
            ServiceNetworks::Map(map) => map.iter().map(|(n, s)| (n.clone(), s.clone().unwrap_or_default())).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, Dependency>),
}

impl DependsOn {
    pub fn entries(&self) -> Vec<(String, Dependency)> {
        match self {
            DependsOn::List(names) => names.iter().map(|n| (n.clone(), Dependency::default())).collect(),
            DependsOn::Map(map) => map.iter().map(|(n, d)| (n.clone(), d.clone())).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Condition,
    /// Restart this service when the dependency is updated (recreated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Count>,
}

/// A service's use of a secret or config: its name, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileRef {
    Name(String),
    Long(FileRefLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRefLong {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Text>,
}

impl FileRef {
    pub fn source(&self) -> &str {
        match self {
            FileRef::Name(n) => n,
            FileRef::Long(l) => &l.source,
        }
    }

    pub fn target(&self) -> Option<&str> {
        match self {
            FileRef::Name(_) => None,
            FileRef::Long(l) => l.target.as_ref().map(|t| t.0.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<KeyValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<KeyValues>,
}

/// A top-level secret or config: berth takes the file-based ones (and `environment`/`content` for configs
/// would need writing a file; refused for now with the key named).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
}
