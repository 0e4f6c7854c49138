//! Containers that belong together, shown under one collapsible row: a kube pod (`io.berth.kube.pod`) or a
//! compose project (`com.docker.compose.project`). The grouping is over labels only, so any later kind of
//! group is one more entry in [`GROUP_LABELS`].

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::ContainerRow;

/// The labels that make a group, first match wins, with the word the group's row shows. A pod played from
/// a compose project's YAML carries the project's labels too; it is shown as the pod it runs as.
const GROUP_LABELS: &[(&str, &str)] =
    &[(berth_engine::kube::POD_LABEL, "pod"), ("com.docker.compose.project", "project")];

/// A container's group as its row shows it (`pod web-pod`, `project shop`), if any.
pub fn group_of(labels: &BTreeMap<String, String>) -> Option<String> {
    GROUP_LABELS.iter().find_map(|(label, word)| labels.get(*label).map(|name| format!("{word} {name}")))
}

/// The compose project a group's title names (`project shop` → `shop`); pods have none.
pub fn project_name(title: &str) -> Option<&str> {
    title.strip_prefix("project ")
}

/// The service of a compose container named `PROJECT-SERVICE-N`, as a guess for a prompt to start from.
pub fn service_of<'a>(project: &str, container: &'a str) -> Option<&'a str> {
    let rest = container.strip_prefix(project)?.strip_prefix('-')?;
    let (service, number) = rest.rsplit_once('-')?;
    number.parse::<u64>().ok().map(|_| service)
}

/// One line of the grouped list.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// A group's row: its title, the engine its members are on (in the all-engines view), its members (as
    /// filtered and sorted) and whether they are hidden.
    Group { title: &'a str, engine: Option<&'a str>, members: Vec<&'a ContainerRow>, collapsed: bool },
    /// A container, `grouped` when it is shown under a group's row.
    Row { row: &'a ContainerRow, grouped: bool },
}

/// What tells a group from every other: its title, and in the all-engines view its engine, so two engines'
/// projects of one name stay two groups. The folded groups are kept by this.
pub fn group_key(title: &str, engine: Option<&str>) -> String {
    match engine {
        Some(engine) => format!("{title} @{engine}"),
        None => title.to_string(),
    }
}

/// The key of the group a row belongs to, if any.
pub fn row_group_key(row: &ContainerRow) -> Option<String> {
    row.group.as_deref().map(|title| group_key(title, row.engine.as_deref()))
}

/// The list as drawn: rows in their order, each group at its first member's place with its members under it
/// (none when collapsed).
pub fn entries<'a>(rows: &[&'a ContainerRow], collapsed: &BTreeSet<String>) -> Vec<Entry<'a>> {
    let mut out = Vec::new();
    let mut placed: Vec<(&str, Option<&str>)> = Vec::new();
    for row in rows {
        let Some(title) = row.group.as_deref() else {
            out.push(Entry::Row { row, grouped: false });
            continue;
        };
        let engine = row.engine.as_deref();
        if placed.contains(&(title, engine)) {
            continue;
        }
        placed.push((title, engine));
        let members: Vec<&ContainerRow> = rows
            .iter()
            .copied()
            .filter(|r| r.group.as_deref() == Some(title) && r.engine.as_deref() == engine)
            .collect();
        let folded = collapsed.contains(&group_key(title, engine));
        out.push(Entry::Group { title, engine, members: members.clone(), collapsed: folded });
        if !folded {
            out.extend(members.into_iter().map(|row| Entry::Row { row, grouped: true }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ContainerState;

    fn row(name: &str, group: Option<&str>) -> ContainerRow {
        ContainerRow {
            id: name.into(),
            name: name.into(),
            image: "busybox".into(),
            state: ContainerState::Running,
            started_at: None,
            finished_at: None,
            exit_code: None,
            ports: Vec::new(),
            health: None,
            group: group.map(String::from),
            command: "sh".into(),
            created_at: None,
            engine: None,
        }
    }

    #[test]
    fn groups_sit_at_their_first_member_and_fold() {
        let rows = [row("a", None), row("p-web", Some("pod p")), row("b", None), row("p-side", Some("pod p"))];
        let refs: Vec<&ContainerRow> = rows.iter().collect();
        let names = |entries: &[Entry]| -> Vec<String> {
            entries
                .iter()
                .map(|e| match e {
                    Entry::Group { title, members, .. } => format!("[{title}:{}]", members.len()),
                    Entry::Row { row, grouped } => format!("{}{}", if *grouped { "  " } else { "" }, row.name),
                })
                .collect()
        };
        assert_eq!(names(&entries(&refs, &BTreeSet::new())), ["a", "[pod p:2]", "  p-web", "  p-side", "b"]);
        let folded = BTreeSet::from(["pod p".to_string()]);
        assert_eq!(names(&entries(&refs, &folded)), ["a", "[pod p:2]", "b"]);
    }

    #[test]
    fn one_project_name_on_two_engines_is_two_groups() {
        let on = |name: &str, engine: &str| {
            let mut row = row(name, Some("project shop"));
            row.engine = Some(engine.into());
            row
        };
        let rows = [on("shop-db-1", "berth"), on("shop-db-1", "lab"), on("shop-api-1", "berth")];
        let refs: Vec<&ContainerRow> = rows.iter().collect();
        let folded = BTreeSet::from([group_key("project shop", Some("lab"))]);
        let groups: Vec<(Option<&str>, usize, bool)> = entries(&refs, &folded)
            .iter()
            .filter_map(|e| match e {
                Entry::Group { engine, members, collapsed, .. } => Some((*engine, members.len(), *collapsed)),
                Entry::Row { .. } => None,
            })
            .collect();
        assert_eq!(groups, [(Some("berth"), 2, false), (Some("lab"), 1, true)], "lab's group alone is folded");
    }

    #[test]
    fn a_project_and_its_services_are_read_from_titles_and_names() {
        assert_eq!(project_name("project shop"), Some("shop"));
        assert_eq!(project_name("pod web-pod"), None);
        assert_eq!(service_of("shop", "shop-api-server-2"), Some("api-server"));
        assert_eq!(service_of("shop", "shopper-api-1"), None);
        assert_eq!(service_of("shop", "shop-api"), None);
    }

    #[test]
    fn a_pod_label_wins_over_a_project() {
        let labels = BTreeMap::from([
            ("com.docker.compose.project".to_string(), "shop".to_string()),
            (berth_engine::kube::POD_LABEL.to_string(), "web-pod".to_string()),
        ]);
        assert_eq!(group_of(&labels).as_deref(), Some("pod web-pod"));
        assert_eq!(
            group_of(&BTreeMap::from([("com.docker.compose.project".into(), "shop".into())])).as_deref(),
            Some("project shop")
        );
        assert_eq!(group_of(&BTreeMap::new()), None);
    }
}
