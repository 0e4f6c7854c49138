//! `manifest create|annotate|inspect|push|rm`: docker's verbs, flags and output over the engine's
//! manifest lists (`berth_engine::manifest`).

use berth_engine::Engine;
use berth_engine::manifest::Annotation;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ManifestSubcommand {
    /// Create a local manifest list for annotating and pushing to a registry
    Create(CreateArgs),
    /// Add additional information to a local image manifest
    Annotate(AnnotateArgs),
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
    /// Push a manifest list to a repository
    Push(PushArgs),
    /// Delete one or more manifest lists from local storage
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Amend an existing manifest list
    #[arg(short, long)]
    amend: bool,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    #[arg(value_name = "MANIFEST", required = true)]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// Set operating system
    #[arg(long)]
    os: Option<String>,
    /// Set architecture
    #[arg(long)]
    arch: Option<String>,
    /// Set operating system version
    #[arg(long)]
    os_version: Option<String>,
    /// Set operating system feature
    #[arg(long, value_delimiter = ',')]
    os_features: Vec<String>,
    /// Set architecture variant
    #[arg(long)]
    variant: Option<String>,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    #[arg(value_name = "MANIFEST")]
    image: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output additional info including layers and platform
    #[arg(short, long)]
    verbose: bool,
    /// `[MANIFEST_LIST] MANIFEST`
    #[arg(value_name = "MANIFEST_LIST] [MANIFEST", num_args = 1..=2, required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Remove the local manifest list after push
    #[arg(short, long)]
    purge: bool,
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    /// Push to this reference instead of the list's own name
    #[arg(value_name = "DESTINATION")]
    dest: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(value_name = "MANIFEST_LIST", required = true)]
    lists: Vec<String>,
}

pub async fn run(engine: &Engine, cmd: ManifestSubcommand) -> anyhow::Result<()> {
    match cmd {
        ManifestSubcommand::Create(args) => {
            let name = engine.manifest_create(&args.list, &args.images, args.amend).await?;
            outln!("Created manifest list {name}")?;
        }
        ManifestSubcommand::Annotate(args) => {
            let annotation = Annotation {
                os: args.os,
                arch: args.arch,
                variant: args.variant,
                os_version: args.os_version,
                os_features: args.os_features,
            };
            engine.manifest_annotate(&args.list, &args.image, &annotation)?;
        }
        ManifestSubcommand::Inspect(args) => {
            let text = match args.names.as_slice() {
                [list, image] => engine.manifest_inspect_entry(list, image, args.verbose)?,
                [reference] => engine.manifest_inspect(reference, args.verbose).await?,
                _ => anyhow::bail!("\"manifest inspect\" requires at least 1 and at most 2 arguments"),
            };
            outln!("{text}")?;
        }
        ManifestSubcommand::Push(args) => {
            let pushed = engine.manifest_push(&args.list, args.dest.as_deref(), args.purge).await?;
            for (reference, digest) in &pushed.refs {
                outln!("Pushed ref {reference} with digest: {digest}")?;
            }
            outln!("{}", pushed.digest)?;
        }
        ManifestSubcommand::Rm(args) => engine.manifest_rm(&args.lists)?,
    }
    Ok(())
}
