//! What wakes an idle UI: the engine's journal says when lists are worth reading again, idle charts and
//! unmoved uptimes draw nothing.

use std::time::Duration;

use berth_engine::journal::{Event, EventType};
use berth_engine::{Engine, EngineOptions};
use tokio::sync::mpsc;

use super::*;
use crate::backend::{BackendEvent, EngineBackend};
use crate::panes::stats::sample;

#[tokio::test]
async fn br_a_journal_record_tells_the_ui_to_read_its_lists_again() {
    let root = tempfile::tempdir().unwrap();
    let options = EngineOptions { root: root.path().to_path_buf(), config: berth_engine::Config::default() };
    let engine = Arc::new(Engine::open(options).unwrap());
    let backend = EngineBackend::new(engine.clone(), "/bin/false".into());
    let (tx, mut rx) = mpsc::unbounded_channel();
    backend.subscribe(tx);
    assert!(backend.containers().await.unwrap().is_empty());
    // Another berth process records a container's start: the UI hears of it without asking.
    let changed = async {
        loop {
            engine.record_event(Event::new(EventType::Container, "start", "0".repeat(64)));
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(Some(BackendEvent::Changed)) => return,
                Ok(other) => panic!("expected Changed, got {other:?}"),
                Err(_) => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), changed).await.expect("Changed within 10 s");

    let mut app = app(ROOMY);
    assert!(!app.update(Msg::Backend(BackendEvent::Changed)), "nothing to draw until the lists come");
    assert!(app.take_effects().contains(&Effect::RefreshContainers), "the list is read at once");
}

#[test]
fn br_an_idle_containers_stats_draw_nothing_new_but_a_moving_chart_does_with_the_next_tick() {
    let mut app = app(ROOMY);
    let container = app.stats.container.clone().expect("the selection's stats are followed").0;
    let stats = |app: &mut App, rx| {
        app.update(Msg::Backend(BackendEvent::Stats { container: container.clone(), sample: sample(rx) }))
    };
    // The clock's tick at the same second: no uptime moved, so only a waiting change draws.
    let tick = |app: &mut App| app.update(Msg::Tick(app.now));
    assert!(stats(&mut app, 0), "the first sample shows at once");
    render(&app);
    for _ in 0..100 {
        stats(&mut app, 0);
    }
    render(&app);
    app.drawn();
    assert!(!stats(&mut app, 0) && !tick(&mut app), "flat lines and the same figures: no redraw");
    assert!(!stats(&mut app, 4096), "traffic moves the chart, drawn with the tick ...");
    assert!(tick(&mut app), "... which draws it");
    assert!(!tick(&mut app), "once");
    render(&app);
    assert!(!stats(&mut app, 4096));
    app.drawn();
    assert!(!tick(&mut app), "a frame drawn meanwhile showed the spike moving left already");
}

#[test]
fn br_only_uptimes_on_screen_wake_a_redraw() {
    let mut app = app((120, 12));
    let mut rows: Vec<_> = (0..30)
        .map(|n| {
            fake::container(
                &format!("{n:02}"),
                &format!("box-{n:02}"),
                "busybox",
                crate::backend::ContainerState::Running,
            )
        })
        .collect();
    // The last box started seconds ago: its uptime moves every second, but it is scrolled out of sight.
    rows[29].started_at = Some("2026-01-01T23:59:50Z".into());
    app.update(Msg::Containers(Ok(rows)));
    let later = fake::now() + chrono::Duration::seconds(1);
    assert!(!app.update(Msg::Tick(later)), "off screen");
    key(&mut app, KeyCode::Char('G'));
    assert!(app.update(Msg::Tick(later + chrono::Duration::seconds(1))), "on screen");
}
