//! `images`, `rmi`, `tag` and `image ...`.

use anyhow::bail;
use berth_engine::Engine;
use berth_engine::images::{ImageRecord, RemovedImage};
use clap::{Args, Subcommand};
use serde_json::json;

use super::format::{Format, InspectFormat, human_size, time_ago};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// List images
    Images(ListArgs),
    /// Remove one or more images
    Rmi(RemoveArgs),
    /// Create a tag TARGET that refers to SOURCE
    Tag(TagArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ImageSubcommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images, then layers and blobs nothing uses
    Prune(PruneArgs),
    /// Remove one or more images
    Rm(RemoveArgs),
    /// Create a tag TARGET that refers to SOURCE
    Tag(TagArgs),
    /// Download an image from a registry
    Pull(super::pull::PullArgs),
    /// Show the history of an image
    History(super::local::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(super::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(super::archive::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(super::archive::ImportArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (by default untagged intermediates are shown too; kept for Docker compatibility)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Output format: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
    /// Only images of this repository (and tag)
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Remove the image even when several tags name it
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: json (the default, an array) or a Go template run over each object
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all images without containers, not just untagged ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn run(engine: &Engine, cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Images(args) => list(engine, args),
        ImageCommand::Rmi(args) => remove(engine, args),
        ImageCommand::Tag(args) => Ok(engine.tag_image(&args.source, &args.target)?),
    }
}

pub async fn run_image(engine: &Engine, cmd: ImageSubcommand) -> anyhow::Result<()> {
    match cmd {
        ImageSubcommand::Ls(args) => list(engine, args),
        ImageSubcommand::Inspect(args) => inspect(engine, args),
        ImageSubcommand::Prune(args) => prune(engine, args),
        ImageSubcommand::Rm(args) => remove(engine, args),
        ImageSubcommand::Tag(args) => Ok(engine.tag_image(&args.source, &args.target)?),
        ImageSubcommand::Pull(args) => super::pull::run(engine, args).await,
        ImageSubcommand::History(args) => super::local::history(engine, args),
        ImageSubcommand::Save(args) => super::archive::run(engine, super::archive::ArchiveCommand::Save(args)).await,
        ImageSubcommand::Load(args) => super::archive::run(engine, super::archive::ArchiveCommand::Load(args)).await,
        ImageSubcommand::Import(args) => {
            super::archive::run(engine, super::archive::ArchiveCommand::Import(args)).await
        }
    }
}

/// One line of `images`: an image under one of its names.
struct Row<'a> {
    image: &'a ImageRecord,
    repository: String,
    tag: String,
    digest: String,
}

fn rows(images: &[ImageRecord]) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    for image in images {
        let digest_for = |repo: &str| {
            image
                .repo_digests
                .iter()
                .find_map(|d| d.strip_prefix(repo).and_then(|rest| rest.strip_prefix('@')))
                .unwrap_or("<none>")
                .to_string()
        };
        if image.repo_tags.is_empty() {
            let (repository, digest) = match image.repo_digests.first().and_then(|d| d.split_once('@')) {
                Some((repo, digest)) => (repo.to_string(), digest.to_string()),
                None => ("<none>".to_string(), "<none>".to_string()),
            };
            rows.push(Row { image, repository, tag: "<none>".into(), digest });
        }
        for name in &image.repo_tags {
            let (repository, tag) = name.rsplit_once(':').unwrap_or((name.as_str(), "<none>"));
            rows.push(Row { image, digest: digest_for(repository), repository: repository.into(), tag: tag.into() });
        }
    }
    rows
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn list(engine: &Engine, args: ListArgs) -> anyhow::Result<()> {
    let default_table = if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    // docker adds the digest column to a custom table that lacks it when --digests is given.
    let text = match args.format.as_deref() {
        Some(t) if args.digests && t.starts_with("table") && !t.contains("{{.Digest}}") => {
            Some(format!("{t}\t{{{{.Digest}}}}"))
        }
        other => other.map(str::to_string),
    };
    let format = Format::parse(text.as_deref(), default_table)?;
    let mut images = engine.list_images()?;
    if let Some(wanted) = &args.reference {
        let wanted_ref = berth_engine::reference::Reference::parse(wanted)?;
        let has_tag = wanted.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
        images.retain(|i| {
            i.repo_tags.iter().any(|t| match berth_engine::reference::Reference::parse(t) {
                Ok(r) => r.name() == wanted_ref.name() && (!has_tag || r.tag == wanted_ref.tag),
                Err(_) => false,
            })
        });
    }
    let _ = args.all;
    if args.quiet {
        let mut seen = Vec::new();
        for image in &images {
            let id = short(&image.id);
            if !seen.contains(&id) {
                outln!("{id}")?;
                seen.push(id);
            }
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = rows(&images)
        .into_iter()
        .map(|row| {
            json!({
                "Containers": "N/A",
                "CreatedAt": row.image.created.clone().unwrap_or_default(),
                "CreatedSince": time_ago(row.image.created.as_deref()),
                "Digest": row.digest,
                "ID": short(&row.image.id),
                "Repository": row.repository,
                "SharedSize": "N/A",
                "Size": human_size(row.image.size),
                "Tag": row.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(row.image.size),
            })
        })
        .collect();
    format.print_rows(&rows, IMAGE_HEADERS)
}

/// Docker's `images` columns: each row key's table header.
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

fn inspect(engine: &Engine, args: InspectArgs) -> anyhow::Result<()> {
    let format = InspectFormat::parse(args.format.as_deref())?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        match engine.inspect_image(name) {
            Ok(value) => found.push(value),
            Err(e) => missing.push(e.to_string()),
        }
    }
    format.print(&found)?;
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

/// `Deleted Images:` and what went, as the prune commands list them.
pub(super) fn print_pruned_images(removed: &[RemovedImage]) -> std::io::Result<()> {
    if !removed.is_empty() {
        outln!("Deleted Images:")?;
        print_removed(removed, |s| s.to_lowercase())?;
        outln!()?;
    }
    Ok(())
}

fn print_removed(removed: &[RemovedImage], label_case: fn(&str) -> String) -> std::io::Result<()> {
    for r in removed {
        match r {
            RemovedImage::Untagged(name) => outln!("{}: {name}", label_case("Untagged"))?,
            RemovedImage::Deleted(id) => outln!("{}: {id}", label_case("Deleted"))?,
        }
    }
    Ok(())
}

fn remove(engine: &Engine, args: RemoveArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &args.images {
        match engine.remove_image(name, args.force) {
            Ok(removed) => print_removed(&removed, |s| s.to_string())?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(())
}

fn prune(engine: &Engine, args: PruneArgs) -> anyhow::Result<()> {
    let what =
        if args.all { "all images without at least one container associated to them" } else { "all dangling images" };
    if !args.force && !super::confirm(&format!("WARNING! This will remove {what}."))? {
        return Ok(());
    }
    let report = engine.prune_images(args.all)?;
    print_pruned_images(&report.removed)?;
    outln!("Total reclaimed space: {}", human_size(report.reclaimed))?;
    Ok(())
}
