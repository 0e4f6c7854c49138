//! `docker events --filter` as moby's daemon applies it (daemon/events/filter.go): different keys must all
//! match, values of one key are alternatives; names match by exact value or prefix of the id or the `name`
//! attribute, `event` exactly (by prefix for `exec_*` and `health_status`, whose actions carry a suffix),
//! `image` the id, the name or either without its tag, `label` `key` or `key=value` against the attributes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Event, EventType, JournalError};

/// The keys Docker's `/events` accepts. Swarm's (node, service, secret, config) and `plugin` match nothing
/// berth records but are accepted as Docker accepts them.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Keys matched against the actor's id or its `name` attribute, whatever the event's type.
const NAME_KEYS: &[&str] =
    &["config", "container", "daemon", "network", "node", "plugin", "secret", "service", "volume"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

impl EventFilters {
    /// Filters from `KEY=VALUE` arguments (`--filter`), checked as the daemon checks them.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<EventFilters, JournalError> {
        let mut filters = EventFilters::default();
        for arg in args {
            let arg = arg.as_ref();
            let Some((key, value)) = arg.split_once('=') else {
                return Err(JournalError::InvalidFilter {
                    filter: arg.to_string(),
                    reason: "bad format of filter (expected name=value)".into(),
                });
            };
            filters.add(key.trim(), value.trim())?;
        }
        Ok(filters)
    }

    /// Filters from the API's `filters` query parameter: `{"label":{"a=b":true}}` (docker's CLI) or
    /// `{"label":["a=b"]}` (docker-py).
    pub fn from_json(text: &str) -> Result<EventFilters, JournalError> {
        let invalid = |reason: String| JournalError::InvalidFilter { filter: text.to_string(), reason };
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut filters = EventFilters::default();
        for (key, values) in &map {
            let values: Vec<&str> = match values {
                serde_json::Value::Object(set) => {
                    set.iter().filter(|(_, on)| on.as_bool() != Some(false)).map(|(v, _)| v.as_str()).collect()
                }
                serde_json::Value::Array(list) => list.iter().filter_map(serde_json::Value::as_str).collect(),
                serde_json::Value::String(one) => vec![one.as_str()],
                other => return Err(invalid(format!("values of {key:?} must be a map or a list, not {other}"))),
            };
            for value in values {
                filters.add(key, value)?;
            }
        }
        Ok(filters)
    }

    /// Adds one value of a key (the API's `{"label": {"a=b": true}}` or `{"label": ["a=b"]}` come here).
    pub fn add(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        let key = key.to_ascii_lowercase();
        if !KEYS.contains(&key.as_str()) {
            return Err(JournalError::InvalidFilter {
                filter: format!("{key}={value}"),
                reason: format!("unknown key '{key}'"),
            });
        }
        self.fields.entry(key).or_default().insert(value.to_string());
        Ok(())
    }

    pub fn matches(&self, event: &Event) -> bool {
        let name = event.actor.attributes.get("name").map_or("", String::as_str);
        self.matches_event(&event.action)
            && self.exact("type", event.kind.as_str())
            && self.exact("scope", "local")
            && NAME_KEYS.iter().all(|key| self.fuzzy(key, &event.actor.id) || self.fuzzy(key, name))
            && self.matches_image(event)
            && self.matches_labels(&event.actor.attributes)
    }

    fn values(&self, key: &str) -> Option<&BTreeSet<String>> {
        self.fields.get(key).filter(|v| !v.is_empty())
    }

    fn exact(&self, key: &str, source: &str) -> bool {
        self.values(key).is_none_or(|values| values.contains(source))
    }

    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.values(key).is_none_or(|values| values.iter().any(|v| source == v || source.starts_with(v.as_str())))
    }

    fn matches_event(&self, action: &str) -> bool {
        let Some(values) = self.values("event") else { return true };
        let suffixed = values.iter().any(|v| matches!(v.as_str(), "health_status" | "exec_create" | "exec_start"));
        if suffixed { self.fuzzy("event", action) } else { values.contains(action) }
    }

    /// A container's image is its `image` attribute, an image event's its `name`.
    fn matches_image(&self, event: &Event) -> bool {
        let Some(values) = self.values("image") else { return true };
        let attr = if event.kind == EventType::Image { "name" } else { "image" };
        let name = event.actor.attributes.get(attr).map_or("", String::as_str);
        [event.actor.id.as_str(), name, strip_tag(&event.actor.id), strip_tag(name)].iter().any(|s| values.contains(*s))
    }

    /// Every `label` value must hold: `key` present, `key=value` equal.
    fn matches_labels(&self, attributes: &BTreeMap<String, String>) -> bool {
        let Some(values) = self.values("label") else { return true };
        values.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => attributes.get(k).is_some_and(|have| have == v),
            None => attributes.contains_key(want.as_str()),
        })
    }
}

/// `name:tag` less its tag (a registry port's colon is not a tag's); digests stay.
fn strip_tag(name: &str) -> &str {
    if name.contains('@') {
        return name;
    }
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}
