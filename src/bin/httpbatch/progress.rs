//! The progress bar: drawn on stderr only when stderr is a terminal, silent otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use httpbatch::ProgressSnapshot;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the batch reports progress to the bar.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// A progress bar, or a hidden one when `enabled` is false or stderr is not a terminal (a log
/// file or CI gets no control characters). Its length is set once the input has been read to
/// its end (a streamed input's total is not known before).
pub fn bar(enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed:>4} [{wide_bar}] {pos}/{len} {msg} ETA {eta}",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(INTERVAL);
    bar
}

/// Moves the bar to `p`: completed of total, throughput and failures so far.
pub fn update(bar: &ProgressBar, p: &ProgressSnapshot) {
    if p.total_known {
        bar.set_length(p.total as u64);
    }
    bar.set_position(p.completed as u64);
    let paused = if p.paused { ", paused" } else { "" };
    bar.set_message(format!(
        "{:.1}/s, {} failed{paused}",
        p.throughput, p.failed
    ));
}

/// Prints `msg` on stderr as `httpbatch: MSG`, above the bar when one is drawn.
pub fn note(bar: &ProgressBar, msg: &str) {
    if bar.is_hidden() {
        eprintln!("httpbatch: {msg}");
    } else {
        bar.println(format!("httpbatch: {msg}"));
    }
}
