//! What the TUI's `:` command line makes of a typed berth command. The TUI has no grammar of its own: this
//! reads the words with the CLI's own clap parser and tells it which lines run as a child `berth` (as typed,
//! or `run` given `-d`), which the TUI does better itself (`pull REF`, `exec -it NAME sh`), and which need a
//! terminal it cannot hand a child process.

use berth_ui::cli::{LinePlan, NeedsTerminal};
use clap::{CommandFactory, Parser};

use super::archive::ArchiveCommand;
use super::container::ContainerCommand;
use super::exec::ExecArgs;
use super::images::ImageSubcommand;
use super::{Cli, Command};

/// Commands the shell pane stands in for (it opens bash when the image has it, else sh).
const SHELLS: [&str; 5] = ["sh", "bash", "ash", "dash", "zsh"];

/// The plan for `berth WORDS`.
pub fn plan(words: &[String]) -> LinePlan {
    let Some(cli) = parse(words) else {
        // Help, version and mistakes alike run, so the user reads what clap prints.
        return LinePlan::Execute(words.to_vec());
    };
    let Some(command) = cli.command else { return LinePlan::Refuse(NeedsTerminal::Tui) };
    match command {
        Command::Containers(ContainerCommand::Run(run)) if !run.detach => match detached(words) {
            Some(args) => LinePlan::RunDetached { args, attach: run.options.interactive || run.options.tty },
            None => LinePlan::Execute(words.to_vec()),
        },
        Command::Containers(ContainerCommand::Start(start)) if start.attach || start.interactive => {
            LinePlan::Refuse(NeedsTerminal::StartAttached)
        }
        Command::Containers(ContainerCommand::Attach(_)) => LinePlan::Refuse(NeedsTerminal::Attach),
        Command::Containers(ContainerCommand::Logs(logs)) if logs.follow => LinePlan::Refuse(NeedsTerminal::FollowLogs),
        Command::Containers(ContainerCommand::Exec(exec)) if !exec.detach && (exec.interactive || exec.tty) => {
            shell(&exec).map_or(LinePlan::Refuse(NeedsTerminal::Exec), LinePlan::Shell)
        }
        Command::Stats(stats) if !stats.no_stream => LinePlan::Refuse(NeedsTerminal::Stats),
        Command::Events(events) if events.until.is_none() => LinePlan::Refuse(NeedsTerminal::Events),
        // Without a terminal berth never prompts, and stdin is empty: only both given on the line can work.
        Command::Login(login) if login.username.is_none() || login.password.is_none() => {
            LinePlan::Refuse(NeedsTerminal::Login)
        }
        Command::Cp(cp) if cp.src == "-" || cp.dest == "-" => LinePlan::Refuse(NeedsTerminal::TarStream),
        Command::Archive(cmd) if tar_on_stdio(&cmd) => LinePlan::Refuse(NeedsTerminal::TarStream),
        Command::Image(ImageSubcommand::Save(save)) if save.output.is_none() => {
            LinePlan::Refuse(NeedsTerminal::TarStream)
        }
        Command::Image(ImageSubcommand::Load(load)) if load.input.is_none() => {
            LinePlan::Refuse(NeedsTerminal::TarStream)
        }
        Command::Image(ImageSubcommand::Import(import)) if import.source == "-" => {
            LinePlan::Refuse(NeedsTerminal::TarStream)
        }
        Command::Pull(pull) | Command::Image(ImageSubcommand::Pull(pull)) if pull.platform.is_none() && !pull.quiet => {
            LinePlan::Pull(pull.image)
        }
        _ => LinePlan::Execute(words.to_vec()),
    }
}

/// What may come next after `words` in the CLI's grammar, for Tab on the `:` line: the visible subcommands of
/// the deepest command the words name, and its long flags. The UI keeps those the typed part begins.
pub fn complete(words: &[String]) -> Vec<String> {
    let mut command = Cli::command();
    // The whole tree: subcommands defer their arguments until built.
    command.build();
    for word in words {
        if let Some(sub) = command.find_subcommand(word) {
            command = sub.clone();
        }
    }
    let subcommands = command.get_subcommands().filter(|s| !s.is_hide_set()).map(|s| s.get_name().to_string());
    let flags =
        command.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(|l| format!("--{l}"));
    subcommands.chain(flags).collect()
}

/// Whether an archive command would move its tar through stdin or stdout.
fn tar_on_stdio(cmd: &ArchiveCommand) -> bool {
    match cmd {
        ArchiveCommand::Save(save) => save.output.is_none(),
        ArchiveCommand::Load(load) => load.input.is_none(),
        ArchiveCommand::Export(export) => export.output.is_none(),
        ArchiveCommand::Import(import) => import.source == "-",
    }
}

fn parse(words: &[String]) -> Option<Cli> {
    Cli::try_parse_from(std::iter::once("berth").chain(words.iter().map(String::as_str))).ok()
}

/// The words with `-d` right after the `run` subcommand. A global option's value may also read `run`
/// (`--root run run …`), so each `run` is tried until the grammar reads a detached run.
fn detached(words: &[String]) -> Option<Vec<String>> {
    words.iter().enumerate().filter(|(_, w)| *w == "run").find_map(|(at, _)| {
        let mut args = words.to_vec();
        args.insert(at + 1, "-d".into());
        let detached = parse(&args).is_some_and(
            |cli| matches!(cli.command, Some(Command::Containers(ContainerCommand::Run(run))) if run.detach),
        );
        detached.then_some(args)
    })
}

/// The container, when `exec -it` asks for no more than the shell pane gives: a plain shell, no options.
fn shell(exec: &ExecArgs) -> Option<String> {
    let [command] = exec.command.as_slice() else { return None };
    let program = command.rsplit('/').next().unwrap_or(command);
    let plain = exec.env.is_empty() && exec.user.is_none() && exec.workdir.is_none() && !exec.privileged;
    (plain && SHELLS.contains(&program)).then(|| exec.container.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(line: &str) -> LinePlan {
        plan(&split(line))
    }

    fn split(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn completion_offers_the_grammars_subcommands_and_flags() {
        let top = complete(&[]);
        assert!(["run", "ps", "network", "pull"].iter().all(|c| top.iter().any(|t| t == c)), "{top:?}");
        assert!(!top.iter().any(|t| t.starts_with("__")), "hidden helpers are not offered: {top:?}");
        let network = complete(&split("network"));
        assert!(network.iter().any(|c| c == "create") && network.iter().any(|c| c == "ls"), "{network:?}");
        let run = complete(&split("run -d"));
        assert!(run.iter().any(|c| c == "--publish") && run.iter().any(|c| c == "--name"), "{run:?}");
    }

    fn execute(line: &str) -> LinePlan {
        LinePlan::Execute(split(line))
    }

    #[test]
    fn commands_without_a_terminal_run_as_typed() {
        for line in [
            "network create foo",
            "volume create data",
            "run -d --memory 64m -e A=1 busybox top",
            "rename a b",
            "network connect net web",
            "system df",
            "container prune -f",
            "logs --tail 5 web",
            "exec web cat /etc/hostname",
            "exec -d -it web sh",
            "stats --no-stream",
            "start web",
            "ps -a",
            "inspect web",
            "login -u me -p secret registry.example",
            "cp web:/etc/hostname ./out",
            "pull --platform linux/arm64 alpine",
            "pull -q alpine",
        ] {
            assert_eq!(plan_of(line), execute(line), "{line}");
        }
    }

    #[test]
    fn what_clap_rejects_or_answers_itself_runs_too() {
        for line in ["frobnicate", "run --bogus busybox", "rename a", "--help", "network create --help", "--version"] {
            assert_eq!(plan_of(line), execute(line), "{line}");
        }
    }

    #[test]
    fn run_without_detach_gets_it_right_after_the_subcommand() {
        assert_eq!(
            plan_of("run --memory 64m busybox top -d"),
            LinePlan::RunDetached { args: split("run -d --memory 64m busybox top -d"), attach: false }
        );
        assert_eq!(
            plan_of("--log-level run run busybox"),
            LinePlan::RunDetached { args: split("--log-level run run -d busybox"), attach: false },
            "a global option's value that reads run is skipped"
        );
        for line in ["run -it busybox sh", "run -t busybox sh", "run -i busybox cat", "run --tty busybox sh"] {
            let LinePlan::RunDetached { args, attach: true } = plan_of(line) else { panic!("{line}") };
            assert_eq!(args[..2], ["run", "-d"], "{line}");
        }
    }

    #[test]
    fn pull_of_a_plain_reference_opens_the_dialog() {
        assert_eq!(plan_of("pull alpine:3"), LinePlan::Pull("alpine:3".into()));
        assert_eq!(plan_of("image pull busybox"), LinePlan::Pull("busybox".into()));
    }

    #[test]
    fn exec_of_a_plain_shell_opens_the_shell_pane() {
        assert_eq!(plan_of("exec -it web sh"), LinePlan::Shell("web".into()));
        assert_eq!(plan_of("exec -i -t db /bin/bash"), LinePlan::Shell("db".into()));
        for line in ["exec -it web top", "exec -it -u nobody web sh", "exec -t web sh -c ls", "exec -it -w /tmp web sh"]
        {
            assert_eq!(plan_of(line), LinePlan::Refuse(NeedsTerminal::Exec), "{line}");
        }
    }

    #[test]
    fn what_needs_a_terminal_is_refused() {
        for (line, why) in [
            ("attach web", NeedsTerminal::Attach),
            ("start -a web", NeedsTerminal::StartAttached),
            ("start -ai web", NeedsTerminal::StartAttached),
            ("logs -f web", NeedsTerminal::FollowLogs),
            ("stats", NeedsTerminal::Stats),
            ("stats web", NeedsTerminal::Stats),
            ("login registry.example", NeedsTerminal::Login),
            ("login -u me --password-stdin registry.example", NeedsTerminal::Login),
            ("cp - web:/tmp", NeedsTerminal::TarStream),
            ("cp web:/etc -", NeedsTerminal::TarStream),
            ("events", NeedsTerminal::Events),
            ("events --since 10m -f type=container", NeedsTerminal::Events),
            ("save busybox", NeedsTerminal::TarStream),
            ("image save busybox", NeedsTerminal::TarStream),
            ("load", NeedsTerminal::TarStream),
            ("export web", NeedsTerminal::TarStream),
            ("import - img", NeedsTerminal::TarStream),
            ("--log-level debug", NeedsTerminal::Tui),
        ] {
            assert_eq!(plan_of(line), LinePlan::Refuse(why), "{line}");
        }
    }
}
