//! Raw mode and the alternate screen, undone on every exit: normal return, error (the guard's Drop) and panic
//! (a hook that restores before the panic message prints).

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

pub type Tty = Terminal<CrosstermBackend<Stdout>>;

static HOOK: Once = Once::new();

/// Restores the terminal when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal in raw mode on the alternate screen; the guard undoes it.
pub fn enter(mouse: bool) -> io::Result<(Tty, Guard)> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
    enable_raw_mode()?;
    let guard = Guard;
    let mut stdout = io::stdout();
    execute!(stdout, EnterAlternateScreen)?;
    set_mouse(mouse)?;
    // A fixed viewport, resized on the terminal's resize events: a full-screen one asks the terminal its size
    // (opening /dev/tty) before every frame.
    let backend = CrosstermBackend::new(stdout);
    let size = backend.size()?;
    let viewport = Viewport::Fixed(Rect::new(0, 0, size.width, size.height));
    let terminal = Terminal::with_options(backend, TerminalOptions { viewport })?;
    Ok((terminal, guard))
}

pub fn set_mouse(on: bool) -> io::Result<()> {
    if on { execute!(io::stdout(), EnableMouseCapture) } else { execute!(io::stdout(), DisableMouseCapture) }
}

/// Puts `text` on the clipboard of the terminal (and of one reached over ssh) with OSC 52.
pub fn copy_to_clipboard(text: &str) -> io::Result<()> {
    use base64::Engine;
    use std::io::Write;
    let mut stdout = io::stdout();
    write!(stdout, "{}", osc52(&base64::engine::general_purpose::STANDARD.encode(text)))?;
    stdout.flush()
}

/// The OSC 52 sequence setting the clipboard to already encoded text.
fn osc52(encoded: &str) -> String {
    format!("\x1b]52;c;{encoded}\x07")
}

/// Best effort: each step runs even when an earlier one fails, since this runs on the way out.
fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(stdout, DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = disable_raw_mode();
}
