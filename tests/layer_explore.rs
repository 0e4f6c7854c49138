//! The layer explorer's reading (`Engine::layer_changes`) on real stored layers, under both layer stores: a
//! pulled image (read from the layers' tar indexes) whose layers remove a file and a directory, hide a
//! directory's contents with an opaque marker and hardlink across layers, and an image committed here
//! (a layer without an index, walked on disk or in its mounted EROFS image). Needs root.

mod rt;
mod support;

use berth_engine::local::{EntryKind, ImageChanges, Mark};
use berth_engine::{Config, Engine, EngineOptions};
use rt::{Env, require_root};
use support::oci;
use support::registry::PushFormat;

fn engine(env: &Env) -> Engine {
    let config = Config::load_from(&env.root().join("config.toml")).expect("the test's config.toml");
    Engine::open(EngineOptions { root: env.root().to_path_buf(), config }).expect("open the engine")
}

/// Layer `layer`'s change at `path`: its mark, kind and size.
fn change(changes: &ImageChanges, layer: usize, path: &str) -> Option<(Mark, EntryKind, u64)> {
    changes.layers[layer].iter().find(|c| c.entry.path == path).map(|c| (c.mark, c.entry.kind, c.entry.size))
}

#[test]
fn bl_pulled_and_committed_layers_are_read_alike_from_either_store() {
    if !require_root("bl_pulled_and_committed_layers_are_read_alike_from_either_store") {
        return;
    }
    for store in ["dir", "erofs"] {
        let env = Env::with_store(store);
        let reference = env.registry().push_image(&oci::multilayer_image(), "test/multi:1", PushFormat::Oci);
        env.ok(&["pull", &reference]);
        let engine = engine(&env);
        let changes = engine.layer_changes(&reference).expect("layer changes of the pulled image");
        assert_eq!(changes.layers.len(), 4, "{store}");

        let base = change(&changes, 0, "etc/passwd").expect("etc/passwd in the base layer");
        assert_eq!((base.0, base.1), (Mark::Added, EntryKind::File), "{store}");
        assert_eq!(change(&changes, 0, "l1/y").map(|c| c.1), Some(EntryKind::Hardlink), "{store}");
        // The second layer: whiteouts of a file and of a directory (with the bytes they hide), an opaque
        // directory whose lower contents are gone but for what it writes again, a rewritten file.
        assert_eq!(change(&changes, 1, "gone"), Some((Mark::Removed, EntryKind::Removed, 11)), "{store}");
        assert_eq!(change(&changes, 1, "gone-dir"), Some((Mark::Removed, EntryKind::Removed, 24)), "{store}");
        assert_eq!(change(&changes, 1, "data/old").map(|c| c.0), Some(Mark::Modified), "{store}");
        assert_eq!(change(&changes, 1, "data/old/a"), Some((Mark::Removed, EntryKind::Removed, 17)), "{store}");
        assert_eq!(change(&changes, 1, "data/old/sub"), Some((Mark::Removed, EntryKind::Removed, 11)), "{store}");
        assert_eq!(change(&changes, 1, "data/old/new").map(|c| c.0), Some(Mark::Added), "{store}");
        assert_eq!(change(&changes, 1, "etc/passwd").map(|c| c.0), Some(Mark::Modified), "{store}");
        assert_eq!(change(&changes, 1, "cross-link").map(|c| (c.0, c.1)), Some((Mark::Added, EntryKind::Hardlink)));
        // A directory made again where one was removed is new.
        assert_eq!(change(&changes, 2, "gone-dir").map(|c| c.0), Some(Mark::Added), "{store}");

        let merged: Vec<&str> = changes.merged(3).iter().map(|m| m.change.entry.path.as_str()).collect();
        assert!(merged.contains(&"gone-dir/reborn") && !merged.contains(&"gone"), "{store}: {merged:?}");
        assert!(!merged.contains(&"data/old/a") && merged.contains(&"data/old/new"), "{store}: {merged:?}");
        // Both copies of etc/passwd and everything removed are wasted.
        assert!(changes.wasted >= 11 + 24 + 17 + 11 + 2 * 60, "{store}: wasted {}", changes.wasted);
        assert!(changes.efficiency > 0.0 && changes.efficiency < 1.0, "{store}: {}", changes.efficiency);

        // A layer made here has no tar index: it is walked (its directory, or its image mounted).
        env.ok(&["run", "--name", "bl-rm", &env.reference, "rm", "/etc/group"]);
        env.ok(&["commit", "bl-rm", "bl-committed:1"]);
        let committed = engine.layer_changes("bl-committed:1").expect("layer changes of the committed image");
        let top = committed.layers.len() - 1;
        assert_eq!(change(&committed, top, "etc/group").map(|c| (c.0, c.1)), Some((Mark::Removed, EntryKind::Removed)));
        assert!(change(&committed, top - 1, "etc/group").is_some_and(|c| c.0 == Mark::Added), "{store}");
        env.ok(&["rm", "bl-rm"]);
    }
}
