//! `berth ps`: containers, reconciled, filtered the way Docker's `--filter` does.

use super::{ContainerError, ContainerRecord, Records, Status, reconcile};
use crate::{Engine, Error};

/// One `--filter key=value`. Filters with the same key are alternatives; different keys must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    Status(Status),
    /// Substring of the name, as Docker matches it.
    Name(String),
    /// `label=key` or `label=key=value`.
    Label {
        key: String,
        value: Option<String>,
    },
    /// The image the container runs, by name or id.
    Ancestor(String),
    /// Id prefix.
    Id(String),
    /// `health=starting|healthy|unhealthy|none` (none: no healthcheck).
    Health(String),
}

impl ListFilter {
    pub fn parse(text: &str) -> Result<ListFilter, ContainerError> {
        let invalid =
            |reason: &str| ContainerError::InvalidFilter { filter: text.to_string(), reason: reason.to_string() };
        let (key, value) = text.split_once('=').ok_or_else(|| invalid("expected key=value"))?;
        match key {
            "status" => Status::parse(value).map(ListFilter::Status).ok_or_else(|| {
                invalid("status is one of created, restarting, running, removing, paused, exited, dead")
            }),
            "name" => Ok(ListFilter::Name(value.trim_start_matches('/').to_string())),
            "label" => Ok(match value.split_once('=') {
                Some((k, v)) => ListFilter::Label { key: k.to_string(), value: Some(v.to_string()) },
                None => ListFilter::Label { key: value.to_string(), value: None },
            }),
            "ancestor" => Ok(ListFilter::Ancestor(value.to_string())),
            "id" => Ok(ListFilter::Id(value.to_string())),
            "health" => match value {
                "starting" | "healthy" | "unhealthy" | "none" => Ok(ListFilter::Health(value.to_string())),
                _ => Err(invalid("health is one of starting, healthy, unhealthy, none")),
            },
            _ => Err(invalid("supported filters are status, name, label, ancestor, id and health")),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            ListFilter::Status(_) => "status",
            ListFilter::Name(_) => "name",
            ListFilter::Label { .. } => "label",
            ListFilter::Ancestor(_) => "ancestor",
            ListFilter::Id(_) => "id",
            ListFilter::Health(_) => "health",
        }
    }

    fn matches(&self, rec: &ContainerRecord, ancestor_ids: &[Option<String>]) -> bool {
        match self {
            ListFilter::Status(s) => rec.status == *s,
            ListFilter::Name(n) => rec.name.contains(n.as_str()),
            ListFilter::Label { key, value } => {
                rec.options.labels.get(key).is_some_and(|v| value.as_ref().is_none_or(|want| want == v))
            }
            ListFilter::Ancestor(name) => {
                rec.image_name == *name
                    || rec.image_id.trim_start_matches("sha256:").starts_with(name.trim_start_matches("sha256:"))
                    || ancestor_ids.iter().flatten().any(|id| *id == rec.image_id)
            }
            ListFilter::Id(prefix) => rec.id.starts_with(prefix.as_str()),
            ListFilter::Health(want) => rec.health.as_ref().map_or("none", |h| h.status.as_str()) == want,
        }
    }
}

/// `ps` flags that pick containers.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers (`-a`).
    pub all: bool,
    pub filters: Vec<ListFilter>,
}

pub(crate) fn select(
    records: Vec<ContainerRecord>,
    opts: &ListOptions,
    ancestor_ids: &[Option<String>],
) -> Vec<ContainerRecord> {
    let has_status_filter = opts.filters.iter().any(|f| matches!(f, ListFilter::Status(_)));
    records
        .into_iter()
        .filter(|r| !r.options.build_step)
        .filter(|r| {
            opts.all || has_status_filter || matches!(r.status, Status::Running | Status::Paused | Status::Restarting)
        })
        .filter(|r| {
            let mut keys: Vec<&str> = opts.filters.iter().map(|f| f.key()).collect();
            keys.sort_unstable();
            keys.dedup();
            // Docker ORs the values of one key, except labels: every label filter must hold.
            keys.iter().all(|k| {
                let mut of_key = opts.filters.iter().filter(|f| f.key() == *k);
                match *k {
                    "label" => of_key.all(|f| f.matches(r, ancestor_ids)),
                    _ => of_key.any(|f| f.matches(r, ancestor_ids)),
                }
            })
        })
        .collect()
}

impl Engine {
    /// Containers, newest first, each reconciled with reality.
    pub fn list_containers(&self, opts: &ListOptions) -> Result<Vec<ContainerRecord>, Error> {
        let records = Records::new(self.store());
        // Reconciling only ever stops a container: without `-a` or a status filter, the stopped ones
        // are never shown, so their rows are not read.
        let shown = match opts.all || opts.filters.iter().any(|f| matches!(f, ListFilter::Status(_))) {
            true => records.all()?,
            false => records.active()?,
        };
        let mut all = Vec::new();
        for rec in shown {
            all.extend(reconcile::reconcile(self.store(), self.networks(), self.host(), rec)?);
        }
        let ancestor_ids: Vec<Option<String>> = opts
            .filters
            .iter()
            .filter_map(|f| match f {
                ListFilter::Ancestor(name) => Some(self.store().find_image(name).ok().map(|i| i.id)),
                _ => None,
            })
            .collect();
        Ok(select(all, opts, &ancestor_ids))
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::record;
    use super::*;

    fn sample() -> Vec<ContainerRecord> {
        let mut web = record(&"a".repeat(64), "web");
        web.status = Status::Running;
        web.options.labels.insert("tier".into(), "front".into());
        let mut db = record(&"b".repeat(64), "db");
        db.status = Status::Exited;
        db.image_name = "postgres".into();
        db.options.labels.insert("tier".into(), "back".into());
        let mut job = record(&"c".repeat(64), "web-job");
        job.status = Status::Paused;
        vec![web, db, job]
    }

    fn names(opts: ListOptions) -> Vec<String> {
        select(sample(), &opts, &[]).into_iter().map(|r| r.name).collect()
    }

    fn filters(f: &[&str]) -> Vec<ListFilter> {
        f.iter().map(|f| ListFilter::parse(f).unwrap()).collect()
    }

    #[test]
    fn running_only_unless_all() {
        assert_eq!(names(ListOptions::default()), vec!["web", "web-job"]);
        assert_eq!(names(ListOptions { all: true, filters: vec![] }), vec!["web", "db", "web-job"]);
    }

    #[test]
    fn docker_filter_semantics() {
        assert_eq!(names(ListOptions { all: false, filters: filters(&["status=exited"]) }), vec!["db"]);
        assert_eq!(names(ListOptions { all: true, filters: filters(&["name=web"]) }), vec!["web", "web-job"]);
        assert_eq!(names(ListOptions { all: true, filters: filters(&["label=tier"]) }), vec!["web", "db"]);
        assert_eq!(names(ListOptions { all: true, filters: filters(&["label=tier=back"]) }), vec!["db"]);
        // Several label filters must all hold (values of other keys are alternatives).
        assert_eq!(names(ListOptions { all: true, filters: filters(&["label=tier", "label=tier=front"]) }), ["web"]);
        assert!(
            names(ListOptions { all: true, filters: filters(&["label=tier=back", "label=tier=front"]) }).is_empty()
        );
        assert_eq!(names(ListOptions { all: true, filters: filters(&["ancestor=postgres"]) }), vec!["db"]);
        assert_eq!(
            names(ListOptions { all: true, filters: filters(&["status=running", "status=exited"]) }),
            vec!["web", "db"]
        );
        assert_eq!(names(ListOptions { all: true, filters: filters(&["name=web", "status=paused"]) }), vec!["web-job"]);
        assert!(ListFilter::parse("colour=red").is_err());
        assert!(ListFilter::parse("health=sick").is_err());
    }

    #[test]
    fn health_filter_matches_the_recorded_status_or_none() {
        let mut recs = sample();
        let mut health = crate::health::Health::starting(None);
        health.status = crate::health::HealthStatus::Healthy;
        recs[0].health = Some(health);
        let pick = |f: &str| -> Vec<String> {
            select(recs.clone(), &ListOptions { all: true, filters: filters(&[f]) }, &[])
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(pick("health=healthy"), vec!["web"]);
        assert_eq!(pick("health=none"), vec!["db", "web-job"]);
        assert!(pick("health=starting").is_empty());
        assert!(ListFilter::parse("status=sleeping").is_err());
        assert!(ListFilter::parse("status").is_err());
    }
}
