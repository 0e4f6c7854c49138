//! Query strings as Docker clients send them: booleans as `1`/`True`/`false`, repeated keys, and `filters`
//! as a JSON map of sets (the docker CLI) or of lists (docker-py).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;

/// The query's pairs, decoded, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, ApiError> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(url::form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key (`t` of `/build`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// `repo` and `tag` as one `REPO[:TAG]` (commit, import, tag); None without a repo.
    pub fn repo_tag(&self) -> Option<String> {
        let repo = self.get("repo").filter(|r| !r.is_empty())?;
        Some(match self.get("tag").filter(|t| !t.is_empty()) {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        })
    }

    /// The non-empty values of a repeated key (`changes` of commit and import).
    pub fn non_empty(&self, key: &str) -> Vec<String> {
        self.all(key).into_iter().filter(|v| !v.is_empty()).collect()
    }

    /// moby's boolean: absent, empty, `0`, `no`, `false` and `none` are false, anything else true.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(truthy)
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))),
        }
    }

    /// `filters` as `key=value` texts, the form the engine's filter parsers take.
    pub fn filters(&self) -> Result<Vec<String>, ApiError> {
        match self.get("filters").filter(|f| !f.trim().is_empty()) {
            None => Ok(Vec::new()),
            Some(text) => parse_filters(text),
        }
    }
}

pub fn truthy(value: &str) -> bool {
    !matches!(value.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none")
}

/// `{"label":{"a=b":true}}` (the CLI) or `{"label":["a=b"]}` (docker-py) as `["label=a=b"]`.
pub fn parse_filters(text: &str) -> Result<Vec<String>, ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("invalid filters {text:?}: {why}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(&e.to_string()))?;
    let map = value.as_object().ok_or_else(|| invalid("expected a JSON object"))?;
    let mut out = Vec::new();
    for (key, values) in map {
        match values {
            serde_json::Value::Object(set) => {
                for (v, on) in set {
                    if on.as_bool().unwrap_or(true) {
                        out.push(format!("{key}={v}"));
                    }
                }
            }
            serde_json::Value::Array(list) => {
                for v in list {
                    let v = v.as_str().ok_or_else(|| invalid("filter values must be strings"))?;
                    out.push(format!("{key}={v}"));
                }
            }
            serde_json::Value::String(v) => out.push(format!("{key}={v}")),
            _ => return Err(invalid("each filter is a set or a list of strings")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_mobys() {
        for yes in ["1", "True", "true", "yes", "x"] {
            assert!(truthy(yes), "{yes}");
        }
        for no in ["", "0", "no", "False", "false", "NONE"] {
            assert!(!truthy(no), "{no}");
        }
        let p = Params::parse("all=1&size=False&t=a&t=b");
        assert!(p.flag("all") && !p.flag("size") && !p.flag("missing"));
        assert_eq!(p.get("t"), Some("b"));
        assert_eq!(p.all("t"), ["a", "b"]);
    }

    #[test]
    fn filters_come_as_maps_or_lists() {
        assert_eq!(parse_filters(r#"{"label":{"a=b":true},"status":{"exited":true}}"#).unwrap().len(), 2);
        assert_eq!(parse_filters(r#"{"label":["a=b","c"]}"#).unwrap(), ["label=a=b", "label=c"]);
        assert!(parse_filters("[1]").is_err());
        assert!(parse_filters(r#"{"label":[1]}"#).is_err());
        assert!(parse_filters("{").is_err());
    }
}
