//! `--chmod` values: octal (`755`, `0644`) or symbolic as chmod(1) reads them (`u+x,go=rX`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause; `who` empty means all (umask is not applied in a build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    ops: Vec<(char, String)>,
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    pub fn parse(value: &str) -> Result<Chmod, String> {
        let invalid = || format!("invalid chmod parameter: {value:?}");
        if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
            let not_octal =
                || format!("invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777");
            let mode = u32::from_str_radix(value, 8).map_err(|_| not_octal())?;
            if mode > 0o7777 {
                return Err(not_octal());
            }
            return Ok(Chmod::Octal(mode));
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            let who_end = part.find(|c| !matches!(c, 'u' | 'g' | 'o' | 'a')).unwrap_or(part.len());
            let who = part[..who_end].chars().fold(0, |w, c| {
                w | match c {
                    'u' => USER,
                    'g' => GROUP,
                    'o' => OTHER,
                    _ => USER | GROUP | OTHER,
                }
            });
            let mut ops = Vec::new();
            let mut rest = &part[who_end..];
            while let Some(op) = rest.chars().next().filter(|c| matches!(c, '+' | '-' | '=')) {
                let perms_end = rest[1..].find(['+', '-', '=']).map_or(rest.len(), |p| p + 1);
                let perms = &rest[1..perms_end];
                if !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'x' | 'X' | 's' | 't')) {
                    return Err(invalid());
                }
                ops.push((op, perms.to_string()));
                rest = &rest[perms_end..];
            }
            if ops.is_empty() || !rest.is_empty() {
                return Err(invalid());
            }
            clauses.push(Clause { who, ops });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The permission bits a file with `mode` gets (`X` sets execute on directories and on files that
    /// already have an execute bit).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(m) => return *m,
            Chmod::Symbolic(c) => c,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            let who = if clause.who == 0 { USER | GROUP | OTHER } else { clause.who };
            for (op, perms) in &clause.ops {
                let mut bits = 0;
                for p in perms.chars() {
                    bits |= match p {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if is_dir || mode & 0o111 != 0 => 0o111,
                        's' => 0o6000,
                        't' => 0o1000,
                        _ => 0,
                    };
                }
                let bits = bits & who;
                match op {
                    '+' => mode |= bits,
                    '-' => mode &= !bits,
                    _ => mode = (mode & !(who & 0o7777)) | bits,
                }
            }
        }
        mode
    }
}
