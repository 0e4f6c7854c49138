//! Values as Go's fmt prints them: `%v` (what an action prints) and `printf`'s verbs.

use serde_json::{Number, Value};

use super::Val;

/// Go's `%v`: strings raw, `[a b]`, `map[k:v]` in key order, `<nil>`, and `<no value>` for a missing key.
pub fn value(v: &Val) -> String {
    match v {
        None => "<no value>".into(),
        Some(v) => plain(v),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.into_iter().map(|k| format!("{k}:{}", plain(&m[k]))).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn number(n: &Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (None, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => shortest(f),
        _ => n.to_string(),
    }
}

/// JSON as Go's encoding/json writes it (docker's `json` function): keys in order, no HTML escaping, floats
/// without a trailing `.0` and in exponent form only below 1e-6 or from 1e21.
pub fn json(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f != 0.0 && !(1e-6..1e21).contains(&f.abs()) {
                let e = format!("{f:e}");
                let (m, exp) = mantissa_exp(&e);
                format!("{m}e{}{exp}", if exp < 0 { "-" } else { "+" }, exp = exp.unsigned_abs())
            } else {
                format!("{f}")
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(json).collect::<Vec<_>>().join(",")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> =
                keys.into_iter().map(|k| format!("{}:{}", Value::from(k.as_str()), json(&m[k]))).collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

/// Go's name for a value's type, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a float64: `%g` with the fewest digits that read back, exponent form from 1e+06 or below 1e-4.
pub fn shortest(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    let (_, exp) = mantissa_exp(&format!("{f:e}"));
    if !(-4..6).contains(&exp) { exp_form(&format!("{f:e}")) } else { format!("{f}") }
}

fn mantissa_exp(e: &str) -> (&str, i32) {
    let (m, exp) = e.split_once('e').unwrap_or((e, "0"));
    (m, exp.parse().unwrap_or(0))
}

/// Rust's `1.5e6` as Go writes it: `1.5e+06`.
fn exp_form(e: &str) -> String {
    let (m, exp) = mantissa_exp(e);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{m}e{sign}{:02}", exp.unsigned_abs())
}

/// One `%` directive's flags, width and precision.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Go's Sprintf for the verbs templates use: %v %s %q %d %t %f %e %g %x %X %o %b %c and %%, with flags, width
/// and precision; mismatches are written as Go writes them (`%!d(string=x)`, `%!s(MISSING)`).
pub fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let v = arg.clone().unwrap_or(Value::Null);
        let text = match directive(verb, &spec, &v) {
            Some(text) => text,
            None => {
                out.push_str(&bad_verb(verb, &v));
                continue;
            }
        };
        out.push_str(&pad(&text, &spec, verb, &v));
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| {
                let v = a.clone().unwrap_or(Value::Null);
                if v.is_null() { "<nil>".into() } else { format!("{}={}", type_name(&v), plain(&v)) }
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn bad_verb(verb: char, v: &Value) -> String {
    if v.is_null() { format!("%!{verb}(<nil>)") } else { format!("%!{verb}({}={})", type_name(v), plain(v)) }
}

/// The directive's text before width padding; None when the verb does not fit the value.
fn directive(verb: char, spec: &Spec, v: &Value) -> Option<String> {
    let int = v.as_i64();
    let float = match v {
        Value::Number(n) if n.is_f64() => n.as_f64(),
        _ => None,
    };
    let signed = |s: String| {
        if s.starts_with('-') {
            s
        } else if spec.plus {
            format!("+{s}")
        } else if spec.space {
            format!(" {s}")
        } else {
            s
        }
    };
    Some(match verb {
        'v' => match (v, float, spec.precision) {
            (_, Some(f), Some(p)) => signed(g_with_precision(f, p)),
            (Value::Number(_), _, _) => signed(plain(v)),
            _ => plain(v),
        },
        's' => match v {
            Value::String(s) => match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            Value::Array(_) | Value::Object(_) => plain(v),
            _ => return None,
        },
        'q' => match (v, int) {
            (Value::String(s), _) => quote(s),
            (_, Some(i)) => format!("'{}'", char::from_u32(i as u32).unwrap_or('\u{fffd}')),
            _ => return None,
        },
        't' => match v {
            Value::Bool(b) => b.to_string(),
            _ => return None,
        },
        'd' => signed(int?.to_string()),
        'c' => char::from_u32(u32::try_from(int?).ok()?)?.to_string(),
        'x' | 'X' | 'o' | 'b' => match (v, int) {
            (_, Some(i)) => {
                let mag = i.unsigned_abs();
                let digits = match verb {
                    'x' => format!("{mag:x}"),
                    'X' => format!("{mag:X}"),
                    'o' => format!("{mag:o}"),
                    _ => format!("{mag:b}"),
                };
                signed(if i < 0 { format!("-{digits}") } else { digits })
            }
            (Value::String(s), _) if matches!(verb, 'x' | 'X') => {
                let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' { hex.to_uppercase() } else { hex }
            }
            _ => return None,
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let f = float?;
            let text = match verb {
                'f' | 'F' => format!("{f:.*}", spec.precision.unwrap_or(6)),
                'e' | 'E' => exp_form(&format!("{f:.*e}", spec.precision.unwrap_or(6))),
                _ => match spec.precision {
                    Some(p) => g_with_precision(f, p),
                    None => shortest(f),
                },
            };
            signed(if verb.is_uppercase() { text.to_uppercase() } else { text })
        }
        _ => return None,
    })
}

/// `%.Ng`: N significant digits, exponent form when the exponent is below -4 or at least N.
fn g_with_precision(f: f64, p: usize) -> String {
    let p = p.max(1);
    let e = format!("{f:.*e}", p - 1);
    let (m, exp) = mantissa_exp(&e);
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if exp < -4 || exp >= p as i32 {
        exp_form(&format!("{}e{exp}", trim(m.to_string())))
    } else {
        trim(format!("{f:.*}", (p as i32 - 1 - exp).max(0) as usize))
    }
}

/// Go's strconv.Quote, close enough for the text templates print.
fn quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pad(text: &str, spec: &Spec, verb: char, v: &Value) -> String {
    let Some(width) = spec.width else { return text.to_string() };
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let fill = width - len;
    if spec.minus {
        return format!("{text}{}", " ".repeat(fill));
    }
    let numeric = matches!(v, Value::Number(_)) && verb != 'c' && verb != 'q';
    if spec.zero && numeric {
        let (sign, digits) = match text.chars().next() {
            Some(s @ ('-' | '+' | ' ')) => (s.to_string(), &text[1..]),
            _ => (String::new(), text),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    format!("{}{text}", " ".repeat(fill))
}
