//! The run dialog's [`RunRequest`] as the engine's [`CreateRequest`]: what the engine cannot do
//! yet (ports, volumes, networks) is refused by name rather than silently dropped.

use berth_engine::container::CreateRequest;
use berth_engine::runtime::{RestartPolicy, RunOptions};

use super::{BackendError, RunRequest};

/// Builds the engine's create request; `Unsupported` names the first option the engine lacks.
pub fn create_request(request: RunRequest) -> Result<CreateRequest, BackendError> {
    let unsupported = |reason| BackendError::Unsupported { operation: "run", target: request.image.clone(), reason };
    if !request.ports.is_empty() {
        return Err(unsupported("the engine cannot publish ports yet (-p)"));
    }
    if !request.volumes.is_empty() {
        return Err(unsupported("the engine cannot mount volumes yet (-v)"));
    }
    if request.network.is_some() {
        return Err(unsupported("the engine cannot pick a network yet (--network)"));
    }
    let restart = match request.restart.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(text) => RestartPolicy::parse(text).map_err(|e| BackendError::Failed {
            operation: "run",
            target: request.image.clone(),
            message: e.to_string(),
        })?,
        None => RestartPolicy::No,
    };
    let name = request.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let options = RunOptions { cmd: request.command, env: request.env, restart, ..RunOptions::default() };
    Ok(CreateRequest { image: request.image, name, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RunRequest {
        RunRequest {
            image: "busybox".into(),
            name: Some("web".into()),
            command: vec!["httpd".into(), "-f".into()],
            env: vec!["A=1".into()],
            restart: Some("on-failure:3".into()),
            ..RunRequest::default()
        }
    }

    #[test]
    fn carries_name_command_env_and_restart() {
        let create = create_request(request()).unwrap();
        assert_eq!((create.image.as_str(), create.name.as_deref()), ("busybox", Some("web")));
        assert_eq!(create.options.cmd, vec!["httpd", "-f"]);
        assert_eq!(create.options.env, vec!["A=1"]);
        assert_eq!(create.options.restart, RestartPolicy::OnFailure { max_retries: Some(3) });
    }

    #[test]
    fn blank_name_and_restart_mean_none() {
        let create =
            create_request(RunRequest { name: Some(" ".into()), restart: Some(String::new()), ..request() }).unwrap();
        assert_eq!(create.name, None);
        assert_eq!(create.options.restart, RestartPolicy::No);
    }

    #[test]
    fn refuses_what_the_engine_lacks_and_bad_policies() {
        let ports = create_request(RunRequest { ports: vec!["8080:80".into()], ..request() });
        assert!(matches!(ports, Err(BackendError::Unsupported { reason, .. }) if reason.contains("ports")));
        let volumes = create_request(RunRequest { volumes: vec!["/a:/b".into()], ..request() });
        assert!(matches!(volumes, Err(BackendError::Unsupported { reason, .. }) if reason.contains("volumes")));
        let network = create_request(RunRequest { network: Some("net".into()), ..request() });
        assert!(matches!(network, Err(BackendError::Unsupported { reason, .. }) if reason.contains("network")));
        let restart = create_request(RunRequest { restart: Some("sometimes".into()), ..request() });
        assert!(matches!(restart, Err(BackendError::Failed { target, .. }) if target == "busybox"));
    }
}
