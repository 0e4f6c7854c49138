//! The `:` command line: lines go to the CLI as the (fake) grammar plans them, special forms open the TUI's
//! own dialogs and panes, refusals name the key to use, and results land in the operations log.

use crossterm::event::KeyCode;

use super::*;
use crate::app::Modal;
use crate::backend::{CliExit, CliOutput};
use crate::panes::operations::Outcome;

fn type_line(app: &mut App, line: &str) {
    key(app, KeyCode::Char(':'));
    chars(app, line);
    key(app, KeyCode::Enter);
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn finished(app: &mut App, args: &[&str], code: i32, output: &str) {
    let result = Ok(CliOutput { exit: CliExit::Code(code), output: output.into(), dropped: 0 });
    app.update(Msg::CliDone { args: words(args), attach: false, result });
}

fn last_operation(app: &App) -> (Outcome, String, Vec<String>) {
    let op = app.operations.entries.back().unwrap();
    (op.outcome.clone(), op.text.clone(), op.output.clone())
}

#[test]
fn any_command_runs_as_typed_with_quotes_kept() {
    let mut app = app(ROOMY);
    type_line(&mut app, r#"berth network create "my net" --label a=1"#);
    assert!(app.modal.is_none(), "the line closes");
    assert_eq!(
        effects(&mut app),
        [Effect::Cli { args: words(&["network", "create", "my net", "--label", "a=1"]), attach: false }]
    );
    assert_eq!(last_operation(&app), (Outcome::Started, "berth network create 'my net' --label a=1".into(), vec![]));
    type_line(&mut app, "run --memory 64m -e A=1 -d busybox top");
    assert_eq!(
        effects(&mut app),
        [Effect::Cli { args: words(&["run", "--memory", "64m", "-e", "A=1", "-d", "busybox", "top"]), attach: false }]
    );
}

#[test]
fn run_without_detach_runs_detached_and_says_so() {
    let mut app = app(ROOMY);
    type_line(&mut app, "run --name w busybox top");
    assert_eq!(
        effects(&mut app),
        [Effect::Cli { args: words(&["run", "-d", "--name", "w", "busybox", "top"]), attach: false }]
    );
    let status = app.status.clone().unwrap();
    assert!(!status.error && status.text.contains("detached"), "{status:?}");
    let (outcome, text, _) = last_operation(&app);
    assert_eq!(outcome, Outcome::Started);
    assert!(text.starts_with("berth run -d --name w busybox top (") && text.contains("no terminal"), "{text}");
}

#[test]
fn run_with_a_tty_attaches_to_the_container_it_prints() {
    let mut app = app(ROOMY);
    type_line(&mut app, "run -it busybox sh");
    let args = words(&["run", "-d", "-it", "busybox", "sh"]);
    assert_eq!(effects(&mut app), [Effect::Cli { args: args.clone(), attach: true }]);
    let id = "e5".repeat(32);
    let output = format!("Pulling busybox\n{id}\n");
    let result = Ok(CliOutput { exit: CliExit::Code(0), output, dropped: 0 });
    app.update(Msg::CliDone { args, attach: true, result });
    let (rows, cols) = crate::layout::shell_size(app.area);
    assert_eq!(
        effects(&mut app),
        [Effect::OpenShell { id, name: "e5e5e5e5e5e5 (attached)".into(), rows, cols, attach: true }]
    );
    assert!(app.modal.is_none(), "the pane opens, not the output view");
}

#[test]
fn attach_without_an_id_to_attach_to_fails() {
    let mut app = app(ROOMY);
    let args = words(&["run", "-d", "-it", "busybox", "sh"]);
    let result = Ok(CliOutput { exit: CliExit::Code(0), output: "nothing useful\n".into(), dropped: 0 });
    app.update(Msg::CliDone { args, attach: true, result });
    assert!(effects(&mut app).is_empty());
    let status = app.status.clone().unwrap();
    assert!(status.error && status.text.ends_with("printed no container ID to attach to"), "{status:?}");
}

#[test]
fn special_forms_use_the_tuis_own_dialogs_and_panes() {
    let mut app = app(ROOMY);
    type_line(&mut app, "pull alpine");
    assert!(matches!(&app.modal, Some(Modal::Pull(_))), "the pull dialog shows per-layer progress");
    assert_eq!(effects(&mut app), [Effect::Pull("docker.io/library/alpine:latest".into())]);
    key(&mut app, KeyCode::Esc);

    type_line(&mut app, "exec -it web sh");
    let (rows, cols) = crate::layout::shell_size(app.area);
    assert_eq!(
        effects(&mut app),
        [Effect::OpenShell { id: "web".into(), name: "web".into(), rows, cols, attach: false }]
    );

    type_line(&mut app, "quit");
    assert!(app.quit);
}

#[test]
fn commands_that_need_a_terminal_are_refused_with_the_key_to_use() {
    let mut app = app(ROOMY);
    for (line, needle) in [
        ("attach web", "press a for an attach pane"),
        ("logs -f web", "press l for the Logs pane"),
        ("stats", "Stats pane (4)"),
        ("exec -it web top", "press e on a running container"),
    ] {
        type_line(&mut app, line);
        assert!(effects(&mut app).is_empty(), "{line}: nothing runs");
        let status = app.status.clone().unwrap();
        assert!(status.error && status.text.contains(needle), "{line}: {status:?}");
        let (outcome, text, _) = last_operation(&app);
        assert_eq!((outcome, text), (Outcome::Failed, status.text));
    }
}

#[test]
fn bad_lines_fail_before_anything_runs() {
    let mut app = app(ROOMY);
    type_line(&mut app, "run 'busybox");
    assert!(effects(&mut app).is_empty());
    assert!(app.status.clone().unwrap().text.starts_with("cannot split"));
    type_line(&mut app, "   ");
    assert!(effects(&mut app).is_empty());
    assert!(app.status.clone().unwrap().text.starts_with("type a berth command"));
    assert!(!app.quit, "errors never end the UI");
}

#[test]
fn a_failure_shows_clap_error_in_the_status_line_and_the_output_in_the_log() {
    let mut app = app(ROOMY);
    finished(&mut app, &["frobnicate", "--now"], 2, &fake::clap_error("frobnicate"));
    let status = app.status.clone().unwrap();
    assert!(status.error);
    assert_eq!(status.text, "berth frobnicate --now: error: unrecognized subcommand 'frobnicate'");
    let (outcome, text, output) = last_operation(&app);
    assert_eq!((outcome, text.as_str()), (Outcome::Failed, "berth frobnicate --now: exit status 2"));
    assert_eq!(output[0], "error: unrecognized subcommand 'frobnicate'");
    assert_eq!(output.last().unwrap(), "For more information, try '--help'.");
    assert!(app.modal.is_none(), "a failure opens no view");
    assert!(app.take_effects().contains(&Effect::RefreshContainers), "lists re-read after any outcome");
}

#[test]
fn output_of_one_line_goes_to_the_status_and_of_several_to_a_view() {
    let mut app = app(ROOMY);
    finished(&mut app, &["network", "create", "data"], 0, "f9f9\n");
    let status = app.status.clone().unwrap();
    assert!(!status.error && status.text == "berth network create data: f9f9", "{status:?}");
    assert_eq!(last_operation(&app), (Outcome::Done, "berth network create data".into(), words(&["f9f9"])));
    assert!(app.modal.is_none());

    finished(&mut app, &["ps", "-a"], 0, "ID\tNAME\nabc\tweb\n\n");
    assert_eq!(app.status.clone().unwrap().text, "berth ps -a: 2 lines");
    let Some(Modal::Inspect(view)) = &app.modal else { panic!("{:?}", app.modal) };
    assert_eq!((view.title.as_str(), view.text.as_str()), ("berth ps -a · Esc closes", "ID    NAME\nabc    web"));
    assert_eq!(last_operation(&app).2, words(&["ID    NAME", "abc    web"]));
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
}

#[test]
fn output_cut_at_the_limit_says_so() {
    let mut app = app(ROOMY);
    let result = Ok(CliOutput { exit: CliExit::Code(0), output: "a\nb\n".into(), dropped: 2048 });
    app.update(Msg::CliDone { args: words(&["logs", "web"]), attach: false, result });
    assert_eq!(last_operation(&app).2, words(&["a", "b", "… 2.05kB more output not kept"]));
}

#[test]
fn help_explains_the_command_line_with_its_live_key() {
    let overrides = [("command_line".to_string(), crate::keymap::KeyList::One(";".into()))].into();
    let keymap = crate::keymap::Keymap::with_overrides(&overrides).unwrap();
    let text: Vec<String> = crate::dialogs::help::lines(&keymap, &crate::theme::Theme::default(), None)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let at = text.iter().position(|l| l == "; COMMAND").expect("a section for the command line");
    assert!(text[at + 1].contains("any berth command"), "{text:?}");
}

fn line_text(app: &App) -> String {
    let Some(Modal::CommandLine(line)) = &app.modal else { panic!("the line closed: {:?}", app.modal) };
    line.input.value().to_string()
}

#[test]
fn up_and_down_walk_the_history_which_is_kept_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tui-history");
    let mut app = app(ROOMY);
    app.history_file = Some(file.clone());
    type_line(&mut app, "ps -a");
    type_line(&mut app, "network ls");
    type_line(&mut app, "network ls");
    assert_eq!(app.history, ["ps -a", "network ls"], "not twice in a row");
    let appended: Vec<String> = app
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::AppendHistory { path, line } if path == file => Some(line),
            _ => None,
        })
        .collect();
    assert_eq!(appended, ["ps -a", "network ls"]);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "vol");
    key(&mut app, KeyCode::Up);
    assert_eq!(line_text(&app), "network ls");
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(line_text(&app), "ps -a", "stops at the oldest");
    key(&mut app, KeyCode::Down);
    assert_eq!(line_text(&app), "network ls");
    key(&mut app, KeyCode::Down);
    assert_eq!(line_text(&app), "vol", "past the newest, the typed line comes back");
    // The next run reads the file back.
    std::fs::write(&file, "ps -a\nnetwork ls\n").unwrap();
    assert_eq!(crate::dialogs::command_line::load_history(&file), ["ps -a", "network ls"]);
    let long: String = (0..1200).map(|i| format!("ps {i}\n")).collect();
    std::fs::write(&file, long).unwrap();
    let kept = crate::dialogs::command_line::load_history(&file);
    assert_eq!((kept.len(), kept[0].as_str()), (500, "ps 700"), "bounded");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 500, "and the file shortened");
}

#[test]
fn tab_completes_verbs_flags_and_names() {
    let mut app = app(ROOMY);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "netw");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line_text(&app), "network ");
    chars(&mut app, "c");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line_text(&app), "network c", "the choices share only the c");
    let Some(Modal::CommandLine(line)) = &app.modal else { panic!() };
    assert_eq!(line.choices, ["cache", "connect", "create"], "subcommands and names (the cache volume)");
    chars(&mut app, "r");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line_text(&app), "network create ");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "stop w");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line_text(&app), "stop web ", "container names after a command");
    chars(&mut app, "--h");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line_text(&app), "stop web --help ");
}
