//! The build dialog: context, Dockerfile, tag, build args, target and the no-cache and pull toggles; then a
//! live view of the build's steps
//! (cached, running with its elapsed time and output, done, failed), fed by the engine's build events.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{FormKey, centered, dialog_block, form_key};
use crate::backend::{BuildProgress, BuildRequest, short_id};
use crate::input::TextInput;
use crate::theme::Theme;

/// Field labels and hints, in Tab order.
const FIELDS: [(&str, &str); 5] = [
    ("Context", "."),
    ("Dockerfile", "Dockerfile in the context"),
    ("Tag", "app:latest"),
    ("Build args", "VERSION=1 DEBUG=0"),
    ("Target", "the last stage"),
];

/// On/off options after the text fields, in Tab order: `--no-cache` and `--pull`. (`--platform` has no
/// field: berth builds only the host's platform.)
const TOGGLES: [&str; 2] = ["No cache", "Pull"];

/// Output lines kept per step: the view shows the tail, and a chatty step must not grow without bound.
const OUTPUT_KEPT: usize = 200;
/// Output lines shown under the running or failed step.
const OUTPUT_SHOWN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildPhase {
    Editing,
    /// `build` is the number the app gave it, which its events carry.
    Building {
        build: u64,
    },
    Done {
        build: u64,
        image_id: String,
    },
    Failed {
        build: u64,
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepState {
    Running { started: DateTime<Utc> },
    Cached,
    Done { seconds: f64 },
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildStep {
    pub number: usize,
    /// `[stage k/n] INSTRUCTION ...`, as the engine names it.
    pub name: String,
    pub state: StepState,
    pub output: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildDialog {
    pub fields: [TextInput; 5],
    /// `--no-cache` and `--pull`, as [`TOGGLES`] orders them.
    pub toggles: [bool; 2],
    /// The focused text field, or toggle `focus - fields.len()`.
    pub focus: usize,
    /// What is wrong with the fields, in the engine's words.
    pub error: Option<String>,
    pub phase: BuildPhase,
    pub steps: Vec<BuildStep>,
    /// The base image being pulled, if any.
    pub pulling: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildAction {
    Nothing,
    Start(BuildRequest),
    Close,
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `K=V` pairs separated by commas or spaces.
fn build_args(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split([',', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("Build args: {w:?} is not KEY=VALUE")),
        })
        .collect()
}

impl Default for BuildDialog {
    fn default() -> BuildDialog {
        let mut fields: [TextInput; 5] = Default::default();
        fields[0] = TextInput::new(".");
        BuildDialog {
            fields,
            toggles: [false; 2],
            focus: 0,
            error: None,
            phase: BuildPhase::Editing,
            steps: Vec::new(),
            pulling: None,
        }
    }
}

impl BuildDialog {
    /// The request the fields describe, or what is wrong with them.
    pub fn request(&self) -> Result<BuildRequest, String> {
        let value = |i: usize| self.fields[i].value();
        let Some(context) = optional(value(0)) else { return Err("Context: give a directory".into()) };
        Ok(BuildRequest {
            context,
            dockerfile: optional(value(1)),
            tags: optional(value(2)).into_iter().collect(),
            build_args: build_args(value(3))?,
            target: optional(value(4)),
            no_cache: self.toggles[0],
            pull: self.toggles[1],
        })
    }

    /// The number of the build this dialog shows, once started.
    pub fn build(&self) -> Option<u64> {
        match &self.phase {
            BuildPhase::Editing => None,
            BuildPhase::Building { build } | BuildPhase::Done { build, .. } | BuildPhase::Failed { build, .. } => {
                Some(*build)
            }
        }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> BuildAction {
        if self.phase != BuildPhase::Editing {
            return match key.code {
                KeyCode::Esc | KeyCode::Enter => BuildAction::Close,
                _ => BuildAction::Nothing,
            };
        }
        // Tab order runs through the text fields, then the toggles; Space flips the focused toggle.
        let items = self.fields.len() + self.toggles.len();
        match key.code {
            KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1) % items;
                return BuildAction::Nothing;
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + items - 1) % items;
                return BuildAction::Nothing;
            }
            KeyCode::Char(' ') if self.focus >= self.fields.len() => {
                let toggle = &mut self.toggles[self.focus - self.fields.len()];
                *toggle = !*toggle;
                return BuildAction::Nothing;
            }
            KeyCode::Enter if self.focus >= self.fields.len() => {
                return match self.request() {
                    Ok(request) => BuildAction::Start(request),
                    Err(e) => {
                        self.error = Some(e);
                        BuildAction::Nothing
                    }
                };
            }
            KeyCode::Esc if self.focus >= self.fields.len() => return BuildAction::Close,
            _ if self.focus >= self.fields.len() => return BuildAction::Nothing,
            _ => {}
        }
        match form_key(&mut self.fields, &mut self.focus, &mut self.error, key) {
            FormKey::Submit => match self.request() {
                Ok(request) => return BuildAction::Start(request),
                Err(e) => self.error = Some(e),
            },
            FormKey::Cancel => return BuildAction::Close,
            FormKey::Handled => {}
        }
        BuildAction::Nothing
    }

    /// Starts showing build number `build`.
    pub fn started(&mut self, build: u64) {
        self.phase = BuildPhase::Building { build };
        self.error = None;
        self.steps.clear();
        self.pulling = None;
    }

    /// Records progress if it belongs to this dialog's build; true when it did.
    pub fn progress(&mut self, build: u64, progress: BuildProgress, now: DateTime<Utc>) -> bool {
        if self.build() != Some(build) {
            return false;
        }
        fn step(steps: &mut [BuildStep], number: usize) -> Option<&mut BuildStep> {
            steps.iter_mut().find(|s| s.number == number)
        }
        match progress {
            BuildProgress::Step { number, name } => {
                self.pulling = None;
                self.steps.push(BuildStep { number, name, state: StepState::Running { started: now }, output: vec![] })
            }
            BuildProgress::Cached { number } => {
                if let Some(s) = step(&mut self.steps, number) {
                    s.state = StepState::Cached;
                }
            }
            BuildProgress::Output { number, line } => {
                if let Some(s) = step(&mut self.steps, number) {
                    if s.output.len() == OUTPUT_KEPT {
                        s.output.remove(0);
                    }
                    s.output.push(line);
                }
            }
            BuildProgress::Done { number, seconds } => {
                if let Some(s) = step(&mut self.steps, number) {
                    s.state = StepState::Done { seconds };
                }
            }
            BuildProgress::Pulling { image } => self.pulling = Some(image),
        }
        true
    }

    /// The build ended. An error before any step began is about the input (a missing context, a bad
    /// Dockerfile or tag), so the fields come back with the message; a later one fails the running steps.
    pub fn finished(&mut self, result: Result<String, String>) {
        let Some(build) = self.build() else { return };
        self.pulling = None;
        self.phase = match result {
            Ok(image_id) => BuildPhase::Done { build, image_id },
            Err(error) if self.steps.is_empty() => {
                self.error = Some(error);
                BuildPhase::Editing
            }
            Err(error) => {
                for s in &mut self.steps {
                    if matches!(s.state, StepState::Running { .. }) {
                        s.state = StepState::Failed;
                    }
                }
                BuildPhase::Failed { build, error }
            }
        };
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, now: DateTime<Utc>) {
        let editing = self.phase == BuildPhase::Editing;
        let area = if editing {
            centered(area, 76, (FIELDS.len() + TOGGLES.len()) as u16 + 5)
        } else {
            centered(area, area.width.saturating_sub(4).max(76), area.height.saturating_sub(2))
        };
        frame.render_widget(Clear, area);
        let mut lines: Vec<Line> = FIELDS
            .iter()
            .zip(&self.fields)
            .enumerate()
            .map(|(i, ((label, hint), input))| {
                let focused = editing && i == self.focus;
                let label_style = if focused { theme.key() } else { theme.header() };
                let value = if input.value().is_empty() && !focused {
                    // Once the build runs, a hint would read as a value.
                    Span::styled(if editing { *hint } else { "" }, theme.muted())
                } else {
                    Span::raw(format!("{}{}", input.value(), if focused { "▏" } else { "" }))
                };
                Line::from(vec![Span::styled(format!("{label:>10}: "), label_style), value])
            })
            .collect();
        for (i, (label, on)) in TOGGLES.iter().zip(self.toggles).enumerate() {
            let focused = editing && self.focus == FIELDS.len() + i;
            let label_style = if focused { theme.key() } else { theme.header() };
            let mut spans =
                vec![Span::styled(format!("{label:>10}: "), label_style), Span::raw(if on { "[x]" } else { "[ ]" })];
            if focused {
                spans.push(Span::styled(" Space toggles", theme.muted()));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::default());
        let status = match (&self.phase, &self.error) {
            (BuildPhase::Editing, Some(e)) => Span::styled(e.clone(), theme.error()),
            (BuildPhase::Editing, None) => Span::styled("Tab next field · Enter builds · Esc cancels", theme.muted()),
            (BuildPhase::Building { .. }, _) => Span::styled(
                match &self.pulling {
                    Some(image) => format!("Pulling {image}… (Esc closes; the build goes on)"),
                    None => "Building… (Esc closes; the build goes on)".to_string(),
                },
                theme.base(),
            ),
            (BuildPhase::Done { image_id, .. }, _) => {
                Span::styled(format!("Built {} · Enter/Esc closes", short_id(image_id)), theme.ok())
            }
            (BuildPhase::Failed { .. }, _) => Span::styled("Build failed · Enter/Esc closes", theme.error()),
        };
        lines.push(Line::from(status));
        if !editing {
            lines.push(Line::default());
        }
        for step in &self.steps {
            lines.push(step_line(step, theme, now));
            let shows_output = matches!(step.state, StepState::Running { .. } | StepState::Failed);
            if shows_output {
                let tail = step.output.len().saturating_sub(OUTPUT_SHOWN);
                lines.extend(step.output[tail..].iter().map(|l| Line::styled(format!("      {l}"), theme.muted())));
            }
        }
        if let BuildPhase::Failed { error, .. } = &self.phase {
            lines.push(Line::default());
            lines.extend(error.lines().map(|l| Line::styled(l.to_string(), theme.error())));
        }
        // The newest lines matter most: scroll so the end shows, counting the rows wrapped lines take.
        let inner_width = area.width.saturating_sub(2).max(1) as usize;
        let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner_width)).sum();
        let scroll = rows.saturating_sub(area.height.saturating_sub(2) as usize) as u16;
        let paragraph = Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((if editing { 0 } else { scroll }, 0))
            .block(dialog_block(theme, "Build an image"));
        frame.render_widget(paragraph, area);
    }
}

fn step_line<'a>(step: &'a BuildStep, theme: &Theme, now: DateTime<Utc>) -> Line<'a> {
    let (mark, state, style) = match step.state {
        StepState::Running { started } => ("▶", format!("{}s", (now - started).num_seconds().max(0)), theme.key()),
        StepState::Cached => ("✓", "CACHED".to_string(), theme.muted()),
        StepState::Done { seconds } => ("✓", format!("DONE {seconds:.1}s"), theme.ok()),
        StepState::Failed => ("✗", "FAILED".to_string(), theme.error()),
    };
    Line::from(vec![
        Span::styled(format!("{mark} #{:<3}", step.number), style),
        Span::styled(format!("{state:>8}  "), style),
        Span::raw(step.name.as_str()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_split_on_commas_and_spaces() {
        assert_eq!(
            build_args("A=1, B=x=y C=").unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into()), ("C".into(), String::new())]
        );
        assert_eq!(build_args("A=1 B").unwrap_err(), "Build args: \"B\" is not KEY=VALUE");
        assert_eq!(build_args("=1").unwrap_err(), "Build args: \"=1\" is not KEY=VALUE");
    }
}
