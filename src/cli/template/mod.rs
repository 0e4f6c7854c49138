//! Go templates for `--format`, as docker runs them: berth's own faithful subset of text/template over JSON
//! data (`gtmpl`, the Rust port, prints arrays and maps in Rust's Debug form rather than Go's).
//!
//! The subset: text and `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* */}}` comments; `.`, `$`, fields
//! (`.A.B`, `$x.A`, `(pipeline).A`); string, raw string, character, number, bool and nil literals; pipelines
//! with `|` and parentheses; variables (`$x := …`, `$x = …`); `if`/`else if`/`else`, `with`/`else with`/`else`,
//! `range` (arrays, objects in key order, integers; `$i, $v :=`; `else`); Go's builtins and docker's functions
//! (see `funcs`); methods with arguments the caller supplies (docker's `{{.Label "key"}}`). `define`,
//! `template`, `block`, `break`, `continue` and unknown functions are parse errors naming them and where they are.

mod exec;
mod funcs;
mod lex;
mod parse;
mod print;
pub mod tabwriter;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// A value while a template runs; None is Go's missing value (a map without the key), printed `<no value>`.
type Val = Option<Value>;

/// A method of the data: given the receiver, the method's name and its arguments, its result, or None when the
/// receiver has no such method.
pub type Method = fn(&Value, &str, &[Value]) -> Option<Result<Value, String>>;

/// What reading a key an object lacks does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Go's default for maps: the value is missing (`<no value>`).
    NoValue,
    /// An error naming the field, as Go reports for a struct without it (docker's list rows are structs).
    Error,
}

/// A parse or run failure, with its line and column in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    line: usize,
    column: usize,
    /// The operand being evaluated when running failed (`.State.Foo`); None for parse errors.
    at: Option<String>,
    message: String,
}

impl TemplateError {
    fn position(src: &str, pos: usize) -> (usize, usize) {
        let before = &src[..pos.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        (line, column)
    }

    fn parse(src: &str, pos: usize, message: String) -> TemplateError {
        let (line, column) = Self::position(src, pos);
        TemplateError { line, column, at: None, message }
    }

    fn exec(src: &str, pos: usize, at: &str, message: String) -> TemplateError {
        let (line, column) = Self::position(src, pos);
        TemplateError { line, column, at: Some(at.to_string()), message }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(at) => write!(f, "template: :{}:{}: executing at <{at}>: {}", self.line, self.column, self.message),
            None => write!(f, "template: :{}:{}: {}", self.line, self.column, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(src, lex::lex(src)?)?;
        Ok(Template { src: src.to_string(), nodes })
    }

    /// Runs the template over `data`; a key an object lacks is missing (`<no value>`).
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        self.render_with(data, Missing::NoValue, None)
    }

    /// Runs the template over `data` with a choice of what a missing key does and methods beyond the keys.
    pub fn render_with(&self, data: &Value, missing: Missing, method: Option<Method>) -> Result<String, TemplateError> {
        let mut exec = exec::Exec::new(&self.src, data, missing, method, false);
        exec.run(&self.nodes, data)?;
        Ok(exec.out)
    }

    /// A table's header row: the template run over an object mapping each field to its column title, with
    /// docker's header functions (which pass titles through) and "" for fields without a title. As docker
    /// does, a failure keeps what was written before it.
    pub fn render_header(&self, headers: &Value) -> String {
        let mut exec = exec::Exec::new(&self.src, headers, Missing::NoValue, None, true);
        let _ = exec.run(&self.nodes, headers);
        exec.out
    }
}
