//! Colour themes from `themes/*.toml`: the three shipped ones are built in, users add their own in
//! `$XDG_CONFIG_HOME/berth/themes/`, and `--theme` takes a name or a path.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use thiserror::Error;

use crate::backend::ContainerState;

/// The shipped themes, so an installed binary needs no data files.
const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

#[derive(Debug, Error)]
pub enum ThemeError {
    #[error("theme file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("theme {origin} is not valid: {message}")]
    Parse { origin: String, message: String },
    #[error(
        "theme {origin}: colour {field} = {value:?} is not a colour (use a name like \"lightblue\", \"#rrggbb\" or 0-255)"
    )]
    BadColor { origin: String, field: &'static str, value: String },
    #[error("no theme named {name:?}; available: {available}")]
    Unknown { name: String, available: String },
}

macro_rules! theme_colors {
    ($($field:ident),* $(,)?) => {
        /// The colours of a theme, one per role the UI draws.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Colors { $(pub $field: Color),* }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ColorsFile { $($field: String),* }

        impl ColorsFile {
            fn parse(self, origin: &str) -> Result<Colors, ThemeError> {
                Ok(Colors { $($field: color(origin, stringify!($field), &self.$field)?),* })
            }
        }
    };
}

theme_colors!(
    text,
    muted,
    background,
    accent,
    border,
    border_focused,
    selected_fg,
    selected_bg,
    marked,
    header,
    status_fg,
    status_bg,
    key,
    error,
    ok,
    gauge,
    running,
    paused,
    created,
    exited,
    dead,
    restarting,
    match_fg,
    match_bg,
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    /// Optional, so theme files written before it still load.
    #[serde(default)]
    members: Vec<String>,
    colors: ColorsFile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub colors: Colors,
    /// The colours a project's log gives its containers' prefixes, in turn (never empty).
    members: Vec<Color>,
}

/// docker compose's prefix colours, for a theme that names none.
const COMPOSE_MEMBERS: [Color; 6] = [Color::Cyan, Color::Yellow, Color::Green, Color::Magenta, Color::Blue, Color::Red];

fn color(origin: &str, field: &'static str, value: &str) -> Result<Color, ThemeError> {
    Color::from_str(value).map_err(|_| ThemeError::BadColor { origin: origin.to_string(), field, value: value.into() })
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::parse("built-in dark", BUILT_IN[0].1).expect("the built-in dark theme parses (checked by a test)")
    }
}

impl Theme {
    /// Parses theme TOML; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text)
            .map_err(|e| ThemeError::Parse { origin: origin.to_string(), message: e.message().to_string() })?;
        let members = file.members.iter().map(|m| color(origin, "members", m)).collect::<Result<Vec<_>, _>>()?;
        let members = if members.is_empty() { COMPOSE_MEMBERS.to_vec() } else { members };
        Ok(Theme { name: file.name, colors: file.colors.parse(origin)?, members })
    }

    pub fn load_file(path: &Path) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read { path: path.into(), source })?;
        Theme::parse(&path.display().to_string(), &text)
    }

    /// A theme by name (user themes in `user_dir` first, then the built-in ones) or by path (anything with a
    /// `/` or ending in `.toml`).
    pub fn find(name: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        if name.contains('/') || name.ends_with(".toml") {
            return Theme::load_file(Path::new(name));
        }
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            if path.exists() {
                return Theme::load_file(&path);
            }
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Theme::parse(&format!("built-in {n}"), text),
            None => Err(ThemeError::Unknown { name: name.into(), available: available(user_dir).join(", ") }),
        }
    }

    pub fn built_in_names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(n, _)| *n)
    }

    pub fn base(&self) -> Style {
        Style::new().fg(self.colors.text).bg(self.colors.background)
    }

    pub fn muted(&self) -> Style {
        Style::new().fg(self.colors.muted)
    }

    pub fn selected(&self) -> Style {
        Style::new().fg(self.colors.selected_fg).bg(self.colors.selected_bg).add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        Style::new().fg(self.colors.header).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        Style::new().fg(if focused { self.colors.border_focused } else { self.colors.border })
    }

    pub fn key(&self) -> Style {
        Style::new().fg(self.colors.key).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        Style::new().fg(self.colors.error)
    }

    pub fn ok(&self) -> Style {
        Style::new().fg(self.colors.ok)
    }

    pub fn search_match(&self) -> Style {
        Style::new().fg(self.colors.match_fg).bg(self.colors.match_bg)
    }

    /// The prefix of the `index`th container in a project's log.
    pub fn member(&self, index: usize) -> Style {
        Style::new().fg(self.members[index % self.members.len()])
    }

    pub fn state(&self, state: ContainerState) -> Style {
        let c = &self.colors;
        Style::new().fg(match state {
            ContainerState::Running => c.running,
            ContainerState::Paused => c.paused,
            ContainerState::Created => c.created,
            ContainerState::Exited | ContainerState::Removing => c.exited,
            ContainerState::Dead => c.dead,
            ContainerState::Restarting => c.restarting,
        })
    }
}

/// Names `--theme` accepts: user themes then built-in ones.
fn available(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = user_dir
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.extend(Theme::built_in_names().map(String::from));
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses() {
        for name in Theme::built_in_names() {
            let theme = Theme::find(name, None).unwrap();
            assert_eq!(theme.name, name);
        }
        assert_eq!(Theme::default().name, "dark");
    }

    #[test]
    fn shipped_files_match_the_built_in_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes");
        for name in Theme::built_in_names() {
            assert_eq!(Theme::load_file(&dir.join(format!("{name}.toml"))).unwrap(), Theme::find(name, None).unwrap());
        }
    }

    #[test]
    fn malformed_toml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.toml");
        std::fs::write(&path, "name = \"broken\"\n[colors\n").unwrap();
        let err = Theme::find(path.to_str().unwrap(), None).unwrap_err();
        assert!(matches!(err, ThemeError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("broken.toml"), "{err}");
    }

    #[test]
    fn a_missing_colour_is_named() {
        let err = Theme::parse("mine.toml", "name = \"x\"\n[colors]\ntext = \"red\"\n").unwrap_err();
        assert!(err.to_string().contains("mine.toml") && err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn a_bad_colour_names_the_field_and_value() {
        let text = BUILT_IN[0].1.replace("accent = \"cyan\"", "accent = \"sparkly\"");
        let err = Theme::parse("mine.toml", &text).unwrap_err();
        assert!(matches!(&err, ThemeError::BadColor { field: "accent", value, .. } if value == "sparkly"), "{err}");
    }

    #[test]
    fn a_user_theme_shadows_a_built_in_one_and_unknown_names_list_choices() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUILT_IN[0].1.replace("name = \"dark\"", "name = \"my dark\"");
        std::fs::write(dir.path().join("dark.toml"), text).unwrap();
        std::fs::write(dir.path().join("solar.toml"), BUILT_IN[1].1).unwrap();
        assert_eq!(Theme::find("dark", Some(dir.path())).unwrap().name, "my dark");
        let err = Theme::find("nope", Some(dir.path())).unwrap_err();
        assert_eq!(err.to_string(), "no theme named \"nope\"; available: dark, high-contrast, light, solar");
    }

    #[test]
    fn member_colours_default_to_compose_and_a_bad_one_is_named() {
        let dark = Theme::find("dark", None).unwrap();
        assert_eq!(dark.members, COMPOSE_MEMBERS.to_vec());
        assert_eq!(dark.member(7), Style::new().fg(Color::Yellow));
        let light = Theme::find("light", None).unwrap();
        assert!(!light.members.contains(&Color::Yellow), "yellow is unreadable on the light background");
        let text = BUILT_IN[0].1.replace("name = \"dark\"", "name = \"x\"\nmembers = [\"red\", \"glitter\"]");
        let err = Theme::parse("mine.toml", &text).unwrap_err();
        assert!(matches!(&err, ThemeError::BadColor { field: "members", value, .. } if value == "glitter"), "{err}");
    }

    #[test]
    fn a_missing_file_says_which() {
        let err = Theme::find("/nonexistent/x.toml", None).unwrap_err();
        assert!(matches!(err, ThemeError::Read { .. }) && err.to_string().contains("/nonexistent/x.toml"));
    }
}
