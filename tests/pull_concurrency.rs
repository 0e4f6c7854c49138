//! Several berth processes share one root: concurrent pulls of one image both succeed and unpack each
//! layer once; a pull killed with SIGKILL midway leaves no visible partial image, and the next pull
//! completes.

mod support;

use std::time::{Duration, Instant};

use support::berth::{Berth, Run};
use support::fake::{FakeRegistry, Fault};
use support::oci;

#[test]
fn concurrent_pulls_of_one_image_share_the_layers() {
    if !support::require_root("concurrent_pulls_of_one_image_share_the_layers") {
        return;
    }
    let image = oci::busybox_with("concurrent");
    // Slow enough that both processes are downloading at the same time.
    let fake = FakeRegistry::start(&image, Fault::SlowLayer { chunk: 64 * 1024, interval: Duration::from_millis(40) });
    let berth = Berth::new();
    let reference = fake.reference();
    let first = berth.command(&["pull", &reference]).spawn().expect("spawn first pull");
    let second = berth.command(&["pull", &reference]).spawn().expect("spawn second pull");
    for (name, child) in [("first", first), ("second", second)] {
        let out = child.wait_with_output().expect("wait for pull");
        let run = Run::new(&["pull", &reference], out);
        assert_eq!(run.code, Some(0), "{name} concurrent pull failed:\n{run}");
    }
    berth.assert_layers_exactly(&image.chain_ids());
    berth.assert_no_wh_files();
    assert_eq!(berth.image_ids(), [support::berth::short_id(image.id())]);
    assert_eq!(berth.inspect(&reference)["Id"], image.id());
}

#[test]
fn pull_killed_midway_leaves_no_partial_image() {
    if !support::require_root("pull_killed_midway_leaves_no_partial_image") {
        return;
    }
    let image = oci::busybox_with("killed");
    let fake = FakeRegistry::start(&image, Fault::SlowLayer { chunk: 16 * 1024, interval: Duration::from_millis(50) });
    let berth = Berth::new();
    let mut pull = berth.command(&["pull", &fake.reference()]).spawn().expect("spawn pull");

    let layer_len = image.layers[0].blob.bytes.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.layer_bytes_sent() < layer_len / 4 {
        assert!(Instant::now() < deadline, "the pull never got a quarter into the slow layer");
        assert!(pull.try_wait().expect("poll pull").is_none(), "the pull ended before it was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fake.layer_bytes_sent() < layer_len, "killed before the slow layer finished");
    pull.kill().expect("SIGKILL the pull");
    let status = pull.wait().expect("reap the pull");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));

    assert_eq!(berth.image_ids(), Vec::<String>::new(), "no partial image listed after SIGKILL");
    berth.run(&["image", "inspect", &fake.reference()]).failure(&[&fake.reference()]);

    let good = FakeRegistry::start(&image, Fault::None);
    berth.run(&["pull", &good.reference()]).success();
    assert_eq!(berth.inspect(&good.reference())["Id"], image.id());
    berth.assert_layers_exactly(&image.chain_ids());
    berth.assert_no_wh_files();
}
