//! The Stats pane: CPU, memory, network and block I/O of the selected container, with a few minutes of history
//! per container (kept while the selection moves elsewhere) and each chart's scale.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Wrap};

use super::{Ctx, ListState, pane_block};
use crate::backend::StatsSample;
use berth_engine::display;

/// Samples kept (about one a second).
pub const HISTORY: usize = 300;

/// Containers whose history is kept besides the shown one; the longest unseen goes first.
pub const KEPT: usize = 16;

#[derive(Debug, Default)]
pub struct StatsPane {
    pub container: Option<(String, String)>,
    pub samples: VecDeque<StatsSample>,
    /// Other containers' samples, by ID, most recently shown last.
    kept: VecDeque<(String, VecDeque<StatsSample>)>,
    /// Whether the shown container had processes at the last list refresh: a start is seen as a change.
    pub up: Option<bool>,
    pub error: Option<String>,
    /// How many samples a chart showed when last drawn (its width), to tell whether a new one moves anything.
    drawn: std::cell::Cell<usize>,
}

impl StatsPane {
    /// Shows another container: the shown one's history is kept, and the new one's taken up again.
    pub fn open(&mut self, id: &str, name: &str) {
        if let Some((old, _)) = self.container.take() {
            self.kept.push_back((old, std::mem::take(&mut self.samples)));
        }
        if let Some(at) = self.kept.iter().position(|(k, _)| k == id) {
            self.samples = self.kept.remove(at).map(|(_, s)| s).unwrap_or_default();
        }
        while self.kept.len() > KEPT {
            self.kept.pop_front();
        }
        self.container = Some((id.into(), name.into()));
        self.error = None;
        self.up = None;
    }

    /// Adds a sample; false when the charts as last drawn would look the same (an idle container's flat
    /// lines and unchanged figures), so no redraw is needed.
    pub fn push(&mut self, sample: StatsSample) -> bool {
        let width = self.drawn.get();
        let before = self.view(width);
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        width == 0 || self.view(width) != before
    }

    /// What the charts show when `width` samples fit: each one's title and the values drawn.
    fn view(&self, width: usize) -> Vec<(String, Vec<u64>)> {
        let Some(charts) = self.charts() else { return Vec::new() };
        charts.into_iter().map(|(title, data, _)| (title, data[data.len().saturating_sub(width)..].to_vec())).collect()
    }

    /// Per-interval deltas of a cumulative counter, for rate charts.
    fn rates(&self, counter: fn(&StatsSample) -> u64) -> Vec<u64> {
        let values: Vec<u64> = self.samples.iter().map(counter).collect();
        values.windows(2).map(|w| w[1].saturating_sub(w[0])).collect()
    }

    /// Each chart's title (the newest figures), its values (the history) and what they measure.
    fn charts(&self) -> Option<[(String, Vec<u64>, Scale); 4]> {
        let last = self.samples.back()?;
        let rx = self.rates(|s| s.net_rx);
        let tx = self.rates(|s| s.net_tx);
        let read = self.rates(|s| s.block_read);
        let write = self.rates(|s| s.block_write);
        let mem_limit =
            if last.memory_limit > 0 { format!(" / {}", display::memory(last.memory_limit)) } else { String::new() };
        Some([
            (
                format!("CPU {:.1}%", last.cpu_percent),
                self.samples.iter().map(|s| (s.cpu_percent * 10.0) as u64).collect(),
                Scale::Percent,
            ),
            (
                format!("MEM {}{mem_limit}", display::memory(last.memory_bytes)),
                self.samples.iter().map(|s| s.memory_bytes).collect(),
                Scale::Memory,
            ),
            (
                format!(
                    "NET ↓{}/s ↑{}/s",
                    display::size(rx.last().copied().unwrap_or(0)),
                    display::size(tx.last().copied().unwrap_or(0))
                ),
                rx.iter().zip(&tx).map(|(a, b)| a + b).collect(),
                Scale::Rate,
            ),
            (
                format!(
                    "IO r {}/s w {}/s",
                    display::size(read.last().copied().unwrap_or(0)),
                    display::size(write.last().copied().unwrap_or(0))
                ),
                read.iter().zip(&write).map(|(a, b)| a + b).collect(),
                Scale::Rate,
            ),
        ])
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let name = self.container.as_ref().map_or("", |(_, n)| n.as_str());
        let block = pane_block(ctx, &format!(" Stats {name} "), &ListState::default());
        let message = match (&self.error, self.samples.back()) {
            (Some(e), _) => Some((e.as_str(), ctx.theme.error())),
            (None, None) if self.container.is_none() => {
                Some(("Select a container to see its stats.", ctx.theme.muted()))
            }
            (None, None) => Some(("Waiting for the first sample…", ctx.theme.muted())),
            _ => None,
        };
        if let Some((text, style)) = message {
            frame.render_widget(Paragraph::new(text).style(style).wrap(Wrap { trim: true }).block(block), area);
            return;
        }
        let Some(charts) = self.charts() else { return };
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let areas = Layout::vertical([Constraint::Fill(1); 4]).split(inner);
        for ((title, data, scale), chart_area) in charts.into_iter().zip(areas.iter()) {
            // Newest samples on the right: show only as many as fit.
            self.drawn.set(usize::from(chart_area.width));
            let skip = data.len().saturating_sub(chart_area.width as usize);
            let shown = &data[skip..];
            // A sparkline's top is the largest value it shows: that is the scale, said at the right.
            let top = Line::from(Span::styled(
                format!("▲ {}", scale.label(shown.iter().copied().max().unwrap_or(0))),
                ctx.theme.muted(),
            ))
            .right_aligned();
            let sparkline = Sparkline::default()
                .block(
                    Block::default().borders(Borders::NONE).title(Span::styled(title, ctx.theme.header())).title(top),
                )
                .data(shown)
                .style(ctx.theme.base().fg(ctx.theme.colors.gauge));
            frame.render_widget(sparkline, *chart_area);
        }
    }
}

/// What a chart's values are, for its scale's label.
#[derive(Debug, Clone, Copy)]
enum Scale {
    /// Tenths of a percent.
    Percent,
    Memory,
    /// Bytes a second.
    Rate,
}

impl Scale {
    fn label(self, value: u64) -> String {
        match self {
            Scale::Percent => format!("{:.1}%", value as f64 / 10.0),
            Scale::Memory => display::memory(value),
            Scale::Rate => format!("{}/s", display::size(value)),
        }
    }
}

/// A sample of a container whose only moving counter is the bytes received, `rx` so far.
#[cfg(test)]
pub(crate) fn sample(rx: u64) -> StatsSample {
    StatsSample {
        cpu_percent: 1.0,
        memory_bytes: 1,
        memory_limit: 0,
        net_rx: rx,
        net_tx: 0,
        block_read: 0,
        block_write: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_rates_are_deltas() {
        let mut stats = StatsPane::default();
        for i in 0..HISTORY as u64 + 5 {
            stats.push(sample(i * 100));
        }
        assert_eq!(stats.samples.len(), HISTORY);
        assert!(stats.rates(|s| s.net_rx).iter().all(|r| *r == 100));
    }

    #[test]
    fn each_containers_history_is_kept_while_another_shows() {
        let mut stats = StatsPane::default();
        stats.open("a", "web");
        stats.push(sample(1));
        stats.push(sample(2));
        stats.open("b", "db");
        assert!(stats.samples.is_empty());
        stats.push(sample(9));
        stats.open("a", "web");
        assert_eq!(stats.samples.iter().map(|s| s.net_rx).collect::<Vec<_>>(), [1, 2]);
        for n in 0..KEPT + 3 {
            stats.open(&n.to_string(), "other");
            stats.push(sample(0));
        }
        assert!(stats.kept.len() <= KEPT, "bounded");
    }
}
