//! Container ids and Docker-style generated names (`adjective_scientist`).

use rand::Rng;
use rand::seq::IndexedRandom;

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "bright", "busy", "calm", "clever", "cool", "crisp", "daring", "eager", "fancy",
    "festive", "gentle", "happy", "hardy", "jolly", "keen", "kind", "lively", "lucid", "merry", "modest", "nifty",
    "noble", "patient", "plucky", "quick", "quiet", "rapid", "serene", "sharp", "shiny", "steady", "sturdy", "sunny",
    "swift", "tidy", "trusty", "vivid", "wise", "witty", "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "babbage",
    "bardeen",
    "bohr",
    "boole",
    "cannon",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermi",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ritchie",
    "shannon",
    "somerville",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
];

/// A new random container id: 32 random bytes in hex, like Docker's.
pub(crate) fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A random `adjective_surname`; after a clash the caller retries with `attempt` > 0, which adds a digit.
pub(crate) fn generate(attempt: u32) -> String {
    let mut rng = rand::rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("calm");
    let surname = SURNAMES.choose(&mut rng).copied().unwrap_or("turing");
    if attempt == 0 {
        format!("{adjective}_{surname}")
    } else {
        format!("{adjective}_{surname}{}", rng.random_range(0..10u32))
    }
}

/// Docker's rule for user-chosen names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading `/`.
pub(crate) fn valid(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
    }

    #[test]
    fn generated_names_are_valid() {
        for attempt in 0..5 {
            let n = generate(attempt);
            assert!(valid(&n), "{n}");
            assert!(n.contains('_'));
        }
    }

    #[test]
    fn name_rules() {
        assert!(valid("web-1") && valid("/web.1") && valid("a_b"));
        assert!(!valid("-web") && !valid("w") && !valid("we b") && !valid("") && !valid("web/1"));
    }
}
