//! The functions templates may call: Go's builtins and the ones docker adds (`json`, `join`, `lower`, `upper`,
//! `title`, `split`, `truncate`, `pad`).

use std::cmp::Ordering;

use serde_json::Value;

use super::exec::truth;
use super::{Val, print};

const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "json", "join", "lower", "upper", "title", "split", "truncate", "pad",
];

/// Go builtins berth leaves out: named as such rather than as unknown.
const UNSUPPORTED: &[&str] = &["html", "js", "urlquery", "call"];

/// Docker's header functions pass their first argument through, so `table {{upper .Name}}` keeps `NAME`.
const HEADER_PASS_THROUGH: &[&str] = &["json", "join", "lower", "upper", "title", "split", "truncate"];

/// Whether a function exists; an error naming one berth does not support.
pub fn check(name: &str) -> Result<(), String> {
    if FUNCS.contains(&name) {
        Ok(())
    } else if UNSUPPORTED.contains(&name) {
        Err(format!("function \"{name}\" is not supported by berth's templates"))
    } else {
        Err(format!("function \"{name}\" not defined"))
    }
}

pub fn call(name: &str, args: Vec<Val>, header: bool) -> Result<Val, String> {
    if header && HEADER_PASS_THROUGH.contains(&name) {
        return Ok(args.into_iter().next().flatten());
    }
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("wrong number of args for {name}: want {n} got {}", args.len()))
        }
    };
    let at_least = |n: usize| -> Result<(), String> {
        if args.len() >= n {
            Ok(())
        } else {
            Err(format!("wrong number of args for {name}: want at least {n} got {}", args.len()))
        }
    };
    let value = match name {
        "not" => {
            want(1)?;
            Value::Bool(!truth(&args[0]))
        }
        "len" => {
            want(1)?;
            match &args[0] {
                Some(Value::String(s)) => s.len().into(),
                Some(Value::Array(a)) => a.len().into(),
                Some(Value::Object(m)) => m.len().into(),
                other => return Err(format!("len of type {}", type_of(other))),
            }
        }
        "index" => {
            at_least(1)?;
            let mut args = args.into_iter();
            let mut item = args.next().flatten();
            for key in args {
                item = index(item, &key)?;
            }
            return Ok(item);
        }
        "slice" => {
            at_least(1)?;
            slice(&args)?
        }
        "print" => Value::String(sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| print::value(&null_if_missing(a))).collect();
            Value::String(parts.join(" ") + "\n")
        }
        "printf" => {
            at_least(1)?;
            let format = string_arg(name, &args[0])?;
            let rest: Vec<Val> = args[1..].iter().map(null_if_missing).collect();
            Value::String(print::sprintf(&format, &rest))
        }
        "eq" => {
            at_least(1)?;
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut equal = false;
            for other in &args[1..] {
                if eq(&args[0], other)? {
                    equal = true;
                    break;
                }
            }
            Value::Bool(equal)
        }
        "ne" => {
            want(2)?;
            Value::Bool(!eq(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let order = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => order == Ordering::Less,
                "le" => order != Ordering::Greater,
                "gt" => order == Ordering::Greater,
                _ => order != Ordering::Less,
            })
        }
        "json" => {
            want(1)?;
            Value::String(print::json(&args[0].clone().unwrap_or(Value::Null)))
        }
        "join" => {
            want(2)?;
            let sep = string_arg(name, &args[1])?;
            let Some(Value::Array(items)) = &args[0] else {
                return Err(format!("join: wrong type for value; expected []string; got {}", type_of(&args[0])));
            };
            let parts: Result<Vec<String>, String> = items
                .iter()
                .map(|v| match v {
                    Value::Array(_) | Value::Object(_) => {
                        Err(format!("join: wrong type for value; expected []string; got {}", type_of(&args[0])))
                    }
                    v => Ok(print::value(&Some(v.clone()))),
                })
                .collect();
            Value::String(parts?.join(&sep))
        }
        "lower" => {
            want(1)?;
            Value::String(string_arg(name, &args[0])?.to_lowercase())
        }
        "upper" => {
            want(1)?;
            Value::String(string_arg(name, &args[0])?.to_uppercase())
        }
        "title" => {
            want(1)?;
            Value::String(title(&string_arg(name, &args[0])?))
        }
        "split" => {
            want(2)?;
            let s = string_arg(name, &args[0])?;
            let sep = string_arg(name, &args[1])?;
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep.as_str()).map(Value::from).collect()
            };
            Value::Array(parts)
        }
        "truncate" => {
            want(2)?;
            let s = string_arg(name, &args[0])?;
            let n = usize::try_from(int_arg(name, &args[1])?).map_err(|_| "truncate: negative length".to_string())?;
            if s.len() < n {
                Value::String(s)
            } else {
                let mut end = n;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                Value::String(s[..end].to_string())
            }
        }
        "pad" => {
            want(3)?;
            let s = string_arg(name, &args[0])?;
            let before = usize::try_from(int_arg(name, &args[1])?).unwrap_or(0);
            let after = usize::try_from(int_arg(name, &args[2])?).unwrap_or(0);
            if s.is_empty() { Value::String(s) } else { Value::String(" ".repeat(before) + &s + &" ".repeat(after)) }
        }
        other => return Err(format!("function \"{other}\" not defined")),
    };
    Ok(Some(value))
}

/// A missing value handed to a function that takes anything is Go's nil.
fn null_if_missing(v: &Val) -> Val {
    Some(v.clone().unwrap_or(Value::Null))
}

fn type_of(v: &Val) -> String {
    match v {
        None => "<no value>".into(),
        Some(v) => print::type_name(v).into(),
    }
}

fn string_arg(func: &str, v: &Val) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Err(format!("{func}: invalid value; expected string")),
        Some(other) => Err(format!("{func}: wrong type for value; expected string; got {}", print::type_name(other))),
    }
}

fn int_arg(func: &str, v: &Val) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
        _ => Err(format!("{func}: wrong type for value; expected int; got {}", type_of(v))),
    }
}

fn index(item: Val, key: &Val) -> Result<Val, String> {
    match (item, key) {
        (None | Some(Value::Null), _) => Err("index of untyped nil".into()),
        (Some(Value::Array(a)), Some(Value::Number(n))) if n.is_i64() || n.is_u64() => {
            let i = n.as_i64().unwrap_or(-1);
            match usize::try_from(i).ok().and_then(|i| a.into_iter().nth(i)) {
                Some(v) => Ok(Some(v)),
                None => Err(format!("error calling index: index out of range: {i}")),
            }
        }
        (Some(Value::String(s)), Some(Value::Number(n))) if n.is_i64() => {
            let i = n.as_i64().unwrap_or(-1);
            match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                Some(b) => Ok(Some((*b).into())),
                None => Err(format!("error calling index: index out of range: {i}")),
            }
        }
        (Some(Value::Object(mut m)), Some(Value::String(k))) => Ok(m.remove(k)),
        (Some(Value::Object(_)), other) => {
            Err(format!("error calling index: value has type {}; should be string", type_of(other)))
        }
        (Some(item), other) => {
            Err(format!("error calling index: cannot index {} with {}", print::type_name(&item), type_of(other)))
        }
    }
}

fn slice(args: &[Val]) -> Result<Value, String> {
    let mut bounds = Vec::new();
    for a in &args[1..] {
        bounds.push(usize::try_from(int_arg("slice", a)?).map_err(|_| "error calling slice: negative index")?);
    }
    let len = match &args[0] {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(a)) => a.len(),
        other => return Err(format!("error calling slice: can't slice item of type {}", type_of(other))),
    };
    let (from, to) = match bounds.as_slice() {
        [] => (0, len),
        [i] => (*i, len),
        [i, j] => (*i, *j),
        _ => return Err("error calling slice: too many slice indexes".into()),
    };
    if from > to || to > len {
        return Err(format!("error calling slice: index out of range: {from}:{to}"));
    }
    Ok(match &args[0] {
        Some(Value::String(s)) => {
            Value::String(s.get(from..to).ok_or("error calling slice: not at a character boundary")?.to_string())
        }
        Some(Value::Array(a)) => Value::Array(a[from..to].to_vec()),
        _ => Value::Null,
    })
}

/// Go's Sprint: a space between operands when neither is a string.
fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Val| matches!(v, Some(Value::String(_)));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&print::value(&null_if_missing(a)));
    }
    out
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(v: &Val) -> Kind {
    match v {
        Some(Value::Bool(_)) => Kind::Bool,
        Some(Value::Number(n)) if n.is_f64() => Kind::Float,
        Some(Value::Number(_)) => Kind::Int,
        Some(Value::String(_)) => Kind::String,
        _ => Kind::Other,
    }
}

/// Go's `eq` for two values: basic kinds compare by value, unlike kinds are an error unless one is nil.
fn eq(a: &Val, b: &Val) -> Result<bool, String> {
    let present = |v: &Val| !matches!(v, None | Some(Value::Null));
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return if present(a) && present(b) { Err("incompatible types for comparison".into()) } else { Ok(false) };
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => Ok(match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        }),
        (Some(Value::Array(_) | Value::Object(_)), _) | (_, Some(Value::Array(_) | Value::Object(_))) => {
            Err(format!("non-comparable type {}", type_of(a)))
        }
        _ => Ok(present(a) == present(b) && a == b || !present(a) && !present(b)),
    }
}

/// Go's ordering for `lt` and friends: integers, floats and strings, each only with its own kind.
fn compare(a: &Val, b: &Val) -> Result<Ordering, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Other) || matches!(kb, Kind::Bool | Kind::Other) {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        },
        _ => Ordering::Equal,
    })
}

/// Go's strings.Title: the first letter of each word upper-cased, the rest left as they are.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_separator = true;
    for c in s.chars() {
        if after_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        after_separator = if c.is_ascii() { !(c.is_ascii_alphanumeric() || c == '_') } else { c.is_whitespace() };
    }
    out
}
