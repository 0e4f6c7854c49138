//! `.dockerignore` with moby/patternmatcher's semantics, which BuildKit uses; gitignore crates match
//! differently (`*.md` there matches at any depth, here only at the context root).
//!
//! Patterns are cleaned paths relative to the context root; `*` and `?` never cross `/`, `**` spans any
//! number of directories, `[...]` is a character class, `\` escapes. A path is excluded when it or one of
//! its parent directories matches, and the last matching pattern wins, so `!pattern` re-includes. An
//! excluded directory is still walked when an exception could match something below it.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    #[error("invalid .dockerignore pattern {pattern:?}: syntax error in pattern")]
    BadPattern { pattern: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `**` at the end after something else: anything (but a newline, like a regexp's `.`).
    Rest,
    /// `**/` (or `**` before more): nothing, or anything ending in `/`.
    Dirs,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Pattern,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    text: String,
    exception: bool,
    kind: Kind,
    toks: Vec<Tok>,
}

/// The patterns of one ignore file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

/// Go's `filepath.Clean` for `/` paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Reads one `[` class (after the `[`) as Go's `filepath.Match` does; `None` for a syntax error.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let esc = |i: &mut usize| -> Option<char> {
        let mut c = *chars.get(*i)?;
        if c == '-' || c == ']' {
            return None;
        }
        if c == '\\' {
            *i += 1;
            c = *chars.get(*i)?;
        }
        *i += 1;
        Some(c)
    };
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = esc(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = esc(&mut i)?;
        }
        // Go's regexp refuses a reversed range when the pattern is first used; refused here at once.
        if lo > hi {
            return None;
        }
        ranges.push((lo, hi));
    }
}

impl Rule {
    fn new(pattern: &str, exception: bool) -> Result<Rule, IgnoreError> {
        let bad = || IgnoreError::BadPattern { pattern: pattern.to_string() };
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut kind = Kind::Exact;
        let mut i = 0;
        let mut first = true;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if kind == Kind::Exact {
                            kind = Kind::Prefix;
                        } else {
                            toks.push(Tok::Rest);
                            kind = Kind::Pattern;
                        }
                    } else {
                        toks.push(Tok::Dirs);
                        kind = Kind::Pattern;
                    }
                    if first {
                        kind = Kind::Suffix;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    kind = Kind::Pattern;
                }
                '?' => {
                    toks.push(Tok::One);
                    kind = Kind::Pattern;
                }
                '\\' => match chars.get(i) {
                    Some(&n) => {
                        toks.push(Tok::Lit(n));
                        i += 1;
                        kind = Kind::Pattern;
                    }
                    None => return Err(bad()),
                },
                '[' => {
                    let (tok, next) = class(&chars, i).ok_or_else(bad)?;
                    toks.push(tok);
                    i = next;
                    kind = Kind::Pattern;
                }
                ']' => {
                    toks.push(Tok::Lit(']'));
                    kind = Kind::Pattern;
                }
                c => toks.push(Tok::Lit(c)),
            }
            first = false;
        }
        Ok(Rule { text: pattern.to_string(), exception, kind, toks })
    }

    fn matches(&self, path: &str) -> bool {
        match self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            Kind::Pattern => {
                let s: Vec<char> = path.chars().collect();
                full_match(&self.toks, &s)
            }
        }
    }
}

fn full_match(toks: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Lit(c) => s.first() == Some(c) && full_match(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && full_match(rest, &s[1..]),
        Tok::Class { negated, ranges } => {
            s.first().is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
                && full_match(rest, &s[1..])
        }
        Tok::Star => {
            let max = s.iter().position(|c| *c == '/').unwrap_or(s.len());
            (0..=max).any(|n| full_match(rest, &s[n..]))
        }
        Tok::Rest => {
            let max = s.iter().position(|c| *c == '\n').unwrap_or(s.len());
            (0..=max).any(|n| full_match(rest, &s[n..]))
        }
        Tok::Dirs => {
            full_match(rest, s)
                || s.iter()
                    .enumerate()
                    .take_while(|(_, c)| **c != '\n')
                    .any(|(i, c)| *c == '/' && full_match(rest, &s[i + 1..]))
        }
    }
}

impl Ignore {
    /// Reads an ignore file as BuildKit does: `#` lines are comments, blanks trimmed, each pattern cleaned
    /// and made relative to the context root.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let invert = pattern.starts_with('!');
            if invert {
                pattern = pattern[1..].trim();
            }
            let mut cleaned = if pattern.is_empty() { String::new() } else { clean(pattern) };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            patterns.push(if invert { format!("!{cleaned}") } else { cleaned });
        }
        Ignore::from_patterns(&patterns)
    }

    /// Patterns as patternmatcher's `New` takes them.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Ignore, IgnoreError> {
        let mut rules = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exception, p) = match p.strip_prefix('!') {
                Some("") => return Err(IgnoreError::LoneExclamation),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            rules.push(Rule::new(&p, exception)?);
        }
        Ok(Ignore { rules })
    }

    /// Whether the file or directory at `path` (relative to the context root) is left out of the context:
    /// the last pattern matching it or one of its parents decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(at) => path[..at].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for rule in &self.rules {
            if rule.exception != excluded {
                continue;
            }
            let hit = rule.matches(&path) || (1..=parents.len()).any(|n| rule.matches(&parents[..n].join("/")));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be walked because an exception could match below it.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        let comps: Vec<&str> = dir.split('/').collect();
        self.rules.iter().filter(|r| r.exception).any(|rule| {
            let pcomps: Vec<&str> = rule.text.split('/').collect();
            for (i, pc) in pcomps.iter().enumerate() {
                if pc.contains("**") {
                    return true;
                }
                let Some(dc) = comps.get(i) else {
                    return true;
                };
                let Ok(component) = Rule::new(pc, true) else { return false };
                if !component.matches(dc) {
                    return false;
                }
            }
            false
        })
    }

    /// The context's files, directories and links left after exclusion, as sorted `/` paths relative to
    /// `root`. Excluded directories are skipped unless an exception may match inside them; then their
    /// re-included entries are listed with the directories leading to them, as BuildKit sends the
    /// parents of what it sends.
    pub fn walk(&self, root: &Path) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk_dir(root, "", &mut Vec::new(), &mut out)?;
        out.sort();
        Ok(out)
    }

    /// `pending` holds the excluded directories above `rel` not listed yet.
    fn walk_dir(
        &self,
        root: &Path,
        rel: &str,
        pending: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> std::io::Result<()> {
        let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let is_dir = entry.file_type()?.is_dir();
            let excluded = self.is_excluded(&path);
            if !excluded {
                out.append(pending);
                out.push(path.clone());
            }
            if is_dir && (!excluded || self.may_include_below(&path)) {
                let depth = pending.len();
                if excluded {
                    pending.push(path.clone());
                }
                self.walk_dir(root, &path, pending, out)?;
                pending.truncate(depth);
            }
        }
        Ok(())
    }
}

/// The ignore file a build reads: `<Dockerfile name>.dockerignore` beside the Dockerfile if there is
/// one, else `.dockerignore` at the context root.
pub fn ignore_file_for(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    if let Some(name) = dockerfile.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let candidate = dockerfile.with_file_name(specific);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let default = context.join(".dockerignore");
    default.is_file().then_some(default)
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
