//! [`Rate`]: a count per interval, validated and parsed from text such as `"5000/h"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The longest interval per token a [`Rate`] may have. Longer intervals are almost certainly a
/// typo, and capping them keeps every bucket computation inside `u64` nanoseconds.
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A rate: `count` events per `per` interval, for instance 100 per second, 5000 per hour or
/// 0.5 per second.
///
/// The count may be fractional and the interval anything from a nanosecond up. A limiter spaces
/// admissions by [`interval`](Rate::interval) (`per / count`), rounded *up* to a whole nanosecond
/// so that it never admits faster than asked.
///
/// Two rates compare equal only when both count and interval are equal: `600/min` and `10/s`
/// are the same speed but different values.
///
/// ```
/// use httpbatch::Rate;
/// use std::time::Duration;
///
/// let r: Rate = "5000/h".parse().unwrap();
/// assert_eq!(r.interval(), Duration::from_millis(720));
/// assert_eq!(r.to_string(), "5000/h");
///
/// assert_eq!(Rate::parse("0.5/s").unwrap().interval(), Duration::from_secs(2));
/// assert_eq!(Rate::parse("10/100ms").unwrap().as_per_second(), 100.0);
/// assert_eq!(Rate::parse("100").unwrap(), Rate::per_second(100.0).unwrap());
///
/// let err = Rate::parse("0/s").unwrap_err();
/// assert_eq!(err.kind(), httpbatch::ErrorKind::InvalidConfig);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    count: f64,
    per: Duration,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, msg)
}

impl Rate {
    /// `count` events per `per`.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] if `count` is zero, negative, NaN or infinite, if
    /// `per` is zero, or if one event takes longer than a year.
    pub fn new(count: f64, per: Duration) -> Result<Rate, Error> {
        if !count.is_finite() || count <= 0.0 {
            return Err(invalid(format!(
                "rate count must be a finite number above zero, got {count}"
            )));
        }
        if per.is_zero() {
            return Err(invalid("rate interval must be above zero"));
        }
        let rate = Rate { count, per };
        if rate.interval_secs_f64() > MAX_INTERVAL.as_secs_f64() {
            return Err(invalid(format!(
                "rate {rate} is slower than one per year; that is almost certainly a mistake"
            )));
        }
        Ok(rate)
    }

    /// `count` events per second. Same validation as [`Rate::new`].
    pub fn per_second(count: f64) -> Result<Rate, Error> {
        Rate::new(count, Duration::from_secs(1))
    }

    /// Parses `"COUNT"` (per second) or `"COUNT/[N]UNIT"`, where `UNIT` is one of `ns`, `us`
    /// (or `µs`), `ms`, `s`, `min` (or `m`), `h`, `d`, and the long forms `sec`, `second(s)`,
    /// `minute(s)`, `hour(s)`, `day(s)`. Examples: `"100/s"`, `"5000/h"`, `"0.5/s"`,
    /// `"30/min"`, `"10/100ms"`, `"2/5s"`, `"100"`. Whitespace around the parts is allowed.
    ///
    /// Any malformed or out-of-range text is an [`ErrorKind::InvalidConfig`] error that quotes
    /// the input.
    pub fn parse(text: &str) -> Result<Rate, Error> {
        let bad = |why: &str| invalid(format!("invalid rate {text:?}: {why}"));
        let (count, per) = match text.split_once('/') {
            Some((c, p)) => (c.trim(), Some(p.trim())),
            None => (text.trim(), None),
        };
        let count: f64 = count
            .parse()
            .map_err(|_| bad("the count is not a number"))?;
        let per = match per {
            None => Duration::from_secs(1),
            Some(p) => parse_interval(p).ok_or_else(|| {
                bad("expected an interval such as s, min, h, 100ms or 5s after '/'")
            })?,
        };
        Rate::new(count, per).map_err(|e| bad(e.message()))
    }

    /// The count of events per [`per`](Rate::per).
    pub fn count(&self) -> f64 {
        self.count
    }

    /// The interval the count is given for.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// Events per second, as a float.
    pub fn as_per_second(&self) -> f64 {
        self.count / self.per.as_secs_f64()
    }

    /// The time per event (`per / count`), rounded up to a whole nanosecond.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos())
    }

    fn interval_secs_f64(&self) -> f64 {
        self.per.as_secs_f64() / self.count
    }

    /// The interval in whole nanoseconds, rounded up and at least 1: the limiter's unit of cost.
    /// Rounding up means a limiter never admits faster than the rate asked for.
    pub(crate) fn interval_nanos(&self) -> u64 {
        let ns = (self.per.as_nanos() as f64 / self.count).ceil();
        // `new` caps the interval at a year, well inside u64 nanoseconds.
        (ns as u64).max(1)
    }
}

fn parse_interval(p: &str) -> Option<Duration> {
    let split = p
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(p.len());
    let (num, unit) = p.split_at(split);
    let n: f64 = if num.is_empty() {
        1.0
    } else {
        num.parse().ok()?
    };
    let unit_secs = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "second" | "seconds" => 1.0,
        "m" | "min" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        _ => return None,
    };
    let secs = n * unit_secs;
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_INTERVAL.as_secs_f64() {
        return None;
    }
    // Whole units stay exact (`5s`, `100ms`); only fractional ones go through the float.
    if n.fract() == 0.0 && n <= u32::MAX as f64 {
        let n = n as u32;
        return Some(match unit.trim() {
            "ns" => Duration::from_nanos(n.into()),
            "us" | "µs" => Duration::from_micros(n.into()),
            "ms" => Duration::from_millis(n.into()),
            _ => Duration::from_secs(u64::from(n) * unit_secs as u64),
        });
    }
    Some(Duration::from_secs_f64(secs))
}

impl FromStr for Rate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Rate, Error> {
        Rate::parse(s)
    }
}

impl fmt::Display for Rate {
    /// Writes the rate in the form [`Rate::parse`] reads back: `100/s`, `5000/h`, `10/100ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.count)?;
        let ns = self.per.as_nanos();
        for (unit, len) in [
            ("d", 86_400_000_000_000u128),
            ("h", 3_600_000_000_000),
            ("min", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ] {
            if ns == len {
                return f.write_str(unit);
            }
            if ns % len == 0 {
                return write!(f, "{}{unit}", ns / len);
            }
        }
        write!(f, "{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases: &[(&str, f64, Duration)] = &[
            ("100/s", 100.0, Duration::from_secs(1)),
            ("5000/h", 5000.0, Duration::from_secs(3600)),
            ("0.5/s", 0.5, Duration::from_secs(1)),
            ("30/min", 30.0, Duration::from_secs(60)),
            ("10/100ms", 10.0, Duration::from_millis(100)),
            ("2/5s", 2.0, Duration::from_secs(5)),
            ("100", 100.0, Duration::from_secs(1)),
            (" 7 / 2 minutes ", 7.0, Duration::from_secs(120)),
            ("1/1.5s", 1.0, Duration::from_millis(1500)),
            ("3/d", 3.0, Duration::from_secs(86_400)),
            ("1/250us", 1.0, Duration::from_micros(250)),
        ];
        for &(text, count, per) in cases {
            let r = Rate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((r.count(), r.per()), (count, per), "{text}");
        }
        assert_eq!(
            Rate::parse("30/min").unwrap().interval(),
            Duration::from_secs(2)
        );
        assert_eq!(Rate::parse("2/5s").unwrap().as_per_second(), 0.4);
    }

    #[test]
    fn rejects_bad_text_with_invalid_config() {
        for text in [
            "",
            "/s",
            "x/s",
            "0/s",
            "-1/s",
            "NaN/s",
            "inf/s",
            "1/",
            "1/0s",
            "1/fortnight",
            "1/-5s",
            "1/s/s",
            "1e-12/s",
            "1/2y",
        ] {
            let e = Rate::parse(text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{text:?}");
            assert!(e.message().contains("invalid rate"), "{text:?}: {e}");
        }
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Rate::new(bad, Duration::from_secs(1)).unwrap_err().kind(),
                ErrorKind::InvalidConfig
            );
        }
        assert_eq!(
            Rate::new(1.0, Duration::ZERO).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn interval_rounds_up_and_is_never_zero() {
        assert_eq!(Rate::per_second(3.0).unwrap().interval_nanos(), 333_333_334);
        assert_eq!(Rate::per_second(1e12).unwrap().interval_nanos(), 1);
    }

    proptest! {
        /// Any count and interval: `Ok` or `InvalidConfig`, never a panic. A valid rate's
        /// interval is at least 1 ns and at most a year (rounded up), and it displays.
        #[test]
        fn any_count_and_interval_is_ok_or_invalid_config(
            count in crate::error::extremes::float(),
            per in crate::error::extremes::duration(),
        ) {
            match Rate::new(count, per) {
                Ok(r) => {
                    prop_assert!(r.interval_nanos() >= 1);
                    prop_assert!(r.interval() <= MAX_INTERVAL + Duration::from_nanos(1));
                    prop_assert!(r.as_per_second() > 0.0);
                    let _ = r.to_string();
                }
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidConfig),
            }
        }

        /// Any text, and texts built from extreme numbers and every unit: `Ok` or
        /// `InvalidConfig`, never a panic.
        #[test]
        fn any_text_parses_or_fails_with_invalid_config(
            text in ".{0,24}",
            count in prop_oneof![
                Just("1e308".to_owned()), Just("0".to_owned()), Just("NaN".to_owned()),
                Just("inf".to_owned()), Just("-inf".to_owned()), Just("18446744073709551616".to_owned()),
                Just("1e-320".to_owned()), any::<f64>().prop_map(|f| f.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
            ],
            n in prop_oneof![
                Just(String::new()), Just("0".to_owned()), Just("4294967296".to_owned()),
                Just("1e30".to_owned()), Just("0.0000000001".to_owned()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| f.abs().to_string()),
            ],
            unit in prop_oneof![
                Just("ns"), Just("us"), Just("µs"), Just("ms"), Just("s"), Just("min"),
                Just("m"), Just("h"), Just("d"), Just("days"), Just("y"), Just(""),
            ],
        ) {
            for t in [text, format!("{count}/{n}{unit}"), count.clone()] {
                if let Err(e) = Rate::parse(&t) {
                    prop_assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{:?}", t);
                }
            }
        }

        #[test]
        fn display_round_trips(count in 0.001f64..1e6, per_ns in 1u64..86_400_000_000_000) {
            let r = Rate::new(count, Duration::from_nanos(per_ns));
            prop_assume!(r.is_ok());
            let r = r.unwrap();
            let back = Rate::parse(&r.to_string()).unwrap();
            prop_assert_eq!(back, r);
        }
    }
}
