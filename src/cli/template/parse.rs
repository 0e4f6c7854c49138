//! The parse tree of berth's subset of Go's text/template, and its parser. Anything outside the subset is
//! refused here, naming it and where it is.

use super::TemplateError;
use super::funcs;
use super::lex::{Tok, Token};

#[derive(Debug)]
pub enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the pipeline's value unless it declares a variable.
    Action(Pipeline),
    If(Branch),
    With(Branch),
    Range(Branch),
}

/// The body of `if`, `with` and `range`: the pipeline, the list it guards and the `else` list.
#[derive(Debug)]
pub struct Branch {
    pub pipe: Pipeline,
    pub list: Vec<Node>,
    pub else_list: Vec<Node>,
}

#[derive(Debug)]
pub struct Pipeline {
    pub pos: usize,
    /// Variables the pipeline declares (`$x :=`, `$i, $v :=`) or assigns (`$x =`).
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub args: Vec<Operand>,
}

#[derive(Debug)]
pub struct Operand {
    pub pos: usize,
    pub term: Term,
    /// Fields read from the term's value: `.A.B`, `$x.A`, `(pipeline).A`.
    pub fields: Vec<String>,
}

#[derive(Debug)]
pub enum Term {
    Dot,
    Var(String),
    Func(String),
    Value(serde_json::Value),
    Nil,
    Pipe(Box<Pipeline>),
}

impl Operand {
    /// The operand as written, for error messages (`<.State.Status>`).
    pub fn describe(&self) -> String {
        let base = match &self.term {
            Term::Dot if !self.fields.is_empty() => String::new(),
            Term::Dot => ".".into(),
            Term::Var(v) => v.clone(),
            Term::Func(f) => f.clone(),
            Term::Value(v) => v.to_string(),
            Term::Nil => "nil".into(),
            Term::Pipe(_) => "(…)".into(),
        };
        self.fields.iter().fold(base, |acc, f| format!("{acc}.{f}"))
    }
}

pub fn parse(src: &str, tokens: Vec<Token>) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser { src, tokens, at: 0, vars: vec![vec!["$".to_string()]] };
    let (list, end) = p.list()?;
    match end {
        None => Ok(list),
        Some((word, pos)) => Err(p.err(pos, format!("unexpected {{{{{word}}}}}"))),
    }
}

/// The `{{end}}` or `{{else}}` that ended a list, and where its action starts.
type Ending = (String, usize);

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    at: usize,
    /// Variables in scope, one frame per control structure, to refuse undefined ones at parse time as Go does.
    vars: Vec<Vec<String>>,
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: String) -> TemplateError {
        TemplateError::parse(self.src, pos, msg)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn end_pos(&self) -> usize {
        self.src.len()
    }

    /// Nodes up to `{{end}}` or `{{else}}` (returned with the position of its action) or the end of the template.
    fn list(&mut self) -> Result<(Vec<Node>, Option<Ending>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.next() {
            match token.tok {
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::Open => {
                    let word = match self.peek().map(|t| &t.tok) {
                        Some(Tok::Ident(w)) => Some(w.clone()),
                        _ => None,
                    };
                    match word.as_deref() {
                        Some("end") | Some("else") => {
                            self.at += 1;
                            return Ok((nodes, word.map(|w| (w, token.pos))));
                        }
                        Some("if") => {
                            self.at += 1;
                            nodes.push(Node::If(self.branch("if", token.pos)?));
                        }
                        Some("with") => {
                            self.at += 1;
                            nodes.push(Node::With(self.branch("with", token.pos)?));
                        }
                        Some("range") => {
                            self.at += 1;
                            nodes.push(Node::Range(self.branch("range", token.pos)?));
                        }
                        Some(w @ ("define" | "template" | "block" | "break" | "continue")) => {
                            return Err(
                                self.err(token.pos, format!("{{{{{w}}}}} is not supported by berth's templates"))
                            );
                        }
                        _ => {
                            let pipe = self.pipeline(true)?;
                            if pipe.cmds.is_empty() {
                                return Err(self.err(token.pos, "missing value for command".into()));
                            }
                            self.close("command")?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err(token.pos, format!("unexpected {}", show(&other)))),
            }
        }
        Ok((nodes, None))
    }

    fn close(&mut self, context: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Token { tok: Tok::Close, .. }) => Ok(()),
            Some(t) => Err(self.err(t.pos, format!("unexpected {} in {context}", show(&t.tok)))),
            None => Err(self.err(self.end_pos(), format!("unclosed action in {context}"))),
        }
    }

    /// `if`/`with`/`range` after its keyword, through its `{{end}}`; `{{else if}}`/`{{else with}}` nest.
    fn branch(&mut self, keyword: &str, pos: usize) -> Result<Branch, TemplateError> {
        self.vars.push(Vec::new());
        let pipe = self.pipeline(keyword != "range")?;
        if pipe.cmds.is_empty() {
            return Err(self.err(pos, format!("missing value for {keyword}")));
        }
        self.close(keyword)?;
        let (list, end) = self.list()?;
        let else_list = match end {
            Some((w, _)) if w == "end" => {
                self.close("end")?;
                Vec::new()
            }
            Some((_, else_pos)) => {
                let chained =
                    matches!(self.peek().map(|t| &t.tok), Some(Tok::Ident(w)) if keyword != "range" && w == keyword);
                if chained {
                    self.at += 1;
                    let inner = self.branch(keyword, else_pos)?;
                    vec![if keyword == "if" { Node::If(inner) } else { Node::With(inner) }]
                } else {
                    self.close("else")?;
                    let (else_list, end) = self.list()?;
                    match end {
                        Some((w, _)) if w == "end" => self.close("end")?,
                        Some((w, p)) => return Err(self.err(p, format!("expected end; found {{{{{w}}}}}"))),
                        None => {
                            return Err(self.err(pos, format!("unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}")));
                        }
                    }
                    else_list
                }
            }
            None => return Err(self.err(pos, format!("unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}"))),
        };
        self.vars.pop();
        Ok(Branch { pipe, list, else_list })
    }

    /// A pipeline up to (not including) `}}` or `)`, with its declaration if any.
    fn pipeline(&mut self, single_var: bool) -> Result<Pipeline, TemplateError> {
        let pos = self.peek().map(|t| t.pos).unwrap_or(self.end_pos());
        let mut vars = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $v :=`.
        let save = self.at;
        while let Some(Token { tok: Tok::Var(name), .. }) = self.peek().cloned() {
            self.at += 1;
            match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Declare) => {
                    vars.push(name);
                    self.at += 1;
                    break;
                }
                Some(Tok::Assign) => {
                    vars.push(name);
                    assign = true;
                    self.at += 1;
                    break;
                }
                Some(Tok::Comma) if !single_var && vars.is_empty() => {
                    vars.push(name);
                    self.at += 1;
                }
                _ => {
                    vars.clear();
                    self.at = save;
                    break;
                }
            }
        }
        if assign && !self.vars.iter().flatten().any(|v| *v == vars[0]) {
            return Err(self.err(pos, format!("undefined variable \"{}\"", vars[0])));
        }
        let mut cmds = Vec::new();
        loop {
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Close) | Some(Tok::RParen) | None => break,
                _ => {}
            }
            cmds.push(self.command()?);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Pipe) => {
                    self.at += 1;
                    if matches!(self.peek().map(|t| &t.tok), Some(Tok::Close) | Some(Tok::RParen) | None) {
                        return Err(self.err(pos, "missing command after |".into()));
                    }
                }
                _ => break,
            }
        }
        if !assign && let Some(frame) = self.vars.last_mut() {
            frame.extend(vars.iter().cloned());
        }
        Ok(Pipeline { pos, vars, assign, cmds })
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let pos = self.peek().map(|t| t.pos).unwrap_or(self.end_pos());
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t.tok, Tok::Close | Tok::RParen | Tok::Pipe) {
                break;
            }
            if !args.is_empty() && !t.spaced && !matches!(t.tok, Tok::LParen) {
                return Err(self.err(t.pos, format!("missing space before {}", show(&t.tok))));
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command".into()));
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        let Some(token) = self.next() else {
            return Err(self.err(self.end_pos(), "unexpected end of template".into()));
        };
        let pos = token.pos;
        let mut fields = Vec::new();
        let term = match token.tok {
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                fields.push(f);
                Term::Dot
            }
            Tok::Var(v) => {
                if !self.vars.iter().flatten().any(|d| *d == v) {
                    return Err(self.err(pos, format!("undefined variable \"{v}\"")));
                }
                Term::Var(v)
            }
            Tok::Str(s) => Term::Value(s.into()),
            Tok::Int(n) => Term::Value(n.into()),
            Tok::Float(f) => Term::Value(f.into()),
            Tok::LParen => {
                let pipe = self.pipeline(true)?;
                match self.next() {
                    Some(Token { tok: Tok::RParen, .. }) => {}
                    _ => return Err(self.err(pos, "unclosed left paren".into())),
                }
                Term::Pipe(Box::new(pipe))
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Term::Value(true.into()),
                "false" => Term::Value(false.into()),
                "nil" => Term::Nil,
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                    return Err(self.err(pos, format!("unexpected {{{{{word}}}}} in operand")));
                }
                name => match funcs::check(name) {
                    Ok(()) => Term::Func(word),
                    Err(msg) => return Err(self.err(pos, msg)),
                },
            },
            other => return Err(self.err(pos, format!("unexpected {} in operand", show(&other)))),
        };
        while let Some(Token { tok: Tok::Field(f), spaced: false, .. }) = self.peek().cloned() {
            if !matches!(term, Term::Dot | Term::Var(_) | Term::Pipe(_)) {
                return Err(self.err(pos, format!("unexpected <.{f}> in operand")));
            }
            fields.push(f);
            self.at += 1;
        }
        Ok(Operand { pos, term, fields })
    }
}

fn show(tok: &Tok) -> String {
    match tok {
        Tok::Text(t) => format!("text {t:?}"),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Dot => "<.>".into(),
        Tok::Var(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Int(n) => n.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}
