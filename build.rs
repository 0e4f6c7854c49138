//! Sets `cfg(berth_testing)` when the engine is built with its `testing` feature (see engine/build.rs):
//! the hidden `network attach/detach` commands exist only then. `cargo test` turns it on through the
//! dev-dependency on the engine; a plain `cargo build --release` leaves it off.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(berth_testing)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DEP_BERTH_ENGINE_TESTING");
    if std::env::var_os("DEP_BERTH_ENGINE_TESTING").is_some() {
        println!("cargo::rustc-cfg=berth_testing");
    }
}
