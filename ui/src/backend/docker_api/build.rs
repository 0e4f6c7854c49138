//! A build on a remote engine through the API's classic builder (`POST /build`, as `DOCKER_BUILDKIT=0 docker
//! build` and `berth serve` speak it): the context directory sent as a tar, and the `{"stream": ...}` lines read
//! back as the build dialog's steps.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::super::{BuildProgress, BuildRequest};

/// The context directory as a tar (symlinks kept as links), for the request body.
pub fn context_tar(dir: &Path) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}

/// The Dockerfile's path inside the context, as the API takes it; a Dockerfile outside the context cannot be
/// sent and is refused.
pub fn dockerfile_in_context(request: &BuildRequest) -> Result<String, String> {
    let Some(dockerfile) = request.dockerfile.as_deref().filter(|d| !d.trim().is_empty()) else {
        return Ok("Dockerfile".into());
    };
    let context = std::path::absolute(&request.context).unwrap_or_else(|_| PathBuf::from(&request.context));
    let path = std::path::absolute(dockerfile).unwrap_or_else(|_| PathBuf::from(dockerfile));
    path.strip_prefix(&context).map(|p| p.display().to_string()).map_err(|_| {
        format!("{dockerfile} is outside the context {}: a remote engine only gets the context", request.context)
    })
}

/// Reads the builder's output lines into steps: `Step N[/M] : X` opens step N (ending the one before), ` --->
/// Using cache` marks it cached, other ` ---> ` lines are the builder's own, and the rest is the step's output.
#[derive(Default)]
pub struct Steps {
    current: Option<(usize, Instant)>,
}

impl Steps {
    pub fn read(&mut self, text: &str) -> Vec<BuildProgress> {
        let mut progress = Vec::new();
        for line in text.lines() {
            if let Some((number, name)) = step(line) {
                progress.extend(self.finish());
                self.current = Some((number, Instant::now()));
                progress.push(BuildProgress::Step { number, name: name.to_string() });
                continue;
            }
            let Some((number, _)) = self.current else { continue };
            match line.strip_prefix(" ---> ") {
                Some("Using cache") => progress.push(BuildProgress::Cached { number }),
                Some(_) => {}
                None if line.starts_with("Successfully ") || line.starts_with("Removing intermediate") => {}
                None => progress.push(BuildProgress::Output { number, line: line.to_string() }),
            }
        }
        progress
    }

    /// The running step's end, if one runs.
    pub fn finish(&mut self) -> Option<BuildProgress> {
        let (number, started) = self.current.take()?;
        Some(BuildProgress::Done { number, seconds: started.elapsed().as_secs_f64() })
    }
}

fn step(line: &str) -> Option<(usize, &str)> {
    let (head, name) = line.strip_prefix("Step ")?.split_once(" : ")?;
    let number = head.split('/').next()?.trim().parse().ok()?;
    Some((number, name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_builder_lines_become_steps_cached_marks_and_output() {
        let mut steps = Steps::default();
        let mut progress = steps.read("Step 1/2 : FROM busybox\n ---> 1234\nStep 2/2 : RUN echo hi\n");
        progress.extend(steps.read(" ---> Running in abc\nhi\n ---> Using cache\nSuccessfully built 99\n"));
        progress.extend(steps.finish());
        let kinds: Vec<String> = progress
            .iter()
            .map(|p| match p {
                BuildProgress::Step { number, name } => format!("step {number} {name}"),
                BuildProgress::Done { number, .. } => format!("done {number}"),
                BuildProgress::Cached { number } => format!("cached {number}"),
                BuildProgress::Output { number, line } => format!("out {number} {line}"),
                BuildProgress::Pulling { image } => format!("pull {image}"),
            })
            .collect();
        assert_eq!(kinds, ["step 1 FROM busybox", "done 1", "step 2 RUN echo hi", "out 2 hi", "cached 2", "done 2"]);
    }

    #[test]
    fn br_a_dockerfile_outside_the_context_is_refused() {
        let request = |dockerfile: &str| BuildRequest {
            context: "/src/app".into(),
            dockerfile: Some(dockerfile.into()),
            ..BuildRequest::default()
        };
        assert_eq!(dockerfile_in_context(&request("/src/app/docker/Dockerfile.dev")).unwrap(), "docker/Dockerfile.dev");
        assert!(dockerfile_in_context(&request("/elsewhere/Dockerfile")).unwrap_err().contains("outside the context"));
    }
}
