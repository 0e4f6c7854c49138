//! What kind of failure an [`Error`] is, for callers that report it to someone else's client: the API
//! server turns it into moby's status code (404, 409, 400, else 500), a client then acts on it (the docker
//! CLI pulls after a 404 on create, `rm -f` ignores a 404).

use crate::Error;
use crate::container::ContainerError;
use crate::network::NetworkError;
use crate::run::RunError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;
use crate::volume::VolumeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named container, image, network or volume does not exist.
    NotFound,
    /// The object exists but its state or name refuses the operation.
    Conflict,
    /// The request itself is wrong: a bad value, name, filter or option.
    Invalid,
    /// Not allowed at all (a predefined network).
    Forbidden,
    /// Anything else: the machine, the store, a registry.
    Other,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self {
            Error::Container(c) => match c {
                ContainerError::NotFound { .. } => NotFound,
                ContainerError::NameInUse { .. }
                | ContainerError::InvalidState { .. }
                | ContainerError::RemoveRunning { .. }
                | ContainerError::AlreadyRunning { .. }
                | ContainerError::ImageInUse { .. }
                | ContainerError::UpdateRefused { .. } => Conflict,
                ContainerError::Ambiguous { .. }
                | ContainerError::InvalidName { .. }
                | ContainerError::InvalidSignal { .. }
                | ContainerError::InvalidFilter { .. }
                | ContainerError::NothingToUpdate => Invalid,
                // A command that cannot be run is the request's fault (moby: invalid parameter).
                ContainerError::StartFailed { exit_code: 126 | 127, .. } => Invalid,
                _ => Other,
            },
            Error::Store(s) => match s {
                StoreError::ImageNotFound { .. } => NotFound,
                StoreError::AmbiguousImage { .. } => Invalid,
                StoreError::ImageHasTags { .. } => Conflict,
                _ => Other,
            },
            Error::Network(n) => match n.as_ref() {
                NetworkError::NotFound { .. } => NotFound,
                NetworkError::NameTaken { .. }
                | NetworkError::InUse { .. }
                | NetworkError::AlreadyConnected { .. }
                | NetworkError::PortTaken { .. } => Conflict,
                NetworkError::Predefined { .. } => Forbidden,
                NetworkError::BadName { .. }
                | NetworkError::BadConfig { .. }
                | NetworkError::SubnetOverlap { .. }
                | NetworkError::BadPort { .. }
                | NetworkError::ModeTakesNoOptions { .. }
                | NetworkError::NotConnected { .. } => Invalid,
                _ => Other,
            },
            Error::Volume(v) => match v {
                VolumeError::NotFound { .. } => NotFound,
                VolumeError::Exists { .. } | VolumeError::InUse { .. } => Conflict,
                VolumeError::InvalidName { .. }
                | VolumeError::BindSourceMissing { .. }
                | VolumeError::DuplicateTarget { .. }
                | VolumeError::UnsupportedOption { .. }
                | VolumeError::InvalidFilter { .. } => Invalid,
                VolumeError::Store(StoreError::ImageNotFound { .. }) => NotFound,
                _ => Other,
            },
            Error::Run(r) => match r.as_ref() {
                RunError::NotPulled { .. } => NotFound,
                RunError::RollbackFailed { error, .. } => error.kind(),
                RunError::Options(inner) | RunError::Flag { source: inner, .. } => match inner.kind() {
                    Other => Invalid,
                    kind => kind,
                },
                _ => Invalid,
            },
            Error::Runtime(
                RuntimeError::InvalidOption { .. }
                | RuntimeError::UnknownCapability { .. }
                | RuntimeError::SeccompProfile { .. }
                | RuntimeError::RelativeWorkdir { .. }
                | RuntimeError::NoCommand { .. },
            ) => Invalid,
            Error::Reference(_) | Error::Build(_) => Invalid,
            _ => Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_objects_conflicts_and_bad_input_are_told_apart() {
        assert_eq!(Error::from(ContainerError::NotFound { name: "x".into() }).kind(), ErrorKind::NotFound);
        assert_eq!(Error::from(StoreError::ImageNotFound { name: "x".into() }).kind(), ErrorKind::NotFound);
        let taken = ContainerError::NameInUse { name: "web".into(), id: "1".into() };
        assert_eq!(Error::from(taken).kind(), ErrorKind::Conflict);
        assert_eq!(Error::from(RunError::NoImage).kind(), ErrorKind::Invalid);
        let wrapped =
            RunError::Flag { flag: "--network", source: Box::new(NetworkError::NotFound { name: "n".into() }.into()) };
        assert_eq!(Error::from(wrapped).kind(), ErrorKind::NotFound);
        assert_eq!(Error::from(NetworkError::Predefined { name: "bridge".into() }).kind(), ErrorKind::Forbidden);
    }
}
