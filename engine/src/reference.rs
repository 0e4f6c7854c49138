//! Image references, parsed the way Docker parses them.
//!
//! `busybox` means `docker.io/library/busybox:latest`; the first path component is a registry host only
//! when it contains a `.` or a `:`, or is `localhost`. A reference may carry a tag, a digest, or both.

use std::fmt;

use thiserror::Error;

/// Docker Hub's canonical name, as references print it.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: it is empty")]
    Empty { input: String },
    #[error("invalid reference {input:?}: repository name {name:?} must be lowercase")]
    Uppercase { input: String, name: String },
    #[error(
        "invalid reference {input:?}: bad path component {component:?} (lowercase letters, digits and . _ - separators only)"
    )]
    Component { input: String, component: String },
    #[error("invalid reference {input:?}: bad registry host {host:?}")]
    Host { input: String, host: String },
    #[error("invalid reference {input:?}: bad tag {tag:?} (up to 128 of [A-Za-z0-9_.-], not starting with . or -)")]
    Tag { input: String, tag: String },
    #[error("invalid reference {input:?}: bad digest {digest:?} (expected sha256: and 64 lowercase hex digits)")]
    Digest { input: String, digest: String },
    #[error("invalid reference {input:?}: repository name longer than {MAX_NAME_LEN} characters")]
    TooLong { input: String },
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry as the user names it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/busybox`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference, filling in Docker's defaults (registry, `library/`, `latest`).
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err_input = || input.to_string();
        if input.is_empty() {
            return Err(ReferenceError::Empty { input: err_input() });
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                if !is_valid_digest(digest) {
                    return Err(ReferenceError::Digest { input: err_input(), digest: digest.into() });
                }
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag follows the last ':' only if that ':' is after the last '/', otherwise it is a port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::Tag { input: err_input(), tag: tag.clone() });
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty { input: err_input() });
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                if !is_valid_host(first) {
                    return Err(ReferenceError::Host { input: err_input(), host: first.into() });
                }
                (first.to_string(), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase { input: err_input(), name: path });
        }
        for component in path.split('/') {
            if !is_valid_component(component) {
                return Err(ReferenceError::Component { input: err_input(), component: component.into() });
            }
        }
        let repository =
            if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong { input: err_input() });
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// `registry/repository`, the name images are listed under.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as Docker shows it: `busybox` rather than `docker.io/library/busybox`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_string()
        } else {
            self.name()
        }
    }

    /// The whole reference in familiar form: `busybox:latest`, `127.0.0.1:5000/app@sha256:…`.
    pub fn familiar(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(digest)) => format!("{}@{digest}", self.familiar_name()),
            (Some(tag), None) => format!("{}:{tag}", self.familiar_name()),
            (None, None) => self.familiar_name(),
        }
    }

    /// `name:tag` in familiar form, when the reference has a tag.
    pub fn familiar_tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.familiar_name()))
    }

    /// What a manifest request asks for: the digest if there is one, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }

    /// The host that answers the registry API (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY { DOCKER_HUB_API_HOST } else { &self.registry }
    }

    /// The same repository with a different tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// The same repository pinned to a digest, no tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { tag: None, digest: Some(digest.to_string()), ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_valid_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Docker's tag grammar: `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok && tag.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_names_get_docker_defaults() {
        let r = parse("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(parse("user/app:1.0").to_string(), "docker.io/user/app:1.0");
    }

    #[test]
    fn hosts_ports_and_tags() {
        let r = parse("127.0.0.1:5000/ns/name:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "ns/name", Some("v1"))
        );
        let r = parse("localhost/app");
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("localhost", Some("latest")));
        let r = parse("localhost:5000/app");
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("localhost:5000", "app"));
        assert_eq!(r.familiar_name(), "localhost:5000/app");
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = parse(&format!("busybox@{D}"));
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (None, Some(D)));
        assert_eq!(r.manifest_ref(), D);
        let r = parse(&format!("host.io/a/b:t@{D}"));
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (Some("t"), Some(D)));
        assert_eq!(r.manifest_ref(), D);
    }

    #[test]
    fn bad_references_name_the_bad_part() {
        assert!(matches!(Reference::parse(""), Err(ReferenceError::Empty { .. })));
        assert!(matches!(Reference::parse("BusyBox"), Err(ReferenceError::Uppercase { .. })));
        assert!(matches!(Reference::parse("busybox:-bad"), Err(ReferenceError::Tag { tag, .. }) if tag == "-bad"));
        assert!(matches!(Reference::parse("busybox@sha256:abc"), Err(ReferenceError::Digest { .. })));
        assert!(matches!(Reference::parse("a//b"), Err(ReferenceError::Component { .. })));
        assert!(matches!(Reference::parse("ex..ample.com:99/x"), Err(ReferenceError::Host { .. })));
        assert!(matches!(
            Reference::parse("host:port:5/x"),
            Err(ReferenceError::Component { .. } | ReferenceError::Host { .. } | ReferenceError::Tag { .. })
        ));
        assert!(matches!(Reference::parse("a/b_-c"), Err(ReferenceError::Component { .. })));
        let msg = Reference::parse("busybox:bad tag").unwrap_err().to_string();
        assert!(msg.contains("bad tag \"bad tag\""), "{msg}");
    }

    #[test]
    fn separators_follow_docker_grammar() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "a0"] {
            assert!(is_valid_component(ok), "{ok}");
        }
        for bad in ["a...b", "a___b", "-a", "a-", ".a", "a._b"] {
            assert!(!is_valid_component(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::proptest_support::cases;

    /// Strings over the characters references are made of, so most cases get past the first check.
    fn reference_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._/:@-]{0,40}",
            "[a-zA-Z0-9._/:@-]{0,300}",
            "([a-z0-9]{1,8}[._-]{0,2}){1,4}(/[a-z0-9]{1,8}){0,3}(:[A-Za-z0-9_.-]{0,10})?",
            any::<String>(),
        ]
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}"
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("localhost".to_string()),
            "[a-z0-9]{1,8}(\\.[a-zA-Z0-9]{1,8}){1,3}",
            "[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}:[0-9]{1,5}",
            "127\\.0\\.0\\.1:[0-9]{1,5}",
        ]
    }

    fn digest() -> impl Strategy<Value = String> {
        "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}"))
    }

    /// References built from the grammar: each part valid on its own.
    fn grammatical() -> impl Strategy<Value = (Option<String>, Vec<String>, Option<String>, Option<String>)> {
        (
            proptest::option::of(host()),
            proptest::collection::vec(component(), 1..4),
            proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            proptest::option::of(digest()),
        )
    }

    proptest! {
        #![proptest_config(cases(512))]

        /// Any input parses or is refused with an error quoting it; whatever parses prints to a reference
        /// that parses back to the same value, in full and in familiar form.
        #[test]
        fn parse_never_panics_and_round_trips(input in reference_like()) {
            match Reference::parse(&input) {
                Ok(r) => {
                    prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
                    prop_assert!(r.tag.is_some() || r.digest.is_some());
                    prop_assert!(r.name().len() <= MAX_NAME_LEN);
                    if let Some(familiar) = r.familiar_tagged() {
                        prop_assert_eq!(Reference::parse(&familiar), Ok(r.with_tag(r.tag.as_deref().unwrap())));
                    }
                    prop_assert_eq!(Reference::parse(&r.familiar_name())?.name(), r.name());
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.contains(&format!("{input:?}")), "{msg} does not quote {input:?}");
                }
            }
        }

        /// References written by the grammar always parse into the parts they were written from.
        #[test]
        fn grammatical_references_parse_to_their_parts((host, path, tag, digest) in grammatical()) {
            let name = path.join("/");
            let mut text = match &host {
                Some(host) => format!("{host}/{name}"),
                None => name.clone(),
            };
            if let Some(tag) = &tag {
                text = format!("{text}:{tag}");
            }
            if let Some(digest) = &digest {
                text = format!("{text}@{digest}");
            }
            // Without a host, a first component that looks like one is taken for one, as Docker does, and
            // then it must be a valid host name (no `_`).
            let taken_for_host = host.is_none() && path.len() > 1 && (path[0].contains('.') || path[0] == "localhost");
            if taken_for_host && path[0].contains('_') {
                prop_assert!(matches!(Reference::parse(&text), Err(ReferenceError::Host { .. })), "{text}");
                return Ok(());
            }
            let r = Reference::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (registry, repository) = match host {
                Some(host) => (host, name),
                None if taken_for_host => (path[0].clone(), path[1..].join("/")),
                None if path.len() == 1 => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
                None => (DEFAULT_REGISTRY.to_string(), name),
            };
            prop_assert_eq!(r.registry, registry);
            prop_assert_eq!(r.repository, repository);
            prop_assert_eq!(&r.digest, &digest);
            let expected_tag = if tag.is_none() && digest.is_none() { Some(DEFAULT_TAG.to_string()) } else { tag };
            prop_assert_eq!(r.tag, expected_tag);
        }
    }
}
