//! ADD of a URL: each source downloaded (redirects followed, size capped) into a work dir, checked against
//! `--checksum`, then copied like a context file (mode 0600, its time from `Last-Modified`), as BuildKit
//! does. Remote archives are not unpacked.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::store::TempDir;

/// The downloads of one ADD: the work dir holding them, their file names in it, and the content digest.
pub(crate) struct Fetched {
    pub dir: TempDir,
    pub names: Vec<String>,
    pub digest: String,
}

/// The file name a URL gives: its path's last segment, `index.html` when there is none.
fn file_name(url: &reqwest::Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "index.html".to_string())
}

pub(crate) async fn fetch(
    urls: &[String],
    checksum: Option<&str>,
    dir: TempDir,
    max_bytes: u64,
) -> Result<Fetched, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| format!("making an HTTP client: {e}"))?;
    let mut names = Vec::new();
    let mut all = Sha256::new();
    for raw in urls {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw}: {e}"))?;
        let mut response = client.get(url.clone()).send().await.map_err(|e| format!("{raw}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{raw}: the server answered {}", response.status()));
        }
        let modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
        let name = file_name(&url);
        if names.contains(&name) {
            return Err(format!("{raw}: two sources would both be named {name}"));
        }
        let path = dir.path().join(&name);
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut file = std::fs::File::create(&path).map_err(io)?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{raw}: {e}"))? {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(format!("{raw}: larger than {max_bytes} bytes"));
            }
            hash.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
        }
        let digest = format!("sha256:{}", hex::encode(hash.finalize()));
        if let Some(expected) = checksum
            && expected != digest
        {
            return Err(format!("digest mismatch {digest}: {expected}"));
        }
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io)?;
        if let Some(time) = modified {
            file.set_modified(time.into()).map_err(io)?;
        }
        all.update(name.as_bytes());
        all.update([0]);
        all.update(digest.as_bytes());
        names.push(name);
    }
    Ok(Fetched { dir, names, digest: format!("sha256:{}", hex::encode(all.finalize())) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbx_url_file_names() {
        let name = |u: &str| file_name(&reqwest::Url::parse(u).unwrap());
        assert_eq!(name("https://example.com/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(name("https://example.com/"), "index.html");
        assert_eq!(name("https://example.com"), "index.html");
    }
}
