//! Healthchecks as Docker defines them: the configuration (the image's `Healthcheck`, the `--health-*` flags
//! over it) and the state a container's monitor records after every check (`State.Health` in inspect,
//! `(healthy)` in `ps`). The checks themselves run in the monitor (`monitor::health`).

mod config;
mod state;

pub(crate) use config::{DEFAULT_INTERVAL_NS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_NS};
pub use config::{HealthConfig, HealthFlags};
pub use state::{Health, HealthResult, HealthStatus};
pub(crate) use state::{MAX_OUTPUT_LEN, output_text};

/// The containers table's column for [`Health`] as JSON; NULL for a container without a healthcheck.
pub(crate) const HEALTH_V1: &str = "
ALTER TABLE containers ADD COLUMN health TEXT;  -- State.Health as JSON; NULL: no healthcheck ran
";
