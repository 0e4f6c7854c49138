//! The engine's error: one variant per module, each module's error carrying its own context.
//! The large module errors are boxed so every `Result` stays small.

use thiserror::Error;

use crate::network::NetworkError;
use crate::pull::PullError;
use crate::registry::RegistryError;

/// An error and its causes on one line, skipping causes whose text the line already holds (engine errors
/// embed their source's text; reqwest's own names only the request).
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(err) = cause {
        let part = err.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = err.source();
    }
    text
}

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Pull(Box<PullError>),
    #[error(transparent)]
    Push(Box<crate::push::PushError>),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    #[error(transparent)]
    Network(Box<NetworkError>),
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error(transparent)]
    Run(Box<crate::run::RunError>),
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    #[error(transparent)]
    Local(#[from] crate::local::LocalError),
    #[error(transparent)]
    Builder(#[from] crate::builder::BuilderError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Kube(Box<crate::kube::KubeError>),
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    #[error(transparent)]
    Archive(Box<crate::archive::ArchiveError>),
    #[error(transparent)]
    Manifest(Box<crate::manifest::ManifestError>),
}

impl From<crate::run::RunError> for Error {
    fn from(e: crate::run::RunError) -> Self {
        Error::Run(Box::new(e))
    }
}

impl From<NetworkError> for Error {
    fn from(e: NetworkError) -> Self {
        Error::Network(Box::new(e))
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Error::Registry(Box::new(e))
    }
}

impl From<crate::archive::ArchiveError> for Error {
    fn from(e: crate::archive::ArchiveError) -> Self {
        Error::Archive(Box::new(e))
    }
}

impl From<PullError> for Error {
    fn from(e: PullError) -> Self {
        Error::Pull(Box::new(e))
    }
}

impl From<crate::push::PushError> for Error {
    fn from(e: crate::push::PushError) -> Self {
        Error::Push(Box::new(e))
    }
}

impl Error {
    /// The exit code Docker's CLI gives this failure: the container's (126/127 for a command that cannot
    /// be run) when it failed to start, 125 for every error of berth itself.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Container(e) => e.exit_code(),
            Error::Run(e) => match e.as_ref() {
                crate::run::RunError::RollbackFailed { error, .. } => error.exit_code(),
                _ => 125,
            },
            _ => 125,
        }
    }
}
