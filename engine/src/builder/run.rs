//! RUN: a build container from the previous step's image, run under the monitor as any container is, its
//! upper directory (less the runtime's stubs) adopted as the step's layer.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use super::{BuildEvent, BuilderError, Ctx, State, config};
use crate::build::instructions::{Instruction, MountKind, Network};
use crate::build::stages::{Scope, Step};
use crate::container::CreateRequest;
use crate::layer::PackOptions;
use crate::local::{RUNTIME_STUBS, source_date_epoch};
use crate::runtime::RunOptions;
use crate::store::LayerRecord;
use crate::{Engine, Error};

/// How many of a failed command's last output lines the error shows.
const FAILED_OUTPUT_LINES: usize = 10;

/// How often a running step's log is read for new output.
const OUTPUT_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The step a build container runs: its instruction, argv, progress number and mount targets.
struct Running<'a> {
    step: &'a Step,
    argv: &'a [String],
    number: usize,
    targets: &'a [String],
}

/// The label naming the build a RUN step's container belongs to: `PID:START` of the building process.
const OWNER_LABEL: &str = "berth.build.owner";

fn owner() -> String {
    let me = std::process::id() as i32;
    format!("{me}:{}", crate::monitor::procfs::start_time(me).unwrap_or(0))
}

/// Whether the build that made a RUN step's container is still running.
fn owner_alive(label: Option<&String>) -> bool {
    let Some((pid, start)) = label.and_then(|l| l.split_once(':')) else { return false };
    let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else { return false };
    crate::monitor::procfs::start_time(pid) == Some(start)
}

impl Engine {
    /// Removes the RUN containers of builds that were killed before they could (hidden, but holding
    /// their directories and, while they run, their processes).
    pub(super) async fn remove_orphan_build_containers(&self) -> Result<(), Error> {
        super::mounts::detach_orphan_mounts(self.store().root());
        let orphans: Vec<String> = crate::container::Records::new(self.store())
            .all()?
            .into_iter()
            .filter(|r| r.options.build_step && !owner_alive(r.options.labels.get(OWNER_LABEL)))
            .map(|r| r.id)
            .collect();
        for id in orphans {
            if let Err(e) = self.remove_container(&id, true).await {
                tracing::warn!("cannot remove the build container {id} a killed build left: {e}");
            }
        }
        Ok(())
    }

    /// Removes the RUN containers of this process's builds: what a build interrupted by the user (Ctrl-C)
    /// calls before it exits, so its command does not run on unseen.
    pub async fn abandon_builds(&self) -> Result<(), Error> {
        let mine = owner();
        let ids: Vec<String> = crate::container::Records::new(self.store())
            .all()?
            .into_iter()
            .filter(|r| r.options.build_step && r.options.labels.get(OWNER_LABEL) == Some(&mine))
            .map(|r| r.id)
            .collect();
        for id in ids {
            match self.remove_container(&id, true).await {
                // A step's monitor removes its container itself once the command ends.
                Ok(_) | Err(Error::Container(crate::container::ContainerError::NotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs one RUN step; returns its layer (`None` when it changed nothing) and its history line.
    pub(super) async fn run_step(
        &self,
        ctx: &Ctx<'_>,
        state: &State,
        scope: &Scope,
        step: &Step,
        number: usize,
        built: &std::collections::BTreeMap<usize, State>,
    ) -> Result<(Option<LayerRecord>, String), Error> {
        let Instruction::Run(run) = &step.instruction else { unreachable!("run_step is given RUN steps only") };
        super::platform::check_emulation(&state.config)?;
        // A heredoc with its own interpreter (`#!`) is written out and executed, as BuildKit does; it is
        // bind-mounted read-only from a work dir, so it never lands in the layer.
        let script = match (config::runs_script_file(&run.command), run.command.files.first()) {
            (true, Some(doc)) => {
                let dir = self.store().temp_dir("build-heredoc")?;
                let file = dir.path().join("script");
                let io = |source| BuilderError::Read { what: "a heredoc script", path: file.clone(), source };
                std::fs::write(&file, &doc.content).map_err(io)?;
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(io)?;
                let target = format!("/.berth-heredoc/{}", doc.name);
                Some((dir, file, target))
            }
            _ => None,
        };
        let argv = match &script {
            Some((_, _, target)) => vec![target.clone()],
            None => config::argv(&state.config, &run.command),
        };
        let args = scope.args();
        let history = {
            let mut line = String::from("RUN ");
            if !args.is_empty() {
                let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                line.push_str(&format!("|{} {} ", args.len(), pairs.join(" ")));
            }
            line.push_str(&argv.join(" "));
            line.push_str(" # buildkit");
            line
        };
        let network = match run.network {
            Network::None => Some("none".to_string()),
            Network::Host => Some("host".to_string()),
            Network::Default => ctx.opts.network.clone().filter(|n| n != "default" && n != "bridge"),
        };
        let user = config::string(&state.config, "User");
        let workdir = config::string(&state.config, "WorkingDir");
        let options = RunOptions {
            cmd: argv.clone(),
            entrypoint: Some(Vec::new()),
            env: scope.run_env(),
            workdir: (!workdir.is_empty()).then_some(workdir),
            user: (!user.is_empty()).then_some(user),
            network,
            build_step: true,
            // Its monitor moves the upper out into `layer_dir` when the command exits, then removes it.
            auto_remove: true,
            labels: [(OWNER_LABEL.to_string(), owner())].into(),
            ..RunOptions::default()
        };
        // Stages and images bound or seeding a cache with `from=`, mounted for this step only.
        let mut host_mounts = Vec::new();
        let mut from_roots = std::collections::BTreeMap::new();
        let sourced = step.mounts.iter().filter(|m| matches!(m.kind, MountKind::Bind | MountKind::Cache));
        for m in sourced {
            let Some(from) = m.from.clone() else { continue };
            if from_roots.contains_key(&from) {
                continue;
            }
            let fail = |message| BuilderError::Step { line: step.start_line, instruction: step.name.clone(), message };
            let source = self.mount_source_state(&from, built, ctx).map_err(fail)?;
            let id = source.id.clone().unwrap_or_else(|| "scratch".into());
            // A cache seeded from scratch starts empty; only a bind needs files to show.
            if m.kind == MountKind::Cache && source.layers.is_empty() {
                from_roots.insert(from, super::mounts::FromRoot { path: None, id });
                continue;
            }
            let layers: Vec<PathBuf> = source.layers.iter().map(|c| self.store().layer_path(c)).collect();
            let mount =
                super::mounts::HostMount::new(&layers, || Ok(self.store().temp_dir("build-from")?)).map_err(fail)?;
            from_roots.insert(from, super::mounts::FromRoot { path: Some(mount.root.clone()), id });
            host_mounts.push(mount);
        }
        let mounts = super::mounts::prepare(
            &step.mounts,
            &config::string(&state.config, "WorkingDir"),
            &ctx.opts.context,
            self.store().root(),
            &ctx.opts.secrets,
            &from_roots,
            |kind| Ok(self.store().temp_dir(kind)?),
        )
        .await
        .map_err(|message| BuilderError::Step {
            line: step.start_line,
            instruction: step.name.clone(),
            message,
        })?;
        let mut options = options;
        options.mounts = mounts.specs.clone();
        let mut targets = mounts.targets.clone();
        if let Some((_, file, target)) = &script {
            options.mounts.push(crate::volume::MountSpec {
                kind: crate::volume::MountKind::Bind,
                source: file.to_string_lossy().into_owned(),
                target: target.clone(),
                read_only: true,
                tmpfs_size: None,
                tmpfs_mode: None,
                no_copy: false,
            });
            targets.push(target.clone());
        }
        options.env.extend(mounts.env.iter().cloned());
        let layer_dir = self.store().temp_dir("build-run")?;
        options.build_layer_dir = Some(layer_dir.path().to_path_buf());
        let image = state.id.clone().expect("a RUN step has an image");
        let rec = self.create_container(CreateRequest { image, image_id: None, name: None, options })?;
        mark(self, &rec.id, "build step created");
        let what = Running { step, argv: &argv, number, targets: &targets };
        let result = self.run_container_step(&rec, state, ctx, &what, layer_dir).await;
        // A step whose command ran to its end is removed by its monitor (see `finish_step_containers`); any
        // other ends here.
        if result.is_err() {
            self.finish_step_containers(ctx).await;
            if self.container(&rec.id).is_ok()
                && let Err(e) = self.remove_container(&rec.id, true).await
            {
                tracing::warn!("cannot remove build container {}: {e}", rec.id);
            }
        }
        Ok((result?, history))
    }

    /// Waits for the monitors of the RUN steps that ran to their end to have removed their containers (they
    /// do it while the build goes on), and removes any such container still there.
    pub(super) async fn finish_step_containers(&self, ctx: &Ctx<'_>) {
        let unmounting = std::mem::take(&mut *ctx.unmounting.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let _ = tokio::task::spawn_blocking(move || unmounting.into_iter().for_each(|h| drop(h.join()))).await;
        let finishing = std::mem::take(&mut *ctx.finishing.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for (id, monitor) in finishing {
            let _ = tokio::task::spawn_blocking(move || monitor.wait()).await;
            mark(self, &id, "build step container removed");
            if self.container(&id).is_ok()
                && let Err(e) = self.remove_container(&id, true).await
            {
                tracing::warn!("cannot remove build container {id}: {e}");
            }
        }
    }

    async fn run_container_step(
        &self,
        rec: &crate::container::ContainerRecord,
        state: &State,
        ctx: &Ctx<'_>,
        what: &Running<'_>,
        layer_dir: crate::store::TempDir,
    ) -> Result<Option<LayerRecord>, Error> {
        let Running { step, argv, number, targets } = *what;
        // The layers below are mounted (EROFS images) while the command runs, for the stub check and the packing.
        let layers: Vec<PathBuf> = state.layers.iter().rev().map(|c| self.store().layer_path(c)).collect();
        let lowers = std::thread::spawn(move || crate::layer::erofs::MountedLowers::mount(&layers));
        // The log is followed while the command runs, so its output shows as it comes.
        let log = self.container_log_path(rec);
        let io_err = |source| BuilderError::Read { what: "the build container's log", path: log.clone(), source };
        std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(io_err)?;
        let mut follower = crate::logs::LogFollower::at_end(&log).map_err(io_err)?;
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut emit = |follower: &mut crate::logs::LogFollower| {
            for entry in follower.poll().unwrap_or_default() {
                let line = entry.text.trim_end_matches('\n').to_string();
                (ctx.progress)(BuildEvent::Output { number, line: line.clone() });
                tail.push_back(line);
                if tail.len() > FAILED_OUTPUT_LINES {
                    tail.pop_front();
                }
            }
        };
        let standby = ctx.standby.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let outcome = match self.start_container_with(&rec.id, standby).await {
            Ok(outcome) => {
                self.stand_by(ctx);
                outcome
            }
            Err(e) => {
                return Err(BuilderError::Step {
                    line: step.start_line,
                    instruction: step.original.clone(),
                    message: e.to_string(),
                }
                .into());
            }
        };
        let mut exited = Box::pin(outcome.wait_exit_before_teardown());
        let (exit, monitor) = loop {
            tokio::select! {
                waited = &mut exited => break waited,
                _ = tokio::time::sleep(OUTPUT_POLL) => emit(&mut follower),
            }
        };
        emit(&mut follower);
        mark(self, &rec.id, "build step exited");
        // The monitor removes the container meanwhile; the build waits for that before it ends.
        ctx.finishing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((rec.id.clone(), monitor));
        let fail =
            |message: String| BuilderError::Step { line: step.start_line, instruction: step.original.clone(), message };
        let code = exit.map_err(fail)?;
        if code != 0 {
            let tail: Vec<String> = tail.into_iter().collect();
            return Err(BuilderError::RunFailed {
                line: step.start_line,
                instruction: step.original.clone(),
                command: argv.join(" "),
                code,
                output: tail.join("\n"),
            }
            .into());
        }
        let store = self.store();
        let lowers = lowers
            .join()
            .map_err(|_| BuilderError::Write { message: "mounting the layers below the step panicked".into() })?;
        let lowers = lowers.map_err(|e| BuilderError::Read {
            what: "the layers below the step",
            path: store.root().join("layers"),
            source: std::io::Error::other(e.to_string()),
        })?;
        // The monitor renamed the upper over `layer_dir` (nothing was copied), or left it empty when the
        // container had none.
        strip_stubs(layer_dir.path(), lowers.paths(), targets).map_err(|source| BuilderError::Read {
            what: "the build container's changes",
            path: layer_dir.path().to_path_buf(),
            source,
        })?;
        mark(self, &rec.id, "build step stubs stripped");
        let parent = state.layers.last().map(String::as_str);
        let opts = PackOptions { source_date_epoch: source_date_epoch(), exclude: Vec::new() };
        let layer = self.adopt_layer_over(layer_dir, parent, lowers.paths(), &opts);
        mark(self, &rec.id, "build step layer adopted");
        // Each layer's unmount waits out grace periods the build need not wait for until its end.
        match std::thread::Builder::new().name("unmount".into()).spawn(move || drop(lowers)) {
            Ok(handle) => ctx.unmounting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle),
            Err(err) => tracing::debug!(%err, "unmounting a step's layers on a thread"),
        }
        layer
    }
}

/// A build step's phase in `ROOT/monitor.log` beside its container's, when `BERTH_LOG` is set.
fn mark(engine: &Engine, id: &str, phase: &str) {
    crate::monitor::phases::mark(engine.store().root(), id, phase);
}

fn exists_in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers.iter().any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

/// Removes from a RUN container's upper what was made only to mount over: the runtime's stubs
/// (`RUNTIME_STUBS`) and the step's `--mount` targets, where no lower layer has the path and the stub is
/// still empty, then the directories made or copied up only to hold them, so the layer directory is
/// exactly what its tar holds. The upper is walked by fd without following links (a container could have
/// replaced `etc` by a link).
fn strip_stubs(upper: &Path, lowers: &[PathBuf], targets: &[String]) -> std::io::Result<()> {
    let root = rustix::fs::open(upper, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut paths: Vec<String> =
        targets.iter().map(|t| t.trim_matches('/').to_string()).filter(|t| !t.is_empty()).collect();
    // Nested targets before the ones holding them.
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    paths.extend(RUNTIME_STUBS.iter().map(|s| s.to_string()));
    for path in &paths {
        if exists_in_lowers(lowers, Path::new(path)) {
            continue;
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Some(dir) = open_beneath(&root, parent)? else { continue };
        let Some(stat) = crate::inroot::lstat_at(dir.as_fd(), OsStr::new(name))? else { continue };
        let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        // Only an empty file or directory is a stub; anything with content the RUN wrote is its own.
        let stub_like = if is_dir { dir_is_empty(&dir, name)? } else { stat.st_size == 0 };
        if !stub_like {
            continue;
        }
        crate::inroot::remove_at(dir.as_fd(), OsStr::new(name), is_dir)?;
        let mut ancestor = parent;
        while !ancestor.is_empty() {
            let (up, name) = ancestor.rsplit_once('/').unwrap_or(("", ancestor));
            let Some(dir) = open_beneath(&root, up)? else { break };
            let Some(stat) = crate::inroot::lstat_at(dir.as_fd(), OsStr::new(name))? else { break };
            if FileType::from_raw_mode(stat.st_mode) != FileType::Directory
                || !dir_is_empty(&dir, name)?
                || rustix::fs::lgetxattr(upper.join(ancestor), "trusted.overlay.opaque", &mut [0u8; 4]).is_ok()
            {
                break;
            }
            let lower = lowers.iter().find_map(|l| std::fs::symlink_metadata(l.join(ancestor)).ok());
            let only_for_stubs = lower.is_none_or(|l| {
                use std::os::unix::fs::MetadataExt;
                l.is_dir() && l.mode() == stat.st_mode && l.uid() == stat.st_uid && l.gid() == stat.st_gid
            });
            if !only_for_stubs {
                break;
            }
            crate::inroot::remove_at(dir.as_fd(), OsStr::new(name), true)?;
            ancestor = up;
        }
    }
    Ok(())
}

/// Directory `rel` below `root`, reached through directories only; `None` when it is not there as one.
fn open_beneath(root: &impl AsFd, rel: &str) -> std::io::Result<Option<rustix::fd::OwnedFd>> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = rustix::fs::openat(root, ".", flags, Mode::empty())?;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        dir = match rustix::fs::openat(&dir, part, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
    }
    Ok(Some(dir))
}

fn dir_is_empty(parent: &impl AsFd, name: &str) -> std::io::Result<bool> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // `Dir::new` reads this descriptor itself (`read_from` would open the directory again).
    for entry in rustix::fs::Dir::new(fd)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}
