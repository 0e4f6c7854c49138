//! Registry credentials from Docker's `config.json`, so `docker login` and `berth login` share them.
//!
//! Lookup order for a registry: its `credHelpers` entry, then the `credsStore` helper, then `auths`.
//! A helper is the program `docker-credential-NAME`, speaking Docker's protocol on stdin/stdout.
//! Writes keep every key berth does not know, and leave the file readable by its owner only.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::RegistryError;
use super::given::GivenCredentials;
use crate::reference::{DEFAULT_REGISTRY, DOCKER_HUB_API_HOST};

/// The key Docker files Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Hostnames that all mean Docker Hub.
const DOCKER_HUB_HOSTS: [&str; 3] = [DEFAULT_REGISTRY, "index.docker.io", DOCKER_HUB_API_HOST];
/// What Docker's helpers print when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";
/// The username helpers report for an OAuth identity token, which is not a password.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Where credentials live: a Docker config directory, and optionally a directory searched first for
/// credential helpers (tests use it to supply their own helper without touching the process's PATH).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    config_dir: Option<PathBuf>,
    helper_dir: Option<PathBuf>,
    /// Credentials handed over for one operation, consulted before the config.
    given: GivenCredentials,
}

impl Credentials {
    /// Docker's own location: `$DOCKER_CONFIG`, else `~/.docker`. None found means anonymous access.
    pub fn load() -> Self {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".docker")));
        Credentials { config_dir: dir, helper_dir: None, given: GivenCredentials::default() }
    }

    /// Credentials from `dir/config.json`.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Self {
        Credentials { config_dir: Some(dir.into()), helper_dir: None, given: GivenCredentials::default() }
    }

    /// Looks for `docker-credential-*` programs in `dir` before the PATH.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    /// The same lookup with `given` consulted first.
    pub(super) fn with_given(mut self, given: GivenCredentials) -> Self {
        self.given = given;
        self
    }

    fn config_path(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("config.json"))
    }

    /// Username and password for `registry` (as references name it: `docker.io`, `host:5000`).
    pub fn get(&self, registry: &str) -> Result<Option<(String, String)>, RegistryError> {
        if let Some(given) = self.given.get(registry) {
            return Ok(Some(given));
        }
        let Some(path) = self.config_path() else {
            return Ok(None);
        };
        let config = read_config(&path)?;
        let key = server_key(registry);
        if let Some(helper) = helper_for(&config, registry) {
            return self.helper_get(&helper, registry, &key);
        }
        if let Some(store) = config.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty())
            && let Some(found) = self.helper_get(store, registry, &key)?
        {
            return Ok(Some(found));
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let entry = auths
            .get(&key)
            .or_else(|| auths.iter().find(|(k, _)| same_registry(&hostname_of(k), registry)).map(|(_, v)| v));
        match entry {
            Some(entry) => decode_entry(entry, &path, &key),
            None => Ok(None),
        }
    }

    /// Saves credentials after a successful login: into the helper when one is configured,
    /// else as `auths[registry].auth`.
    pub fn store(&self, registry: &str, user: &str, password: &str) -> Result<(), RegistryError> {
        let path = self.require_config_path(registry)?;
        let mut config = read_config(&path)?;
        let key = server_key(registry);
        let helper = helper_for(&config, registry)
            .or_else(|| config.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from));
        let auths = auths_mut(&mut config, &path)?;
        match helper {
            Some(helper) => {
                let input = json!({"ServerURL": key, "Username": user, "Secret": password}).to_string();
                match self.run_helper(&helper, "store", registry, &input) {
                    Ok(_) => {}
                    Err(HelperFailure::Failed(e)) => return Err(e),
                    Err(HelperFailure::NotFound) => {
                        return Err(RegistryError::CredentialHelper {
                            helper,
                            registry: registry.into(),
                            reason: "store failed: the helper reported credentials not found".into(),
                        });
                    }
                }
                // Docker records the server in `auths` without secrets so `docker info` lists it.
                auths.entry(key).or_insert_with(|| json!({}));
            }
            None => {
                let encoded = BASE64.encode(format!("{user}:{password}"));
                let entry = auths.entry(key).or_insert_with(|| json!({}));
                match entry.as_object_mut() {
                    Some(obj) => {
                        obj.remove("username");
                        obj.remove("password");
                        obj.insert("auth".into(), Value::String(encoded));
                    }
                    None => *entry = json!({ "auth": encoded }),
                }
            }
        }
        write_config(&path, &config)
    }

    /// Forgets the registry's credentials; true when there were some.
    pub fn erase(&self, registry: &str) -> Result<bool, RegistryError> {
        let path = self.require_config_path(registry)?;
        let mut config = read_config(&path)?;
        let key = server_key(registry);
        let helper = helper_for(&config, registry)
            .or_else(|| config.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from));
        let mut removed = false;
        if let Some(helper) = helper {
            removed = self.helper_erase(&helper, registry, &key)?;
        }
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| !same_registry(&hostname_of(k), registry));
            if auths.len() != before {
                removed = true;
                write_config(&path, &config)?;
            }
        }
        Ok(removed)
    }

    fn require_config_path(&self, registry: &str) -> Result<PathBuf, RegistryError> {
        self.config_path().ok_or_else(|| RegistryError::CredentialsFile {
            path: "(none)".into(),
            reason: format!("cannot save credentials for {registry}: neither DOCKER_CONFIG nor HOME is set"),
        })
    }

    fn helper_get(&self, helper: &str, registry: &str, key: &str) -> Result<Option<(String, String)>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct HelperCreds {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let out = match self.run_helper(helper, "get", registry, key) {
            Ok(out) => out,
            Err(HelperFailure::NotFound) => return Ok(None),
            Err(HelperFailure::Failed(e)) => return Err(e),
        };
        let creds: HelperCreds = serde_json::from_str(&out).map_err(|e| RegistryError::CredentialHelper {
            helper: helper.into(),
            registry: registry.into(),
            reason: format!("unreadable answer: {e}"),
        })?;
        if creds.username == IDENTITY_TOKEN_USER {
            tracing::warn!(registry, helper, "credential helper holds an identity token, which berth does not use");
            return Ok(None);
        }
        Ok(Some((creds.username, creds.secret)))
    }

    fn helper_erase(&self, helper: &str, registry: &str, key: &str) -> Result<bool, RegistryError> {
        match self.run_helper(helper, "erase", registry, key) {
            Ok(_) => Ok(true),
            Err(HelperFailure::NotFound) => Ok(false),
            Err(HelperFailure::Failed(e)) => Err(e),
        }
    }

    /// Runs `docker-credential-HELPER ACTION` with `input` on stdin and returns its stdout.
    fn run_helper(&self, helper: &str, action: &str, registry: &str, input: &str) -> Result<String, HelperFailure> {
        let fail = |reason: String| {
            HelperFailure::Failed(RegistryError::CredentialHelper {
                helper: helper.into(),
                registry: registry.into(),
                reason,
            })
        };
        let program = format!("docker-credential-{helper}");
        let mut cmd = Command::new(&program);
        if let Some(dir) = &self.helper_dir {
            let mut path = OsString::from(dir.as_os_str());
            if let Some(rest) = std::env::var_os("PATH") {
                path.push(":");
                path.push(rest);
            }
            cmd.env("PATH", path);
        }
        let mut child = cmd
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).map_err(|e| fail(format!("writing to {program}: {e}")))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(format!("waiting for {program}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stdout.contains(NOT_FOUND) || stderr.contains(NOT_FOUND) {
            return Err(HelperFailure::NotFound);
        }
        let message = if stdout.is_empty() { stderr.trim().to_string() } else { stdout };
        Err(fail(format!("{action} failed ({}): {message}", out.status)))
    }
}

enum HelperFailure {
    NotFound,
    Failed(RegistryError),
}

/// The key a registry's credentials are filed under (and the server name passed to helpers).
fn server_key(registry: &str) -> String {
    if is_docker_hub(registry) { DOCKER_HUB_KEY.to_string() } else { registry.to_string() }
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS.contains(&host)
}

pub(super) fn same_registry(host: &str, registry: &str) -> bool {
    host == registry || (is_docker_hub(host) && is_docker_hub(registry))
}

/// The `host[:port]` of a config key, which may be a bare host or a URL like `https://host/v1/`.
pub(super) fn hostname_of(key: &str) -> String {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The `credHelpers` entry for a registry, under any of its key forms.
fn helper_for(config: &Value, registry: &str) -> Option<String> {
    let helpers = config.get("credHelpers")?.as_object()?;
    helpers
        .iter()
        .find(|(k, _)| same_registry(&hostname_of(k), registry))
        .and_then(|(_, v)| v.as_str())
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// An `auths` entry: base64 `auth` ("user:password"), or separate `username` and `password`.
/// An empty entry (left by a credential store) means no credentials here.
fn decode_entry(entry: &Value, path: &Path, key: &str) -> Result<Option<(String, String)>, RegistryError> {
    let bad = |reason: String| RegistryError::CredentialsFile { path: path.display().to_string(), reason };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
        let decoded = BASE64.decode(auth.trim()).map_err(|e| bad(format!("auths[{key:?}].auth is not base64: {e}")))?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad(format!("auths[{key:?}].auth is not UTF-8")))?;
        let (user, pass) =
            decoded.split_once(':').ok_or_else(|| bad(format!("auths[{key:?}].auth is not \"user:password\"")))?;
        return Ok(Some((user.to_string(), pass.to_string())));
    }
    let field = |name: &str| entry.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (field("username"), field("password")) {
        (Some(user), Some(pass)) => Ok(Some((user.to_string(), pass.to_string()))),
        _ => Ok(None),
    }
}

/// The parsed config, or an empty object when the file does not exist yet.
fn read_config(path: &Path) -> Result<Value, RegistryError> {
    let bad = |reason: String| RegistryError::CredentialsFile { path: path.display().to_string(), reason };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Object(Map::new())),
        Err(e) => return Err(bad(e.to_string())),
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad("top level is not a JSON object".into()));
    }
    Ok(value)
}

fn auths_mut<'a>(config: &'a mut Value, path: &Path) -> Result<&'a mut Map<String, Value>, RegistryError> {
    let bad = || RegistryError::CredentialsFile {
        path: path.display().to_string(),
        reason: "\"auths\" is not a JSON object".into(),
    };
    let root = config.as_object_mut().ok_or_else(bad)?;
    root.entry("auths").or_insert_with(|| json!({})).as_object_mut().ok_or_else(bad)
}

/// Writes the config through a temporary file in the same directory, mode 0600, then renames it.
fn write_config(path: &Path, config: &Value) -> Result<(), RegistryError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let bad = |reason: String| RegistryError::CredentialsFile { path: path.display().to_string(), reason };
    let dir = path.parent().ok_or_else(|| bad("has no parent directory".into()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| bad(format!("creating {}: {e}", dir.display())))?;
    let text = serde_json::to_string_pretty(config).map_err(|e| bad(e.to_string()))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(bad(format!("writing: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    fn creds_with(config: Value) -> (tempfile::TempDir, Credentials) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let creds = Credentials::from_dir(dir.path());
        (dir, creds)
    }

    fn pair(u: &str, p: &str) -> Option<(String, String)> {
        Some((u.to_string(), p.to_string()))
    }

    #[test]
    fn auths_key_forms_and_encodings() {
        let (_dir, creds) = creds_with(json!({
            "auths": {
                "plain.example:5000": {"auth": b64("alice:pw:with:colons")},
                "https://secure.example": {"auth": b64("bob:pw2")},
                "https://legacy.example/v1/": {"username": "carol", "password": "pw3"},
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")},
                "empty.example": {},
            },
            "psFormat": "table {{.ID}}"
        }));
        assert_eq!(creds.get("plain.example:5000").unwrap(), pair("alice", "pw:with:colons"));
        assert_eq!(creds.get("secure.example").unwrap(), pair("bob", "pw2"));
        assert_eq!(creds.get("legacy.example").unwrap(), pair("carol", "pw3"));
        assert_eq!(creds.get("docker.io").unwrap(), pair("hubuser", "hubpw"));
        assert_eq!(creds.get("registry-1.docker.io").unwrap(), pair("hubuser", "hubpw"));
        assert_eq!(creds.get("empty.example").unwrap(), None);
        assert_eq!(creds.get("plain.example").unwrap(), None);
        assert_eq!(creds.get("other.example").unwrap(), None);
    }

    #[test]
    fn bad_auth_field_names_the_file_and_key() {
        let (dir, creds) = creds_with(json!({"auths": {"h.example": {"auth": "%%%"}}}));
        let msg = creds.get("h.example").unwrap_err().to_string();
        assert!(msg.contains("h.example") && msg.contains(&dir.path().display().to_string()), "{msg}");
        let (_dir, creds) = creds_with(json!({"auths": {"h.example": {"auth": b64("nocolon")}}}));
        assert!(creds.get("h.example").is_err());
    }

    #[test]
    fn missing_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Credentials::from_dir(dir.path()).get("docker.io").unwrap(), None);
        assert_eq!(Credentials::default().get("docker.io").unwrap(), None);
    }

    /// A helper that knows one server, records every call, and stores what it is given.
    fn write_helper(dir: &Path) {
        let script = r#"#!/bin/sh
input=$(cat)
echo "$1 $input" >> "$(dirname "$0")/calls.log"
case "$1" in
get)
  if [ "$input" = "helped.example:5000" ]; then
    echo '{"ServerURL":"helped.example:5000","Username":"helper-user","Secret":"helper-secret"}'
  elif [ "$input" = "token.example" ]; then
    echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh"}'
  elif [ "$input" = "broken.example" ]; then
    echo "keychain locked" >&2; exit 1
  else
    echo "credentials not found in native keychain"; exit 1
  fi ;;
store|erase) exit 0 ;;
esac
"#;
        crate::testing::install_script(&dir.join("docker-credential-berthtest"), script);
    }

    #[test]
    fn credential_helpers() {
        let bin = tempfile::tempdir().unwrap();
        write_helper(bin.path());
        let (_dir, creds) = creds_with(json!({
            "credHelpers": {"helped.example:5000": "berthtest", "token.example": "berthtest", "broken.example": "berthtest"},
            "credsStore": "berthtest",
            "auths": {"fallback.example": {"auth": b64("file-user:file-pw")}}
        }));
        let creds = creds.with_helper_dir(bin.path());
        assert_eq!(creds.get("helped.example:5000").unwrap(), pair("helper-user", "helper-secret"));
        assert_eq!(creds.get("token.example").unwrap(), None);
        assert_eq!(creds.get("unknown.example").unwrap(), None);
        assert_eq!(creds.get("fallback.example").unwrap(), pair("file-user", "file-pw"));
        let msg = creds.get("broken.example").unwrap_err().to_string();
        assert!(msg.contains("docker-credential-berthtest") && msg.contains("keychain locked"), "{msg}");
        let calls = std::fs::read_to_string(bin.path().join("calls.log")).unwrap();
        assert!(calls.contains("get unknown.example") && calls.contains("get fallback.example"), "{calls}");
    }

    #[test]
    fn store_and_erase_keep_unknown_keys_and_mode() {
        let (dir, creds) = creds_with(json!({
            "auths": {"https://index.docker.io/v1/": {"auth": b64("old:old"), "email": "me@example.com"}},
            "detachKeys": "ctrl-x",
            "proxies": {"default": {"httpProxy": "http://p:3128"}}
        }));
        creds.store("docker.io", "new", "secret").unwrap();
        creds.store("127.0.0.1:5000", "u", "p").unwrap();
        let path = dir.path().join("config.json");
        let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["detachKeys"], "ctrl-x");
        assert_eq!(written["proxies"]["default"]["httpProxy"], "http://p:3128");
        assert_eq!(written["auths"]["https://index.docker.io/v1/"]["email"], "me@example.com");
        assert_eq!(creds.get("docker.io").unwrap(), pair("new", "secret"));
        assert_eq!(written["auths"]["127.0.0.1:5000"]["auth"], b64("u:p"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        assert!(creds.erase("registry-1.docker.io").unwrap());
        assert!(!creds.erase("registry-1.docker.io").unwrap());
        assert_eq!(creds.get("docker.io").unwrap(), None);
        assert_eq!(creds.get("127.0.0.1:5000").unwrap(), pair("u", "p"));
        let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["detachKeys"], "ctrl-x");
    }

    #[test]
    fn store_through_creds_store_helper() {
        let bin = tempfile::tempdir().unwrap();
        write_helper(bin.path());
        let (dir, creds) = creds_with(json!({"credsStore": "berthtest"}));
        let creds = creds.with_helper_dir(bin.path());
        creds.store("reg.example", "u", "p").unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(written["auths"]["reg.example"], json!({}));
        assert!(creds.erase("reg.example").unwrap());
        let calls = std::fs::read_to_string(bin.path().join("calls.log")).unwrap();
        let stored = calls.lines().find_map(|l| l.strip_prefix("store ")).expect("store was called");
        let stored: Value = serde_json::from_str(stored).unwrap();
        assert_eq!(stored, json!({"ServerURL": "reg.example", "Username": "u", "Secret": "p"}));
        assert!(calls.contains("erase reg.example"), "{calls}");
    }
}
