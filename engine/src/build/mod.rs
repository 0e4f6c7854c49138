//! The Dockerfile front end: everything a build needs to know about *what* to build, without running
//! anything. `dockerfile` parses the text into nodes, `words` substitutes variables as BuildKit does,
//! `instructions` types the nodes, `stages` scopes variables and plans which stages a target needs, and
//! `ignore` reads `.dockerignore`.

pub mod dockerfile;
pub mod instructions;
pub mod stages;
pub mod words;
