//! `berth kube`: the hand-off to Kubernetes. `generate` writes containers as typed Kubernetes objects
//! (k8s-openapi, API v1.35) in YAML; `play` runs such YAML locally as pods made of ordinary containers
//! through the run use case; `down` removes what `play` made. Whatever one side cannot express in the other
//! comes back as a [`Note`] for the caller to print, never dropped silently.

mod fields;
mod generate;
mod names;
mod play;
mod quantity;
mod yaml;

pub use generate::{GenerateOptions, Generated, Kind, Source};
pub use play::{DownOutcome, PlayOutcome, PlayedPod};

use std::path::PathBuf;

/// The label `play` puts on each container of a pod: the pod's name, which `down` and the TUI group by.
pub const POD_LABEL: &str = "io.berth.kube.pod";
/// The label naming the container's role in its pod (`infra` holder or the container's own name).
pub const CONTAINER_LABEL: &str = "io.berth.kube.container";

/// Something a Kubernetes object or a container holds that the other side cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(pub String);

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Failures of `kube generate`, `play` and `down`, each naming the file, object or container.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no containers given: name containers or --project")]
    NothingToGenerate,
    #[error("no containers of compose project {0:?}")]
    EmptyProject(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: document {document}: {reason}")]
    Malformed { path: PathBuf, document: usize, reason: String },
    #[error("{path}: {object}: {field} is not supported by kube play: {reason}")]
    Unsupported { path: PathBuf, object: String, field: String, reason: String },
    #[error("{path}: {object}: {reason}")]
    Invalid { path: PathBuf, object: String, reason: String },
    #[error("{path}: no Pod or Deployment to play")]
    NoPods { path: PathBuf },
    #[error("pod {pod} already exists (container {container}); kube down its file first")]
    PodExists { pod: String, container: String },
    #[error("writing YAML: {0}")]
    Write(String),
    #[error("pod {pod}: container {container}: {source}")]
    Run {
        pod: String,
        container: String,
        #[source]
        source: Box<crate::Error>,
    },
}
