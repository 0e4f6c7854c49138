//! `run` as one use case: a [`RunSpec`] (filled by any caller, or parsed from Docker's flags by
//! [`RunSpec::from_flags`]) goes through pull-if-missing, create and start in [`Engine::run`]; whatever a
//! failed run made (the container row and directory, the anonymous volumes it created, its network
//! endpoints and mounts) is taken away again before the error is returned.

mod flags;
mod platform;

pub(crate) use platform::image_platform;

/// What a run is made of and the checks its flags go through, for callers that build a [`RunSpec`] by hand.
pub use crate::runtime::{RestartPolicy, RunOptions, check_env, host_cpus};
pub use flags::RunFlags;

use crate::container::{ContainerError, ContainerRecord, CreateRequest, Standby, StartOutcome};
use crate::logs::LogFollower;
use crate::network::PortMapping;
use crate::pull::{PullOptions, Pulled};
use crate::store::StoreError;
use crate::{Engine, Error};

/// Failures of a run's flags, its pull policy, or its rollback; each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid {flag} value {value:?}: {reason}")]
    InvalidFlag { flag: &'static str, value: String, reason: String },
    /// A parser's error (which names the value) under the flag it was given to.
    #[error("{flag}: {source}")]
    Flag {
        flag: &'static str,
        #[source]
        source: Box<Error>,
    },
    /// An option error that names the option itself (limits, capabilities, the seccomp profile...).
    #[error(transparent)]
    Options(Box<Error>),
    #[error("no image given to run")]
    NoImage,
    #[error("No such image: {image} (--pull never)")]
    NotPulled { image: String },
    #[error(
        "image with reference {image} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
    )]
    PlatformMismatch { image: String, wanted: String, actual: String },
    #[error("{error}; removing what the failed run made also failed: {rollback}")]
    RollbackFailed { error: Box<Error>, rollback: String },
}

/// Docker's `--pull`: when `run`/`create` pull the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when the store lacks it (Docker's default).
    #[default]
    Missing,
    Always,
    Never,
}

impl PullPolicy {
    pub fn parse(text: &str) -> Result<PullPolicy, RunError> {
        match text.trim() {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            other => Err(RunError::InvalidFlag {
                flag: "--pull",
                value: other.to_string(),
                reason: "expected missing, always or never".to_string(),
            }),
        }
    }
}

/// What to run: the image, an optional name, the container's options and when to pull.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSpec {
    pub image: String,
    pub name: Option<String>,
    pub options: RunOptions,
    pub pull: PullPolicy,
    /// `--platform`: run that platform's image of the name, pulling it if the policy allows.
    pub platform: Option<crate::registry::Platform>,
}

impl RunSpec {
    /// Checks what can be checked without the store, as Docker's daemon does at create: limits, env
    /// entries, capabilities, the seccomp profile, `--rm` against a restart policy, the stop signal,
    /// `-p` specs and whether the network mode takes them.
    pub fn validate(&self) -> Result<(), RunError> {
        let o = &self.options;
        crate::container::validate_options(o).map_err(|e| RunError::Options(Box::new(e)))?;
        let mut ports = Vec::new();
        for p in &o.publish {
            ports.push(
                PortMapping::parse(p).map_err(|e| RunError::Flag { flag: "--publish", source: Box::new(e.into()) })?,
            );
        }
        crate::network::NetworkMode::from_flags(o.network.as_deref(), &o.network_aliases, &ports)
            .map_err(|e| RunError::Flag { flag: "--network", source: Box::new(e.into()) })?;
        Ok(())
    }
}

/// How far a run got, for callers that print what Docker prints (`Unable to find image ... locally`).
#[derive(Debug, Clone)]
pub enum RunProgress {
    /// The image is being pulled: it was missing, or the policy is `always`.
    Pulling {
        image: String,
        missing: bool,
    },
    Pulled(Pulled),
    Created {
        id: String,
    },
}

/// A started container, with a follower of its log opened before the start: a foreground run reads its
/// output from there, which stays readable even once an `--rm` container's directory is gone.
pub struct RunOutcome {
    pub record: ContainerRecord,
    pub started: StartOutcome,
    pub log: LogFollower,
}

impl Engine {
    /// Pulls the image when the policy says so, creates the container and starts it. Any failure after
    /// the container was recorded removes it again (row, directory, mounts, network endpoints, and the
    /// anonymous volumes this run created) before the error is returned.
    pub async fn run(
        &self,
        spec: RunSpec,
        progress: &(dyn Fn(RunProgress) + Send + Sync),
    ) -> Result<RunOutcome, Error> {
        spec.validate()?;
        // Its start overlaps the image's lookup and the container's making.
        let standby = self.standby();
        let image_id = self.pull_for_run(&spec, progress).await?;
        let request = CreateRequest { image: spec.image, image_id, name: spec.name, options: spec.options };
        let (record, made) = self.create_recording(request)?;
        progress(RunProgress::Created { id: record.id.clone() });
        match self.start_created(&record, standby).await {
            Ok((started, log)) => Ok(RunOutcome { record, started, log }),
            Err(error) => Err(self.roll_back(&record, &made, error).await),
        }
    }

    /// `create` with `run`'s pull policy: the container is recorded, not started.
    pub async fn create(
        &self,
        spec: RunSpec,
        progress: &(dyn Fn(RunProgress) + Send + Sync),
    ) -> Result<ContainerRecord, Error> {
        spec.validate()?;
        let image_id = self.pull_for_run(&spec, progress).await?;
        let request = CreateRequest { image: spec.image, image_id, name: spec.name, options: spec.options };
        let record = self.create_container(request)?;
        progress(RunProgress::Created { id: record.id.clone() });
        Ok(record)
    }

    /// The pull a run's policy asks for, if any. With `--platform`, the image of that platform, which the
    /// name alone may not point at.
    async fn pull_for_run(
        &self,
        spec: &RunSpec,
        progress: &(dyn Fn(RunProgress) + Send + Sync),
    ) -> Result<Option<String>, Error> {
        if let Some(platform) = &spec.platform {
            return self.platform_image_for_run(spec, platform, progress).await.map(Some);
        }
        let missing = match self.image(&spec.image) {
            Ok(_) => false,
            Err(Error::Store(StoreError::ImageNotFound { .. })) => true,
            Err(e) => return Err(e),
        };
        match (spec.pull, missing) {
            (PullPolicy::Never, true) => Err(RunError::NotPulled { image: spec.image.clone() }.into()),
            (PullPolicy::Always, _) | (PullPolicy::Missing, true) => {
                progress(RunProgress::Pulling { image: spec.image.clone(), missing });
                let pulled = self.pull(&spec.image, PullOptions::default()).await?;
                progress(RunProgress::Pulled(pulled));
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Opens the log's follower, then starts.
    async fn start_created(
        &self,
        record: &ContainerRecord,
        standby: Standby,
    ) -> Result<(StartOutcome, LogFollower), Error> {
        let path = self.container_log_path(record);
        let io = |source| ContainerError::Io { id: record.id.clone(), action: "open log", path: path.clone(), source };
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        let log = LogFollower::at_end(&path).map_err(io)?;
        let started = self.start_container_with(&record.id, Some(standby)).await?;
        Ok((started, log))
    }

    /// Removes what a run made after its container was recorded; the run's error, with any part of the
    /// removal that failed.
    async fn roll_back(&self, record: &ContainerRecord, made: &[crate::volume::MountSpec], error: Error) -> Error {
        let mut problems = Vec::new();
        match self.remove_container(&record.id, true).await {
            // An --rm container's monitor may have removed it already.
            Ok(_) | Err(Error::Container(ContainerError::NotFound { .. })) => {}
            Err(e) => problems.push(e.to_string()),
        }
        if let Err(e) = self.remove_anonymous_volumes(made) {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            return error;
        }
        RunError::RollbackFailed { error: Box::new(error), rollback: problems.join("; ") }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies_are_dockers() {
        assert_eq!(PullPolicy::parse("missing").unwrap(), PullPolicy::Missing);
        assert_eq!(PullPolicy::parse("always").unwrap(), PullPolicy::Always);
        assert_eq!(PullPolicy::parse("never").unwrap(), PullPolicy::Never);
        assert!(PullPolicy::parse("sometimes").unwrap_err().to_string().contains("--pull"));
    }

    #[test]
    fn specs_filled_by_hand_are_checked_too() {
        let spec = |options| RunSpec { image: "busybox".into(), options, ..RunSpec::default() };
        assert!(spec(RunOptions::default()).validate().is_ok());
        let ports = RunOptions { publish: vec!["99999".into()], ..RunOptions::default() };
        assert!(spec(ports).validate().unwrap_err().to_string().starts_with("--publish"));
        let host = RunOptions { network: Some("none".into()), publish: vec!["80".into()], ..RunOptions::default() };
        assert!(spec(host).validate().unwrap_err().to_string().starts_with("--network"));
        let caps = RunOptions { cap_add: vec!["NOPE".into()], ..RunOptions::default() };
        assert!(spec(caps).validate().is_err());
    }

    #[test]
    fn exit_codes_are_dockers() {
        let start =
            |code| Error::from(ContainerError::StartFailed { id: "c".into(), message: "m".into(), exit_code: code });
        assert_eq!(start(127).exit_code(), 127);
        assert_eq!(Error::from(RunError::NoImage).exit_code(), 125);
        let partly = RunError::RollbackFailed { error: Box::new(start(126)), rollback: "x".into() };
        assert_eq!(Error::from(partly).exit_code(), 126);
        assert_eq!(Error::from(ContainerError::NotFound { name: "x".into() }).exit_code(), 125);
    }
}
