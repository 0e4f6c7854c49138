//! `push`: docker's lines (`Preparing`, `Pushing`, `Pushed`, `Layer already exists`, `Mounted from REPO`)
//! through the pull's renderer, then `TAG: digest: DIGEST size: N` per tag pushed.

use berth_engine::Engine;
use berth_engine::events::{Event, PushLayerProgress};
use berth_engine::push::PushOptions;
use berth_engine::reference::Reference;
use clap::Args;
use tokio::sync::broadcast::error::RecvError;

use super::pull::{ProgressView, Step};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    image: String,
}

pub async fn run(engine: &Engine, args: PushArgs) -> anyhow::Result<()> {
    let r = Reference::parse(&args.image)?;
    if args.all_tags && r.tag.is_some() && args.image.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    let mut events = engine.events().subscribe();
    let mut view = ProgressView::for_stdout(args.quiet);
    if !args.quiet {
        outln!("The push refers to repository [{}]", r.name())?;
    }
    let push = engine.push(&args.image, PushOptions { all_tags: args.all_tags });
    tokio::pin!(push);
    let pushed = loop {
        tokio::select! {
            result = &mut push => break result,
            event = events.recv() => match event {
                Ok(Event::Push(p)) => if let Some(view) = &mut view { view.show(&p.layer, &step(&p.progress))? },
                Ok(_) | Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {}
            },
        }
    };
    // Events sent just before the push returned are still queued.
    while let Ok(event) = events.try_recv() {
        if let (Event::Push(p), Some(view)) = (event, &mut view) {
            view.show(&p.layer, &step(&p.progress))?;
        }
    }
    if let Some(view) = &view {
        view.finish();
    }
    for pushed in pushed? {
        if args.quiet {
            outln!("{}", pushed.reference)?;
        } else {
            outln!("{}: digest: {} size: {}", pushed.tag, pushed.digest, pushed.size)?;
        }
    }
    Ok(())
}

fn step(progress: &PushLayerProgress) -> Step {
    let (label, bytes) = match progress {
        PushLayerProgress::Preparing => ("Preparing", None),
        PushLayerProgress::Waiting => ("Waiting", None),
        PushLayerProgress::Pushing { done, total } => ("Pushing", Some((*done, *total))),
        PushLayerProgress::Pushed => return Step::done("Pushed".into()),
        PushLayerProgress::AlreadyExists => return Step::done("Layer already exists".into()),
        PushLayerProgress::Mounted { from } => return Step::done(format!("Mounted from {from}")),
    };
    Step { label: label.to_string(), bytes, note: None, finished: false }
}
