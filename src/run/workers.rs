//! The worker threads of an executor: created once, named, reused by every run, joined on
//! shutdown.
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(size)
            .thread_name(move |i| format!("{name}-{i}"))
            .exit_handler(move |_| {
                let mut n = on_exit.count.lock();
                *n -= 1;
                if *n == 0 {
                    on_exit.exited.notify_all();
                }
            })
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Io, "could not start worker threads", e))?;
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
