//! Parsing of the human units the options take: durations (`250ms`, `10s`, `2m`) and sizes
//! (`64KiB`, `10MiB`). Each parser returns a message that quotes the input, for clap to print.

use std::time::Duration;

/// Parses `250ms`, `10s`, `1.5s`, `2m`, `1h`, `500us` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("invalid duration {text:?}: expected e.g. 250ms, 10s, 2m, 1h");
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        _ => return Err(bad()),
    };
    let secs = value * unit_secs;
    if !secs.is_finite() || secs > 366.0 * 24.0 * 3600.0 {
        return Err(format!("duration {text:?} is too long (at most a year)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a byte size: `512`, `64KiB`, `10MiB`, `1GiB` (binary), `64KB`, `10MB` (decimal);
/// `K`, `M` and `G` alone are binary, as in curl.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("invalid size {text:?}: expected e.g. 4096, 64KiB, 10MiB, 1GB");
    let value: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        _ => return Err(bad()),
    };
    let bytes = (value * mult).round();
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A response head limit: a size from 16 KiB (the connection's read buffer, which always takes
/// a head that fits) to 4 MiB. The client would clamp anything else, and a flag the tool
/// silently changes is worse than an error.
pub fn parse_head_size(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    if !(16 << 10..=4 << 20).contains(&bytes) {
        return Err(format!(
            "response head limit {text:?} is out of range: from 16KiB to 4MiB"
        ));
    }
    Ok(bytes as usize)
}

/// Formats a duration for people: `850 µs`, `12.3 ms`, `2.41 s`, `3m05s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{} µs", d.as_micros())
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.2} s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Milliseconds with microsecond precision, for JSON output.
pub fn millis(d: Duration) -> f64 {
    // The same correctly rounded value either way; a u64 converts without the u128 routine.
    let us = d.as_micros();
    let us = u64::try_from(us).map_or(us as f64, |us| us as f64);
    us / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_keep_microseconds() {
        for us in [0, 1, 999, 1_234_567, 86_400_000_000, u64::MAX] {
            let d = Duration::from_micros(us);
            assert_eq!(millis(d), (d.as_micros() as f64) / 1000.0);
        }
        assert_eq!(
            millis(Duration::MAX),
            (Duration::MAX.as_micros() as f64) / 1000.0
        );
        assert_eq!(millis(Duration::from_nanos(1_500)), 0.001);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "s",
            "ten",
            "10 parsecs",
            "-1s",
            "1e400s",
            "9999999h",
            "1..2s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("10mb"), Ok(10_000_000));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        for bad in ["", "0", "KiB", "10 furlongs", "-5", "1e30GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn human() {
        assert_eq!(human_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(human_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human_duration(Duration::from_millis(2410)), "2.41 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(millis(Duration::from_micros(1500)), 1.5);
    }
}
