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
    let mut view = ProgressView::for_stdout(args.quiet);
    if !args.quiet
        && let Ok(r) = berth_engine::reference::Reference::parse(&args.image)
    {
        let wanted = r.tag.clone().or(r.digest.clone()).unwrap_or_default();
        outln!("{wanted}: Pulling from {}", r.familiar_name())?;
    }
    let pull = engine.pull(&args.image, PullOptions { platform });
    tokio::pin!(pull);
    let pulled = loop {
        tokio::select! {
            result = &mut pull => break result,
            event = events.recv() => match event {
                Ok(Event::Pull(p)) => if let Some(view) = &mut view { view.show(&p.layer, &step(&p.progress))? },
                Ok(_) | Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {}
            },
        }
    };
    // Events sent just before the pull returned are still queued.
    while let Ok(event) = events.try_recv() {
        if let (Event::Pull(p), Some(view)) = (event, &mut view) {
            view.show(&p.layer, &step(&p.progress))?;
        }
    }
    if let Some(view) = &view {
        view.finish();
    }
    let pulled = pulled?;
    let name = pulled.reference.to_string();
    if args.quiet {
        outln!("{name}")?;
        return Ok(());
    }
    outln!("Digest: {}", pulled.digest)?;
    if pulled.updated {
        outln!("Status: Downloaded newer image for {}", args.image)?;
    } else {
        outln!("Status: Image is up to date for {}", args.image)?;
    }
    outln!("{name}")?;
    Ok(())
}

/// Per-layer progress as pull and push show it: bars on a terminal, one line per state change otherwise.
pub(super) enum ProgressView {
    Bars(Bars),
    /// Last state printed per layer, so a line appears only when the state changes.
    Lines(HashMap<String, String>),
}

/// One layer's state as shown: docker's word for it, the bytes moved when it is moving, a note that is
/// printed every time (a retry's reason), and whether the layer is finished.
pub(super) struct Step {
    pub label: String,
    pub bytes: Option<(u64, u64)>,
    pub note: Option<String>,
    pub finished: bool,
}

#[derive(Default)]
pub(super) struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl Step {
    pub(super) fn done(label: String) -> Step {
        Step { label, bytes: None, note: None, finished: true }
    }
}

pub(super) fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

fn step(progress: &LayerProgress) -> Step {
    let (label, bytes, note) = match progress {
        LayerProgress::Waiting => ("Waiting", None, None),
        LayerProgress::AlreadyExists => ("Already exists", None, None),
        LayerProgress::Downloading { done, total } => ("Downloading", Some((*done, *total)), None),
        LayerProgress::Retrying { attempt, reason } => {
            ("Retrying", None, Some(format!("attempt {attempt} failed: {reason}")))
        }
        LayerProgress::Verifying => ("Verifying Checksum", None, None),
        LayerProgress::Done => ("Pull complete", None, None),
    };
    let finished = matches!(progress, LayerProgress::Done | LayerProgress::AlreadyExists);
    Step { label: label.to_string(), bytes, note, finished }
}

impl ProgressView {
    /// Bars when stdout is a terminal, lines otherwise; nothing when quiet.
    pub(super) fn for_stdout(quiet: bool) -> Option<ProgressView> {
        if quiet {
            None
        } else if std::io::stdout().is_terminal() {
            Some(ProgressView::Bars(Bars::default()))
        } else {
            Some(ProgressView::Lines(HashMap::new()))
        }
    }

    pub(super) fn show(&mut self, layer: &str, step: &Step) -> std::io::Result<()> {
        match self {
            ProgressView::Lines(last) => {
                if last.get(layer) != Some(&step.label) || step.note.is_some() {
                    last.insert(layer.to_string(), step.label.clone());
                    match &step.note {
                        Some(note) => outln!("{}: {} ({note})", short(layer), step.label)?,
                        None => outln!("{}: {}", short(layer), step.label)?,
                    }
                }
            }
            ProgressView::Bars(bars) => bars.show(layer, step),
        }
        Ok(())
    }

    /// Like Docker, leave each layer's last state on screen.
    pub(super) fn finish(&self) {
        if let ProgressView::Bars(bars) = self {
            bars.bars.values().for_each(ProgressBar::finish);
        }
    }
}

impl Bars {
    fn show(&mut self, layer: &str, step: &Step) {
        let multi = &self.multi;
        let bar = self.bars.entry(layer.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(0));
            bar.set_prefix(short(layer).to_string());
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        if let Some((done, total)) = step.bytes {
            if bar.length() != Some(total) {
                bar.set_length(total);
                bar.set_style(
                    ProgressStyle::with_template("{prefix}: {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
            }
            bar.set_position(done);
            bar.set_message(step.label.clone());
            return;
        }
        if step.finished {
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        match &step.note {
            Some(note) => bar.set_message(format!("{} ({note})", step.label)),
            None => bar.set_message(step.label.clone()),
        }
    }
}
