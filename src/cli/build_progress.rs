//! `build --progress tty`: BuildKit's redrawn live view on a terminal. One line per step (`=> CACHED …`,
//! `=> [2/4] RUN …  0.8s`), the running step's last output lines under it (collapsed once it is done), a
//! `[+] Building 1.2s (4/7)` header; redrawn in place ten times a second. A failed step keeps its whole
//! output, printed below the final view as BuildKit does.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_engine::builder::BuildEvent;

/// How many of a running step's last output lines show under it (BuildKit shows 6).
const TAIL_LINES: usize = 6;

/// How often the view is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

struct Step {
    number: usize,
    name: String,
    started: Instant,
    cached: bool,
    done: Option<f64>,
    failed: bool,
    /// Every line the step printed: a failed step shows them all.
    output: Vec<String>,
}

/// The view's state, fed by build events and drawn on stderr.
struct View {
    started: Instant,
    planned: usize,
    pulling: Vec<String>,
    steps: Vec<Step>,
    /// Lines the last frame took, to move back over them.
    drawn: usize,
}

impl View {
    fn step(&mut self, number: usize) -> Option<&mut Step> {
        self.steps.iter_mut().find(|s| s.number == number)
    }

    fn update(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Planned { steps } => self.planned = steps,
            BuildEvent::Pulling { image } => self.pulling.push(image),
            BuildEvent::Step { number, name } => self.steps.push(Step {
                number,
                name,
                started: Instant::now(),
                cached: false,
                done: None,
                failed: false,
                output: Vec::new(),
            }),
            BuildEvent::Cached { number } => {
                if let Some(s) = self.step(number) {
                    s.cached = true;
                    s.done = Some(0.0);
                }
            }
            BuildEvent::Output { number, line } => {
                if let Some(s) = self.step(number) {
                    s.output.push(printable(&line));
                }
            }
            BuildEvent::Done { number, seconds } => {
                if let Some(s) = self.step(number) {
                    s.done = Some(seconds);
                }
            }
            BuildEvent::Failed { number } => {
                if let Some(s) = self.step(number) {
                    s.failed = true;
                    s.done = Some(s.started.elapsed().as_secs_f64());
                }
            }
        }
    }

    /// The frame's lines, at most `width - 1` characters each (so none wraps and the redraw counts right).
    fn frame(&self, width: usize, finished: bool) -> Vec<String> {
        let done = self.steps.iter().filter(|s| s.done.is_some() && !s.failed).count();
        let total = self.planned.max(self.steps.len());
        let mut header = format!("[+] Building {:.1}s ({done}/{total})", self.started.elapsed().as_secs_f64());
        if finished {
            header.push_str(if self.steps.iter().any(|s| s.failed) { " FAILED" } else { " FINISHED" });
        }
        let mut lines = vec![fit(&header, width)];
        for image in &self.pulling {
            lines.push(fit(&format!(" => pulling {image}"), width));
        }
        for s in &self.steps {
            let mark = match (s.cached, s.failed) {
                (true, _) => "CACHED ",
                (_, true) => "ERROR ",
                _ => "",
            };
            let seconds = s.done.unwrap_or_else(|| s.started.elapsed().as_secs_f64());
            lines.push(with_time(&format!(" => {mark}{}", s.name), &format!("{seconds:.1}s"), width));
            if s.done.is_none() {
                let from = s.output.len().saturating_sub(TAIL_LINES);
                for line in &s.output[from..] {
                    lines.push(fit(&format!(" => => # {line}"), width));
                }
            }
        }
        lines
    }

    /// Redraws over the last frame. While the build runs, a frame taller than the terminal drops its
    /// oldest step lines (the cursor cannot move above the screen); the final frame shows them all.
    fn draw(&mut self, out: &mut impl Write, finished: bool) {
        let (width, height) = terminal_size();
        let mut lines = self.frame(width, finished);
        if !finished && lines.len() >= height {
            let keep = height.saturating_sub(2).max(1);
            let tail = lines.split_off(lines.len() - keep);
            lines.truncate(1);
            lines.extend(tail);
        }
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in &lines {
            text.push_str("\r\x1b[2K");
            text.push_str(line);
            text.push('\n');
        }
        // Whatever the last frame had below this one.
        text.push_str("\x1b[J");
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.drawn = lines.len();
    }
}

/// A line with the time at the right edge, as BuildKit aligns it.
fn with_time(text: &str, time: &str, width: usize) -> String {
    let room = width.saturating_sub(1 + time.len() + 1);
    let text = fit(text, room + 1);
    let pad = room.saturating_sub(text.chars().count());
    format!("{text}{} {time}", " ".repeat(pad))
}

/// The line cut to fit `width - 1` columns.
fn fit(text: &str, width: usize) -> String {
    let max = width.saturating_sub(1);
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max).collect()
}

/// A command's output line with control characters (escapes, carriage returns) made visible as spaces,
/// so they cannot move the cursor under the view.
fn printable(line: &str) -> String {
    line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn terminal_size() -> (usize, usize) {
    match rustix::termios::tcgetwinsize(std::io::stderr()) {
        Ok(size) if size.ws_col > 0 && size.ws_row > 0 => (size.ws_col as usize, size.ws_row as usize),
        _ => (80, 24),
    }
}

/// The live view of one build: events go in through `event`, a task redraws it until `finish`.
pub struct TtyView {
    view: Arc<Mutex<View>>,
    redraw: tokio::task::JoinHandle<()>,
}

impl TtyView {
    pub fn start() -> TtyView {
        let view = Arc::new(Mutex::new(View {
            started: Instant::now(),
            planned: 0,
            pulling: Vec::new(),
            steps: Vec::new(),
            drawn: 0,
        }));
        let drawing = view.clone();
        let redraw = tokio::spawn(async move {
            loop {
                drawing.lock().unwrap_or_else(|e| e.into_inner()).draw(&mut std::io::stderr().lock(), false);
                tokio::time::sleep(REDRAW).await;
            }
        });
        TtyView { view, redraw }
    }

    /// A handle the build's progress callback feeds.
    pub fn sink(&self) -> impl Fn(BuildEvent) + Send + Sync + 'static {
        let view = self.view.clone();
        move |event| view.lock().unwrap_or_else(|e| e.into_inner()).update(event)
    }

    /// Draws the final frame; after a failure, the failed steps' whole output below it.
    pub fn finish(self) {
        self.redraw.abort();
        let mut view = self.view.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        view.draw(&mut err, true);
        for s in view.steps.iter().filter(|s| s.failed && !s.output.is_empty()) {
            let _ = writeln!(err, "------\n > {}:", s.name);
            for line in &s.output {
                let _ = writeln!(err, "{line}");
            }
            let _ = writeln!(err, "------");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View { started: Instant::now(), planned: 3, pulling: Vec::new(), steps: Vec::new(), drawn: 0 }
    }

    #[test]
    fn bbr_running_step_shows_its_last_lines_and_collapses_when_done() {
        let mut v = view();
        v.update(BuildEvent::Step { number: 1, name: "[stage-0 1/3] COPY a /a".into() });
        v.update(BuildEvent::Cached { number: 1 });
        v.update(BuildEvent::Step { number: 2, name: "[stage-0 2/3] RUN make".into() });
        for i in 0..8 {
            v.update(BuildEvent::Output { number: 2, line: format!("out-{i}\x1b[31m") });
        }
        let frame = v.frame(60, false);
        assert!(frame[0].starts_with("[+] Building ") && frame[0].ends_with("(1/3)"), "{frame:?}");
        assert!(frame[1].starts_with(" => CACHED [stage-0 1/3] COPY a /a") && frame[1].ends_with("0.0s"), "{frame:?}");
        assert!(frame[2].starts_with(" => [stage-0 2/3] RUN make "), "{frame:?}");
        // The last six lines, escapes made harmless.
        assert_eq!(frame[3..], [2, 3, 4, 5, 6, 7].map(|i| format!(" => => # out-{i} [31m")), "{frame:?}");
        assert!(frame.iter().all(|l| l.chars().count() < 60), "{frame:?}");
        v.update(BuildEvent::Done { number: 2, seconds: 1.25 });
        let frame = v.frame(60, true);
        assert_eq!(frame.len(), 3, "{frame:?}");
        assert!(frame[0].ends_with("(2/3) FINISHED"), "{frame:?}");
        assert!(frame[2].ends_with(" 1.2s") || frame[2].ends_with(" 1.3s"), "{frame:?}");
    }

    #[test]
    fn bbr_failed_step_is_marked_and_the_header_says_so() {
        let mut v = view();
        v.update(BuildEvent::Step { number: 1, name: "[stage-0 1/1] RUN false".into() });
        v.update(BuildEvent::Output { number: 1, line: "boom".into() });
        v.update(BuildEvent::Failed { number: 1 });
        let frame = v.frame(80, true);
        assert!(frame[0].ends_with("(0/3) FAILED"), "{frame:?}");
        assert!(frame[1].starts_with(" => ERROR [stage-0 1/1] RUN false"), "{frame:?}");
        assert_eq!(frame.len(), 2, "{frame:?}");
    }

    #[test]
    fn bbr_redraw_moves_back_over_the_last_frame() {
        let mut v = view();
        v.update(BuildEvent::Step { number: 1, name: "[stage-0 1/3] ENV A=1".into() });
        let mut out = Vec::new();
        v.draw(&mut out, false);
        assert!(!String::from_utf8_lossy(&out).contains("\x1b[2A"));
        let mut out = Vec::new();
        v.draw(&mut out, false);
        assert!(String::from_utf8_lossy(&out).starts_with("\x1b[2A"), "{:?}", String::from_utf8_lossy(&out));
    }
}
