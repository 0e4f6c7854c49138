//! What the user asked to mount, as `-v`, `--mount` and `--tmpfs` spell it (Docker's syntax and errors).
//! Parsed once at create; anonymous volumes get their generated name then, so the stored options name
//! every volume the container uses.

use serde::{Deserialize, Serialize};

use super::VolumeError;

/// The kind of a mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Volume name (empty for an anonymous volume until create names it), host path for a bind, empty for tmpfs.
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
    /// tmpfs size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_size: Option<u64>,
    /// tmpfs permission bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_mode: Option<u32>,
    /// `nocopy`: a fresh volume is not seeded from the image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
}

impl MountSpec {
    fn new(kind: MountKind, source: &str, target: &str) -> MountSpec {
        MountSpec {
            kind,
            source: source.to_string(),
            target: target.to_string(),
            read_only: false,
            tmpfs_size: None,
            tmpfs_mode: None,
            no_copy: false,
        }
    }

    /// An anonymous volume at `target`, as `-v /path` or an image VOLUME asks.
    pub fn anonymous(target: &str) -> MountSpec {
        MountSpec::new(MountKind::Volume, "", target)
    }

    /// `-v [SOURCE:]TARGET[:MODE]`: SOURCE is a volume name or an absolute host path; MODE is `ro` or `rw`,
    /// plus `nocopy` for a volume.
    pub fn parse_volume(text: &str) -> Result<MountSpec, VolumeError> {
        let bad = |reason: &str| VolumeError::InvalidSpec { spec: text.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [target] => ("", *target, ""),
            [source, target] => (*source, *target, ""),
            [source, target, mode] => (*source, *target, *mode),
            _ => return Err(bad("too many colons; expected [SOURCE:]TARGET[:MODE]")),
        };
        let kind = if source.starts_with('/') { MountKind::Bind } else { MountKind::Volume };
        if source.is_empty() && parts.len() > 1 {
            return Err(bad("empty source"));
        }
        if kind == MountKind::Volume && !source.is_empty() && !super::valid_name(source) {
            return Err(bad(&format!(
                "{source:?} includes invalid characters for a local volume name, only [a-zA-Z0-9][a-zA-Z0-9_.-] \
                 are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let mut spec = MountSpec::new(kind, source, target);
        for flag in mode.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "ro" => spec.read_only = true,
                "rw" => spec.read_only = false,
                "nocopy" if kind == MountKind::Volume => spec.no_copy = true,
                other => return Err(bad(&format!("invalid mode {other:?}: expected ro, rw or nocopy (volumes)"))),
            }
        }
        spec.check().map_err(|reason| bad(&reason))?;
        Ok(spec)
    }

    /// `--mount type=volume|bind|tmpfs,source=,target=,readonly,volume-nocopy,tmpfs-size=,tmpfs-mode=`.
    pub fn parse_mount(text: &str) -> Result<MountSpec, VolumeError> {
        let bad = |reason: String| VolumeError::InvalidSpec { spec: text.to_string(), reason };
        let mut spec = MountSpec::new(MountKind::Volume, "", "");
        for field in text.split(',').filter(|f| !f.is_empty()) {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            match (key.as_str(), value) {
                ("type", Some(t)) => {
                    spec.kind = match t {
                        "volume" => MountKind::Volume,
                        "bind" => MountKind::Bind,
                        "tmpfs" => MountKind::Tmpfs,
                        _ => return Err(bad(format!("unsupported mount type {t:?}: expected volume, bind or tmpfs"))),
                    }
                }
                ("source" | "src", Some(s)) => spec.source = s.to_string(),
                ("target" | "destination" | "dst", Some(t)) => spec.target = t.to_string(),
                ("readonly" | "ro", None) => spec.read_only = true,
                ("readonly" | "ro", Some(v)) => {
                    spec.read_only = match v {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad(format!("invalid value for {key}: {v:?}"))),
                    }
                }
                ("volume-nocopy", None) => spec.no_copy = true,
                ("volume-nocopy", Some(v)) => {
                    spec.no_copy = match v {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad(format!("invalid value for {key}: {v:?}"))),
                    }
                }
                ("tmpfs-size", Some(v)) => spec.tmpfs_size = Some(parse_size(v).map_err(&bad)?),
                ("tmpfs-mode", Some(v)) => {
                    spec.tmpfs_mode = Some(
                        u32::from_str_radix(v, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| bad(format!("invalid tmpfs-mode {v:?}: expected octal bits")))?,
                    )
                }
                _ => return Err(bad(format!("unexpected key {field:?}"))),
            }
        }
        if spec.target.is_empty() {
            return Err(bad("target is required".into()));
        }
        match spec.kind {
            MountKind::Bind if spec.source.is_empty() => return Err(bad("bind source is required".into())),
            MountKind::Bind if !spec.source.starts_with('/') => {
                return Err(bad(format!("bind source {:?} must be an absolute path", spec.source)));
            }
            MountKind::Volume if !spec.source.is_empty() && !super::valid_name(&spec.source) => {
                return Err(bad(format!("invalid volume name {:?}", spec.source)));
            }
            MountKind::Tmpfs if !spec.source.is_empty() => {
                return Err(bad("a tmpfs mount takes no source".into()));
            }
            _ => {}
        }
        if spec.kind != MountKind::Volume && spec.no_copy {
            return Err(bad("volume-nocopy applies to type=volume only".into()));
        }
        if spec.kind != MountKind::Tmpfs && (spec.tmpfs_size.is_some() || spec.tmpfs_mode.is_some()) {
            return Err(bad("tmpfs-size and tmpfs-mode apply to type=tmpfs only".into()));
        }
        spec.check().map_err(bad)?;
        Ok(spec)
    }

    /// `--tmpfs /path[:size=64m,mode=1777,ro]`.
    pub fn parse_tmpfs(text: &str) -> Result<MountSpec, VolumeError> {
        let bad = |reason: String| VolumeError::InvalidSpec { spec: text.to_string(), reason };
        let (target, opts) = text.split_once(':').unwrap_or((text, ""));
        let mut spec = MountSpec::new(MountKind::Tmpfs, "", target);
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt.split_once('=') {
                Some(("size", v)) => spec.tmpfs_size = Some(parse_size(v).map_err(&bad)?),
                Some(("mode", v)) => {
                    spec.tmpfs_mode = Some(
                        u32::from_str_radix(v, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| bad(format!("invalid mode {v:?}: expected octal bits")))?,
                    )
                }
                None if opt == "ro" => spec.read_only = true,
                None if opt == "rw" => spec.read_only = false,
                _ => return Err(bad(format!("unsupported tmpfs option {opt:?}: use size=, mode=, ro or rw"))),
            }
        }
        spec.check().map_err(bad)?;
        Ok(spec)
    }

    /// The target must be an absolute path other than `/`, however it is spelled (`/..` included).
    fn check(&self) -> Result<(), String> {
        if !self.target.starts_with('/') {
            return Err(format!("invalid mount path {:?}: mount path must be absolute", self.target));
        }
        if clean_path(&self.target) == "/" {
            return Err("invalid specification: destination can't be '/'".to_string());
        }
        Ok(())
    }

    /// The target with `.` and empty components dropped, for duplicate checks and matching.
    pub fn clean_target(&self) -> String {
        clean_path(&self.target)
    }
}

/// `/a//b/./c/` as `/a/b/c`; `..` is kept lexically resolved (clamped at `/`).
pub(crate) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `64m`, `1g`, `4096`, `512k` as bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, multiplier) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size {text:?}: expected a positive number with k, m or g"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<MountSpec, VolumeError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn volume_flags_parse_like_docker() {
        let named = MountSpec::parse_volume("data:/var/lib/data:ro").unwrap();
        assert_eq!(
            (named.kind, named.source.as_str(), named.target.as_str()),
            (MountKind::Volume, "data", "/var/lib/data")
        );
        assert!(named.read_only);
        let bind = MountSpec::parse_volume("/srv/www:/www").unwrap();
        assert_eq!((bind.kind, bind.read_only), (MountKind::Bind, false));
        let anonymous = MountSpec::parse_volume("/cache").unwrap();
        assert_eq!(anonymous, MountSpec::anonymous("/cache"));
    }

    #[test]
    fn bad_volume_flags_name_the_problem() {
        assert!(reason(MountSpec::parse_volume("data:relative")).contains("must be absolute"));
        assert!(reason(MountSpec::parse_volume("data:/x:rx")).contains("invalid mode"));
        assert!(reason(MountSpec::parse_volume("a:b:c:d")).contains("too many colons"));
        assert!(reason(MountSpec::parse_volume("./here:/x")).contains("use absolute path"));
        assert!(reason(MountSpec::parse_volume("data:/")).contains("can't be '/'"));
        // Found by the mount property test: `..` spelled the root past the check.
        assert!(reason(MountSpec::parse_volume("data:/..")).contains("can't be '/'"));
        assert!(reason(MountSpec::parse_mount("type=bind,source=/srv,target=/a/..")).contains("can't be '/'"));
        assert!(reason(MountSpec::parse_tmpfs("/tmp/../..")).contains("can't be '/'"));
        assert!(reason(MountSpec::parse_volume(":/x")).contains("empty source"));
        assert!(reason(MountSpec::parse_volume("/srv:/x:nocopy")).contains("invalid mode"));
        assert!(MountSpec::parse_volume("data:/x:ro,nocopy").unwrap().no_copy);
    }

    #[test]
    fn mount_flags_parse_like_docker() {
        let m = MountSpec::parse_mount("type=bind,source=/etc,target=/host-etc,readonly").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.target.as_str(), m.read_only),
            (MountKind::Bind, "/etc", "/host-etc", true)
        );
        let t = MountSpec::parse_mount("type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        assert_eq!((t.tmpfs_size, t.tmpfs_mode), (Some(64 << 20), Some(0o1770)));
        let v = MountSpec::parse_mount("target=/data").unwrap();
        assert_eq!(v, MountSpec::anonymous("/data"));
        let ro = MountSpec::parse_mount("type=volume,src=v1,target=/d,readonly=false").unwrap();
        assert!(!ro.read_only);
    }

    #[test]
    fn bad_mount_flags_name_the_problem() {
        assert!(reason(MountSpec::parse_mount("type=nfs,target=/x")).contains("unsupported mount type"));
        assert!(reason(MountSpec::parse_mount("type=bind,target=/x")).contains("bind source is required"));
        assert!(reason(MountSpec::parse_mount("type=bind,source=rel,target=/x")).contains("absolute"));
        assert!(reason(MountSpec::parse_mount("type=volume,source=v")).contains("target is required"));
        assert!(reason(MountSpec::parse_mount("type=tmpfs,source=x,target=/t")).contains("no source"));
        assert!(reason(MountSpec::parse_mount("target=/x,colour=blue")).contains("unexpected key"));
        assert!(reason(MountSpec::parse_mount("type=tmpfs,target=/t,tmpfs-mode=999")).contains("tmpfs-mode"));
        assert!(reason(MountSpec::parse_mount("type=volume,target=/t,tmpfs-size=1m")).contains("type=tmpfs only"));
        assert!(reason(MountSpec::parse_mount("type=tmpfs,target=/t,volume-nocopy")).contains("type=volume only"));
        assert!(MountSpec::parse_mount("src=vv,dst=/t,volume-nocopy=true").unwrap().no_copy);
    }

    #[test]
    fn tmpfs_flags() {
        let t = MountSpec::parse_tmpfs("/run:size=1g,mode=755,ro").unwrap();
        assert_eq!(
            (t.target.as_str(), t.tmpfs_size, t.tmpfs_mode, t.read_only),
            ("/run", Some(1 << 30), Some(0o755), true)
        );
        assert!(reason(MountSpec::parse_tmpfs("/run:size=lots")).contains("invalid size"));
        assert!(reason(MountSpec::parse_tmpfs("/run:exec")).contains("unsupported tmpfs option"));
        assert!(reason(MountSpec::parse_tmpfs("run")).contains("absolute"));
    }

    #[test]
    fn paths_clean_lexically() {
        assert_eq!(clean_path("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean_path("/a/../../b"), "/b");
    }
}
