//! `par`: parallel maps and pipelines over the ureq leaf, against real loopback servers.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use httpbatch::prelude::*;
use httpbatch::{
    CancelToken, Error, ErrorKind, HttpClient, Method, ParExecutor, ParExecutorBuilder, ParOptions,
    Rate, RateLimitedExecutor, RateLimiter, Request,
};
use support::{Server, eventually};

/// A small xorshift generator: random enough for delays, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn status_error(status: u16) -> Error {
    Error::new(ErrorKind::Protocol, format!("status {status}"))
}

#[test]
fn order_is_kept_under_random_server_delays() {
    let server = Server::start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 16).unwrap();
    let mut rng = Rng::seeded();
    let paths: Vec<String> = (0..300)
        .map(|i| format!("/delay/{}?i={i}", rng.below(30)))
        .collect();
    let requests: Vec<_> = paths.iter().map(|p| Request::get(&server.url(p))).collect();
    let got = requests.par_map(&par, |res| {
        let r = res.expect("every request answers");
        assert_eq!(r.status(), 200);
        r.url().to_owned()
    });
    let want: Vec<_> = paths.iter().map(|p| server.url(p)).collect();
    assert_eq!(got, want);
    assert_eq!(server.requests(), 300);
    assert!(server.max_in_flight() <= 16, "{}", server.max_in_flight());
    // Random delays finish out of order, so a wrong slot would have shown up above.
    assert!(par.stats().peak_in_flight <= 16);
}

#[test]
fn try_form_stops_dispatching_at_the_first_error_and_names_it() {
    let server = Server::start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 4).unwrap();
    let requests: Vec<_> = (0..500)
        .map(|i| {
            let path = if i == 30 { "/status/500" } else { "/delay/10" };
            Request::get(&server.url(path))
        })
        .collect();
    let err = requests
        .try_par_map(&par, |res| {
            let r = res?;
            if r.status() >= 400 {
                return Err(status_error(r.status()));
            }
            Ok(r.status())
        })
        .unwrap_err();
    assert_eq!(err.index, 30);
    assert_eq!(err.error.message(), "status 500");
    // 31 requests up to the failure, plus at most the 3 others in flight beside it.
    let sent = server.requests();
    assert!((31..=34).contains(&sent), "sent {sent} of 500");
    assert!(eventually(Duration::from_secs(1), || server.in_flight() == 0));
    assert_eq!(server.requests(), sent, "nothing dispatched after return");
}

#[test]
fn collect_errors_form_runs_everything_and_lists_each_failure() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let par = ParExecutor::new(client.clone(), 8).unwrap();
    let paths: Vec<_> = (0..60)
        .map(|i| match i % 20 {
            5 => "/status/503".to_owned(),
            9 => "/reset".to_owned(),
            _ => format!("/bytes/{i}"),
        })
        .collect();
    let out = paths
        .iter()
        .map(|p| Request::get(&server.url(p)))
        .par_map_collect_errors(&par, |res| {
            let r = res?;
            if !r.is_success() {
                return Err(status_error(r.status()));
            }
            Ok(r.body().len())
        });
    let failed: Vec<_> = out.errors.iter().map(|e| e.index).collect();
    assert_eq!(failed, [5, 9, 25, 29, 45, 49]);
    assert_eq!(out.errors[1].error.kind(), ErrorKind::ConnectionReset);
    for (i, v) in out.values.iter().enumerate() {
        assert_eq!(v.is_some(), !failed.contains(&i));
        if let Some(len) = v {
            assert_eq!(*len, i);
        }
    }
    // A `/reset` that closes a reused connection without an answer looks like a stale
    // keep-alive connection, which the leaf resends once on a new one (as curl and browsers
    // do): every request the server saw went out from the client, and at most 3 twice.
    let sent = server.requests();
    assert_eq!(sent, client.connection_stats().requests);
    assert!((60..=63).contains(&sent), "{sent}");
}

#[test]
fn pipeline_of_dependent_requests_stays_within_the_cap() {
    let server = Server::start().unwrap();
    // More threads than permits, so items contend for permits between their requests.
    let par = ParExecutorBuilder::new()
        .concurrency(4)
        .threads(12)
        .build(HttpClient::new())
        .unwrap();
    let out = (0..30usize)
        .par_pipeline(&par)
        .try_run(|client, i| {
            // The "list": its length says how many "details" to fetch, each with its own delay.
            let list = client.send(Request::get(&server.url(&format!("/bytes/{}", 1 + i % 3)))?)?;
            let mut total = 0;
            for k in 0..list.body().len() {
                let detail = client.send(Request::get(
                    &server.url(&format!("/delay/{}?item={i}&k={k}", 5 + k * 3)),
                )?)?;
                total += detail.body().len();
            }
            Ok((i, total))
        })
        .unwrap();
    assert_eq!(out.len(), 30);
    for (i, (j, total)) in out.iter().enumerate() {
        assert_eq!((*j, *total), (i, 2 * (1 + i % 3)), "`ok` per detail");
    }
    let expected = 30 + (0..30).map(|i| 1 + i % 3).sum::<usize>();
    assert_eq!(server.requests() as usize, expected);
    assert!(server.max_in_flight() <= 4, "{}", server.max_in_flight());
    assert_eq!(
        server.max_in_flight(),
        4,
        "the cap is reached, not undershot"
    );
    let s = par.stats();
    assert_eq!((s.requests as usize, s.peak_in_flight), (expected, 4));
}

#[test]
fn priorities_change_the_order_requests_reach_the_server() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 1).unwrap();
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let (name, prio) = if i % 3 == 0 { ("high", 10) } else { ("low", 0) };
            Request::builder(Method::Get, &server.url(&format!("/ok?{name}={i}")))
                .priority(prio)
                .build()
        })
        .collect();
    let statuses = requests.par_map(&par, |res| res.unwrap().status());
    assert_eq!(statuses, [200; 20], "results stay in input order");
    let arrived: Vec<_> = server.arrivals().into_iter().map(|a| a.path).collect();
    let high = (0..20)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("/ok?high={i}"));
    let low = (0..20)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("/ok?low={i}"));
    let want: Vec<_> = high.chain(low).collect();
    assert_eq!(arrived, want);
}

#[test]
fn pipeline_priorities_order_items_at_the_server() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 1).unwrap();
    let names = ["b", "a", "d", "c"];
    let ranks = |n: &&str| match *n {
        "a" => 4,
        "b" => 3,
        "c" => 2,
        _ => 1,
    };
    let out = names
        .par_pipeline(&par)
        .priority(ranks)
        .run(|client, name| {
            client.send(Request::get(&server.url(&format!("/ok?item={name}")))?)?;
            Ok(name)
        });
    assert_eq!(out.into_result().unwrap(), names);
    let arrived: Vec<_> = server.arrivals().into_iter().map(|a| a.path).collect();
    assert_eq!(
        arrived,
        ["/ok?item=a", "/ok?item=b", "/ok?item=c", "/ok?item=d"]
    );
}

#[test]
fn cancelling_mid_way_returns_promptly_with_every_item_settled() {
    let server = Server::start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 8).unwrap();
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            token.cancel();
        })
    };
    let caller = std::thread::current().id();
    let mut progress_calls = 0;
    let began = Instant::now();
    // 400 × 200 ms at 8 wide: 10 s of work.
    let out = (0..400)
        .map(|_| Request::get(&server.url("/delay/200")))
        .par_map(
            par.with_options(ParOptions::new().cancel(token).on_progress(
                Duration::from_millis(20),
                |_| {
                    assert_eq!(std::thread::current().id(), caller);
                    progress_calls += 1;
                },
            )),
            |res| res.map(|r| r.status()).map_err(|e| e.kind()),
        );
    let took = began.elapsed();
    canceller.join().unwrap();
    // Cancelled at 300 ms of 10 s of work; the slack absorbs a loaded CI machine.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(out.len(), 400);
    let ok = out.iter().filter(|r| **r == Ok(200)).count();
    let cancelled = out
        .iter()
        .filter(|r| **r == Err(ErrorKind::Cancelled))
        .count();
    assert_eq!(ok, 8, "one round of 8 finished before the cancel");
    assert_eq!(ok + cancelled, 400, "{out:?}");
    assert!(progress_calls >= 5, "{progress_calls}");
    assert!(server.requests() <= 16, "{}", server.requests());
    assert!(eventually(Duration::from_secs(1), || server.in_flight() == 0));
}

#[test]
fn a_panicking_closure_surfaces_on_the_caller_and_the_pool_still_works() {
    let server = Server::start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 4).unwrap();
    // 400 × 20 ms at 4 wide: 2 s of work.
    let requests: Vec<_> = (0..400)
        .map(|i| Request::get(&server.url(&format!("/delay/20?i={i}"))))
        .collect();
    let began = Instant::now();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        requests.par_map(&par, |res| {
            // Items in flight beside the panicking one are interrupted: they see `Cancelled`.
            if res.is_ok_and(|r| r.url().ends_with("i=10")) {
                panic!("closure boom on item 10");
            }
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>().copied(),
        Some("closure boom on item 10")
    );
    assert!(began.elapsed() < Duration::from_secs(1));
    // The panic hook (a backtrace, under RUST_BACKTRACE) runs before the run learns of the
    // panic, so a few more rounds may start meanwhile; far from all 400.
    assert!(
        server.requests() < 100,
        "dispatch stopped: {}",
        server.requests()
    );
    assert_eq!(par.stats().in_flight, 0, "in-flight work settled first");

    // Every pool thread is still there and serves the next call.
    let again = (0..40)
        .map(|_| Request::get(&server.url("/ok")))
        .par_map(&par, |res| {
            std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("httpbatch-par-"))
                && res.is_ok()
        });
    assert!(again.iter().all(|ok| *ok));
}

#[test]
fn the_stacks_own_rate_limit_holds() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let limiter = RateLimiter::new(Rate::per_second(50.0).unwrap(), 1).unwrap();
    let par = ParExecutor::new(RateLimitedExecutor::new(HttpClient::new(), limiter), 16).unwrap();
    let out = (0..20)
        .map(|_| Request::get(&server.url("/ok")))
        .par_map(&par, |res| res.is_ok());
    assert!(out.iter().all(|ok| *ok));
    let at: Vec<_> = server.arrivals().into_iter().map(|a| a.at).collect();
    let span = at[at.len() - 1] - at[0];
    // 20 requests at 50/s with burst 1: 19 intervals of 20 ms, whatever the parallelism.
    assert!(span >= Duration::from_millis(340), "span {span:?}");
}
