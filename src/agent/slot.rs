//! The in-flight slot: where cancellation meets a socket. It lives with the leaf, the only code
//! that holds sockets; the run engine registers one per worker with its run's cancel token and
//! hands it down on the [`Context`](crate::Context).

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use ureq::unversioned::transport::ShutdownHandle;

/// Where cancellation meets a socket: one request in flight at a time on one thread.
///
/// A worker registers one slot with its batch's cancel token for its whole life and reuses it for
/// every request, instead of registering a listener per request. The transport that serves the
/// request attaches its socket before the request's first I/O call on it (when it connects or
/// checks the connection out of the pool); a cancel sets the flag, then shuts down whatever socket
/// is attached. `attach` stores the socket, then re-checks the flag, so either the canceller sees
/// the socket or the attaching path sees the flag. `current` lets a repeated attach of the same
/// socket skip the lock; only the owning thread writes it.
#[derive(Default)]
pub(crate) struct InflightSlot {
    cancelled: AtomicBool,
    current: AtomicU64,
    socket: Mutex<Option<Weak<dyn ShutdownHandle>>>,
}

impl InflightSlot {
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let socket = self.socket.lock().take();
        if let Some(s) = socket.and_then(|w| w.upgrade()) {
            s.shutdown();
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Attaches `socket` for the request in flight; false (and the socket is shut down) if the
    /// slot is cancelled.
    /// `id` names the transport and is never reused (an address could be, after a close).
    #[inline]
    pub(crate) fn attach(&self, id: u64, socket: &Weak<dyn ShutdownHandle>) -> bool {
        if self.current.load(Ordering::Relaxed) != id {
            self.store(id, socket);
        }
        if self.is_cancelled() {
            if let Some(s) = socket.upgrade() {
                s.shutdown();
            }
            return false;
        }
        true
    }

    #[inline(never)]
    fn store(&self, id: u64, socket: &Weak<dyn ShutdownHandle>) {
        *self.socket.lock() = Some(socket.clone());
        self.current.store(id, Ordering::Relaxed);
    }

    /// Forgets the socket once its request is over.
    pub(crate) fn detach(&self) {
        if self.current.swap(0, Ordering::Relaxed) != 0 {
            *self.socket.lock() = None;
        }
    }
}
