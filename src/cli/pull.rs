//! `pull`: per-layer progress bars on a terminal, one plain line per layer state change otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;

use berth_engine::Engine;
use berth_engine::events::{Event, LayerProgress};
use berth_engine::pull::PullOptions;
use berth_engine::registry::Platform;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::broadcast::error::RecvError;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pick this platform from a multi-platform image (os/arch[/variant])
    #[arg(long)]
    pub(super) platform: Option<String>,
    /// Print only the reference at the end
    #[arg(short, long)]
    pub(super) quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub(super) image: String,
}

pub async fn run(engine: &Engine, args: PullArgs) -> anyhow::Result<()> {
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let mut events = engine.events().subscribe();
    let mut view = if args.quiet {
        None
    } else if std::io::stdout().is_terminal() {
        Some(ProgressView::Bars(Bars::default()))
    } else {
        Some(ProgressView::Lines(HashMap::new()))
    };
    if !args.quiet
        && let Ok(r) = berth_engine::reference::Reference::parse(&args.image)
    {
        let wanted = r.tag.clone().or(r.digest.clone()).unwrap_or_default();
        println!("{wanted}: Pulling from {}", r.familiar_name());
    }
    let pull = engine.pull(&args.image, PullOptions { platform });
    tokio::pin!(pull);
    let pulled = loop {
        tokio::select! {
            result = &mut pull => break result,
            event = events.recv() => match event {
                Ok(Event::Pull(p)) => if let Some(view) = &mut view { view.show(&p.layer, &p.progress) },
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {}
            },
        }
    };
    if let Some(ProgressView::Bars(bars)) = &view {
        // Like Docker, leave each layer's last state on screen.
        bars.bars.values().for_each(ProgressBar::finish);
    }
    let pulled = pulled?;
    let name = pulled.reference.to_string();
    if args.quiet {
        println!("{name}");
        return Ok(());
    }
    println!("Digest: {}", pulled.digest);
    if pulled.updated {
        println!("Status: Downloaded newer image for {}", args.image);
    } else {
        println!("Status: Image is up to date for {}", args.image);
    }
    println!("{name}");
    Ok(())
}

enum ProgressView {
    Bars(Bars),
    /// Last state printed per layer, so a line appears only when the state changes.
    Lines(HashMap<String, &'static str>),
}

#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

fn label(progress: &LayerProgress) -> &'static str {
    match progress {
        LayerProgress::Waiting => "Waiting",
        LayerProgress::AlreadyExists => "Already exists",
        LayerProgress::Downloading { .. } => "Downloading",
        LayerProgress::Retrying { .. } => "Retrying",
        LayerProgress::Verifying => "Verifying Checksum",
        LayerProgress::Done => "Pull complete",
    }
}

impl ProgressView {
    fn show(&mut self, layer: &str, progress: &LayerProgress) {
        match self {
            ProgressView::Lines(last) => {
                let state = label(progress);
                if last.get(layer) != Some(&state) || matches!(progress, LayerProgress::Retrying { .. }) {
                    last.insert(layer.to_string(), state);
                    match progress {
                        LayerProgress::Retrying { attempt, reason } => {
                            println!("{}: Retrying (attempt {attempt} failed: {reason})", short(layer))
                        }
                        _ => println!("{}: {state}", short(layer)),
                    }
                }
            }
            ProgressView::Bars(bars) => bars.show(layer, progress),
        }
    }
}

impl Bars {
    fn show(&mut self, layer: &str, progress: &LayerProgress) {
        let multi = &self.multi;
        let bar = self.bars.entry(layer.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(0));
            bar.set_prefix(short(layer).to_string());
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        match progress {
            LayerProgress::Downloading { done, total } => {
                if bar.length() != Some(*total) {
                    bar.set_length(*total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                }
                bar.set_position(*done);
                bar.set_message("Downloading");
            }
            LayerProgress::Retrying { attempt, reason } => {
                bar.set_message(format!("Retrying (attempt {attempt}: {reason})"))
            }
            other => {
                if matches!(other, LayerProgress::Done | LayerProgress::AlreadyExists) {
                    bar.set_style(
                        ProgressStyle::with_template("{prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                bar.set_message(label(other));
            }
        }
    }
}
