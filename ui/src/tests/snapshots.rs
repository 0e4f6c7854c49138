//! Every pane and dialog at a roomy and a cramped size; every theme's colours; state colours cell by cell.

use berth_engine::events::PushLayerProgress;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::*;
use crate::backend::{
    BackendEvent, BuildProgress, CliExit, CliOutput, ContainerState, LayerState, LogLine, StatsSample,
};

fn check(name: &str, app: &App) {
    let terminal = render(app);
    let size = format!("{}x{}", app.area.width, app.area.height);
    insta::with_settings!({
        snapshot_suffix => size,
        filters => vec![(r"\b[0-9a-f]{12}\b", "[id]"), (r"\b\d\d:\d\d:\d\d\b", "[time]")],
    }, {
        insta::assert_snapshot!(name, terminal.backend());
    });
}

/// Runs `setup` on a fresh app at both sizes and snapshots each.
pub(super) fn both(name: &str, setup: impl Fn(&mut App)) {
    for size in [ROOMY, CRAMPED] {
        let mut app = app(size);
        setup(&mut app);
        check(name, &app);
    }
}

fn with_logs(app: &mut App) {
    key(app, KeyCode::Char('l'));
    let lines = (0..40)
        .map(|i| LogLine {
            time: format!("2026-01-01T23:59:{:02}.000000000Z", i % 60),
            stderr: i % 7 == 0,
            text: format!("GET /index.html 200 request {i}"),
        })
        .collect();
    let container = app.logs.container.clone().expect("the selection's log is open").0;
    app.update(Msg::Backend(BackendEvent::Log { container, lines }));
}

#[test]
fn containers_screen() {
    both("containers", |app| {
        with_logs(app);
        key(app, KeyCode::Char('1'));
    });
}

#[test]
fn containers_marked_filtered_sorted() {
    both("containers_filtered", |app| {
        key(app, KeyCode::Char('o'));
        key(app, KeyCode::Char('o'));
        key(app, KeyCode::Char(' '));
        key(app, KeyCode::Char('/'));
        chars(app, "e");
    });
}

#[test]
fn containers_grouped_by_pod_and_project() {
    both("containers_grouped", |app| {
        let member = |id: &str, name: &str, state, group: &str| {
            let mut row = fake::container(id, name, "busybox:latest", state);
            row.group = Some(group.to_string());
            row
        };
        let mut rows = fake::containers();
        rows.push(member("e5", "web-pod-web", ContainerState::Running, "pod web-pod"));
        rows.push(member("f6", "web-pod-side", ContainerState::Exited, "pod web-pod"));
        rows.push(member("a7", "shop-db-1", ContainerState::Running, "project shop"));
        rows.push(member("b8", "shop-api-1", ContainerState::Running, "project shop"));
        app.update(Msg::Containers(Ok(rows)));
        // Fold the project from one of its members: the selection moves to the group's row.
        let at = app.containers.entries().iter().position(|e| format!("{e:?}").contains("shop-db-1")).unwrap();
        app.containers.list.selected = at;
        key(app, KeyCode::Char('z'));
        assert!(app.containers.selected().is_none(), "the project's row is selected");
        let names: Vec<String> = app.containers.targets().iter().map(|r| r.name.clone()).collect();
        assert_eq!(names, ["shop-api-1", "shop-db-1"], "an operation on a group's row reaches its members");
    });
}

#[test]
fn wide_lists_show_command_and_created_and_cut_text_ends_in_an_ellipsis() {
    let mut app = app((170, 24));
    check("containers_wide", &app);
    let mut rows = fake::containers();
    rows[0].image = "registry.example.com/team/a-very-long-image-name:2026-01-01".into();
    app.update(Msg::Containers(Ok(rows)));
    app.area = ratatui::layout::Rect::new(0, 0, 100, 24);
    check("containers_cut", &app);
}

#[test]
fn titles_count_the_filtered_and_marked_rows() {
    both("containers_title_counts", |app| {
        key(app, KeyCode::Char(' '));
        key(app, KeyCode::Char('j'));
        key(app, KeyCode::Char(' '));
        key(app, KeyCode::Char('/'));
        chars(app, "alpine");
        key(app, KeyCode::Enter);
    });
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "busybox");
    let top =
        render(&app).backend().buffer().content().iter().skip(120).take(120).map(|c| c.symbol()).collect::<String>();
    assert!(top.contains(" Images (1/3) "), "{top}");
}

#[test]
fn lists_before_their_first_load() {
    for size in [ROOMY, CRAMPED] {
        let mut app = unloaded(UiConfig::default(), Theme::default(), size);
        check("containers_loading", &app);
        key(&mut app, KeyCode::Char('7'));
        check("networks_loading", &app);
        app.update(Msg::Networks(Ok(Vec::new())));
        let screen = format!("{:?}", render(&app).backend());
        assert!(screen.contains("Networks (0)"), "an empty answer is a count: {screen}");
    }
}

#[test]
fn a_long_list_shows_the_window_around_the_selection() {
    let mut app = app(CRAMPED);
    let many: Vec<_> = (0..30)
        .map(|n| fake::container(&format!("{n:02}"), &format!("box-{n:02}"), "busybox", ContainerState::Running))
        .collect();
    app.update(Msg::Containers(Ok(many)));
    key(&mut app, KeyCode::Char('G'));
    let screen = format!("{:?}", render(&app).backend());
    assert!(screen.contains("box-29") && screen.contains("box-24"), "the selection at the bottom: {screen}");
    assert!(!screen.contains("box-23") && !screen.contains("box-00"), "rows above scrolled away: {screen}");
    let rows = crate::panes::containers::ContainersPane::rows_shown(crate::layout::containers_list(app.area));
    assert_eq!(rows, 6, "the cramped list shows six rows");
    assert_eq!(app.containers.usage_targets(rows).len(), 6, "and only those are read");
}

#[test]
fn containers_unavailable() {
    both("containers_error", |app| {
        let error = crate::backend::BackendError::Failed {
            operation: "list",
            target: "containers".into(),
            message: "database is locked".into(),
        };
        app.update(Msg::Containers(Err(error)));
    });
}

#[test]
fn images_with_layers() {
    both("images", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Enter);
        let id = app.images.layers_of.clone().unwrap();
        app.update(Msg::Layers { id, result: Ok(fake::layers()) });
    });
}

#[test]
fn logs_search_timestamps_wrap() {
    both("logs", |app| {
        with_logs(app);
        app.logs.push(LogLine { time: "2026-01-01T23:59:59.000000000Z".into(), stderr: false, text: "x".repeat(300) });
        key(app, KeyCode::Char('t'));
        key(app, KeyCode::Char('w'));
        key(app, KeyCode::Char('/'));
        chars(app, "request 3");
        key(app, KeyCode::Enter);
    });
    both("logs_only_matches", |app| {
        with_logs(app);
        key(app, KeyCode::Char('/'));
        chars(app, "request 1");
        key(app, KeyCode::Enter);
        key(app, KeyCode::Char('F'));
    });
    both("logs_older_available", |app| {
        with_logs(app);
        app.logs.older = crate::panes::logs::Older::Available;
    });
    both("logs_save_path", |app| {
        with_logs(app);
        ctrl(app, 's');
    });
    both("logs_no_match", |app| {
        with_logs(app);
        key(app, KeyCode::Char('/'));
        chars(app, "POST");
        key(app, KeyCode::Enter);
    });
}

#[test]
fn stats_charts() {
    both("stats", |app| {
        key(app, KeyCode::Char('l'));
        let id = app.stats.container.clone().expect("the selection's stats are followed").0;
        for i in 0..60u64 {
            let sample = StatsSample {
                cpu_percent: (i % 10) as f64 * 5.0,
                memory_bytes: 10_000_000 + i * 100_000,
                memory_limit: 64_000_000,
                net_rx: i * i * 100,
                net_tx: i * 50,
                block_read: i * 4096,
                block_write: i * 8192,
            };
            app.update(Msg::Backend(BackendEvent::Stats { container: id.clone(), sample }));
        }
        key(app, KeyCode::Char('4'));
    });
    both("stats_not_running", |app| {
        key(app, KeyCode::Char('j'));
        let id = app.stats.container.clone().unwrap().0;
        let error = crate::backend::BackendError::Failed {
            operation: "stats of",
            target: id.clone(),
            message: format!("container {id} is not running"),
        };
        app.update(Msg::StatsFailed { id, error });
    });
}

#[test]
fn shell_pane() {
    both("shell", |app| {
        app.update(Msg::ShellOpened { name: "web".into(), result: Ok(1) });
        app.update(Msg::Backend(BackendEvent::ShellOutput {
            session: 1,
            bytes: b"/ # echo hello-from-shell\r\nhello-from-shell\r\n/ # ".to_vec(),
        }));
    });
    let output = |app: &mut App| {
        app.update(Msg::ShellOpened { name: "web".into(), result: Ok(1) });
        let text: String = (0..60).map(|i| format!("output line {i}\r\n")).collect();
        app.update(Msg::Backend(BackendEvent::ShellOutput { session: 1, bytes: text.into_bytes() }));
        ctrl(app, 'a');
    };
    both("shell_scrolled_copy", |app| {
        output(app);
        key(app, KeyCode::PageUp);
        key(app, KeyCode::Char('c'));
        key(app, KeyCode::Char('k'));
        key(app, KeyCode::Char('v'));
        key(app, KeyCode::Char('k'));
    });
    both("shell_exited", |app| {
        output(app);
        app.update(Msg::Backend(BackendEvent::ShellClosed { session: 1 }));
    });
}

#[test]
fn operations_log() {
    both("operations", |app| {
        app.update(Msg::Done { what: "stop web".into(), result: Ok(String::new()) });
        let error = crate::backend::BackendError::Failed {
            operation: "kill",
            target: "db".into(),
            message: "no such process".into(),
        };
        app.update(Msg::Done { what: "kill db".into(), result: Err(error) });
        key(app, KeyCode::Char('6'));
    });
}

#[test]
fn networks_pane() {
    both("networks", |app| key(app, KeyCode::Char('7')));
}

#[test]
fn volumes_pane() {
    both("volumes", |app| {
        key(app, KeyCode::Char('8'));
        key(app, KeyCode::Char('j'));
    });
}

#[test]
fn help_dialog() {
    both("help", |app| key(app, KeyCode::Char('?')));
    both("help_end", |app| {
        key(app, KeyCode::Char('?'));
        key(app, KeyCode::End);
        key(app, KeyCode::Char('j'));
    });
}

#[test]
fn confirm_dialog() {
    both("confirm", |app| key(app, KeyCode::Char('K')));
}

#[test]
fn pull_dialog_progress() {
    both("pull", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('p'));
        chars(app, "busybox");
        key(app, KeyCode::Enter);
        let reference = "docker.io/library/busybox:latest".to_string();
        for (layer, state) in [
            ("sha256:1111111111111111", LayerState::Downloading { done: 1_000_000, total: 2_000_000 }),
            ("sha256:2222222222222222", LayerState::AlreadyExists),
            ("sha256:3333333333333333", LayerState::Waiting),
        ] {
            app.update(Msg::Backend(BackendEvent::PullProgress {
                reference: reference.clone(),
                layer: layer.into(),
                state,
            }));
        }
    });
}

#[test]
fn pull_dialog_typing_and_failure() {
    both("pull_typing", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('p'));
        chars(app, "alpine:3");
    });
    both("pull_failed", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('p'));
        chars(app, "missing");
        key(app, KeyCode::Enter);
        let error = crate::backend::BackendError::Failed {
            operation: "pull",
            target: "docker.io/library/missing:latest".into(),
            message: "manifest unknown".into(),
        };
        app.update(Msg::Pulled { reference: "docker.io/library/missing:latest".into(), result: Err(error) });
    });
}

#[test]
fn push_dialog_progress_and_refusal() {
    both("push", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('P'));
        key(app, KeyCode::Enter);
        let reference = "docker.io/library/alpine:3.20".to_string();
        for (layer, state) in [
            ("sha256:1111111111111111", PushLayerProgress::Pushing { done: 1_000_000, total: 2_000_000 }),
            ("sha256:2222222222222222", PushLayerProgress::Mounted { from: "library/alpine".into() }),
            ("sha256:3333333333333333", PushLayerProgress::AlreadyExists),
            ("sha256:4444444444444444", PushLayerProgress::Preparing),
        ] {
            app.update(Msg::Backend(BackendEvent::PushProgress {
                reference: reference.clone(),
                layer: layer.into(),
                state,
            }));
        }
    });
    both("push_denied", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('P'));
        key(app, KeyCode::Enter);
        let reference = "docker.io/library/alpine:3.20".to_string();
        let error = crate::backend::BackendError::Failed {
            operation: "push",
            target: reference.clone(),
            message: crate::tests::fake::denied(&reference),
        };
        app.update(Msg::Pushed { reference, result: Err(error) });
    });
}

fn start_build(app: &mut App) {
    key(app, KeyCode::Char('2'));
    key(app, KeyCode::Char('b'));
    key(app, KeyCode::Tab);
    key(app, KeyCode::Tab);
    chars(app, "app:1");
    key(app, KeyCode::Enter);
    let steps = [
        BuildProgress::Step { number: 1, name: "[internal] load build definition from Dockerfile".into() },
        BuildProgress::Done { number: 1, seconds: 0.0 },
        BuildProgress::Step { number: 2, name: "[1/3] FROM docker.io/library/busybox:latest".into() },
        BuildProgress::Cached { number: 2 },
        BuildProgress::Step { number: 3, name: "[2/3] COPY . /src".into() },
        BuildProgress::Done { number: 3, seconds: 0.1 },
        BuildProgress::Step { number: 4, name: "[3/3] RUN make -C /src".into() },
        BuildProgress::Output { number: 4, line: "cc -O2 -c main.c".into() },
        BuildProgress::Output { number: 4, line: "cc -O2 -c util.c".into() },
    ];
    for progress in steps {
        app.update(Msg::Backend(BackendEvent::Build { build: 1, progress }));
    }
}

#[test]
fn build_dialog() {
    both("build_typing", |app| {
        key(app, KeyCode::Char('2'));
        key(app, KeyCode::Char('b'));
        key(app, KeyCode::Tab);
        key(app, KeyCode::Tab);
        chars(app, "app:1");
        key(app, KeyCode::Tab);
        chars(app, "VERSION");
        // On to the no-cache toggle, on; Enter there builds, and the bad build arg is named.
        key(app, KeyCode::Tab);
        key(app, KeyCode::Tab);
        key(app, KeyCode::Char(' '));
        key(app, KeyCode::Enter);
    });
    both("build_running", |app| {
        start_build(app);
        let later = app.now + chrono::TimeDelta::seconds(3);
        app.update(Msg::Tick(later));
    });
    both("build_failed", |app| {
        start_build(app);
        let message = "process \"/bin/sh -c make -C /src\" did not complete successfully: exit code: 2\n\
                       Dockerfile:3\n--------------------\n   3 | RUN make -C /src\n--------------------\n\
                       util.c:1: error: expected ';'";
        let error =
            crate::backend::BackendError::Failed { operation: "build", target: ".".into(), message: message.into() };
        app.update(Msg::Built { build: 1, result: Err(error) });
    });
}

#[test]
fn run_dialog() {
    both("run", |app| {
        key(app, KeyCode::Char('n'));
        chars(app, "busybox");
        key(app, KeyCode::Tab);
        chars(app, "web2");
    });
}

#[test]
fn run_dialog_marks_the_refused_field_and_scrolls_long_ones() {
    both("run_refused", |app| {
        key(app, KeyCode::Char('n'));
        chars(app, "busybox");
        key(app, KeyCode::Tab);
        key(app, KeyCode::Tab);
        chars(app, "sh -c 'while true; do echo a long command that runs past the field; sleep 1; done'");
        key(app, KeyCode::Tab);
        key(app, KeyCode::Tab);
        chars(app, "8080:x");
        key(app, KeyCode::Tab);
        key(app, KeyCode::Enter);
    });
}

#[test]
fn inspect_dialog() {
    both("inspect", |app| {
        let text = serde_json::to_string_pretty(
            &serde_json::json!({"Id": "c3", "State": {"Status": "exited", "ExitCode": 0}}),
        )
        .unwrap();
        app.update(Msg::Inspect { title: "Container job".into(), result: Ok(text) });
    });
    both("inspect_search_wrap", |app| {
        let long = "x".repeat(150);
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "Id": "c3", "Args": [long], "Env": ["PATH=/usr/bin", "HOME=/root"], "State": {"Status": "exited"}
        }))
        .unwrap();
        app.update(Msg::Inspect { title: "Container job".into(), result: Ok(text) });
        key(app, KeyCode::Char('w'));
        key(app, KeyCode::Char('/'));
        chars(app, "home");
        key(app, KeyCode::Enter);
    });
}

#[test]
fn command_line() {
    both("command_line", |app| {
        key(app, KeyCode::Char(':'));
        chars(app, "run -d --name web busybox httpd -f");
    });
    both("command_line_choices", |app| {
        key(app, KeyCode::Char(':'));
        chars(app, "network c");
        key(app, KeyCode::Tab);
    });
}

#[test]
fn error_in_status_line() {
    both("status_error", |app| {
        key(app, KeyCode::Char(':'));
        chars(app, "frobnicate");
        key(app, KeyCode::Enter);
        app.update(Msg::CliDone {
            args: vec!["frobnicate".into()],
            attach: false,
            result: cli(2, &fake::clap_error("frobnicate")),
        });
    });
}

fn cli(code: i32, output: &str) -> Result<CliOutput, crate::backend::BackendError> {
    Ok(CliOutput { exit: CliExit::Code(code), output: output.into(), dropped: 0 })
}

#[test]
fn operations_log_with_command_output() {
    both("operations_cli", |app| {
        let ps = "CONTAINER ID   IMAGE            NAMES\na10000000000   busybox:latest   web\nb20000000000   alpine:3.20      db\n";
        let args = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>();
        app.update(Msg::CliDone { args: args("network create data"), attach: false, result: cli(0, "f9f9f9f9f9f9\n") });
        app.update(Msg::CliDone { args: args("ps -a"), attach: false, result: cli(0, ps) });
        key(app, KeyCode::Esc);
        app.update(Msg::CliDone { args: args("rename web"), attach: false, result: cli(2, "error: the following required arguments were not provided:\n  <NEW_NAME>\n\nUsage: berth rename <CONTAINER> <NEW_NAME>\n") });
        key(app, KeyCode::Char('6'));
    });
}

#[test]
fn command_output_view() {
    both("command_output", |app| {
        let ps = "CONTAINER ID   IMAGE            NAMES\na10000000000   busybox:latest   web\nb20000000000   alpine:3.20      db\n";
        app.update(Msg::CliDone { args: vec!["ps".into(), "-a".into()], attach: false, result: cli(0, ps) });
    });
}

/// Each run of equal colours as `col:fg/bg`, one line per row: themes differ only here.
fn style_map(buffer: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut last = None;
        let mut runs = Vec::new();
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            let style = (cell.fg, cell.bg);
            if last != Some(style) {
                runs.push(format!("{x}:{}/{}", cell.fg, cell.bg));
                last = Some(style);
            }
        }
        out.push_str(&runs.join(" "));
        out.push('\n');
    }
    out
}

#[test]
fn every_theme() {
    for name in Theme::built_in_names() {
        for size in [ROOMY, CRAMPED] {
            let mut app = app_with(UiConfig::default(), Theme::find(name, None).unwrap(), size);
            with_logs(&mut app);
            key(&mut app, KeyCode::Char('1'));
            let terminal = render(&app);
            insta::assert_snapshot!(
                format!("theme_{name}_{}x{}", size.0, size.1),
                style_map(terminal.backend().buffer())
            );
            // The list panes of their own screens: volumes shows muted (anonymous) names beside plain ones.
            key(&mut app, KeyCode::Char('8'));
            insta::assert_snapshot!(
                format!("theme_{name}_volumes_{}x{}", size.0, size.1),
                style_map(render(&app).backend().buffer())
            );
        }
    }
}

#[test]
fn state_cells_use_the_theme_state_colours() {
    for name in Theme::built_in_names() {
        let theme = Theme::find(name, None).unwrap();
        let mut app = app_with(UiConfig::default(), theme.clone(), ROOMY);
        // Logs focused: the list's selection is drawn without colour, so every state keeps its own.
        key(&mut app, KeyCode::Char('3'));
        let terminal = render(&app);
        let buffer = terminal.backend().buffer();
        let find = |word: &str| -> Color {
            for y in 0..buffer.area.height {
                let row: String = (0..buffer.area.width).map(|x| buffer[(x, y)].symbol().to_string()).collect();
                if let Some(x) = row.find(&format!(" {word} ")) {
                    let col = row[..x + 1].chars().count() as u16;
                    return buffer[(col, y)].fg;
                }
            }
            panic!("{word} not on screen in theme {name}");
        };
        assert_eq!(find("running"), theme.colors.running, "{name}");
        assert_eq!(find("paused"), theme.colors.paused, "{name}");
        assert_eq!(find("exited"), theme.colors.exited, "{name}");
        assert_eq!(find("created"), theme.colors.created, "{name}");
    }
}
