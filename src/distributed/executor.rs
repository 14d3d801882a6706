//! [`RedisRateLimitedExecutor`]: the layer that registers a [`RedisRateLimiter`] on the
//! context, as [`RateLimitedExecutor`](crate::RateLimitedExecutor) does with a local one.

use std::sync::Arc;

use super::limiter::RedisRateLimiter;
use crate::error::Error;
use crate::execute::{Admission, Context, Execute};
use crate::request::Request;
use crate::response::Response;

/// A layer that makes every request written to the wire below it pass a [`RedisRateLimiter`]:
/// like [`RateLimitedExecutor`](crate::RateLimitedExecutor), it registers the limiter on the
/// context it hands down, and the leaf admits each write (retries and redirect hops included).
pub struct RedisRateLimitedExecutor<E> {
    inner: E,
    limiter: RedisRateLimiter,
}

impl<E: Execute> RedisRateLimitedExecutor<E> {
    /// Wraps `inner`.
    pub fn new(inner: E, limiter: RedisRateLimiter) -> Self {
        RedisRateLimitedExecutor { inner, limiter }
    }

    /// The limiter (a handle: keep a clone to change the rate).
    pub fn limiter(&self) -> &RedisRateLimiter {
        &self.limiter
    }

    /// The inner executor.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// Unwraps the inner executor.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

impl<E: Execute> Execute for RedisRateLimitedExecutor<E> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        let admission: Arc<dyn Admission> = Arc::new(self.limiter.clone());
        self.inner.execute(request, &ctx.with_admission(admission))
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RedisRateLimitedExecutor<Box<dyn Execute>>>();
}
