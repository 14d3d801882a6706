//! `httpbatch_pool_builder_set_on_health_change`: the pool's health-change callback for C.

use std::ffi::{c_char, c_void};

use crate::pool::{ConnectionPool, HealthState};

use crate::ffi::base::guard_on_mut;
use crate::ffi::httpbatch_result;

use super::builder::httpbatch_pool_builder;
use super::health::httpbatch_health_state;

/// A health-change callback: `origin` (`origin_len` bytes, not NUL-terminated, valid only during
/// the call) went from `old_state` to `new_state`. `user` is the pointer given to
/// `httpbatch_pool_builder_set_on_health_change`.
///
/// It runs on the pool's health-check thread, not on a thread of the caller's: it must be safe
/// to call from another thread, keep short, not unwind, and not call
/// `httpbatch_pool_enable_health_check` or free the pool.
pub type httpbatch_health_change_fn = Option<
    unsafe extern "C" fn(
        origin: *const c_char,
        origin_len: usize,
        old_state: httpbatch_health_state,
        new_state: httpbatch_health_state,
        user: *mut c_void,
    ),
>;

/// The C callback and its pointer, called from the health thread: the caller promised both are
/// safe to use from it.
struct Callback {
    f: unsafe extern "C" fn(
        *const c_char,
        usize,
        httpbatch_health_state,
        httpbatch_health_state,
        *mut c_void,
    ),
    user: *mut c_void,
}

impl Callback {
    fn call(&self, origin: &str, old: HealthState, new: HealthState) {
        // SAFETY: the caller's callback and `user`, usable from this thread per the header;
        // `origin` lives for the call.
        unsafe {
            (self.f)(
                origin.as_ptr().cast(),
                origin.len(),
                state_to_c(old),
                state_to_c(new),
                self.user,
            )
        }
    }
}

// SAFETY: the header requires the callback and `user` to be usable from the health thread.
unsafe impl Send for Callback {}
// SAFETY: as above; the callback is only called, never mutated.
unsafe impl Sync for Callback {}

fn state_to_c(s: HealthState) -> httpbatch_health_state {
    match s {
        HealthState::Healthy => httpbatch_health_state::Healthy,
        HealthState::Unhealthy => httpbatch_health_state::Unhealthy,
        HealthState::HalfOpen => httpbatch_health_state::HalfOpen,
    }
}

/// Calls `callback` on every health state change of a host (needs health checks: see
/// `httpbatch_pool_builder_set_health_check` or `httpbatch_pool_enable_health_check`). NULL
/// removes the callback. `user` is passed through untouched and must stay valid, and usable from
/// the health thread, until the pool and every executor built with it are freed.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_on_health_change(
    builder: *mut httpbatch_pool_builder,
    callback: httpbatch_health_change_fn,
    user: *mut c_void,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        let pool = std::mem::replace(&mut b.builder, ConnectionPool::builder());
        b.builder = match callback {
            None => pool.on_health_change(|_, _, _| {}),
            Some(f) => {
                let cb = Callback { f, user };
                pool.on_health_change(move |origin, old, new| cb.call(origin, old, new))
            }
        };
        Ok(())
    })
}
