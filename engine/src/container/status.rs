//! A container's lifecycle state and which operations each state allows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// created → running ⇄ paused → exited, plus restarting (between restart-policy runs) and dead
/// (its monitor vanished and cleanup failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl Status {
    /// Every status, in a container's order of life.
    pub const ALL: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Exited,
        Status::Dead,
        Status::Removing,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A monitor owns the container in these states.
    pub fn is_active(&self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    pub fn can_start(&self) -> bool {
        matches!(self, Status::Created | Status::Exited)
    }

    pub fn can_stop(&self) -> bool {
        self.is_active()
    }

    pub fn can_pause(&self) -> bool {
        matches!(self, Status::Running)
    }

    pub fn can_unpause(&self) -> bool {
        matches!(self, Status::Paused)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards() {
        assert!(Status::Created.can_start() && Status::Exited.can_start());
        assert!(!Status::Running.can_start() && !Status::Paused.can_start());
        assert!(Status::Running.can_pause() && !Status::Exited.can_pause() && !Status::Paused.can_pause());
        assert!(Status::Paused.can_unpause() && !Status::Running.can_unpause());
        assert!(Status::Paused.can_stop() && !Status::Created.can_stop());
        for s in ["created", "running", "paused", "restarting", "exited", "dead", "removing"] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Status::parse("sleeping"), None);
    }
}
