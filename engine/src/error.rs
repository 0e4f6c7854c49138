//! The engine's error: one variant per module, each module's error carrying its own context.
//! The large module errors are boxed so every `Result` stays small.

use thiserror::Error;

use crate::network::NetworkError;
use crate::pull::PullError;
use crate::registry::RegistryError;

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
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    #[error(transparent)]
    Network(Box<NetworkError>),
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
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

impl From<PullError> for Error {
    fn from(e: PullError) -> Self {
        Error::Pull(Box::new(e))
    }
}
