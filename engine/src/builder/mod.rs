//! The build executor: runs the front end's plan (`crate::build`) and makes the image.
//!
//! Every step's result is an image row (layers, config blob, history) marked as build cache
//! (`cache.rs`), so the next RUN's container is made from it like any container from any image, and a
//! step found under its cache key is that image again. RUN runs a build container (hidden from `ps`, no
//! volumes for the image's VOLUMEs) under the monitor, as `run` does, and its upper directory, less the
//! runtime's stubs, becomes the layer (`adopt_layer`, no re-unpack). COPY writes into an overlay of the
//! previous layers mounted privately (`volume::mount_privately`), whose upper becomes the layer.
//! Metadata steps change the config with an `empty_layer` history entry.

mod archive;
pub(crate) mod cache;
pub(crate) mod config;
pub(crate) mod fetch;
mod files;
mod mounts;
mod platform;
mod run;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use thiserror::Error;

use crate::build::ignore::{Ignore, ignore_file_for};
use crate::build::instructions::{Chmod, Copy, Instruction};
use crate::build::stages::{Base, Plan, PlanOptions, PlannedStage, Scope, Step};
use crate::container::{MonitorEnd, Standby};
use crate::inroot::Root;
use crate::layer::PackOptions;
use crate::local::source_date_epoch;
use crate::store::LocalImage;
use crate::{Engine, Error};
use cache::Key;
use config::StageFlags;
pub use mounts::Secret;

/// Why a build failed, beyond the front end's errors (which name their line already).
#[derive(Debug, Error)]
pub enum BuilderError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Dockerfile {path} is not UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error(
        "process \"{command}\" did not complete successfully: exit code: {code}\n\
         Dockerfile:{line}\n--------------------\n{line:>4} | {instruction}\n--------------------\n{output}"
    )]
    RunFailed { line: usize, instruction: String, command: String, code: i32, output: String },
    #[error("Dockerfile:{line}: {instruction}: {message}")]
    Step { line: usize, instruction: String, message: String },
    /// Writing a step's files failed; the caller names the step.
    #[error("{message}")]
    Write { message: String },
    #[error("invalid tag {tag:?}: {reason}")]
    Tag { tag: String, reason: String },
    #[error(
        "image with reference {image} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
    )]
    Platform { image: String, wanted: String, actual: String },
    #[error("a RUN step for {platform} needs QEMU user emulation: {missing}")]
    NoEmulation { platform: String, missing: String },
}

/// `berth build`'s options.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// `-f`: the Dockerfile's path (default `CONTEXT/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `-f -`: the Dockerfile's text itself.
    pub dockerfile_text: Option<String>,
    /// `-t`, each `name[:tag]`.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: pull every base image even when stored.
    pub pull: bool,
    /// `--label`: labels on the final image.
    pub labels: BTreeMap<String, String>,
    /// `--network`: RUN steps' network (`bridge`, `none`, `host`); the default bridge when `None`.
    pub network: Option<String>,
    /// `--secret`: what `RUN --mount=type=secret` reads, by id.
    pub secrets: BTreeMap<String, Secret>,
    /// `--platform`: one image per platform (several make an index under each tag); the host's when empty.
    pub platforms: Vec<crate::registry::Platform>,
}

/// What a build reports as it goes, in BuildKit's plain progress terms.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// The plan is made: how many steps the stages the target needs hold (a base's ONBUILD triggers, known
    /// only when they run, come on top), so a view can show `(done/total)` from the start.
    Planned { steps: usize },
    /// A step begins: `#N [stage k/n] INSTRUCTION ...`.
    Step { number: usize, name: String },
    /// The step's result came from the cache.
    Cached { number: usize },
    /// A line the step's command printed.
    Output { number: usize, line: String },
    /// The step finished (not from the cache).
    Done { number: usize, seconds: f64 },
    /// The step failed; the build's error says why.
    Failed { number: usize },
    /// A base image is being pulled.
    Pulling { image: String },
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub image_id: String,
    /// The tags pointed at it, full form.
    pub tags: Vec<String>,
    /// With several `--platform`s: each platform's image (`image_id` is the host's, else the first);
    /// each tag also names a local manifest list over them.
    pub platforms: Vec<(String, String)>,
}

/// A stage's state between steps.
#[derive(Debug, Clone)]
struct State {
    /// The image row of this state; `None` only for scratch before its first step.
    id: Option<String>,
    layers: Vec<String>,
    config: Value,
    key: String,
}

/// What the whole build shares.
struct Ctx<'a> {
    opts: &'a BuildOptions,
    /// `--platform` of this image; None builds for the host as before.
    platform: Option<crate::registry::Platform>,
    progress: &'a (dyn Fn(BuildEvent) + Send + Sync),
    context: Root,
    ignore: Ignore,
    /// Steps begun so far (BuildKit's `#N`), across stages building at once.
    number: AtomicUsize,
    epoch: Option<i64>,
    /// Stage names (lower-cased) to their index, for COPY --from.
    names: BTreeMap<String, usize>,
    /// Images COPY --from names, resolved (pulled when missing) before the build starts.
    images: BTreeMap<String, State>,
    /// RUN steps of the plan not begun yet, cached or not.
    runs_ahead: AtomicUsize,
    /// A monitor started for the next RUN step that runs (see [`Engine::stand_by`]).
    standby: std::sync::Mutex<Option<Standby>>,
    /// RUN steps that ran to their end, whose monitors are removing their containers.
    finishing: std::sync::Mutex<Vec<(String, MonitorEnd)>>,
    /// Threads unmounting the layers RUN steps had mounted to make their layers (see `run_container_step`).
    unmounting: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn now_rfc3339(epoch: Option<i64>) -> String {
    let time = epoch.and_then(|e| chrono::DateTime::from_timestamp(e, 0)).unwrap_or_else(chrono::Utc::now);
    // As Go's RFC3339Nano writes it for whole seconds (SOURCE_DATE_EPOCH): no fraction.
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Engine {
    /// `berth build`: plans the Dockerfile, builds the stages the target needs, tags the result.
    pub async fn build(
        &self,
        opts: BuildOptions,
        progress: &(dyn Fn(BuildEvent) + Send + Sync),
    ) -> Result<BuildOutcome, Error> {
        let dockerfile_path = opts.dockerfile.clone().unwrap_or_else(|| opts.context.join("Dockerfile"));
        let text = match &opts.dockerfile_text {
            Some(text) => text.clone(),
            None => {
                let bytes = std::fs::read(&dockerfile_path).map_err(|source| BuilderError::Read {
                    what: "the Dockerfile",
                    path: dockerfile_path.clone(),
                    source,
                })?;
                String::from_utf8(bytes).map_err(|_| BuilderError::NotUtf8 { path: dockerfile_path.clone() })?
            }
        };
        let tags = opts
            .tags
            .iter()
            .map(|t| {
                let r = crate::reference::Reference::parse(t)?;
                if r.digest.is_some() {
                    return Err(
                        BuilderError::Tag { tag: t.clone(), reason: "a tag cannot hold a digest".into() }.into()
                    );
                }
                Ok(r.with_tag(r.tag.as_deref().unwrap_or("latest")).to_string())
            })
            .collect::<Result<Vec<String>, Error>>()?;
        if opts.platforms.len() > 1 {
            return self.build_platforms(&opts, &text, &dockerfile_path, tags, progress).await;
        }
        let platform = opts.platforms.first();
        let id = self.build_one(&opts, &text, &dockerfile_path, platform, progress).await?;
        for tag in &tags {
            let reference = crate::reference::Reference::parse(tag)?;
            self.store().tag_image(&id, &reference)?;
            if let Some(platform) = platform {
                self.store().record_platform_image(&reference, &platform.to_string(), &id)?;
            }
            self.record_tag(&reference);
        }
        Ok(BuildOutcome { image_id: id, tags, platforms: Vec::new() })
    }

    /// Several `--platform`s: one image each, the host's (else the first) under the tags, every one
    /// recorded as the tags' image of its platform, and a local manifest list under each tag over them
    /// (`manifest push TAG` pushes the index).
    async fn build_platforms(
        &self,
        opts: &BuildOptions,
        text: &str,
        dockerfile_path: &std::path::Path,
        tags: Vec<String>,
        progress: &(dyn Fn(BuildEvent) + Send + Sync),
    ) -> Result<BuildOutcome, Error> {
        let mut built = Vec::new();
        for p in &opts.platforms {
            built.push((p.clone(), self.build_one(opts, text, dockerfile_path, Some(p), progress).await?));
        }
        let host = platform::host();
        let main = built.iter().find(|(p, _)| *p == host).unwrap_or(&built[0]).1.clone();
        let ids: Vec<String> = built.iter().map(|(_, id)| id.clone()).collect();
        for tag in &tags {
            let reference = crate::reference::Reference::parse(tag)?;
            self.store().tag_image(&main, &reference)?;
            for (p, id) in &built {
                self.store().record_platform_image(&reference, &p.to_string(), id)?;
            }
            self.record_build_list(&reference, &ids)?;
            self.record_tag(&reference);
        }
        let platforms = built.into_iter().map(|(p, id)| (p.to_string(), id)).collect();
        Ok(BuildOutcome { image_id: main, tags, platforms })
    }

    /// One image of the Dockerfile for `platform` (the host's when None); its id.
    async fn build_one(
        &self,
        opts: &BuildOptions,
        text: &str,
        dockerfile_path: &std::path::Path,
        platform: Option<&crate::registry::Platform>,
        progress: &(dyn Fn(BuildEvent) + Send + Sync),
    ) -> Result<String, Error> {
        let host = platform::host();
        let target_platform = platform.cloned().unwrap_or_else(|| host.clone());
        let plan_opts = PlanOptions {
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            platform: platform::buildkit_spelling(&target_platform),
            build_platform: Some(platform::buildkit_spelling(&host)),
        };
        let (_, plan) = crate::build::plan_dockerfile(text, &plan_opts)?;
        let steps = plan.stages.iter().flat_map(|s| &s.steps).filter(|s| !matches!(s.instruction, Instruction::Arg(_)));
        progress(BuildEvent::Planned { steps: steps.count() });
        let runs =
            plan.stages.iter().flat_map(|s| &s.steps).filter(|s| matches!(s.instruction, Instruction::Run(_))).count();
        // Every RUN step will run: the first one's monitor starts now, beside the context's and base images'
        // set-up (see `stand_by`).
        let standby = (opts.no_cache && runs > 0).then(|| self.standby());
        let ignore = match ignore_file_for(&opts.context, dockerfile_path) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| BuilderError::Read {
                    what: "the ignore file",
                    path: path.clone(),
                    source,
                })?;
                Ignore::parse(&text).map_err(crate::build::BuildError::from)?
            }
            None => Ignore::default(),
        };
        let context = Root::open(&opts.context).map_err(|source| BuilderError::Read {
            what: "the build context",
            path: opts.context.clone(),
            source,
        })?;
        self.remove_orphan_build_containers().await?;
        // Held shared, as a pull does: no prune runs between a layer's commit and the image row using it.
        let _gc = self.store().gc_shared_lock()?;
        let mut images = BTreeMap::new();
        for stage in &plan.stages {
            let stage_platform = platform::of_stage(stage, platform)?;
            for image in &stage.images {
                if !images.contains_key(image) {
                    let state = self.base_state(image, opts.pull, progress, stage_platform.as_ref()).await?;
                    images.insert(image.clone(), state);
                }
            }
        }
        let names = plan.stages.iter().filter_map(|s| s.name.clone().map(|n| (n, s.index))).collect();
        let ctx = Ctx {
            opts,
            platform: platform.cloned(),
            progress,
            context,
            ignore,
            number: AtomicUsize::new(0),
            epoch: source_date_epoch(),
            names,
            images,
            runs_ahead: AtomicUsize::new(runs),
            standby: std::sync::Mutex::new(standby),
            finishing: std::sync::Mutex::new(Vec::new()),
            unmounting: std::sync::Mutex::new(Vec::new()),
        };
        let built = self.build_stages(&ctx, &plan).await;
        // The build ends with its RUN steps' containers, whichever way it ends.
        self.finish_step_containers(&ctx).await;
        let mut state = built?;
        if !opts.labels.is_empty() {
            let c = config::run_config(&mut state.config);
            let labels = c.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in &opts.labels {
                labels[k] = json!(v);
            }
            let mut key = Key::new(&state.key);
            key.field("--label");
            for (k, v) in &opts.labels {
                key.field(k).field(v);
            }
            state.key = key.finish();
            state = self.record(state)?;
        }
        if state.id.is_none() {
            state = self.record(state)?;
        }
        let id = state.id.clone().expect("recorded");
        self.store().unmark_build_image(&id)?;
        Ok(id)
    }

    /// The stages the target needs, and so the target's state. Stages whose needs are built run at once (a
    /// wave); a stage's own steps run in order.
    async fn build_stages(&self, ctx: &Ctx<'_>, plan: &Plan) -> Result<State, Error> {
        let mut built: BTreeMap<usize, State> = BTreeMap::new();
        for wave in plan.waves() {
            let stages: Vec<&PlannedStage> = wave.iter().filter_map(|i| plan.stage(*i)).collect();
            let states =
                futures_util::future::try_join_all(stages.iter().map(|s| self.build_stage(ctx, plan, s, &built)))
                    .await?;
            for (stage, state) in stages.iter().zip(states) {
                built.insert(stage.index, state);
            }
        }
        Ok(built.remove(&plan.target().index).expect("the target was built"))
    }

    /// One stage's steps, in order, from its base.
    async fn build_stage(
        &self,
        ctx: &Ctx<'_>,
        plan: &Plan,
        stage: &PlannedStage,
        built: &BTreeMap<usize, State>,
    ) -> Result<State, Error> {
        let stage_platform = platform::of_stage(stage, ctx.platform.as_ref())?;
        let mut state = match &stage.base {
            Base::Scratch => platform::scratch_state(stage_platform.as_ref()),
            Base::Stage(i) => built.get(i).cloned().expect("a stage is built after the stages it needs"),
            Base::Image(name) => self.base_state(name, ctx.opts.pull, ctx.progress, stage_platform.as_ref()).await?,
        };
        // The base's ONBUILD triggers run first, as steps of this stage; the child does not inherit them.
        let triggers = config::strings(&state.config, "OnBuild");
        let mut steps = Vec::new();
        if !triggers.is_empty() {
            for trigger in &triggers {
                let mut located = crate::build::parse_trigger(trigger)?;
                located.start_line = stage.from_line;
                located.end_line = stage.from_line;
                steps.push(located);
            }
            config::run_config(&mut state.config).remove("OnBuild");
            let mut key = Key::new(&state.key);
            key.field("ONBUILD cleared");
            state.key = key.finish();
            state = self.record(state)?;
        }
        steps.extend(stage.steps.iter().cloned());
        let env = config::strings(&state.config, "Env");
        let mut scope = Scope::new(plan, &env);
        let mut flags = StageFlags::default();
        let count = steps.len();
        for (k, located) in steps.iter().enumerate() {
            let step = scope.expand(located).map_err(crate::build::BuildError::from)?;
            let title = format!(
                "[{} {}/{}] {}",
                stage.display_name(),
                k + 1,
                count,
                located.original.lines().next().unwrap_or_default()
            );
            state = self.step(ctx, state, &step, &scope, &mut flags, built, title).await?;
        }
        Ok(state)
    }

    /// Starts a monitor for the next RUN step to run, while one is ahead and none stands by: its start
    /// overlaps the steps before instead of delaying the RUN step's own.
    fn stand_by(&self, ctx: &Ctx<'_>) {
        if ctx.runs_ahead.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut slot = ctx.standby.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(self.standby());
        }
    }

    /// A base image's state, pulled when missing or when `--pull` asks; with a platform, that platform's
    /// image of the name (`run --platform`'s rule), pulled for it when there is none.
    async fn base_state(
        &self,
        name: &str,
        pull: bool,
        progress: &(dyn Fn(BuildEvent) + Send + Sync),
        platform: Option<&crate::registry::Platform>,
    ) -> Result<State, Error> {
        let stored = match platform {
            Some(p) => self.platform_image(name, p)?,
            None => match self.image(name) {
                Ok(image) => Some(image),
                Err(Error::Store(crate::store::StoreError::ImageNotFound { .. })) => None,
                Err(e) => return Err(e),
            },
        };
        let id = match stored {
            Some(image) if !pull => image.id,
            _ => {
                progress(BuildEvent::Pulling { image: name.to_string() });
                let opts = crate::pull::PullOptions { platform: platform.cloned() };
                let id = self.pull(name, opts).await?.image_id;
                if let Some(p) = platform {
                    platform::check_pulled(self, name, p, &id)?;
                }
                id
            }
        };
        let mut key = Key::new("FROM");
        key.field(&id);
        self.load_state(&id, key.finish())
    }

    /// The state an image row holds.
    fn load_state(&self, id: &str, key: String) -> Result<State, Error> {
        let image = self.store().image(id)?;
        let raw = self.store().blobs().get(id)?;
        let config: Value = serde_json::from_slice(&raw).map_err(|e| crate::local::LocalError::Config {
            image: id.to_string(),
            action: "read",
            reason: e.to_string(),
        })?;
        Ok(State { id: Some(id.to_string()), layers: image.layers, config, key })
    }

    /// Stores the state's config and image row (marked as build cache) and records its key. No parent is
    /// recorded, as BuildKit records none: `history` shows `<missing>` below the image itself.
    fn record(&self, mut state: State) -> Result<State, Error> {
        let store = self.store();
        let (id, _) = crate::local::store_config(store, &state.config, "build step")?;
        store.mark_build_image(&id)?;
        store.add_local_image(&LocalImage {
            id: id.clone(),
            architecture: state.config["architecture"].as_str().unwrap_or("amd64").to_string(),
            os: state.config["os"].as_str().unwrap_or("linux").to_string(),
            variant: state.config["variant"].as_str().map(str::to_string),
            created: state.config["created"].as_str().map(str::to_string),
            layers: state.layers.clone(),
            tag: None,
            parent: None,
        })?;
        store.record_build_step(&state.key, &id)?;
        state.id = Some(id);
        Ok(state)
    }

    /// One step: numbered (ARG takes no number, as in BuildKit), run, and reported as failed when it fails.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        ctx: &Ctx<'_>,
        state: State,
        step: &Step,
        scope: &Scope,
        flags: &mut StageFlags,
        built: &BTreeMap<usize, State>,
        title: String,
    ) -> Result<State, Error> {
        if let Instruction::Arg(_) = step.instruction {
            return Ok(state);
        }
        let number = ctx.number.fetch_add(1, Ordering::Relaxed) + 1;
        let result = self.numbered_step(ctx, state, step, scope, flags, built, title, number).await;
        if result.is_err() {
            (ctx.progress)(BuildEvent::Failed { number });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn numbered_step(
        &self,
        ctx: &Ctx<'_>,
        state: State,
        step: &Step,
        scope: &Scope,
        flags: &mut StageFlags,
        built: &BTreeMap<usize, State>,
        title: String,
        number: usize,
    ) -> Result<State, Error> {
        let started = Instant::now();
        let fail =
            |message: String| BuilderError::Step { line: step.start_line, instruction: step.name.clone(), message };
        let workdir = config::string(&state.config, "WorkingDir");
        // The key: the previous one, the instruction as expanded, and what the step reads beyond it.
        let mut key = Key::new(&state.key);
        key.field(&step.name).field(&format!("{:?}", step.instruction));
        let announce = |cached: bool| {
            (ctx.progress)(BuildEvent::Step { number, name: title.clone() });
            if cached {
                (ctx.progress)(BuildEvent::Cached { number });
            }
        };
        let kind = match &step.instruction {
            Instruction::Run(_) => StepKind::Run,
            Instruction::Copy(c) => StepKind::Copy(Box::new(c.clone()), false),
            Instruction::Add(c) => StepKind::Copy(Box::new(c.clone()), true),
            Instruction::Workdir(_) => StepKind::Workdir,
            _ => StepKind::Meta,
        };
        let mut copy_plan = None;
        let mut url_digest = None;
        match &kind {
            StepKind::Run => {
                // Mounts as written (a secret's value never is), and the content a bind mount shows.
                key.field(&format!("{:?}", step.mounts));
                // A cache seeded from a stage or image (`from=`) runs again when that source changes.
                for m in step.mounts.iter().filter(|m| m.kind == crate::build::instructions::MountKind::Cache) {
                    if let Some(from) = &m.from {
                        let source = self.mount_source_state(from, built, ctx).map_err(fail)?;
                        key.field(source.id.as_deref().unwrap_or("scratch"));
                    }
                }
                for m in step.mounts.iter().filter(|m| m.kind == crate::build::instructions::MountKind::Bind) {
                    if let Some(from) = &m.from {
                        let source = self.mount_source_state(from, built, ctx).map_err(fail)?;
                        key.field(source.id.as_deref().unwrap_or("scratch"));
                        continue;
                    }
                    let source = files::SourceRoot {
                        root: &ctx.context,
                        ignore: Some(&ctx.ignore),
                        exclude: None,
                        host_dir: Some(&ctx.opts.context),
                    };
                    let sources = vec![m.source.clone().unwrap_or_default()];
                    let plan = source.plan(&sources, "/", true, false).map_err(fail)?;
                    let digest = files::digest(&source, &plan, &|_, _| None, &mut Vec::new())
                        .map_err(|e| fail(e.to_string()))?;
                    key.field(&digest);
                }
                key.field(&scope.run_env().join("\n"))
                    .field(&config::string(&state.config, "User"))
                    .field(&workdir)
                    .field(ctx.opts.network.as_deref().unwrap_or("default"))
                    .field(&config::shell(&state.config).join("\n"));
            }
            StepKind::Copy(copy, add) => {
                let is_url = |s: &String| s.starts_with("http://") || s.starts_with("https://");
                if *add && !copy.sources.is_empty() && copy.sources.iter().all(is_url) {
                    // The content's digest from the checksum or the server's ETag when they tell it; the
                    // download waits for a cache miss.
                    let offline = ctx.opts.network.as_deref() == Some("none");
                    let known = match ctx.opts.no_cache || offline {
                        true => None,
                        false => fetch::resolve(&copy.sources, copy.checksum.as_deref(), self.store()).await,
                    };
                    match known {
                        Some(digest) => {
                            key.field(&digest);
                            url_digest = Some(digest);
                        }
                        None => {
                            let (fetched, plan) =
                                self.fetch_for_add(ctx, &state, copy, &workdir).await.map_err(fail)?;
                            key.field(&fetched.digest);
                            copy_plan = Some((None, plan, Some(fetched)));
                        }
                    }
                } else {
                    let (source_state, plan, digest) =
                        self.plan_copy(ctx, &state, copy, built, &workdir).map_err(fail)?;
                    key.field(&digest);
                    if let Some(s) = &source_state {
                        key.field(s.id.as_deref().unwrap_or("scratch"));
                    }
                    copy_plan = Some((source_state, plan, None));
                }
            }
            StepKind::Workdir | StepKind::Meta => {}
        }
        let key = key.finish();
        if let StepKind::Run = kind {
            let _ = ctx.runs_ahead.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        if !ctx.opts.no_cache
            && let Some(id) = self.store().build_cache_lookup(&key)?
        {
            announce(true);
            if let Instruction::Cmd(_) = &step.instruction {
                flags.cmd_set = true;
            }
            return self.load_state(&id, key);
        }
        announce(false);
        // The steps after a miss miss too (their keys chain on), so a RUN step ahead will run.
        if !matches!(kind, StepKind::Run) {
            self.stand_by(ctx);
        }
        let created = now_rfc3339(ctx.epoch);
        let mut next = state.clone();
        next.key = key;
        match kind {
            StepKind::Meta => {
                let mut instruction = step.instruction.clone();
                if let Instruction::Workdir(dir) = &mut instruction {
                    *dir = files::directory(&workdir, dir);
                }
                let line =
                    config::apply(&mut next.config, &instruction, flags).unwrap_or_else(|| step.original.clone());
                config::add_history(&mut next.config, &created, &line, None);
            }
            StepKind::Workdir => {
                let Instruction::Workdir(dir) = &step.instruction else { unreachable!() };
                let dir = files::directory(&workdir, dir);
                let line =
                    config::apply(&mut next.config, &Instruction::Workdir(dir.clone()), flags).unwrap_or_default();
                // The directories made are owned by the current USER, as BuildKit makes them.
                let user = config::string(&state.config, "User");
                let layer = self
                    .write_layer(&state, |root| {
                        let mut made = Vec::new();
                        root.create_dir_all(dir.trim_start_matches('/'), crate::inroot::ParentTimes::Touch, &mut made)
                            .map_err(|e| format!("creating {dir}: {e}"))?;
                        if user.is_empty() || made.is_empty() {
                            return Ok(());
                        }
                        let read = |path: &str| root.read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
                        let (passwd, group) = (read("etc/passwd")?, read("etc/group")?);
                        let owner =
                            crate::runtime::user::resolve("build", Some(&user), passwd.as_deref(), group.as_deref())
                                .map_err(|e| format!("USER {user}: {e}"))?;
                        for path in &made {
                            let fd = root.open_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
                            rustix::fs::chownat(
                                &fd,
                                "",
                                Some(rustix::fs::Uid::from_raw(owner.uid)),
                                Some(rustix::fs::Gid::from_raw(owner.gid)),
                                rustix::fs::AtFlags::EMPTY_PATH,
                            )
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        }
                        Ok(())
                    })
                    .map_err(|e| fail(e.to_string()))?;
                self.push_layer(&mut next, layer, &created, &line);
            }
            StepKind::Copy(copy, add) => {
                let (source_state, plan, fetched) = match (copy_plan.take(), url_digest) {
                    (Some(planned), _) => planned,
                    (None, known) => {
                        let (fetched, plan) = self.fetch_for_add(ctx, &state, &copy, &workdir).await.map_err(fail)?;
                        if known.as_ref() != Some(&fetched.digest) {
                            let what = "changed between its check and its download; build again";
                            return Err(fail(format!("{}: {what}", copy.sources.join(" "))).into());
                        }
                        (None, plan, Some(fetched))
                    }
                };
                // ADD unpacks local archives (told by content) into the destination directory.
                let mut archives = Vec::new();
                let mut plan = plan;
                if add && source_state.is_none() && fetched.is_none() && copy.unpack != Some(false) {
                    let mut rest = Vec::new();
                    for p in plan {
                        let kind = if rustix::fs::FileType::from_raw_mode(p.stat.st_mode).is_file() {
                            archive::detect(files::open_source(&ctx.context, &p).map_err(|e| fail(e.to_string()))?)
                        } else {
                            None
                        };
                        match kind {
                            Some(kind) => archives.push((p, kind)),
                            None => rest.push(p),
                        }
                    }
                    plan = rest;
                }
                let archive_dir = files::absolute(&workdir, &copy.dest);
                let mut attrs = self.copy_attributes(&state, &copy).map_err(fail)?;
                // From a stage or image, owners are kept as they were there (BuildKit copies with no chowner);
                // context files and downloads are 0:0.
                attrs.keep_owners = source_state.is_some();
                let source_mount;
                let downloads;
                let source_root = match (&source_state, &fetched) {
                    (_, Some(f)) => {
                        downloads = Root::open(f.dir.path()).map_err(|e| fail(e.to_string()))?;
                        &downloads
                    }
                    (None, None) => &ctx.context,
                    (Some(s), None) => {
                        source_mount = self.mount_state(s)?;
                        &source_mount.0
                    }
                };
                let layer = self
                    .write_layer(&state, |root| {
                        files::write(source_root, &plan, root, &attrs).map_err(|e| format!("copying: {e}"))?;
                        for (p, compression) in &archives {
                            let extract = || {
                                let file = std::io::BufReader::new(files::open_source(&ctx.context, p)?);
                                archive::extract(compression.reader(file)?, root, &archive_dir, attrs.owner)
                            };
                            extract().map_err(|e| format!("extracting {}: {e}", p.src))?;
                        }
                        // Heredoc sources: files named by their delimiters, 0644 unless --chmod.
                        let several = copy.sources.len() + copy.inline.len() > 1 || copy.dest.ends_with('/');
                        for inline in &copy.inline {
                            let dest = files::absolute(&workdir, &copy.dest);
                            let into_dir = several || files::is_dir_in(root, &dest);
                            let path = if into_dir {
                                format!("{}/{}", dest.trim_end_matches('/'), inline.name)
                            } else {
                                dest.clone()
                            };
                            files::write_inline(root, &path, inline.data.as_bytes(), &attrs, ctx.epoch)
                                .map_err(|e| format!("writing {path}: {e}"))?;
                        }
                        Ok(())
                    })
                    .map_err(|e| fail(e.to_string()))?;
                let name = if add { "ADD" } else { "COPY" };
                let mut words = Vec::new();
                if let Some(from) = &copy.from {
                    words.push(format!("--from={from}"));
                }
                if let Some(chown) = &copy.chown {
                    words.push(format!("--chown={chown}"));
                }
                if let Some(chmod) = &copy.chmod {
                    words.push(format!("--chmod={chmod}"));
                }
                words.extend(copy.sources.iter().cloned());
                words.extend(copy.inline.iter().map(|i| format!("<<{}", i.name)));
                words.push(copy.dest.clone());
                self.push_layer(&mut next, layer, &created, &format!("{name} {} # buildkit", words.join(" ")));
            }
            StepKind::Run => {
                if next.id.is_none() {
                    return Err(fail("a RUN step needs a base image with a shell, not scratch".into()).into());
                }
                let (layer, line) = self.run_step(ctx, &state, scope, step, number, built).await?;
                self.push_layer(&mut next, layer, &created, &line);
            }
        }
        let next = self.record(next)?;
        (ctx.progress)(BuildEvent::Done { number, seconds: started.elapsed().as_secs_f64() });
        Ok(next)
    }

    /// Adds a step's layer (or an empty-layer history line) to the state.
    fn push_layer(&self, state: &mut State, layer: Option<crate::store::LayerRecord>, created: &str, line: &str) {
        match layer {
            Some(layer) => {
                config::add_history(&mut state.config, created, line, Some(&layer.diff_id));
                state.layers.push(layer.chain_id);
            }
            None => config::add_history(&mut state.config, created, line, None),
        }
    }

    /// Mounts a state's layers privately (or opens its only directory) to read or write it.
    fn mount_state(&self, state: &State) -> Result<(Root, crate::store::TempDir), Error> {
        let work = self.store().temp_dir("build-src")?;
        let layers: Vec<PathBuf> = state.layers.iter().map(|c| self.store().layer_path(c)).collect();
        if layers.is_empty() {
            let empty = work.path().join("empty");
            std::fs::create_dir_all(&empty).map_err(|source| BuilderError::Read {
                what: "a work dir",
                path: empty.clone(),
                source,
            })?;
            let root =
                Root::open(&empty).map_err(|source| BuilderError::Read { what: "a work dir", path: empty, source })?;
            return Ok((root, work));
        }
        let rootfs = crate::runtime::Rootfs {
            merged: work.path().join("merged"),
            upper: work.path().join("upper"),
            work: work.path().join("work"),
        };
        let root = crate::volume::mount_privately("build", &rootfs, &layers)?;
        Ok((root, work))
    }

    /// Runs `write` on an overlay of the state's layers with a fresh upper, and adopts that upper as the
    /// step's layer (`None` when nothing changed).
    fn write_layer(
        &self,
        state: &State,
        write: impl FnOnce(&Root) -> Result<(), String>,
    ) -> Result<Option<crate::store::LayerRecord>, Error> {
        let store = self.store();
        let upper = store.temp_dir("build-upper")?;
        let work = store.temp_dir("build-work")?;
        let layers: Vec<PathBuf> = state.layers.iter().map(|c| store.layer_path(c)).collect();
        {
            let root = if layers.is_empty() {
                Root::open(upper.path()).map_err(|source| BuilderError::Read {
                    what: "a work dir",
                    path: upper.path().into(),
                    source,
                })?
            } else {
                let rootfs = crate::runtime::Rootfs {
                    merged: work.path().join("merged"),
                    upper: upper.path().to_path_buf(),
                    work: work.path().join("work"),
                };
                crate::volume::mount_privately("build", &rootfs, &layers)?
            };
            write(&root).map_err(|message| BuilderError::Write { message })?;
        }
        let parent = state.layers.last().map(String::as_str);
        let opts = PackOptions { source_date_epoch: source_date_epoch(), exclude: Vec::new() };
        self.adopt_layer(upper, parent, &opts)
    }

    /// `--chown` resolved in the destination's /etc/passwd and /etc/group, and `--chmod`.
    fn copy_attributes(&self, state: &State, copy: &Copy) -> Result<files::Attributes, String> {
        let chmod = copy.chmod.as_deref().map(Chmod::parse).transpose()?;
        let owner = match copy.chown.as_deref() {
            None => None,
            Some(spec) => {
                let numeric = |s: &str| s.parse::<u32>().ok();
                let (user, group) = match spec.split_once(':') {
                    Some((u, g)) => (u, Some(g)),
                    None => (spec, None),
                };
                match (numeric(user), group.map(numeric)) {
                    (Some(uid), None) => Some((uid, uid)),
                    (Some(uid), Some(Some(gid))) => Some((uid, gid)),
                    _ => {
                        let (root, _work) = self.mount_state(state).map_err(|e| e.to_string())?;
                        let passwd = root.read_to_string("etc/passwd").map_err(|e| e.to_string())?;
                        let groups = root.read_to_string("etc/group").map_err(|e| e.to_string())?;
                        let resolved =
                            crate::runtime::user::resolve("build", Some(spec), passwd.as_deref(), groups.as_deref())
                                .map_err(|e| format!("--chown={spec}: {e}"))?;
                        Some((resolved.uid, resolved.gid))
                    }
                }
            }
        };
        Ok(files::Attributes { owner, chmod, keep_owners: false })
    }

    /// What a COPY takes: the source (the context, or a stage's or image's state), the entries in order,
    /// and their content digest.
    fn plan_copy(
        &self,
        ctx: &Ctx<'_>,
        state: &State,
        copy: &Copy,
        built: &BTreeMap<usize, State>,
        workdir: &str,
    ) -> Result<(Option<State>, Vec<files::Planned>, String), String> {
        if copy.sources.iter().any(|s| s.starts_with("http://") || s.starts_with("https://")) {
            return Err("ADD takes either URLs or local sources, not both".into());
        }
        let source_state = match &copy.from {
            None => None,
            Some(from) => Some(self.copy_source_state(from, built, ctx)?),
        };
        let dest = files::absolute(workdir, &copy.dest);
        let dest_is_dir = {
            let (root, _work) = self.mount_state(state).map_err(|e| e.to_string())?;
            files::is_dir_in(&root, &dest)
        };
        let store = self.store();
        let lookup = |path: &str, stamp: &cache::FileStamp| store.stat_cache_get(path, stamp).ok().flatten();
        let mut learned = Vec::new();
        let exclude = match copy.excludes.is_empty() {
            true => None,
            false => Some(Ignore::from_patterns(&copy.excludes).map_err(|e| format!("--exclude: {e}"))?),
        };
        let (plan, digest) = match &source_state {
            None => {
                let source = files::SourceRoot {
                    root: &ctx.context,
                    ignore: Some(&ctx.ignore),
                    exclude: exclude.as_ref(),
                    host_dir: Some(&ctx.opts.context),
                };
                let plan = source.plan(&copy.sources, &dest, dest_is_dir, copy.parents)?;
                let digest = files::digest(&source, &plan, &lookup, &mut learned).map_err(|e| e.to_string())?;
                (plan, digest)
            }
            Some(s) => {
                let (root, _work) = self.mount_state(s).map_err(|e| e.to_string())?;
                let source = files::SourceRoot { root: &root, ignore: None, exclude: exclude.as_ref(), host_dir: None };
                let plan = source.plan(&copy.sources, &dest, dest_is_dir, copy.parents)?;
                (plan, s.id.clone().unwrap_or_default())
            }
        };
        store.stat_cache_put(&learned).map_err(|e| e.to_string())?;
        Ok((source_state, plan, digest))
    }

    /// ADD's URL sources, downloaded, and what copying them writes.
    async fn fetch_for_add(
        &self,
        ctx: &Ctx<'_>,
        state: &State,
        copy: &Copy,
        workdir: &str,
    ) -> Result<(fetch::Fetched, Vec<files::Planned>), String> {
        if ctx.opts.network.as_deref() == Some("none") {
            return Err("ADD of a URL needs the network, and this build runs with --network none".into());
        }
        let dir = self.store().temp_dir("build-url").map_err(|e| e.to_string())?;
        let max = self.config().max_layer_bytes;
        let fetched = fetch::fetch(&copy.sources, copy.checksum.as_deref(), dir, max, self.store()).await?;
        let dest = files::absolute(workdir, &copy.dest);
        let dest_is_dir = {
            let (root, _work) = self.mount_state(state).map_err(|e| e.to_string())?;
            files::is_dir_in(&root, &dest)
        };
        let root = Root::open(fetched.dir.path()).map_err(|e| e.to_string())?;
        let source = files::SourceRoot { root: &root, ignore: None, exclude: None, host_dir: None };
        let plan = source.plan(&fetched.names, &dest, dest_is_dir, false)?;
        Ok((fetched, plan))
    }

    /// RUN --mount from=: a built stage (by name) or an image.
    fn mount_source_state(&self, from: &str, built: &BTreeMap<usize, State>, ctx: &Ctx<'_>) -> Result<State, String> {
        self.copy_source_state(from, built, ctx)
    }

    /// COPY --from: a built stage (by name or index) or an image.
    fn copy_source_state(&self, from: &str, built: &BTreeMap<usize, State>, ctx: &Ctx<'_>) -> Result<State, String> {
        let index = from.parse::<usize>().ok().or_else(|| ctx.names.get(&from.to_ascii_lowercase()).copied());
        if let Some(s) = index.and_then(|i| built.get(&i)) {
            return Ok(s.clone());
        }
        ctx.images.get(from).cloned().ok_or_else(|| format!("--from={from}: no such stage or image"))
    }
}

enum StepKind {
    Run,
    Copy(Box<Copy>, bool),
    Workdir,
    Meta,
}

/// A build context unpacked from a tar stream (`berth build -`), in the state root's work dirs: removed
/// when dropped, and by the next garbage collection if the build is killed.
pub struct ContextDir(crate::store::TempDir);

impl ContextDir {
    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Engine {
    /// Unpacks a build context sent as a tar stream (plain, gzip, bzip2, xz or zstd) into a work dir of its own.
    /// Entries that would land outside it are refused by the tar reader.
    pub fn unpack_build_context(&self, input: impl std::io::Read) -> Result<ContextDir, Error> {
        let dir = self.store().temp_dir("build-context")?;
        let fail = |source| BuilderError::Read { what: "the context tar", path: dir.path().to_path_buf(), source };
        let mut input = std::io::BufReader::new(input);
        let head = std::io::BufRead::fill_buf(&mut input).map_err(fail)?.to_vec();
        let reader = archive::Compression::of(&head).reader(input).map_err(fail)?;
        let mut archive = tar::Archive::new(reader);
        archive.set_preserve_permissions(true);
        archive.unpack(dir.path()).map_err(fail)?;
        Ok(ContextDir(dir))
    }
}

/// What `builder prune` removed.
#[derive(Debug, Clone, Default)]
pub struct CachePruneReport {
    /// Intermediate images removed.
    pub images: Vec<String>,
    /// Bytes freed on disk.
    pub reclaimed: u64,
}

impl Engine {
    /// `builder prune`: the build cache (intermediate images no container or tag holds, cache keys, the
    /// stat cache) and whatever layers and blobs only it used.
    pub fn prune_build_cache(&self) -> Result<CachePruneReport, Error> {
        let (images, reclaimed) = self.store().prune_build_cache()?;
        Ok(CachePruneReport { images, reclaimed })
    }
}
