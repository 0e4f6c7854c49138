//! Typed instructions from parsed nodes, checked as BuildKit's `instructions` package checks them (argument
//! counts, flags, stage names, JSON-only SHELL, HEALTHCHECK options, ONBUILD triggers), plus the flags
//! berth refuses outright. Values stay as written: which of them are expanded, and with what, is the
//! stage planner's business (`stages.rs`).

mod chmod;
mod flags;
mod mount;

use thiserror::Error;

pub use chmod::Chmod;
pub use flags::go_duration;
pub use mount::{Mount, MountKind, Sharing, mount_field, parse_mount, parse_mount_with};

use crate::build::dockerfile::{Dockerfile, Heredoc, Node, chomp, heredoc_word};
use flags::{Flags, Kind};

/// An instruction that could not be typed: its line, its name, and BuildKit's words for what is wrong.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("dockerfile parse error on line {line}: {}", named(instruction, message))]
pub struct InstructionError {
    pub line: usize,
    pub instruction: String,
    pub message: String,
}

/// Names the instruction unless BuildKit's message already does.
fn named(instruction: &str, message: &str) -> String {
    if instruction.is_empty() || message.to_ascii_uppercase().contains(instruction) {
        message.to_string()
    } else {
        format!("{instruction}: {message}")
    }
}

/// A key and value of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG, with its default if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub key: String,
    pub default: Option<String>,
}

/// A RUN, CMD or ENTRYPOINT command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one string for the shell.
    pub args: Vec<String>,
    /// Shell form: run through SHELL.
    pub shell: bool,
    /// Heredoc bodies the command reads (RUN).
    pub files: Vec<Heredoc>,
}

/// A COPY or ADD source written inline as a heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// The file name (the heredoc's delimiter).
    pub name: String,
    pub data: String,
    /// Variables in `data` are expanded (the delimiter was not quoted).
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    /// COPY --from: a stage name, a stage index or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    /// As written; checked as octal or symbolic here when it has no variable, again after expansion.
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    /// ADD only.
    pub checksum: Option<String>,
    /// ADD only: `--unpack` given (`None` means the default, unpack local archives).
    pub unpack: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// `--mount` values as written; checked here, parsed again after expansion.
    pub mount_specs: Vec<String>,
    pub network: Network,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The build's own network setting.
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", argv…]` or `["CMD-SHELL", line]`.
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub start_period_ns: i64,
    pub start_interval_ns: i64,
    pub retries: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Arg(Vec<ArgDef>),
    Run(Run),
    Copy(Copy),
    Add(Copy),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Healthcheck(Healthcheck),
    StopSignal(String),
    /// The trigger as written, heredoc bodies appended (it is parsed when a child image builds).
    Onbuild(String),
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub instruction: Instruction,
    /// The instruction name upper-cased, for messages and history.
    pub name: String,
    pub start_line: usize,
    pub end_line: usize,
    /// The instruction's text, continuations joined.
    pub original: String,
}

/// Types one node.
pub fn parse_node(node: &Node) -> Result<Located, InstructionError> {
    let name = node.name.to_ascii_uppercase();
    let instruction = typed(node, &name).map_err(|message| InstructionError {
        line: node.start_line,
        instruction: name.clone(),
        message,
    })?;
    Ok(Located {
        instruction,
        name,
        start_line: node.start_line,
        end_line: node.end_line,
        original: node.original.trim().to_string(),
    })
}

/// Types a whole Dockerfile, in order.
pub fn parse_all(file: &Dockerfile) -> Result<Vec<Located>, InstructionError> {
    file.nodes.iter().map(parse_node).collect()
}

fn at_least_one(name: &str) -> String {
    format!("{name} requires at least one argument")
}

fn exactly_one(name: &str) -> String {
    format!("{name} requires exactly one argument")
}

fn no_flags(node: &Node) -> Result<(), String> {
    Flags::parse(&node.flags, &[]).map(|_| ())
}

fn key_values(node: &Node, name: &str) -> Result<Vec<KeyValue>, String> {
    no_flags(node)?;
    let args = &node.args;
    if args.is_empty() {
        return Err(at_least_one(name));
    }
    if !args.len().is_multiple_of(3) {
        return Err(format!("Bad input to {name}, too many arguments"));
    }
    args.chunks(3)
        .map(|kv| {
            if kv[0].is_empty() {
                return Err(format!("{name} names can not be blank"));
            }
            Ok(KeyValue { key: kv[0].clone(), value: kv[1].clone() })
        })
        .collect()
}

fn command_line(node: &Node, empty_as_nil: bool) -> CommandLine {
    let args = if node.json || node.args.is_empty() { node.args.clone() } else { vec![node.args.join(" ")] };
    let args = if empty_as_nil && args.is_empty() { Vec::new() } else { args };
    CommandLine { args, shell: !node.json, files: node.heredocs.clone() }
}

fn typed(node: &Node, name: &str) -> Result<Instruction, String> {
    let args = node.all_args();
    Ok(match name {
        "FROM" => {
            let stage = match args.as_slice() {
                [_, r#as, stage] if r#as.eq_ignore_ascii_case("as") => {
                    let lower = stage.to_ascii_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(format!(
                            "invalid name for build stage: {stage:?}, name can't start with a number or contain symbols"
                        ));
                    }
                    Some(lower)
                }
                [_] => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let flags = Flags::parse(&node.flags, &[("platform", Kind::String)])?;
            Instruction::From(From { image: args[0].clone(), name: stage, platform: flags.string("platform") })
        }
        "ARG" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let defs = args
                .iter()
                .map(|a| match a.split_once('=') {
                    Some(("", _)) => Err("ARG names can not be blank".to_string()),
                    Some((k, v)) => Ok(ArgDef { key: k.to_string(), default: Some(v.to_string()) }),
                    None => Ok(ArgDef { key: a.clone(), default: None }),
                })
                .collect::<Result<_, _>>()?;
            Instruction::Arg(defs)
        }
        "RUN" => {
            let flags = Flags::parse(
                &node.flags,
                &[("mount", Kind::Strings), ("network", Kind::String), ("security", Kind::String)],
            )?;
            let mount_specs = flags.strings("mount");
            for spec in &mount_specs {
                check_mount(spec)?;
            }
            let network = match flags.string("network").as_deref() {
                None | Some("default") => Network::Default,
                Some("none") => Network::None,
                Some("host") => Network::Host,
                Some(other) => return Err(format!("invalid network mode {other:?}")),
            };
            match flags.string("security").as_deref() {
                None | Some("sandbox") => {}
                Some("insecure") => {
                    return Err("RUN --security=insecure is not supported by berth (builds run confined)".into());
                }
                Some(other) => return Err(format!("security {other:?} is not valid")),
            }
            Instruction::Run(Run { command: command_line(node, false), mount_specs, network })
        }
        "COPY" | "ADD" => copy_or_add(node, name, &args)?,
        "ENV" => Instruction::Env(key_values(node, "ENV")?),
        "LABEL" => Instruction::Label(key_values(node, "LABEL")?),
        "EXPOSE" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            no_flags(node)?;
            let mut ports = args;
            ports.sort();
            Instruction::Expose(ports)
        }
        "VOLUME" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            no_flags(node)?;
            let volumes = args.iter().map(|v| v.trim().to_string()).collect::<Vec<_>>();
            if volumes.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(volumes)
        }
        "WORKDIR" | "USER" | "MAINTAINER" => {
            if args.len() != 1 {
                return Err(exactly_one(name));
            }
            no_flags(node)?;
            let value = args[0].clone();
            match name {
                "WORKDIR" => Instruction::Workdir(value),
                "USER" => Instruction::User(value),
                _ => Instruction::Maintainer(value),
            }
        }
        "STOPSIGNAL" => {
            if args.len() != 1 {
                return Err(exactly_one(name));
            }
            Instruction::StopSignal(args[0].clone())
        }
        "CMD" => {
            no_flags(node)?;
            Instruction::Cmd(command_line(node, false))
        }
        "ENTRYPOINT" => {
            no_flags(node)?;
            Instruction::Entrypoint(command_line(node, true))
        }
        "SHELL" => {
            no_flags(node)?;
            let line = command_line(node, false);
            if line.args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Instruction::Shell(line.args)
        }
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(node, &args)?),
        "ONBUILD" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            no_flags(node)?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            let original = node.original.trim_start();
            let mut expression =
                original[original.find(char::is_whitespace).unwrap_or(original.len())..].trim_start().to_string();
            for doc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Instruction::Onbuild(expression)
        }
        _ => {
            let message = format!("unknown instruction: {}", node.name);
            return Err(crate::build::suggest::hint(message, &node.name, &INSTRUCTIONS, false));
        }
    })
}

/// Every instruction name, for suggestions.
const INSTRUCTIONS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Checks a mount's shape before expansion: fully when it has no variable, else only that `from` has none
/// (a stage dependency must be known before any variable is).
fn check_mount(spec: &str) -> Result<(), String> {
    if !spec.contains('$') {
        return parse_mount(spec).map(|_| ());
    }
    for field in spec.split(',') {
        if let Some((key, value)) = field.split_once('=')
            && key.eq_ignore_ascii_case("from")
            && value.find('$').is_some_and(|i| i + 1 != value.len())
        {
            return Err("'from' doesn't support variable expansion, define alias stage instead".into());
        }
    }
    Ok(())
}

fn copy_or_add(node: &Node, name: &str, args: &[String]) -> Result<Instruction, String> {
    if args.len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let declared: &[(&str, Kind)] = if name == "COPY" {
        &[
            ("chown", Kind::String),
            ("from", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("exclude", Kind::Strings),
            ("parents", Kind::Bool),
        ]
    } else {
        &[
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("unpack", Kind::Bool),
            ("exclude", Kind::Strings),
        ]
    };
    let flags = Flags::parse(&node.flags, declared)?;
    if flags.bool("keep-git-dir").is_some() {
        return Err("ADD --keep-git-dir is not supported by berth (berth does not fetch git sources)".into());
    }
    let (dest, srcs) = args.split_last().unwrap_or((&args[0], &[]));
    if heredoc_word(dest)?.is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut copy = Copy { dest: dest.clone(), ..Copy::default() };
    for src in srcs {
        match heredoc_word(src)? {
            Some(doc) => {
                let body = node.heredocs.iter().find(|h| h.name == doc.name).map(|h| h.content.as_str());
                let body = body.unwrap_or_default();
                let data = if doc.chomp { chomp(body) } else { body.to_string() };
                copy.inline.push(InlineSource { name: doc.name, data, expand: doc.expand });
            }
            None => copy.sources.push(src.clone()),
        }
    }
    copy.from = flags.string("from");
    copy.chown = flags.string("chown");
    copy.chmod = flags.string("chmod");
    if let Some(mode) = copy.chmod.as_deref().filter(|m| !m.contains('$')) {
        Chmod::parse(mode)?;
    }
    copy.link = flags.bool("link").unwrap_or(false);
    copy.parents = flags.bool("parents").unwrap_or(false);
    copy.excludes = flags.strings("exclude");
    copy.checksum = flags.string("checksum");
    copy.unpack = flags.bool("unpack");
    Ok(if name == "COPY" { Instruction::Copy(copy) } else { Instruction::Add(copy) })
}

fn healthcheck(node: &Node, args: &[String]) -> Result<Healthcheck, String> {
    let Some(kind) = args.first().map(|a| a.to_ascii_uppercase()) else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let rest = &args[1..];
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: vec!["NONE".into()],
            interval_ns: 0,
            timeout_ns: 0,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries: 0,
        });
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    let cmd = if node.json || rest.is_empty() { rest.to_vec() } else { vec![rest.join(" ")] };
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if node.json { "CMD".to_string() } else { "CMD-SHELL".to_string() }];
    test.extend(cmd);
    let interval = |flag: &str| -> Result<i64, String> {
        let Some(value) = flags.string(flag).filter(|v| !v.is_empty()) else {
            return Ok(0);
        };
        let ns = go_duration(&value)?;
        if ns != 0 && ns < 1_000_000 {
            return Err(format!("Interval {flag:?} cannot be less than 1ms"));
        }
        Ok(ns)
    };
    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => {
            let n: i64 = v
                .parse()
                .ok()
                .filter(|n: &i64| i32::try_from(*n).is_ok())
                .ok_or_else(|| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            n
        }
    };
    Ok(Healthcheck {
        test,
        interval_ns: interval("interval")?,
        timeout_ns: interval("timeout")?,
        start_period_ns: interval("start-period")?,
        start_interval_ns: interval("start-interval")?,
        retries,
    })
}

#[cfg(test)]
mod tests;
