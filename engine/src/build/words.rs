//! Variable substitution and word splitting as BuildKit's shell lexer does them (`shell/lex.go`).
//!
//! The builder, not a shell, expands `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`,
//! `${v?msg}`, `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}` and `${v/p/r}` in the instructions that take
//! variables; quotes and the escape token are removed the way BuildKit removes them, which is not quite a
//! POSIX shell (an unquoted escape keeps any character, `'…'` keeps everything, `"…"` only unescapes
//! `"`, `$` and the escape token).

use thiserror::Error;

/// A word the lexer could not process, worded as BuildKit words it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("failed to process {word:?}: {message}")]
pub struct WordError {
    pub word: String,
    pub message: String,
}

/// How the lexer treats quotes, escapes and unset variables. The defaults are the builder's: quotes and
/// escapes removed, unset variables empty.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the result (heredoc delimiters are read this way to see whether quoted).
    pub raw_quotes: bool,
    /// Keep escape tokens in the result.
    pub raw_escapes: bool,
    /// Leave unset variables as written instead of replacing them with nothing.
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters (heredoc bodies are expanded this way).
    pub skip_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape, raw_quotes: false, raw_escapes: false, skip_unset: false, skip_quotes: false }
    }

    /// BuildKit's `ProcessWord`: one word, spaces kept.
    pub fn process_word(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, WordError> {
        self.run(word, env).map(|(result, _)| result)
    }

    /// BuildKit's `ProcessWords`: substituted, then split at unquoted whitespace.
    pub fn process_words(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, WordError> {
        self.run(word, env).map(|(_, words)| words)
    }

    fn run(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, Vec<String>), WordError> {
        let mut scan = Scan { lex: *self, chars: word.chars().collect(), pos: 0, raw_escapes: self.raw_escapes, env };
        scan.stop_on(None, self.raw_escapes).map_err(|message| WordError { word: word.to_string(), message })
    }
}

/// Words being split: whitespace that came from the source or from an unquoted `$` ends a word.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !c.is_whitespace() {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Scan<'a> {
    lex: Lexer,
    chars: Vec<char>,
    pos: usize,
    raw_escapes: bool,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads until `stop` (consumed) or the end; a missing `stop` is an error.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if stop == Some(c) {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match c {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' if !self.lex.skip_quotes => Some(self.single_quote()?),
                '"' if !self.lex.skip_quotes => Some(self.double_quote()?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if c == '$' {
                    words.add_string(&text);
                } else {
                    words.add_raw_string(&text);
                }
                continue;
            }
            let mut c = self.next().unwrap_or_default();
            if c == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(c);
                    result.push(c);
                }
                match self.next() {
                    None => break,
                    Some(escaped) => c = escaped,
                }
                words.add_raw_char(c);
            } else {
                words.add_char(c);
            }
            result.push(c);
        }
        if let Some(stop) = stop {
            return Err(format!("unexpected end of statement while looking for matching {stop}"));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.lex.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                c = self.next().unwrap_or_default();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<<` and the blanks after it stay together, so `<< EOF` is one heredoc word.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut ops = op.to_string();
        match op {
            '}' => Ok(match self.get(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = op == ':';
                if null_is_unset {
                    op = self.next().unwrap_or_default();
                    ops.push(op);
                }
                let raw = op == '#' || op == '%';
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({ops}) in substitution"));
                }
                let (word, _) = self.stop_on(Some('}'), raw).map_err(|e| self.missing_brace(e))?;
                let value = self.get(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{ops}{word}}}"));
                }
                let empty = value.as_deref().is_none_or(|v| null_is_unset && v.is_empty());
                match op {
                    '-' => Ok(if empty { word } else { value.unwrap_or_default() }),
                    '+' => Ok(if empty { String::new() } else { word }),
                    '?' => match value {
                        None => Err(format!("{name}: {}", or(word, "is not allowed to be unset"))),
                        Some(v) if null_is_unset && v.is_empty() => {
                            Err(format!("{name}: {}", or(word, "is not allowed to be empty")))
                        }
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        let (greedy, pattern) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let value = value.unwrap_or_default();
                        if op == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({ops}) in substitution")),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let (pattern, _) = self.stop_on(Some('/'), true).map_err(|e| {
                    if self.peek().is_none() { "syntax error: missing '/' in ${}".to_string() } else { e }
                })?;
                let (replacement, _) = self.stop_on(Some('}'), true).map_err(|e| self.missing_brace(e))?;
                let value = self.get(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let compiled = Pattern::compile(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(compiled.replace(&value.unwrap_or_default(), &replacement, all))
            }
            _ => Err(format!("unsupported modifier ({ops}) in substitution")),
        }
    }

    fn missing_brace(&self, e: String) -> String {
        if self.peek().is_none() { "syntax error: missing '}'".into() } else { e }
    }
}

fn or(word: String, default: &str) -> String {
    if word.is_empty() { default.to_string() } else { word }
}

/// A shell pattern of `${v#p}`, `${v%p}` and `${v/p/r}`: `*`, `?` and literal characters (no brackets).
/// Matching follows the regular expression BuildKit turns it into: leftmost, each `*` shortest first unless
/// greedy, and like a regexp's `.`, neither `*` nor `?` matches a newline.
#[derive(Debug)]
struct Pattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

impl Pattern {
    fn compile(pattern: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::Any),
                '\\' => {
                    // `\}` and `\/` only escape the substitution's own delimiters.
                    if matches!(chars.get(i + 1), Some('}' | '/')) {
                        i += 1;
                        continue;
                    }
                    match chars.get(i + 1) {
                        Some(&c @ ('*' | '?' | '\\')) => toks.push(Tok::Lit(c)),
                        Some(c) => return Err(format!("invalid escape '\\{c}'")),
                        None => return Err("invalid escape '\\'".into()),
                    }
                    i += 1;
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Ok(Pattern(toks))
    }

    /// The end of the first match starting at `start`, in the regexp's preference order.
    fn match_at(&self, s: &[char], start: usize, greedy: bool) -> Option<usize> {
        fn go(toks: &[Tok], s: &[char], at: usize, greedy: bool) -> Option<usize> {
            let Some((tok, rest)) = toks.split_first() else {
                return Some(at);
            };
            match tok {
                Tok::Lit(c) => (s.get(at) == Some(c)).then(|| go(rest, s, at + 1, greedy)).flatten(),
                Tok::Any => s.get(at).filter(|c| **c != '\n').and_then(|_| go(rest, s, at + 1, greedy)),
                Tok::Star => {
                    let max = s[at..].iter().position(|c| *c == '\n').map_or(s.len(), |p| at + p);
                    if greedy {
                        (at..=max).rev().find_map(|end| go(rest, s, end, greedy))
                    } else {
                        (at..=max).find_map(|end| go(rest, s, end, greedy))
                    }
                }
            }
        }
        go(&self.0, s, start, greedy)
    }

    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let s: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut at = 0;
        let mut last_match_end = None;
        while at <= s.len() {
            let found = (at..=s.len()).find_map(|start| self.match_at(&s, start, true).map(|end| (start, end)));
            let Some((start, end)) = found else { break };
            if start == end && last_match_end == Some(start) {
                // An empty match right after a match is skipped, as Go's regexp does.
                if start < s.len() {
                    out.push(s[start]);
                }
                at = start + 1;
                continue;
            }
            out.extend(&s[at..start]);
            out.push_str(replacement);
            last_match_end = Some(end);
            if end == start {
                if start < s.len() {
                    out.push(s[start]);
                }
                at = start + 1;
            } else {
                at = end;
            }
            if !all {
                break;
            }
        }
        if at < s.len() {
            out.extend(&s[at..]);
        }
        out
    }
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let compiled =
        Pattern::compile(pattern).map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    let s: Vec<char> = value.chars().collect();
    Ok(match compiled.match_at(&s, 0, greedy) {
        Some(end) => s[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// The shortest (or longest) suffix: the reversed pattern's prefix in the reversed value, escapes kept in
/// front of the character they escape.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            units.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else {
            units.push(chars[i].to_string());
            i += 1;
        }
    }
    let reversed_pattern: String = units.into_iter().rev().collect();
    let reversed_value: String = value.chars().rev().collect();
    Ok(trim_prefix(&reversed_pattern, &reversed_value, greedy)?.chars().rev().collect())
}

#[cfg(test)]
#[path = "words_tests.rs"]
mod tests;
