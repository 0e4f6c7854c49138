//! The event loop: terminal input, backend events, effect results and a 1 s refresh clock, with a redraw only
//! when one of them changed something. Effects run as background tasks, so the loop never waits on the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::Event;
use ratatui::layout::Rect;
use tokio::sync::mpsc;

use crate::UiError;
use crate::app::{App, Effect, LOG_PAGE, LOG_TAIL, Msg};
use crate::backend::{Backend, BackendError, BackendEvent};
use crate::terminal::{self, Tty};

/// Messages handled before the next redraw at most, so a flood of log lines draws in batches.
const BATCH: usize = 512;

/// Runs effects against a backend and reports each result as a [`Msg`].
pub struct Executor<B: Backend> {
    backend: Arc<B>,
    tx: mpsc::UnboundedSender<Msg>,
    /// A list refresh still in flight is not asked again.
    refreshing_images: Arc<AtomicBool>,
    refreshing_containers: Arc<AtomicBool>,
    refreshing_networks: Arc<AtomicBool>,
    refreshing_volumes: Arc<AtomicBool>,
    sampling_usage: Arc<AtomicBool>,
    /// The explorer's newest tree not yet started, and whether one is being built: while one is, only the
    /// latest asked after it is built next, so fast typing never queues a tree per key.
    tree: Arc<(std::sync::Mutex<Option<crate::panes::explorer::TreeRequest>>, AtomicBool)>,
    /// Running pulls by reference, so one can be cancelled.
    pulls: Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>>,
}

impl<B: Backend> Executor<B> {
    pub fn new(backend: Arc<B>, tx: mpsc::UnboundedSender<Msg>) -> Executor<B> {
        Executor {
            backend,
            tx,
            refreshing_images: Arc::default(),
            refreshing_containers: Arc::default(),
            refreshing_networks: Arc::default(),
            refreshing_volumes: Arc::default(),
            sampling_usage: Arc::default(),
            tree: Arc::default(),
            pulls: Arc::default(),
        }
    }

    fn spawn<F>(&self, f: impl FnOnce(Arc<B>) -> F + Send + 'static)
    where
        F: Future<Output = Option<Msg>> + Send + 'static,
    {
        self.spawn_abortable(f);
    }

    /// [`Executor::spawn`], with the handle that stops the task.
    fn spawn_abortable<F>(&self, f: impl FnOnce(Arc<B>) -> F + Send + 'static) -> tokio::task::AbortHandle
    where
        F: Future<Output = Option<Msg>> + Send + 'static,
    {
        let (backend, tx) = (self.backend.clone(), self.tx.clone());
        tokio::spawn(async move {
            if let Some(msg) = f(backend).await {
                // The app has gone when the receiver has; nothing is left to tell.
                let _ = tx.send(msg);
            }
        })
        .abort_handle()
    }

    /// Starts one effect; `SetMouse` belongs to the terminal and is ignored here.
    pub fn execute(&self, effect: Effect) {
        match effect {
            Effect::RefreshImages => {
                if self.refreshing_images.swap(true, Ordering::AcqRel) {
                    return;
                }
                let flag = self.refreshing_images.clone();
                self.spawn(move |b| async move {
                    let result = b.images().await;
                    flag.store(false, Ordering::Release);
                    Some(Msg::Images(result))
                });
            }
            Effect::RefreshContainers => {
                if self.refreshing_containers.swap(true, Ordering::AcqRel) {
                    return;
                }
                let flag = self.refreshing_containers.clone();
                self.spawn(move |b| async move {
                    let result = b.containers().await;
                    flag.store(false, Ordering::Release);
                    Some(Msg::Containers(result))
                });
            }
            Effect::RefreshNetworks => {
                if self.refreshing_networks.swap(true, Ordering::AcqRel) {
                    return;
                }
                let flag = self.refreshing_networks.clone();
                self.spawn(move |b| async move {
                    let result = b.networks().await;
                    flag.store(false, Ordering::Release);
                    Some(Msg::Networks(result))
                });
            }
            Effect::RefreshVolumes => {
                if self.refreshing_volumes.swap(true, Ordering::AcqRel) {
                    return;
                }
                let flag = self.refreshing_volumes.clone();
                self.spawn(move |b| async move {
                    let result = b.volumes().await;
                    flag.store(false, Ordering::Release);
                    Some(Msg::Volumes(result))
                });
            }
            Effect::SampleUsage(ids) => {
                if self.sampling_usage.swap(true, Ordering::AcqRel) {
                    return;
                }
                let flag = self.sampling_usage.clone();
                self.spawn(move |b| async move {
                    let result = b.container_usage(ids).await;
                    flag.store(false, Ordering::Release);
                    Some(Msg::Usage(result))
                });
            }
            Effect::Layers(id) => self.spawn(move |b| async move {
                let result = b.image_layers(id.clone()).await;
                Some(Msg::Layers { id, result })
            }),
            Effect::LayerChanges(id) => self.spawn(move |b| async move {
                let result = b.layer_changes(id.clone()).await;
                Some(Msg::LayerChanges { id, result })
            }),
            Effect::Tree(request) => {
                let tree = self.tree.clone();
                *tree.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(request);
                if tree.1.swap(true, Ordering::AcqRel) {
                    return;
                }
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    loop {
                        let next = tree.0.lock().unwrap_or_else(|e| e.into_inner()).take();
                        let Some(request) = next else {
                            tree.1.store(false, Ordering::Release);
                            // One asked between the take and the store would otherwise wait for the next.
                            if tree.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
                                && !tree.1.swap(true, Ordering::AcqRel)
                            {
                                continue;
                            }
                            return;
                        };
                        let (id, generation) = (request.id.clone(), request.generation);
                        let Ok(rows) = tokio::task::spawn_blocking(move || request.build()).await else { continue };
                        if tx.send(Msg::Tree { id, generation, rows }).is_err() {
                            return;
                        }
                    }
                });
            }
            Effect::InspectImage(id) => self.spawn(move |b| async move {
                let result = b.inspect_image(id.clone()).await;
                Some(Msg::Inspect { title: format!("Image {id}"), result })
            }),
            Effect::InspectContainer(id) => self.spawn(move |b| async move {
                let result = b.inspect_container(id.clone()).await;
                Some(Msg::Inspect { title: format!("Container {id}"), result })
            }),
            Effect::Pull(reference) => {
                let key = reference.clone();
                let task = self.spawn_abortable(move |b| async move {
                    let result = b.pull(reference.clone()).await;
                    Some(Msg::Pulled { reference, result })
                });
                self.pulls.lock().unwrap_or_else(|e| e.into_inner()).insert(key, task);
            }
            Effect::CancelPull(reference) => {
                let task = self.pulls.lock().unwrap_or_else(|e| e.into_inner()).remove(&reference);
                // Dropping the pull's future aborts its layer tasks, which clean up after themselves.
                if let Some(task) = task.filter(|t| !t.is_finished()) {
                    task.abort();
                    let error = BackendError::Failed {
                        operation: "pull",
                        target: reference.clone(),
                        message: "cancelled".into(),
                    };
                    let _ = self.tx.send(Msg::Pulled { reference, result: Err(error) });
                }
            }
            Effect::Push(reference) => self.spawn(move |b| async move {
                let result = b.push(reference.clone()).await;
                Some(Msg::Pushed { reference, result })
            }),
            Effect::Build { build, request } => self.spawn(move |b| async move {
                let result = b.build(build, request).await;
                Some(Msg::Built { build, result })
            }),
            Effect::RemoveImage { id, force } => self.spawn(move |b| async move {
                let result = b.remove_image(id.clone(), force).await.map(|lines| lines.join(", "));
                Some(Msg::Done { what: format!("remove image {id}"), result })
            }),
            Effect::PruneImages { all } => self.spawn(move |b| async move {
                let result =
                    b.prune_images(all).await.map(|bytes| format!("reclaimed {}", berth_engine::display::size(bytes)));
                Some(Msg::Done { what: "prune images".into(), result })
            }),
            Effect::Container { id, name, op } => self.spawn(move |b| async move {
                let result = b.container_op(id.clone(), op).await.map_err(|e| e.naming(&id, &name));
                Some(Msg::ContainerDone { id, name, op, result })
            }),
            Effect::Project { project, op } => self.spawn(move |b| async move {
                let what = format!("compose {} {project}", op.verb());
                let result = b.project_op(project, op).await.map(|()| String::new());
                Some(Msg::Done { what, result })
            }),
            Effect::Run(request) => self.spawn(move |b| async move {
                let what = format!("run {}", request.image);
                let result = b.run(request).await.map(|id| crate::backend::short_id(&id).to_string());
                Some(Msg::Done { what, result })
            }),
            Effect::Cli { args, attach } => self.spawn(move |b| async move {
                let result = b.run_cli(args.clone()).await;
                Some(Msg::CliDone { args, attach, result })
            }),
            Effect::RemoveNetwork(name) => self.spawn(move |b| async move {
                let result = b.remove_network(name.clone()).await.map(|()| String::new());
                Some(Msg::Done { what: format!("remove network {name}"), result })
            }),
            Effect::PruneNetworks => self.spawn(move |b| async move {
                let result = b.prune_networks().await.map(|p| pruned(&p.removed, None));
                Some(Msg::Done { what: "prune networks".into(), result })
            }),
            Effect::RemoveVolume { name, shown } => self.spawn(move |b| async move {
                let result = b.remove_volume(name).await.map(|()| String::new());
                Some(Msg::Done { what: format!("remove volume {shown}"), result })
            }),
            Effect::PruneVolumes => self.spawn(move |b| async move {
                let result = b.prune_volumes().await.map(|p| pruned(&p.removed, Some(p.reclaimed)));
                Some(Msg::Done { what: "prune volumes".into(), result })
            }),
            Effect::FollowLogs(id) => self.spawn(move |b| async move {
                let error = b.follow_logs(id.clone(), LOG_TAIL).await.err()?;
                Some(Msg::LogsFailed { id, error })
            }),
            Effect::UnfollowLogs(id) => self.backend.unfollow_logs(id),
            Effect::OlderLogs { id, request } => self.spawn(move |b| async move {
                let result = b.older_logs(id.clone(), request.before.clone(), request.skip, LOG_PAGE).await;
                Some(Msg::OlderLogs { id, request, result })
            }),
            Effect::FollowStats(id) => self.spawn(move |b| async move {
                let error = b.follow_stats(id.clone()).await.err()?;
                Some(Msg::StatsFailed { id, error })
            }),
            Effect::UnfollowStats(id) => self.backend.unfollow_stats(id),
            Effect::OpenShell { id, name, rows, cols, attach } => self.spawn(move |b| async move {
                let result = if attach { b.attach(id, cols, rows).await } else { b.open_shell(id, cols, rows).await };
                Some(Msg::ShellOpened { name, result })
            }),
            Effect::ShellInput { session, bytes } => self.backend.shell_input(session, bytes),
            Effect::ResizeShell { session, rows, cols } => self.backend.resize_shell(session, cols, rows),
            Effect::CloseShell(session) => self.backend.close_shell(session),
            Effect::SaveLog { path, text } => self.spawn(move |_| async move {
                // Said in full, so a relative path does not leave the reader guessing where it went.
                let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone()).display().to_string();
                let result = tokio::fs::write(&path, text).await.map(|()| shown.clone()).map_err(|e| {
                    BackendError::Failed { operation: "save log to", target: shown, message: e.to_string() }
                });
                Some(Msg::Done { what: "save log".into(), result })
            }),
            Effect::Copy { path, text } => self.spawn(move |_| async move {
                let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone()).display().to_string();
                let lines = text.lines().count();
                let result = tokio::fs::write(&path, text)
                    .await
                    .map(|()| format!("{lines} lines to the clipboard and {shown}"))
                    .map_err(|e| BackendError::Failed { operation: "copy to", target: shown, message: e.to_string() });
                Some(Msg::Done { what: "copied".into(), result })
            }),
            Effect::AppendHistory { path, line } => self.spawn(move |_| async move {
                use tokio::io::AsyncWriteExt;
                let file = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await;
                let written = match file {
                    Ok(mut file) => file.write_all(format!("{line}\n").as_bytes()).await,
                    Err(e) => Err(e),
                };
                // The line still works this session; only its keeping failed.
                if let Err(e) = written {
                    tracing::warn!("cannot keep the command line in {}: {e}", path.display());
                }
                None
            }),
            Effect::SwitchEngine => {
                let _ = self.tx.send(Msg::EngineSwitched(self.backend.switch_engine()));
            }
            Effect::SetMouse(_) => {}
        }
    }
}

/// A prune's result for the operations log: how many went, and the bytes given back when that applies.
fn pruned(removed: &[String], reclaimed: Option<u64>) -> String {
    let count = match removed.len() {
        0 => "nothing to remove".to_string(),
        n => format!("removed {n}"),
    };
    match reclaimed {
        Some(bytes) if !removed.is_empty() => format!("{count}, reclaimed {}", berth_engine::display::size(bytes)),
        _ => count,
    }
}

/// Applies an effect's result after the backend events already queued (up to a batch): an operation's
/// events were sent before its result, and a build's view must see its steps before it learns how it ended.
pub fn apply(app: &mut App, msg: Msg, events: &mut mpsc::UnboundedReceiver<BackendEvent>) -> bool {
    let mut changed = false;
    for _ in 0..BATCH {
        let Ok(event) = events.try_recv() else { break };
        changed |= app.update(Msg::Backend(event));
    }
    app.update(msg) | changed
}

/// Terminal input, read by a thread of its own that blocks in crossterm's `read`. crossterm's `EventStream`
/// would poll again under the lock its waker thread holds whenever the loop turns, spinning each time.
fn terminal_input() -> Result<mpsc::UnboundedReceiver<std::io::Result<Event>>, UiError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = move || {
        loop {
            let event = crossterm::event::read();
            let failed = event.is_err();
            if tx.send(event).is_err() || failed {
                return;
            }
        }
    };
    std::thread::Builder::new()
        .name("input".into())
        .spawn(reader)
        .map_err(|source| UiError::Terminal { action: "start the thread reading it", source })?;
    Ok(rx)
}

/// Drives the app until it quits or the terminal closes.
pub async fn run<B: Backend>(backend: Arc<B>, mut app: App, terminal: &mut Tty) -> Result<(), UiError> {
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel::<Msg>();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<BackendEvent>();
    backend.subscribe(event_tx);
    let executor = Executor::new(backend, msg_tx);
    let mut input = terminal_input()?;
    let mut clock =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let draw = |terminal: &mut Tty, app: &mut App| {
        app.drawn();
        terminal
            .draw(|f| crate::draw::draw(f, app))
            .map(|_| ())
            .map_err(|source| UiError::Terminal { action: "draw", source })
    };
    draw(terminal, &mut app)?;
    loop {
        for effect in app.take_effects() {
            match effect {
                Effect::SetMouse(on) => terminal::set_mouse(on)
                    .map_err(|source| UiError::Terminal { action: "set mouse capture", source })?,
                Effect::Copy { path, text } => {
                    terminal::copy_to_clipboard(&text)
                        .map_err(|source| UiError::Terminal { action: "copy to the clipboard", source })?;
                    executor.execute(Effect::Copy { path, text });
                }
                other => executor.execute(other),
            }
        }
        if app.quit {
            return Ok(());
        }
        let mut changed = tokio::select! {
            event = input.recv() => match event {
                Some(Ok(Event::Key(key))) => app.handle_key(key),
                Some(Ok(Event::Mouse(mouse))) => app.handle_mouse(mouse),
                Some(Ok(Event::Resize(cols, rows))) => {
                    let area = Rect::new(0, 0, cols, rows);
                    terminal.resize(area).map_err(|source| UiError::Terminal { action: "resize", source })?;
                    app.resize(area)
                }
                Some(Ok(_)) => false,
                Some(Err(source)) => return Err(UiError::Terminal { action: "read input", source }),
                None => return Ok(()),
            },
            Some(msg) = msg_rx.recv() => apply(&mut app, msg, &mut event_rx),
            Some(event) = event_rx.recv() => app.update(Msg::Backend(event)),
            _ = clock.tick() => app.update(Msg::Tick(Utc::now())),
        };
        for _ in 0..BATCH {
            changed |= match msg_rx.try_recv() {
                Ok(msg) => apply(&mut app, msg, &mut event_rx),
                Err(_) => match event_rx.try_recv() {
                    Ok(event) => app.update(Msg::Backend(event)),
                    Err(_) => break,
                },
            };
        }
        if changed && !app.quit {
            draw(terminal, &mut app)?;
        }
    }
}
