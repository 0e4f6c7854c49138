//! The user's terminal during an interactive session: raw mode restored on every exit path (drop, panic,
//! signals handled by the session loop), the window size, and Docker's detach keys.

use anyhow::bail;

/// Docker's default detach sequence, Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Raw mode on the user's terminal while alive. Ctrl-C then arrives as a byte for the container.
pub struct RawMode {
    active: bool,
}

impl RawMode {
    /// Enters raw mode when stdin is a terminal; a no-op otherwise (input piped from a file or a test).
    pub fn enter() -> anyhow::Result<RawMode> {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Ok(RawMode { active: false });
        }
        install_panic_restore();
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode { active: true })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.active {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// A panic while raw mode is on restores the terminal before the panic message prints.
fn install_panic_restore() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::terminal::disable_raw_mode();
            previous(info);
        }));
    });
}

/// The user's terminal size as (cols, rows), when stdout is a terminal.
pub fn window_size() -> Option<(u16, u16)> {
    crossterm::terminal::size().ok().filter(|(c, r)| *c > 0 && *r > 0)
}

/// Parses Docker's `--detach-keys` syntax: comma-separated keys, each a single character or `ctrl-X`
/// where X is a letter or one of `@[\]^_`.
pub fn parse_detach_keys(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut keys = Vec::new();
    for key in text.split(',') {
        let lower = key.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("ctrl-") {
            let code = match rest.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => bail!("invalid detach keys {text:?}: unknown key {key:?}"),
            };
            keys.push(code);
        } else if key.len() == 1 {
            keys.push(key.as_bytes()[0]);
        } else {
            bail!("invalid detach keys {text:?}: unknown key {key:?}");
        }
    }
    Ok(keys)
}

/// Watches input for the detach sequence: bytes that may start it are held back until it is complete
/// (detach) or broken (they are sent after all).
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> DetachScanner {
        DetachScanner { keys, matched: 0 }
    }

    /// The bytes to forward now, and whether the user asked to detach.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,x,ctrl-@,ctrl-_").unwrap(), vec![1, b'x', 0, 31]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("meta-x").is_err());
    }

    #[test]
    fn scanner_holds_back_a_partial_sequence() {
        let mut s = DetachScanner::new(vec![0x10, 0x11]);
        assert_eq!(s.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        // Ctrl-P then something else: both are sent after all.
        assert_eq!(s.feed(&[0x10]), (vec![], false));
        assert_eq!(s.feed(b"a"), (vec![0x10, b'a'], false));
        // Ctrl-P Ctrl-P Ctrl-Q: the first Ctrl-P is sent, the pair detaches.
        assert_eq!(s.feed(&[0x10, 0x10, 0x11]), (vec![0x10], true));
        // Split over two reads.
        assert_eq!(s.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(s.feed(b"\x11"), (vec![], true));
    }
}
