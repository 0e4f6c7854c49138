//! Property tests of the seccomp profile reader: a `--security-opt seccomp=FILE` profile is the user's
//! JSON, so any text must parse or be refused with an error naming the file, and every profile that
//! parses must convert for any capability set and host, or fail naming the file, never panic.

use oci_spec::runtime::Arch;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::caps::resolve;
use super::seccomp::{DEFAULT_PROFILE, Host, SeccompProfile};
use crate::proptest_support::cases;

const SOURCE: &str = "/etc/berth/profile.json";

fn pick(options: &[&'static str]) -> BoxedStrategy<Value> {
    let options: Vec<Value> = options.iter().map(|s| Value::from(*s)).collect();
    proptest::sample::select(options).boxed()
}

/// A value of the right shape most of the time, and of some other shape now and then.
fn or_junk(good: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => good,
        1 => prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), ".{0,8}".prop_map(Value::from)],
        1 => Just(json!({"x": []})),
    ]
    .boxed()
}

fn list(item: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    proptest::collection::vec(item, 0..max).prop_map(Value::Array).boxed()
}

fn action() -> BoxedStrategy<Value> {
    or_junk(pick(&[
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_NOPE",
    ]))
}

fn arch() -> BoxedStrategy<Value> {
    pick(&[
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_NOPE",
    ])
}

fn capability() -> BoxedStrategy<Value> {
    pick(&["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_CHOWN", "SYS_ADMIN", "CAP_NOPE", "cap_sys_admin", ""])
}

fn filter() -> BoxedStrategy<Value> {
    let min_kernel = pick(&["4.8", "5.3", "6", "99999999999.1", "x", "", "5.", ".5", "4.14.0-rc1"]);
    object(vec![
        ("caps", or_junk(list(capability(), 3))),
        ("arches", or_junk(list(pick(&["amd64", "arm64", "s390x", "x32"]), 3))),
        ("minKernel", or_junk(min_kernel)),
    ])
}

fn arg() -> BoxedStrategy<Value> {
    let index = prop_oneof![
        8 => (0u64..6).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
    ];
    object(vec![
        ("index", or_junk(index.boxed())),
        ("value", or_junk(any::<u64>().prop_map(Value::from).boxed())),
        ("valueTwo", or_junk(any::<u64>().prop_map(Value::from).boxed())),
        ("op", or_junk(pick(&["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_GT", "SCMP_CMP_NOPE"]))),
    ])
}

fn rule() -> BoxedStrategy<Value> {
    let names = pick(&["read", "clone", "clone3", "unshare", "mount", "", "no_such_call"]);
    object(vec![
        ("names", or_junk(list(names.clone(), 3))),
        ("name", or_junk(names)),
        ("action", action()),
        ("errnoRet", or_junk(any::<u32>().prop_map(Value::from).boxed())),
        ("args", or_junk(list(arg(), 3))),
        ("includes", or_junk(filter())),
        ("excludes", or_junk(filter())),
    ])
}

/// An object with each field present or left out.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let n = fields.len();
    let (keys, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    (values, proptest::collection::vec(prop::bool::weighted(0.7), n))
        .prop_map(move |(values, keep)| {
            let mut map = Map::new();
            for ((key, value), keep) in keys.iter().zip(values).zip(keep) {
                if keep {
                    map.insert(key.to_string(), value);
                }
            }
            Value::Object(map)
        })
        .boxed()
}

fn profile() -> BoxedStrategy<Value> {
    let arch_map = object(vec![("architecture", arch()), ("subArchitectures", or_junk(list(arch(), 3)))]);
    object(vec![
        ("defaultAction", action()),
        ("defaultErrnoRet", or_junk(any::<u32>().prop_map(Value::from).boxed())),
        ("archMap", or_junk(list(arch_map, 3))),
        ("architectures", or_junk(list(arch(), 3))),
        ("flags", or_junk(list(pick(&["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "NOPE"]), 2))),
        ("syscalls", or_junk(list(rule(), 6))),
    ])
}

fn host() -> impl Strategy<Value = Host> {
    let arches = proptest::sample::select(vec![
        ("amd64", Some(Arch::ScmpArchX86_64)),
        ("arm64", Some(Arch::ScmpArchAarch64)),
        ("s390x", Some(Arch::ScmpArchS390x)),
        ("mips", None),
    ]);
    (arches, any::<(u32, u32)>()).prop_map(|((go_arch, seccomp_arch), kernel)| Host { go_arch, seccomp_arch, kernel })
}

fn caps() -> impl Strategy<Value = (Vec<String>, Vec<String>, bool)> {
    let names = || {
        proptest::collection::vec(
            proptest::sample::select(vec!["SYS_ADMIN", "SYS_PTRACE", "CHOWN", "ALL"]).prop_map(String::from),
            0..3,
        )
    };
    (names(), names(), prop::bool::weighted(0.1))
}

/// Parses `text` and converts it for `caps` on `host`; every failure must name the profile.
fn read_and_convert(
    text: &str,
    (add, drop, privileged): &(Vec<String>, Vec<String>, bool),
    host: Host,
) -> Result<(), TestCaseError> {
    let names_source = |e: &super::RuntimeError| {
        let msg = e.to_string();
        prop_assert!(msg.contains(SOURCE), "error does not name {SOURCE}: {msg}");
        Ok(())
    };
    let profile = match SeccompProfile::parse(SOURCE, text) {
        Ok(profile) => profile,
        Err(e) => return names_source(&e),
    };
    let caps = resolve(add, drop, *privileged).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if let Err(e) = profile.to_oci_for(&caps, host) {
        names_source(&e)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn any_text_is_a_profile_or_an_error_naming_it(
        text in prop_oneof![".{0,64}", "[\\[\\]{}\",:a-zA-Z_0-9 ]{0,64}"], caps in caps(), host in host(),
    ) {
        read_and_convert(&text, &caps, host)?;
    }

    #[test]
    fn hostile_profiles_convert_or_fail_naming_the_file(profile in profile(), caps in caps(), host in host()) {
        read_and_convert(&serde_json::to_string(&profile).unwrap(), &caps, host)?;
    }

    /// Docker's own profile with one part replaced: the reader sees mostly real rules.
    #[test]
    fn the_default_profile_with_a_hostile_rule_converts_or_fails_naming_the_file(
        extra in rule(), at in any::<prop::sample::Index>(), caps in caps(), host in host(),
    ) {
        let mut profile: Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let rules = profile["syscalls"].as_array_mut().unwrap();
        let i = at.index(rules.len());
        rules[i] = extra;
        read_and_convert(&profile.to_string(), &caps, host)?;
    }
}
