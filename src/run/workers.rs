//! The worker threads of an executor: created once, named, reused by every run, joined on
//! shutdown.
//!
//! Starting a thread costs tens of microseconds (100 threads: 4–8 ms on a 2-core machine), so
//! `Workers::new` starts as many as the machine has cores and hands the rest to a short-lived
//! starter thread: building an executor returns at once, and the first run's first requests go
//! out while the other threads come up (a run's runners wait in the pool's queue until a thread
//! takes them). A thread the starter cannot start leaves the pool smaller, never stuck: its
//! share of `alive` is counted down at once and the runners go to the threads that did start.
//!
//! Invariants:
//! - `pool` is `Some` until `shutdown`; a run clones the `Arc` for its whole length, so the pool
//!   lives until the last run that started on it has returned.
//! - `alive` counts threads not yet exited: it starts at the pool's size and rayon's exit handler
//!   counts down. `shutdown` drops the executor's handle on the pool and waits for `alive` to reach
//!   zero, unless the calling thread is one of the workers or is running a run on this pool
//!   (then waiting would wait on itself; the threads exit on their own once that run returns).

use std::sync::Arc;
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind};

struct Alive {
    count: Mutex<usize>,
    exited: Condvar,
}

pub(crate) struct Workers {
    pool: Mutex<Option<Arc<rayon::ThreadPool>>>,
    size: usize,
    alive: Arc<Alive>,
    /// Threads inside a run on this pool right now (the callers, not the workers).
    running: Mutex<Vec<ThreadId>>,
}

/// A run's hold on the pool: keeps it alive and marks the calling thread as running.
pub(crate) struct Lease<'w> {
    workers: &'w Workers,
    pub(crate) pool: Arc<rayon::ThreadPool>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let me = thread::current().id();
        let mut running = self.workers.running.lock();
        if let Some(i) = running.iter().position(|t| *t == me) {
            running.swap_remove(i);
        }
    }
}

impl Alive {
    fn exited_one(&self) {
        let mut n = self.count.lock();
        *n -= 1;
        if *n == 0 {
            self.exited.notify_all();
        }
    }
}

/// Starts one of the pool's threads with the name and stack size the pool gave it.
fn start(thread: rayon::ThreadBuilder) -> std::io::Result<()> {
    let mut builder = thread::Builder::new();
    if let Some(name) = thread.name() {
        builder = builder.name(name.to_owned());
    }
    if let Some(bytes) = thread.stack_size() {
        builder = builder.stack_size(bytes);
    }
    builder.spawn(move || thread.run()).map(drop)
}

/// Starts `threads` on a starter thread of their own (or here, when even that one cannot start:
/// a failed spawn drops its closure, so the threads wait in a shared list, not in the closure).
/// A thread that cannot start is counted out of `alive` at once, so a shutdown never waits for it.
fn start_later(threads: Vec<rayon::ThreadBuilder>, alive: Arc<Alive>) {
    let pending = Arc::new(Mutex::new(threads));
    let start_pending = |pending: &Mutex<Vec<rayon::ThreadBuilder>>, alive: &Alive| {
        for thread in std::mem::take(&mut *pending.lock()) {
            if start(thread).is_err() {
                alive.exited_one();
            }
        }
    };
    let (on_starter, alive_there) = (pending.clone(), alive.clone());
    let starter = thread::Builder::new()
        .name("httpbatch-start".into())
        .spawn(move || start_pending(&on_starter, &alive_there));
    if starter.is_err() {
        start_pending(&pending, &alive);
    }
}

impl Workers {
    /// `size` threads named `{name}-0`, `{name}-1`, …
    pub(crate) fn new(size: usize, name: &str) -> Result<Workers, Error> {
        if size == 0 || size > 4096 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("worker threads must be in 1..=4096, got {size}"),
            ));
        }
        // Counted from the start, so a shutdown right after `new` still waits for every thread.
        let alive = Arc::new(Alive {
            count: Mutex::new(size),
            exited: Condvar::new(),
        });
        let on_exit = alive.clone();
        let name = name.to_owned();
        let now = thread::available_parallelism().map_or(1, |n| n.get());
        let mut later = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(size)
            .thread_name(move |i| format!("{name}-{i}"))
            .exit_handler(move |_| on_exit.exited_one())
            .spawn_handler(|thread| match thread.index() < now {
                true => start(thread),
                false => {
                    later.push(thread);
                    Ok(())
                }
            })
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Io, "could not start worker threads", e))?;
        if !later.is_empty() {
            start_later(later, alive.clone());
        }
        Ok(Workers {
            pool: Mutex::new(Some(Arc::new(pool))),
            size,
            alive,
            running: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The pool for one run, or `None` once shut down.
    pub(crate) fn lease(&self) -> Option<Lease<'_>> {
        let pool = self.pool.lock().clone()?;
        self.running.lock().push(thread::current().id());
        Some(Lease {
            workers: self,
            pool,
        })
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.pool.lock().is_none()
    }

    /// Whether the calling thread is one of the workers.
    pub(crate) fn is_worker(&self) -> bool {
        self.pool
            .lock()
            .as_ref()
            .is_some_and(|p| p.current_thread_index().is_some())
    }

    /// Lets the threads go and waits for them to exit (see the module invariants). Idempotent.
    pub(crate) fn shutdown(&self) {
        let Some(pool) = self.pool.lock().take() else {
            return;
        };
        let mine = pool.current_thread_index().is_some()
            || self.running.lock().contains(&thread::current().id());
        drop(pool);
        if mine {
            return;
        }
        let mut n = self.alive.count.lock();
        while *n > 0 {
            self.alive.exited.wait(&mut n);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn cores() -> usize {
        thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Every job holds its thread until all jobs have started, so they can only all meet if
    /// every thread of the pool, the late-started ones included, takes one.
    #[test]
    fn threads_past_the_cores_start_and_all_take_work() {
        let size = cores() * 4 + 3;
        let workers = Workers::new(size, "late-t").unwrap();
        let lease = workers.lease().unwrap();
        let arrived = Mutex::new(0usize);
        let all_in = Condvar::new();
        let met = Mutex::new(0usize);
        let deadline = Instant::now() + Duration::from_secs(20);
        lease.pool.scope(|s| {
            for _ in 0..size {
                s.spawn(|_| {
                    let mut n = arrived.lock();
                    *n += 1;
                    all_in.notify_all();
                    while *n < size && !all_in.wait_until(&mut n, deadline).timed_out() {}
                    if *n == size {
                        *met.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(
            *met.lock(),
            size,
            "every job saw all {size} running at once"
        );
        drop(lease);
        workers.shutdown();
        assert_eq!(*workers.alive.count.lock(), 0);
    }

    #[test]
    fn a_shutdown_right_after_start_waits_for_the_late_threads_too() {
        let workers = Workers::new(cores() + 8, "early-t").unwrap();
        workers.shutdown();
        assert_eq!(*workers.alive.count.lock(), 0);
        assert!(workers.lease().is_none());
    }
}
