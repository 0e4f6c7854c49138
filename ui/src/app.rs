//! The application's state and its reactions: keys and backend results in, [`Effect`]s out. Nothing here draws
//! or waits; the runner executes effects in the background and feeds results back as [`Msg`]s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use crate::backend::{
    BackendError, BackendEvent, BuildRequest, CliOutput, ContainerOp, ContainerRow, ContainerUsage, ImageRow, LayerRow,
    LogLine, NetworkRow, ProjectOp, RunRequest, VolumeRow, short_id,
};
use crate::cli::{Completer, LinePlan, Planner};
use crate::config::UiConfig;
use crate::dialogs::build::{BuildAction, BuildDialog, BuildPhase};
use crate::dialogs::command_line::{self, CommandLine};
use crate::dialogs::confirm::{Answer, ConfirmDialog};
use crate::dialogs::help;
use crate::dialogs::help::HelpDialog;
use crate::dialogs::inspect::{self, InspectAction, InspectDialog};
use crate::dialogs::pull::{PullAction, PullDialog};
use crate::dialogs::push::{PushAction, PushDialog};
use crate::dialogs::run::{RunAction, RunDialog};
use crate::dialogs::save_log::SaveLogDialog;
use crate::dialogs::scale::ScaleDialog;
use crate::dialogs::transfer::TransferPhase;
use crate::input::InputOutcome;
use crate::keymap::{Command, Key, Keymap, Scope};
use crate::layout;
use crate::panes::containers::ContainersPane;
use crate::panes::explorer::{Explorer, ExplorerAction, TreeRequest, TreeRow};
use crate::panes::images::ImagesPane;
use crate::panes::logs::{LogsPane, OlderRequest};
use crate::panes::networks::NetworksPane;
use crate::panes::operations::{OperationsPane, Outcome};
use crate::panes::shell::{ShellPane, key_bytes};
use crate::panes::stats::StatsPane;
use crate::panes::volumes::VolumesPane;
use crate::panes::{ListState, Pane};
use crate::theme::Theme;
use berth_engine::display;
use berth_engine::local::ImageChanges;

/// Log lines asked for when a container's log opens.
pub const LOG_TAIL: usize = 1000;

/// Older log lines read from the file each time the view reaches the top.
pub const LOG_PAGE: usize = 1000;

/// How often the running containers' CPU and memory are read while their list shows. Ticks come about a
/// second apart, so every other one is due (the half second absorbs their jitter).
const USAGE_EVERY: TimeDelta = TimeDelta::milliseconds(1500);

/// Work for the runner; each finishes with a [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    RefreshImages,
    RefreshContainers,
    RefreshNetworks,
    RefreshVolumes,
    /// CPU and memory of these running containers (full IDs).
    SampleUsage(Vec<String>),
    Layers(String),
    /// Every layer's changes, for the layer explorer.
    LayerChanges(String),
    /// The explorer's tree for a layer, view and filter, built off the UI thread (the newest asked wins).
    Tree(TreeRequest),
    InspectImage(String),
    InspectContainer(String),
    /// A canonical reference.
    Pull(String),
    /// Stops the pull of this canonical reference; it ends as failed, "cancelled".
    CancelPull(String),
    /// A canonical reference to push.
    Push(String),
    /// `build` numbers the build's events and its result.
    Build {
        build: u64,
        request: BuildRequest,
    },
    RemoveImage {
        id: String,
        force: bool,
    },
    PruneImages {
        all: bool,
    },
    Container {
        id: String,
        name: String,
        op: ContainerOp,
    },
    Run(RunRequest),
    /// A compose project's operation, as `berth compose` does it.
    Project {
        project: String,
        op: ProjectOp,
    },
    /// `berth ARGS` as a child process; `attach` opens the attach pane on the container it prints.
    Cli {
        args: Vec<String>,
        attach: bool,
    },
    RemoveNetwork(String),
    PruneNetworks,
    /// `shown` is the name as the pane shows it (anonymous volumes shortened).
    RemoveVolume {
        name: String,
        shown: String,
    },
    PruneVolumes,
    FollowLogs(String),
    UnfollowLogs(String),
    /// [`LOG_PAGE`] lines older than the oldest held.
    OlderLogs {
        id: String,
        request: OlderRequest,
    },
    FollowStats(String),
    UnfollowStats(String),
    OpenShell {
        id: String,
        name: String,
        rows: u16,
        cols: u16,
        /// Attach to the main process instead of starting a shell.
        attach: bool,
    },
    ShellInput {
        session: u64,
        bytes: Vec<u8>,
    },
    ResizeShell {
        session: u64,
        rows: u16,
        cols: u16,
    },
    CloseShell(u64),
    SaveLog {
        path: PathBuf,
        text: String,
    },
    /// Lines copied from a shell: to the clipboard (OSC 52, by the terminal's owner) and into `path`.
    Copy {
        path: PathBuf,
        text: String,
    },
    SetMouse(bool),
    /// Show the next engine (after the last, all of them at once).
    SwitchEngine,
    /// A `:` line to add to the history file.
    AppendHistory {
        path: PathBuf,
        line: String,
    },
}

/// Results and events for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// The 1 s clock: lists refresh, ages move on.
    Tick(DateTime<Utc>),
    Images(Result<Vec<ImageRow>, BackendError>),
    Containers(Result<Vec<ContainerRow>, BackendError>),
    Networks(Result<Vec<NetworkRow>, BackendError>),
    Volumes(Result<Vec<VolumeRow>, BackendError>),
    Usage(Result<HashMap<String, ContainerUsage>, BackendError>),
    Layers {
        id: String,
        result: Result<Vec<LayerRow>, BackendError>,
    },
    LayerChanges {
        id: String,
        result: Result<Arc<ImageChanges>, BackendError>,
    },
    /// A tree the explorer of image `id` asked for.
    Tree {
        id: String,
        generation: u64,
        rows: Vec<TreeRow>,
    },
    Inspect {
        title: String,
        result: Result<String, BackendError>,
    },
    Pulled {
        reference: String,
        result: Result<String, BackendError>,
    },
    /// A push ended: the manifest's digest.
    Pushed {
        reference: String,
        result: Result<String, BackendError>,
    },
    Built {
        build: u64,
        result: Result<String, BackendError>,
    },
    /// A container operation finished; its error names the container by name.
    ContainerDone {
        id: String,
        name: String,
        op: ContainerOp,
        result: Result<(), BackendError>,
    },
    /// An operation finished; `what` describes it for the operations log.
    Done {
        what: String,
        result: Result<String, BackendError>,
    },
    /// A berth CLI run finished.
    CliDone {
        args: Vec<String>,
        attach: bool,
        result: Result<CliOutput, BackendError>,
    },
    LogsFailed {
        id: String,
        error: BackendError,
    },
    OlderLogs {
        id: String,
        request: OlderRequest,
        result: Result<Vec<LogLine>, BackendError>,
    },
    StatsFailed {
        id: String,
        error: BackendError,
    },
    ShellOpened {
        name: String,
        result: Result<u64, BackendError>,
    },
    Backend(BackendEvent),
    /// The engine shown now, by name; `None` when there is only one.
    EngineSwitched(Option<String>),
}

/// Dialogs over the panes, highest priority first in [`App::handle_key`].
#[derive(Debug)]
pub enum Modal {
    Confirm(ConfirmDialog<Vec<Effect>>),
    Help(HelpDialog),
    Inspect(InspectDialog),
    Explorer(Box<Explorer>),
    Pull(PullDialog),
    Push(PushDialog),
    Build(BuildDialog),
    Run(RunDialog),
    SaveLog(SaveLogDialog),
    Scale(ScaleDialog),
    CommandLine(CommandLine),
}

/// A line for the status bar; errors stay until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// A bulk operation on marked containers: reported once every one of them has answered.
#[derive(Debug)]
struct Bulk {
    verb: &'static str,
    waiting: std::collections::BTreeSet<String>,
    succeeded: usize,
    failed: Vec<String>,
}

type Normalize = Arc<dyn Fn(&str) -> Result<String, BackendError> + Send + Sync>;

pub struct App {
    pub keymap: Keymap,
    /// Where the keys and settings came from (`tui.toml`), named in help.
    pub config_path: Option<PathBuf>,
    pub theme: Theme,
    pub confirm: bool,
    pub mouse: bool,
    pub focus: Pane,
    pub containers: ContainersPane,
    pub images: ImagesPane,
    pub networks: NetworksPane,
    pub volumes: VolumesPane,
    pub logs: LogsPane,
    pub stats: StatsPane,
    pub shell: ShellPane,
    pub operations: OperationsPane,
    pub modal: Option<Modal>,
    pub status: Option<Status>,
    pub now: DateTime<Utc>,
    /// The terminal's size, for pty sizes.
    pub area: Rect,
    pub quit: bool,
    normalize: Normalize,
    plan: Planner,
    complete: Completer,
    /// `:` lines run, oldest first; Up/Down on the line walk them.
    pub history: Vec<String>,
    /// Where they are kept across runs (in the state root).
    pub history_file: Option<PathBuf>,
    effects: Vec<Effect>,
    /// When CPU and memory were last asked for.
    usage_sampled: Option<DateTime<Utc>>,
    /// A change that waits for the clock's next tick to be drawn: figures sampled every second (charts, the
    /// CPU and memory columns) then share one frame with the uptimes instead of each waking its own.
    redraw_on_tick: bool,
    /// Builds started so far; the next one's number.
    builds: u64,
    bulk: Option<Bulk>,
    /// A pull whose dialog was closed while it ran: it keeps its progress, to be shown again or cancelled.
    pub background_pull: Option<PullDialog>,
    /// The engine shown when there are several (`all engines` for every one at once), in the title bar.
    pub engine: Option<String>,
}

impl App {
    /// `normalize` turns a typed reference into the canonical form pull events carry; `plan` is the CLI
    /// grammar's reading of a `:` line.
    pub fn new(
        config: UiConfig,
        theme: Theme,
        now: DateTime<Utc>,
        area: Rect,
        normalize: Normalize,
        plan: Planner,
        complete: Completer,
    ) -> App {
        App {
            keymap: config.keymap,
            config_path: config.path,
            theme,
            confirm: config.confirm,
            mouse: config.mouse,
            focus: Pane::Containers,
            containers: ContainersPane::default(),
            images: ImagesPane::default(),
            networks: NetworksPane::default(),
            volumes: VolumesPane::default(),
            logs: LogsPane::default(),
            stats: StatsPane::default(),
            shell: ShellPane::default(),
            operations: OperationsPane::default(),
            modal: None,
            status: None,
            now,
            area,
            quit: false,
            normalize,
            plan,
            complete,
            history: Vec::new(),
            history_file: None,
            effects: vec![Effect::RefreshContainers, Effect::RefreshImages],
            usage_sampled: None,
            redraw_on_tick: false,
            builds: 0,
            bulk: None,
            background_pull: None,
            engine: None,
        }
    }

    /// A frame was drawn: whatever waited for the next tick shows already.
    pub fn drawn(&mut self) {
        self.redraw_on_tick = false;
    }

    /// The effects queued since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status { text: text.into(), error: false });
    }

    pub(crate) fn fail(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.operations.record(self.now, Outcome::Failed, text.clone());
        self.status = Some(Status { text, error: true });
    }

    /// The scopes a key is looked up in for the focused pane, most specific first.
    pub fn scopes(&self) -> Vec<Scope> {
        match self.focus {
            Pane::Containers => vec![Scope::Containers, Scope::List],
            Pane::Images => vec![Scope::Images, Scope::List],
            Pane::Logs => vec![Scope::Logs, Scope::List],
            Pane::Networks => vec![Scope::Networks, Scope::List],
            Pane::Volumes => vec![Scope::Volumes, Scope::List],
            Pane::Operations => vec![Scope::Operations],
            Pane::Stats => vec![],
            Pane::Shell => vec![Scope::Shell],
        }
    }

    /// The focused pane's commands with whether each applies now: the status bar shows these.
    pub fn pane_commands(&self) -> Vec<(Command, bool)> {
        match self.focus {
            Pane::Containers => self.containers.commands(),
            Pane::Images => self.images.commands(),
            Pane::Logs => self.logs.commands(),
            Pane::Shell => self.shell.commands(),
            Pane::Networks => self.networks.commands(),
            Pane::Volumes => self.volumes.commands(),
            Pane::Operations => {
                let pulling = self.background_pull.is_some();
                vec![(Command::ReopenPull, pulling), (Command::CancelPull, pulling)]
            }
            Pane::Stats => Vec::new(),
        }
    }

    fn focused_list(&mut self) -> Option<&mut ListState> {
        match self.focus {
            Pane::Containers => Some(&mut self.containers.list),
            Pane::Images => Some(&mut self.images.list),
            Pane::Logs => Some(&mut self.logs.search),
            Pane::Networks => Some(&mut self.networks.list),
            Pane::Volumes => Some(&mut self.volumes.list),
            _ => None,
        }
    }

    /// Handles a key; true when something on screen may have changed.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        if key.kind != crossterm::event::KeyEventKind::Press {
            return false;
        }
        self.status = None;
        let before = self.focus;
        self.route_key(key);
        if self.focus != before {
            self.refresh_shown();
        }
        true
    }

    /// Queues a refresh of what is only read while it shows: images, networks, volumes, and the running
    /// containers' CPU and memory (every other tick at most). The container list itself is read every tick,
    /// as the logs, stats and shell panes follow its selection.
    fn refresh_shown(&mut self) {
        match self.focus {
            Pane::Images => self.effects.push(Effect::RefreshImages),
            Pane::Networks => self.effects.push(Effect::RefreshNetworks),
            Pane::Volumes => self.effects.push(Effect::RefreshVolumes),
            pane if layout::on_containers_screen(pane) => self.sample_usage(),
            _ => {}
        }
    }

    /// After an operation anything may have changed: containers and images refresh, and the shown list.
    fn refresh_after_change(&mut self) {
        self.effects.push(Effect::RefreshContainers);
        self.effects.push(Effect::RefreshImages);
        self.refresh_shown();
    }

    /// Asks for the CPU and memory of the running containers on screen when the last reading is old enough.
    fn sample_usage(&mut self) {
        if self.usage_sampled.is_some_and(|t| self.now - t < USAGE_EVERY) {
            return;
        }
        let ids = self.containers.usage_targets(ContainersPane::rows_shown(layout::containers_list(self.area)));
        if !ids.is_empty() {
            self.usage_sampled = Some(self.now);
            self.effects.push(Effect::SampleUsage(ids));
        }
    }

    fn route_key(&mut self, key: KeyEvent) {
        let Some(modal) = self.modal.take() else { return self.pane_key(key) };
        let command = Key::from_event(&key).and_then(|k| self.keymap.command(k, &[Scope::List]));
        self.modal = match modal {
            Modal::Confirm(dialog) => match dialog.handle_key(&key) {
                Answer::Yes => {
                    self.issue(dialog.action);
                    None
                }
                Answer::No => None,
                Answer::Undecided => Some(Modal::Confirm(dialog)),
            },
            Modal::Help(mut help) => match command {
                Some(Command::Back | Command::Help) => None,
                Some(Command::Quit) => {
                    self.quit = true;
                    None
                }
                Some(c) => {
                    let (rows, _) = inspect::inner(layout::screen(self.area)[1]);
                    let count = help::lines(&self.keymap, &self.theme, help.config.as_deref()).len();
                    let max = inspect::max_scroll(std::iter::repeat_n(1, count), rows);
                    help.scroll = inspect::scrolled(help.scroll, c, rows, max);
                    Some(Modal::Help(help))
                }
                None => Some(Modal::Help(help)),
            },
            Modal::Inspect(mut dialog) => {
                let (rows, cols) = inspect::inner(layout::screen(self.area)[1]);
                match dialog.handle_key(&key, command, rows, cols) {
                    InspectAction::Stay => Some(Modal::Inspect(dialog)),
                    InspectAction::Close => None,
                    InspectAction::Copy(text) => {
                        let path = PathBuf::from(format!("berth-inspect-{}.txt", self.now.format("%Y%m%d-%H%M%S")));
                        self.effects.push(Effect::Copy { path, text });
                        Some(Modal::Inspect(dialog))
                    }
                }
            }
            Modal::Explorer(mut explorer) => {
                let page = usize::from(layout::screen(self.area)[1].height.saturating_sub(6));
                let action = explorer.handle_key(&key, command, page);
                self.effects.extend(explorer.wanted.take().map(Effect::Tree));
                match action {
                    ExplorerAction::Stay => Some(Modal::Explorer(explorer)),
                    ExplorerAction::Close => None,
                    ExplorerAction::Quit => {
                        self.quit = true;
                        None
                    }
                }
            }
            Modal::Pull(mut dialog) => match dialog.handle_key(&key) {
                PullAction::Nothing => Some(Modal::Pull(dialog)),
                PullAction::Close => {
                    if matches!(dialog.phase, TransferPhase::Running { .. }) {
                        self.background_pull = Some(dialog);
                    }
                    None
                }
                PullAction::Cancel => {
                    if let Some(reference) = dialog.reference() {
                        self.effects.push(Effect::CancelPull(reference.to_string()));
                    }
                    Some(Modal::Pull(dialog))
                }
                PullAction::Start(typed) => {
                    match (self.normalize)(&typed) {
                        Ok(reference) => {
                            dialog.phase = TransferPhase::Running { reference: reference.clone() };
                            self.start_pull(reference);
                        }
                        Err(e) => dialog.phase = TransferPhase::Failed { reference: typed, error: e.to_string() },
                    }
                    Some(Modal::Pull(dialog))
                }
            },
            Modal::Push(mut dialog) => match dialog.handle_key(&key) {
                PushAction::Nothing => Some(Modal::Push(dialog)),
                PushAction::Close => None,
                PushAction::Start(typed) => {
                    match (self.normalize)(&typed) {
                        Ok(reference) => {
                            dialog.phase = TransferPhase::Running { reference: reference.clone() };
                            self.operations.record(self.now, Outcome::Started, format!("push {reference}"));
                            self.effects.push(Effect::Push(reference));
                        }
                        Err(e) => dialog.phase = TransferPhase::Failed { reference: typed, error: e.to_string() },
                    }
                    Some(Modal::Push(dialog))
                }
            },
            Modal::Build(mut dialog) => {
                match dialog.handle_key(&key) {
                    BuildAction::Nothing => {}
                    BuildAction::Close => return,
                    BuildAction::Start(request) => self.start_build(&mut dialog, request),
                }
                Some(Modal::Build(dialog))
            }
            Modal::Run(mut dialog) => match dialog.handle_key(&key) {
                RunAction::Nothing => Some(Modal::Run(dialog)),
                RunAction::Close => None,
                RunAction::Run(request) => {
                    self.start_run(request);
                    None
                }
            },
            Modal::SaveLog(mut dialog) => match dialog.path.handle(&key) {
                InputOutcome::Submit if !dialog.path.value().trim().is_empty() => {
                    let path = PathBuf::from(dialog.path.value().trim());
                    self.effects.push(Effect::SaveLog { path, text: self.logs.export() });
                    None
                }
                InputOutcome::Cancel => None,
                _ => Some(Modal::SaveLog(dialog)),
            },
            Modal::Scale(mut dialog) => match dialog.input.handle(&key) {
                InputOutcome::Submit => match dialog.parse() {
                    Ok((service, replicas)) => {
                        let op = ProjectOp::Scale { service, replicas };
                        self.project_op(dialog.project, op);
                        None
                    }
                    Err(reason) => {
                        dialog.error = Some(reason);
                        Some(Modal::Scale(dialog))
                    }
                },
                InputOutcome::Cancel => None,
                _ => {
                    dialog.error = None;
                    Some(Modal::Scale(dialog))
                }
            },
            Modal::CommandLine(mut line) if matches!(key.code, KeyCode::Up | KeyCode::Down) => {
                line.browse(&self.history, key.code == KeyCode::Up);
                Some(Modal::CommandLine(line))
            }
            Modal::CommandLine(mut line) if key.code == KeyCode::Tab => {
                let candidates = self.completions(&line.words_before());
                line.complete(candidates);
                Some(Modal::CommandLine(line))
            }
            Modal::CommandLine(mut line) => match line.input.handle(&key) {
                InputOutcome::Submit => {
                    self.remember(line.input.value());
                    self.command_line(line.input.value());
                    self.modal.take()
                }
                InputOutcome::Cancel => None,
                InputOutcome::Changed | InputOutcome::Ignored => Some(Modal::CommandLine(line)),
            },
        };
    }

    /// Opens the layer explorer on the selected image; its layers are read in the background.
    fn explore(&mut self) {
        let Some(row) = self.images.selected() else { return };
        let (id, name) = (row.id.clone(), ImagesPane::name(row));
        let layers = if self.images.layers_of.as_ref() == Some(&id) { self.images.layers.clone() } else { Vec::new() };
        if layers.is_empty() {
            self.images.layers_of = Some(id.clone());
            self.effects.push(Effect::Layers(id.clone()));
        }
        self.modal = Some(Modal::Explorer(Box::new(Explorer::new(id.clone(), name, layers))));
        self.effects.push(Effect::LayerChanges(id));
    }

    /// Adds a run `:` line to the history (not twice in a row) and to its file.
    fn remember(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() || self.history.last().is_some_and(|l| l == line) {
            return;
        }
        self.history.push(line.to_string());
        let excess = self.history.len().saturating_sub(command_line::HISTORY);
        self.history.drain(..excess);
        if let Some(path) = self.history_file.clone() {
            self.effects.push(Effect::AppendHistory { path, line: line.to_string() });
        }
    }

    /// What may come after `words` on the `:` line: the grammar's subcommands and flags, and after a command
    /// the names of containers, images, networks and volumes.
    fn completions(&self, words: &[String]) -> Vec<String> {
        let mut candidates = (self.complete)(words);
        if !words.is_empty() {
            candidates.extend(self.containers.rows.iter().map(|r| r.name.clone()));
            candidates.extend(self.images.rows.iter().flat_map(|r| r.tags.iter().cloned()));
            candidates.extend(self.networks.rows.iter().map(|r| r.name.clone()));
            candidates.extend(self.volumes.rows.iter().map(|r| r.name.clone()));
        }
        candidates
    }

    fn start_pull(&mut self, reference: String) {
        self.operations.record(self.now, Outcome::Started, format!("pull {reference}"));
        self.effects.push(Effect::Pull(reference));
    }

    /// Checks the tags as the engine reads references, then starts the build in the background.
    fn start_build(&mut self, dialog: &mut BuildDialog, request: BuildRequest) {
        for tag in &request.tags {
            if let Err(BackendError::Failed { message, .. }) = (self.normalize)(tag) {
                dialog.error = Some(format!("Tag: {message}"));
                return;
            }
        }
        self.builds += 1;
        let build = self.builds;
        dialog.started(build);
        self.images.select = None;
        let what = request.tags.first().cloned().unwrap_or_else(|| request.context.clone());
        self.operations.record(self.now, Outcome::Started, format!("build {what}"));
        self.effects.push(Effect::Build { build, request });
    }

    fn start_run(&mut self, request: RunRequest) {
        self.operations.record(self.now, Outcome::Started, format!("run {}", request.image));
        self.effects.push(Effect::Run(request));
    }

    /// Runs a `:` line: `q` quits, the rest goes as the CLI grammar plans it. A dialog it opens (pull) is left
    /// in `self.modal`.
    fn command_line(&mut self, line: &str) {
        let words = match command_line::words(line) {
            Ok(words) => words,
            Err(e) => return self.fail(e.to_string()),
        };
        if command_line::is_quit(&words) {
            self.quit = true;
            return;
        }
        match (self.plan)(&words) {
            LinePlan::Execute(args) => self.start_cli(args, false, None),
            LinePlan::RunDetached { args, attach } => {
                let note = if attach {
                    "run -i/-t: started detached here, then attached in a pane"
                } else {
                    "run without -d: detached here, as the TUI has no terminal to give it"
                };
                self.start_cli(args, attach, Some(note));
            }
            LinePlan::Pull(typed) => match (self.normalize)(&typed) {
                Ok(reference) => {
                    let mut dialog = PullDialog::new(&typed);
                    dialog.phase = TransferPhase::Running { reference: reference.clone() };
                    self.modal = Some(Modal::Pull(dialog));
                    self.start_pull(reference);
                }
                Err(e) => self.fail(e.to_string()),
            },
            LinePlan::Shell(container) => {
                let (rows, cols) = layout::shell_size(self.area);
                self.effects.push(Effect::OpenShell {
                    id: container.clone(),
                    name: container,
                    rows,
                    cols,
                    attach: false,
                });
            }
            LinePlan::Refuse(why) => self.fail(command_line::refusal(why, &self.keymap)),
        }
    }

    fn start_cli(&mut self, args: Vec<String>, attach: bool, note: Option<&str>) {
        let shown = crate::cli::command_text(&args);
        let text = match note {
            Some(note) => {
                self.info(note);
                format!("{shown} ({note})")
            }
            None => shown,
        };
        self.operations.record(self.now, Outcome::Started, text);
        self.effects.push(Effect::Cli { args, attach });
    }

    /// A CLI run's result: the operations log gets its status and output; a failure's error line goes to the
    /// status bar; output of several lines opens in a scrollable view unless a dialog is up.
    fn cli_done(&mut self, args: &[String], attach: bool, result: Result<CliOutput, BackendError>) {
        let shown = crate::cli::command_text(args);
        let out = match result {
            Ok(out) => out,
            Err(e) => return self.fail(e.to_string()),
        };
        let lines = command_line::output_lines(&out);
        if !out.exit.success() {
            let reason = command_line::error_line(&lines).map_or_else(|| out.exit.to_string(), str::to_string);
            self.operations.record_output(self.now, Outcome::Failed, format!("{shown}: {}", out.exit), lines);
            self.status = Some(Status { text: format!("{shown}: {reason}"), error: true });
            return;
        }
        let printed: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
        let status = match printed.as_slice() {
            [] => shown.clone(),
            [line] => format!("{shown}: {}", line.trim()),
            many => format!("{shown}: {} lines", many.len()),
        };
        let several = printed.len() > 1;
        self.operations.record_output(self.now, Outcome::Done, shown.clone(), lines.clone());
        self.info(status);
        if attach {
            match command_line::printed_id(&lines) {
                Some(id) => {
                    let (rows, cols) = layout::shell_size(self.area);
                    let name = format!("{} (attached)", short_id(&id));
                    self.effects.push(Effect::OpenShell { id, name, rows, cols, attach: true });
                }
                None => self.fail(format!("{shown}: printed no container ID to attach to")),
            }
        } else if several && self.modal.is_none() {
            let title = format!("{shown} · Esc closes");
            self.modal = Some(Modal::Inspect(InspectDialog::new(title, lines.join("\n"))));
        }
    }

    fn pane_key(&mut self, key: KeyEvent) {
        if self.focus == Pane::Shell && self.shell.copy.is_some() {
            return self.copy_key(&key);
        }
        // An exited shell goes with any key but the global ones (Tab, pane digits, help...).
        if self.focus == Pane::Shell && self.shell.active().is_some_and(|s| s.closed) {
            let global = Key::from_event(&key).and_then(|k| self.keymap.command(k, &[Scope::Global]));
            match global {
                None | Some(Command::Back) => return self.close_shell(),
                Some(command) => return self.command(command),
            }
        }
        if self.focus == Pane::Shell && self.shell.captured {
            let leave = Key::from_event(&key).and_then(|k| self.keymap.command(k, &[Scope::Shell]));
            if leave == Some(Command::LeaveShell) {
                self.shell.captured = false;
            } else if let Some(session) = self.shell.active().filter(|s| !s.closed).map(|s| s.session) {
                self.effects.push(Effect::ShellInput { session, bytes: key_bytes(&key) });
            }
            return;
        }
        let is_logs = self.focus == Pane::Logs;
        if let Some(list) = self.focused_list().filter(|l| l.filtering) {
            match list.filter.handle(&key) {
                InputOutcome::Submit => {
                    list.filtering = false;
                    if is_logs {
                        self.logs.jump_to_match(true);
                    }
                }
                InputOutcome::Cancel => *list = ListState { selected: list.selected, ..ListState::default() },
                InputOutcome::Changed | InputOutcome::Ignored => {}
            }
            self.after_list_change();
            if is_logs {
                self.logs.search_changed();
            }
            return;
        }
        let Some(command) = Key::from_event(&key).and_then(|k| self.keymap.command(k, &self.scopes())) else { return };
        self.command(command);
    }

    /// Copy mode's keys: the lists' up and down move the cursor, `v` or space marks where the selection
    /// starts, `y` or Enter copies, Esc leaves.
    fn copy_key(&mut self, key: &KeyEvent) {
        use crossterm::event::KeyCode;
        let command = Key::from_event(key).and_then(|k| self.keymap.command(k, &[Scope::List]));
        match (key.code, command) {
            (_, Some(Command::Up)) => self.shell.move_copy(false),
            (_, Some(Command::Down)) => self.shell.move_copy(true),
            (KeyCode::Char('v' | ' '), _) => {
                if let Some(copy) = self.shell.copy.as_mut() {
                    copy.mark = if copy.mark.is_some() { None } else { Some(copy.cursor) };
                }
            }
            (KeyCode::Char('y') | KeyCode::Enter, _) => {
                let name = self.shell.active().map(|s| s.container.clone()).unwrap_or_default();
                if let Some(text) = self.shell.copied() {
                    let path = PathBuf::from(format!("berth-copy-{name}-{}.txt", self.now.format("%Y%m%d-%H%M%S")));
                    self.effects.push(Effect::Copy { path, text });
                }
                self.shell.copy = None;
            }
            (KeyCode::Esc, _) => self.shell.copy = None,
            _ => {}
        }
    }

    /// Runs a command as the focused pane understands it.
    pub fn command(&mut self, command: Command) {
        if let Some((_, false)) = self.pane_commands().into_iter().find(|(c, _)| *c == command) {
            let what = command.help();
            return self.info(format!("{what}: not possible for the selection"));
        }
        match command {
            Command::Quit => self.quit = true,
            Command::Help => {
                self.modal = Some(Modal::Help(HelpDialog { scroll: 0, config: self.config_path.clone() }));
            }
            Command::Back => self.back(),
            Command::NextPane | Command::PrevPane => {
                let panes = self.focusable();
                let at = panes.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if command == Command::NextPane { 1 } else { panes.len() - 1 };
                self.focus = panes[(at + step) % panes.len()];
            }
            Command::GoContainers => self.focus = Pane::Containers,
            Command::GoImages => self.focus = Pane::Images,
            Command::GoLogs => self.focus = Pane::Logs,
            Command::GoStats => self.focus = Pane::Stats,
            Command::GoShell => self.focus = Pane::Shell,
            Command::GoOperations => self.focus = Pane::Operations,
            Command::GoNetworks => self.focus = Pane::Networks,
            Command::GoVolumes => self.focus = Pane::Volumes,
            Command::CommandLine => self.modal = Some(Modal::CommandLine(CommandLine::default())),
            Command::SwitchEngine => self.effects.push(Effect::SwitchEngine),
            Command::ToggleMouse => {
                self.mouse = !self.mouse;
                self.effects.push(Effect::SetMouse(self.mouse));
                self.info(if self.mouse { "mouse on" } else { "mouse off: the terminal can select text" });
            }
            Command::Filter => {
                if let Some(list) = self.focused_list() {
                    list.filtering = true;
                }
            }
            Command::Up | Command::Down | Command::Top | Command::Bottom | Command::PageUp | Command::PageDown => {
                match self.focus {
                    Pane::Containers => {
                        let len = self.containers.entries().len();
                        self.containers.list.navigate(command, len);
                        self.follow_selection();
                    }
                    Pane::Images => {
                        let len = self.images.visible().len();
                        self.images.list.navigate(command, len);
                    }
                    Pane::Networks => {
                        let len = self.networks.visible().len();
                        self.networks.list.navigate(command, len);
                    }
                    Pane::Volumes => {
                        let len = self.volumes.visible().len();
                        self.volumes.list.navigate(command, len);
                    }
                    Pane::Logs => {
                        let page = self.log_page();
                        if matches!(command, Command::Bottom) && self.logs.newer_cut {
                            return self.reopen_log();
                        }
                        self.logs.scroll_by(command, page);
                        if let (Some(request), Some((id, _))) = (self.logs.want_older(page), &self.logs.container) {
                            self.effects.push(Effect::OlderLogs { id: id.clone(), request });
                        }
                    }
                    _ => {}
                }
            }
            _ => self.pane_command(command),
        }
    }

    fn pane_command(&mut self, command: Command) {
        match command {
            Command::Start => self.container_op(ContainerOp::Start),
            Command::Stop => self.container_op(ContainerOp::Stop),
            Command::Restart => self.container_op(ContainerOp::Restart),
            Command::PauseToggle => {
                let mut effects = Vec::new();
                for row in self.containers.targets() {
                    let op = if row.state.can_pause() {
                        ContainerOp::Pause
                    } else if row.state.can_unpause() {
                        ContainerOp::Unpause
                    } else {
                        continue;
                    };
                    effects.push(Effect::Container { id: row.id.clone(), name: row.name.clone(), op });
                }
                self.issue(effects);
            }
            Command::Kill => self.container_op(ContainerOp::Kill),
            Command::RemoveContainer => self.container_op(ContainerOp::Remove),
            Command::Mark => self.containers.toggle_mark(),
            Command::ToggleGroup => self.containers.toggle_group(),
            Command::MarkAll => self.containers.mark_all(),
            Command::ReverseSort => {
                self.containers.reverse_sort();
                self.follow_selection();
            }
            Command::Sort => {
                self.containers.cycle_sort();
                self.follow_selection();
            }
            Command::Logs => {
                if self.containers.selected().is_none() && self.containers.selected_project().is_some() {
                    self.open_project_logs();
                } else {
                    self.follow_selection();
                }
                self.focus = Pane::Logs;
            }
            Command::ProjectUp | Command::ProjectRestart => {
                let op = if command == Command::ProjectUp { ProjectOp::Up } else { ProjectOp::Restart };
                if let Some((project, _)) = self.containers.selected_project() {
                    self.project_op(project, op);
                }
            }
            Command::ProjectDown => {
                if let Some((project, _)) = self.containers.selected_project() {
                    let prompt = format!("Down project {project}? Its containers and networks are removed.");
                    self.ask(prompt, vec![Effect::Project { project, op: ProjectOp::Down }]);
                }
            }
            Command::ProjectScale => {
                if let Some((project, member)) = self.containers.selected_project() {
                    let service = member.as_deref().and_then(|m| crate::panes::groups::service_of(&project, m));
                    self.modal = Some(Modal::Scale(ScaleDialog::new(&project, service)));
                }
            }
            Command::Exec | Command::Attach => {
                if let Some(row) = self.containers.selected() {
                    let (rows, cols) = layout::shell_size(self.area);
                    let attach = command == Command::Attach;
                    let name = if attach { format!("{} (attached)", row.name) } else { row.name.clone() };
                    self.effects.push(Effect::OpenShell { id: row.id.clone(), name, rows, cols, attach });
                }
            }
            Command::InspectContainer => match self.containers.selected() {
                Some(row) => self.effects.push(Effect::InspectContainer(row.id.clone())),
                // A group's row has nothing to inspect: Enter there folds it.
                None => self.containers.toggle_group(),
            },
            Command::RunNew => self.modal = Some(Modal::Run(RunDialog::new(""))),
            Command::Pull => self.modal = Some(Modal::Pull(PullDialog::new(""))),
            Command::Push => {
                if let Some(tag) = self.images.selected().and_then(|r| r.tags.first().cloned()) {
                    self.modal = Some(Modal::Push(PushDialog::new(&tag)));
                }
            }
            Command::Build => self.modal = Some(Modal::Build(BuildDialog::default())),
            Command::RunImage => {
                let image = self.images.selected().map(|r| r.tags.first().cloned().unwrap_or_else(|| r.id.clone()));
                self.modal = Some(Modal::Run(RunDialog::new(&image.unwrap_or_default())));
            }
            Command::Layers
                if self.images.selected().is_some_and(|r| self.images.layers_of.as_ref() == Some(&r.id)) =>
            {
                self.explore()
            }
            Command::ExploreLayers => self.explore(),
            Command::Layers => {
                if let Some(id) = self.images.selected().map(|r| r.id.clone()) {
                    self.images.layers_of = Some(id.clone());
                    self.images.layers.clear();
                    self.effects.push(Effect::Layers(id));
                }
            }
            Command::InspectImage => {
                if let Some(row) = self.images.selected() {
                    self.effects.push(Effect::InspectImage(row.id.clone()));
                }
            }
            Command::RemoveImage => {
                if let Some(row) = self.images.selected() {
                    let name = row.tags.first().cloned().unwrap_or_else(|| short_id(&row.id).to_string());
                    let effects = vec![Effect::RemoveImage { id: name.clone(), force: false }];
                    self.ask(format!("Remove image {name}?"), effects);
                }
            }
            Command::Prune => self.ask("Remove all dangling images?".into(), vec![Effect::PruneImages { all: false }]),
            Command::Follow if self.logs.newer_cut => self.reopen_log(),
            Command::Follow => {
                self.logs.follow = !self.logs.follow;
                if self.logs.follow {
                    self.logs.scroll = 0;
                }
            }
            Command::Timestamps => self.logs.timestamps = !self.logs.timestamps,
            Command::Wrap => self.logs.wrap = !self.logs.wrap,
            Command::OnlyMatches => self.logs.toggle_only_matches(),
            // `n` goes down to newer lines, as in a pager; `N` up.
            Command::NextMatch | Command::PrevMatch if !self.logs.jump_to_match(command == Command::PrevMatch) => {
                self.info(format!("no match for {:?}", self.logs.search.filter.value()));
            }
            Command::SaveLog => {
                let name = self.logs.container.as_ref().map_or("log", |(_, n)| n.as_str());
                let path = format!("berth-{name}-{}.log", self.now.format("%Y%m%d-%H%M%S"));
                self.modal = Some(Modal::SaveLog(SaveLogDialog::new(&path)));
            }
            Command::LeaveShell => self.shell.captured = false,
            Command::ResumeShell => self.shell.captured = true,
            Command::ShellScrollUp | Command::ShellScrollDown => {
                let page = layout::shell_size(self.area).0 as isize;
                self.shell.scroll(if command == Command::ShellScrollUp { page } else { -page });
            }
            Command::CopyMode => self.shell.start_copy(),
            Command::CloseShell => self.close_shell(),
            Command::RemoveNetwork => {
                if let Some(name) = self.networks.selected().map(|r| r.name.clone()) {
                    self.ask(format!("Remove network {name}?"), vec![Effect::RemoveNetwork(name)]);
                }
            }
            Command::PruneNetworks => {
                self.ask("Remove every network no container uses?".into(), vec![Effect::PruneNetworks]);
            }
            Command::RemoveVolume => {
                if let Some(row) = self.volumes.selected() {
                    let shown = VolumesPane::display_name(row).to_string();
                    let effect = Effect::RemoveVolume { name: row.name.clone(), shown: shown.clone() };
                    self.ask(format!("Remove volume {shown}?"), vec![effect]);
                }
            }
            Command::InspectNetwork => {
                if let Some(name) = self.networks.selected().map(|r| r.name.clone()) {
                    self.start_cli(vec!["network".into(), "inspect".into(), name], false, None);
                }
            }
            Command::InspectVolume => {
                if let Some(name) = self.volumes.selected().map(|r| r.name.clone()) {
                    self.start_cli(vec!["volume".into(), "inspect".into(), name], false, None);
                }
            }
            Command::CreateNetwork => self.modal = Some(Modal::CommandLine(CommandLine::with("network create "))),
            Command::CreateVolume => self.modal = Some(Modal::CommandLine(CommandLine::with("volume create "))),
            Command::TagImage => {
                if let Some(row) = self.images.selected() {
                    let source = row.tags.first().cloned().unwrap_or_else(|| short_id(&row.id).to_string());
                    self.modal = Some(Modal::CommandLine(CommandLine::with(&format!("tag {source} "))));
                }
            }
            Command::Repull => {
                if let Some(tag) = self.images.selected().and_then(|r| r.tags.first().cloned()) {
                    match (self.normalize)(&tag) {
                        Ok(reference) => {
                            let mut dialog = PullDialog::new(&tag);
                            dialog.phase = TransferPhase::Running { reference: reference.clone() };
                            self.modal = Some(Modal::Pull(dialog));
                            self.start_pull(reference);
                        }
                        Err(e) => self.fail(e.to_string()),
                    }
                }
            }
            Command::ReopenPull => {
                if let Some(dialog) = self.background_pull.take() {
                    self.modal = Some(Modal::Pull(dialog));
                }
            }
            Command::CancelPull => {
                if let Some(reference) = self.background_pull.as_ref().and_then(|d| d.reference()) {
                    self.effects.push(Effect::CancelPull(reference.to_string()));
                }
            }
            Command::PruneVolumes => {
                self.ask("Remove every anonymous volume no container uses?".into(), vec![Effect::PruneVolumes]);
            }
            _ => {}
        }
    }

    /// Ends the shown shell session (one already exited is only forgotten); with none left, focus returns
    /// to the containers.
    fn close_shell(&mut self) {
        let Some((session, closed, name)) = self.shell.active().map(|s| (s.session, s.closed, s.container.clone()))
        else {
            return;
        };
        if !closed {
            self.effects.push(Effect::CloseShell(session));
            self.operations.record(self.now, Outcome::Done, format!("closed shell in {name}"));
        }
        self.shell.remove(session);
        if self.shell.sessions.is_empty() {
            self.focus = Pane::Containers;
        }
    }

    /// Panes Tab cycles through: the shell only once one is open.
    fn focusable(&self) -> Vec<Pane> {
        Pane::ALL.into_iter().filter(|p| *p != Pane::Shell || !self.shell.sessions.is_empty()).collect()
    }

    fn back(&mut self) {
        if let Some(list) = self.focused_list().filter(|l| !l.filter.value().is_empty()) {
            *list = ListState { selected: list.selected, ..ListState::default() };
            self.after_list_change();
            self.logs.search_changed();
        } else if self.focus == Pane::Shell && !self.shell.captured && !self.shell.sessions.is_empty() {
            self.shell.next();
        } else if self.focus != Pane::Containers {
            self.focus = Pane::Containers;
        }
    }

    fn after_list_change(&mut self) {
        let len = self.containers.entries().len();
        self.containers.list.clamp(len);
        let len = self.images.visible().len();
        self.images.list.clamp(len);
        let len = self.networks.visible().len();
        self.networks.list.clamp(len);
        let len = self.volumes.visible().len();
        self.volumes.list.clamp(len);
        if self.focus == Pane::Containers {
            self.follow_selection();
        }
    }

    fn ask(&mut self, prompt: String, effects: Vec<Effect>) {
        if self.confirm {
            self.modal = Some(Modal::Confirm(ConfirmDialog { prompt, action: effects }));
        } else {
            self.issue(effects);
        }
    }

    /// Queues effects; container operations mark their rows (`stopping…`) until the engine answers, and
    /// several at once are reported together when the last one has.
    fn issue(&mut self, effects: Vec<Effect>) {
        let ops: Vec<(String, ContainerOp)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Container { id, op, .. } => Some((id.clone(), *op)),
                _ => None,
            })
            .collect();
        for (id, op) in &ops {
            self.containers.pending.insert(id.clone(), *op);
        }
        if let [(_, op), _, ..] = ops.as_slice() {
            self.bulk = Some(Bulk {
                verb: op.verb(),
                waiting: ops.iter().map(|(id, _)| id.clone()).collect(),
                succeeded: 0,
                failed: Vec::new(),
            });
        }
        self.effects.extend(effects);
    }

    /// A container operation's answer: the row's mark goes, the log and status bar tell, and a bulk
    /// operation's last answer reports how many succeeded and which failed.
    fn container_done(&mut self, id: &str, name: &str, op: ContainerOp, result: Result<(), BackendError>) {
        self.containers.pending.remove(id);
        let ok = result.is_ok();
        match result {
            Ok(()) => {
                let text = format!("{} {name}", op.verb());
                self.operations.record(self.now, Outcome::Done, text.clone());
                self.info(text);
            }
            Err(e) => self.fail(e.to_string()),
        }
        let Some(bulk) = self.bulk.as_mut() else { return };
        if !bulk.waiting.remove(id) {
            return;
        }
        if ok {
            bulk.succeeded += 1;
        } else {
            bulk.failed.push(name.to_string());
        }
        if !bulk.waiting.is_empty() {
            return;
        }
        let Some(bulk) = self.bulk.take() else { return };
        let total = bulk.succeeded + bulk.failed.len();
        let text = format!("{}: {} of {total} succeeded", bulk.verb, bulk.succeeded);
        if bulk.failed.is_empty() {
            self.info(text);
        } else {
            self.status = Some(Status {
                text: format!("{text}; failed: {} (see Operations)", bulk.failed.join(", ")),
                error: true,
            });
        }
    }

    fn container_op(&mut self, op: ContainerOp) {
        let targets: Vec<(String, String, bool)> = self
            .containers
            .targets()
            .into_iter()
            .filter(|r| match op {
                ContainerOp::Start => r.state.can_start(),
                ContainerOp::Stop | ContainerOp::Kill => r.state.can_stop(),
                ContainerOp::Remove => r.state.can_remove(),
                _ => true,
            })
            .map(|r| (r.id.clone(), r.name.clone(), r.state.can_stop()))
            .collect();
        let names: Vec<&str> = targets.iter().map(|(_, n, _)| n.as_str()).collect();
        let mut prompt = format!("{} {}?", capitalised(op.verb()), names.join(", "));
        // A running container is only removed with force (killed first): the question says so.
        let running: Vec<&str> = targets.iter().filter(|(_, _, up)| *up).map(|(_, n, _)| n.as_str()).collect();
        if op == ContainerOp::Remove && !running.is_empty() {
            prompt.push_str(&format!(" Running, so killed first (force): {}.", running.join(", ")));
        }
        let effects: Vec<Effect> = targets
            .iter()
            .map(|(id, name, up)| {
                let op = if op == ContainerOp::Remove && *up { ContainerOp::ForceRemove } else { op };
                Effect::Container { id: id.clone(), name: name.clone(), op }
            })
            .collect();
        if matches!(op, ContainerOp::Kill | ContainerOp::Remove) {
            self.ask(prompt, effects);
        } else {
            self.issue(effects);
        }
        self.containers.marked.clear();
    }

    /// Follows the shown container's stats again when it has (re)started: its stream ended when it stopped,
    /// or never began while it was not running.
    fn restart_stats(&mut self) {
        let Some((id, _)) = self.stats.container.clone() else { return };
        let up = self.containers.rows.iter().find(|r| r.id == id).is_some_and(|r| r.state.is_up());
        if self.stats.up == Some(false) && up {
            self.stats.error = None;
            self.effects.push(Effect::FollowStats(id));
        }
        self.stats.up = Some(up);
    }

    /// Rows the Logs pane shows at once.
    fn log_page(&self) -> usize {
        let page = layout::containers_screen(layout::screen(self.area)[1])[1].height.saturating_sub(2);
        usize::from(page.max(1))
    }

    /// Opens the shown log afresh at its end: after older history pushed the newest lines out.
    fn reopen_log(&mut self) {
        let Some((id, name)) = self.logs.container.clone() else { return };
        self.effects.push(Effect::UnfollowLogs(id.clone()));
        self.logs.open(&id, &name);
        self.effects.push(Effect::FollowLogs(id));
    }

    /// Queues a project's operation, said in the status bar until it answers.
    fn project_op(&mut self, project: String, op: ProjectOp) {
        self.info(format!("compose {} {project}…", op.verb()));
        self.effects.push(Effect::Project { project, op });
    }

    /// The Logs pane on the selected project's containers, interleaved under their names; Stats stay on
    /// the container they showed.
    fn open_project_logs(&mut self) {
        let Some((project, _)) = self.containers.selected_project() else { return };
        let members: Vec<(String, String)> =
            self.containers.selected_members().iter().map(|r| (r.id.clone(), r.name.clone())).collect();
        self.unfollow_logs();
        self.logs.open_project(&format!("project {project}"), members.clone());
        for (id, _) in members {
            self.effects.push(Effect::FollowLogs(id));
        }
    }

    /// Stops following the log (or the project's logs) the Logs pane shows.
    fn unfollow_logs(&mut self) {
        let followed: Vec<String> = match self.logs.members.is_empty() {
            true => self.logs.container.iter().map(|(id, _)| id.clone()).collect(),
            false => self.logs.members.iter().map(|(id, _)| id.clone()).collect(),
        };
        self.effects.extend(followed.into_iter().map(Effect::UnfollowLogs));
        self.logs.members.clear();
        self.logs.container = None;
    }

    /// Points logs and stats at the selected container when the selection moved to another one.
    fn follow_selection(&mut self) {
        let Some((id, name)) = self.containers.selected().map(|r| (r.id.clone(), r.name.clone())) else { return };
        if self.logs.members.is_empty() && self.logs.container.as_ref().is_some_and(|(current, _)| *current == id) {
            return;
        }
        self.unfollow_logs();
        if let Some((old, _)) = self.stats.container.clone() {
            self.effects.push(Effect::UnfollowStats(old));
        }
        self.logs.open(&id, &name);
        self.stats.open(&id, &name);
        self.effects.push(Effect::FollowLogs(id.clone()));
        self.effects.push(Effect::FollowStats(id));
    }

    pub fn handle_mouse(&mut self, event: MouseEvent) -> bool {
        let command = match event.kind {
            MouseEventKind::ScrollUp => Command::Up,
            MouseEventKind::ScrollDown => Command::Down,
            _ => return false,
        };
        self.command(command);
        true
    }

    /// Follows a terminal resize: shells learn their new size.
    pub fn resize(&mut self, area: Rect) -> bool {
        self.area = area;
        let (rows, cols) = layout::shell_size(area);
        for session in self.shell.resize(rows, cols) {
            self.effects.push(Effect::ResizeShell { session, rows, cols });
        }
        true
    }

    /// Takes a result or event; true when the screen may have changed.
    pub fn update(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Tick(now) => {
                let minute_changed = now.minute() != self.now.minute() || now.hour() != self.now.hour();
                let before = std::mem::replace(&mut self.now, now);
                self.effects.push(Effect::RefreshContainers);
                self.refresh_shown();
                // Uptimes read "Up 5 minutes" most of the time: only a changed text on screen is worth a redraw.
                let uptime_moved = |t: &str| display::since(t, before) != display::since(t, now);
                let shown = ContainersPane::rows_shown(layout::containers_list(self.area));
                let uptimes_moved = layout::on_containers_screen(self.focus)
                    && self
                        .containers
                        .on_screen(shown)
                        .iter()
                        .any(|r| r.state.can_stop() && r.started_at.as_deref().is_some_and(uptime_moved));
                // A running step's elapsed time moves every second.
                let building =
                    matches!(&self.modal, Some(Modal::Build(d)) if matches!(d.phase, BuildPhase::Building { .. }));
                uptimes_moved || minute_changed || building || std::mem::take(&mut self.redraw_on_tick)
            }
            Msg::Images(Ok(rows)) => {
                let changed = self.images.set_rows(rows);
                self.images.select_pending() || changed
            }
            Msg::Containers(Ok(rows)) => {
                let changed = self.containers.set_rows(rows);
                if changed && layout::on_containers_screen(self.focus) {
                    self.follow_selection();
                }
                self.restart_stats();
                changed
            }
            Msg::Networks(Ok(rows)) => self.networks.set_rows(rows),
            Msg::Volumes(Ok(rows)) => self.volumes.set_rows(rows),
            Msg::Usage(Ok(usage)) => {
                self.containers.usage_error = None;
                let moved = self.containers.set_usage(usage) && layout::on_containers_screen(self.focus);
                self.redraw_on_tick |= moved;
                false
            }
            Msg::Usage(Err(e)) => {
                // Said once: the reading is retried every other second.
                let text = e.to_string();
                if self.containers.usage_error.as_ref() != Some(&text) {
                    self.fail(format!("CPU and memory: {text}"));
                    self.containers.usage_error = Some(text);
                }
                self.containers.set_usage(HashMap::new());
                true
            }
            Msg::Networks(Err(e)) => replace(&mut self.networks.error, Some(e.to_string())),
            Msg::Volumes(Err(e)) => replace(&mut self.volumes.error, Some(e.to_string())),
            Msg::Images(Err(e)) => replace(&mut self.images.error, Some(e.to_string())),
            Msg::Containers(Err(e)) => replace(&mut self.containers.error, Some(e.to_string())),
            Msg::Layers { id, result } => {
                if self.images.layers_of.as_ref() != Some(&id) {
                    return false;
                }
                match result {
                    Ok(layers) => {
                        if let Some(Modal::Explorer(explorer)) = &mut self.modal
                            && explorer.id == id
                        {
                            explorer.set_layers(layers.clone());
                        }
                        self.images.layers = layers
                    }
                    Err(e) => self.fail(e.to_string()),
                }
                true
            }
            Msg::LayerChanges { id, result } => {
                let Some(Modal::Explorer(explorer)) = &mut self.modal else { return false };
                if explorer.id != id {
                    return false;
                }
                explorer.set_changes(result.map_err(|e| e.to_string()));
                self.effects.extend(explorer.wanted.take().map(Effect::Tree));
                true
            }
            Msg::Tree { id, generation, rows } => match &mut self.modal {
                Some(Modal::Explorer(explorer)) if explorer.id == id => explorer.set_rows(generation, rows),
                _ => false,
            },
            Msg::Inspect { title, result } => {
                match result {
                    Ok(text) => self.modal = Some(Modal::Inspect(InspectDialog::new(title, text))),
                    Err(e) => self.fail(e.to_string()),
                }
                true
            }
            Msg::Pulled { reference, result } => {
                if self.background_pull.as_ref().and_then(|d| d.reference()) == Some(reference.as_str()) {
                    self.background_pull = None;
                }
                if let Some(Modal::Pull(dialog)) = &mut self.modal
                    && dialog.reference() == Some(reference.as_str())
                {
                    dialog.phase = match &result {
                        Ok(image_id) => TransferPhase::Done { reference: reference.clone(), result: image_id.clone() },
                        Err(e) => TransferPhase::Failed { reference: reference.clone(), error: e.to_string() },
                    };
                }
                match result {
                    Ok(id) => {
                        self.operations.record(
                            self.now,
                            Outcome::Done,
                            format!("pulled {reference} ({})", short_id(&id)),
                        );
                        self.info(format!("pulled {reference}"));
                    }
                    Err(e) => self.fail(e.to_string()),
                }
                self.effects.push(Effect::RefreshImages);
                true
            }
            Msg::Pushed { reference, result } => {
                if let Some(Modal::Push(dialog)) = &mut self.modal
                    && dialog.reference() == Some(reference.as_str())
                {
                    // The dialog names the image already: the engine's message alone.
                    dialog.phase = match &result {
                        Ok(digest) => TransferPhase::Done { reference: reference.clone(), result: digest.clone() },
                        Err(BackendError::Failed { message, .. }) => {
                            TransferPhase::Failed { reference: reference.clone(), error: message.clone() }
                        }
                    };
                }
                match result {
                    Ok(digest) => {
                        self.operations.record(self.now, Outcome::Done, format!("pushed {reference} ({digest})"));
                        self.info(format!("pushed {reference}"));
                    }
                    Err(e) => self.fail(e.to_string()),
                }
                // The pushed name@digest is a new repo digest of the image.
                self.effects.push(Effect::RefreshImages);
                true
            }
            Msg::Built { build, result } => {
                if let Some(Modal::Build(dialog)) = &mut self.modal
                    && dialog.build() == Some(build)
                {
                    dialog.finished(result.clone().map_err(|e| e.to_string()));
                }
                match result {
                    Ok(id) => {
                        self.operations.record(self.now, Outcome::Done, format!("built {}", short_id(&id)));
                        self.info(format!("built {}", short_id(&id)));
                        self.images.select = Some(id);
                        self.effects.push(Effect::RefreshImages);
                    }
                    // The dialog shows the whole error (the step's line and output); the log takes its first line.
                    Err(e) => self.fail(e.to_string().lines().next().unwrap_or_default()),
                }
                true
            }
            Msg::Done { what, result } => {
                match result {
                    Ok(detail) => {
                        let text = if detail.is_empty() { what } else { format!("{what}: {detail}") };
                        self.operations.record(self.now, Outcome::Done, text.clone());
                        self.info(text);
                    }
                    Err(e) => self.fail(e.to_string()),
                }
                self.refresh_after_change();
                true
            }
            Msg::ContainerDone { id, name, op, result } => {
                self.container_done(&id, &name, op, result);
                self.refresh_after_change();
                true
            }
            Msg::CliDone { args, attach, result } => {
                self.cli_done(&args, attach, result);
                self.refresh_after_change();
                true
            }
            Msg::EngineSwitched(None) => {
                self.info("only one engine: add [[engines]] to tui.toml, or set DOCKER_HOST or a docker context");
                true
            }
            Msg::EngineSwitched(Some(name)) => {
                // Every list is the new engine's; logs and stats follow its first container once listed.
                self.info(format!("engine: {name}"));
                self.engine = Some(name);
                self.containers = ContainersPane { sort: self.containers.sort, ..ContainersPane::default() };
                self.images = ImagesPane::default();
                self.networks = NetworksPane::default();
                self.volumes = VolumesPane::default();
                self.effects.extend([
                    Effect::RefreshContainers,
                    Effect::RefreshImages,
                    Effect::RefreshNetworks,
                    Effect::RefreshVolumes,
                ]);
                true
            }
            Msg::LogsFailed { id, error } => {
                if self.logs.container.as_ref().is_some_and(|(c, _)| *c == id) {
                    return replace(&mut self.logs.error, Some(error.to_string()));
                }
                false
            }
            Msg::OlderLogs { id, request, result } => {
                if self.logs.container.as_ref().is_none_or(|(c, _)| *c != id) {
                    return false;
                }
                match result {
                    Ok(lines) => self.logs.prepend(&request, lines, LOG_PAGE),
                    Err(e) => {
                        self.logs.older = crate::panes::logs::Older::Available;
                        self.fail(e.to_string());
                    }
                }
                true
            }
            Msg::StatsFailed { id, error } => {
                let Some((_, name)) = self.stats.container.clone().filter(|(c, _)| *c == id) else { return false };
                let up = self.containers.rows.iter().find(|r| r.id == id).is_some_and(|r| r.state.is_up());
                let text = if up {
                    let BackendError::Failed { message, .. } = error.naming(&id, &name);
                    format!("{name}: {}", message.lines().next().unwrap_or_default())
                } else {
                    format!("{name} is not running; its stats show when it starts.")
                };
                replace(&mut self.stats.error, Some(text))
            }
            Msg::ShellOpened { name, result } => {
                match result {
                    Ok(session) => {
                        let (rows, cols) = layout::shell_size(self.area);
                        self.shell.add(session, &name, rows, cols);
                        self.focus = Pane::Shell;
                        self.operations.record(self.now, Outcome::Done, format!("shell in {name}"));
                    }
                    Err(e) => {
                        self.shell.error = Some(e.to_string());
                        self.fail(e.to_string());
                    }
                }
                true
            }
            Msg::Backend(event) => self.backend_event(event),
        }
    }

    fn backend_event(&mut self, event: BackendEvent) -> bool {
        match event {
            BackendEvent::PullProgress { reference, layer, state } => {
                // The pull is shown in one place at a time: its open dialog or the one kept in the background.
                match (&mut self.modal, self.background_pull.as_mut()) {
                    (Some(Modal::Pull(dialog)), _) if dialog.reference() == Some(reference.as_str()) => {
                        dialog.progress(&reference, &layer, state)
                    }
                    (_, Some(dialog)) => {
                        dialog.progress(&reference, &layer, state);
                        false
                    }
                    _ => false,
                }
            }
            BackendEvent::PushProgress { reference, layer, state } => match &mut self.modal {
                Some(Modal::Push(dialog)) => dialog.progress(&reference, &layer, state),
                _ => false,
            },
            BackendEvent::Build { build, progress } => match &mut self.modal {
                Some(Modal::Build(dialog)) => dialog.progress(build, progress, self.now),
                _ => false,
            },
            BackendEvent::Log { container, lines } => {
                if !self.logs.shows(&container) {
                    return false;
                }
                if self.logs.members.is_empty() {
                    self.logs.push_batch(lines, LOG_TAIL);
                } else {
                    self.logs.push_member(&container, lines);
                }
                layout::on_containers_screen(self.focus)
            }
            BackendEvent::Stats { container, sample } => {
                if self.stats.container.as_ref().is_none_or(|(c, _)| *c != container) {
                    return false;
                }
                // An idle container's flat charts draw the same: no redraw for them. The first sample shows
                // at once; later ones with the next tick.
                let first = self.stats.samples.is_empty();
                let moved = self.stats.push(sample) && layout::on_containers_screen(self.focus);
                self.redraw_on_tick |= moved && !first;
                moved && first
            }
            BackendEvent::Interrupted { container, stream, message } => {
                let (shown, error) = match stream {
                    crate::backend::Followed::Logs => (&self.logs.container, &mut self.logs.error),
                    crate::backend::Followed::Stats => (&self.stats.container, &mut self.stats.error),
                };
                shown.as_ref().is_some_and(|(c, _)| *c == container) && replace(error, message)
            }
            BackendEvent::ShellOutput { session, bytes } => self.shell.output(session, &bytes),
            BackendEvent::ShellClosed { session } => self.shell.closed(session),
            BackendEvent::Changed => {
                // Read now rather than at the next tick; a list that reads the same draws nothing.
                self.effects.push(Effect::RefreshContainers);
                self.refresh_shown();
                false
            }
        }
    }
}

/// Sets `slot`; true when the value changed.
fn replace<T: PartialEq>(slot: &mut T, value: T) -> bool {
    if *slot == value {
        return false;
    }
    *slot = value;
    true
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
