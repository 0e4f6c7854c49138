//! Tells crates that build on the engine whether its `testing` feature is on (as `DEP_BERTH_ENGINE_TESTING`
//! in their build scripts), so the binary compiles its test-only commands exactly when the engine has its
//! test hooks, which the integration tests turn on through a dev-dependency.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TESTING").is_some() {
        println!("cargo::metadata=testing=1");
    }
}
