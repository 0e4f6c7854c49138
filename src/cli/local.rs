//! `commit`, `diff` and `history`: images made locally and what a container changed.

use berth_engine::Engine;
use berth_engine::local::{CommitOptions, HistoryEntry};
use clap::{ArgAction, Args, Subcommand};
use serde_json::json;

use super::format::{Format, human_size, time_ago};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum LocalCommand {
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Show the history of an image
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    pause: bool,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    change: Vec<String>,
    container: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    container: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Output format: table (default), json (one object per line), a Go template, or table TEMPLATE
    #[arg(long)]
    format: Option<String>,
    image: String,
}

pub fn run(engine: &Engine, cmd: LocalCommand) -> anyhow::Result<()> {
    match cmd {
        LocalCommand::Commit(args) => commit(engine, args),
        LocalCommand::Diff(args) => diff(engine, args),
        LocalCommand::History(args) => history(engine, args),
    }
}

fn commit(engine: &Engine, args: CommitArgs) -> anyhow::Result<()> {
    let opts = CommitOptions {
        reference: args.reference,
        comment: args.message,
        author: args.author,
        pause: args.pause,
        changes: args.change,
    };
    outln!("{}", engine.commit(&args.container, &opts)?)?;
    Ok(())
}

fn diff(engine: &Engine, args: DiffArgs) -> anyhow::Result<()> {
    for change in engine.container_diff(&args.container)? {
        outln!("{} {}", change.letter(), change.path)?;
    }
    Ok(())
}

/// Docker's `history` columns: each row key's table header.
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Docker's width for CREATED BY unless `--no-trunc`.
const CREATED_BY_WIDTH: usize = 45;

pub fn history(engine: &Engine, args: HistoryArgs) -> anyhow::Result<()> {
    let entries = engine.image_history(&args.image)?;
    let id = |e: &HistoryEntry| match &e.id {
        None => "<missing>".to_string(),
        Some(id) if args.no_trunc => id.clone(),
        Some(id) => id.trim_start_matches("sha256:").chars().take(12).collect(),
    };
    if args.quiet {
        for entry in &entries {
            outln!("{}", id(entry))?;
        }
        return Ok(());
    }
    let format = Format::parse(
        args.format.as_deref(),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    )?;
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let created_by = e.created_by.replace('\t', " ");
            let created_by = if args.no_trunc { created_by } else { ellipsis(&created_by, CREATED_BY_WIDTH) };
            json!({
                "Comment": e.comment,
                "CreatedAt": e.created.clone().unwrap_or_default(),
                "CreatedBy": created_by,
                "CreatedSince": time_ago(e.created.as_deref()),
                "ID": id(e),
                "Size": human_size(e.size),
            })
        })
        .collect();
    format.print_rows(&rows, HISTORY_HEADERS)
}

/// `text` cut to `width` characters, its last one `…`, as Docker's `formatter.Ellipsis`.
fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_by_is_cut_to_45_characters_with_an_ellipsis() {
        let long = "/bin/sh -c #(nop) ADD file:6ce3e8d5e3b8f7b0c1d2e3f4a5b6c7d8e9f0 in / ";
        let cut = ellipsis(long, CREATED_BY_WIDTH);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
        assert_eq!(ellipsis("CMD [\"sh\"]", CREATED_BY_WIDTH), "CMD [\"sh\"]");
    }
}
