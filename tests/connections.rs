//! Connection truth against a scripted raw-TCP peer: idle sockets the peer closed are not
//! counted as live, a server restarting mid-batch costs no request, and credentials stay with
//! their origin across a redirect.

#[path = "support/faults.rs"]
mod faults;
mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use faults::{Conn, RawServer};
use httpbatch::{
    BatchEvent, BatchExecutor, BatchOptions, CancelToken, Context, ErrorKind, Execute, HttpClient,
    Jitter, Method, Outcome, Request, RetryExecutor, RetryPolicy,
};
use support::{Server, eventually};

fn keep_alive(mut c: Conn) {
    while c.read_request().is_some() {
        c.ok("ok");
    }
}

#[test]
fn idle_sockets_the_peer_closed_are_not_counted_live() {
    // One server closes its side once the client holds its answer (so the socket is back in
    // the client's idle pool), without having said `Connection: close`; the other keeps the
    // connection. Both sockets sit idle in the client's pool.
    let answered = Arc::new(Barrier::new(2));
    let closing = RawServer::start({
        let answered = answered.clone();
        move |mut c: Conn| {
            if c.read_request().is_some() {
                c.ok("ok");
                if c.index == 0 {
                    answered.wait();
                }
                c.close();
            }
        }
    });
    let keeping = RawServer::start(keep_alive);
    let client = HttpClient::new();
    for url in [closing.url("/"), keeping.url("/")] {
        let res = client
            .execute(Request::get(&url).unwrap(), &Context::new())
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let before = client.connection_stats();
    assert_eq!((before.opened, before.live), (2, 2), "{before:?}");
    answered.wait();
    let of = |s: &RawServer| {
        client
            .origin_stats()
            .into_iter()
            .find(|(o, _)| o.ends_with(&format!(":{}", s.port())))
            .unwrap()
            .1
    };
    // The FIN arrives a moment after the answer: the socket in CLOSE_WAIT stops being live.
    assert!(
        eventually(Duration::from_secs(5), || of(&closing).live == 0),
        "{:?}",
        of(&closing)
    );
    let closed = of(&closing);
    assert_eq!((closed.opened, closed.closed), (1, 1), "{closed:?}");
    assert_eq!((of(&keeping).live, of(&keeping).closed), (1, 0));

    // The next request drops the dead socket at checkout without counting it twice.
    let res = client
        .execute(Request::get(&closing.url("/")).unwrap(), &Context::new())
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 1));
    let s = of(&closing);
    assert_eq!((s.opened, s.requests), (2, 2), "{s:?}");
    assert_eq!(s.live, s.opened - s.closed, "{s:?}");
    assert!(s.closed >= 1 && s.closed <= 2, "{s:?}");
}

#[test]
fn a_server_restarting_mid_batch_costs_no_request() {
    let mut server = RawServer::start(keep_alive);
    let url = server.url("/");
    let client = HttpClient::new();
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .base_delay(Duration::from_millis(5))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let batch = BatchExecutor::new(RetryExecutor::new(client.clone(), policy).unwrap(), 1).unwrap();
    let mut restarted = false;
    let result = batch.execute_batch(
        (0..20).map(|_| Request::get(&url)),
        BatchOptions::new()
            .concurrency(1)
            .on_event(|e: &BatchEvent<'_>| {
                if let BatchEvent::Completed { index: 9, .. } = e {
                    server.restart(keep_alive);
                    restarted = true;
                }
            }),
    );
    assert!(restarted);
    assert_eq!(result.outcomes.len(), 20);
    for (i, o) in result.outcomes.iter().enumerate() {
        let Outcome::Response(r) = o else {
            panic!("{i}: {o:?}")
        };
        assert_eq!(r.status(), 200, "{i}");
        // A request caught by the restart is resent by the leaf or retried once the server
        // listens again: never lost, never more than the policy allows.
        assert!((1..=5).contains(&r.attempts()), "{i}: {}", r.attempts());
    }
    let stats = client.connection_stats();
    assert!(stats.opened >= 2, "{stats:?}");
    assert_eq!(stats.live, stats.opened - stats.closed);
}

#[test]
fn credentials_stay_with_their_origin_across_a_redirect() {
    let target = RawServer::start(keep_alive);
    let to = target.url("/landing");
    let origin = RawServer::start(move |mut c: Conn| {
        while c.read_request().is_some() {
            c.write(format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
            ));
        }
    });
    let req = Request::builder(Method::Get, &origin.url("/start"))
        .header("authorization", "Bearer secret")
        .header("cookie", "session=secret")
        .header("proxy-authorization", "Basic secret")
        .sensitive_header("x-api-key", "secret")
        .header("x-keep", "kept")
        .build()
        .unwrap();
    let res = HttpClient::new().execute(req, &Context::new()).unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.redirects(), [origin.url("/start")]);
    let sent = origin.heads().concat().to_ascii_lowercase();
    assert!(sent.contains("authorization: bearer secret"), "{sent}");
    let heads = target.heads();
    assert_eq!(heads.len(), 1);
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /landing "), "{head}");
    assert!(head.contains("x-keep: kept"), "{head}");
    assert!(!head.contains("secret"), "credentials forwarded: {head}");
}

#[test]
fn many_origins_open_at_most_concurrency_plus_origins_connections() {
    // W7's shape: 64 origins (64 listeners on loopback), 64 requests in flight, requests
    // round-robin over the origins. Each socket the client opens is one the servers accept.
    const ORIGINS: usize = 64;
    const CONCURRENCY: usize = 64;
    let servers: Vec<Server> = (0..ORIGINS).map(|_| Server::start().unwrap()).collect();
    let client = HttpClient::new();
    let batch = BatchExecutor::new(client.clone(), CONCURRENCY).unwrap();
    for round in 0..3 {
        let requests = (0..ORIGINS * 16)
            .map(|i| Request::get(&servers[i % ORIGINS].url("/bytes/64")).unwrap());
        let result = batch.execute_batch(requests, BatchOptions::default());
        assert_eq!(result.summary.succeeded, ORIGINS * 16, "round {round}");
    }
    let accepted: u64 = servers.iter().map(|s| s.accepted()).sum();
    let stats = client.connection_stats();
    assert_eq!(stats.opened, accepted, "{stats:?}");
    assert!(
        accepted <= (CONCURRENCY + ORIGINS) as u64,
        "{accepted} connections opened for {CONCURRENCY} in flight over {ORIGINS} origins: {stats:?}"
    );
}

/// A request on a connection taken from the idle pool is attached to its cancellation when it
/// checks the connection out: a cancel while it waits for a stalled answer shuts that socket
/// and the call returns at once, cancelled; the next request opens a new connection.
#[test]
fn cancel_reaches_a_request_stalled_on_a_reused_connection() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let ok = client
        .execute(Request::get(&server.url("/ok")).unwrap(), &Context::new())
        .unwrap();
    assert_eq!(ok.status(), 200);
    let token = CancelToken::new();
    let ctx = Context::new().with_cancel(token.clone());
    let started = std::time::Instant::now();
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            assert!(
                eventually(Duration::from_secs(10), || server.in_flight() == 1),
                "the stalled request never reached the server"
            );
            token.cancel();
        });
        client
            .execute(Request::get(&server.url("/delay/60000")).unwrap(), &ctx)
            .unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    let stats = client.connection_stats();
    assert_eq!(
        (stats.opened, stats.requests),
        (1, 2),
        "one connection, reused"
    );
    assert!(
        eventually(Duration::from_secs(5), || client.connection_stats().live
            == 0),
        "the cancelled request's socket is closed"
    );
    let ok = client
        .execute(Request::get(&server.url("/ok")).unwrap(), &Context::new())
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(client.connection_stats().opened, 2);
}
