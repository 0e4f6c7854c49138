//! The executor against the fake backend: effects come back as messages, and the app applies them.

use std::time::Duration;

use berth_engine::events::PushLayerProgress;
use tokio::sync::mpsc;

use super::*;
use crate::backend::{BackendEvent, ContainerOp, ContainerState, LayerState};
use crate::runner::Executor;

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a message within 5 s").expect("channel open")
}

#[tokio::test]
async fn operations_round_trip_through_the_backend() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend.clone(), tx);
    let mut app = app(ROOMY);
    let web = app.containers.rows.iter().find(|r| r.name == "web").unwrap().id.clone();
    executor.execute(Effect::Container { id: web.clone(), name: "web".into(), op: ContainerOp::Pause });
    let msg = next(&mut rx).await;
    assert_eq!(msg, Msg::ContainerDone { id: web.clone(), name: "web".into(), op: ContainerOp::Pause, result: Ok(()) });
    app.update(msg);
    for effect in app.take_effects() {
        executor.execute(effect);
    }
    for _ in 0..2 {
        app.update(next(&mut rx).await);
    }
    let row = app.containers.rows.iter().find(|r| r.id == web).unwrap();
    assert_eq!(row.state, ContainerState::Paused, "the refresh after the operation shows the new state");
    assert_eq!(backend.calls.lock().unwrap().as_slice(), [format!("pause {web}")]);
}

#[tokio::test]
async fn a_refresh_in_flight_is_not_asked_twice() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    executor.execute(Effect::RefreshImages);
    executor.execute(Effect::RefreshImages);
    assert!(matches!(next(&mut rx).await, Msg::Images(Ok(_))));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rx.try_recv().is_err());
    executor.execute(Effect::RefreshImages);
    assert!(matches!(next(&mut rx).await, Msg::Images(Ok(_))), "after it finished, the next one runs");
}

#[tokio::test]
async fn cpu_and_memory_come_back_for_the_running_containers() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    let mut app = app(ROOMY);
    let all: Vec<String> = app.containers.rows.iter().map(|r| r.id.clone()).collect();
    executor.execute(Effect::SampleUsage(all));
    let msg = next(&mut rx).await;
    let Msg::Usage(Ok(usage)) = &msg else { panic!("expected usage, got {msg:?}") };
    let mut names: Vec<&str> =
        app.containers.rows.iter().filter(|r| usage.contains_key(&r.id)).map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["db", "web"], "the exited and the created container have no figures");
    app.update(Msg::Usage(Ok(Default::default())));
    app.drawn();
    app.update(msg);
    assert!(app.update(Msg::Tick(app.now)), "the figures reach the pane, drawn with the next tick");
}

#[tokio::test]
async fn pull_progress_arrives_as_events_and_the_result_as_a_message() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let executor = Executor::new(backend, tx);
    executor.execute(Effect::Pull("docker.io/library/busybox:latest".into()));
    let first = next(&mut events).await;
    assert!(matches!(first, BackendEvent::PullProgress { state: LayerState::Waiting, .. }), "{first:?}");
    assert!(matches!(next(&mut rx).await, Msg::Pulled { result: Ok(_), .. }));
    executor.execute(Effect::Pull("docker.io/library/missing:latest".into()));
    let Msg::Pulled { result: Err(e), .. } = next(&mut rx).await else { panic!() };
    assert_eq!(e.to_string(), "pull docker.io/library/missing:latest: manifest unknown");
}

#[tokio::test]
async fn push_progress_arrives_as_events_and_the_digest_as_a_message() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let executor = Executor::new(backend.clone(), tx);
    executor.execute(Effect::Push("127.0.0.1:5000/app:1".into()));
    let first = next(&mut events).await;
    assert!(
        matches!(&first, BackendEvent::PushProgress { reference, state: PushLayerProgress::Preparing, .. }
            if reference == "127.0.0.1:5000/app:1"),
        "{first:?}"
    );
    let Msg::Pushed { result: Ok(digest), .. } = next(&mut rx).await else { panic!() };
    assert!(digest.starts_with("sha256:"), "{digest}");
    executor.execute(Effect::Push("127.0.0.1:5000/denied:1".into()));
    let Msg::Pushed { result: Err(e), .. } = next(&mut rx).await else { panic!() };
    assert!(e.to_string().contains("try `berth login 127.0.0.1:5000`"), "{e}");
    assert_eq!(backend.calls.lock().unwrap().as_slice(), ["push 127.0.0.1:5000/app:1", "push 127.0.0.1:5000/denied:1"]);
}

#[tokio::test]
async fn saving_a_log_writes_the_file_or_names_the_path() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.log");
    executor.execute(Effect::SaveLog { path: path.clone(), text: "a\n".into() });
    assert!(matches!(next(&mut rx).await, Msg::Done { result: Ok(_), .. }));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\n");
    // A relative path is reported in full.
    let relative = path.strip_prefix("/").unwrap().to_path_buf();
    let here = std::env::current_dir().unwrap();
    executor.execute(Effect::SaveLog {
        path: std::iter::repeat_n("..", here.components().count()).collect::<std::path::PathBuf>().join(&relative),
        text: "b\n".into(),
    });
    let Msg::Done { result: Ok(said), .. } = next(&mut rx).await else { panic!("the save failed") };
    assert!(said.starts_with('/') && said.ends_with("web.log"), "{said}");
    executor.execute(Effect::SaveLog { path: dir.path().join("no/such/dir.log"), text: String::new() });
    let Msg::Done { result: Err(e), .. } = next(&mut rx).await else { panic!() };
    assert!(e.to_string().contains("no/such/dir.log"), "{e}");
}

#[tokio::test]
async fn networks_and_volumes_round_trip_through_the_backend() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend.clone(), tx);
    executor.execute(Effect::RemoveVolume { name: "pgdata".into(), shown: "pgdata".into() });
    let Msg::Done { what, result: Err(e) } = next(&mut rx).await else { panic!("a refusal") };
    assert_eq!(
        (what.as_str(), e.to_string().as_str()),
        ("remove volume pgdata", "remove volume pgdata: volume is in use by db")
    );
    executor.execute(Effect::PruneVolumes);
    assert_eq!(
        next(&mut rx).await,
        Msg::Done { what: "prune volumes".into(), result: Ok("removed 1, reclaimed 4.1kB".into()) }
    );
    executor.execute(Effect::PruneNetworks);
    assert_eq!(next(&mut rx).await, Msg::Done { what: "prune networks".into(), result: Ok("removed 1".into()) });
    executor.execute(Effect::PruneNetworks);
    assert_eq!(
        next(&mut rx).await,
        Msg::Done { what: "prune networks".into(), result: Ok("nothing to remove".into()) }
    );
    executor.execute(Effect::RefreshNetworks);
    let Msg::Networks(Ok(rows)) = next(&mut rx).await else { panic!("the network list") };
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["bridge", "backend"]);
    executor.execute(Effect::RefreshVolumes);
    let Msg::Volumes(Ok(rows)) = next(&mut rx).await else { panic!("the volume list") };
    assert_eq!(rows.len(), 2, "the anonymous unused volume was pruned");
    executor.execute(Effect::CloseShell(3));
    assert!(backend.calls.lock().unwrap().contains(&"close shell 3".to_string()));
    let open = |attach| Effect::OpenShell { id: "c1".into(), name: "web".into(), rows: 20, cols: 70, attach };
    executor.execute(open(true));
    assert_eq!(next(&mut rx).await, Msg::ShellOpened { name: "web".into(), result: Ok(2) });
    assert!(backend.calls.lock().unwrap().contains(&"attach c1 70x20".to_string()));
}

#[tokio::test]
async fn a_command_line_runs_through_the_backend_and_its_result_shows_in_the_pane() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend.clone(), tx);
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('7'));
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "network create data");
    key(&mut app, KeyCode::Enter);
    for effect in app.take_effects() {
        executor.execute(effect);
    }
    // The networks refresh asked for on focus, and the command's result, in either order.
    for _ in 0..2 {
        app.update(next(&mut rx).await);
    }
    assert_eq!(backend.calls.lock().unwrap().as_slice(), ["berth network create data"]);
    assert!(app.status.as_ref().is_some_and(|s| !s.error && s.text.starts_with("berth network create data: f9")));
    let refresh = app.take_effects();
    assert!(refresh.contains(&Effect::RefreshNetworks), "the shown pane re-reads after the command");
    for effect in refresh {
        executor.execute(effect);
    }
    for _ in 0..3 {
        app.update(next(&mut rx).await);
    }
    assert!(app.networks.rows.iter().any(|r| r.name == "data"), "the new network is listed");
}

/// Runs the app's effects on the executor until `done` holds, feeding it every message and backend event as
/// the runner's loop does.
async fn drive(
    app: &mut App,
    executor: &Executor<FakeBackend>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    events: &mut mpsc::UnboundedReceiver<BackendEvent>,
    done: impl Fn(&App) -> bool,
) {
    while !done(app) {
        for effect in app.take_effects() {
            executor.execute(effect);
        }
        tokio::select! {
            msg = next(rx) => crate::runner::apply(app, msg, events),
            event = next(events) => app.update(Msg::Backend(event)),
        };
    }
}

#[tokio::test]
async fn a_build_runs_in_the_background_and_its_image_is_selected() {
    use crate::app::Modal;
    use crate::dialogs::build::{BuildPhase, StepState};
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let executor = Executor::new(backend.clone(), tx);
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    chars(&mut app, "app:1");
    key(&mut app, KeyCode::Enter);
    let id = format!("sha256:{}", "77".repeat(32));
    drive(&mut app, &executor, &mut rx, &mut events, |app| app.images.selected().is_some_and(|r| r.id == id)).await;
    let Some(Modal::Build(dialog)) = &app.modal else { panic!("the build view closed") };
    assert!(matches!(dialog.phase, BuildPhase::Done { .. }), "{:?}", dialog.phase);
    let states: Vec<StepState> = dialog.steps.iter().map(|s| s.state).collect();
    assert_eq!(states, [StepState::Cached, StepState::Done { seconds: 1.5 }]);
    assert_eq!(backend.calls.lock().unwrap().as_slice(), ["build . app:1"]);

    // A failing step: the view shows it failed, with its output.
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Tab);
    chars(&mut app, "failing");
    key(&mut app, KeyCode::Enter);
    let failed =
        |app: &App| matches!(&app.modal, Some(Modal::Build(d)) if matches!(d.phase, BuildPhase::Failed { .. }));
    drive(&mut app, &executor, &mut rx, &mut events, failed).await;
    let Some(Modal::Build(dialog)) = &app.modal else { unreachable!() };
    assert_eq!(dialog.steps[1].state, StepState::Failed);
    assert_eq!(dialog.steps[1].output, ["compiling"]);
}

#[tokio::test]
async fn a_failed_operation_names_the_container_not_its_id() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    let app = app(ROOMY);
    let web = app.containers.rows.iter().find(|r| r.name == "web").unwrap().id.clone();
    executor.execute(Effect::Container { id: web.clone(), name: "web".into(), op: ContainerOp::Remove });
    let Msg::ContainerDone { result: Err(e), .. } = next(&mut rx).await else { panic!("the remove should fail") };
    let text = e.to_string();
    assert_eq!(text, "remove web: container web is running: stop it first");
    assert!(!text.contains(crate::backend::short_id(&web)));
}

#[tokio::test]
async fn a_cancelled_pull_ends_as_cancelled() {
    let backend = Arc::new(FakeBackend::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    let reference = "docker.io/library/slow:latest".to_string();
    executor.execute(Effect::Pull(reference.clone()));
    executor.execute(Effect::CancelPull(reference.clone()));
    let Msg::Pulled { reference: r, result: Err(e) } = next(&mut rx).await else { panic!("no cancelled pull") };
    assert_eq!((r, e.to_string()), (reference, "pull docker.io/library/slow:latest: cancelled".to_string()));
}

#[tokio::test]
async fn explorer_trees_are_built_in_the_background_newest_last_and_never_one_per_key_behind() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(Arc::new(FakeBackend::new()), tx);
    let mut explorer = crate::panes::explorer::Explorer::new("sha256:img".into(), "img".into(), Vec::new());
    explorer.set_changes(Ok(Arc::new(fake::layer_changes())));
    for _ in 0..20 {
        explorer.rebuild();
        executor.execute(Effect::Tree(explorer.wanted.take().unwrap()));
    }
    let mut generations = Vec::new();
    while generations.last() != Some(&21) {
        let Msg::Tree { generation, rows, .. } = next(&mut rx).await else { panic!("a tree") };
        assert!(!rows.is_empty());
        generations.push(generation);
    }
    assert!(generations.windows(2).all(|w| w[0] < w[1]), "in order: {generations:?}");
    assert!(generations.len() < 20, "trees asked while one was built were replaced by the newest: {generations:?}");
}
