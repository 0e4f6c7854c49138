//! The Dockerfile front end: everything a build needs to know about *what* to build, without running
//! anything. `dockerfile` parses the text into nodes, `words` substitutes variables as BuildKit does,
//! `instructions` types the nodes, `stages` scopes variables and plans which stages a target needs,
//! `expose` turns EXPOSE values into port keys, and `ignore` reads `.dockerignore`.
//!
//! The tests re-express BuildKit's and patternmatcher's own test data (`testdata/README.md`). Where berth
//! deliberately differs:
//!
//! | case | BuildKit | berth | why |
//! |---|---|---|---|
//! | `ENV X=a` then `ARG X=b` | the later ARG replaces X for expansion and RUN | ENV wins in either order | the build reference and Docker's documentation: ENV always beats ARG of the same name |
//! | `.dockerignore` class with a reversed range (`[Local-Only]`) | accepted, fails at the first match | refused when the file is read | the same build fails either way; earlier names the pattern |
//! | flag and mount errors | `unknown flag: --x` | `COPY: unknown flag: --x` | errors name the line and the instruction |
//! | `${v/p/r}` whose `r` still holds a `$` after lexing (`\$1`) | Go's regexp template expands it | `r` is inserted as written | a shell pattern has no capture groups |
//! | `RUN --mount=type=ssh`, `RUN --security=insecure`, `ADD --keep-git-dir` | supported | refused, naming the option | berth has no SSH agent forwarding, runs every build confined, fetches no git sources |
//! | a Dockerfile that is not UTF-8 | read byte-wise | refused by the caller reading it | Rust strings are UTF-8 |

pub mod dockerfile;
pub mod expose;
pub mod ignore;
pub mod instructions;
pub mod stages;
mod suggest;
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

/// An ONBUILD trigger (as `Instruction::Onbuild` keeps it) typed for the child build that runs it after
/// its FROM.
pub fn parse_trigger(expression: &str) -> Result<instructions::Located, BuildError> {
    let file = dockerfile::parse(expression)?;
    let [node] = file.nodes.as_slice() else {
        return Err(dockerfile::ParseError {
            line: 1,
            message: format!("ONBUILD trigger {expression:?} is not one instruction"),
        }
        .into());
    };
    Ok(instructions::parse_node(node)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use instructions::Instruction;

    #[test]
    fn bpa_onbuild_trigger_round_trip() {
        let (_, plan) = plan_dockerfile(
            "FROM a\nONBUILD RUN <<EOF\necho $HOME\nEOF\nONBUILD COPY --chown=1 . /app\n",
            &stages::PlanOptions::default(),
        )
        .unwrap();
        let triggers: Vec<instructions::Located> = plan
            .target()
            .steps
            .iter()
            .map(|s| match &s.instruction {
                Instruction::Onbuild(expr) => parse_trigger(expr).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        let Instruction::Run(run) = &triggers[0].instruction else { panic!() };
        assert_eq!(run.command.files[0].content, "echo $HOME\n");
        let Instruction::Copy(copy) = &triggers[1].instruction else { panic!() };
        assert_eq!((copy.chown.as_deref(), copy.dest.as_str()), (Some("1"), "/app"));
        assert!(parse_trigger("RUN a\nRUN b").is_err());
    }

    #[test]
    fn bpa_front_end_errors_compose() {
        let opts = stages::PlanOptions::default();
        let err = plan_dockerfile("FROM a\nBOGUS x\n", &opts).unwrap_err();
        assert_eq!(err.to_string(), "dockerfile parse error on line 2: unknown instruction: BOGUS");
        let err = plan_dockerfile("", &opts).unwrap_err();
        assert!(matches!(err, BuildError::Parse(_)));
        let err = plan_dockerfile("FROM a\n", &stages::PlanOptions { target: Some("x".into()), ..opts }).unwrap_err();
        assert_eq!(err.to_string(), "target stage \"x\" could not be found");
    }
}
