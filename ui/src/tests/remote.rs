//! The Docker-API backend against a fake API server, driven as the runner drives it: lists, a log and a
//! stats stream dropped midway (the pane names the engine, then the stream resumes), an unreachable engine,
//! a slow one that holds nothing else up, and the all-engines view sending a container's action to its engine.

use std::time::Duration;

use tokio::sync::mpsc;

use super::fake_api::{FakeApi, WEB};
use super::*;
use crate::backend::{
    BackendEvent, BuildProgress, BuildRequest, ContainerOp, DockerApiBackend, Endpoint, LayerState, RunRequest,
};
use crate::engines::Engines;
use crate::runner::Executor;

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("channel open")
}

fn remote(name: &str, host: &str) -> Arc<DockerApiBackend> {
    Arc::new(DockerApiBackend::new(name, &Endpoint { host: host.into(), tls_dir: None }).expect("a client"))
}

/// Applies backend events to the app until `done` holds for it.
async fn until(app: &mut App, events: &mut mpsc::UnboundedReceiver<BackendEvent>, done: impl Fn(&App) -> bool) {
    while !done(app) {
        app.update(Msg::Backend(next(events).await));
    }
}

/// An app over `backend` with its container list loaded and the logs and stats of the first one followed.
/// The backend comes back too: its follow tasks end when it is dropped.
async fn following(
    backend: Arc<DockerApiBackend>,
) -> (App, mpsc::UnboundedReceiver<BackendEvent>, Arc<DockerApiBackend>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let executor = Executor::new(backend.clone(), tx);
    let mut app = unloaded(UiConfig::default(), Theme::default(), ROOMY);
    app.take_effects();
    executor.execute(Effect::RefreshContainers);
    app.update(next(&mut rx).await);
    assert_eq!(app.containers.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["web"]);
    assert!(app.containers.rows[0].started_at.is_some(), "the start time comes from an inspect");
    for effect in effects(&mut app) {
        assert!(matches!(effect, Effect::FollowLogs(_) | Effect::FollowStats(_)), "{effect:?}");
        executor.execute(effect);
    }
    (app, events, backend)
}

#[tokio::test]
async fn br_a_log_stream_lost_midway_says_so_naming_the_engine_then_resumes_without_repeats() {
    let api = FakeApi::start().await;
    let (mut app, mut events, _backend) = following(remote("lab", &api.address)).await;
    until(&mut app, &mut events, |app| app.logs.error.is_some()).await;
    let error = app.logs.error.clone().unwrap();
    assert!(error.contains("engine lab") && error.contains("log stream lost"), "{error}");
    until(&mut app, &mut events, |app| app.logs.lines().any(|l| l.text == "after-reconnect")).await;
    until(&mut app, &mut events, |app| app.logs.error.is_none()).await;
    let texts: Vec<&str> = app.logs.lines().map(|l| l.text.as_str()).filter(|t| !t.starts_with("[berth:")).collect();
    assert_eq!(texts, ["first", "before-drop", "after-reconnect"], "the reconnect's repeat of a seen line is left out");
    assert!(app.logs.lines().any(|l| l.text.contains("engine lab: log stream lost")), "the log itself keeps the note");
}

#[tokio::test]
async fn br_a_stats_stream_lost_midway_says_so_then_samples_come_again() {
    let api = FakeApi::start().await;
    let (mut app, mut events, _backend) = following(remote("lab", &api.address)).await;
    until(&mut app, &mut events, |app| app.stats.error.is_some()).await;
    let error = app.stats.error.clone().unwrap();
    assert!(error.contains("engine lab") && error.contains("stats stream lost"), "{error}");
    let before = app.stats.samples.len();
    until(&mut app, &mut events, |app| app.stats.error.is_none() && app.stats.samples.len() > before).await;
    assert_eq!(app.stats.samples.back().unwrap().memory_bytes, 4096);
}

#[tokio::test]
async fn br_an_unreachable_engine_is_named_in_the_pane() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = remote("gone", &format!("tcp://127.0.0.1:{port}"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(backend, tx);
    let mut app = unloaded(UiConfig::default(), Theme::default(), ROOMY);
    executor.execute(Effect::RefreshContainers);
    app.update(next(&mut rx).await);
    let error = app.containers.error.clone().expect("the pane shows an error");
    assert!(error.contains("(engine gone)"), "{error}");
    // The next refresh asks again; nothing is stuck.
    executor.execute(Effect::RefreshContainers);
    assert!(matches!(next(&mut rx).await, Msg::Containers(Err(_))));
}

#[tokio::test]
async fn br_a_slow_engine_holds_up_nothing_else() {
    let api = FakeApi::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let executor = Executor::new(remote("slow", &api.address), tx);
    // The image list never answers; the container list asked after it still comes.
    executor.execute(Effect::RefreshImages);
    executor.execute(Effect::RefreshContainers);
    assert!(matches!(next(&mut rx).await, Msg::Containers(Ok(_))));
    assert!(api.seen("GET /images/json"), "the image list was asked first");
}

#[tokio::test]
async fn br_the_all_engines_view_names_each_rows_engine_and_acts_on_the_engine_that_listed_the_container() {
    let (one, two) = (FakeApi::start().await, FakeApi::start().await);
    let engines = Engines::new(vec![
        ("one".to_string(), remote("one", &one.address) as Arc<dyn Backend>),
        ("two".to_string(), remote("two", &two.address) as Arc<dyn Backend>),
    ]);
    assert_eq!(engines.switch_engine().as_deref(), Some("two"));
    assert_eq!(engines.switch_engine().as_deref(), Some("all engines"));
    // Both fakes list a container of the same ID; its row names its engine, the last listing owns the ID.
    let rows = engines.containers().await.unwrap();
    let engines_named: Vec<Option<&str>> = rows.iter().map(|r| r.engine.as_deref()).collect();
    assert_eq!(engines_named, [Some("one"), Some("two")]);
    assert!(rows.iter().all(|r| r.group.is_none()), "rows are not grouped by engine");
    engines.container_op(WEB.to_string(), ContainerOp::Stop).await.unwrap();
    let stop = format!("POST /containers/{WEB}/stop");
    assert!(two.seen(&stop) && !one.seen(&stop), "the stop went to one engine only");
    // Panes of one engine's objects say the view lists containers only, rather than mixing engines.
    let error = engines.images().await.unwrap_err().to_string();
    assert!(error.contains("all-engines view lists containers only"), "{error}");
    assert_eq!(engines.switch_engine().as_deref(), Some("one"), "after the all-engines view, the first again");
}

#[tokio::test]
async fn br_a_remote_pull_reports_layer_progress_and_the_run_dialog_becomes_a_create_body() {
    let api = FakeApi::start().await;
    let backend = remote("lab", &api.address);
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    assert_eq!(backend.pull("busybox".into()).await.unwrap(), "sha256:feed");
    let mut states = Vec::new();
    while let Ok(BackendEvent::PullProgress { reference, layer, state }) = events.try_recv() {
        assert_eq!((reference.as_str(), layer.as_str()), ("docker.io/library/busybox:latest", "l1"));
        states.push(state);
    }
    assert_eq!(states, [LayerState::Waiting, LayerState::Downloading { done: 5, total: 10 }, LayerState::Done]);

    let request = RunRequest {
        image: "busybox".into(),
        name: Some("web2".into()),
        ports: vec!["127.0.0.1:8080:80".into()],
        env: vec!["A=1".into()],
        ..RunRequest::default()
    };
    assert_eq!(backend.run(request).await.unwrap(), "new1");
    assert!(api.seen("POST /containers/new1/start"), "created, then started");
    let body: serde_json::Value = serde_json::from_slice(&api.created()).unwrap();
    assert_eq!(body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
    assert_eq!(body["Env"][0], "A=1");
    // A value the flag parser refuses never reaches the engine.
    let bad = RunRequest { image: "busybox".into(), ports: vec!["nonsense:80".into()], ..RunRequest::default() };
    let error = backend.run(bad).await.unwrap_err().to_string();
    assert!(error.contains("nonsense"), "{error}");
}

#[tokio::test]
async fn br_the_title_bar_names_the_engine_shown_and_its_key_and_a_switch_reloads_every_list() {
    let mut app = app(ROOMY);
    let top = |app: &App| {
        let terminal = render(app);
        let buffer = terminal.backend().buffer();
        (0..buffer.area.width).map(|x| buffer[(x, 0)].symbol().to_string()).collect::<String>()
    };
    assert!(!top(&app).contains("engine"), "one engine: no engine shown");
    key(&mut app, KeyCode::Char('E'));
    assert_eq!(effects(&mut app), [Effect::SwitchEngine]);
    app.update(Msg::EngineSwitched(Some("lab".into())));
    assert!(top(&app).contains("E engine lab · mouse off"), "{}", top(&app));
    assert!(app.containers.rows.is_empty() && !app.containers.loaded, "the old engine's rows are gone");
    let refreshes = app.take_effects();
    assert!(refreshes.contains(&Effect::RefreshContainers) && refreshes.contains(&Effect::RefreshImages));
    app.update(Msg::EngineSwitched(None));
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("[[engines]]")), "one engine: how to add one");
}

#[tokio::test]
async fn br_a_shell_whose_connection_drops_says_so_naming_the_engine_then_closes() {
    let api = FakeApi::start().await;
    let backend = remote("lab", &api.address);
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let session = backend.open_shell(WEB.into(), 80, 24).await.unwrap();
    let mut output = String::new();
    loop {
        match next(&mut events).await {
            BackendEvent::ShellOutput { session: s, bytes } if s == session => {
                output.push_str(&String::from_utf8_lossy(&bytes))
            }
            BackendEvent::ShellClosed { session: s } if s == session => break,
            _ => {}
        }
    }
    assert!(output.starts_with("remote-prompt$ "), "{output:?}");
    assert!(output.contains("lost the session on engine lab"), "{output:?}");
    assert!(api.seen("POST /exec/e1/resize"), "the pane's size was set");
}

#[tokio::test]
async fn br_a_remote_build_sends_the_context_as_a_tar_and_shows_the_builders_steps() {
    let api = FakeApi::start().await;
    let backend = remote("lab", &api.address);
    let (event_tx, mut events) = mpsc::unbounded_channel();
    backend.subscribe(event_tx);
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM busybox\nCOPY greeting /greeting\n").unwrap();
    std::fs::write(context.path().join("greeting"), "hello\n").unwrap();
    let request = BuildRequest { context: context.path().display().to_string(), ..BuildRequest::default() };
    assert_eq!(backend.build(7, request).await.unwrap(), "sha256:built");
    let mut archive = tar::Archive::new(std::io::Cursor::new(api.created()));
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("Dockerfile")) && names.iter().any(|n| n.ends_with("greeting")),
        "{names:?}"
    );
    let mut steps = Vec::new();
    while let Ok(BackendEvent::Build { build: 7, progress }) = events.try_recv() {
        steps.push(match progress {
            BuildProgress::Step { number, .. } => format!("step {number}"),
            BuildProgress::Cached { number } => format!("cached {number}"),
            BuildProgress::Done { number, .. } => format!("done {number}"),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(steps, ["step 1", "done 1", "step 2", "cached 2", "done 2"]);
}

#[tokio::test]
async fn br_the_engine_switcher_passes_layer_reading_and_project_operations_to_the_engine_shown() {
    let local = Arc::new(super::fake::FakeBackend::new());
    let api = FakeApi::start().await;
    let engines = Engines::new(vec![
        ("berth".to_string(), local.clone() as Arc<dyn Backend>),
        ("lab".to_string(), remote("lab", &api.address) as Arc<dyn Backend>),
    ]);
    let changes = engines.layer_changes("sha256:feed".into()).await.expect("the shown engine reads its layers");
    assert_eq!(*changes, super::fake::layer_changes());
    engines.project_op("shop".into(), crate::backend::ProjectOp::Restart).await.unwrap();
    assert_eq!(local.calls.lock().unwrap().last().map(String::as_str), Some("compose restart shop"));
    // The Docker API has neither: the remote engine says so by name.
    engines.switch_engine();
    let error = engines.layer_changes("sha256:feed".into()).await.unwrap_err().to_string();
    assert!(error.contains("cannot read layer files"), "{error}");
}
