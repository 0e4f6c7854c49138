//! One key with its modifiers, written the way users type it in the config file (`ctrl-d`, `G`, `pgdn`).

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyName,
    pub ctrl: bool,
    pub alt: bool,
}

/// The keys berth binds; shifted letters are their capitals, so `G` and `shift-g` are one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyName {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

const NAMED: &[(&str, KeyName)] = &[
    ("enter", KeyName::Enter),
    ("esc", KeyName::Esc),
    ("tab", KeyName::Tab),
    ("backtab", KeyName::BackTab),
    ("backspace", KeyName::Backspace),
    ("delete", KeyName::Delete),
    ("insert", KeyName::Insert),
    ("up", KeyName::Up),
    ("down", KeyName::Down),
    ("left", KeyName::Left),
    ("right", KeyName::Right),
    ("home", KeyName::Home),
    ("end", KeyName::End),
    ("pgup", KeyName::PageUp),
    ("pgdn", KeyName::PageDown),
    ("space", KeyName::Char(' ')),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {text:?}: use a character, F1-F12, {named}, optionally prefixed by ctrl-, alt- or shift-", named = NAMED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
pub struct KeyParseError {
    pub text: String,
}

impl Key {
    pub const fn plain(code: KeyName) -> Key {
        Key { code, ctrl: false, alt: false }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyName::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key { code: KeyName::Char(c), ctrl: true, alt: false }
    }

    /// The binding a terminal key press matches; None for keys berth never binds (media keys, modifiers).
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let alt = event.modifiers.contains(KeyModifiers::ALT);
        let code = match event.code {
            KeyCode::Char(c) if ctrl || alt => KeyName::Char(c.to_ascii_lowercase()),
            KeyCode::Char(c) => KeyName::Char(c),
            KeyCode::F(n) => KeyName::F(n),
            KeyCode::Enter => KeyName::Enter,
            KeyCode::Esc => KeyName::Esc,
            KeyCode::Tab if event.modifiers.contains(KeyModifiers::SHIFT) => KeyName::BackTab,
            KeyCode::Tab => KeyName::Tab,
            KeyCode::BackTab => KeyName::BackTab,
            KeyCode::Backspace => KeyName::Backspace,
            KeyCode::Delete => KeyName::Delete,
            KeyCode::Insert => KeyName::Insert,
            KeyCode::Up => KeyName::Up,
            KeyCode::Down => KeyName::Down,
            KeyCode::Left => KeyName::Left,
            KeyCode::Right => KeyName::Right,
            KeyCode::Home => KeyName::Home,
            KeyCode::End => KeyName::End,
            KeyCode::PageUp => KeyName::PageUp,
            KeyCode::PageDown => KeyName::PageDown,
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }
}

impl FromStr for Key {
    type Err = KeyParseError;

    fn from_str(text: &str) -> Result<Key, KeyParseError> {
        let err = || KeyParseError { text: text.to_string() };
        let mut key = Key::plain(KeyName::Esc);
        let mut shift = false;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                key.ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                key.alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("shift-").filter(|r| !r.is_empty()) {
                shift = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        key.code = match (chars.next(), chars.next()) {
            (Some(c), None) if key.ctrl || key.alt => KeyName::Char(c.to_ascii_lowercase()),
            (Some(c), None) if shift => KeyName::Char(c.to_ascii_uppercase()),
            (Some(c), None) => KeyName::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some(n) =
                    lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()).filter(|n| (1..=12).contains(n))
                {
                    KeyName::F(n)
                } else {
                    let named = NAMED.iter().find(|(name, _)| *name == lower).map(|(_, k)| *k).ok_or_else(err)?;
                    if shift && named == KeyName::Tab { KeyName::BackTab } else { named }
                }
            }
        };
        Ok(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyName::Char(' ') => f.write_str("space"),
            KeyName::Char(c) => write!(f, "{c}"),
            KeyName::F(n) => write!(f, "F{n}"),
            other => {
                let name = NAMED.iter().find(|(_, k)| *k == other).map_or("?", |(n, _)| *n);
                f.write_str(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_write() {
        assert_eq!("q".parse(), Ok(Key::ch('q')));
        assert_eq!("G".parse(), Ok(Key::ch('G')));
        assert_eq!("shift-g".parse(), Ok(Key::ch('G')));
        assert_eq!("ctrl-d".parse(), Ok(Key::ctrl('d')));
        assert_eq!("Ctrl-D".parse(), Ok(Key::ctrl('d')));
        assert_eq!("pgdn".parse(), Ok(Key::plain(KeyName::PageDown)));
        assert_eq!("F1".parse(), Ok(Key::plain(KeyName::F(1))));
        assert_eq!("shift-tab".parse(), Ok(Key::plain(KeyName::BackTab)));
        assert_eq!("space".parse(), Ok(Key::ch(' ')));
        assert_eq!("-".parse(), Ok(Key::ch('-')));
    }

    #[test]
    fn rejects_unknown_names_with_the_text() {
        let err = "hyper-x".parse::<Key>().unwrap_err();
        assert_eq!(err.text, "hyper-x");
        assert!(err.to_string().contains("pgdn"), "{err}");
        assert!("f13".parse::<Key>().is_err());
        assert!("".parse::<Key>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in ["q", "G", "ctrl-d", "alt-x", "enter", "F5", "space", "backtab"] {
            let key: Key = text.parse().unwrap();
            assert_eq!(key.to_string().parse::<Key>().unwrap(), key, "{text}");
        }
    }

    #[test]
    fn events_match_bindings() {
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&shift_g), Some(Key::ch('G')));
        let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ctrl_d), Some(Key::ctrl('d')));
        let back = KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&back), Some(Key::plain(KeyName::BackTab)));
    }
}
