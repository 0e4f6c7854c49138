//! Property tests of the `-v`, `--mount` and `--tmpfs` parsers: any text is a mount or an error quoting
//! it, never a panic; every mount parsed has an absolute target other than `/`; and what the flags can
//! say, written out, parses back to the same mount.

use proptest::prelude::*;

use super::mounts::{MountKind, MountSpec, clean_path};
use crate::proptest_support::cases;

/// Text over the characters the flags are made of, plus anything at all now and then.
fn flag_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z/.:,=0-9-]{0,40}",
        "(/|\\.\\./|\\./|[a-z]{1,4}/?){0,5}(:[a-z/.]{0,8}){0,3}(:(ro|rw|nocopy|z|,){0,4})?",
        concat!(
            "((type|source|src|target|dst|destination|readonly|ro|volume-nocopy|tmpfs-size|tmpfs-mode|colour)",
            "(=[a-z0-9/.]{0,8})?,){0,6}"
        ),
        "/[a-z./]{0,12}(:((size|mode)=[0-9kmgbx]{0,6}|ro|rw|exec),?){0,4}",
        any::<String>(),
    ]
}

/// Checks one parse result: a mount with a sane target, or an error that quotes the flag.
fn sane(text: &str, parsed: Result<MountSpec, super::VolumeError>) -> Result<(), TestCaseError> {
    match parsed {
        Ok(spec) => {
            prop_assert!(spec.target.starts_with('/'), "{text:?}: relative target {:?}", spec.target);
            prop_assert_ne!(clean_path(&spec.target), "/", "{:?}: the target is the container's root", text);
            match spec.kind {
                MountKind::Bind => prop_assert!(spec.source.starts_with('/'), "{text:?}: bind of {:?}", spec.source),
                MountKind::Volume => {
                    prop_assert!(spec.source.is_empty() || super::valid_name(&spec.source), "{text:?}: {spec:?}")
                }
                MountKind::Tmpfs => prop_assert!(spec.source.is_empty(), "{text:?}: {spec:?}"),
            }
            prop_assert!(spec.tmpfs_mode.is_none_or(|m| m <= 0o7777));
            prop_assert!(spec.tmpfs_size.is_none_or(|s| s > 0));
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains(&format!("{text:?}")), "{msg} does not quote {text:?}");
        }
    }
    Ok(())
}

fn target() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![4 => "[a-z0-9_-]{1,8}", 1 => Just(".".to_string()), 1 => Just("..".to_string())],
        1..4,
    )
    .prop_map(|parts| format!("/{}", parts.join("/")))
    // One that cleans to `/` (`/a/..`) gets a name more: filtering would reject too many at length.
    .prop_map(|t| if clean_path(&t) == "/" { format!("{t}/m") } else { t })
}

fn volume_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9_.-]{1,12}"
}

/// Mounts as the flags can express them.
fn mount() -> impl Strategy<Value = MountSpec> {
    let volume = (proptest::option::of(volume_name()), target(), any::<bool>(), any::<bool>()).prop_map(
        |(name, target, read_only, no_copy)| MountSpec {
            source: name.unwrap_or_default(),
            read_only,
            no_copy,
            ..MountSpec::anonymous(&target)
        },
    );
    let bind = (target(), target(), any::<bool>()).prop_map(|(source, target, read_only)| MountSpec {
        kind: MountKind::Bind,
        source,
        read_only,
        ..MountSpec::anonymous(&target)
    });
    let tmpfs = (target(), any::<bool>(), proptest::option::of(1u64..1 << 40), proptest::option::of(0u32..=0o7777))
        .prop_map(|(target, read_only, tmpfs_size, tmpfs_mode)| MountSpec {
            kind: MountKind::Tmpfs,
            read_only,
            tmpfs_size,
            tmpfs_mode,
            ..MountSpec::anonymous(&target)
        });
    prop_oneof![volume, bind, tmpfs]
}

/// `--mount` text for `spec`.
fn mount_flag(spec: &MountSpec) -> String {
    let mut fields = vec![format!("type={}", spec.kind.as_str()), format!("target={}", spec.target)];
    if !spec.source.is_empty() {
        fields.push(format!("source={}", spec.source));
    }
    fields.push(format!("readonly={}", spec.read_only));
    if spec.no_copy {
        fields.push("volume-nocopy".into());
    }
    if let Some(size) = spec.tmpfs_size {
        fields.push(format!("tmpfs-size={size}"));
    }
    if let Some(mode) = spec.tmpfs_mode {
        fields.push(format!("tmpfs-mode={mode:o}"));
    }
    fields.join(",")
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn flags_parse_to_sane_mounts_or_quote_the_flag(text in flag_like()) {
        sane(&text, MountSpec::parse_volume(&text))?;
        sane(&text, MountSpec::parse_mount(&text))?;
        sane(&text, MountSpec::parse_tmpfs(&text))?;
    }

    #[test]
    fn mounts_written_as_flags_parse_back(spec in mount()) {
        prop_assert_eq!(MountSpec::parse_mount(&mount_flag(&spec)).map_err(|e| e.to_string()), Ok(spec.clone()));
        let mode = if spec.read_only { "ro" } else { "rw" };
        match spec.kind {
            MountKind::Tmpfs => {
                let mut opts = vec![mode.to_string()];
                opts.extend(spec.tmpfs_size.map(|s| format!("size={s}")));
                opts.extend(spec.tmpfs_mode.map(|m| format!("mode={m:o}")));
                let text = format!("{}:{}", spec.target, opts.join(","));
                prop_assert_eq!(MountSpec::parse_tmpfs(&text).map_err(|e| e.to_string()), Ok(spec));
            }
            _ if spec.source.is_empty() && !spec.read_only && !spec.no_copy => {
                prop_assert_eq!(MountSpec::parse_volume(&spec.target).map_err(|e| e.to_string()), Ok(spec));
            }
            _ if !spec.source.is_empty() => {
                let nocopy = if spec.no_copy { ",nocopy" } else { "" };
                let text = format!("{}:{}:{mode}{nocopy}", spec.source, spec.target);
                prop_assert_eq!(MountSpec::parse_volume(&text).map_err(|e| e.to_string()), Ok(spec));
            }
            _ => {}
        }
    }
}
