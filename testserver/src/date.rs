//! HTTP-dates for `Retry-After`, formatted by the `httpdate` crate (see Cargo.toml for why not
//! a copy of httpbatch's own calendar code).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second an HTTP-date can say: 9999-12-31 23:59:59 GMT.
const LAST: Duration = Duration::from_secs(253_402_300_799);

/// Formats `t` as an HTTP-date in IMF-fixdate form, the form `Retry-After` and `Date` use:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Sub-second parts are dropped (the format has whole seconds). Times before 1970 are clamped to
/// the epoch and times after the year 9999 to its last second: a server never needs to say them.
///
/// ```
/// use httpbatch_testserver::http_date;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn http_date(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    httpdate::fmt_http_date(UNIX_EPOCH + since.min(LAST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                http_date(UNIX_EPOCH + Duration::from_secs(secs)),
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn sub_seconds_and_out_of_range() {
        let t = UNIX_EPOCH + Duration::from_millis(784_111_777_999);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        let after = UNIX_EPOCH + LAST + Duration::from_secs(86_400 * 400);
        assert_eq!(http_date(after), "Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
