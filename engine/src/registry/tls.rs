//! TLS for private registries in Docker's layout: `certs.d/HOST[:PORT]/` holds CA certificates (`*.crt`)
//! and client certificate/key pairs (`NAME.cert` with `NAME.key`). berth reads `/etc/docker/certs.d` and
//! its own `certs.d` beside its config file; a host with such a directory is always spoken to over HTTPS,
//! loopback included, since its certificates say it serves TLS.

use std::path::{Path, PathBuf};

use super::RegistryError;

/// What to do about a failed request whose causes (`detail`) say the TLS layer refused a certificate: the
/// registry's, unknown to berth (its CA goes in `certs.d`), or this client's, missing or refused (a client
/// certificate and key go there). None for any other failure.
pub(crate) fn hint(detail: &str, host: &str, dirs: &[PathBuf]) -> Option<String> {
    if dirs.is_empty() {
        return None;
    }
    let places = dirs.iter().map(|d| d.join(host).display().to_string()).collect::<Vec<_>>().join(" or ");
    let says = |words: &[&str]| words.iter().any(|w| detail.contains(w));
    if says(&["UnknownIssuer", "unknown issuer", "self-signed", "self signed"]) {
        Some(format!(
            "the registry's certificate is signed by an unknown authority: put that CA's certificate as ca.crt in {places}"
        ))
    } else if says(&["CertificateRequired", "BadCertificate", "UnknownCA", "certificate required"]) {
        Some(format!(
            "the registry refused this client's certificate or wants one: put a client certificate and its key as client.cert and client.key in {places}"
        ))
    } else {
        None
    }
}

/// What one registry host's certificate directories hold.
pub(crate) struct HostTls {
    pub roots: Vec<reqwest::Certificate>,
    pub identity: Option<reqwest::Identity>,
}

/// The TLS material for `host` (`name` or `name:port`, as references spell it), or None when no
/// certificate directory names it.
pub(crate) fn host_tls(dirs: &[PathBuf], host: &str) -> Result<Option<HostTls>, RegistryError> {
    let mut found = false;
    let mut tls = HostTls { roots: Vec::new(), identity: None };
    for dir in dirs.iter().map(|d| d.join(host)).filter(|d| d.is_dir()) {
        found = true;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| bad(&dir, format!("cannot list it: {e}")))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let pem = read(&path)?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| bad(&path, format!("not a PEM certificate: {e}")))?;
                    if certs.is_empty() {
                        return Err(bad(&path, "holds no PEM certificate".into()));
                    }
                    tls.roots.extend(certs);
                }
                Some("cert") => {
                    let key_path = path.with_extension("key");
                    if !key_path.exists() {
                        return Err(bad(&path, format!("client certificate without its key {}", key_path.display())));
                    }
                    let mut pem = read(&key_path)?;
                    pem.push(b'\n');
                    pem.extend(read(&path)?);
                    let identity = reqwest::Identity::from_pem(&pem)
                        .map_err(|e| bad(&path, format!("not a PEM certificate and key pair: {e}")))?;
                    tls.identity = Some(identity);
                }
                Some("key") if !path.with_extension("cert").exists() => {
                    return Err(bad(&path, "client key without its certificate (NAME.cert)".into()));
                }
                _ => {}
            }
        }
    }
    Ok(found.then_some(tls))
}

fn read(path: &Path) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|e| bad(path, format!("cannot read it: {e}")))
}

fn bad(path: &Path, reason: String) -> RegistryError {
    RegistryError::Certificates { path: path.display().to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_certificates_say_where_the_fix_goes() {
        let dirs = [PathBuf::from("/etc/docker/certs.d"), PathBuf::from("/cfg/certs.d")];
        let places = "/etc/docker/certs.d/reg:5000 or /cfg/certs.d/reg:5000";
        let unknown = hint("client error (Connect): invalid peer certificate: UnknownIssuer", "reg:5000", &dirs);
        assert!(unknown.unwrap().ends_with(&format!("ca.crt in {places}")));
        let wanted = hint("connection error: received fatal alert: CertificateRequired", "reg:5000", &dirs);
        assert!(wanted.unwrap().ends_with(&format!("client.cert and client.key in {places}")));
        assert_eq!(hint("tcp connect error: Connection refused (os error 111)", "reg:5000", &dirs), None);
        assert_eq!(hint("invalid peer certificate: UnknownIssuer", "reg:5000", &[]), None);
    }

    #[test]
    fn a_host_without_a_directory_has_no_tls_and_a_lone_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf(), dir.path().join("absent")];
        assert!(host_tls(&dirs, "registry.example:5000").unwrap().is_none());
        let host = dir.path().join("registry.example:5000");
        std::fs::create_dir(&host).unwrap();
        assert!(host_tls(&dirs, "registry.example:5000").unwrap().is_some_and(|t| t.roots.is_empty()));
        std::fs::write(host.join("client.key"), "x").unwrap();
        let err = host_tls(&dirs, "registry.example:5000").err().unwrap().to_string();
        assert!(err.contains("client.key") && err.contains("without its certificate"), "{err}");
        std::fs::write(host.join("ca.crt"), "not pem").unwrap();
        std::fs::remove_file(host.join("client.key")).unwrap();
        let err = host_tls(&dirs, "registry.example:5000").err().unwrap().to_string();
        assert!(err.contains("ca.crt"), "{err}");
    }
}
