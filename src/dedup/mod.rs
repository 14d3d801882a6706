//! [`DedupExecutor`]: identical requests in flight at the same time share one wire request
//! (singleflight).
//!
//! Invariants:
//! - A shared request runs on a helper thread of this layer (see `helpers.rs`), never on a
//!   caller's thread, under a context of its own ([`Context::detached`]): the caller's
//!   admissions (so a limiter registered above pays once), no caller's cancel or deadline. Its
//!   token is cancelled only when every waiter has gone (see `flight.rs`).
//! - Each caller waits under its own context, so its cancel and deadline end its wait within a
//!   park's wake-up, whatever the others do.
//! - Requests the config does not share pass straight through on the caller's thread.

mod flight;
mod helpers;
mod key;

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use self::flight::{Flight, Table, Waited};
use self::helpers::Helpers;
pub use self::key::DedupConfig;
use crate::batch::panic_message;
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;

/// Statistics of a [`DedupExecutor`] since creation or the last
/// [`reset_stats`](DedupExecutor::reset_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Requests the layer was given (logical requests).
    pub requests: u64,
    /// Of those, requests the config does not share (unsafe methods, a key function's `None`),
    /// sent on their own.
    pub bypassed: u64,
    /// Shared requests sent to the inner layer: one per distinct key in flight.
    pub wire: u64,
    /// Requests that joined a shared request already in flight: the wire requests saved.
    pub saved: u64,
    /// Waiters that left before the outcome (their own cancel or deadline).
    pub left: u64,
    /// Shared requests cancelled because every waiter had left.
    pub abandoned: u64,
    /// Shared requests in flight now.
    pub in_flight: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bypassed: AtomicU64,
    wire: AtomicU64,
    saved: AtomicU64,
    left: AtomicU64,
    abandoned: AtomicU64,
    in_flight: AtomicU64,
}

struct Shared<E> {
    inner: E,
    config: DedupConfig,
    table: Table,
    helpers: Helpers,
    counters: Counters,
}

/// Shares one wire request among identical requests in flight at the same time: across one
/// batch, several batches and several threads (clones share the same table).
///
/// It sees each request before its inner layer. The first request of a key starts a *shared
/// request* through the inner layer (on a helper thread of this layer); requests with the same
/// key that arrive while it is in flight wait for it instead of sending their own. Every caller
/// gets its own outcome: a clone of the response (same status, headers and body, its own tag), or
/// an error of the same kind and message — an error is shared like a response.
///
/// Each caller waits under its own [`Context`]: its cancel or deadline ends its wait at once,
/// and the shared request goes on for the others. Only when every caller has gone is the shared
/// request cancelled. Limiters registered above this layer are charged once per shared request
/// (the first caller's admissions travel with it); below it, as usual, once per write.
///
/// Which requests count as identical is set by [`DedupConfig`]: by default the method, URL,
/// headers and a hash of the body, for `GET`, `HEAD` and `OPTIONS` only.
///
/// ```
/// use httpbatch::{BatchExecutor, BatchOptions, DedupConfig, DedupExecutor, HttpClient, Request};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let dedup = DedupExecutor::new(HttpClient::new(), DedupConfig::new());
/// let batch = BatchExecutor::new(&dedup, 16)?;
/// let requests = vec![Request::get(&server.url("/delay/50"))?; 40];
/// let result = batch.execute_batch(requests, BatchOptions::new());
/// assert_eq!(result.summary.succeeded, 40);
/// let stats = dedup.stats();
/// // 16 workers send at once, the server sees a handful of requests, each of 40 got its answer.
/// assert_eq!(stats.wire + stats.saved, 40);
/// assert_eq!(server.requests_for("/delay/50"), stats.wire);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DedupExecutor<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Clone for DedupExecutor<E> {
    /// Another handle on the same layer: the same flights, statistics and inner layer.
    fn clone(&self) -> Self {
        DedupExecutor {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for DedupExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupExecutor")
            .field("config", &self.shared.config)
            .field("in_flight", &self.shared.table.lock().len())
            .finish()
    }
}

impl<E: Execute + 'static> DedupExecutor<E> {
    /// The layer around `inner`.
    pub fn new(inner: E, config: DedupConfig) -> Self {
        DedupExecutor {
            shared: Arc::new(Shared {
                inner,
                config,
                table: Mutex::new(HashMap::new()),
                helpers: Helpers::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// The wrapped layer.
    pub fn get_ref(&self) -> &E {
        &self.shared.inner
    }

    /// The wrapped layer, if this is the only handle and no shared request is running.
    pub fn into_inner(self) -> Result<E, Self> {
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared.inner),
            Err(shared) => Err(DedupExecutor { shared }),
        }
    }

    /// The config.
    pub fn config(&self) -> &DedupConfig {
        &self.shared.config
    }

    /// Statistics since creation or the last reset.
    pub fn stats(&self) -> DedupStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DedupStats {
            requests: load(&c.requests),
            bypassed: load(&c.bypassed),
            wire: load(&c.wire),
            saved: load(&c.saved),
            left: load(&c.left),
            abandoned: load(&c.abandoned),
            in_flight: load(&c.in_flight),
        }
    }

    /// Zeroes the statistics (the in-flight gauge is a level and is left alone).
    pub fn reset_stats(&self) {
        let c = &self.shared.counters;
        for a in [
            &c.requests,
            &c.bypassed,
            &c.wire,
            &c.saved,
            &c.left,
            &c.abandoned,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Callers waiting now on the shared request for `request`'s key (0 if none is in flight or
    /// the request is not shared). For tests and diagnostics.
    pub fn waiters(&self, request: &Request) -> usize {
        let Some(key) = self.shared.config.key(request) else {
            return 0;
        };
        self.shared
            .table
            .lock()
            .get(&*key)
            .map_or(0, |f| f.waiters())
    }
}

impl<E: Execute + 'static> Execute for DedupExecutor<E> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        let s = &self.shared;
        s.counters.requests.fetch_add(1, Ordering::Relaxed);
        let Some(key) = s.config.key(&request) else {
            s.counters.bypassed.fetch_add(1, Ordering::Relaxed);
            return s.inner.execute(request, ctx);
        };
        let key: Arc<[u8]> = key.into();
        ctx.check()?;
        let tag = request.tag();
        let (flight, lead) = {
            let mut table = s.table.lock();
            match table.get(&*key) {
                Some(f) => {
                    f.join();
                    (f.clone(), false)
                }
                None => {
                    let f = Arc::new(Flight::new());
                    table.insert(key.clone(), f.clone());
                    (f, true)
                }
            }
        };
        if lead {
            s.counters.wire.fetch_add(1, Ordering::Relaxed);
            s.counters.in_flight.fetch_add(1, Ordering::Relaxed);
            let shared = self.shared.clone();
            let fctx = ctx.detached(flight.token.clone());
            let (f, k) = (flight.clone(), key.clone());
            s.helpers.run(Box::new(move || {
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| shared.inner.execute(request, &fctx)))
                        .unwrap_or_else(|p| {
                            Err(Error::new(
                                ErrorKind::Panicked,
                                format!("executor panicked: {}", panic_message(&*p)),
                            ))
                        });
                {
                    let mut table = shared.table.lock();
                    if table.get(&*k).is_some_and(|x| Arc::ptr_eq(x, &f)) {
                        table.remove(&*k);
                    }
                }
                shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                f.finish(outcome);
            }));
        } else {
            s.counters.saved.fetch_add(1, Ordering::Relaxed);
        }
        match flight.wait(&s.table, &key, tag, ctx) {
            Waited::Done(outcome) => outcome,
            Waited::Left { error, last } => {
                s.counters.left.fetch_add(1, Ordering::Relaxed);
                if last {
                    s.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                }
                Err(error)
            }
        }
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<DedupExecutor<crate::HttpClient>>();
}
