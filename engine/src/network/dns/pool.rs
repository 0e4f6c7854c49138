//! The resolver's workers: a fixed number of threads taking tasks (relayed queries, TCP connections) from
//! a bounded queue. A task that finds the queue full is refused at once, so a flood of queries costs no
//! more threads or memory than the limits allow.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// The pool's size: tasks running at once, and tasks waiting for a worker.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) workers: usize,
    pub(super) queued: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { workers: 4, queued: 32 }
    }
}

type Task = Box<dyn FnOnce() + Send>;

/// Dropping the pool lets the workers finish their current task and end.
pub(super) struct Pool {
    tasks: SyncSender<Task>,
}

impl Pool {
    pub(super) fn start(limits: Limits) -> Pool {
        let (tasks, queue) = std::sync::mpsc::sync_channel(limits.queued);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..limits.workers.max(1) {
            let queue = queue.clone();
            std::thread::spawn(move || work(&queue));
        }
        Pool { tasks }
    }

    /// Queues a task; false when the queue is full (the task is dropped unrun).
    pub(super) fn submit(&self, task: impl FnOnce() + Send + 'static) -> bool {
        self.tasks.try_send(Box::new(task)).is_ok()
    }
}

fn work(queue: &Mutex<Receiver<Task>>) {
    loop {
        // The lock is held only while waiting for the next task, never while running one.
        let task = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match task {
            Ok(task) => task(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_full_pool_refuses_more_tasks_instead_of_growing() {
        let pool = Pool::start(Limits { workers: 2, queued: 2 });
        let (started, starts) = mpsc::channel();
        let (done, dones) = mpsc::channel();
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let task = |n: u32| {
            let (started, done, release) = (started.clone(), done.clone(), release.clone());
            move || {
                started.send(n).unwrap();
                drop(release.lock());
                done.send(n).unwrap();
            }
        };
        // Both workers busy...
        assert!(pool.submit(task(1)));
        assert!(pool.submit(task(2)));
        for _ in 0..2 {
            starts.recv_timeout(Duration::from_secs(10)).expect("both workers take a task");
        }
        // ...two tasks wait for them, and the next one is refused.
        assert!(pool.submit(task(3)));
        assert!(pool.submit(task(4)));
        assert!(!pool.submit(task(5)));

        drop(held);
        let mut finished: Vec<u32> = (0..4).map(|_| dones.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        finished.sort();
        assert_eq!(finished, [1, 2, 3, 4]);
    }
}
