//! The dedup option of `httpbatch_executor_builder` and the executor's dedup statistics.

use crate::dedup::{DedupConfig, DedupStats};

use super::base::{StructSize, guard_on, guard_on_mut, write_sized};
use super::executor::{httpbatch_executor, httpbatch_executor_builder};
use super::httpbatch_result;

/// Puts the dedup layer on top of the executor's stack when `enabled`: identical requests in
/// flight at the same time — in one batch, or in batches running at once on other threads —
/// share one wire request, and each still gets its own result item (same status, headers and
/// body). Identical means the same method, URL, headers and body; only GET, HEAD and OPTIONS
/// are shared unless `unsafe_methods` is true. A request whose batch is cancelled leaves the
/// shared request running for the others. Off by default.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_dedup(
    builder: *mut httpbatch_executor_builder,
    enabled: bool,
    unsafe_methods: bool,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.dedup = enabled.then(|| DedupConfig::new().unsafe_methods(unsafe_methods));
        Ok(())
    })
}

/// Statistics of the dedup layer (see `httpbatch_executor_dedup_stats`). Set `struct_size` to
/// `sizeof(httpbatch_dedup_stats)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct httpbatch_dedup_stats {
    /// `sizeof(httpbatch_dedup_stats)`, set by the caller.
    pub struct_size: usize,
    /// Requests the layer was given.
    pub requests: u64,
    /// Requests not shared (unsafe methods), sent on their own.
    pub bypassed: u64,
    /// Shared requests sent: one per distinct request in flight.
    pub wire: u64,
    /// Requests that joined one already in flight: wire requests saved.
    pub saved: u64,
    /// Waiters that left before the outcome (their batch was cancelled or timed out).
    pub left: u64,
    /// Shared requests cancelled because every waiter had left.
    pub abandoned: u64,
    /// Shared requests in flight now.
    pub in_flight: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_dedup_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_dedup_stats>()];
}

impl From<DedupStats> for httpbatch_dedup_stats {
    fn from(s: DedupStats) -> Self {
        httpbatch_dedup_stats {
            struct_size: std::mem::size_of::<Self>(),
            requests: s.requests,
            bypassed: s.bypassed,
            wire: s.wire,
            saved: s.saved,
            left: s.left,
            abandoned: s.abandoned,
            in_flight: s.in_flight,
        }
    }
}

/// Writes the dedup layer's statistics into `*stats_out` (all zero when dedup is off). Safe
/// while batches run on other threads.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_dedup_stats(
    executor: *const httpbatch_executor,
    stats_out: *mut httpbatch_dedup_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        let s = exec.dedup_stats().unwrap_or_default();
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s.into(), "stats_out") }
    })
}
