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
}
