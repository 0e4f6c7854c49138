//! The Operations pane: what was done from this UI and what failed, newest last, bounded. A berth command run
//! from `:` shows the tail of its output under its entry.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, ListState, pane_block};

/// Entries kept.
pub const MAX_ENTRIES: usize = 500;

/// Output lines kept per entry (the last ones: where an error says why); the output view holds the rest.
pub const MAX_OUTPUT_LINES: usize = 20;

/// Output lines sit under the entry's text, past its time and mark.
const OUTPUT_INDENT: &str = "           ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub time: DateTime<Utc>,
    pub outcome: Outcome,
    pub text: String,
    /// What the operation printed, at most [`MAX_OUTPUT_LINES`] (a first line counts those left out).
    pub output: Vec<String>,
}

#[derive(Debug, Default)]
pub struct OperationsPane {
    pub entries: VecDeque<Operation>,
}

impl OperationsPane {
    pub fn record(&mut self, time: DateTime<Utc>, outcome: Outcome, text: impl Into<String>) {
        self.record_output(time, outcome, text, Vec::new());
    }

    /// An entry with the last [`MAX_OUTPUT_LINES`] lines of `output` under it.
    pub fn record_output(
        &mut self,
        time: DateTime<Utc>,
        outcome: Outcome,
        text: impl Into<String>,
        output: Vec<String>,
    ) {
        if self.entries.len() == MAX_ENTRIES {
            self.entries.pop_front();
        }
        let output = match output.len().checked_sub(MAX_OUTPUT_LINES) {
            Some(earlier) if earlier > 0 => std::iter::once(format!("… {} earlier lines", earlier + 1))
                .chain(output.into_iter().skip(earlier + 1))
                .collect(),
            _ => output,
        };
        self.entries.push_back(Operation { time, outcome, text: text.into(), output });
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let block = pane_block(ctx, &format!(" Operations ({}) ", self.entries.len()), &ListState::default());
        let height = area.height.saturating_sub(2) as usize;
        // Newest last: entries are laid out from the newest back until the pane is full.
        let mut lines: Vec<Line> = Vec::new();
        for op in self.entries.iter().rev() {
            if lines.len() >= height {
                break;
            }
            let (mark, style) = match op.outcome {
                Outcome::Started => ("…", ctx.theme.muted()),
                Outcome::Done => ("✓", ctx.theme.ok()),
                Outcome::Failed => ("✗", ctx.theme.error()),
            };
            for text in op.output.iter().rev() {
                lines.push(Line::from(vec![Span::raw(OUTPUT_INDENT), Span::styled(text.as_str(), ctx.theme.muted())]));
            }
            lines.push(Line::from(vec![
                Span::styled(op.time.format("%H:%M:%S ").to_string(), ctx.theme.muted()),
                Span::styled(format!("{mark} "), style),
                Span::styled(op.text.as_str(), if op.outcome == Outcome::Failed { style } else { ctx.theme.base() }),
            ]));
        }
        lines.truncate(height);
        lines.reverse();
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded() {
        let mut ops = OperationsPane::default();
        for i in 0..MAX_ENTRIES + 3 {
            ops.record(Utc::now(), Outcome::Done, format!("op {i}"));
        }
        assert_eq!(ops.entries.len(), MAX_ENTRIES);
        assert_eq!(ops.entries[0].text, "op 3");
    }

    #[test]
    fn output_keeps_its_last_lines_and_counts_the_rest() {
        let mut ops = OperationsPane::default();
        let lines = |n: usize| (1..=n).map(|i| format!("line {i}")).collect::<Vec<_>>();
        ops.record_output(Utc::now(), Outcome::Done, "short", lines(MAX_OUTPUT_LINES));
        assert_eq!(ops.entries[0].output, lines(MAX_OUTPUT_LINES));
        ops.record_output(Utc::now(), Outcome::Failed, "long", lines(MAX_OUTPUT_LINES + 5));
        let kept = &ops.entries[1].output;
        assert_eq!(kept.len(), MAX_OUTPUT_LINES);
        assert_eq!(kept[0], "… 6 earlier lines");
        assert_eq!(kept[1], "line 7");
        assert_eq!(kept.last().unwrap(), &format!("line {}", MAX_OUTPUT_LINES + 5));
    }
}
