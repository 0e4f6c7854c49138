//! Running a parsed template over JSON data as Go's text/template runs over `map[string]interface{}`.

use std::borrow::Cow;

use serde_json::Value;

use super::parse::{Branch, Command, Node, Operand, Pipeline, Term};
use super::{Method, Missing, TemplateError, Val, funcs, print};

pub struct Exec<'a> {
    pub src: &'a str,
    pub out: String,
    /// Variables in scope, innermost last; `$` first, borrowing the data (a `ps` row) rather than a copy.
    vars: Vec<(String, Option<Cow<'a, Value>>)>,
    missing: Missing,
    /// Methods the data has beyond its keys (docker's `{{.Label "key"}}`).
    method: Option<Method>,
    /// Rendering a table's header: docker's header functions pass their text through.
    header: bool,
}

/// A failure while running, before it is given the template position.
struct Fail {
    pos: usize,
    at: String,
    msg: String,
}

type Run<T> = Result<T, Fail>;

impl<'a> Exec<'a> {
    pub fn new(src: &'a str, data: &'a Value, missing: Missing, method: Option<Method>, header: bool) -> Exec<'a> {
        Exec { src, out: String::new(), vars: vec![("$".into(), Some(Cow::Borrowed(data)))], missing, method, header }
    }

    pub fn run(&mut self, nodes: &[Node], data: &Value) -> Result<(), TemplateError> {
        self.walk(Some(data), nodes).map_err(|f| TemplateError::exec(self.src, f.pos, &f.at, f.msg))
    }

    fn walk(&mut self, dot: Option<&Value>, nodes: &[Node]) -> Run<()> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(dot, pipe)?;
                    if pipe.vars.is_empty() {
                        self.out.push_str(&print::value(&value));
                    }
                }
                Node::If(b) => {
                    let mark = self.vars.len();
                    let value = self.pipeline(dot, &b.pipe)?;
                    let list = if truth(&value) { &b.list } else { &b.else_list };
                    self.walk(dot, list)?;
                    self.vars.truncate(mark);
                }
                Node::With(b) => {
                    let mark = self.vars.len();
                    let value = self.pipeline(dot, &b.pipe)?;
                    if truth(&value) {
                        self.walk(value.as_ref(), &b.list)?;
                    } else {
                        self.walk(dot, &b.else_list)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(b) => self.range(dot, b)?,
            }
        }
        Ok(())
    }

    /// Arrays in order, objects in key order (as Go ranges over maps), integers as 0..n.
    fn range(&mut self, dot: Option<&Value>, b: &Branch) -> Run<()> {
        let value = self.commands(dot, &b.pipe)?;
        let items: Vec<(Value, Value)> = match &value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (i.into(), v.clone())).collect(),
            Some(Value::Object(m)) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter().map(|k| (Value::from(k.as_str()), m[k].clone())).collect()
            }
            Some(Value::Number(n)) if n.is_i64() => {
                (0..n.as_i64().unwrap_or(0)).map(|i| (i.into(), i.into())).collect()
            }
            Some(other) => {
                return Err(fail(
                    &b.pipe,
                    b.pipe.pos,
                    format!("range can't iterate over {}", print::value(&Some(other.clone()))),
                ));
            }
        };
        if items.is_empty() {
            return self.walk(dot, &b.else_list);
        }
        for (key, item) in items {
            let mark = self.vars.len();
            match b.pipe.vars.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), Some(Cow::Owned(item.clone())))),
                [k, v, ..] => {
                    self.vars.push((k.clone(), Some(Cow::Owned(key))));
                    self.vars.push((v.clone(), Some(Cow::Owned(item.clone()))));
                }
            }
            self.walk(Some(&item), &b.list)?;
            self.vars.truncate(mark);
        }
        Ok(())
    }

    /// A pipeline's value, declaring or assigning its variables.
    fn pipeline(&mut self, dot: Option<&Value>, pipe: &Pipeline) -> Run<Val> {
        let value = self.commands(dot, pipe)?;
        for name in &pipe.vars {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone().map(Cow::Owned);
                }
            } else {
                self.vars.push((name.clone(), value.clone().map(Cow::Owned)));
            }
        }
        Ok(value)
    }

    /// The commands of a pipeline, each one's value the last argument of the next.
    fn commands(&mut self, dot: Option<&Value>, pipe: &Pipeline) -> Run<Val> {
        let mut value = None;
        for (i, cmd) in pipe.cmds.iter().enumerate() {
            let last = if i == 0 { None } else { Some(value) };
            value = self.command(dot, cmd, last)?;
        }
        Ok(value)
    }

    fn command(&mut self, dot: Option<&Value>, cmd: &Command, last: Option<Val>) -> Run<Val> {
        let first = &cmd.args[0];
        if let (Term::Func(name), true) = (&first.term, first.fields.is_empty()) {
            return self.call(dot, name, first, &cmd.args[1..], last);
        }
        if cmd.args.len() > 1 || last.is_some() {
            if let (Some(method), Some((name, chain))) = (self.method, first.fields.split_last()) {
                let receiver = self.operand_with(dot, first, chain)?;
                let mut args = Vec::with_capacity(cmd.args.len());
                for arg in &cmd.args[1..] {
                    args.push(self.operand(dot, arg)?.unwrap_or(Value::Null));
                }
                args.extend(last.map(|v| v.unwrap_or(Value::Null)));
                if let Some(result) = receiver.as_ref().and_then(|r| method(r, name, &args)) {
                    return result.map(Some).map_err(|msg| fail_at(first, msg));
                }
            }
            let msg = match first.fields.last() {
                Some(field) => format!("{field} is not a method but has arguments"),
                None => format!("can't give argument to non-function {}", first.describe()),
            };
            return Err(fail_at(first, msg));
        }
        if let Term::Nil = first.term {
            return Err(fail_at(first, "nil is not a command".into()));
        }
        self.operand(dot, first)
    }

    fn call(&mut self, dot: Option<&Value>, name: &str, at: &Operand, args: &[Operand], last: Option<Val>) -> Run<Val> {
        let count = args.len() + usize::from(last.is_some());
        // `and` and `or` stop at the first argument that decides, as Go's do.
        if name == "and" || name == "or" {
            if count == 0 {
                return Err(fail_at(at, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let mut value = None;
            for arg in args {
                value = self.operand(dot, arg)?;
                if truth(&value) == (name == "or") {
                    return Ok(value);
                }
            }
            return Ok(match last {
                Some(v) => v,
                None => value,
            });
        }
        let mut values = Vec::with_capacity(count);
        for arg in args {
            values.push(self.operand(dot, arg)?);
        }
        values.extend(last);
        funcs::call(name, values, self.header).map_err(|msg| fail_at(at, msg))
    }

    fn operand(&mut self, dot: Option<&Value>, op: &Operand) -> Run<Val> {
        self.operand_with(dot, op, &op.fields)
    }

    /// The operand's term, then `fields` of it.
    fn operand_with(&mut self, dot: Option<&Value>, op: &Operand, fields: &[String]) -> Run<Val> {
        let mut fields = fields.iter();
        let mut value = match &op.term {
            // A field of dot is read in place: cloning the whole of dot for each field (a `ps` row, seven times
            // per row of the default table) cost `ps -a` more than everything else it does.
            Term::Dot => match fields.next() {
                Some(first) => self.field(dot, first, op)?,
                None => dot.cloned(),
            },
            Term::Var(name) => match (self.vars.iter().rev().find(|(n, _)| n == name), fields.next()) {
                // A field of a variable is read in place too (`$.ID` of a row).
                (Some((_, v)), Some(first)) => self.field(v.as_deref(), first, op)?,
                (Some((_, v)), None) => v.as_deref().cloned(),
                (None, _) => None,
            },
            Term::Func(name) => funcs::call(name, Vec::new(), self.header).map_err(|msg| fail_at(op, msg))?,
            Term::Value(v) => Some(v.clone()),
            Term::Nil => Some(Value::Null),
            Term::Pipe(pipe) => self.pipeline(dot, pipe)?,
        };
        for field in fields {
            value = self.field(value.as_ref(), field, op)?;
        }
        Ok(value)
    }

    /// Field `name` of `receiver`, the one value taken out of it cloned.
    fn field(&self, receiver: Option<&Value>, name: &str, op: &Operand) -> Run<Val> {
        match receiver {
            None => match self.missing {
                Missing::Error => Err(fail_at(op, format!("nil data; no entry for key \"{name}\""))),
                Missing::NoValue => Ok(None),
            },
            Some(Value::Object(map)) => match map.get(name) {
                Some(v) => Ok(Some(v.clone())),
                None if self.header => Ok(Some(Value::String(String::new()))),
                None => match self.missing {
                    Missing::Error => Err(fail_at(op, format!("can't evaluate field {name}"))),
                    Missing::NoValue => Ok(None),
                },
            },
            Some(Value::Null) => Err(fail_at(op, format!("nil pointer evaluating interface {{}}.{name}"))),
            Some(other) => Err(fail_at(op, format!("can't evaluate field {name} in type {}", print::type_name(other)))),
        }
    }
}

/// Go's truth: false, 0, nil, a missing value and empty strings, arrays and maps are false.
pub fn truth(value: &Val) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

fn fail_at(op: &Operand, msg: String) -> Fail {
    Fail { pos: op.pos, at: op.describe(), msg }
}

fn fail(pipe: &Pipeline, pos: usize, msg: String) -> Fail {
    let at = pipe.cmds.first().and_then(|c| c.args.first()).map(Operand::describe).unwrap_or_default();
    Fail { pos, at, msg }
}
