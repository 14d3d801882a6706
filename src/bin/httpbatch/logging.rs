//! `-v`/`--verbose` and `RUST_LOG`: the library's `log` events on stderr.
//!
//! A dozen lines instead of `env_logger`: the tool needs levels and a target filter, not
//! colours, regex filters or timestamps formatting, and CI's compile budget is tight.
//! `-v` shows httpbatch's decisions (`info`: giving up, circuit changes), `-vv` each retry,
//! backoff, throttle wait and redirect (`debug`), `-vvv` everything httpbatch logs (`trace`).
//! Without `-v`, `RUST_LOG` is read as `env_logger` spells it: `debug`, or
//! `httpbatch::retry=debug,ureq=info` (a target matches by prefix; the last match wins).

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    /// `(target prefix, level)`; an empty prefix matches every target.
    filters: Vec<(String, LevelFilter)>,
}

impl StderrLogger {
    fn level(&self, target: &str) -> LevelFilter {
        self.filters
            .iter()
            .filter(|(prefix, _)| target.starts_with(prefix.as_str()))
            .map(|(_, level)| *level)
            .next_back()
            .unwrap_or(LevelFilter::Off)
    }
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            eprintln!(
                "httpbatch: {level}: [{}] {}",
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// The filters of `RUST_LOG`-style text; entries that do not parse are ignored.
fn parse(spec: &str) -> Vec<(String, LevelFilter)> {
    spec.split(',')
        .filter_map(|entry| {
            let entry = entry.trim();
            match entry.split_once('=') {
                Some((target, level)) => Some((target.to_owned(), level.parse().ok()?)),
                None if entry.is_empty() => None,
                None => match entry.parse() {
                    Ok(level) => Some((String::new(), level)),
                    Err(_) => Some((entry.to_owned(), LevelFilter::Trace)),
                },
            }
        })
        .collect()
}

/// Installs the logger for `verbose` (the number of `-v`), or from `RUST_LOG` without `-v`.
/// Returns whether anything can be logged.
pub fn init(verbose: u8) -> bool {
    let filters = match verbose {
        0 => std::env::var("RUST_LOG")
            .map(|s| parse(&s))
            .unwrap_or_default(),
        1 => vec![("httpbatch".to_owned(), LevelFilter::Info)],
        2 => vec![("httpbatch".to_owned(), LevelFilter::Debug)],
        _ => vec![("httpbatch".to_owned(), LevelFilter::Trace)],
    };
    let max = filters
        .iter()
        .map(|(_, l)| *l)
        .max()
        .unwrap_or(LevelFilter::Off);
    if max == LevelFilter::Off {
        return false;
    }
    if log::set_logger(Box::leak(Box::new(StderrLogger { filters }))).is_ok() {
        log::set_max_level(max);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_specs() {
        let logger = StderrLogger {
            filters: parse("info, httpbatch::retry=debug,ureq=off,junk=nonsense"),
        };
        assert_eq!(logger.level("httpbatch::retry"), LevelFilter::Debug);
        assert_eq!(logger.level("httpbatch::health"), LevelFilter::Info);
        assert_eq!(logger.level("ureq::unit"), LevelFilter::Off);
        assert_eq!(
            parse("httpbatch"),
            [("httpbatch".into(), LevelFilter::Trace)]
        );
        assert!(parse("").is_empty());
    }
}
