//! Credentials a caller hands over for one operation: the API server's `X-Registry-Auth` and
//! `X-Registry-Config` headers, which carry what the client's `docker login` saved. They are consulted
//! before Docker's files, live only as long as the operation, and are never written anywhere.
//!
//! They reach the registry client through a task-local scope rather than another field on every options
//! type, so each path to a registry within the operation (a pull, a push, a build's base images, a run's
//! pull on the fly) sees them; a registry client made inside the scope has a token cache of its own, so a
//! token earned with them is never handed to another request.

use std::future::Future;

use super::credentials::{hostname_of, same_registry};

/// Username and password per registry, as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct GivenCredentials {
    /// `(host[:port], username, password)`; the host as `hostname_of` reads a server address.
    entries: Vec<(String, String, String)>,
}

tokio::task_local! {
    static GIVEN: GivenCredentials;
}

impl GivenCredentials {
    /// Adds credentials for `server`: `host[:port]`, or a URL such as `https://index.docker.io/v1/`.
    pub fn add(&mut self, server: &str, user: &str, password: &str) {
        self.entries.push((hostname_of(server), user.to_string(), password.to_string()));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials for `registry` (as references name it), if given.
    pub fn get(&self, registry: &str) -> Option<(String, String)> {
        self.entries
            .iter()
            .find(|(host, _, _)| same_registry(host, registry))
            .map(|(_, user, password)| (user.clone(), password.clone()))
    }

    /// Runs `operation` with these credentials in force for every registry request it makes.
    pub async fn scope<F: Future>(self, operation: F) -> F::Output {
        GIVEN.scope(self, operation).await
    }

    /// The credentials of the scope the current task runs in, if any.
    pub(crate) fn current() -> Option<GivenCredentials> {
        GIVEN.try_with(Clone::clone).ok().filter(|g| !g.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_credentials_match_the_registry_under_any_server_form() {
        let mut given = GivenCredentials::default();
        given.add("127.0.0.1:5000", "alice", "pw");
        given.add("https://index.docker.io/v1/", "bob", "hub");
        assert_eq!(given.get("127.0.0.1:5000"), Some(("alice".into(), "pw".into())));
        assert_eq!(given.get("127.0.0.1:5001"), None);
        assert_eq!(given.get("docker.io"), Some(("bob".into(), "hub".into())));
    }

    #[tokio::test]
    async fn the_scope_lasts_as_long_as_the_operation() {
        assert!(GivenCredentials::current().is_none());
        let mut given = GivenCredentials::default();
        given.add("r.example", "u", "p");
        let inside = given.scope(async { GivenCredentials::current().and_then(|g| g.get("r.example")) }).await;
        assert_eq!(inside, Some(("u".into(), "p".into())));
        assert!(GivenCredentials::current().is_none());
    }
}
