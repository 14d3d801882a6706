//! The threads that run dedup's shared requests.
//!
//! Invariants:
//! - `idle` counts threads waiting for a job minus jobs queued for them. A submitter that finds it
//!   above zero decrements it and sends *under the lock*, so a thread that times out, takes the
//!   lock and sees the channel empty knows no job is promised to it, and may exit.
//! - Threads start on demand (one per shared request running at once, at most), exit after
//!   [`IDLE`] without work, and exit when the executor (the only sender) is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

/// How long an idle helper thread waits for work before it exits.
const IDLE: Duration = Duration::from_secs(5);

pub(super) type Job = Box<dyn FnOnce() + Send>;

pub(super) struct Helpers {
    idle: Arc<Mutex<usize>>,
    tx: Sender<Job>,
    rx: Receiver<Job>,
    spawned: AtomicUsize,
}

impl Helpers {
    pub(super) fn new() -> Helpers {
        let (tx, rx) = crossbeam_channel::unbounded();
        Helpers {
            idle: Arc::new(Mutex::new(0)),
            tx,
            rx,
            spawned: AtomicUsize::new(0),
        }
    }

    /// Runs `job` on a helper thread, or on the calling thread if none can be started.
    pub(super) fn run(&self, job: Job) {
        {
            let mut idle = self.idle.lock();
            if *idle > 0 {
                *idle -= 1;
                // Cannot fail: `self` holds a receiver.
                let _ = self.tx.send(job);
                return;
            }
        }
        let n = self.spawned.fetch_add(1, Ordering::Relaxed);
        let (rx, idle) = (self.rx.clone(), self.idle.clone());
        let job = Arc::new(Mutex::new(Some(job)));
        let first = job.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("httpbatch-dedup-{n}"))
            .spawn(move || {
                if let Some(job) = first.lock().take() {
                    job();
                }
                serve(&rx, &idle);
            });
        if spawned.is_err() {
            if let Some(job) = job.lock().take() {
                job();
            }
        }
    }
}

fn serve(rx: &Receiver<Job>, idle: &Mutex<usize>) {
    loop {
        *idle.lock() += 1;
        loop {
            match rx.recv_timeout(IDLE) {
                Ok(job) => {
                    job();
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut idle = idle.lock();
                    if rx.is_empty() {
                        *idle -= 1;
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
