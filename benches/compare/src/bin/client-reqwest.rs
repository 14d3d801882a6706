//! Client: reqwest on tokio's multi-threaded runtime (one worker per core). `C` tasks take the
//! next index from an atomic counter, `GET` it, check the status and read the body
//! (`bytes()`). Timeouts as httpbatch's: 30 s per request, 10 s connect. No proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use httpbatch_compare::{Args, CONNECT_TIMEOUT, TIMEOUT, Tally};

fn main() {
    let args = Arc::new(Args::from_env());
    // Timed from before the client is built, as httpbatch's (whose workers start in `build`).
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .expect("client");
    let pacer = Arc::new(args.pacer());
    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..args.c)
            .map(|_| {
                let (args, client, pacer, tally, next) = (
                    args.clone(),
                    client.clone(),
                    pacer.clone(),
                    tally.clone(),
                    next.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= args.n {
                            break;
                        }
                        if let Some(p) = pacer.as_ref() {
                            tokio::time::sleep_until(p.slot().into()).await;
                        }
                        match client.get(args.url(i)).send().await {
                            Ok(res) => {
                                let status = res.status().as_u16();
                                match res.bytes().await {
                                    Ok(body) => tally.response(status, body.len()),
                                    Err(e) => tally.error(e),
                                }
                            }
                            Err(e) => tally.error(e),
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    tally.finish("reqwest", &args, started);
}
