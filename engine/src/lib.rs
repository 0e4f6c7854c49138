//! berth's engine: everything that touches images, containers and the kernel.
//!
//! The UI and the CLI use only this crate's public API and its event stream; this crate never imports them.

pub mod layer;
pub mod reference;
