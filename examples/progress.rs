//! Progress reporting: a throttled progress callback and per-item events, both delivered on the
//! calling thread while the batch runs.
//!
//! Run with `cargo run --example progress`. It takes about two seconds.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use httpbatch::{BatchEvent, BatchExecutor, BatchOptions, HttpClient, ProgressSnapshot, Request};
use httpbatch_testserver::Server;

/// `[#######.............]  35%  70/200  41.2/s  ETA 3.1s  2 failed`
fn render(p: &ProgressSnapshot) -> String {
    const WIDTH: usize = 30;
    let filled = (p.percent / 100.0 * WIDTH as f64).round() as usize;
    let eta = p
        .eta
        .map_or_else(|| "?".into(), |d| format!("{:.1}s", d.as_secs_f64()));
    format!(
        "[{}{}] {:>4.0}%  {}/{}  {:.1}/s  ETA {eta}  {} failed",
        "#".repeat(filled.min(WIDTH)),
        ".".repeat(WIDTH - filled.min(WIDTH)),
        p.percent,
        p.completed,
        p.total,
        p.throughput,
        p.failed
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let executor = BatchExecutor::new(HttpClient::new(), 8)?;
    // 120 requests of 10–130 ms each, every 25th one a 500.
    let requests = (0..120).map(|i| {
        let path = if i % 25 == 24 {
            "/status/500".to_owned()
        } else {
            format!("/delay/{}", 10 + (i * 37) % 120)
        };
        Request::get(&server.url(&path))
    });

    // On a terminal, redraw one line; in a log, print a line per update.
    let tty = std::io::stderr().is_terminal();
    let mut updates = 0;
    let mut failures = Vec::new();
    let options = BatchOptions::new()
        .on_progress(Duration::from_millis(250), |p| {
            updates += 1;
            if tty {
                eprint!("\r{}", render(p));
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{}", render(p));
            }
        })
        .on_event(|event| match event {
            BatchEvent::Failed { index, outcome } => {
                failures.push((*index, outcome.status()));
            }
            BatchEvent::Drained { summary } => {
                if tty {
                    eprintln!();
                }
                eprintln!(
                    "drained: {} of {} succeeded in {:?}",
                    summary.succeeded, summary.total, summary.duration
                );
            }
            _ => {}
        });
    let result = executor.execute_batch(requests, options);

    println!(
        "{} progress updates (throttled to one per 250 ms, plus a final one at 100%)",
        updates
    );
    println!("failure events, as they happened: {failures:?}");
    assert_eq!(result.summary.total, 120);
    assert_eq!(failures.len(), 4);
    Ok(())
}
