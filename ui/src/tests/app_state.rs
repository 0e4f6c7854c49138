//! The app driven by keys and backend messages: which effects each key asks for, in which modal state.

use std::collections::BTreeMap;

use crossterm::event::KeyCode;

use berth_engine::events::PushLayerProgress;

use super::*;
use crate::app::Modal;
use crate::backend::{
    BackendError, BackendEvent, BuildProgress, BuildRequest, ContainerOp, ContainerState, ImageRow, LayerState,
};
use crate::dialogs::build::{BuildDialog, BuildPhase, StepState};
use crate::dialogs::transfer::TransferPhase;
use crate::keymap::{Command, KeyList, Keymap};
use crate::panes::Pane;

fn selected_name(app: &App) -> String {
    app.containers.selected().unwrap().name.clone()
}

fn container_effect(app: &App, name: &str, op: ContainerOp) -> Effect {
    let row = app.containers.rows.iter().find(|r| r.name == name).unwrap();
    Effect::Container { id: row.id.clone(), name: name.into(), op }
}

#[test]
fn navigation_moves_logs_and_stats_to_the_selection() {
    let mut app = app(ROOMY);
    assert_eq!(selected_name(&app), "db", "sorted by name");
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(selected_name(&app), "fresh");
    let id = app.containers.selected().unwrap().id.clone();
    let effects = effects(&mut app);
    assert!(
        effects.contains(&Effect::FollowLogs(id.clone())) && effects.contains(&Effect::FollowStats(id)),
        "{effects:?}"
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::UnfollowLogs(_))), "the old container is let go: {effects:?}");
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(selected_name(&app), "web");
}

#[test]
fn lifecycle_keys_follow_the_state_guards() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('G'));
    effects(&mut app);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "web", ContainerOp::Pause)]);
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "web", ContainerOp::Stop)]);
    key(&mut app, KeyCode::Char('s'));
    assert!(effects(&mut app).is_empty(), "a running container cannot start");
    assert_eq!(app.status.as_ref().unwrap().text, "start: not possible for the selection");
    key(&mut app, KeyCode::Char('g'));
    effects(&mut app);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "db", ContainerOp::Unpause)]);
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "db", ContainerOp::Restart)]);
}

#[test]
fn kill_and_remove_confirm_first() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('K'));
    assert!(matches!(&app.modal, Some(Modal::Confirm(d)) if d.prompt == "Kill db?"));
    assert!(effects(&mut app).is_empty());
    key(&mut app, KeyCode::Char('n'));
    assert!(app.modal.is_none() && effects(&mut app).is_empty());
    key(&mut app, KeyCode::Char('j'));
    effects(&mut app);
    key(&mut app, KeyCode::Char('D'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "fresh", ContainerOp::Remove)]);
}

#[test]
fn removing_a_running_container_asks_for_force() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('G'));
    effects(&mut app);
    key(&mut app, KeyCode::Char('D'));
    let Some(Modal::Confirm(dialog)) = &app.modal else { panic!("no question") };
    assert_eq!(dialog.prompt, "Remove web? Running, so killed first (force): web.");
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(effects(&mut app), vec![container_effect(&app, "web", ContainerOp::ForceRemove)]);
}

#[test]
fn rows_say_what_is_being_done_until_the_engine_answers() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('S'));
    effects(&mut app);
    let web = app.containers.selected().unwrap().id.clone();
    let screen = |app: &App| format!("{:?}", render(app).backend());
    assert!(screen(&app).contains("stopping…"), "{}", screen(&app));
    app.update(Msg::ContainerDone { id: web, name: "web".into(), op: ContainerOp::Stop, result: Ok(()) });
    assert!(!screen(&app).contains("stopping…"));
    assert_eq!(app.status.as_ref().unwrap().text, "stop web");
}

#[test]
fn bulk_operations_report_how_many_succeeded_and_which_failed() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('S'));
    let ops: Vec<(String, String)> = effects(&mut app)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Container { id, name, .. } => Some((id, name)),
            _ => None,
        })
        .collect();
    assert_eq!(ops.len(), 2);
    let failure = BackendError::Failed { operation: "stop", target: "db".into(), message: "no".into() };
    app.update(Msg::ContainerDone {
        id: ops[0].0.clone(),
        name: ops[0].1.clone(),
        op: ContainerOp::Stop,
        result: Err(failure),
    });
    app.update(Msg::ContainerDone {
        id: ops[1].0.clone(),
        name: ops[1].1.clone(),
        op: ContainerOp::Stop,
        result: Ok(()),
    });
    let status = app.status.clone().unwrap();
    assert_eq!(status.text, "stop: 1 of 2 succeeded; failed: db (see Operations)");
    assert!(status.error);
}

#[test]
fn confirmation_can_be_switched_off() {
    let config = UiConfig { confirm: false, ..UiConfig::default() };
    let mut app = app_with(config, Theme::default(), ROOMY);
    key(&mut app, KeyCode::Char('K'));
    assert!(app.modal.is_none());
    assert_eq!(effects(&mut app), vec![container_effect(&app, "db", ContainerOp::Kill)]);
}

#[test]
fn marks_make_bulk_operations() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char(' '));
    effects(&mut app);
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(
        effects(&mut app),
        vec![container_effect(&app, "db", ContainerOp::Stop), container_effect(&app, "web", ContainerOp::Stop)]
    );
    assert!(app.containers.marked.is_empty(), "marks clear after the operation");
}

#[test]
fn typing_a_filter_swallows_global_keys() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "wq");
    assert!(!app.quit, "q typed into the filter does not quit");
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    let names: Vec<_> = app.containers.visible().iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, ["web"]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.containers.visible().len(), 4, "Esc clears the filter");
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn pull_dialog_follows_its_own_pull() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('p'));
    chars(&mut app, "busybox");
    key(&mut app, KeyCode::Enter);
    let reference = "docker.io/library/busybox:latest".to_string();
    assert_eq!(effects(&mut app), vec![Effect::Pull(reference.clone())]);
    let progress = |r: &str, state| {
        Msg::Backend(BackendEvent::PullProgress { reference: r.into(), layer: "sha256:l1".into(), state })
    };
    assert!(app.update(progress(&reference, LayerState::Downloading { done: 1, total: 2 })));
    assert!(!app.update(progress("docker.io/library/other:latest", LayerState::Done)), "another pull does not redraw");
    let Some(Modal::Pull(dialog)) = &app.modal else { panic!() };
    assert_eq!(dialog.layers, vec![("sha256:l1".to_string(), LayerState::Downloading { done: 1, total: 2 })]);
    app.update(Msg::Pulled { reference: reference.clone(), result: Ok("sha256:abc".into()) });
    let Some(Modal::Pull(dialog)) = &app.modal else { panic!() };
    assert!(matches!(&dialog.phase, TransferPhase::Done { result, .. } if result == "sha256:abc"));
    assert!(app.take_effects().contains(&Effect::RefreshImages));
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none());
    assert!(app.operations.entries.iter().any(|o| o.text.starts_with("pulled docker.io/library/busybox:latest")));
}

#[test]
fn push_dialog_pushes_the_selected_tag_and_follows_its_push() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    let tag = app.images.selected().unwrap().tags[0].clone();
    key(&mut app, KeyCode::Char('P'));
    let Some(Modal::Push(dialog)) = &app.modal else { panic!("no push dialog: {:?}", app.modal) };
    assert_eq!(dialog.input.value(), tag, "the selected image's tag, to edit or take");
    key(&mut app, KeyCode::Enter);
    let reference = format!("docker.io/library/{tag}");
    assert_eq!(effects(&mut app), vec![Effect::Push(reference.clone())]);
    let progress = |r: &str, state| {
        Msg::Backend(BackendEvent::PushProgress { reference: r.into(), layer: "sha256:l1".into(), state })
    };
    assert!(app.update(progress(&reference, PushLayerProgress::Pushing { done: 1, total: 2 })));
    assert!(!app.update(progress("docker.io/library/other:latest", PushLayerProgress::Pushed)), "not this push");
    let Some(Modal::Push(dialog)) = &app.modal else { panic!() };
    assert_eq!(dialog.layers, vec![("sha256:l1".to_string(), PushLayerProgress::Pushing { done: 1, total: 2 })]);
    app.update(Msg::Pushed { reference: reference.clone(), result: Ok("sha256:dd".into()) });
    let Some(Modal::Push(dialog)) = &app.modal else { panic!() };
    assert!(matches!(&dialog.phase, TransferPhase::Done { result, .. } if result == "sha256:dd"));
    assert!(app.take_effects().contains(&Effect::RefreshImages), "the new repo digest shows");
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none());
    assert!(app.operations.entries.iter().any(|o| o.text == format!("pushed {reference} (sha256:dd)")));

    // An untagged image has nothing to push: the key does nothing there.
    while app.images.selected().is_some_and(|r| !r.tags.is_empty()) {
        key(&mut app, KeyCode::Char('j'));
    }
    key(&mut app, KeyCode::Char('P'));
    assert!(app.modal.is_none());
}

#[test]
fn a_refused_push_keeps_the_engine_error_and_says_where_to_log_in() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('P'));
    let Some(Modal::Push(dialog)) = &mut app.modal else { panic!() };
    dialog.input = crate::input::TextInput::new("127.0.0.1:5000/denied:1");
    key(&mut app, KeyCode::Enter);
    let reference = "127.0.0.1:5000/denied:1".to_string();
    assert_eq!(effects(&mut app), vec![Effect::Push(reference.clone())]);
    let error = BackendError::Failed {
        operation: "push",
        target: reference.clone(),
        message: crate::tests::fake::denied(&reference),
    };
    app.update(Msg::Pushed { reference, result: Err(error) });
    let Some(Modal::Push(dialog)) = &app.modal else { panic!() };
    assert!(
        matches!(&dialog.phase, TransferPhase::Failed { error, .. } if error.contains("try `berth login 127.0.0.1:5000`")),
        "{:?}",
        dialog.phase
    );
    assert!(app.status.as_ref().is_some_and(|s| s.error && s.text.contains("push access denied")));
    assert!(app.operations.entries.iter().any(|o| o.text.contains("push access denied")));
}

#[test]
fn a_bad_reference_fails_in_the_dialog() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('p'));
    chars(&mut app, "bad name");
    key(&mut app, KeyCode::Enter);
    assert!(effects(&mut app).is_empty());
    let Some(Modal::Pull(dialog)) = &app.modal else { panic!() };
    assert!(matches!(&dialog.phase, TransferPhase::Failed { error, .. } if error.contains("invalid reference format")));
}

#[test]
fn run_dialog_from_an_image() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('r'));
    chars(&mut app, "one");
    key(&mut app, KeyCode::Enter);
    let effects = effects(&mut app);
    assert!(
        matches!(&effects[..], [Effect::Run(r)] if r.image == "alpine:3.20" && r.name.as_deref() == Some("one")),
        "{effects:?}"
    );
}

#[test]
fn a_bad_port_keeps_the_run_dialog_open_with_the_parsers_message() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('r'));
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    chars(&mut app, "8080:x");
    key(&mut app, KeyCode::Enter);
    assert!(effects(&mut app).is_empty(), "nothing runs");
    let Some(Modal::Run(dialog)) = &app.modal else { panic!("the dialog closed") };
    let error = dialog.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("--publish: invalid port mapping \"8080:x\""), "{error}");
}

#[test]
fn shell_captures_keys_until_the_leave_key() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('e'));
    let effects_now = effects(&mut app);
    let (rows, cols) = crate::layout::shell_size(app.area);
    assert!(effects_now.iter().any(
        |e| matches!(e, Effect::OpenShell { name, rows: r, cols: c, .. } if name == "web" && *r == rows && *c == cols)
    ));
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    assert_eq!(app.focus, Pane::Shell);
    chars(&mut app, "q");
    key(&mut app, KeyCode::Up);
    assert!(!app.quit);
    assert_eq!(
        effects(&mut app),
        vec![
            Effect::ShellInput { session: 4, bytes: b"q".to_vec() },
            Effect::ShellInput { session: 4, bytes: b"\x1b[A".to_vec() }
        ]
    );
    ctrl(&mut app, 'a');
    assert!(!app.shell.captured);
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn attach_opens_a_pane_on_the_main_process() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    assert!(
        effects(&mut app)
            .iter()
            .any(|e| matches!(e, Effect::OpenShell { name, attach: true, .. } if name == "web (attached)"))
    );
    key(&mut app, KeyCode::Char('e'));
    assert!(
        effects(&mut app).iter().any(|e| matches!(e, Effect::OpenShell { name, attach: false, .. } if name == "web"))
    );
}

#[test]
fn resize_reaches_open_shells() {
    let mut app = app(ROOMY);
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    app.take_effects();
    app.resize(Rect::new(0, 0, 100, 30));
    let (rows, cols) = crate::layout::shell_size(app.area);
    assert_eq!(app.take_effects(), vec![Effect::ResizeShell { session: 4, rows, cols }]);
}

#[test]
fn logs_keys_toggle_and_save() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.focus, Pane::Logs);
    let id = app.logs.container.clone().unwrap().0;
    app.update(Msg::Backend(BackendEvent::Log {
        container: id,
        lines: vec![crate::backend::LogLine { time: "t".into(), stderr: false, text: "hello".into() }],
    }));
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('w'));
    key(&mut app, KeyCode::Char('f'));
    assert!(app.logs.timestamps && app.logs.wrap && !app.logs.follow);
    effects(&mut app);
    ctrl(&mut app, 's');
    let Some(Modal::SaveLog(dialog)) = &app.modal else { panic!("no path asked") };
    assert_eq!(dialog.path.value(), "berth-db-20260102-000000.log", "the default is ready to take");
    assert!(effects(&mut app).is_empty(), "nothing saved before Enter");
    key(&mut app, KeyCode::Enter);
    let effects_now = effects(&mut app);
    assert!(
        matches!(&effects_now[..], [Effect::SaveLog { path, text }]
        if path.to_str() == Some("berth-db-20260102-000000.log") && text == "t hello\n"),
        "{effects_now:?}"
    );
    ctrl(&mut app, 's');
    ctrl(&mut app, 'u');
    chars(&mut app, "/tmp/web.log");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&effects(&mut app)[..], [Effect::SaveLog { path, .. }] if path.to_str() == Some("/tmp/web.log")));
}

#[test]
fn log_lines_of_another_container_are_dropped() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('l'));
    let event = BackendEvent::Log { container: "other".into(), lines: vec![] };
    assert!(!app.update(Msg::Backend(event)));
}

#[test]
fn remapped_keys_drive_the_app_and_the_help() {
    let overrides: BTreeMap<String, KeyList> = [("quit".to_string(), KeyList::One("ctrl-q".into()))].into();
    let config = UiConfig { keymap: Keymap::with_overrides(&overrides).unwrap(), ..UiConfig::default() };
    let mut app = app_with(config, Theme::default(), ROOMY);
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    let screen = format!("{}", render(&app).backend());
    assert!(screen.contains("ctrl-q quit"), "the status bar shows the live key:\n{screen}");
    ctrl(&mut app, 'q');
    assert!(app.quit);
}

#[test]
fn idle_ticks_redraw_only_when_something_shown_moves() {
    let mut app = app(ROOMY);
    let later = fake::now() + chrono::Duration::seconds(1);
    assert!(!app.update(Msg::Tick(later)), "uptimes in minutes read the same a second later");
    assert!(!app.update(Msg::Containers(Ok(fake::containers()))), "the same rows do not redraw");
    let mut fresh = fake::containers();
    fresh[0].started_at = Some("2026-01-01T23:59:50Z".into());
    assert!(app.update(Msg::Containers(Ok(fresh))));
    assert!(app.update(Msg::Tick(later + chrono::Duration::seconds(1))), "an uptime in seconds moves");
    assert!(!app.take_effects().contains(&Effect::RefreshImages), "hidden images are not read");
    key(&mut app, KeyCode::Char('2'));
    assert!(app.take_effects().contains(&Effect::RefreshImages), "shown images are");
    key(&mut app, KeyCode::Char('6'));
    assert!(!app.update(Msg::Tick(later + chrono::Duration::seconds(1))), "nothing on the operations screen moves");
    assert!(app.update(Msg::Tick(later + chrono::Duration::seconds(60))), "a new minute changes ages");
}

#[test]
fn cpu_and_memory_are_read_every_other_tick_while_the_list_shows() {
    let mut app = app(ROOMY);
    let up: Vec<String> = app.containers.visible().iter().filter(|r| r.state.is_up()).map(|r| r.id.clone()).collect();
    assert_eq!(up.len(), 2, "web runs and db is paused");
    let sampled = |app: &mut App| -> Vec<Effect> {
        app.take_effects().into_iter().filter(|e| matches!(e, Effect::SampleUsage(_))).collect()
    };
    let at = |secs: i64| fake::now() + chrono::Duration::seconds(secs);
    app.update(Msg::Tick(at(1)));
    assert_eq!(sampled(&mut app), [Effect::SampleUsage(up.clone())]);
    app.update(Msg::Tick(at(2)));
    assert!(sampled(&mut app).is_empty(), "not on every tick");
    app.update(Msg::Tick(at(3)));
    assert_eq!(sampled(&mut app), [Effect::SampleUsage(up.clone())]);
    key(&mut app, KeyCode::Char('3'));
    assert!(sampled(&mut app).is_empty(), "the logs share the list's screen: the clock still decides");
    key(&mut app, KeyCode::Char('2'));
    app.update(Msg::Tick(at(5)));
    assert!(sampled(&mut app).is_empty(), "nothing is read while the list is hidden");
    key(&mut app, KeyCode::Char('1'));
    assert_eq!(sampled(&mut app), [Effect::SampleUsage(up.clone())], "showing the list reads at once");

    let tick = |app: &mut App| app.update(Msg::Tick(app.now));
    app.drawn();
    assert!(!app.update(Msg::Usage(Ok(fake::usage()))) && !tick(&mut app), "the same figures draw nothing new");
    let mut busier = fake::usage();
    busier.get_mut(&up[0]).unwrap().cpu_percent = Some(80.04);
    assert!(!app.update(Msg::Usage(Ok(busier.clone()))));
    assert!(tick(&mut app), "new figures draw with the clock's tick");
    busier.get_mut(&up[0]).unwrap().cpu_percent = Some(79.96);
    assert!(!app.update(Msg::Usage(Ok(busier))) && !tick(&mut app), "80.0% either way: no redraw");

    let error = crate::backend::BackendError::Failed {
        operation: "usage of",
        target: "containers".into(),
        message: "permission denied".into(),
    };
    assert!(app.update(Msg::Usage(Err(error.clone()))));
    let status = app.status.clone().unwrap();
    assert!(status.error && status.text == "CPU and memory: usage of containers: permission denied", "{status:?}");
    assert!(app.containers.usage.is_empty(), "no stale figures stay on screen");
    let logged = app.operations.entries.len();
    app.update(Msg::Usage(Err(error)));
    assert_eq!(app.operations.entries.len(), logged, "a failure that repeats is told once");

    let mut stopped = fake::containers();
    stopped.iter_mut().for_each(|r| r.state = crate::backend::ContainerState::Exited);
    app.update(Msg::Containers(Ok(stopped)));
    app.update(Msg::Tick(at(9)));
    assert!(sampled(&mut app).is_empty(), "no running container, nothing to read");
}

#[test]
fn tab_cycles_panes_and_skips_the_shell_until_one_is_open() {
    let mut app = app(ROOMY);
    let mut seen = vec![];
    for _ in 0..7 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [Pane::Images, Pane::Logs, Pane::Stats, Pane::Operations, Pane::Networks, Pane::Volumes, Pane::Containers]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Pane::Volumes);
}

#[test]
fn mouse_toggle_asks_the_terminal() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('M'));
    assert!(app.mouse);
    assert_eq!(effects(&mut app), vec![Effect::SetMouse(true)]);
}

#[test]
fn closing_a_shell_drops_its_session_and_returns_when_none_is_left() {
    let mut app = app(ROOMY);
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    app.update(Msg::ShellOpened { name: "db".into(), result: Ok(5) });
    app.update(Msg::Backend(BackendEvent::ShellClosed { session: 5 }));
    app.take_effects();
    key(&mut app, KeyCode::Char('z'));
    assert!(effects(&mut app).is_empty(), "an exited session is only forgotten");
    assert_eq!(app.shell.sessions.len(), 1, "any key closes an exited shell");
    assert_eq!(app.focus, Pane::Shell);
    assert!(app.shell.captured, "the shell left is still typed into");
    ctrl(&mut app, 'a');
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(effects(&mut app), vec![Effect::CloseShell(4)]);
    assert!(app.shell.sessions.is_empty());
    assert_eq!(app.focus, Pane::Containers);
    assert!(app.operations.entries.iter().any(|e| e.text == "closed shell in web"));
}

#[test]
fn networks_and_volumes_refresh_while_shown_and_remove_after_confirmation() {
    let mut app = app(ROOMY);
    assert!(!app.take_effects().iter().any(|e| matches!(e, Effect::RefreshNetworks | Effect::RefreshVolumes)));
    app.update(Msg::Tick(fake::now()));
    assert!(!app.take_effects().contains(&Effect::RefreshNetworks), "hidden panes are not read");
    key(&mut app, KeyCode::Char('7'));
    assert_eq!(app.focus, Pane::Networks);
    assert!(app.take_effects().contains(&Effect::RefreshNetworks), "showing the pane reads it");
    app.update(Msg::Tick(fake::now()));
    assert!(app.take_effects().contains(&Effect::RefreshNetworks), "and the clock keeps it fresh");
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('D'));
    assert!(matches!(&app.modal, Some(Modal::Confirm(d)) if d.prompt == "Remove network spare?"));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(effects(&mut app), vec![Effect::RemoveNetwork("spare".into())]);
    key(&mut app, KeyCode::Char('X'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(effects(&mut app), vec![Effect::PruneNetworks]);

    key(&mut app, KeyCode::Char('8'));
    assert!(app.take_effects().contains(&Effect::RefreshVolumes));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('D'));
    assert!(matches!(&app.modal, Some(Modal::Confirm(d)) if d.prompt == "Remove volume 7e7e7e7e7e7e?"));
    key(&mut app, KeyCode::Char('y'));
    let name = "7e".repeat(32);
    assert_eq!(effects(&mut app), vec![Effect::RemoveVolume { name, shown: "7e7e7e7e7e7e".into() }]);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "pg");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.volumes.selected().map(|r| r.name.as_str()), Some("pgdata"));
}

#[test]
fn a_volume_in_use_is_refused_in_the_status_line() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('8'));
    let error = crate::backend::BackendError::Failed {
        operation: "remove volume",
        target: "pgdata".into(),
        message: "volume is in use by db".into(),
    };
    app.update(Msg::Done { what: "remove volume pgdata".into(), result: Err(error) });
    let status = app.status.clone().unwrap();
    assert!(status.error && status.text == "remove volume pgdata: volume is in use by db", "{status:?}");
    assert!(app.take_effects().contains(&Effect::RefreshVolumes), "the pane re-reads after any outcome");
}

fn build_event(app: &mut App, build: u64, progress: BuildProgress) -> bool {
    app.update(Msg::Backend(BackendEvent::Build { build, progress }))
}

fn build_dialog(app: &App) -> &BuildDialog {
    let Some(Modal::Build(dialog)) = &app.modal else { panic!("no build dialog: {:?}", app.modal) };
    dialog
}

/// Opens the build dialog on the Images pane and fills tag and build args.
fn open_build(app: &mut App, tag: &str, args: &str) {
    key(app, KeyCode::Char('2'));
    key(app, KeyCode::Char('b'));
    key(app, KeyCode::Tab);
    key(app, KeyCode::Tab);
    chars(app, tag);
    key(app, KeyCode::Tab);
    chars(app, args);
}

#[test]
fn a_build_shows_its_steps_and_selects_the_new_image() {
    let mut app = app(ROOMY);
    open_build(&mut app, "app:1", "A=1,B=2 C=3");
    key(&mut app, KeyCode::Enter);
    let request = BuildRequest {
        context: ".".into(),
        dockerfile: None,
        tags: vec!["app:1".into()],
        build_args: vec![("A".into(), "1".into()), ("B".into(), "2".into()), ("C".into(), "3".into())],
        target: None,
        no_cache: false,
        pull: false,
    };
    assert_eq!(effects(&mut app), vec![Effect::Build { build: 1, request }]);
    assert!(build_event(&mut app, 1, BuildProgress::Step { number: 1, name: "[1/2] FROM busybox".into() }));
    assert!(build_event(&mut app, 1, BuildProgress::Cached { number: 1 }));
    assert!(build_event(&mut app, 1, BuildProgress::Step { number: 2, name: "[2/2] RUN make".into() }));
    assert!(build_event(&mut app, 1, BuildProgress::Output { number: 2, line: "compiling".into() }));
    assert!(!build_event(&mut app, 7, BuildProgress::Cached { number: 2 }), "another build's events are not shown");
    let dialog = build_dialog(&app);
    assert_eq!(dialog.steps[0].state, StepState::Cached);
    assert_eq!(dialog.steps[1].state, StepState::Running { started: fake::now() });
    assert_eq!(dialog.steps[1].output, ["compiling"]);
    assert!(build_event(&mut app, 1, BuildProgress::Done { number: 2, seconds: 1.5 }));
    assert_eq!(build_dialog(&app).steps[1].state, StepState::Done { seconds: 1.5 });

    let id = format!("sha256:{}", "77".repeat(32));
    app.update(Msg::Built { build: 1, result: Ok(id.clone()) });
    assert!(matches!(&build_dialog(&app).phase, BuildPhase::Done { image_id, .. } if *image_id == id));
    assert!(app.take_effects().contains(&Effect::RefreshImages));
    // A refresh that started before the build ended does not hold the image yet; the next one selects it.
    app.update(Msg::Images(Ok(fake::images())));
    assert_ne!(app.images.selected().unwrap().id, id);
    let mut rows = fake::images();
    rows.push(ImageRow { id: id.clone(), tags: vec!["app:1".into()], size: 1, created: None, used_by: vec![] });
    assert!(app.update(Msg::Images(Ok(rows))));
    assert_eq!(app.images.selected().unwrap().id, id);
    key(&mut app, KeyCode::Enter);
    assert!(app.modal.is_none());
    assert!(app.operations.entries.iter().any(|o| o.text == "built 777777777777"));
}

#[test]
fn bbr_build_dialog_toggles_no_cache_and_pull() {
    let mut app = app(ROOMY);
    open_build(&mut app, "app:1", "");
    // Target, then the two toggles: Space flips the focused one, other keys leave them alone.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(build_dialog(&app).toggles, [true, false]);
    // Tab wraps back to the first field; Enter on a toggle builds.
    key(&mut app, KeyCode::Tab);
    assert_eq!(build_dialog(&app).focus, 0);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Enter);
    let request = BuildRequest {
        context: ".".into(),
        dockerfile: None,
        tags: vec!["app:1".into()],
        build_args: vec![],
        target: None,
        no_cache: true,
        pull: true,
    };
    assert_eq!(effects(&mut app), vec![Effect::Build { build: 1, request }]);
}

#[test]
fn bad_build_input_keeps_the_dialog_open_with_the_message() {
    let mut app = app(ROOMY);
    open_build(&mut app, "app", "A=1 B");
    key(&mut app, KeyCode::Enter);
    assert!(effects(&mut app).is_empty());
    assert_eq!(build_dialog(&app).error.as_deref(), Some("Build args: \"B\" is not KEY=VALUE"));
    assert_eq!(build_dialog(&app).phase, BuildPhase::Editing);

    let mut app = super::app(ROOMY);
    open_build(&mut app, "bad tag", "");
    key(&mut app, KeyCode::Enter);
    assert!(effects(&mut app).is_empty(), "a tag the reference parser refuses builds nothing");
    assert_eq!(build_dialog(&app).error.as_deref(), Some("Tag: invalid reference format"));

    // An engine error before any step (no Dockerfile in the context) brings the fields back with it.
    let mut app = super::app(ROOMY);
    open_build(&mut app, "app", "");
    key(&mut app, KeyCode::Enter);
    assert_eq!(effects(&mut app).len(), 1);
    let error = BackendError::Failed {
        operation: "build",
        target: ".".into(),
        message: "cannot read Dockerfile ./Dockerfile: No such file or directory".into(),
    };
    app.update(Msg::Built { build: 1, result: Err(error.clone()) });
    let dialog = build_dialog(&app);
    assert_eq!(dialog.phase, BuildPhase::Editing);
    assert_eq!(dialog.error, Some(error.to_string()));
    assert_eq!(dialog.fields[2].value(), "app", "the fields are kept");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&effects(&mut app)[..], [Effect::Build { build: 2, .. }]), "a second try is a new build");
}

#[test]
fn a_failed_step_shows_its_line_and_output() {
    let mut app = app(ROOMY);
    open_build(&mut app, "app", "");
    key(&mut app, KeyCode::Enter);
    build_event(&mut app, 1, BuildProgress::Step { number: 1, name: "[1/2] FROM busybox".into() });
    build_event(&mut app, 1, BuildProgress::Cached { number: 1 });
    build_event(&mut app, 1, BuildProgress::Step { number: 2, name: "[2/2] RUN make".into() });
    build_event(&mut app, 1, BuildProgress::Output { number: 2, line: "make: *** no rule".into() });
    let message = "process \"/bin/sh -c make\" did not complete successfully: exit code: 2\nDockerfile:2";
    let error = BackendError::Failed { operation: "build", target: ".".into(), message: message.into() };
    app.update(Msg::Built { build: 1, result: Err(error.clone()) });
    let dialog = build_dialog(&app);
    assert_eq!(dialog.steps[0].state, StepState::Cached);
    assert_eq!(dialog.steps[1].state, StepState::Failed);
    assert_eq!(dialog.steps[1].output, ["make: *** no rule"]);
    assert_eq!(dialog.phase, BuildPhase::Failed { build: 1, error: error.to_string() });
    assert_eq!(app.images.select, None, "nothing to select");
    let status = app.status.as_ref().unwrap();
    assert!(status.error && !status.text.contains('\n'), "{status:?}");
}

#[test]
fn a_build_goes_on_after_its_view_closes() {
    let mut app = app(ROOMY);
    open_build(&mut app, "app", "");
    key(&mut app, KeyCode::Enter);
    effects(&mut app);
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
    assert!(!build_event(&mut app, 1, BuildProgress::Cached { number: 1 }));
    let id = format!("sha256:{}", "77".repeat(32));
    app.update(Msg::Built { build: 1, result: Ok(id.clone()) });
    assert_eq!(app.images.select.as_deref(), Some(id.as_str()));
    assert_eq!(app.status.as_ref().unwrap().text, "built 777777777777");
}

#[test]
fn selection_follows_the_container_when_rows_come_and_go() {
    let mut app = unloaded(UiConfig::default(), Theme::default(), ROOMY);
    app.update(Msg::Containers(Ok(fake::containers())));
    let db = app.containers.rows.iter().find(|r| r.name == "db").unwrap().id.clone();
    assert_eq!(app.logs.container.as_ref().map(|(id, _)| id), Some(&db), "the first row is followed at start");
    assert_eq!(app.stats.container.as_ref().map(|(id, _)| id), Some(&db));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(selected_name(&app), "job");
    app.take_effects();
    // Created elsewhere, sorting above the selection: the highlight stays on job.
    let mut rows = fake::containers();
    rows.push(fake::container("e5", "api", "busybox:latest", ContainerState::Running));
    rows.push(fake::container("f6", "cache", "busybox:latest", ContainerState::Running));
    app.update(Msg::Containers(Ok(rows.clone())));
    assert_eq!(selected_name(&app), "job", "rows inserted above");
    // The row below goes, and one above: still job.
    rows.retain(|r| r.name != "web" && r.name != "api");
    app.update(Msg::Containers(Ok(rows.clone())));
    assert_eq!(selected_name(&app), "job", "rows removed above and below");
    assert!(
        !effects(&mut app).iter().any(|e| matches!(e, Effect::FollowLogs(_) | Effect::UnfollowLogs(_))),
        "logs and stats stay on the same container"
    );
    // Sorting and filtering keep it too.
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(selected_name(&app), "job", "after a sort change");
    // The selected container itself removed: its neighbour is selected, and followed.
    rows.retain(|r| r.name != "job");
    app.update(Msg::Containers(Ok(rows)));
    let now = selected_name(&app);
    assert_ne!(now, "job");
    let id = app.containers.selected().unwrap().id.clone();
    assert_eq!(app.logs.container.as_ref().map(|(i, _)| i), Some(&id));
}

#[test]
fn log_search_n_goes_down_and_f_shows_only_matches() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('l'));
    let id = app.logs.container.clone().unwrap().0;
    let lines = ["a error", "b error", "c", "d error", "e"]
        .map(|text| crate::backend::LogLine { time: "t".into(), stderr: false, text: text.into() })
        .to_vec();
    app.update(Msg::Backend(BackendEvent::Log { container: id, lines }));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "error");
    key(&mut app, KeyCode::Enter);
    assert_eq!((app.logs.scroll, app.logs.match_count().unwrap().as_str()), (1, "match 3/3"), "the newest match");
    key(&mut app, KeyCode::Char('N'));
    assert_eq!(app.logs.scroll, 3, "N goes up");
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.logs.scroll, 1, "n goes down");
    key(&mut app, KeyCode::Char('F'));
    assert!(app.logs.only_matches);
    assert_eq!(app.logs.export(), "a error\nb error\nd error\n");
}

#[test]
fn scrolling_to_the_top_of_the_log_loads_older_lines_from_the_file() {
    use crate::backend::LogLine;
    use crate::panes::logs::{Older, OlderRequest};
    let line =
        |n: usize| LogLine { time: format!("2026-01-01T10:00:{:02}Z", n / 100), stderr: false, text: format!("{n}") };
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('l'));
    let id = app.logs.container.clone().unwrap().0;
    // The open's tail, full: older lines may be in the file.
    app.update(Msg::Backend(BackendEvent::Log { container: id.clone(), lines: (2000..3000).map(line).collect() }));
    assert_eq!(app.logs.older, Older::Available);
    effects(&mut app);
    key(&mut app, KeyCode::Char('g'));
    let request = OlderRequest { before: line(2000).time, skip: 100 };
    assert_eq!(
        effects(&mut app),
        vec![Effect::OlderLogs { id: id.clone(), request: request.clone() }],
        "lines 2000..2099 share a stamp"
    );
    assert_eq!(app.logs.older, Older::Loading);
    key(&mut app, KeyCode::Char('k'));
    assert!(effects(&mut app).is_empty(), "asked once at a time");
    let scroll = app.logs.scroll;
    app.update(Msg::OlderLogs { id: id.clone(), request, result: Ok((1000..2000).map(line).collect()) });
    assert_eq!((app.logs.len(), app.logs.scroll), (2000, scroll), "in front, the view still on the same lines");
    assert_eq!(app.logs.lines().next().unwrap().text, "1000");
    key(&mut app, KeyCode::Char('g'));
    let [Effect::OlderLogs { request, .. }] = &effects(&mut app)[..] else { panic!("older lines asked") };
    app.update(Msg::OlderLogs { id, request: request.clone(), result: Ok((0..10).map(line).collect()) });
    assert_eq!(app.logs.older, Older::None, "fewer than asked: the start of the log");
    key(&mut app, KeyCode::Char('g'));
    assert!(effects(&mut app).is_empty());
}

#[test]
fn a_short_log_has_nothing_older_to_load() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('l'));
    let id = app.logs.container.clone().unwrap().0;
    let lines = vec![crate::backend::LogLine { time: "t".into(), stderr: false, text: "only".into() }];
    app.update(Msg::Backend(BackendEvent::Log { container: id, lines }));
    effects(&mut app);
    key(&mut app, KeyCode::Char('g'));
    assert!(effects(&mut app).is_empty());
}

fn shell_output(app: &mut App, session: u64, lines: std::ops::Range<usize>) {
    let text: String = lines.map(|i| format!("line {i}\r\n")).collect();
    app.update(Msg::Backend(BackendEvent::ShellOutput { session, bytes: text.into_bytes() }));
}

#[test]
fn a_left_shell_resumes_with_its_key_shown_in_the_footer() {
    let mut app = app(ROOMY);
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    ctrl(&mut app, 'a');
    assert!(!app.shell.captured);
    assert!(app.pane_commands().contains(&(Command::ResumeShell, true)));
    let footer = format!("{:?}", render(&app).backend());
    assert!(footer.contains("enter/i type into the shell again"), "{footer}");
    effects(&mut app);
    key(&mut app, KeyCode::Enter);
    assert!(app.shell.captured);
    chars(&mut app, "q");
    assert_eq!(effects(&mut app), vec![Effect::ShellInput { session: 4, bytes: b"q".to_vec() }]);
}

#[test]
fn shell_tabs_are_named_by_container_and_number() {
    let mut app = app(ROOMY);
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    app.update(Msg::ShellOpened { name: "db".into(), result: Ok(5) });
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(6) });
    let labels: Vec<String> = app.shell.sessions.iter().map(|s| s.label()).collect();
    assert_eq!(labels, ["web #1", "db #1", "web #2"]);
}

#[test]
fn shell_scrollback_pages_and_copy_mode_copies_lines() {
    let mut app = app(ROOMY);
    app.update(Msg::ShellOpened { name: "web".into(), result: Ok(4) });
    shell_output(&mut app, 4, 0..200);
    ctrl(&mut app, 'a');
    key(&mut app, KeyCode::PageUp);
    let back = app.shell.active().unwrap().parser.screen().scrollback();
    let (rows, _) = crate::layout::shell_size(app.area);
    assert_eq!(back, usize::from(rows));
    let screen = format!("{:?}", render(&app).backend());
    assert!(screen.contains(&format!("{back} lines back")), "{screen}");
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.shell.active().unwrap().parser.screen().scrollback(), 0);
    effects(&mut app);
    key(&mut app, KeyCode::Char('c'));
    // The cursor starts on the last row (blank, after the last newline): up to the two lines above it.
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('v'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('y'));
    let effects = effects(&mut app);
    assert!(
        matches!(&effects[..], [Effect::Copy { path, text }]
            if text == "line 198\nline 199" && path.to_str() == Some("berth-copy-web-20260102-000000.txt")),
        "{effects:?}"
    );
    assert!(app.shell.copy.is_none());
}

#[test]
fn stats_say_briefly_why_and_come_back_when_the_container_starts() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(selected_name(&app), "fresh");
    let id = app.containers.selected().unwrap().id.clone();
    let long = format!("stats of {id}: container {id} is not running (state created)");
    app.update(Msg::StatsFailed {
        id: id.clone(),
        error: BackendError::Failed { operation: "stats of", target: id.clone(), message: long },
    });
    assert_eq!(app.stats.error.as_deref(), Some("fresh is not running; its stats show when it starts."));
    app.update(Msg::Containers(Ok(fake::containers())));
    effects(&mut app);
    let mut rows = fake::containers();
    rows.iter_mut().filter(|r| r.id == id).for_each(|r| r.state = ContainerState::Running);
    app.update(Msg::Containers(Ok(rows)));
    assert_eq!(effects(&mut app), vec![Effect::FollowStats(id)], "followed again on start");
    assert!(app.stats.error.is_none());
}

#[test]
fn lists_sort_by_cpu_and_memory_reverse_mark_all_and_enter_inspects() {
    let mut app = app(ROOMY);
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('o'));
    }
    assert_eq!(app.containers.sort, crate::panes::containers::SortKey::Cpu);
    let names = |app: &App| app.containers.visible().iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&app), ["web", "db", "fresh", "job"], "busiest first, then those without figures by name");
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(names(&app), ["web", "db", "fresh", "job"], "by memory: 12.9 MB, then 3 MiB");
    key(&mut app, KeyCode::Char('O'));
    assert_eq!(names(&app), ["job", "fresh", "db", "web"], "reversed");
    assert_eq!(selected_name(&app), "db", "the selection stayed on its container");
    // New figures reorder the rows: the selection stays with db.
    let mut usage = fake::usage();
    usage.values_mut().for_each(|u| u.memory_bytes = 1);
    let db = app.containers.rows.iter().find(|r| r.name == "db").unwrap().id.clone();
    usage.get_mut(&db).unwrap().memory_bytes = 100 << 20;
    app.update(Msg::Usage(Ok(usage)));
    assert_eq!(names(&app), ["job", "fresh", "web", "db"]);
    assert_eq!(selected_name(&app), "db");
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "alpine");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('*'));
    assert_eq!(app.containers.marked.len(), 2, "mark all marks the filtered rows");
    key(&mut app, KeyCode::Char('*'));
    assert!(app.containers.marked.is_empty(), "again: none");
    effects(&mut app);
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&effects(&mut app)[..], [Effect::InspectContainer(_)]));
}

#[test]
fn help_stops_with_its_last_line_at_the_bottom_and_inspect_copies() {
    let mut app = app(CRAMPED);
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::End);
    let Some(Modal::Help(help)) = &app.modal else { panic!("help closed") };
    let end = help.scroll;
    let (rows, _) = crate::dialogs::inspect::inner(crate::layout::screen(app.area)[1]);
    let count = crate::dialogs::help::lines(&app.keymap, &app.theme, app.config_path.as_deref()).len();
    assert_eq!(end, count - rows, "the last line at the bottom, no empty space below");
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::Char('j'));
    assert!(matches!(&app.modal, Some(Modal::Help(h)) if h.scroll == end));
    key(&mut app, KeyCode::Home);
    assert!(matches!(&app.modal, Some(Modal::Help(h)) if h.scroll == 0));
    key(&mut app, KeyCode::Esc);
    app.update(Msg::Inspect { title: "Container web".into(), result: Ok("{\n  \"Id\": \"a1\"\n}".into()) });
    effects(&mut app);
    key(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&effects(&mut app)[..], [Effect::Copy { text, .. }] if text.contains("\"Id\": \"a1\"")),
        "y copies the whole text"
    );
}

#[test]
fn help_names_the_settings_file_it_was_read_from() {
    let config = UiConfig { path: Some("/home/me/.config/berth/tui.toml".into()), ..UiConfig::default() };
    let mut app = app_with(config, Theme::default(), ROOMY);
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::End);
    let screen = format!("{:?}", render(&app).backend());
    assert!(screen.contains("/home/me/.config/berth/tui.toml"), "{screen}");
}

#[test]
fn networks_and_volumes_inspect_and_create_images_tag_and_pull_again() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('7'));
    let network = app.networks.selected().unwrap().name.clone();
    effects(&mut app);
    key(&mut app, KeyCode::Enter);
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(effects(&mut app), [Effect::Cli { args: words(&["network", "inspect", &network]), attach: false }]);
    key(&mut app, KeyCode::Char('n'));
    assert!(matches!(&app.modal, Some(Modal::CommandLine(l)) if l.input.value() == "network create "));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('8'));
    let volume = app.volumes.selected().unwrap().name.clone();
    effects(&mut app);
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(effects(&mut app), [Effect::Cli { args: words(&["volume", "inspect", &volume]), attach: false }]);
    key(&mut app, KeyCode::Char('n'));
    assert!(matches!(&app.modal, Some(Modal::CommandLine(l)) if l.input.value() == "volume create "));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('t'));
    assert!(matches!(&app.modal, Some(Modal::CommandLine(l)) if l.input.value() == "tag alpine:3.20 "));
    key(&mut app, KeyCode::Esc);
    effects(&mut app);
    key(&mut app, KeyCode::Char('u'));
    assert_eq!(effects(&mut app), [Effect::Pull("docker.io/library/alpine:3.20".into())]);
    assert!(matches!(&app.modal, Some(Modal::Pull(_))), "the pull shows its progress");
}

#[test]
fn a_pull_left_running_reopens_from_operations_and_cancels() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('p'));
    chars(&mut app, "busybox");
    key(&mut app, KeyCode::Enter);
    let reference = "docker.io/library/busybox:latest".to_string();
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none() && app.background_pull.is_some(), "closed, still pulling");
    let state = LayerState::Downloading { done: 1, total: 2 };
    app.update(Msg::Backend(BackendEvent::PullProgress {
        reference: reference.clone(),
        layer: "sha256:l1".into(),
        state: state.clone(),
    }));
    key(&mut app, KeyCode::Char('6'));
    assert!(app.pane_commands().contains(&(Command::ReopenPull, true)));
    key(&mut app, KeyCode::Enter);
    let Some(Modal::Pull(dialog)) = &app.modal else { panic!("not reopened") };
    assert_eq!(dialog.layers, vec![("sha256:l1".to_string(), state)], "with the progress made meanwhile");
    key(&mut app, KeyCode::Esc);
    effects(&mut app);
    key(&mut app, KeyCode::Char('c'));
    assert_eq!(effects(&mut app), vec![Effect::CancelPull(reference.clone())]);
    let cancelled = BackendError::Failed { operation: "pull", target: reference.clone(), message: "cancelled".into() };
    app.update(Msg::Pulled { reference, result: Err(cancelled) });
    assert!(app.background_pull.is_none());
    assert!(app.pane_commands().contains(&(Command::ReopenPull, false)));
}
