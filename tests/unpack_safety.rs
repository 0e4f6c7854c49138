//! Malicious layers must not reach outside their layer dir. Each test pulls one hostile layer while
//! decoy files sit outside berth's root; afterwards the decoys are untouched, nothing named with the
//! test's marker exists outside a layer dir, and the pull either failed cleanly (nothing listed) or
//! produced a complete image whose content stayed inside the layer dir.

mod support;

use std::os::unix::fs::MetadataExt;

use support::berth::{Berth, Decoys, Run, STORES};
use support::fake::{FakeRegistry, Fault};
use support::oci::{Compression, Image, LayerBuilder, Meta, Platform};
use tar::EntryType;

/// A name unique to this run, so an escaped file cannot be confused with anything else.
fn marker() -> String {
    format!("pwned-{}", hex::encode(rand::random::<[u8; 6]>()))
}

/// `../` enough times to climb from any layer dir to `/`, then the decoy dir.
fn climb_to(decoys: &Decoys, rest: &str) -> Vec<u8> {
    format!("{}{}/{rest}", "../".repeat(24), decoys.relative_from_fs_root()).into_bytes()
}

fn hostile_image(layer: LayerBuilder) -> Image {
    Image::new(Platform::host(), vec![layer.build(Compression::Gzip)], &["sh"], "hostile")
}

/// Pulls `image` and checks the safety outcome described in the file header; returns the run.
fn pull_safely(berth: &Berth, image: &Image, decoys: &Decoys, marker: &str) -> Run {
    let fake = FakeRegistry::start(image, Fault::None);
    let run = berth.run(&["pull", &fake.reference()]);
    decoys.assert_untouched();
    berth.assert_no_escape(marker);
    berth.assert_no_wh_files();
    if run.code == Some(0) {
        assert_eq!(berth.inspect(&fake.reference())["Id"], image.id(), "a successful pull lists the whole image");
        berth.assert_layers_exactly(&image.chain_ids());
        run
    } else {
        let run = run.failure(&[&fake.reference()]);
        berth.assert_failed_pull_left_nothing();
        run
    }
}

#[test]
fn dotdot_paths_stay_inside() {
    if !support::require_root("dotdot_paths_stay_inside") {
        return;
    }
    for store in STORES {
        let (decoys, marker) = (Decoys::new(), marker());
        let mut layer = LayerBuilder::new();
        layer
            .raw(format!("../{marker}").as_bytes(), EntryType::Regular, b"", b"one level up\n")
            .raw(format!("a/../../../{marker}").as_bytes(), EntryType::Regular, b"", b"three levels up\n")
            .raw(&climb_to(&decoys, &marker), EntryType::Regular, b"", b"into the decoy dir\n")
            .raw(&climb_to(&decoys, "secret"), EntryType::Regular, b"", b"overwrite the decoy\n");
        let berth = Berth::with_store(store);
        let run = pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
        if run.code == Some(0) {
            let mut landed = 0;
            for entry in berth.layer_entries() {
                support::berth::walk(&berth.layer_view(&entry), &mut |path, _| {
                    landed += usize::from(path.file_name().is_some_and(|n| n.to_string_lossy() == marker));
                });
            }
            assert!(landed >= 1, "a successful pull keeps the `..` entries, clamped inside the layer dir");
        }
    }
}

#[test]
fn absolute_symlink_then_write_through_it_stays_inside() {
    if !support::require_root("absolute_symlink_then_write_through_it_stays_inside") {
        return;
    }
    for store in STORES {
        let (decoys, marker) = (Decoys::new(), marker());
        let target = decoys.path().display().to_string();
        let mut layer = LayerBuilder::new();
        layer
            .symlink("evil", &target)
            .file(&format!("evil/{marker}"), b"through an absolute symlink\n", Meta::mode(0o644))
            .file("evil/secret", b"overwrite through the symlink\n", Meta::mode(0o644))
            .symlink("evil-sub", &format!("{target}/sub"))
            .file("evil-sub/inner", b"overwrite a nested decoy\n", Meta::mode(0o644));
        let berth = Berth::with_store(store);
        let run = pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
        if run.code == Some(0) {
            let image_layer = berth.layer_view(&berth.layer_entries()[0]);
            assert_eq!(
                std::fs::read_link(image_layer.join("evil")).ok(),
                Some(decoys.path().to_path_buf()),
                "the symlink itself is kept"
            );
        }
    }
}

#[test]
fn hardlink_through_symlink_to_outside_stays_inside() {
    if !support::require_root("hardlink_through_symlink_to_outside_stays_inside") {
        return;
    }
    for store in STORES {
        let (decoys, marker) = (Decoys::new(), marker());
        let mut layer = LayerBuilder::new();
        layer.symlink("lnk", &decoys.path().display().to_string()).hardlink(&format!("{marker}-stolen"), "lnk/secret");
        let berth = Berth::with_store(store);
        pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
        assert_not_linked_to_decoy(&berth, &decoys, &format!("{marker}-stolen"));
    }
}

#[test]
fn hardlink_to_dotdot_target_stays_inside() {
    if !support::require_root("hardlink_to_dotdot_target_stays_inside") {
        return;
    }
    for store in STORES {
        let (decoys, marker) = (Decoys::new(), marker());
        let name = format!("{marker}-stolen");
        let mut layer = LayerBuilder::new();
        layer.raw(name.as_bytes(), EntryType::Link, &climb_to(&decoys, "secret"), b"");
        let berth = Berth::with_store(store);
        pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
        assert_not_linked_to_decoy(&berth, &decoys, &name);
    }
}

/// If the hostile hard link was created in the layer, it is not the decoy's inode.
fn assert_not_linked_to_decoy(berth: &Berth, decoys: &Decoys, name: &str) {
    let secret = std::fs::metadata(decoys.path().join("secret")).expect("decoy secret");
    assert_eq!(secret.nlink(), 1, "the decoy gained a hard link");
    for entry in berth.layer_entries() {
        if let Ok(meta) = std::fs::symlink_metadata(berth.layer_view(&entry).join(name)) {
            assert_ne!((meta.dev(), meta.ino()), (secret.dev(), secret.ino()), "layer file {name} is the host's decoy");
        }
    }
}

#[test]
fn symlink_named_dot_stays_inside() {
    if !support::require_root("symlink_named_dot_stays_inside") {
        return;
    }
    for store in STORES {
        let (decoys, marker) = (Decoys::new(), marker());
        let target = decoys.path().display().to_string();
        let mut layer = LayerBuilder::new();
        layer
            .raw(b".", EntryType::Symlink, target.as_bytes(), b"")
            .raw(b"./", EntryType::Symlink, target.as_bytes(), b"")
            .file(&marker, b"written after the root became a symlink\n", Meta::mode(0o644))
            .file("secret", b"overwrite via the root symlink\n", Meta::mode(0o644));
        let berth = Berth::with_store(store);
        let run = pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
        if run.code == Some(0) {
            let image_layer = berth.layer_view(&berth.layer_entries()[0]);
            let meta = std::fs::symlink_metadata(&image_layer).expect("layer dir");
            assert!(meta.is_dir(), "the layer dir itself must stay a directory");
        }
    }
}

#[test]
fn decompression_bomb_hits_max_layer_bytes() {
    if !support::require_root("decompression_bomb_hits_max_layer_bytes") {
        return;
    }
    let mut layer = LayerBuilder::new();
    layer.file("bomb", &vec![0u8; 64 * 1024 * 1024], Meta::mode(0o644));
    let image = hostile_image(layer);
    assert!(image.layers[0].blob.bytes.len() < 1024 * 1024, "fixture: the bomb compresses well");
    for store in STORES {
        let berth = Berth::with_config(&format!(
            "max_layer_bytes = 1048576\nregistry_max_attempts = 2\nlayer_store = \"{store}\"\n"
        ));
        let fake = FakeRegistry::start(&image, Fault::None);
        berth
            .run(&["pull", &fake.reference()])
            .failure(&[&fake.reference(), &image.layers[0].blob.digest])
            .mentions_any(&["max_layer_bytes", "limit", "exceeds", "too large"]);
        berth.assert_failed_pull_left_nothing();
        berth.assert_layers_exactly(&[]);

        let roomy = Berth::with_config(&format!("max_layer_bytes = 134217728\nlayer_store = \"{store}\"\n"));
        roomy.run(&["pull", &fake.reference()]).success();
        let bomb = roomy.layer_view(&image.chain_ids()[0]).join("bomb");
        assert_eq!(
            std::fs::metadata(bomb).map(|m| m.len()).ok(),
            Some(64 * 1024 * 1024),
            "under a roomy cap the layer unpacks"
        );
    }
}

/// The fixture itself: the raw builder really writes names the tar crate refuses, and reads back.
#[test]
fn raw_entries_survive_into_the_tar() {
    let mut layer = LayerBuilder::new();
    let long = format!("{}long", "../".repeat(40));
    layer.raw(b"../escape", EntryType::Regular, b"", b"x").raw(b"link", EntryType::Link, b"../../x", b"").raw(
        long.as_bytes(),
        EntryType::Link,
        long.as_bytes(),
        b"",
    );
    let tar = layer.into_tar();
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = archive
        .entries()
        .expect("read tar")
        .map(|e| {
            let e = e.expect("tar entry");
            (e.path_bytes().into_owned(), e.link_name_bytes().map(|l| l.into_owned()))
        })
        .collect();
    let long = long.into_bytes();
    assert_eq!(
        entries,
        [(b"../escape".to_vec(), None), (b"link".to_vec(), Some(b"../../x".to_vec())), (long.clone(), Some(long))]
    );
}

/// The EROFS store writes one image file per layer and nothing else: no entry of a hostile layer, clamped
/// or not, exists as a file anywhere on the host, while the mounted image shows them.
#[test]
fn erofs_store_creates_no_layer_entry_on_the_host() {
    if !support::require_root("erofs_store_creates_no_layer_entry_on_the_host") {
        return;
    }
    let (decoys, marker) = (Decoys::new(), marker());
    let target = decoys.path().display().to_string();
    let mut layer = LayerBuilder::new();
    layer
        .raw(format!("../{marker}-up").as_bytes(), EntryType::Regular, b"", b"one level up\n")
        .raw(&climb_to(&decoys, &format!("{marker}-climb")), EntryType::Regular, b"", b"into the decoy dir\n")
        .symlink("evil", &target)
        .file(&format!("evil/{marker}-through"), b"through an absolute symlink\n", Meta::mode(0o644))
        .raw(format!("{marker}-stolen").as_bytes(), EntryType::Link, &climb_to(&decoys, "secret"), b"");
    let berth = Berth::with_store("erofs");
    let run = pull_safely(&berth, &hostile_image(layer), &decoys, &marker);
    let mut on_host = Vec::new();
    support::berth::walk(berth.sandbox(), &mut |path, _| {
        if path.file_name().is_some_and(|n| n.to_string_lossy().contains(&marker)) {
            on_host.push(path.to_path_buf());
        }
    });
    assert!(on_host.is_empty(), "layer entries created on the host: {on_host:?}");
    for name in std::fs::read_dir(berth.layers_dir()).expect("read layers").map(|e| e.expect("entry").path()) {
        let kind = name.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        assert!(name.is_file() && (kind == "erofs" || kind == "tarsplit"), "{name:?} is not a layer image or index");
    }
    if run.code == Some(0) {
        let mut in_image = 0;
        support::berth::walk(&berth.layer_view(&berth.layer_entries()[0]), &mut |path, _| {
            in_image += usize::from(path.file_name().is_some_and(|n| n.to_string_lossy().contains(&marker)));
        });
        assert!(in_image >= 3, "the clamped entries are in the image ({in_image} found)");
    }
}
