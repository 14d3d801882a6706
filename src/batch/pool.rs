//! The worker threads: created once, named, reused by every batch.
//!
//! Invariants: jobs are `'static` closures that catch their own panics; a worker only exits when
//! the job channel is closed by `shutdown`, after draining what was queued (queued runner jobs of a
//! stopped batch find their batch closed and return at once).

use std::thread::{self, JoinHandle, ThreadId};

use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;

use crate::error::{Error, ErrorKind};

pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

pub(crate) struct WorkerPool {
    tx: Mutex<Option<Sender<Job>>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    ids: Vec<ThreadId>,
    size: usize,
}

impl WorkerPool {
    pub(crate) fn new(size: usize, name: &str) -> Result<WorkerPool, Error> {
        let (tx, rx) = unbounded::<Job>();
        let mut handles = Vec::with_capacity(size);
        for i in 0..size {
            let rx = rx.clone();
            let h = thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // Jobs catch their own panics; this is a second fence so a worker never dies.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| {
                    Error::with_source(ErrorKind::Io, "could not spawn a worker thread", e)
                });
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    drop(tx);
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        let ids = handles.iter().map(|h| h.thread().id()).collect();
        Ok(WorkerPool {
            tx: Mutex::new(Some(tx)),
            handles: Mutex::new(handles),
            ids,
            size,
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Queues `job`; hands it back if the pool is shut down.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        match &*self.tx.lock() {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.tx.lock().is_none()
    }

    /// Closes the queue and joins the workers (unless called from a worker, which cannot join
    /// itself: then the workers exit on their own once the queue drains).
    pub(crate) fn shutdown(&self) {
        drop(self.tx.lock().take());
        if self.ids.contains(&thread::current().id()) {
            return;
        }
        let handles = std::mem::take(&mut *self.handles.lock());
        for h in handles {
            let _ = h.join();
        }
    }
}
