//! Test helpers for the extreme-values rule: every option accepts `Duration::MAX`, zero,
//! `usize::MAX`, NaN and infinity as "no limit" or a typed [`ErrorKind::InvalidConfig`], never a
//! panic. The strategies weigh the extremes heavily, so property tests hit them every run.

use std::time::Duration;

use proptest::prelude::*;

use super::{Error, ErrorKind};

/// Durations with the extremes well represented: zero, one nanosecond, `Duration::MAX`.
pub(crate) fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX)),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..100_000).prop_map(Duration::from_millis),
    ]
}

/// Floats with the extremes well represented: NaN, ±infinity, ±0, subnormals, huge.
pub(crate) fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 2.0),
        Just(f64::MAX),
        any::<f64>(),
        0.0f64..16.0,
    ]
}

/// Sizes with the extremes well represented: 0, 1, `usize::MAX`.
pub(crate) fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1usize),
        Just(usize::MAX),
        Just(usize::MAX / 2 + 1),
        any::<usize>(),
        0usize..100,
    ]
}

/// `u32`s with the extremes well represented.
pub(crate) fn count32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1u32),
        Just(u32::MAX),
        any::<u32>(),
        0u32..100
    ]
}

/// `Ok`, or an error of kind `InvalidConfig`: what every option setter may return.
pub(crate) fn ok_or_invalid_config<T>(r: &Result<T, Error>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{}", e);
    }
    Ok(())
}
