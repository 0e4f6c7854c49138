//! The run dialog's [`RunRequest`] as the engine's [`RunSpec`], through the same flag parser as
//! `berth run`: ports, volumes, network, env and restart policy are checked (and refused with the same
//! message naming the flag and value) wherever they were typed.

use berth_engine::run::{RunFlags, RunSpec};

use super::RunRequest;

/// The engine's spec for a dialog's request; the parser's message when a field is wrong.
pub fn run_spec(request: &RunRequest) -> Result<RunSpec, String> {
    let flags = RunFlags {
        name: request.name.clone(),
        env: request.env.clone(),
        publish: request.ports.clone(),
        volume: request.volumes.clone(),
        network: request.network.clone(),
        restart: request.restart.clone(),
        ..RunFlags::default()
    };
    RunSpec::from_flags(&request.image, request.command.clone(), &flags).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use berth_engine::run::RestartPolicy;

    use super::*;

    fn request() -> RunRequest {
        RunRequest {
            image: "busybox".into(),
            name: Some("web".into()),
            command: vec!["httpd".into(), "-f".into()],
            env: vec!["A=1".into()],
            ports: vec!["8080:80".into()],
            volumes: vec!["data:/data:ro".into()],
            network: Some("back".into()),
            restart: Some("on-failure:3".into()),
        }
    }

    #[test]
    fn carries_every_field() {
        let spec = run_spec(&request()).unwrap();
        assert_eq!((spec.image.as_str(), spec.name.as_deref()), ("busybox", Some("web")));
        let o = &spec.options;
        assert_eq!(
            (o.cmd.as_slice(), o.env.as_slice()),
            (&["httpd".to_string(), "-f".into()][..], &["A=1".into()][..])
        );
        assert_eq!((o.publish.as_slice(), o.network.as_deref()), (&["8080:80".to_string()][..], Some("back")));
        assert_eq!((o.mounts.len(), o.mounts[0].source.as_str(), o.mounts[0].read_only), (1, "data", true));
        assert_eq!(o.restart, RestartPolicy::OnFailure { max_retries: Some(3) });
    }

    #[test]
    fn blank_name_and_restart_mean_none() {
        let spec = run_spec(&RunRequest { name: Some(" ".into()), restart: Some(String::new()), ..request() }).unwrap();
        assert_eq!((spec.name, spec.options.restart), (None, RestartPolicy::No));
    }

    #[test]
    fn bad_values_get_the_flag_parsers_message() {
        let ports = run_spec(&RunRequest { ports: vec!["80:x".into()], ..request() }).unwrap_err();
        assert!(ports.starts_with("--publish: invalid port mapping \"80:x\""), "{ports}");
        let volumes = run_spec(&RunRequest { volumes: vec!["a:b:c:d".into()], ..request() }).unwrap_err();
        assert!(volumes.starts_with("--volume"), "{volumes}");
        let restart = run_spec(&RunRequest { restart: Some("sometimes".into()), ..request() }).unwrap_err();
        assert!(restart.contains("sometimes"), "{restart}");
    }
}
