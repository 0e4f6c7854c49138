//! `berth compose`: the Compose Specification's files (`model`, `interpolate`, `load`), the plan that
//! turns a service into the same [`crate::run::RunSpec`] `berth run` builds (`plan`), and the project
//! operations on [`crate::Engine`] (`project`): containers, networks and volumes named and labelled as
//! docker compose v2 names them, so `up` finds what an earlier `up` made and changes only what changed.

pub mod interpolate;
mod load;
pub mod model;
mod plan;
mod project;

use std::path::PathBuf;

pub use load::{DEFAULT_FILES, LoadOptions, LoadedProject, load};
pub use plan::{
    LABEL_CONFIG_FILES, LABEL_HASH, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, LABEL_WORKING_DIR,
};
pub use project::{DownOptions, OneOffOptions, Progress, UpOptions};

/// A compose file or project that cannot be used; each names the file and key, or the service.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no configuration file provided: not found (looked for {} in {} and its parents)", DEFAULT_FILES.join(", "), dir.display())]
    NoFile { dir: PathBuf },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    EnvFile { path: PathBuf, message: String },
    #[error("{}{}: {}{message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Invalid { file: PathBuf, line: Option<usize>, key: String, message: String },
    #[error("{}: {key}: berth does not support this key", file.display())]
    Unsupported { file: PathBuf, key: String },
    #[error(
        "invalid project name {name:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
    )]
    ProjectName { name: String },
    #[error("dependency cycle detected: {}", services.join(" -> "))]
    Cycle { services: Vec<String> },
    #[error("service {service:?}: {message}")]
    Service { service: String, message: String },
    #[error("no such service: {service}")]
    NoSuchService { service: String },
    #[error("no container of project {project} records its files (com.docker.compose.project.working_dir)")]
    UnknownProject { project: String },
    #[error("dependency failed to start: container {container} {reason}")]
    Dependency { container: String, reason: String },
}

/// The project as `docker compose config` prints it: the merged, interpolated model as YAML.
pub fn to_yaml(model: &model::Project) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(model)
}
