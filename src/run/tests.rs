//! Property tests of the engine over its whole option space: whatever the options, no panic and
//! every input settles exactly once.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::error::extremes::{duration, size};
use crate::{BatchExecutor, BatchOptions, Context, Error, Execute, Request, Response};

/// Answers after a millisecond (cancel- and deadline-aware), so runs overlap.
struct Quick;

impl Execute for Quick {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.wait_until(Instant::now() + Duration::from_millis(1))?;
        Ok(Response::new(200, Vec::new()).with_tag(req.tag()))
    }
}

/// Answers at once; a 500 for tags that are 5 modulo 97.
struct AtOnce;

impl Execute for AtOnce {
    fn execute(&self, req: Request, _: &Context) -> Result<Response, Error> {
        let status = if req.tag() % 97 == 5 { 500 } else { 200 };
        Ok(Response::new(status, Vec::new()).with_tag(req.tag()))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_options_settle_every_input_once(
        concurrency in size(),
        ahead in size(),
        chunk in size(),
        pause_ms in 0u64..3,
        timeout in duration(),
        request_timeout in duration(),
        fail_fast in any::<bool>(),
    ) {
        let ex = BatchExecutor::new(Quick, 4).unwrap();
        let options = BatchOptions::new()
            .concurrency(concurrency)
            .queue_ahead(ahead)
            .chunks(chunk, Duration::from_millis(pause_ms))
            .batch_timeout(timeout)
            .request_timeout(request_timeout)
            .fail_fast(fail_fast)
            .fail_fast_on_status(|s| s >= 500)
            // Bounds every case, whatever the timeout drawn above.
            .deadline(Instant::now() + Duration::from_secs(5));
        let mut seen = vec![0u8; 40];
        let summary = ex.execute_streaming(
            (0..40).map(|i| Request::builder(crate::Method::Get, "http://127.0.0.1/").tag(i).build()),
            options,
            |i, _| seen[i] += 1,
        );
        prop_assert_eq!(summary.total, 40);
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
    }

    /// `execute_batch` lets outcomes pile up before it wakes: with no deadline or timer to wake
    /// it, every run must still end, each input with its own outcome, over refills of a lazy
    /// input of unknown length, chunks and fail-fast.
    #[test]
    fn a_batch_that_settles_in_slices_ends_with_every_outcome(
        concurrency in 1usize..40,
        ahead in 0usize..300,
        chunk in 1usize..3000,
        fail_fast in any::<bool>(),
        n in 0usize..3000,
    ) {
        let ex = BatchExecutor::new(AtOnce, 8).unwrap();
        let options = BatchOptions::new()
            .concurrency(concurrency)
            .queue_ahead(ahead)
            .chunks(chunk, Duration::ZERO)
            .fail_fast(fail_fast)
            .fail_fast_on_status(|s| s >= 500);
        // A filter hides the input's length, as a producer's would.
        let input = (0..n as u64)
            .filter(|_| true)
            .map(|i| Request::builder(crate::Method::Get, "http://127.0.0.1/").tag(i).build());
        let r = ex.execute_batch(input, options);
        prop_assert_eq!(r.outcomes.len(), n);
        prop_assert_eq!(r.summary.total, n);
        for (i, o) in r.outcomes.iter().enumerate() {
            if let Some(res) = o.response() {
                prop_assert_eq!(res.tag(), i as u64);
            } else {
                prop_assert!(fail_fast, "item {} did not run: {:?}", i, o);
            }
        }
        if !fail_fast {
            prop_assert_eq!(r.summary.responses, n);
        }
    }
}
