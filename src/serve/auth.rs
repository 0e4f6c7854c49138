//! Registry credentials as clients send them: `X-Registry-Auth` (pull, push: one AuthConfig) and
//! `X-Registry-Config` (build: a map of server address to AuthConfig), both base64url JSON as moby decodes
//! them; `POST /auth` (`docker login`), which checks credentials and saves nothing, since the client keeps
//! them and sends them with each request; and `/images/search`, which no registry berth can reach answers.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use berth_engine::registry::{GivenCredentials, RegistryError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::query::Params;
use super::{ApiError, ApiResult, Shared};

/// moby's `registry.AuthConfig`, the fields berth uses; `auth` is base64 `user:password`. An identity
/// token alone (an OAuth refresh token) is not used: the request then goes with the server's own
/// credentials or none.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    serveraddress: String,
}

impl AuthConfig {
    /// Username and password, from the fields or from `auth`; None when neither holds both.
    fn user_password(&self, header: &str) -> ApiResult<Option<(String, String)>> {
        if !self.username.is_empty() && !self.password.is_empty() {
            return Ok(Some((self.username.clone(), self.password.clone())));
        }
        if self.auth.is_empty() {
            return Ok(None);
        }
        let bad = || ApiError::bad_request(format!("{header}: the auth field is not base64 of user:password"));
        let text = String::from_utf8(decode_base64(&self.auth).ok_or_else(bad)?).map_err(|_| bad())?;
        let (user, password) = text.split_once(':').ok_or_else(bad)?;
        Ok(Some((user.to_string(), password.to_string())))
    }
}

/// Padded or not, URL-safe (moby's, docker-py's) or standard alphabet: what clients have sent.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    let text = text.trim();
    URL.decode(text).or_else(|_| STANDARD.decode(text)).ok()
}

/// A header's JSON, or None when absent or empty.
fn header_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, name: &str) -> ApiResult<Option<T>> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = value.to_str().map_err(|_| ApiError::bad_request(format!("{name} is not ASCII")))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let json = decode_base64(text).ok_or_else(|| ApiError::bad_request(format!("{name} is not base64url")))?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("{name} is not an auth configuration: {e}")))
}

/// `X-Registry-Auth` of a pull or push of an image in `registry`: the credentials for that request,
/// for the server the config names, or for the image's registry when it names none (as moby uses them).
pub fn registry_auth(headers: &HeaderMap, registry: &str) -> ApiResult<GivenCredentials> {
    const HEADER: &str = "X-Registry-Auth";
    let mut given = GivenCredentials::default();
    let Some(config) = header_json::<AuthConfig>(headers, HEADER)? else { return Ok(given) };
    if let Some((user, password)) = config.user_password(HEADER)? {
        let server = if config.serveraddress.is_empty() { registry } else { &config.serveraddress };
        given.add(server, &user, &password);
    }
    Ok(given)
}

/// `X-Registry-Config` of a build: credentials for each registry its base images may come from.
pub fn registry_config(headers: &HeaderMap) -> ApiResult<GivenCredentials> {
    const HEADER: &str = "X-Registry-Config";
    let mut given = GivenCredentials::default();
    let configs = header_json::<BTreeMap<String, AuthConfig>>(headers, HEADER)?.unwrap_or_default();
    for (server, config) in configs {
        if let Some((user, password)) = config.user_password(HEADER)? {
            given.add(&server, &user, &password);
        }
    }
    Ok(given)
}

/// `POST /auth`: checks the credentials against the registry as `berth login` does, and saves nothing.
pub async fn login(State(server): State<Shared>, body: Bytes) -> ApiResult<Json<Value>> {
    let config: AuthConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid auth configuration: {e}")))?;
    let (user, password) = config
        .user_password("auth configuration")?
        .ok_or_else(|| ApiError::bad_request("a username and password are required"))?;
    let registry = match config.serveraddress.trim() {
        "" => berth_engine::reference::DEFAULT_REGISTRY.to_string(),
        address => {
            address.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string()
        }
    };
    let registry = registry.strip_suffix("/v1").unwrap_or(&registry).to_string();
    match server.engine.check_login(&registry, &user, &password).await {
        Ok(()) => Ok(Json(json!({"Status": "Login Succeeded", "IdentityToken": ""}))),
        Err(berth_engine::Error::Registry(e)) if matches!(*e, RegistryError::LoginRejected { .. }) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /images/search`: registries speak the Distribution API, which has no search, and Docker Hub's own
/// search is not the registry protocol; moby's status for what a server does not implement.
pub async fn search(params: Params) -> ApiError {
    let term = params.get("term").unwrap_or_default();
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "search is not supported by berth: registries speak the Distribution API, which has no search \
             (asked for {term:?}); list a registry's repositories or look the image up on its web site"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    fn url64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(text)
    }

    #[test]
    fn registry_auth_decodes_as_moby_does() {
        // The docker CLI's empty config and a config naming its server.
        assert!(registry_auth(&headers("X-Registry-Auth", "e30="), "r:5000").unwrap().is_empty());
        let encoded = url64(r#"{"username":"alice","password":"s3cret","serveraddress":"127.0.0.1:5000"}"#);
        let given = registry_auth(&headers("X-Registry-Auth", &encoded), "127.0.0.1:5000").unwrap();
        assert_eq!(given.get("127.0.0.1:5000"), Some(("alice".into(), "s3cret".into())));
        // Unpadded, and `auth` alone, for the image's registry (docker-py's auth_config may name none).
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw?>");
        let encoded = url64(&format!(r#"{{"auth":"{auth}"}}"#));
        let given = registry_auth(&headers("X-Registry-Auth", encoded.trim_end_matches('=')), "r:5000").unwrap();
        assert_eq!(given.get("r:5000"), Some(("bob".into(), "pw?>".into())));
        // An identity token alone gives nothing; garbage is a 400 naming the header.
        let encoded = url64(r#"{"identitytoken":"tok"}"#);
        assert!(registry_auth(&headers("X-Registry-Auth", &encoded), "r:5000").unwrap().is_empty());
        let err = registry_auth(&headers("X-Registry-Auth", "!!!"), "r:5000").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("X-Registry-Auth"), "{}", err.message);
    }

    #[test]
    fn registry_config_holds_a_config_per_server() {
        let encoded = url64(r#"{"127.0.0.1:5000":{"username":"a","password":"b"},"other:1":{}}"#);
        let given = registry_config(&headers("X-Registry-Config", &encoded)).unwrap();
        assert_eq!(given.get("127.0.0.1:5000"), Some(("a".into(), "b".into())));
        assert_eq!(given.get("other:1"), None);
        assert!(registry_config(&headers("X-Registry-Config", "e30=")).unwrap().is_empty());
        assert!(registry_config(&HeaderMap::new()).unwrap().is_empty());
    }
}
