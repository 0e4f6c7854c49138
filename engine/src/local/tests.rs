//! Local layers in the store: adoption without a copy, and the compressed blob made once, on request.

use std::io::Read;
use std::os::unix::fs::MetadataExt;

use super::*;
use crate::testing::require_root;
use crate::{Config, EngineOptions};

fn engine(root: &std::path::Path) -> Engine {
    Engine::open(EngineOptions { root: root.to_path_buf(), config: Config::default() }).expect("open engine")
}

#[test]
fn an_adopted_upper_becomes_the_layer_and_its_blob_is_made_once() {
    if !require_root("an_adopted_upper_becomes_the_layer_and_its_blob_is_made_once") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let engine = engine(root.path());
    let store = engine.store();

    let dir = store.temp_dir("build").expect("temp dir");
    std::fs::create_dir(dir.path().join("app")).expect("mkdir");
    std::fs::write(dir.path().join("app/main"), b"binary").expect("write");
    let ino = std::fs::metadata(dir.path().join("app/main")).expect("stat").ino();
    let base = engine.adopt_layer(dir, None, &PackOptions::default()).expect("adopt").expect("a layer");
    assert_eq!(base.chain_id, base.diff_id);
    assert_eq!(base.size, 6);
    let moved = store.layer_dir(&base.chain_id).join("app/main");
    assert_eq!(std::fs::metadata(&moved).expect("stat").ino(), ino, "the upper is renamed, not copied");

    let dir = store.temp_dir("build").expect("temp dir");
    std::fs::write(dir.path().join("more"), b"x").expect("write");
    let top = engine.adopt_layer(dir, Some(&base.chain_id), &PackOptions::default()).expect("adopt").expect("layer");
    assert_eq!(top.parent.as_deref(), Some(base.chain_id.as_str()));
    assert_eq!(top.chain_id, crate::store::chain_ids(&[base.diff_id.clone(), top.diff_id.clone()])[1]);

    let empty = store.temp_dir("build").expect("temp dir");
    let empty_path = empty.path().to_path_buf();
    assert!(engine.adopt_layer(empty, Some(&top.chain_id), &PackOptions::default()).expect("adopt").is_none());
    assert!(!empty_path.exists(), "an empty upper is dropped");

    assert!(store.layer_blob(&top.chain_id).expect("lookup").is_none(), "no blob until one is asked for");
    let blob = engine.layer_blob(&top.chain_id).expect("blob");
    let path = store.blobs().path(&blob.digest).expect("path");
    let made = std::fs::metadata(&path).expect("blob on disk");
    assert_eq!(made.len(), blob.size);
    assert_eq!(engine.layer_blob(&top.chain_id).expect("blob again"), blob);
    assert_eq!(std::fs::metadata(&path).expect("stat").ino(), made.ino(), "made once");

    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("open")).read_to_end(&mut tar).expect("gunzip");
    assert_eq!(crate::digest::sha256_digest(&tar), top.diff_id);
    assert_eq!(crate::digest::sha256_digest(&std::fs::read(&path).expect("read")), blob.digest);
    assert_eq!(std::fs::read_dir(root.path().join("tmp")).expect("tmp").count(), 0);
}
