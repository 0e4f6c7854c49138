//! The live keymap: defaults patched by the user's `[keys]` table, checked for clashes. Help and the status
//! bar read it, so what they show is what the keys do.

mod command;
mod key;

use std::collections::{BTreeMap, HashMap};

pub use command::{Command, Scope};
pub use key::{Key, KeyName, KeyParseError};
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeymapError {
    #[error("[keys] {name:?} is not a berth command; known commands: {known}")]
    UnknownCommand { name: String, known: String },
    #[error("[keys] {command}: {source}")]
    BadKey { command: &'static str, source: KeyParseError },
    #[error("[keys] {command}: give at least one key (an empty list would leave the command unreachable)")]
    NoKeys { command: &'static str },
    #[error("key {key} is bound to both {first} and {second} ({scope}); change one of them in [keys]")]
    Clash { key: String, first: &'static str, second: &'static str, scope: &'static str },
}

/// One key or several, as the config file may give either.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Command, Vec<Key>>,
    lookup: HashMap<(Scope, Key), Command>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        let keys = Command::ALL.iter().map(|c| (*c, c.default_keys())).collect();
        Keymap::build(keys).expect("the default keymap has no clashes (checked by a test)")
    }
}

impl Keymap {
    /// The defaults with the user's overrides; a command named in `overrides` keeps only the keys given there.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyList>) -> Result<Keymap, KeymapError> {
        let mut keys: BTreeMap<Command, Vec<Key>> = Command::ALL.iter().map(|c| (*c, c.default_keys())).collect();
        for (name, list) in overrides {
            let command =
                Command::ALL.iter().copied().find(|c| c.name() == name).ok_or_else(|| KeymapError::UnknownCommand {
                    name: name.clone(),
                    known: Command::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
                })?;
            let texts = match list {
                KeyList::One(text) => vec![text.clone()],
                KeyList::Many(texts) => texts.clone(),
            };
            if texts.is_empty() {
                return Err(KeymapError::NoKeys { command: command.name() });
            }
            let parsed = texts
                .iter()
                .map(|t| t.parse::<Key>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| KeymapError::BadKey { command: command.name(), source })?;
            keys.insert(command, parsed);
        }
        Keymap::build(keys)
    }

    fn build(keys: BTreeMap<Command, Vec<Key>>) -> Result<Keymap, KeymapError> {
        let mut lookup = HashMap::new();
        let bound: Vec<(Command, Key)> = keys.iter().flat_map(|(c, ks)| ks.iter().map(move |k| (*c, *k))).collect();
        for (i, (first, key)) in bound.iter().enumerate() {
            for (second, other) in &bound[i + 1..] {
                if key == other && first != second && first.scope().overlaps(second.scope()) {
                    let scope = if first.scope() == Scope::Global { second.scope() } else { first.scope() };
                    return Err(KeymapError::Clash {
                        key: key.to_string(),
                        first: first.name(),
                        second: second.name(),
                        scope: scope.name(),
                    });
                }
            }
            lookup.insert((first.scope(), *key), *first);
        }
        Ok(Keymap { keys, lookup })
    }

    /// The command `key` means in the focused context: the most specific scope wins, global last.
    pub fn command(&self, key: Key, scopes: &[Scope]) -> Option<Command> {
        scopes.iter().chain([Scope::Global].iter()).find_map(|s| self.lookup.get(&(*s, key)).copied())
    }

    pub fn keys(&self, command: Command) -> &[Key] {
        self.keys.get(&command).map_or(&[], |k| k.as_slice())
    }

    /// The keys of a command as help shows them (`j/down`).
    pub fn label(&self, command: Command) -> String {
        self.keys(command).iter().map(|k| k.to_string()).collect::<Vec<_>>().join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, KeyList)]) -> BTreeMap<String, KeyList> {
        pairs.iter().map(|(n, k)| (n.to_string(), k.clone())).collect()
    }

    #[test]
    fn defaults_have_no_clash() {
        Keymap::with_overrides(&BTreeMap::new()).unwrap();
    }

    #[test]
    fn the_most_specific_scope_wins() {
        let map = Keymap::default();
        assert_eq!(map.command(Key::ch('p'), &[Scope::Containers, Scope::List]), Some(Command::PauseToggle));
        assert_eq!(map.command(Key::ch('p'), &[Scope::Images, Scope::List]), Some(Command::Pull));
        assert_eq!(map.command(Key::ch('j'), &[Scope::Images, Scope::List]), Some(Command::Down));
        assert_eq!(map.command(Key::ch('q'), &[Scope::Images]), Some(Command::Quit));
        assert_eq!(map.command(Key::ch('p'), &[Scope::Shell]), None);
    }

    #[test]
    fn an_override_replaces_only_that_command() {
        let map = Keymap::with_overrides(&overrides(&[("quit", KeyList::One("ctrl-q".into()))])).unwrap();
        assert_eq!(map.command(Key::ctrl('q'), &[]), Some(Command::Quit));
        assert_eq!(map.command(Key::ch('q'), &[]), None);
        assert_eq!(map.label(Command::Help), "?/F1");
    }

    #[test]
    fn several_keys_for_one_command() {
        let map =
            Keymap::with_overrides(&overrides(&[("kill", KeyList::Many(vec!["K".into(), "ctrl-k".into()]))])).unwrap();
        assert_eq!(map.label(Command::Kill), "K/ctrl-k");
    }

    #[test]
    fn unknown_command_is_named() {
        let err = Keymap::with_overrides(&overrides(&[("explode", KeyList::One("x".into()))])).unwrap_err();
        assert!(matches!(&err, KeymapError::UnknownCommand { name, .. } if name == "explode"));
        assert!(err.to_string().contains("quit"), "{err}");
    }

    #[test]
    fn bad_key_names_the_command_and_the_text() {
        let err = Keymap::with_overrides(&overrides(&[("stop", KeyList::One("meta-s".into()))])).unwrap_err();
        assert_eq!(err.to_string().split(':').next(), Some("[keys] stop"));
        assert!(err.to_string().contains("\"meta-s\""), "{err}");
    }

    #[test]
    fn empty_list_is_refused() {
        let err = Keymap::with_overrides(&overrides(&[("stop", KeyList::Many(vec![]))])).unwrap_err();
        assert_eq!(err, KeymapError::NoKeys { command: "stop" });
    }

    #[test]
    fn clash_in_one_scope() {
        let err = Keymap::with_overrides(&overrides(&[("kill", KeyList::One("s".into()))])).unwrap_err();
        assert_eq!(err, KeymapError::Clash { key: "s".into(), first: "start", second: "kill", scope: "containers" });
        assert!(err.to_string().contains("key s is bound to both start and kill"), "{err}");
    }

    #[test]
    fn clash_between_global_and_a_pane() {
        let err = Keymap::with_overrides(&overrides(&[("help", KeyList::One("X".into()))])).unwrap_err();
        assert!(matches!(err, KeymapError::Clash { first: "help", second: "prune", scope: "images", .. }), "{err}");
    }

    #[test]
    fn clash_between_list_keys_and_a_list_pane() {
        let err = Keymap::with_overrides(&overrides(&[("down", KeyList::One("w".into()))])).unwrap_err();
        assert!(matches!(err, KeymapError::Clash { second: "wrap", .. }), "{err}");
    }

    #[test]
    fn same_key_in_separate_panes_is_fine() {
        let map = Keymap::with_overrides(&overrides(&[("prune", KeyList::One("s".into()))])).unwrap();
        assert_eq!(map.command(Key::ch('s'), &[Scope::Images]), Some(Command::Prune));
        assert_eq!(map.command(Key::ch('s'), &[Scope::Containers]), Some(Command::Start));
    }

    #[test]
    fn swapping_two_keys_is_not_a_clash() {
        let map = Keymap::with_overrides(&overrides(&[
            ("start", KeyList::One("S".into())),
            ("stop", KeyList::One("s".into())),
        ]))
        .unwrap();
        assert_eq!(map.command(Key::ch('s'), &[Scope::Containers]), Some(Command::Stop));
    }
}
