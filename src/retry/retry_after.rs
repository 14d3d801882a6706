//! `Retry-After` parsing (RFC 9110 §10.2.3): delay-seconds or an HTTP-date in any of the three
//! forms of §5.6.7.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::httpdate::{MONTHS, civil_from_days, days_from_civil};

/// Parses a `Retry-After` header value into how long to wait from `now`.
///
/// Accepts:
/// - delay-seconds: `"120"` (a non-negative integer; values too large for `u64` saturate);
/// - an HTTP-date in the preferred IMF-fixdate form, `"Sun, 06 Nov 1994 08:49:37 GMT"`, or the
///   obsolete forms a recipient must also accept: RFC 850, `"Sunday, 06-Nov-94 08:49:37 GMT"`
///   (a two-digit year more than 50 years ahead of `now` means the previous century), and ANSI C
///   asctime, `"Sun Nov  6 08:49:37 1994"`.
///
/// A date in the past gives `Some(Duration::ZERO)`. Anything else (negative or fractional
/// seconds, an unknown format, an impossible date) gives `None`. Surrounding whitespace is
/// ignored; month and day names are matched case-insensitively.
///
/// ```
/// use httpbatch::parse_retry_after;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after("Sun Nov  6 08:49:38 1994", now), Some(Duration::from_secs(1)));
/// assert_eq!(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("soon", now), None);
/// assert_eq!(parse_retry_after("-5", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let now_secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let date = parse_http_date(value, now_secs)?;
    let Ok(secs) = u64::try_from(date) else {
        return Some(Duration::ZERO);
    };
    let until = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    Some(until.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds since the Unix epoch of an HTTP-date (negative before 1970).
fn parse_http_date(s: &str, now_secs: i64) -> Option<i64> {
    let (weekday, rest) = match s.split_once(", ") {
        Some((w, r)) => (w, Some(r)),
        None => (s.split_once(' ')?.0, None),
    };
    match rest {
        Some(rest) if weekday.len() == 3 => {
            short_day(weekday)?;
            imf_fixdate(rest)
        }
        Some(rest) => {
            long_day(weekday)?;
            rfc850(rest, now_secs)
        }
        None => {
            short_day(weekday)?;
            asctime(&s[4..])
        }
    }
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(s: &str) -> Option<i64> {
    let mut it = s.split(' ');
    let day = digits(it.next()?, 2)?;
    let month = month(it.next()?)?;
    let year = digits(it.next()?, 4)?;
    let time = time(it.next()?)?;
    if it.next()? != "GMT" || it.next().is_some() {
        return None;
    }
    to_unix(year as i64, month, day, time)
}

/// `06-Nov-94 08:49:37 GMT`
fn rfc850(s: &str, now_secs: i64) -> Option<i64> {
    let mut it = s.split(' ');
    let mut date = it.next()?.split('-');
    let day = digits(date.next()?, 2)?;
    let month = month(date.next()?)?;
    let yy = digits(date.next()?, 2)? as i64;
    if date.next().is_some() {
        return None;
    }
    let time = time(it.next()?)?;
    if it.next()? != "GMT" || it.next().is_some() {
        return None;
    }
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent
    // past year with the same last two digits.
    let this_year = civil_from_days(now_secs.div_euclid(86_400)).0;
    let mut year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    to_unix(year, month, day, time)
}

/// `Nov  6 08:49:37 1994` (the weekday already removed)
fn asctime(s: &str) -> Option<i64> {
    let month = month(s.get(..3)?)?;
    let s = s.get(3..)?.strip_prefix(' ')?;
    // The day is two characters: space-padded (" 6") or two digits ("16").
    let day = s.get(..2)?;
    let day = digits(day.strip_prefix(' ').unwrap_or(day), 0)?;
    let mut it = s.get(2..)?.strip_prefix(' ')?.split(' ');
    let time = time(it.next()?)?;
    let year = digits(it.next()?, 4)?;
    if it.next().is_some() {
        return None;
    }
    to_unix(year as i64, month, day, time)
}

/// `08:49:37` as seconds of the day.
fn time(s: &str) -> Option<u32> {
    let mut it = s.split(':');
    let h = digits(it.next()?, 2)?;
    let m = digits(it.next()?, 2)?;
    let sec = digits(it.next()?, 2)?;
    // 60 allows a leap second.
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// An ASCII decimal of exactly `len` digits (`0`: one or two digits).
fn digits(s: &str, len: usize) -> Option<u32> {
    let ok_len = if len == 0 {
        (1..=2).contains(&s.len())
    } else {
        s.len() == len
    };
    if !ok_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

fn short_day(s: &str) -> Option<()> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS.iter().any(|d| d.eq_ignore_ascii_case(s)).then_some(())
}

fn long_day(s: &str) -> Option<()> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    DAYS.iter().any(|d| d.eq_ignore_ascii_case(s)).then_some(())
}

fn to_unix(year: i64, month: u32, day: u32, secs_of_day: u32) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs_of_day as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT
    const T: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn seconds() {
        let now = at(T);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 3600 ", now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", " ", "-1", "1.5", "+3", "1e3", "12 s", "0x10"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn the_three_date_forms_agree() {
        let now = at(T - 90);
        let want = Some(Duration::from_secs(90));
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "sun, 06 nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(v, now), want, "{v:?}");
        }
        assert_eq!(
            parse_retry_after("Thu Nov 16 08:49:37 1994", at(T)),
            Some(Duration::from_secs(10 * 86_400))
        );
    }

    #[test]
    fn past_dates_are_zero() {
        let now = at(T);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:36 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 1969 23:59:59 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn rfc850_two_digit_years() {
        // Now in 2030: "80" is 2080 (50 years ahead), "81" is 1981 (2081 would be 51 ahead).
        let now_2030 =
            UNIX_EPOCH + Duration::from_secs(days_from_civil(2030, 1, 1) as u64 * 86_400);
        assert_eq!(
            parse_retry_after("Monday, 01-Jan-80 00:00:10 GMT", now_2030),
            Some(Duration::from_secs(
                (days_from_civil(2080, 1, 1) - days_from_civil(2030, 1, 1)) as u64 * 86_400 + 10
            ))
        );
        assert_eq!(
            parse_retry_after("Monday, 01-Jan-81 00:00:10 GMT", now_2030),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage() {
        let now = at(T);
        for bad in [
            "tomorrow",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 1994 x",
            "Sun Nov  6 08:49:37",
            "Sun",
            "Sun, ",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "日本, 06 Nov 1994 08:49:37 GMT",
            "日本語 Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
