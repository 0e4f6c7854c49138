//! `berth pull` and the image commands against a real registry (Debian's docker-registry) filled by
//! skopeo from images the tests build.

mod support;

use support::oci;
use support::registry::{PushFormat, Registry};

/// The fixtures themselves: every image kind pushes, and the registry serves what was built.
#[test]
fn fixtures_push_and_serve_what_was_built() {
    let registry = Registry::start_with_auth("alice", "s3cret");
    let busybox = oci::busybox_image();
    registry.push_image(&busybox, "library/busybox:latest", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("library/busybox:latest"), busybox.manifest.bytes);

    let multi = oci::multilayer_image();
    registry.push_image(&multi, "test/multi:v1", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("test/multi:v1"), multi.manifest.bytes);

    let index = oci::multiplatform_index();
    registry.push_index(&index, "test/multi-arch:latest");
    assert_eq!(registry.raw_manifest("test/multi-arch:latest"), index.manifest.bytes);
    let arm = &index.images[1];
    assert_eq!(registry.raw_manifest(&format!("test/multi-arch@{}", arm.digest())), arm.manifest.bytes);

    let zstd = oci::zstd_image();
    registry.push_image(&zstd, "test/zstd:latest", PushFormat::Oci);
    assert_eq!(registry.raw_manifest("test/zstd:latest"), zstd.manifest.bytes);

    registry.push_image(&busybox, "library/busybox:v2s2", PushFormat::DockerV2S2);
    let v2s2: serde_json::Value = serde_json::from_slice(&registry.raw_manifest("library/busybox:v2s2")).unwrap();
    assert_eq!(v2s2["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(v2s2["config"]["digest"], busybox.id());
    assert_eq!(support::registry::http_status(registry.port(), "/v2/"), Some(401));
}
