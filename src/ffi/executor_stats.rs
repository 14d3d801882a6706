//! The executor's statistics through the C ABI: `httpbatch_executor_stats` (with latency
//! percentiles) and the connection figures of its client.

use crate::agent::ConnectionStats;
use crate::batch::BatchStats;
use crate::error::ErrorKind;
use crate::stats::LatencySummary;

use super::base::{StructSize, guard_on, write_sized};
use super::executor::{HTTPBATCH_ERROR_CODES, httpbatch_executor, micros};
use super::httpbatch_result;

/// Latency percentiles in microseconds, from an HDR histogram.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct httpbatch_latency {
    /// Samples recorded.
    pub count: u64,
    /// Mean.
    pub mean_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl From<LatencySummary> for httpbatch_latency {
    fn from(l: LatencySummary) -> Self {
        httpbatch_latency {
            count: l.count,
            mean_us: micros(l.mean),
            p50_us: micros(l.p50),
            p90_us: micros(l.p90),
            p99_us: micros(l.p99),
            max_us: micros(l.max),
        }
    }
}

/// Executor-wide statistics since creation or the last `httpbatch_executor_reset_stats`. Set
/// `struct_size = sizeof(httpbatch_executor_stats)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_executor_stats {
    /// Set by the caller to `sizeof(httpbatch_executor_stats)`.
    pub struct_size: usize,
    /// Batches run.
    pub batches: u64,
    /// Requests submitted.
    pub requests: u64,
    /// Items settled.
    pub completed: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [u64; 5],
    /// Errors by kind, indexed by the kind's code (`errors[HTTPBATCH_RESULT_TIMEOUT]`); index 0
    /// and codes without a kind stay 0.
    pub errors: [u64; HTTPBATCH_ERROR_CODES],
    /// All errors (cancelled and not run are counted apart).
    pub errors_total: u64,
    /// Cancelled items.
    pub cancelled: u64,
    /// Items not run.
    pub not_run: u64,
    /// Latency of the requests that ran.
    pub latency: httpbatch_latency,
    /// Items settled per second since creation or reset.
    pub throughput: f64,
    /// Microseconds since creation or reset.
    pub elapsed_us: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_executor_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_executor_stats>()];
}

impl From<BatchStats> for httpbatch_executor_stats {
    fn from(s: BatchStats) -> Self {
        let mut errors = [0; HTTPBATCH_ERROR_CODES];
        for &kind in ErrorKind::all() {
            if let Some(slot) = errors.get_mut(kind as usize) {
                *slot = s.errors_of(kind);
            }
        }
        httpbatch_executor_stats {
            struct_size: std::mem::size_of::<Self>(),
            batches: s.batches,
            requests: s.requests,
            completed: s.completed,
            in_flight: s.in_flight,
            status_classes: s.status_classes,
            errors,
            errors_total: s.total_errors(),
            cancelled: s.cancelled,
            not_run: s.not_run,
            latency: s.latency.into(),
            throughput: s.throughput,
            elapsed_us: micros(s.elapsed),
        }
    }
}

/// Writes the executor's statistics into `*stats_out`, whose `struct_size` the caller has set
/// (an unknown size fails with `HTTPBATCH_RESULT_BAD_STRUCT_SIZE` and writes nothing). Safe while
/// batches run on other threads.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_stats_get(
    executor: *const httpbatch_executor,
    stats_out: *mut httpbatch_executor_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        let s = httpbatch_executor_stats::from(exec.stack.executor().stats());
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s, "stats_out") }
    })
}

/// Zeroes the executor's statistics (the in-flight gauge is a level and is kept).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_reset_stats(
    executor: *const httpbatch_executor,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        exec.stack.executor().reset_stats();
        Ok(())
    })
}

/// Connection figures counted at the socket: never estimated. Set `struct_size` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_connection_stats {
    /// Set by the caller to `sizeof(httpbatch_connection_stats)`.
    pub struct_size: usize,
    /// Sockets opened.
    pub opened: u64,
    /// Sockets closed.
    pub closed: u64,
    /// Sockets open now (`opened - closed`).
    pub live: u64,
    /// Requests sent (attempts that reached a connection).
    pub requests: u64,
    /// Requests served on an already open connection (`requests - opened`).
    pub reused: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_connection_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_connection_stats>()];
}

impl From<ConnectionStats> for httpbatch_connection_stats {
    fn from(c: ConnectionStats) -> Self {
        httpbatch_connection_stats {
            struct_size: std::mem::size_of::<Self>(),
            opened: c.opened,
            closed: c.closed,
            live: c.live,
            requests: c.requests,
            reused: c.reused,
        }
    }
}

/// Writes the connection figures of the executor's HTTP client, summed over every origin, into
/// `*stats_out` (set its `struct_size` first). Safe while batches run on other threads.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_connection_stats(
    executor: *const httpbatch_executor,
    stats_out: *mut httpbatch_connection_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        let s = httpbatch_connection_stats::from(exec.stack.client().connection_stats());
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s, "stats_out") }
    })
}
