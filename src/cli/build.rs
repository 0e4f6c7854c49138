//! `build` and `builder prune`: images from a Dockerfile, and the cache builds keep.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use berth_engine::Engine;
use berth_engine::builder::{BuildEvent, BuildOptions, Secret};
use berth_engine::registry::Platform;
use clap::{Args, Subcommand};

use super::format::human_size;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"); "-" reads it from standard input
    #[arg(short, long)]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build (bridge, none, host)
    #[arg(long, default_value = "default")]
    network: String,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Secret to expose to the build: id=ID,src=FILE or id=ID,env=VAR
    #[arg(long)]
    secret: Vec<String>,
    /// Set target platform for build: os/arch[/variant], several separated by commas
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Build context: a directory, or "-" for a tar archive on standard input
    context: String,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BuilderSubcommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    all: bool,
}

/// `--build-arg K=V`, or `K` alone for the client's environment value (left out when unset, as docker).
fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for arg in raw {
        match arg.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(arg) {
                    out.insert(arg.clone(), v);
                }
            }
        }
    }
    out
}

/// `--secret id=ID,src=FILE` (also `source=`, `type=file`) or `id=ID,env=VAR` (`type=env`); an id alone
/// reads the environment variable of that name, as docker does.
fn secrets(raw: &[String]) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut out = BTreeMap::new();
    for spec in raw {
        let (mut id, mut src, mut env) = (None, None, None);
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret {spec:?}: expected id=ID,src=FILE or id=ID,env=VAR"),
            }
        }
        let Some(id) = id else { bail!("invalid --secret {spec:?}: no id") };
        let value = match (src, env) {
            (Some(path), _) => std::fs::read(&path).with_context(|| format!("reading secret {id} from {path}"))?,
            (None, Some(var)) => {
                std::env::var(&var).with_context(|| format!("secret {id}: ${var} is not set"))?.into_bytes()
            }
            (None, None) => std::env::var(&id).with_context(|| format!("secret {id}: ${id} is not set"))?.into_bytes(),
        };
        out.insert(id, Secret(value));
    }
    Ok(out)
}

pub async fn build(engine: &Engine, args: BuildArgs) -> anyhow::Result<()> {
    // `auto` is the live view on a terminal (as BuildKit decides by stderr), else plain lines.
    let tty = match args.progress.as_str() {
        "plain" => false,
        "tty" => true,
        "auto" => std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"),
        other => bail!("invalid --progress value {other:?}: expected auto, plain or tty"),
    };
    if !matches!(args.network.as_str(), "default" | "bridge" | "none" | "host") {
        bail!("invalid --network value {:?}: a build's RUN steps use bridge, none or host", args.network);
    }
    let mut platforms: Vec<Platform> = Vec::new();
    for text in args.platform.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let platform = Platform::parse(text).with_context(|| format!("--platform {text}"))?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    let mut labels = BTreeMap::new();
    for label in &args.label {
        let (k, v) = label.split_once('=').unwrap_or((label, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    // A tar context is unpacked into a directory of its own first.
    let mut unpacked = None;
    let context = if args.context == "-" {
        if args.file.as_deref() == Some("-") {
            bail!("the context and the Dockerfile cannot both be read from standard input");
        }
        let dir = engine.unpack_build_context(std::io::stdin().lock())?;
        let path = dir.path().to_path_buf();
        unpacked = Some(dir);
        path
    } else {
        PathBuf::from(&args.context)
    };
    let (dockerfile, dockerfile_text) = match args.file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading the Dockerfile from standard input")?;
            (None, Some(text))
        }
        Some(path) => (Some(PathBuf::from(path)), None),
        None => (None, None),
    };
    let opts = BuildOptions {
        context,
        dockerfile,
        dockerfile_text,
        tags: args.tag.clone(),
        build_args: build_args(&args.build_arg),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels,
        network: Some(args.network.clone()),
        secrets: secrets(&args.secret)?,
        platforms,
    };
    let quiet = args.quiet;
    let mut view = (tty && !quiet).then(super::build_progress::TtyView::start);
    let plain = move |event: BuildEvent| {
        if quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = match event {
            BuildEvent::Planned { .. } | BuildEvent::Failed { .. } => Ok(()),
            BuildEvent::Step { number, name } => writeln!(err, "#{number} {name}"),
            BuildEvent::Cached { number } => writeln!(err, "#{number} CACHED"),
            BuildEvent::Output { number, line } => writeln!(err, "#{number} {line}"),
            BuildEvent::Done { number, seconds } => writeln!(err, "#{number} DONE {seconds:.1}s"),
            BuildEvent::Pulling { image } => writeln!(err, "pulling {image}"),
        };
    };
    let progress: Box<dyn Fn(BuildEvent) + Send + Sync> = match &view {
        Some(view) => Box::new(view.sink()),
        None => Box::new(plain),
    };
    // Ctrl-C stops the build and its running step, then exits as docker does (130).
    let outcome = tokio::select! {
        outcome = engine.build(opts, &*progress) => outcome,
        _ = tokio::signal::ctrl_c() => {
            if let Some(view) = view.take() {
                view.finish();
            }
            engine.abandon_builds().await?;
            drop(unpacked);
            eprintln!("build interrupted");
            std::process::exit(130);
        }
    };
    if let Some(view) = view {
        view.finish();
    }
    drop(unpacked);
    let outcome = outcome?;
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &outcome.image_id).with_context(|| format!("writing {}", path.display()))?;
    }
    if quiet {
        outln!("{}", outcome.image_id)?;
    } else {
        let mut err = std::io::stderr().lock();
        for (platform, id) in &outcome.platforms {
            writeln!(err, "writing image {id} for {platform} done")?;
        }
        writeln!(err, "writing image {} done", outcome.image_id)?;
        for tag in &outcome.tags {
            writeln!(err, "naming to {tag} done")?;
        }
        if std::io::stdout().is_terminal() {
            return Ok(());
        }
        outln!("{}", outcome.image_id)?;
    }
    Ok(())
}

pub fn builder(engine: &Engine, cmd: BuilderSubcommand) -> anyhow::Result<()> {
    match cmd {
        BuilderSubcommand::Prune(args) => {
            let _ = args.all;
            if !args.force && !super::confirm("WARNING! This will remove all dangling build cache.")? {
                return Ok(());
            }
            let report = engine.prune_build_cache()?;
            if !report.images.is_empty() {
                outln!("Deleted build cache objects:")?;
                for id in &report.images {
                    outln!("{id}")?;
                }
                outln!()?;
            }
            outln!("Total:\t{}", human_size(report.reclaimed))?;
            Ok(())
        }
    }
}
