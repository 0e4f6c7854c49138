//! Property tests of what reads registry documents: manifests, indexes and image configs arrive from the
//! network, so arbitrary bytes and schema-shaped but hostile JSON must give a value or an error naming the
//! image, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, classify, read_config, read_index, read_manifest,
    select_platform,
};
use super::{Platform, RegistryError};
use crate::proptest_support::cases;
use crate::reference::is_valid_digest;

const REFERENCE: &str = "registry.test:5000/team/app:v1";
const DOC_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Any JSON value, nested a few levels: what a hostile registry puts where a field should be.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        digest_like(),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z.]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Digests and near-digests: valid sha256, other algorithms, truncated, path-like, uppercase.
fn digest_like() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        1 => "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
        1 => "[0-9a-f]{0,70}".prop_map(|h| format!("sha256:{h}")),
        1 => "[0-9A-F]{64}".prop_map(|h| format!("sha256:{h}")),
        1 => Just("sha256:../../../../etc/passwd".to_string()),
        1 => "[a-z0-9+._-]{1,10}:[a-zA-Z0-9=_./-]{1,40}",
        1 => "/?[a-z./]{0,20}",
    ]
    .prop_map(Value::from)
    .boxed()
}

/// A field's value: mostly well formed; when `hostile`, sometimes any JSON at all.
fn field(good: BoxedStrategy<Value>, hostile: bool) -> BoxedStrategy<Value> {
    if hostile { prop_oneof![6 => good, 1 => any_json()].boxed() } else { good }
}

/// Builds an object from `(key, value)` pairs; when `hostile`, keys may be dropped.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>, hostile: bool) -> BoxedStrategy<Value> {
    let n = fields.len();
    let (keys, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    let keep = if hostile {
        proptest::collection::vec(prop::bool::weighted(0.9), n).boxed()
    } else {
        Just(vec![true; n]).boxed()
    };
    (values, keep)
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

fn strings(options: &[&'static str]) -> BoxedStrategy<Value> {
    let options: Vec<Value> = options.iter().map(|s| Value::from(*s)).collect();
    proptest::sample::select(options).boxed()
}

fn platform(hostile: bool) -> BoxedStrategy<Value> {
    object(
        vec![
            ("os", field(strings(&["linux", "windows", "unknown", "Linux", ""]), hostile)),
            (
                "architecture",
                field(strings(&["amd64", "arm64", "arm", "aarch64", "x86_64", "unknown", "s390x"]), hostile),
            ),
            ("variant", field(strings(&["v8", "v7", "8", "v1", ""]), hostile)),
            ("os.version", field(".{0,12}".prop_map(Value::from).boxed(), hostile)),
        ],
        hostile,
    )
}

fn descriptor(media_types: &[&'static str], hostile: bool, with_platform: bool) -> BoxedStrategy<Value> {
    let size = if hostile {
        prop_oneof![any::<u64>().prop_map(Value::from), any::<i64>().prop_map(Value::from)].boxed()
    } else {
        (0u64..1 << 40).prop_map(Value::from).boxed()
    };
    let digest =
        if hostile { digest_like() } else { "[0-9a-f]{64}".prop_map(|h| Value::from(format!("sha256:{h}"))).boxed() };
    let annotations = prop_oneof![
        Just(json!({})),
        Just(json!({"vnd.docker.reference.type": "attestation-manifest"})),
        Just(json!({"org.opencontainers.image.title": "x"})),
    ]
    .boxed();
    let mut fields = vec![
        ("mediaType", field(strings(media_types), hostile)),
        ("digest", field(digest, hostile)),
        ("size", field(size, hostile)),
        ("annotations", field(annotations, hostile)),
    ];
    if with_platform {
        fields.push(("platform", field(platform(hostile), hostile)));
    }
    object(fields, hostile)
}

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "text/plain",
];

fn manifest_doc(hostile: bool) -> BoxedStrategy<Value> {
    object(
        vec![
            ("schemaVersion", field(Just(Value::from(2)).boxed(), hostile)),
            ("mediaType", field(strings(&[OCI_MANIFEST, DOCKER_MANIFEST]), hostile)),
            ("config", field(descriptor(&["application/vnd.oci.image.config.v1+json"], hostile, false), hostile)),
            (
                "layers",
                field(
                    proptest::collection::vec(descriptor(LAYER_TYPES, hostile, false), 0..5)
                        .prop_map(Value::Array)
                        .boxed(),
                    hostile,
                ),
            ),
        ],
        hostile,
    )
}

fn index_doc(hostile: bool) -> BoxedStrategy<Value> {
    object(
        vec![
            ("schemaVersion", field(Just(Value::from(2)).boxed(), hostile)),
            ("mediaType", field(strings(&[OCI_INDEX, DOCKER_MANIFEST_LIST]), hostile)),
            (
                "manifests",
                field(
                    proptest::collection::vec(
                        descriptor(&[OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX], hostile, true),
                        0..5,
                    )
                    .prop_map(Value::Array)
                    .boxed(),
                    hostile,
                ),
            ),
        ],
        hostile,
    )
}

fn config_doc(hostile: bool) -> BoxedStrategy<Value> {
    let diff_id =
        if hostile { digest_like() } else { "[0-9a-f]{64}".prop_map(|h| Value::from(format!("sha256:{h}"))).boxed() };
    let text_list = proptest::collection::vec(".{0,16}".prop_map(Value::from), 0..3).prop_map(Value::Array).boxed();
    let runtime = object(
        vec![
            ("Env", field(text_list.clone(), hostile)),
            ("Entrypoint", field(text_list.clone(), hostile)),
            ("Cmd", field(text_list, hostile)),
            ("User", field(strings(&["", "root", "1000:1000", "nobody"]), hostile)),
            ("WorkingDir", field(strings(&["", "/", "/app", "relative", "/../.."]), hostile)),
            ("Volumes", field(Just(json!({"/data": {}, "../../x": {}})).boxed(), hostile)),
            ("ExposedPorts", field(Just(json!({"80/tcp": {}, "53/udp": {}, "x/sctp": {}})).boxed(), hostile)),
            ("StopSignal", field(strings(&["SIGTERM", "9", "SIGNOPE"]), hostile)),
        ],
        hostile,
    );
    object(
        vec![
            ("architecture", field(strings(&["amd64", "arm64"]), hostile)),
            ("os", field(strings(&["linux"]), hostile)),
            ("config", field(runtime, hostile)),
            (
                "rootfs",
                field(
                    object(
                        vec![
                            ("type", field(strings(&["layers"]), hostile)),
                            (
                                "diff_ids",
                                field(proptest::collection::vec(diff_id, 0..4).prop_map(Value::Array).boxed(), hostile),
                            ),
                        ],
                        hostile,
                    ),
                    hostile,
                ),
            ),
        ],
        hostile,
    )
}

fn wanted_platform() -> impl Strategy<Value = Platform> {
    prop_oneof![
        Just(Platform::host()),
        Just(Platform::parse("linux/arm64").unwrap()),
        Just(Platform::parse("linux/arm/v7").unwrap()),
        Just(Platform::parse("unknown/unknown").unwrap()),
    ]
}

/// Every refusal names the image it is about.
fn names_reference(err: &RegistryError) -> Result<(), TestCaseError> {
    let msg = err.to_string();
    prop_assert!(msg.contains(REFERENCE), "error does not name {REFERENCE}: {msg}");
    Ok(())
}

/// Reads `body` as each kind of document and checks what comes out.
fn read_all(body: &[u8], content_type: Option<&str>, wanted: &Platform) -> Result<(), TestCaseError> {
    if let Err(e) = classify(REFERENCE, content_type, body) {
        names_reference(&e)?;
    }
    match read_index(REFERENCE, DOC_DIGEST, body) {
        Ok(index) => match select_platform(REFERENCE, &index, wanted) {
            Ok(entry) => prop_assert!(index.manifests().contains(entry)),
            Err(e) => names_reference(&e)?,
        },
        Err(e) => names_reference(&e)?,
    }
    match read_manifest(REFERENCE, DOC_DIGEST, body) {
        // Digests are used in URLs and store paths: no separator or dot-dot gets through.
        Ok(manifest) => {
            for digest in
                std::iter::once(manifest.config().digest()).chain(manifest.layers().iter().map(|l| l.digest()))
            {
                let digest = digest.to_string();
                prop_assert!(!digest.contains('/') && !digest.contains(".."), "{digest}");
            }
        }
        Err(e) => names_reference(&e)?,
    }
    match read_config(REFERENCE, DOC_DIGEST, body) {
        Ok(config) => prop_assert!(config.rootfs().diff_ids().iter().all(|d| is_valid_digest(d))),
        Err(e) => {
            names_reference(&e)?;
            prop_assert!(e.to_string().contains(DOC_DIGEST), "{e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_are_read_or_refused(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        content_type in proptest::option::of(".{0,40}"),
        wanted in wanted_platform(),
    ) {
        read_all(&body, content_type.as_deref(), &wanted)?;
    }

    #[test]
    fn hostile_documents_are_read_or_refused(
        doc in prop_oneof![manifest_doc(true), index_doc(true), config_doc(true), any_json()],
        wanted in wanted_platform(),
    ) {
        read_all(&serde_json::to_vec(&doc).unwrap(), None, &wanted)?;
    }

    /// The generators above make real documents when told to be fair, so the hostile runs start from
    /// shapes the readers accept.
    #[test]
    fn well_formed_documents_are_read(
        manifest in manifest_doc(false),
        index in index_doc(false),
        config in config_doc(false),
    ) {
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let index = serde_json::to_vec(&index).unwrap();
        let config = serde_json::to_vec(&config).unwrap();
        prop_assert!(read_manifest(REFERENCE, DOC_DIGEST, &manifest).is_ok());
        prop_assert!(read_index(REFERENCE, DOC_DIGEST, &index).is_ok());
        let config = read_config(REFERENCE, DOC_DIGEST, &config).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(config.rootfs().diff_ids().iter().all(|d| is_valid_digest(d)));
        prop_assert_eq!(classify(REFERENCE, None, &manifest).map(|(_, kind)| kind).ok(),
            Some(super::manifest::ManifestKind::Image));
    }
}
