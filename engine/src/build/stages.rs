//! Stages and variables: which stages a target needs, in what order, and what each instruction's words
//! expand to.
//!
//! `plan` splits the instructions into stages, resolves meta ARGs (the ARGs before the first FROM, usable
//! in FROM only), expands each FROM with them, and walks the references (FROM a stage, COPY --from a
//! stage name or index, RUN --mount from=) back from the target. Stages the target does not need are left
//! out without being expanded, so a broken unused stage cannot fail a build. A `Scope` then expands one
//! stage's instructions in order as the executor reaches them: it needs the base image's environment,
//! which only the executor has.

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

use crate::build::dockerfile::Dockerfile;
use crate::build::expose::expose_ports;
use crate::build::instructions::{
    ArgDef, Chmod, Copy, Instruction, InstructionError, KeyValue, Located, Mount, mount_field, parse_all,
    parse_mount_with,
};
use crate::build::words::Lexer;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StageError {
    #[error(transparent)]
    Instruction(#[from] InstructionError),
    #[error("dockerfile parse error on line {line}: no build stage in current context")]
    NoStage { line: usize },
    #[error("dockerfile contains no stages to build")]
    NoStages,
    #[error("target stage {target:?} could not be found{hint}")]
    TargetNotFound { target: String, hint: String },
    #[error("Dockerfile:{line}: base name ({base}) should not be blank")]
    BlankBase { line: usize, base: String },
    #[error("Dockerfile:{line}: {instruction}: {message}")]
    Expand { line: usize, instruction: String, message: String },
    #[error(
        "Dockerfile:{line}: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    )]
    CopyFromVariable { line: usize },
    #[error("Dockerfile:{line}: invalid stage index {index}")]
    StageIndex { line: usize, index: i64 },
    #[error("circular dependency detected on stage: {stage}")]
    Circular { stage: String },
    #[error(
        "Dockerfile:{line}: cannot copy from stage {from:?}, it needs to be defined before current stage {stage:?}"
    )]
    CopyFromLater { line: usize, from: String, stage: String },
    #[error(
        "Dockerfile:{line}: cannot mount from stage {from:?} to {target:?}, stage needs to be defined before current command"
    )]
    MountFromLater { line: usize, from: String, target: String },
}

/// What a build was asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--build-arg` values (a key without a value takes the client's environment before it gets here).
    pub build_args: BTreeMap<String, String>,
    /// `--target`; the last stage when `None`.
    pub target: Option<String>,
    /// `os/arch[/variant]` of the build's target; BuildKit's automatic platform ARGs are derived from it.
    pub platform: String,
    /// The platform the build runs on (`BUILDPLATFORM`...); the target's when None.
    pub build_platform: Option<String>,
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    Image(String),
    /// An earlier stage, by its position in the Dockerfile.
    Stage(usize),
}

/// One stage the target needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    /// Position among all the Dockerfile's stages (what `COPY --from=N` counts).
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform`, meta ARGs expanded.
    pub platform: Option<String>,
    pub from_line: usize,
    /// The stage's instructions after FROM, unexpanded (a `Scope` expands them in order).
    pub steps: Vec<Located>,
    /// Stages (by `index`) that must be built first.
    pub needs: Vec<usize>,
    /// Images COPY --from or RUN --mount from= take files from.
    pub images: Vec<String>,
}

impl PlannedStage {
    /// The name BuildKit shows: the `AS` name, else `stage-N`.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// The stages to build, each after the stages it needs; stages whose needs are all built may run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub stages: Vec<PlannedStage>,
    /// Meta ARGs (before the first FROM) with their values.
    pub meta_args: Vec<(String, Option<String>)>,
    /// The global scope FROM lines were expanded in: BuildKit's automatic platform ARGs, then the meta ARGs
    /// that have values. A stage sees one of them after `ARG name`.
    pub globals: Vec<(String, String)>,
    pub build_args: BTreeMap<String, String>,
    /// The Dockerfile's escape token, which expansion uses too.
    pub escape: char,
}

impl Plan {
    /// The stage the build produces.
    pub fn target(&self) -> &PlannedStage {
        self.stages.last().expect("a plan has a target")
    }

    pub fn stage(&self, index: usize) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// Waves of stages (by `index`) that can be built in parallel, each wave needing only earlier ones.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let mut level: HashMap<usize, usize> = HashMap::new();
        for stage in &self.stages {
            let l = stage.needs.iter().filter_map(|n| level.get(n)).map(|l| l + 1).max().unwrap_or(0);
            level.insert(stage.index, l);
        }
        let depth = level.values().max().map_or(0, |m| m + 1);
        let mut waves = vec![Vec::new(); depth];
        for stage in &self.stages {
            waves[level[&stage.index]].push(stage.index);
        }
        waves
    }
}

/// BuildKit's automatic platform ARGs: `BUILD*` for the platform the build runs on, `TARGET*` for the
/// one it builds for.
fn platform_args(build: &str, target: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, platform) in [("BUILD", build), ("TARGET", target)] {
        let mut parts = platform.split('/');
        let os = parts.next().unwrap_or_default().to_string();
        let arch = parts.next().unwrap_or_default().to_string();
        let variant = parts.next().unwrap_or_default().to_string();
        out.push((format!("{prefix}PLATFORM"), platform.to_string()));
        out.push((format!("{prefix}OS"), os));
        out.push((format!("{prefix}ARCH"), arch));
        out.push((format!("{prefix}VARIANT"), variant));
    }
    out
}

struct RawStage {
    image: String,
    name: Option<String>,
    platform: Option<String>,
    line: usize,
    steps: Vec<Located>,
}

/// Plans a parsed Dockerfile for a target.
pub fn plan(file: &Dockerfile, opts: &PlanOptions) -> Result<Plan, StageError> {
    let lexer = Lexer::new(file.escape);
    let mut meta_defs: Vec<(ArgDef, usize)> = Vec::new();
    let mut raw: Vec<RawStage> = Vec::new();
    for located in parse_all(file)? {
        match (&located.instruction, raw.last_mut()) {
            (Instruction::From(from), _) => raw.push(RawStage {
                image: from.image.clone(),
                name: from.name.clone(),
                platform: from.platform.clone(),
                line: located.start_line,
                steps: Vec::new(),
            }),
            (Instruction::Arg(defs), None) => {
                meta_defs.extend(defs.iter().cloned().map(|d| (d, located.start_line)));
            }
            (_, None) => return Err(StageError::NoStage { line: located.start_line }),
            (_, Some(stage)) => stage.steps.push(located),
        }
    }
    if raw.is_empty() {
        return Err(StageError::NoStages);
    }

    // Meta ARGs: a build arg wins, else the default expanded with the ARGs before it.
    let build = opts.build_platform.as_deref().unwrap_or(&opts.platform);
    let mut globals: Vec<(String, String)> = platform_args(build, &opts.platform);
    let mut meta_args = Vec::new();
    for (def, line) in meta_defs {
        let value = match (opts.build_args.get(&def.key), &def.default) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(d)) => Some(expand_with(&lexer, d, &globals).map_err(|message| StageError::Expand {
                line,
                instruction: "ARG".into(),
                message,
            })?),
            (None, None) => None,
        };
        if let Some(v) = &value {
            globals.retain(|(k, _)| *k != def.key);
            globals.push((def.key.clone(), v.clone()));
        }
        meta_args.push((def.key, value));
    }

    // FROM lines, in order: a base that names an earlier stage is that stage.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut bases = Vec::new();
    let mut platforms = Vec::new();
    for (i, stage) in raw.iter().enumerate() {
        let expand = |word: &str| {
            expand_with(&lexer, word, &globals).map_err(|message| StageError::Expand {
                line: stage.line,
                instruction: "FROM".into(),
                message,
            })
        };
        let image = expand(&stage.image)?;
        if image.is_empty() {
            return Err(StageError::BlankBase { line: stage.line, base: stage.image.clone() });
        }
        let base = match names.get(&image) {
            Some(&earlier) => Base::Stage(earlier),
            None if image.eq_ignore_ascii_case("scratch") => Base::Scratch,
            None => Base::Image(image),
        };
        bases.push(base);
        let platform = stage.platform.as_deref().map(expand).transpose()?;
        if let (Some(written), Some("")) = (&stage.platform, platform.as_deref()) {
            return Err(StageError::Expand {
                line: stage.line,
                instruction: "FROM".into(),
                message: format!("empty platform value from expression {written}"),
            });
        }
        platforms.push(platform);
        if let Some(name) = &stage.name {
            names.insert(name.clone(), i);
        }
    }

    // References from each stage, to stages (by position) or images.
    let display = |i: usize| raw[i].name.clone().unwrap_or_else(|| format!("stage-{i}"));
    let mut refs: Vec<Vec<Reference>> = Vec::new();
    for (i, stage) in raw.iter().enumerate() {
        let mut out = Vec::new();
        if let Base::Stage(s) = bases[i] {
            out.push(Reference::Stage { index: s, line: stage.line, kind: RefKind::Base });
        }
        for step in &stage.steps {
            collect_refs(step, &lexer, &names, raw.len(), &mut out)?;
        }
        refs.push(out);
    }
    if let Some(stage) = find_cycle(&refs) {
        return Err(StageError::Circular { stage: display(stage) });
    }

    let target = match &opts.target {
        None => raw.len() - 1,
        Some(t) => match names.get(&t.to_ascii_lowercase()) {
            Some(i) => *i,
            None => {
                let known: Vec<&str> = raw.iter().filter_map(|s| s.name.as_deref()).collect();
                let hint = crate::build::suggest::closest(t, &known, true)
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                return Err(StageError::TargetNotFound { target: t.clone(), hint });
            }
        },
    };
    // BuildKit's TARGETSTAGE: the target's name, `default` for an unnamed one (known only now, so not in FROM).
    globals.push(("TARGETSTAGE".into(), raw[target].name.clone().unwrap_or_else(|| "default".into())));
    let mut needed = vec![false; raw.len()];
    let mut stack = vec![target];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        for r in &refs[i] {
            if let Reference::Stage { index, line, kind } = r {
                if *index >= i {
                    return Err(match kind {
                        RefKind::Copy(from) => {
                            StageError::CopyFromLater { line: *line, from: from.clone(), stage: display(i) }
                        }
                        RefKind::Mount { from, target } => {
                            StageError::MountFromLater { line: *line, from: from.clone(), target: target.clone() }
                        }
                        RefKind::Base => StageError::Circular { stage: display(i) },
                    });
                }
                stack.push(*index);
            }
        }
    }

    let mut stages = Vec::new();
    for (i, stage) in raw.into_iter().enumerate() {
        if !needed[i] {
            continue;
        }
        let mut needs: Vec<usize> = Vec::new();
        let mut images: Vec<String> = Vec::new();
        for r in &refs[i] {
            match r {
                Reference::Stage { index, .. } if !needs.contains(index) => needs.push(*index),
                Reference::Image(image) if !images.contains(image) => images.push(image.clone()),
                _ => {}
            }
        }
        stages.push(PlannedStage {
            index: i,
            name: stage.name,
            base: bases[i].clone(),
            platform: platforms[i].clone(),
            from_line: stage.line,
            steps: stage.steps,
            needs,
            images,
        });
    }
    // The target last: stages are in Dockerfile order, and a target needs only earlier stages.
    Ok(Plan { stages, meta_args, globals, build_args: opts.build_args.clone(), escape: file.escape })
}

#[derive(Debug)]
enum RefKind {
    Base,
    Copy(String),
    Mount { from: String, target: String },
}

#[derive(Debug)]
enum Reference {
    Stage { index: usize, line: usize, kind: RefKind },
    Image(String),
}

fn collect_refs(
    step: &Located,
    lexer: &Lexer,
    names: &HashMap<String, usize>,
    count: usize,
    out: &mut Vec<Reference>,
) -> Result<(), StageError> {
    let line = step.start_line;
    match &step.instruction {
        Instruction::Copy(copy) => {
            let Some(from) = &copy.from else { return Ok(()) };
            if expand_with(lexer, from, &[]).as_deref() != Ok(from.as_str()) {
                return Err(StageError::CopyFromVariable { line });
            }
            if let Ok(index) = from.parse::<i64>() {
                let index =
                    usize::try_from(index).ok().filter(|i| *i < count).ok_or(StageError::StageIndex { line, index })?;
                out.push(Reference::Stage { index, line, kind: RefKind::Copy(from.clone()) });
            } else {
                match names.get(&from.to_ascii_lowercase()) {
                    Some(&index) => out.push(Reference::Stage { index, line, kind: RefKind::Copy(from.clone()) }),
                    None => out.push(Reference::Image(from.clone())),
                }
            }
        }
        Instruction::Run(run) => {
            for spec in &run.mount_specs {
                let Some(from) = mount_field(spec, &["from"]) else { continue };
                let target = mount_field(spec, &["target", "dst", "destination"]);
                match names.get(&from.to_ascii_lowercase()) {
                    Some(&index) => out.push(Reference::Stage {
                        index,
                        line,
                        kind: RefKind::Mount { from, target: target.unwrap_or_default() },
                    }),
                    None => out.push(Reference::Image(from)),
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The first stage (in order) from which the references lead back to itself.
fn find_cycle(refs: &[Vec<Reference>]) -> Option<usize> {
    fn reaches(refs: &[Vec<Reference>], from: usize, goal: usize, seen: &mut Vec<bool>) -> bool {
        for r in &refs[from] {
            if let Reference::Stage { index, .. } = r {
                if *index == goal {
                    return true;
                }
                if !std::mem::replace(&mut seen[*index], true) && reaches(refs, *index, goal, seen) {
                    return true;
                }
            }
        }
        false
    }
    (0..refs.len()).find(|&i| reaches(refs, i, i, &mut vec![false; refs.len()]))
}

fn expand_with(lexer: &Lexer, word: &str, vars: &[(String, String)]) -> Result<String, String> {
    lexer
        .process_word(word, &|k| vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .map_err(|e| e.to_string())
}

/// ADD --checksum: one HTTP(S) source and a well-formed digest (go-digest's words).
fn check_checksum(sum: &str, sources: &[String]) -> Result<(), String> {
    if sources.len() != 1 {
        return Err("checksum can't be specified for multiple sources".into());
    }
    if !(sources[0].starts_with("http://") || sources[0].starts_with("https://")) {
        return Err("checksum requires HTTP(S) or Git sources".into());
    }
    let Some((algorithm, hex)) = sum.split_once(':') else {
        return Err("invalid checksum digest format".into());
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm".into()),
    };
    if hex.len() != length {
        return Err("invalid checksum digest length".into());
    }
    if !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err("invalid checksum digest format".into());
    }
    Ok(())
}

/// An instruction with its words expanded, as the executor runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    /// RUN's mounts, parsed after expansion.
    pub mounts: Vec<Mount>,
    pub name: String,
    pub start_line: usize,
    pub original: String,
}

/// The variables one stage sees, updated as its instructions are expanded in order.
#[derive(Debug, Clone)]
pub struct Scope {
    lexer: Lexer,
    /// The image config's environment: the base's, then ENV.
    env: Vec<(String, String)>,
    /// ARGs declared in this stage that have a value.
    args: Vec<(String, String)>,
    globals: Vec<(String, String)>,
    build_args: BTreeMap<String, String>,
}

fn set(list: &mut Vec<(String, String)>, key: &str, value: String) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key.to_string(), value)),
    }
}

impl Scope {
    /// A stage's scope over its base's environment (`K=V` entries of the image config, or the parent
    /// stage's `env()`).
    pub fn new(plan: &Plan, base_env: &[String]) -> Scope {
        let mut env = Vec::new();
        for entry in base_env {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            set(&mut env, k, v.to_string());
        }
        Scope {
            lexer: Lexer::new(plan.escape),
            env,
            args: Vec::new(),
            globals: plan.globals.clone(),
            build_args: plan.build_args.clone(),
        }
    }

    /// ENV beats ARG of the same name.
    pub fn lookup(&self, key: &str) -> Option<String> {
        self.env.iter().chain(&self.args).find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// The image config's environment as `K=V`.
    pub fn env(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// What a RUN step's process gets: the environment, then ARGs ENV does not shadow.
    pub fn run_env(&self) -> Vec<String> {
        let mut out = self.env();
        for (k, v) in &self.args {
            if !self.env.iter().any(|(e, _)| e == k) {
                out.push(format!("{k}={v}"));
            }
        }
        out
    }

    /// The ARGs in scope with values, for history and cache keys.
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    fn word(&self, word: &str) -> Result<String, String> {
        self.lexer.process_word(word, &|k| self.lookup(k)).map_err(|e| e.to_string())
    }

    fn words(&self, word: &str) -> Result<Vec<String>, String> {
        self.lexer.process_words(word, &|k| self.lookup(k)).map_err(|e| e.to_string())
    }

    /// Expands one instruction with the variables as they are *before* it (so `ENV a=b c=$a` sees the old
    /// `a`), then applies what it declares.
    pub fn expand(&mut self, step: &Located) -> Result<Step, StageError> {
        let err =
            |message: String| StageError::Expand { line: step.start_line, instruction: step.name.clone(), message };
        let mut mounts = Vec::new();
        let instruction = match &step.instruction {
            Instruction::Env(pairs) => {
                let pairs = self.key_values(pairs).map_err(err)?;
                for kv in &pairs {
                    set(&mut self.env, &kv.key, kv.value.clone());
                }
                Instruction::Env(pairs)
            }
            Instruction::Label(pairs) => Instruction::Label(self.key_values(pairs).map_err(err)?),
            Instruction::Arg(defs) => {
                let mut out = Vec::new();
                for def in defs {
                    let value = match (self.build_args.get(&def.key), &def.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(self.word(d).map_err(err)?),
                        (None, None) => self.globals.iter().rev().find(|(k, _)| *k == def.key).map(|(_, v)| v.clone()),
                    };
                    if let Some(v) = &value {
                        set(&mut self.args, &def.key, v.clone());
                    }
                    out.push(ArgDef { key: def.key.clone(), default: value });
                }
                Instruction::Arg(out)
            }
            Instruction::Copy(copy) => Instruction::Copy(self.copy(copy, "COPY").map_err(err)?),
            Instruction::Add(add) => Instruction::Add(self.copy(add, "ADD").map_err(err)?),
            // Expanded, split, then normalised to `ExposedPorts` keys (`80/tcp`).
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    for word in self.words(p).map_err(err)? {
                        out.extend(expose_ports(&word).map_err(err)?);
                    }
                }
                Instruction::Expose(out)
            }
            Instruction::Volume(volumes) => {
                let out = volumes.iter().map(|v| self.word(v)).collect::<Result<Vec<_>, _>>().map_err(err)?;
                if out.iter().any(|v| v.trim().is_empty()) {
                    return Err(err("VOLUME specified can not be an empty string".into()));
                }
                Instruction::Volume(out)
            }
            Instruction::Workdir(p) => Instruction::Workdir(self.word(p).map_err(err)?),
            Instruction::User(u) => Instruction::User(self.word(u).map_err(err)?),
            Instruction::StopSignal(s) => {
                let signal = self.word(s).map_err(err)?;
                if crate::container::parse_signal(&signal).is_err() {
                    return Err(err(format!("invalid signal: {signal}")));
                }
                Instruction::StopSignal(signal)
            }
            Instruction::Run(run) => {
                for spec in &run.mount_specs {
                    mounts.push(self.mount(spec).map_err(err)?);
                }
                Instruction::Run(run.clone())
            }
            other => other.clone(),
        };
        Ok(Step {
            instruction,
            mounts,
            name: step.name.clone(),
            start_line: step.start_line,
            original: step.original.clone(),
        })
    }

    fn key_values(&self, pairs: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
        pairs.iter().map(|kv| Ok(KeyValue { key: self.word(&kv.key)?, value: self.word(&kv.value)? })).collect()
    }

    fn copy(&self, copy: &Copy, name: &str) -> Result<Copy, String> {
        let opt = |v: &Option<String>| v.as_deref().map(|w| self.word(w)).transpose();
        let mut out = copy.clone();
        out.sources = copy.sources.iter().map(|s| self.word(s)).collect::<Result<_, _>>()?;
        out.dest = self.word(&copy.dest)?;
        out.chown = opt(&copy.chown)?;
        out.chmod = opt(&copy.chmod)?;
        if let Some(mode) = &out.chmod {
            Chmod::parse(mode)?;
        }
        if name == "ADD" {
            out.checksum = opt(&copy.checksum)?;
            if let Some(sum) = &out.checksum {
                check_checksum(sum, &out.sources)?;
            }
        } else if out.sources.iter().any(|s| s.starts_with("http://") || s.starts_with("https://")) {
            return Err("source can't be a URL for COPY".into());
        }
        let raw = Lexer { skip_quotes: true, ..Lexer::new('\\') };
        for inline in out.inline.iter_mut().filter(|i| i.expand) {
            inline.data = raw.process_word(&inline.data, &|k| self.lookup(k)).map_err(|e| e.to_string())?;
        }
        Ok(out)
    }

    /// Each option value is expanded on its own, then the whole parsed, as BuildKit does.
    fn mount(&self, spec: &str) -> Result<Mount, String> {
        parse_mount_with(spec, &|v| self.word(v))
    }
}

#[cfg(test)]
#[path = "stages_tests.rs"]
mod tests;
