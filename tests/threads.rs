//! Thread accounting: alone in its own test binary, so the process's thread count is this test's.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use httpbatch::{BatchExecutor, BatchOptions, HttpClient, HttpClientConfig, Method, Request};
use support::{Server, eventually, thread_count};

#[test]
fn request_timeouts_do_not_spawn_threads() {
    let server = Server::start().unwrap();
    let client =
        HttpClient::with_config(HttpClientConfig::default().timeout(Duration::from_secs(5)));
    let before = thread_count();
    let ex = BatchExecutor::builder().workers(16).build(client).unwrap();
    // The workers past the machine's cores start in the background: count from when all are up.
    assert!(
        eventually(Duration::from_secs(10), || thread_count() >= before + 16),
        "16 workers started"
    );
    let base = thread_count();
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(thread_count(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let requests: Vec<_> = (0..2000)
        .map(|i| {
            Request::builder(Method::Get, &server.url("/ok"))
                .timeout(Duration::from_millis(1000 + i % 7))
                .build()
        })
        .collect();
    let result = ex.execute_batch(requests, BatchOptions::new());
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(result.summary.succeeded, 2000);
    // The workers already exist; the sampler and the server's connection threads are the only
    // others (16 connections at most).
    let grown = peak.load(Ordering::Relaxed).saturating_sub(base);
    assert!(grown <= 16 + 2, "thread count grew by {grown}");
}
