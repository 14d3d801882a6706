//! What reading connection statistics costs now that it probes idle sockets (issue 10): with
//! `IDLE` connections idle in the pool, the time of one `HttpClient::connection_stats()` (one
//! `poll` per idle socket), against the loopback server started here.
//!
//! Run: `cargo bench --bench connection_stats`.

use std::time::Instant;

use httpbatch::prelude::*;
use httpbatch::{HttpClient, ParExecutor, Request};
use httpbatch_testserver::Server;

const READS: u32 = 2_000;

fn main() {
    let server = Server::start().unwrap();
    for idle in [0usize, 1, 10, 100] {
        let client = HttpClient::new();
        if idle > 0 {
            // `idle` concurrent slow requests open `idle` connections, then go idle.
            let par = ParExecutor::new(client.clone(), idle).unwrap();
            let requests: Vec<_> = (0..idle)
                .map(|_| Request::get(&server.url("/delay/200")))
                .collect();
            let ok = requests.par_map(&par, |r| r.is_ok());
            assert!(ok.iter().all(|ok| *ok));
        }
        // On a loaded machine a few requests may share a connection: report what is idle.
        let idle = client.connection_stats().live;
        let t = Instant::now();
        for _ in 0..READS {
            std::hint::black_box(client.connection_stats());
        }
        let each = t.elapsed() / READS;
        println!("connection_stats() with {idle:>3} idle sockets: {each:>10.2?} per read");
    }
}
