//! Shared settings of the property tests (`proptests` modules beside the code they test).
//!
//! Each property has a default case count sized so the whole test run stays fast; `PROPTEST_CASES`
//! overrides every one of them, which is how `bench/fuzz.sh` runs the same properties at length.

use proptest::test_runner::Config;

/// A runner config of `default_cases` cases (or `PROPTEST_CASES`), with failures reported, not saved
/// to regression files: a finding becomes an ordinary unit test beside the fix.
pub(crate) fn cases(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}
