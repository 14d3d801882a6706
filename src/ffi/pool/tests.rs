//! The pool's C setters at their extremes map like the Rust options: `SIZE_MAX` and `UINT64_MAX`
//! are "no limit", NaN and infinite factors are `HTTPBATCH_RESULT_INVALID_CONFIG`, never a panic
//! (`HTTPBATCH_RESULT_PANIC`).

use std::ptr;

use proptest::prelude::*;

use super::builder::*;
use super::health::*;
use super::retry_policy::*;
use super::warmup::*;
use super::*;
use crate::error::extremes::float;
use crate::ffi::httpbatch_result as R;

fn closed_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

fn policy() -> *mut httpbatch_retry_policy {
    let mut p = ptr::null_mut();
    assert_eq!(httpbatch_retry_policy_new(&mut p), R::Ok);
    p
}

#[test]
fn retry_policy_extremes() {
    let p = policy();
    assert_eq!(httpbatch_retry_policy_set_max_attempts(p, u32::MAX), R::Ok);
    assert_eq!(
        httpbatch_retry_policy_set_max_attempts(p, 0),
        R::InvalidConfig
    );
    assert_eq!(
        httpbatch_retry_policy_set_backoff(p, u64::MAX, u64::MAX, f64::MAX),
        R::Ok
    );
    assert_eq!(httpbatch_retry_policy_set_backoff(p, 0, 0, 1.0), R::Ok);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5] {
        assert_eq!(
            httpbatch_retry_policy_set_backoff(p, 1, 2, bad),
            R::InvalidConfig
        );
    }
    assert_eq!(
        httpbatch_retry_policy_set_backoff(p, u64::MAX, 1, 2.0),
        R::InvalidConfig
    );
    assert_eq!(
        httpbatch_retry_policy_set_retry_after(p, true, u64::MAX),
        R::Ok
    );
    assert_eq!(httpbatch_retry_policy_set_retry_after(p, true, 0), R::Ok);
    assert_eq!(httpbatch_retry_policy_set_budget(p, 1000.0, 1e9), R::Ok);
    assert_eq!(
        httpbatch_retry_policy_set_budget(p, f64::NEG_INFINITY, 0.0),
        R::Ok
    );
    for (ratio, min) in [
        (f64::NAN, 0.0),
        (f64::INFINITY, 0.0),
        (0.1, f64::NAN),
        (0.1, -1.0),
    ] {
        assert_eq!(
            httpbatch_retry_policy_set_budget(p, ratio, min),
            R::InvalidConfig
        );
    }
    httpbatch_retry_policy_free(p);
}

#[test]
fn pool_extremes_are_no_limit_or_invalid_config() {
    let mut b = ptr::null_mut();
    assert_eq!(httpbatch_pool_builder_new(&mut b), R::Ok);
    assert_eq!(
        httpbatch_pool_builder_set_max_in_flight_per_host(b, 0),
        R::InvalidConfig
    );
    assert_eq!(
        httpbatch_pool_builder_set_max_in_flight_per_host(b, usize::MAX),
        R::Ok
    );
    assert_eq!(
        httpbatch_pool_builder_set_timeout_ms(b, 0),
        R::InvalidConfig
    );
    assert_eq!(httpbatch_pool_builder_set_timeout_ms(b, u64::MAX), R::Ok);
    assert_eq!(
        httpbatch_pool_builder_set_connect_timeout_ms(b, u64::MAX),
        R::Ok
    );
    assert_eq!(httpbatch_pool_builder_set_max_body_size(b, u64::MAX), R::Ok);
    assert_eq!(
        httpbatch_pool_builder_set_health_check(b, u64::MAX, u32::MAX, u32::MAX),
        R::Ok
    );
    assert_eq!(
        httpbatch_pool_builder_set_health_check(b, 1, 0, 1),
        R::InvalidConfig
    );
    let p = policy();
    assert_eq!(
        httpbatch_retry_policy_set_backoff(p, u64::MAX, u64::MAX, f64::MAX),
        R::Ok
    );
    assert_eq!(httpbatch_pool_builder_set_retry_policy(b, p), R::Ok);
    let slash = c"/".as_ptr();
    assert_eq!(
        httpbatch_pool_builder_set_warmup(b, slash, 1, 0),
        R::InvalidConfig
    );
    assert_eq!(
        httpbatch_pool_builder_set_warmup(b, slash, 1, u64::MAX),
        R::Ok
    );
    let mut pool = ptr::null_mut();
    assert_eq!(httpbatch_pool_builder_build(b, &mut pool), R::Ok);
    assert_eq!(httpbatch_pool_set_retry_policy(pool, p), R::Ok);
    httpbatch_retry_policy_free(p);

    // usize::MAX connections on a pool without an in-flight cap: bounded, not a panic.
    let host = closed_port();
    let mut report = ptr::null_mut();
    assert_eq!(
        httpbatch_pool_warmup(
            pool,
            host.as_ptr().cast(),
            host.len(),
            usize::MAX,
            &mut report
        ),
        R::Ok
    );
    // SAFETY: a zeroed struct of plain numbers and NULL pointers, its size set below.
    let mut h: httpbatch_host_warmup = unsafe { std::mem::zeroed() };
    h.struct_size = std::mem::size_of::<httpbatch_host_warmup>();
    assert_eq!(httpbatch_warmup_report_host(report, 0, &mut h), R::Ok);
    assert_eq!((h.requested, h.attempted), (u64::MAX, 4096));
    assert_eq!((h.ok, h.failed), (0, 4096));
    httpbatch_warmup_report_free(report);

    let health = |interval_ms| {
        httpbatch_pool_enable_health_check(
            pool,
            host.as_ptr().cast(),
            host.len(),
            interval_ms,
            slash,
            1,
        )
    };
    assert_eq!(health(0), R::InvalidConfig);
    assert_eq!(health(u64::MAX), R::Ok);
    assert_eq!(httpbatch_pool_disable_health_check(pool), R::Ok);
    httpbatch_pool_free(pool);
}

proptest! {
    /// Any backoff numbers through the C setter: `OK` or `INVALID_CONFIG`, never `PANIC`.
    #[test]
    fn any_backoff_is_ok_or_invalid_config(
        base in any::<u64>(),
        max in any::<u64>(),
        multiplier in float(),
        cap in any::<u64>(),
        ratio in float(),
        min in float(),
    ) {
        let p = policy();
        for rc in [
            httpbatch_retry_policy_set_backoff(p, base, max, multiplier),
            httpbatch_retry_policy_set_retry_after(p, true, cap),
            httpbatch_retry_policy_set_budget(p, ratio, min),
        ] {
            prop_assert!(matches!(rc, R::Ok | R::InvalidConfig), "{rc:?}");
        }
        httpbatch_retry_policy_free(p);
    }
}
