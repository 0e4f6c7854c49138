//! `save`, `load`, `export` and `import`: images and container filesystems as files.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use berth_engine::Engine;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ArchiveCommand {
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub(super) output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file (or an OCI layout directory), instead of STDIN
    #[arg(short, long)]
    pub(super) input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub async fn run(engine: &Engine, cmd: ArchiveCommand) -> anyhow::Result<()> {
    match cmd {
        ArchiveCommand::Save(args) => save(engine, args),
        ArchiveCommand::Load(args) => load(engine, args),
        ArchiveCommand::Export(args) => export(engine, args),
        ArchiveCommand::Import(args) => import(engine, args).await,
    }
}

/// Writes to `output` (removed again when the command fails) or to standard output, which docker
/// refuses when it is a terminal.
fn to_output(output: Option<&PathBuf>, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            let mut file =
                std::fs::File::create(path).with_context(|| format!("failed to save to {}", path.display()))?;
            // Not synced, as docker does not: the archive is a file like any other the user writes.
            let written = write(&mut file);
            if written.is_err() {
                let _ = std::fs::remove_file(path);
            }
            written
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            write(&mut stdout.lock())
        }
    }
}

fn save(engine: &Engine, args: SaveArgs) -> anyhow::Result<()> {
    to_output(args.output.as_ref(), |out| Ok(engine.save(&args.images, out)?))
}

fn load(engine: &Engine, args: LoadArgs) -> anyhow::Result<()> {
    let loaded = match &args.input {
        Some(path) if path.is_dir() => engine.load_dir(path)?,
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            engine.load(file)?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            engine.load(stdin.lock())?
        }
    };
    // docker prints these lines with or without -q (which only hides progress).
    let _ = args.quiet;
    for image in loaded {
        if image.tags.is_empty() {
            outln!("Loaded image ID: {}", image.image_id)?;
        }
        for tag in image.tags {
            outln!("Loaded image: {tag}")?;
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub(super) output: Option<PathBuf>,
    container: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// A tar archive (plain, gzip or zstd): a file, - for STDIN, or an http(s) URL
    pub(super) source: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

fn export(engine: &Engine, args: ExportArgs) -> anyhow::Result<()> {
    to_output(args.output.as_ref(), |out| Ok(engine.export(&args.container, out)?))
}

async fn import(engine: &Engine, args: ImportArgs) -> anyhow::Result<()> {
    let opts = berth_engine::archive::ImportOptions {
        reference: args.reference,
        changes: args.change,
        message: args.message,
        source: args.source.clone(),
    };
    let id = if args.source == "-" {
        engine.import(std::io::stdin().lock(), &opts)?
    } else if args.source.starts_with("http://") || args.source.starts_with("https://") {
        engine.import_url(&args.source, &opts).await?
    } else {
        let file = std::fs::File::open(&args.source).with_context(|| format!("cannot open {}", args.source))?;
        engine.import(file, &opts)?
    };
    outln!("{id}")?;
    Ok(())
}
