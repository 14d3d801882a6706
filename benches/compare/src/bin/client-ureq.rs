//! Client: plain threads on one ureq Agent (the reference of W1). `C` threads take the next
//! index from an atomic counter, `GET` it, check the status and read the body into a `Vec`.
//! The Agent keeps up to `C` idle connections per origin (ureq's default of 3 would make it
//! reconnect all the time). No proxy.
//!
//! Timeouts bound every phase (connect 10 s as httpbatch's; sending the request, awaiting the
//! answer and reading the body 30 s each) rather than the whole call: with a global (or
//! per-call) timeout, ureq's default resolver resolves every request's host on a new thread
//! (even an IP literal), which would make this reference a straw man.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use httpbatch_compare::{Args, CONNECT_TIMEOUT, TIMEOUT, Tally};

fn main() {
    let args = Args::from_env();
    // Timed from before the client is built, as httpbatch's (whose workers start in `build`).
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_send_request(Some(TIMEOUT))
        .timeout_send_body(Some(TIMEOUT))
        .timeout_recv_response(Some(TIMEOUT))
        .timeout_recv_body(Some(TIMEOUT))
        .proxy(None)
        .max_idle_connections_per_host(args.c)
        .max_idle_connections(args.c * args.origins())
        .build()
        .into();
    let pacer = args.pacer();
    let tally = Tally::default();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..args.c {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.n {
                        break;
                    }
                    if let Some(p) = &pacer {
                        p.wait();
                    }
                    match agent.get(args.url(i)).call() {
                        Ok(mut res) => match res.body_mut().read_to_vec() {
                            Ok(body) => tally.response(res.status().as_u16(), body.len()),
                            Err(e) => tally.error(e),
                        },
                        Err(e) => tally.error(e),
                    }
                }
            });
        }
    });
    tally.finish("ureq", &args, started);
}
