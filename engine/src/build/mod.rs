//! The Dockerfile front end: everything a build needs to know about *what* to build, without running
//! anything. `dockerfile` parses the text into nodes, `words` substitutes variables as BuildKit does,
//! `instructions` types the nodes, `stages` scopes variables and plans which stages a target needs, and
//! `ignore` reads `.dockerignore`.
//!
//! The tests re-express BuildKit's and patternmatcher's own test data (`testdata/README.md`). Where berth
//! deliberately differs:
//!
//! | case | BuildKit | berth | why |
//! |---|---|---|---|
//! | `ENV X=a` then `ARG X=b` | the later ARG replaces X for expansion and RUN | ENV wins in either order | the build reference and Docker's documentation: ENV always beats ARG of the same name |
//! | `.dockerignore` class with a reversed range (`[Local-Only]`) | accepted, fails at the first match | refused when the file is read | the same build fails either way; earlier names the pattern |
//! | flag and mount errors | `unknown flag: --x` | `COPY: unknown flag: --x` | errors name the line and the instruction |
//! | `${v/p/r}` with `$1` in `r` | Go's regexp expands it | `r` is inserted as written | no capture groups exist in a shell pattern |
//! | a Dockerfile that is not UTF-8 | read byte-wise | refused by the caller reading it | Rust strings are UTF-8 |

pub mod dockerfile;
pub mod ignore;
pub mod instructions;
pub mod stages;
pub mod words;

use thiserror::Error;

/// The front end's error: the parse, the instruction, the plan or the ignore file that is wrong.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    #[error(transparent)]
    Stage(#[from] stages::StageError),
    #[error(transparent)]
    Ignore(#[from] ignore::IgnoreError),
}

impl From<instructions::InstructionError> for BuildError {
    fn from(e: instructions::InstructionError) -> Self {
        BuildError::Stage(e.into())
    }
}

/// Parses a Dockerfile and plans the stages its target needs.
pub fn plan_dockerfile(
    text: &str,
    opts: &stages::PlanOptions,
) -> Result<(dockerfile::Dockerfile, stages::Plan), BuildError> {
    let file = dockerfile::parse(text)?;
    let plan = stages::plan(&file, opts)?;
    Ok((file, plan))
}
