//! Variable interpolation as the Compose Specification defines it (compose-go's `template` package):
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
//! `${VAR:+replacement}`, `${VAR+replacement}`, `$$` for a literal `$`; defaults and replacements are
//! interpolated in turn. Also the `.env` file format.

use std::collections::BTreeMap;

/// Why a string could not be interpolated; the caller adds the file and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `${VAR:?message}` or `${VAR?message}` with the variable missing (or empty, for `:?`).
    Required { name: String, message: String },
    /// A `${` without its `}`, or a name that is not one.
    Invalid { template: String },
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            TemplateError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
            TemplateError::Invalid { template } => write!(f, "invalid interpolation format for {template:?}"),
        }
    }
}

/// The variables a project sees: this process's environment over the `.env`/`--env-file` values.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl Lookup for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// Interpolates `text`; `unset` hears of each variable used without a value and without a default
/// (docker compose warns of those and uses an empty string).
pub fn interpolate(text: &str, vars: &dyn Lookup, unset: &mut dyn FnMut(&str)) -> Result<String, TemplateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let end = closing_brace(&chars, i + 2).ok_or_else(|| invalid(text))?;
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&braced(&inner, text, vars, unset)?);
                i = end + 1;
            }
            Some(c) if is_name_start(*c) => {
                let mut end = i + 1;
                while end < chars.len() && is_name_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[i + 1..end].iter().collect();
                match vars.get(&name) {
                    Some(value) => out.push_str(&value),
                    None => unset(&name),
                }
                i = end;
            }
            // A lone `$` (at the end, before a space or digit) stays as it is, as compose-go leaves it.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn invalid(text: &str) -> TemplateError {
    TemplateError::Invalid { template: text.to_string() }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// The index of the `}` closing a `${` whose body starts at `start`, counting nested `${...}`.
fn closing_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The body of `${...}`: a name, then optionally an operator and its word.
fn braced(inner: &str, text: &str, vars: &dyn Lookup, unset: &mut dyn FnMut(&str)) -> Result<String, TemplateError> {
    let name_end = inner.find(|c: char| !is_name_char(c)).unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(invalid(text));
    }
    let rest = &inner[name_end..];
    let value = vars.get(name);
    let (op, word) = match rest {
        "" => {
            if value.is_none() {
                unset(name);
            }
            return Ok(value.unwrap_or_default());
        }
        _ if rest.starts_with(":-") || rest.starts_with(":?") || rest.starts_with(":+") => (&rest[..2], &rest[2..]),
        _ if rest.starts_with('-') || rest.starts_with('?') || rest.starts_with('+') => (&rest[..1], &rest[1..]),
        _ => return Err(invalid(text)),
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let mut word_value = || interpolate(word, vars, unset);
    match op {
        ":-" if non_empty => Ok(value.unwrap_or_default()),
        "-" if set => Ok(value.unwrap_or_default()),
        ":-" | "-" => word_value(),
        ":?" if non_empty => Ok(value.unwrap_or_default()),
        "?" if set => Ok(value.unwrap_or_default()),
        ":?" | "?" => Err(TemplateError::Required { name: name.to_string(), message: word_value()? }),
        ":+" if non_empty => word_value(),
        "+" if set => word_value(),
        _ => Ok(String::new()),
    }
}

/// A `.env` file's variables in order: `KEY=VALUE` lines (an `export ` prefix allowed), `#` comments,
/// values single-quoted (literal), double-quoted (with `\n`-style escapes) or bare (a ` #` starts a
/// comment); bare and double-quoted values are interpolated against the variables before them and `base`.
pub fn parse_env_file(text: &str, base: &dyn Lookup) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE, found {line:?}", number + 1));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| is_name_char(c) || c == '.' || c == '-') {
            return Err(format!("line {}: invalid variable name {key:?}", number + 1));
        }
        let raw = raw.trim();
        let (value, interpolated) = if let Some(body) = raw.strip_prefix('\'') {
            (
                body.strip_suffix('\'').ok_or_else(|| format!("line {}: unterminated quote", number + 1))?.to_string(),
                false,
            )
        } else if let Some(body) = raw.strip_prefix('"') {
            let body = body.strip_suffix('"').ok_or_else(|| format!("line {}: unterminated quote", number + 1))?;
            (body.replace("\\n", "\n").replace("\\\"", "\"").replace("\\\\", "\\"), true)
        } else {
            (raw.split(" #").next().unwrap_or("").trim_end().to_string(), true)
        };
        let value = if interpolated {
            let seen = Layered { first: &vars, then: base };
            interpolate(&value, &seen, &mut |_| {}).map_err(|e| format!("line {}: {e}", number + 1))?
        } else {
            value
        };
        vars.retain(|(k, _)| k != key);
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

/// The variables read so far in a `.env` file, then the ones given.
struct Layered<'a> {
    first: &'a [(String, String)],
    then: &'a dyn Lookup,
}

impl Lookup for Layered<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.first.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| self.then.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("FOO", "first"), ("BAR", ""), ("NUM", "3")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(text: &str) -> Result<String, TemplateError> {
        interpolate(text, &vars(), &mut |_| {})
    }

    /// compose-go's template_test.go cases, re-expressed.
    #[test]
    fn substitutions_follow_compose_go() {
        let table = [
            ("$FOO", "first"),
            ("${FOO}", "first"),
            ("${FOO}bar", "firstbar"),
            ("x $FOO y", "x first y"),
            ("$$FOO", "$FOO"),
            ("$$", "$"),
            ("cost $5", "cost $5"),
            ("$", "$"),
            ("${UNSET}", ""),
            ("$UNSET", ""),
            ("${UNSET:-default}", "default"),
            ("${UNSET-default}", "default"),
            ("${BAR:-default}", "default"),
            ("${BAR-default}", ""),
            ("${FOO:-default}", "first"),
            ("${FOO-default}", "first"),
            ("${UNSET:-${FOO}}", "first"),
            ("${UNSET:-${UNSET2:-deep}}", "deep"),
            ("${UNSET:-a b c}", "a b c"),
            ("${UNSET:-}", ""),
            ("${FOO:+replaced}", "replaced"),
            ("${BAR:+replaced}", ""),
            ("${BAR+replaced}", "replaced"),
            ("${UNSET+replaced}", ""),
            ("${NUM}${NUM}", "33"),
            ("${FOO:?must be set}", "first"),
            ("${BAR?may be empty}", ""),
        ];
        for (text, want) in table {
            assert_eq!(run(text).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let err = run("${UNSET:?give it a value}").unwrap_err();
        assert_eq!(err.to_string(), "required variable UNSET is missing a value: give it a value");
        assert_eq!(run("${BAR:?}").unwrap_err().to_string(), "required variable BAR is missing a value");
        assert!(matches!(run("${UNSET?x}"), Err(TemplateError::Required { .. })));
        let nested = run("${UNSET:?${FOO} missing}").unwrap_err();
        assert_eq!(nested.to_string(), "required variable UNSET is missing a value: first missing");
    }

    #[test]
    fn malformed_templates_are_refused() {
        for text in ["${FOO", "${}", "${ FOO}", "${FOO bar}", "${9X}", "${FOO:x}"] {
            assert!(matches!(run(text), Err(TemplateError::Invalid { .. })), "{text}");
        }
    }

    #[test]
    fn unset_variables_are_reported() {
        let mut seen = Vec::new();
        interpolate("$A ${B} ${C:-x} ${FOO}", &vars(), &mut |n| seen.push(n.to_string())).unwrap();
        assert_eq!(seen, ["A", "B"]);
    }

    #[test]
    fn env_files_parse_as_compose_reads_them() {
        let text = "# comment\nA=1\nexport B = two words \nC='lit ${A}'\nD=\"x${A}\\ny\"\nE=v # note\nF=${A:-0}${MISSING-m}\nA=again\n";
        let parsed = parse_env_file(text, &BTreeMap::new()).unwrap();
        let map: BTreeMap<_, _> = parsed.into_iter().collect();
        assert_eq!(map["A"], "again");
        assert_eq!(map["B"], "two words");
        assert_eq!(map["C"], "lit ${A}");
        assert_eq!(map["D"], "x1\ny");
        assert_eq!(map["E"], "v");
        assert_eq!(map["F"], "1m");
        assert!(parse_env_file("NOEQUALS\n", &BTreeMap::new()).unwrap_err().starts_with("line 1"));
        assert!(parse_env_file("A='open\n", &BTreeMap::new()).unwrap_err().contains("unterminated"));
    }
}
