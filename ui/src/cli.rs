//! The `:` command line's link to the berth CLI. The binary owns the CLI's grammar (clap), so it plans each
//! typed line for the UI; the backend then re-executes the binary with the planned words. The UI never
//! parses CLI flags itself, so every command and flag the CLI has works from `:` as typed.

use std::path::PathBuf;

/// Decides what a line of words (the program name and a leading `berth` already dropped) asks for.
pub type Planner = fn(&[String]) -> LinePlan;

/// What the grammar allows after some words: subcommands and long flags, for Tab completion.
pub type Completer = fn(&[String]) -> Vec<String>;

/// What the binary hands the UI when it opens it.
#[derive(Debug, Clone)]
pub struct CliLink {
    /// The berth binary to re-execute (the running one).
    pub program: PathBuf,
    pub plan: Planner,
    pub complete: Completer,
}

/// What the TUI does with a typed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinePlan {
    /// Run `berth ARGS` in the background; its exit status and output go to the operations log. Lines the
    /// grammar rejects land here too, so clap's own message is what the user reads.
    Execute(Vec<String>),
    /// `run` without `-d`, given `-d` here: the TUI has no terminal to hand the container. With `attach`
    /// (`-i`/`-t` was typed) the attach pane opens on the container it prints.
    RunDetached { args: Vec<String>, attach: bool },
    /// `pull REF` without options: the pull dialog shows per-layer progress.
    Pull(String),
    /// `exec -it CONTAINER SHELL`: a shell pane on the container, as its key opens.
    Shell(String),
    /// The command needs a terminal or a stream the TUI cannot give a child process.
    Refuse(NeedsTerminal),
}

/// Why a command cannot run from `:`; the UI names the key or pane to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsTerminal {
    /// `attach`.
    Attach,
    /// `start -a` or `start -i`.
    StartAttached,
    /// `exec -i`/`-t` with a command other than a plain shell, or options the shell pane does not take.
    Exec,
    /// `logs -f`.
    FollowLogs,
    /// `stats` without `--no-stream`.
    Stats,
    /// `login` that would prompt for a username or password, or read it from stdin.
    Login,
    /// `cp` from or to `-`, `save`/`export` without `-o`, `load` without `-i`, `import -`: a tar stream on
    /// stdin or stdout.
    TarStream,
    /// `events` without `--until`: it streams until stopped.
    Events,
    /// No command at all: berth would open this UI.
    Tui,
}

/// `berth ARGS` as the operations log shows it, quoted only where a shell would need it (`-e A=1` stays).
pub fn command_text(args: &[String]) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    let quoted = args.iter().map(|a| {
        if !a.is_empty() && a.chars().all(safe) { a.clone() } else { format!("'{}'", a.replace('\'', r"'\''")) }
    });
    std::iter::once("berth".to_string()).chain(quoted).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_text_quotes_only_what_a_shell_would_split() {
        let args: Vec<String> =
            ["run", "-e", "A=1", "busybox", "sh", "-c", "echo it's", ""].iter().map(|a| a.to_string()).collect();
        assert_eq!(command_text(&args), r"berth run -e A=1 busybox sh -c 'echo it'\''s' ''");
        assert_eq!(shell_words::split(&command_text(&args)).unwrap()[1..], args[..], "a shell reads it back");
    }
}
