//! ADD of a URL: each source downloaded (redirects followed, size capped) into a work dir, checked against
//! `--checksum`, then copied like a context file (mode 0600, its time from `Last-Modified`), as BuildKit
//! does. Remote archives are not unpacked.
//!
//! The step is keyed by the content, as BuildKit keys it (file name, content digest, and the
//! `Last-Modified` time the file gets), so before downloading, [`resolve`] finds that digest without the
//! body when it can: a `--checksum` is the digest (no request at all); else a URL downloaded before with an
//! ETag is asked for with `HEAD` and `If-None-Match`, and a 304 (or 200 with the same ETag) means the
//! recorded digest still holds. Only when the step is not in the cache is the content downloaded.

use std::io::Write;

use sha2::{Digest, Sha256};

use super::cache::UrlRecord;
use crate::store::{Store, TempDir};

/// The downloads of one ADD: the work dir holding them, their file names in it, and the content digest.
pub(crate) struct Fetched {
    pub dir: TempDir,
    pub names: Vec<String>,
    pub digest: String,
}

/// What keys one URL source: its file name, content digest and `Last-Modified` header.
struct Source<'a> {
    name: &'a str,
    digest: &'a str,
    last_modified: &'a str,
}

/// The digest an ADD of these sources is keyed by. A `--checksum` pins the content: the time the server
/// gives is left out, as BuildKit leaves it (it asks the server nothing then).
fn combined(sources: &[Source<'_>], pinned: bool) -> String {
    let mut all = Sha256::new();
    for s in sources {
        all.update(s.name.as_bytes());
        all.update([0]);
        all.update(s.digest.as_bytes());
        all.update([0]);
        if !pinned {
            all.update(s.last_modified.as_bytes());
        }
        all.update([0]);
    }
    format!("sha256:{}", hex::encode(all.finalize()))
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| format!("making an HTTP client: {e}"))
}

/// The ADD's content digest without downloading, when the checksum or the server's ETag tells it;
/// `None` when the content must be downloaded to know.
pub(crate) async fn resolve(urls: &[String], checksum: Option<&str>, store: &Store) -> Option<String> {
    let client = client().ok()?;
    let mut known = Vec::new();
    for raw in urls {
        let url = reqwest::Url::parse(raw).ok()?;
        let name = file_name(&url);
        if let Some(sum) = checksum {
            known.push((name, sum.to_string(), String::new()));
            continue;
        }
        let record = store.url_cache_get(raw).ok()??;
        let response = client.head(url).header(reqwest::header::IF_NONE_MATCH, &record.etag).send().await.ok()?;
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok());
        let unchanged = match response.status() {
            // A 304 without an ETag answers the one ETag asked about.
            reqwest::StatusCode::NOT_MODIFIED => etag.is_none_or(|e| e == record.etag),
            reqwest::StatusCode::OK => etag == Some(record.etag.as_str()),
            _ => false,
        };
        if !unchanged {
            return None;
        }
        known.push((name, record.digest, record.last_modified));
    }
    let sources: Vec<Source<'_>> =
        known.iter().map(|(name, digest, lm)| Source { name, digest, last_modified: lm }).collect();
    Some(combined(&sources, checksum.is_some()))
}

/// The file name a URL gives: its path's last segment, `index.html` when there is none.
fn file_name(url: &reqwest::Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "index.html".to_string())
}

/// Downloads every source; what a server sent with an ETag is recorded for [`resolve`].
pub(crate) async fn fetch(
    urls: &[String],
    checksum: Option<&str>,
    dir: TempDir,
    max_bytes: u64,
    store: &Store,
) -> Result<Fetched, String> {
    let client = client()?;
    let mut got: Vec<(String, String, String)> = Vec::new();
    for raw in urls {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw}: {e}"))?;
        let mut response = client.get(url.clone()).send().await.map_err(|e| format!("{raw}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{raw}: the server answered {}", response.status()));
        }
        let header = |name| response.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
        let last_modified = header(reqwest::header::LAST_MODIFIED).unwrap_or_default().to_string();
        let etag = header(reqwest::header::ETAG).map(str::to_string);
        let modified = chrono::DateTime::parse_from_rfc2822(&last_modified).ok();
        let name = file_name(&url);
        if got.iter().any(|(n, _, _)| *n == name) {
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
        if let Some(etag) = etag {
            let record = UrlRecord { etag, last_modified: last_modified.clone(), digest: digest.clone() };
            store.url_cache_put(raw, &record).map_err(|e| e.to_string())?;
        }
        got.push((name, digest, last_modified));
    }
    let sources: Vec<Source<'_>> =
        got.iter().map(|(name, digest, lm)| Source { name, digest, last_modified: lm }).collect();
    let digest = combined(&sources, checksum.is_some());
    Ok(Fetched { dir, names: got.into_iter().map(|(name, _, _)| name).collect(), digest })
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
