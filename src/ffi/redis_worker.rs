//! `httpbatch_redis_worker` (feature `redis`): the worker loop of a work list shared through
//! Redis Streams (redis_list.rs), from C: it runs the list's requests through an executor's
//! stack. Payloads and outcomes are the formats of `httpbatch submit` and `collect`
//! (`distributed::request_from_payload`, `outcome_line`), so C workers and CLI workers serve
//! one list together.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::distributed::{WorkList, Worker, WorkerSummary};
use crate::distributed::{outcome_line, request_from_payload};
use crate::error::{Error, ErrorKind};
use crate::execute::CancelToken;
use crate::run::BatchOptions;

use super::base::{
    Fail, HasLastError, LastError, StructSize, free_raw, guard, guard_on, guard_on_mut, guard_or,
    into_raw, last_error_into, try_out, try_ref, try_str, write_sized,
};
use super::executor::httpbatch_executor;
use super::httpbatch_result;

fn config(message: impl Into<String>) -> Fail {
    Error::new(ErrorKind::InvalidConfig, message).into()
}

/// A worker of a work list (opaque): `httpbatch_redis_worker_run` reads the list's requests
/// through its consumer group under the worker's name, runs them through an executor and
/// records one outcome per request id. `_run`, `_stop` and `_cancel` may be called from any
/// thread; the setters only before `_run`.
pub struct httpbatch_redis_worker {
    list: WorkList,
    name: String,
    visibility: Duration,
    max_deliveries: u64,
    read_batch: usize,
    exit_when_complete: bool,
    stop: CancelToken,
    cancel: CancelToken,
    running: AtomicBool,
    last_error: LastError,
}

impl HasLastError for httpbatch_redis_worker {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Creates a worker of the list `list` (`list_len` bytes) on the Redis at `url` (`url_len`
/// bytes) named `name` (`name_len` bytes, not empty; unique among the list's workers: it names
/// the consumer, and a worker restarted under the same name takes back what it left pending).
/// Defaults: a visibility timeout of 30 s, 5 deliveries before dead-lettering, 16 entries read
/// per round trip, running until stopped.
///
/// Ownership: the caller frees the worker with `httpbatch_redis_worker_free`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn httpbatch_redis_worker_new(
    url: *const c_char,
    url_len: usize,
    list: *const c_char,
    list_len: usize,
    name: *const c_char,
    name_len: usize,
    worker_out: *mut *mut httpbatch_redis_worker,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `worker_out` is NULL or writable, per the header.
        let out = unsafe { try_out(worker_out, "worker_out") }?;
        out.write(std::ptr::null_mut());
        // SAFETY: the strings are NULL or valid for their lengths, per the header.
        let (url, list, name) = unsafe {
            (
                try_str(url, url_len, "url")?,
                try_str(list, list_len, "list")?,
                try_str(name, name_len, "name")?,
            )
        };
        if name.is_empty() {
            return Err(config("a worker needs a name"));
        }
        out.write(into_raw(httpbatch_redis_worker {
            list: WorkList::open(url, list)?,
            name: name.to_owned(),
            visibility: Duration::from_secs(30),
            max_deliveries: 5,
            read_batch: 16,
            exit_when_complete: false,
            stop: CancelToken::new(),
            cancel: CancelToken::new(),
            running: AtomicBool::new(false),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Sets how long another worker's entry may stay unacknowledged before this worker claims it, in
/// milliseconds (above 0). Defaults to 30000.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_set_visibility_timeout_ms(
    worker: *mut httpbatch_redis_worker,
    ms: u64,
) -> httpbatch_result {
    guard_on_mut(worker, "worker", |w| {
        if ms == 0 {
            return Err(config("the visibility timeout must be above 0 ms"));
        }
        w.visibility = Duration::from_millis(ms);
        Ok(())
    })
}

/// Sets the deliveries after which an entry without an outcome is dead-lettered (at least 1).
/// Defaults to 5.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_set_max_deliveries(
    worker: *mut httpbatch_redis_worker,
    deliveries: u64,
) -> httpbatch_result {
    guard_on_mut(worker, "worker", |w| {
        if deliveries == 0 {
            return Err(config("max deliveries must be at least 1"));
        }
        w.max_deliveries = deliveries;
        Ok(())
    })
}

/// Sets the entries read per round trip and held ahead of the executor (1 to 65536; the
/// executor's worker count is a good value). Defaults to 16. Out-of-range values (here and in
/// the other setters) fail with `HTTPBATCH_RESULT_INVALID_CONFIG`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_set_read_batch(
    worker: *mut httpbatch_redis_worker,
    entries: usize,
) -> httpbatch_result {
    guard_on_mut(worker, "worker", |w| {
        if entries == 0 || entries > 65536 {
            return Err(config(format!(
                "the read batch must be in 1..=65536, got {entries}"
            )));
        }
        w.read_batch = entries;
        Ok(())
    })
}

/// With `yes`, `_run` returns once every request submitted to the list has an outcome. Defaults
/// to false (run until `_stop` or `_cancel`).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_set_exit_when_complete(
    worker: *mut httpbatch_redis_worker,
    yes: bool,
) -> httpbatch_result {
    guard_on_mut(worker, "worker", |w| {
        w.exit_when_complete = yes;
        Ok(())
    })
}

/// What one `httpbatch_redis_worker_run` did. Set `struct_size` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_redis_worker_summary {
    /// Set by the caller to `sizeof(httpbatch_redis_worker_summary)`.
    pub struct_size: usize,
    /// Entries handed to the executor.
    pub started: u64,
    /// Outcomes this worker recorded first.
    pub recorded: u64,
    /// Outcomes that found one already recorded (a duplicate delivery).
    pub duplicates: u64,
    /// Entries acknowledged without running: their id already had an outcome.
    pub skipped: u64,
    /// Entries claimed from other workers after the visibility timeout.
    pub reclaimed: u64,
    /// Entries dead-lettered by this worker.
    pub dead: u64,
    /// Entries left pending (cancelled or not run) for another worker.
    pub released: u64,
    /// Redis calls that failed (each retried).
    pub redis_errors: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_redis_worker_summary {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_redis_worker_summary>()];
}

impl From<WorkerSummary> for httpbatch_redis_worker_summary {
    fn from(s: WorkerSummary) -> Self {
        httpbatch_redis_worker_summary {
            struct_size: std::mem::size_of::<Self>(),
            started: s.started,
            recorded: s.recorded,
            duplicates: s.duplicates,
            skipped: s.skipped,
            reclaimed: s.reclaimed,
            dead: s.dead,
            released: s.released,
            redis_errors: s.redis_errors,
        }
    }
}

/// Runs the worker loop on this thread through `executor`'s stack (its limiters, the shared one
/// included, its pool and retries): reads entries, runs each payload (a URL or a JSON request
/// spec) and records its outcome (a JSON object: `id`, `index`, `outcome`, `status`, `error`,
/// `attempts`, `bytes`, `worker`), until `httpbatch_redis_worker_stop` or `_cancel` is called
/// from another thread (or, with `_set_exit_when_complete`, the list is done). Redis errors
/// never end the loop: it retries with backoff. Writes what it did to `*summary_out` (may be
/// NULL; set its `struct_size` first).
///
/// A worker runs one loop at a time (`HTTPBATCH_RESULT_INVALID_ARGUMENT` otherwise), and a
/// stopped worker stays stopped: make a new one (with the same name, to take back what it left
/// pending) to run again. To stop on SIGTERM, call `_stop` from a thread that waits for the
/// signal (`sigwait`), not from a signal handler.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_run(
    worker: *const httpbatch_redis_worker,
    executor: *const httpbatch_executor,
    summary_out: *mut httpbatch_redis_worker_summary,
) -> httpbatch_result {
    guard_on(worker, "worker", |w| {
        // SAFETY: `executor` is NULL or live, per the header.
        let exec = unsafe { try_ref(executor, "executor") }?;
        if !summary_out.is_null() {
            // Check the size before running, not after.
            let probe = httpbatch_redis_worker_summary::from(WorkerSummary::default());
            // SAFETY: `summary_out` is non-NULL and valid for its `struct_size`, per the header.
            unsafe { write_sized(summary_out, probe, "summary_out") }?;
        }
        if w.running.swap(true, Ordering::AcqRel) {
            return Err(Fail::invalid("this worker is already running"));
        }
        let summary = Worker::new(&w.list, w.name.clone())
            .visibility_timeout(w.visibility)
            .max_deliveries(w.max_deliveries)
            .read_batch(w.read_batch)
            .exit_when_complete(w.exit_when_complete)
            .stop_on(w.stop.clone())
            .cancel_on(w.cancel.clone())
            .run(
                exec.stack.executor(),
                BatchOptions::new(),
                |e| request_from_payload(&e.payload),
                |e, outcome| outcome_line(e, outcome, &w.name),
            );
        w.running.store(false, Ordering::Release);
        if !summary_out.is_null() {
            let s = httpbatch_redis_worker_summary::from(summary);
            // SAFETY: as above.
            unsafe { write_sized(summary_out, s, "summary_out") }?;
        }
        Ok(())
    })
}

/// Stops the worker gracefully: it reads no more entries; those it has read finish and are
/// recorded, then `_run` returns. Thread-safe; idempotent; may come before `_run`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_stop(
    worker: *const httpbatch_redis_worker,
) -> httpbatch_result {
    guard_on(worker, "worker", |w| {
        w.stop.cancel();
        Ok(())
    })
}

/// Stops the worker at once: requests in flight are cancelled and left pending for another
/// worker (claimed after the visibility timeout), then `_run` returns. Thread-safe; idempotent.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_cancel(
    worker: *const httpbatch_redis_worker,
) -> httpbatch_result {
    guard_on(worker, "worker", |w| {
        w.stop.cancel();
        w.cancel.cancel();
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `worker`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_last_error(
    worker: *const httpbatch_redis_worker,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(worker, buf, buf_len, len_out)
}

/// Frees the worker (NULL is ignored). Its `_run` must have returned; no other thread may be
/// using it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_worker_free(worker: *mut httpbatch_redis_worker) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_redis_worker_new`, freed once.
        unsafe { free_raw(worker) }
    })
}

#[cfg(test)]
mod tests {
    //! The setters at their extremes and the argument checks (no Redis needed: nothing here
    //! connects); tests against a real redis-server are in ffi-tests/c/test_redis.c.

    use super::super::redis_list::*;
    use super::*;
    use httpbatch_result as R;

    fn worker(name: &str) -> (R, *mut httpbatch_redis_worker) {
        let (url, list) = ("redis://127.0.0.1:1/0", "l");
        let mut w = std::ptr::null_mut();
        let rc = httpbatch_redis_worker_new(
            url.as_ptr().cast(),
            url.len(),
            list.as_ptr().cast(),
            list.len(),
            name.as_ptr().cast(),
            name.len(),
            &mut w,
        );
        (rc, w)
    }

    #[test]
    fn extremes_and_bad_arguments() {
        assert_eq!(worker(""), (R::InvalidConfig, std::ptr::null_mut()));
        let (rc, w) = worker("w");
        assert_eq!(rc, R::Ok);
        for (rc, want) in [
            (
                httpbatch_redis_worker_set_visibility_timeout_ms(w, 0),
                R::InvalidConfig,
            ),
            (
                httpbatch_redis_worker_set_visibility_timeout_ms(w, u64::MAX),
                R::Ok,
            ),
            (
                httpbatch_redis_worker_set_max_deliveries(w, 0),
                R::InvalidConfig,
            ),
            (
                httpbatch_redis_worker_set_max_deliveries(w, u64::MAX),
                R::Ok,
            ),
            (
                httpbatch_redis_worker_set_read_batch(w, 0),
                R::InvalidConfig,
            ),
            (
                httpbatch_redis_worker_set_read_batch(w, usize::MAX),
                R::InvalidConfig,
            ),
            (httpbatch_redis_worker_set_read_batch(w, 65536), R::Ok),
            (
                httpbatch_redis_worker_set_exit_when_complete(w, true),
                R::Ok,
            ),
            (
                httpbatch_redis_worker_run(w, std::ptr::null(), std::ptr::null_mut()),
                R::NullArgument,
            ),
            (
                httpbatch_redis_worker_stop(std::ptr::null()),
                R::NullArgument,
            ),
            (httpbatch_redis_worker_cancel(w), R::Ok),
        ] {
            assert_eq!(rc, want);
        }
        httpbatch_redis_worker_free(w);
        let mut l = std::ptr::null_mut();
        let url = "redis://127.0.0.1:1/0";
        assert_eq!(
            httpbatch_redis_list_new(url.as_ptr().cast(), url.len(), std::ptr::null(), 0, &mut l),
            R::InvalidConfig
        );
        let name = "l";
        assert_eq!(
            httpbatch_redis_list_new(
                url.as_ptr().cast(),
                url.len(),
                name.as_ptr().cast(),
                1,
                &mut l
            ),
            R::Ok
        );
        // NULL arrays with n > 0.
        let rc = httpbatch_redis_list_submit(
            l,
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            1,
            std::ptr::null_mut(),
        );
        assert_eq!(rc, R::NullArgument);
        httpbatch_redis_list_free(l);
    }
}
