//! CPU % for the Containers pane's column: the engine reads CPU time and memory; a percentage needs the
//! reading before, so the last one of each container is kept here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_engine::stats::Usage;

use super::ContainerUsage;

/// An older previous reading is not used: the average over a long gap (the pane was hidden meanwhile) is not
/// what the container does now.
const STALE: Duration = Duration::from_secs(6);

/// The last reading of each polled container, and when it was taken.
#[derive(Debug, Default)]
pub struct UsageTracker {
    previous: HashMap<String, Usage>,
    taken: Option<Instant>,
}

impl UsageTracker {
    /// The pane's figures for `current`, read at `now`: CPU % from each container's previous reading, when
    /// there is a recent one. `current` then becomes the previous reading; containers not in it are forgotten.
    pub fn update(&mut self, current: HashMap<String, Usage>, now: Instant) -> HashMap<String, ContainerUsage> {
        let recent = self.taken.is_some_and(|t| now.saturating_duration_since(t) <= STALE);
        let figures = current
            .iter()
            .map(|(id, usage)| {
                let previous = self.previous.get(id).filter(|_| recent);
                let cpu_percent = previous.map(|p| usage.cpu_percent_since(p));
                (id.clone(), ContainerUsage { cpu_percent, memory_bytes: usage.memory_usage })
            })
            .collect();
        self.previous = current;
        self.taken = Some(now);
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cpu_ms: u64, system_ms: u64, memory: u64) -> Usage {
        Usage {
            cpu_usage_ns: cpu_ms * 1_000_000,
            system_cpu_ns: system_ms * 1_000_000,
            online_cpus: 2,
            memory_usage: memory,
        }
    }

    /// CPU % to a thousandth, so float rounding does not decide a test.
    fn cpu(figures: &HashMap<String, ContainerUsage>, id: &str) -> Option<f64> {
        figures[id].cpu_percent.map(|c| (c * 1000.0).round() / 1000.0)
    }

    #[test]
    fn cpu_percent_comes_from_two_readings_of_the_same_container() {
        let mut tracker = UsageTracker::default();
        let start = Instant::now();
        let first = tracker.update(HashMap::from([("web".to_string(), reading(0, 0, 10))]), start);
        assert_eq!(first["web"], ContainerUsage { cpu_percent: None, memory_bytes: 10 }, "one reading: no CPU % yet");

        // 2 s on a two-CPU machine is 4 s of machine time; 1 s of it in the container is half of one core.
        let later = start + Duration::from_secs(2);
        let current = HashMap::from([("web".to_string(), reading(1000, 4000, 20)), ("db".into(), reading(5, 4000, 7))]);
        let second = tracker.update(current, later);
        assert_eq!((cpu(&second, "web"), second["web"].memory_bytes), (Some(50.0), 20));
        assert_eq!(cpu(&second, "db"), None, "db has no earlier reading");

        let third =
            tracker.update(HashMap::from([("db".to_string(), reading(405, 8000, 7))]), later + Duration::from_secs(2));
        assert_eq!(cpu(&third, "db"), Some(20.0));
        assert!(!third.contains_key("web"), "only the containers asked about are answered");
        let back = tracker
            .update(HashMap::from([("web".to_string(), reading(2000, 9000, 20))]), later + Duration::from_secs(4));
        assert_eq!(cpu(&back, "web"), None, "a container left out of the last reading starts over");
    }

    #[test]
    fn a_stale_reading_gives_no_cpu_percent() {
        let mut tracker = UsageTracker::default();
        let start = Instant::now();
        tracker.update(HashMap::from([("web".to_string(), reading(0, 0, 1))]), start);
        let after_a_minute = start + Duration::from_secs(60);
        let figures = tracker.update(HashMap::from([("web".to_string(), reading(60_000, 240_000, 1))]), after_a_minute);
        assert_eq!(cpu(&figures, "web"), None, "a minute-old reading is not averaged over");
        let next = tracker.update(
            HashMap::from([("web".to_string(), reading(61_000, 244_000, 1))]),
            after_a_minute + Duration::from_secs(2),
        );
        assert_eq!(cpu(&next, "web"), Some(50.0));
    }
}
