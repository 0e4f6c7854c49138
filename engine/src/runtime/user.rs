//! `--user` resolution against the image's /etc/passwd and /etc/group, the way Docker does it.

use super::RuntimeError;

/// The numeric identity the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) additional_gids: Vec<u32>,
    pub(crate) home: Option<String>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5] })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some(GroupEntry { name: f[0], gid: f[2].parse().ok()?, members })
    })
}

/// `--group-add`'s entry as a gid: a number, or a group name from the container's /etc/group.
pub(crate) fn group_id(entry: &str, group: Option<&str>) -> Option<u32> {
    entry.parse().ok().or_else(|| group_entries(group?).find(|g| g.name == entry).map(|g| g.gid))
}

/// Resolves `user[:group]` (names or numbers; empty means root). A numeric uid need not exist
/// in passwd; a name must. Supplementary groups come from /etc/group membership.
pub(crate) fn resolve(
    id: &str,
    spec: Option<&str>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, RuntimeError> {
    let spec = spec.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let passwd = passwd.unwrap_or("");
    let groups = group.unwrap_or("");

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| RuntimeError::UnknownUser { id: id.to_string(), user: user_part.to_string() })?,
        ),
    };
    let uid = match &entry {
        Some(e) => e.uid,
        None => user_part.parse().unwrap_or(0),
    };
    let gid = match group_part {
        Some(g) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(groups)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| RuntimeError::UnknownGroup { id: id.to_string(), group: g.to_string() })?,
        },
        _ => entry.as_ref().map_or(0, |e| e.gid),
    };
    let additional_gids = match &entry {
        Some(e) if group_part.is_none() => {
            let mut gids: Vec<u32> =
                group_entries(groups).filter(|g| g.members.contains(&e.name)).map(|g| g.gid).collect();
            gids.retain(|g| *g != gid);
            gids.dedup();
            gids
        }
        _ => Vec::new(),
    };
    Ok(ResolvedUser { uid, gid, additional_gids, home: entry.map(|e| e.home.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app,root\nnogroup:x:65534:\napp:x:1000:\n";

    #[test]
    fn default_is_root() {
        let u = resolve("c", None, Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_deref()), (0, 0, Some("/root")));
        assert_eq!(u.additional_gids, vec![10]);
    }

    #[test]
    fn names_and_numbers() {
        let u = resolve("c", Some("app"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (1000, 1000, vec![10]));
        let u = resolve("c", Some("1234:55"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.home), (1234, 55, None));
        let u = resolve("c", Some("nobody:wheel"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid), (65534, 10));
        let u = resolve("c", Some("1000"), None, None).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 0));
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = resolve("c1", Some("ghost"), Some(PASSWD), Some(GROUP)).unwrap_err();
        assert!(err.to_string().contains("ghost") && err.to_string().contains("c1"), "{err}");
        assert!(matches!(
            resolve("c1", Some("app:ghosts"), Some(PASSWD), Some(GROUP)),
            Err(RuntimeError::UnknownGroup { .. })
        ));
    }
}
