//! Request coalescing against the loopback server's `/jsonrpc` and `/json-array` routes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use httpbatch::coalesce::{CoalescingExecutor, ItemError, JsonArrayCodec, JsonRpcCodec};
use httpbatch::{
    BatchExecutor, BatchOptions, CancelToken, Context, Error, ErrorKind, Execute, HttpClient,
    Request, Response,
};
use support::*;

fn call(server: &Server, path: &str, method: &str, params: &str, id: Option<&str>) -> Request {
    let id = id.map_or(String::new(), |id| format!(r#","id":{id}"#));
    let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params}{id}}}"#);
    Request::post(&server.url(path), body).unwrap()
}

fn rpc(max_batch: usize, delay: Duration) -> CoalescingExecutor<HttpClient, JsonRpcCodec> {
    CoalescingExecutor::builder(HttpClient::new(), JsonRpcCodec::new())
        .max_batch_size(max_batch)
        .max_delay(delay)
        .build()
        .unwrap()
}

/// Waits (observed state, not a sleep) until `f` holds; fails after 10 s.
fn until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn thousand_calls_in_batches_of_fifty() {
    let server = Server::start().unwrap();
    let batch = BatchExecutor::builder()
        .workers(50)
        .build(rpc(50, Duration::from_millis(500)))
        .unwrap();
    let reqs: Vec<Request> = (0..1000)
        .map(|i| {
            call(
                &server,
                "/jsonrpc",
                "echo",
                &format!("[{i}]"),
                Some(&format!("\"r{i}\"")),
            )
        })
        .collect();
    let result = batch.execute_batch(reqs, BatchOptions::new());
    for (i, o) in result.outcomes.iter().enumerate() {
        let res = o
            .response()
            .unwrap_or_else(|| panic!("item {i}: {:?}", o.error()));
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(v["result"], serde_json::json!([i]), "item {i}");
        assert_eq!(
            v["id"],
            serde_json::json!(format!("r{i}")),
            "the caller's id comes back"
        );
    }
    let stats = batch.get_ref().stats();
    assert_eq!(stats.logical, 1000);
    assert_eq!(stats.batched, 1000);
    assert_eq!(stats.http_requests, server.requests_for("/jsonrpc"));
    // 50 workers fill each batch of 50 well within the 500 ms delay: ~20 requests.
    assert!(
        (20..=25).contains(&stats.http_requests),
        "{} HTTP requests",
        stats.http_requests
    );
    assert!(stats.mean_batch_size() >= 40.0);
    assert_eq!(stats.saved(), 1000 - stats.http_requests);
}

/// Runs `reqs` as one batch of exactly `reqs.len()` (as many workers, a delay that never fires).
fn one_batch<E: Execute>(exec: E, reqs: Vec<Request>) -> (Vec<Result<Response, Error>>, E) {
    let n = reqs.len();
    let batch = BatchExecutor::builder().workers(n).build(exec).unwrap();
    let result = batch.execute_batch(reqs, BatchOptions::new());
    let outs = result
        .outcomes
        .into_iter()
        .map(|o| o.into_result())
        .collect();
    (outs, batch.into_inner())
}

#[test]
fn replies_out_of_order_and_error_objects_stay_per_item() {
    let server = Server::start().unwrap();
    let reqs = vec![
        call(&server, "/jsonrpc", "echo", "\"a\"", Some("1")),
        call(&server, "/jsonrpc", "fail", "[]", Some("1")),
        call(&server, "/jsonrpc", "nope", "[]", Some("\"x\"")),
        call(&server, "/jsonrpc", "add", "[2,3]", Some("7")),
        call(&server, "/jsonrpc", "add", "\"bad\"", Some("8")),
        call(&server, "/jsonrpc", "echo", "\"z\"", None), // a notification
    ];
    let (outs, exec) = one_batch(rpc(6, Duration::from_secs(30)), reqs);
    assert_eq!(server.requests_for("/jsonrpc"), 1, "one combined request");
    assert_eq!(exec.stats().http_requests, 1);
    let body = |i: usize| -> serde_json::Value {
        serde_json::from_slice(outs[i].as_ref().unwrap().body()).unwrap()
    };
    assert_eq!(body(0)["result"], "a");
    assert_eq!(body(0)["id"], 1);
    assert_eq!(body(3)["result"], 5.0);
    assert_eq!(body(3)["id"], 7);
    let remote = |i: usize| {
        let e = outs[i].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        match ItemError::of(e) {
            Some(ItemError::Remote { code, .. }) => *code,
            other => panic!("item {i}: {other:?}"),
        }
    };
    assert_eq!(remote(1), -32000);
    assert_eq!(remote(2), -32601);
    assert_eq!(remote(4), -32602);
    assert_eq!(outs[5].as_ref().unwrap().status(), 204, "a notification");
    assert_eq!(exec.stats().item_errors, 3);
}

#[test]
fn missing_and_duplicated_ids_fail_their_items_only() {
    let server = Server::start().unwrap();
    // The codec numbers calls 0..n in the batch: the server drops id 2 and doubles id 5.
    let reqs: Vec<Request> = (0..8)
        .map(|i| {
            call(
                &server,
                "/jsonrpc?drop=2&dup=5",
                "echo",
                &format!("[{i}]"),
                Some("0"),
            )
        })
        .collect();
    let (outs, _) = one_batch(rpc(8, Duration::from_secs(30)), reqs);
    let mut missing = 0;
    let mut dup = 0;
    for (i, o) in outs.iter().enumerate() {
        match o {
            Ok(res) => {
                let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
                assert_eq!(v["result"], serde_json::json!([i]));
            }
            Err(e) => match ItemError::of(e) {
                Some(ItemError::MissingReply) => missing += 1,
                Some(ItemError::DuplicateReply) => dup += 1,
                other => panic!("item {i}: {other:?}"),
            },
        }
    }
    assert_eq!((missing, dup), (1, 1));
}

#[test]
fn notifications_only_get_no_content() {
    let server = Server::start().unwrap();
    let reqs: Vec<Request> = (0..4)
        .map(|i| call(&server, "/jsonrpc", "echo", &format!("[{i}]"), None))
        .collect();
    let (outs, exec) = one_batch(rpc(4, Duration::from_secs(30)), reqs);
    for o in &outs {
        assert_eq!(o.as_ref().unwrap().status(), 204);
    }
    assert_eq!(exec.stats().http_requests, 1);
    assert_eq!(server.requests_for("/jsonrpc"), 1);
}

#[test]
fn a_failed_http_request_fails_every_member() {
    let server = Server::start().unwrap();
    // A status: every member gets the 503 response.
    let reqs: Vec<Request> = (0..3)
        .map(|i| call(&server, "/status/503", "echo", &format!("[{i}]"), Some("1")))
        .collect();
    let (outs, exec) = one_batch(rpc(3, Duration::from_secs(30)), reqs);
    for o in &outs {
        assert_eq!(o.as_ref().unwrap().status(), 503);
    }
    assert_eq!(exec.stats().http_requests, 1);
    // A transport failure: every member gets the error.
    let reqs: Vec<Request> = (0..3)
        .map(|i| call(&server, "/reset", "echo", &format!("[{i}]"), Some("1")))
        .collect();
    let (outs, exec) = one_batch(rpc(3, Duration::from_secs(30)), reqs);
    let kind = outs[0].as_ref().unwrap_err().kind();
    for o in &outs {
        assert_eq!(o.as_ref().unwrap_err().kind(), kind);
    }
    assert_eq!(exec.stats().failed_requests, 1);
    assert_eq!(exec.stats().item_errors, 3);
}

#[test]
fn a_body_the_codec_cannot_carry_fails_alone() {
    let server = Server::start().unwrap();
    let exec = rpc(2, Duration::from_millis(1));
    let bad = Request::post(&server.url("/jsonrpc"), "not json").unwrap();
    let e = exec.execute(bad, &Context::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(matches!(ItemError::of(&e), Some(ItemError::Invalid(_))));
    // A lone request goes out when its delay is up.
    let ok = exec
        .execute(
            call(&server, "/jsonrpc", "echo", "1", Some("1")),
            &Context::new(),
        )
        .unwrap();
    assert!(ok.text().contains("\"result\":1"));
    assert_eq!(exec.stats().http_requests, 1);
}

#[test]
fn queue_full_is_a_clear_error() {
    let server = Server::start().unwrap();
    let exec = Arc::new(
        CoalescingExecutor::builder(HttpClient::new(), JsonRpcCodec::new())
            .max_batch_size(100)
            .max_delay(Duration::from_secs(60))
            .max_queued(3)
            .build()
            .unwrap(),
    );
    let token = CancelToken::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (exec, req) = (
                exec.clone(),
                call(&server, "/jsonrpc", "echo", "1", Some("1")),
            );
            let ctx = Context::new().with_cancel(token.clone());
            std::thread::spawn(move || {
                let _ = i;
                exec.execute(req, &ctx)
            })
        })
        .collect();
    until("three held requests", || exec.held() == 3);
    let e = exec
        .execute(
            call(&server, "/jsonrpc", "echo", "1", Some("1")),
            &Context::new(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    assert_eq!(
        ItemError::of(&e),
        Some(&ItemError::QueueFull { max_queued: 3 })
    );
    assert_eq!(exec.stats().rejected, 1);
    token.cancel();
    for w in waiters {
        assert_eq!(w.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    }
    assert_eq!(exec.held(), 0);
    assert_eq!(exec.stats().abandoned, 3);
    assert_eq!(server.requests_for("/jsonrpc"), 0, "nothing was sent");
}

#[test]
fn a_cancelled_waiter_leaves_its_batch_before_it_is_sent() {
    let server = Server::start().unwrap();
    let exec = Arc::new(rpc(3, Duration::from_secs(60)));
    let token = CancelToken::new();
    let spawn = |i: u32, ctx: Context| {
        let exec = exec.clone();
        let req = call(&server, "/jsonrpc", "echo", &format!("[{i}]"), Some("1"));
        std::thread::spawn(move || exec.execute(req, &ctx))
    };
    let a = spawn(0, Context::new().with_cancel(token.clone()));
    let b = spawn(1, Context::new());
    until("two held", || exec.held() == 2);
    token.cancel();
    assert_eq!(a.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(exec.held(), 1);
    let c = spawn(2, Context::new());
    let d = spawn(3, Context::new());
    for (i, h) in [(1, b), (2, c), (3, d)] {
        assert!(
            h.join()
                .unwrap()
                .unwrap()
                .text()
                .contains(&format!("[{i}]"))
        );
    }
    let stats = exec.stats();
    assert_eq!(
        (stats.http_requests, stats.batched, stats.abandoned),
        (1, 3, 1)
    );
}

/// Holds every request until the test opens the gate.
struct Gate {
    inner: HttpClient,
    entered: crossbeam_channel::Sender<()>,
    open: crossbeam_channel::Receiver<()>,
}

impl Execute for Gate {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        self.entered.send(()).unwrap();
        self.open.recv().unwrap();
        self.inner.execute(req, ctx)
    }
}

#[test]
fn a_cancelled_waiter_does_not_stop_the_combined_request() {
    let server = Server::start().unwrap();
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (open, open_rx) = crossbeam_channel::unbounded();
    let gate = Gate {
        inner: HttpClient::new(),
        entered: entered_tx,
        open: open_rx,
    };
    let exec = Arc::new(
        CoalescingExecutor::builder(gate, JsonRpcCodec::new())
            .max_batch_size(2)
            .max_delay(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let token = CancelToken::new();
    let spawn = |i: u32, ctx: Context| {
        let exec = exec.clone();
        let req = call(&server, "/jsonrpc", "echo", &format!("[{i}]"), Some("1"));
        std::thread::spawn(move || exec.execute(req, &ctx))
    };
    let a = spawn(0, Context::new().with_cancel(token.clone()));
    let b = spawn(1, Context::new());
    entered.recv().unwrap(); // the combined request is in flight, held at the gate
    token.cancel();
    assert_eq!(a.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    open.send(()).unwrap();
    let res = b.join().unwrap().unwrap();
    assert!(res.text().contains("[1]"));
    assert_eq!(server.requests_for("/jsonrpc"), 1);
}

#[test]
fn json_array_codec_with_pointers() {
    let server = Server::start().unwrap();
    let codec = || {
        JsonArrayCodec::new()
            .request_pointer("/items")
            .unwrap()
            .response_pointer("/data/results")
            .unwrap()
    };
    let url = server.url("/json-array?in=/items&out=/data/results");
    let reqs: Vec<Request> = (0..10)
        .map(|i| Request::post(&url, format!(r#"{{"n":{i}}}"#)).unwrap())
        .collect();
    let exec = CoalescingExecutor::builder(HttpClient::new(), codec())
        .max_batch_size(5)
        .max_delay(Duration::from_secs(30))
        .build()
        .unwrap();
    let (outs, exec) = one_batch(exec, reqs);
    for (i, o) in outs.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(o.as_ref().unwrap().body()).unwrap();
        assert_eq!(v["item"]["n"], i, "each request gets its own element back");
    }
    assert_eq!(exec.stats().http_requests, 2);
    assert_eq!(server.requests_for("/json-array"), 2);

    // One result short: the request left over fails alone.
    let url = server.url("/json-array?in=/items&out=/data/results&short=1");
    let reqs: Vec<Request> = (0..4)
        .map(|i| Request::post(&url, format!("{i}")).unwrap())
        .collect();
    let exec = CoalescingExecutor::builder(HttpClient::new(), codec())
        .max_batch_size(4)
        .max_delay(Duration::from_secs(30))
        .build()
        .unwrap();
    let (outs, _) = one_batch(exec, reqs);
    let missing: Vec<_> = outs
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(|e| ItemError::of(e).cloned())
        .collect();
    assert_eq!(missing, vec![Some(ItemError::MissingReply)]);
}
