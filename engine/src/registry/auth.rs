//! Registry authentication: `WWW-Authenticate` challenges, bearer token responses and the token cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Lifetime of a token whose response gives no `expires_in` (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A challenge from a 401 answer that berth knows how to meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Ask `realm` for a token for `service` and `scope`, then send it as `Authorization: Bearer`.
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    /// Send the username and password with every request.
    Basic,
}

/// The challenges of all `WWW-Authenticate` header values, Bearer first since it is preferred.
pub(crate) fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = values
        .into_iter()
        .flat_map(parse_header)
        .filter_map(|(scheme, mut params)| match scheme.as_str() {
            "bearer" => Some(Challenge::Bearer {
                realm: params.remove("realm")?,
                service: params.remove("service"),
                scope: params.remove("scope"),
            }),
            "basic" => Some(Challenge::Basic),
            _ => None,
        })
        .collect();
    out.sort_by_key(|c| matches!(c, Challenge::Basic));
    out
}

/// Splits one header value into `(scheme, params)` challenges (RFC 7235): parameters are
/// `name=token` or `name="quoted string"`, separated by commas; quoted strings may hold commas and
/// backslash escapes; a bare word not followed by `=` starts the next challenge.
fn parse_header(value: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut challenges: Vec<(String, HashMap<String, String>)> = Vec::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    let skip = |i: &mut usize, chars: &[char]| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, &chars);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ',' && chars[i] != '=' {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if j < chars.len() && chars[j] == '=' && !challenges.is_empty() {
            i = j + 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let mut val = String::new();
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    val.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && chars[i] != ',' && !chars[i].is_whitespace() {
                    val.push(chars[i]);
                    i += 1;
                }
            }
            if let Some((_, params)) = challenges.last_mut() {
                params.insert(word.to_ascii_lowercase(), val);
            }
        } else if j < chars.len() && chars[j] == '=' {
            // A parameter before any scheme: malformed; skip its value.
            i = j + 1;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
        } else {
            challenges.push((word.to_ascii_lowercase(), HashMap::new()));
        }
    }
    challenges
}

/// A token endpoint's answer; registries use either field name.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and how long it may be reused.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let lifetime = match self.expires_in {
            Some(secs) if secs > 0 => Duration::from_secs(secs),
            _ => DEFAULT_TOKEN_LIFETIME,
        };
        let token = self.token.filter(|t| !t.is_empty()).or(self.access_token.filter(|t| !t.is_empty()))?;
        Some((token, lifetime))
    }
}

/// `Authorization` header values per (registry host, scope), so each pull asks the token server once.
#[derive(Debug, Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<(String, String), CachedAuth>>,
}

#[derive(Debug)]
struct CachedAuth {
    header: String,
    /// None for Basic credentials, which do not expire.
    expiry: Option<Instant>,
}

impl AuthCache {
    pub(crate) fn get(&self, host: &str, scope: &str) -> Option<String> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = (host.to_string(), scope.to_string());
        match entries.get(&key) {
            Some(CachedAuth { expiry: Some(expiry), .. }) if *expiry <= Instant::now() => {
                entries.remove(&key);
                None
            }
            Some(cached) => Some(cached.header.clone()),
            None => None,
        }
    }

    /// Remembers a header; `lifetime` None means until replaced (Basic credentials).
    pub(crate) fn put(&self, host: &str, scope: &str, header: String, lifetime: Option<Duration>) {
        let expiry = lifetime.map(|l| Instant::now() + l);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert((host.to_string(), scope.to_string()), CachedAuth { header, expiry });
    }

    pub(crate) fn forget(&self, host: &str, scope: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(host.to_string(), scope.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_commas() {
        let v = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#;
        assert_eq!(
            parse_challenges([v]),
            vec![Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }]
        );
    }

    #[test]
    fn params_in_any_order_spacing_and_case() {
        let v = r#"bearer  scope="x:y:pull" , Realm = "https://r/t?a=1", error="insufficient_scope", service=plain"#;
        assert_eq!(
            parse_challenges([v]),
            vec![Challenge::Bearer {
                realm: "https://r/t?a=1".into(),
                service: Some("plain".into()),
                scope: Some("x:y:pull".into()),
            }]
        );
        let escaped = r#"Bearer realm="https://r/\"q\"""#;
        assert!(
            matches!(&parse_challenges([escaped])[0], Challenge::Bearer { realm, .. } if realm == "https://r/\"q\"")
        );
    }

    #[test]
    fn basic_and_several_challenges() {
        assert_eq!(parse_challenges([r#"Basic realm="Registry Realm""#]), vec![Challenge::Basic]);
        let both = r#"Basic realm="x", Bearer realm="https://t",service="s""#;
        let got = parse_challenges([both]);
        assert_eq!(got.len(), 2);
        assert!(
            matches!(&got[0], Challenge::Bearer { realm, service: Some(s), scope: None } if realm == "https://t" && s == "s")
        );
        assert_eq!(got[1], Challenge::Basic);
        assert_eq!(parse_challenges(["Negotiate abc", "Bearer service=\"no realm\""]), vec![]);
    }

    #[test]
    fn token_response_fields_and_default_lifetime() {
        let r: TokenResponse = serde_json::from_str(r#"{"token":"t1","expires_in":300}"#).unwrap();
        assert_eq!(r.into_token(), Some(("t1".into(), Duration::from_secs(300))));
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"t2"}"#).unwrap();
        assert_eq!(r.into_token(), Some(("t2".into(), DEFAULT_TOKEN_LIFETIME)));
        let r: TokenResponse = serde_json::from_str(r#"{"token":"","access_token":"t3"}"#).unwrap();
        assert_eq!(r.into_token().map(|t| t.0), Some("t3".into()));
        let r: TokenResponse = serde_json::from_str(r#"{"expires_in":5}"#).unwrap();
        assert_eq!(r.into_token(), None);
    }

    #[test]
    fn cache_entries_expire() {
        let cache = AuthCache::default();
        cache.put("h", "s", "Bearer a".into(), Some(Duration::from_secs(60)));
        cache.put("h", "gone", "Bearer b".into(), Some(Duration::ZERO));
        cache.put("h", "basic", "Basic c".into(), None);
        assert_eq!(cache.get("h", "s").as_deref(), Some("Bearer a"));
        assert_eq!(cache.get("h", "gone"), None);
        assert_eq!(cache.get("h", "basic").as_deref(), Some("Basic c"));
        assert_eq!(cache.get("other", "s"), None);
        cache.forget("h", "s");
        assert_eq!(cache.get("h", "s"), None);
    }
}
