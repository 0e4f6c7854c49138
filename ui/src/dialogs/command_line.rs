//! The `:` command line: berth CLI syntax (`run -d --name web busybox httpd -f`, `pull alpine`, `stop web`),
//! parsed into the same operations the keys trigger.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use thiserror::Error;

use crate::backend::{ContainerOp, RunRequest};
use crate::input::TextInput;
use crate::theme::Theme;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandLineError {
    #[error("cannot split {line:?} into words: {message}")]
    Quote { line: String, message: String },
    #[error("type a command, e.g. run -d --name web busybox httpd -f")]
    Empty,
    #[error(
        "unknown command {command:?}; try run, pull, start, stop, restart, pause, unpause, kill, rm, rmi, image prune, quit"
    )]
    Unknown { command: String },
    #[error("{command}: missing {what}")]
    Missing { command: String, what: &'static str },
    #[error("{command}: unknown option {option}")]
    UnknownOption { command: String, option: String },
    #[error("{command}: option {option} needs a value")]
    NoValue { command: String, option: String },
}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineCommand {
    Run(RunRequest),
    Pull(String),
    Container { op: ContainerOp, names: Vec<String> },
    RemoveImages { names: Vec<String>, force: bool },
    PruneImages { all: bool },
    Quit,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    pub input: TextInput,
}

/// Splits `--opt=value` and `--opt value` alike; `value_opts` take a value, `flag_opts` do not.
struct Args {
    command: String,
    words: std::vec::IntoIter<String>,
}

impl Args {
    fn value(&mut self, option: &str, inline: Option<String>) -> Result<String, CommandLineError> {
        inline
            .or_else(|| self.words.next())
            .ok_or_else(|| CommandLineError::NoValue { command: self.command.clone(), option: option.into() })
    }
}

fn parse_run(mut args: Args) -> Result<RunRequest, CommandLineError> {
    let mut request = RunRequest::default();
    while let Some(word) = args.words.next() {
        if !word.starts_with('-') || word == "-" {
            request.image = word;
            request.command = args.words.by_ref().collect();
            return Ok(request);
        }
        let (option, inline) = match word.split_once('=') {
            Some((o, v)) => (o.to_string(), Some(v.to_string())),
            None => (word.clone(), None),
        };
        match option.as_str() {
            "-d" | "--detach" | "-i" | "--interactive" | "-t" | "--tty" | "-it" | "-ti" | "-dit" | "-itd" => {}
            "--name" => request.name = Some(args.value(&option, inline)?),
            "-e" | "--env" => request.env.push(args.value(&option, inline)?),
            "-p" | "--publish" => request.ports.push(args.value(&option, inline)?),
            "-v" | "--volume" => request.volumes.push(args.value(&option, inline)?),
            "--network" | "--net" => request.network = Some(args.value(&option, inline)?),
            "--restart" => request.restart = Some(args.value(&option, inline)?),
            _ => return Err(CommandLineError::UnknownOption { command: args.command, option }),
        }
    }
    Err(CommandLineError::Missing { command: args.command, what: "an image" })
}

/// Parses one command line; a leading `berth` is allowed.
pub fn parse(line: &str) -> Result<LineCommand, CommandLineError> {
    let mut words =
        shell_words::split(line).map_err(|e| CommandLineError::Quote { line: line.into(), message: e.to_string() })?;
    if words.first().is_some_and(|w| w == "berth") {
        words.remove(0);
    }
    let mut words = words.into_iter();
    let command = words.next().ok_or(CommandLineError::Empty)?;
    let rest: Vec<String> = words.collect();
    let needs = |what: &'static str, rest: &[String]| {
        if rest.is_empty() { Err(CommandLineError::Missing { command: command.clone(), what }) } else { Ok(()) }
    };
    let op = match command.as_str() {
        "start" => Some(ContainerOp::Start),
        "stop" => Some(ContainerOp::Stop),
        "restart" => Some(ContainerOp::Restart),
        "pause" => Some(ContainerOp::Pause),
        "unpause" => Some(ContainerOp::Unpause),
        "kill" => Some(ContainerOp::Kill),
        "rm" => Some(ContainerOp::Remove),
        _ => None,
    };
    if let Some(op) = op {
        needs("a container name or ID", &rest)?;
        if let Some(option) = rest.iter().find(|w| w.starts_with('-')) {
            return Err(CommandLineError::UnknownOption { command, option: option.clone() });
        }
        return Ok(LineCommand::Container { op, names: rest });
    }
    match command.as_str() {
        "run" => Ok(LineCommand::Run(parse_run(Args { command: command.clone(), words: rest.into_iter() })?)),
        "pull" => match rest.as_slice() {
            [reference] => Ok(LineCommand::Pull(reference.clone())),
            [] => Err(CommandLineError::Missing { command, what: "an image reference" }),
            [_, extra, ..] => Err(CommandLineError::UnknownOption { command, option: extra.clone() }),
        },
        "rmi" => {
            let force = rest.iter().any(|w| w == "-f" || w == "--force");
            let names: Vec<String> = rest.into_iter().filter(|w| w != "-f" && w != "--force").collect();
            needs("an image name or ID", &names)?;
            if let Some(option) = names.iter().find(|w| w.starts_with('-')) {
                return Err(CommandLineError::UnknownOption { command, option: option.clone() });
            }
            Ok(LineCommand::RemoveImages { names, force })
        }
        "image" if rest.first().is_some_and(|w| w == "prune") => {
            let all = rest.iter().skip(1).any(|w| w == "-a" || w == "--all");
            match rest.iter().skip(1).find(|w| !matches!(w.as_str(), "-a" | "--all" | "-f" | "--force")) {
                Some(option) => {
                    Err(CommandLineError::UnknownOption { command: "image prune".into(), option: option.clone() })
                }
                None => Ok(LineCommand::PruneImages { all }),
            }
        }
        "q" | "quit" => Ok(LineCommand::Quit),
        _ => Err(CommandLineError::Unknown { command }),
    }
}

impl CommandLine {
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let line =
            Rect { x: area.x, y: area.bottom().saturating_sub(1), width: area.width, height: 1.min(area.height) };
        frame.render_widget(Clear, line);
        let text = Line::from(vec![Span::styled(":", theme.key()), Span::raw(format!("{}▏", self.input.value()))]);
        frame.render_widget(Paragraph::new(text).style(theme.base()), line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_options_and_a_command() {
        let parsed =
            parse("run -d --name web -e A=1 --env=B=2 -p 8080:80 -v /data:/data --restart always busybox httpd -f")
                .unwrap();
        let LineCommand::Run(run) = parsed else { panic!("{parsed:?}") };
        assert_eq!(run.image, "busybox");
        assert_eq!(run.name.as_deref(), Some("web"));
        assert_eq!(run.env, ["A=1", "B=2"]);
        assert_eq!(run.ports, ["8080:80"]);
        assert_eq!(run.volumes, ["/data:/data"]);
        assert_eq!(run.restart.as_deref(), Some("always"));
        assert_eq!(run.command, ["httpd", "-f"]);
    }

    #[test]
    fn a_leading_berth_and_quotes_are_accepted() {
        let LineCommand::Run(run) = parse("berth run busybox sh -c 'echo hi; sleep 1'").unwrap() else { panic!() };
        assert_eq!(run.command, ["sh", "-c", "echo hi; sleep 1"]);
    }

    #[test]
    fn container_operations_take_names() {
        assert_eq!(
            parse("stop web db").unwrap(),
            LineCommand::Container { op: ContainerOp::Stop, names: vec!["web".into(), "db".into()] }
        );
        assert_eq!(
            parse("rm").unwrap_err(),
            CommandLineError::Missing { command: "rm".into(), what: "a container name or ID" }
        );
    }

    #[test]
    fn images() {
        assert_eq!(parse("pull alpine:3").unwrap(), LineCommand::Pull("alpine:3".into()));
        assert_eq!(
            parse("rmi -f a b").unwrap(),
            LineCommand::RemoveImages { names: vec!["a".into(), "b".into()], force: true }
        );
        assert_eq!(parse("image prune -a").unwrap(), LineCommand::PruneImages { all: true });
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(parse("  ").unwrap_err(), CommandLineError::Empty);
        assert_eq!(parse("frobnicate").unwrap_err(), CommandLineError::Unknown { command: "frobnicate".into() });
        assert_eq!(
            parse("run --privileged busybox").unwrap_err(),
            CommandLineError::UnknownOption { command: "run".into(), option: "--privileged".into() }
        );
        assert_eq!(
            parse("run --name").unwrap_err(),
            CommandLineError::NoValue { command: "run".into(), option: "--name".into() }
        );
        assert_eq!(parse("run -d").unwrap_err(), CommandLineError::Missing { command: "run".into(), what: "an image" });
        assert!(matches!(parse("run 'busybox").unwrap_err(), CommandLineError::Quote { .. }));
    }
}
