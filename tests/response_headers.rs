//! A kept response's headers against a real loopback server: as the server sent them, in order,
//! and held in one allocation however many there are.
//!
//! This file's allocator counts, per thread, the allocations made minus those freed, so a test
//! sees exactly what a response it keeps holds (the loopback server's threads count apart).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use httpbatch::{Context, Execute, HttpClient, Method, Request, Response};
use support::Server;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

struct PerThread;

// SAFETY: forwards to the system allocator; the count is a const-initialised thread-local
// without a destructor, so touching it never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = HELD.try_with(|h| h.set(h.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = HELD.try_with(|h| h.set(h.get() - 1));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: PerThread = PerThread;

/// `GET /echo` with `extra` request headers (echoed back as `x-echo-h-…`), built and sent on
/// this thread; the response and the allocations it still holds.
fn echo(client: &HttpClient, server: &Server, extra: usize) -> (Response, isize) {
    let before = HELD.get();
    let mut b = Request::builder(Method::Get, &server.url("/echo"));
    for i in 0..extra {
        b = b.header(&format!("x-h-{i}"), &format!("value {i}"));
    }
    let res = client.execute(b.build().unwrap(), &Context::new()).unwrap();
    (res, HELD.get() - before)
}

#[test]
fn a_kept_response_holds_its_headers_in_one_allocation() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    // The connection, its pool and the thread's caches are made once, by the first requests.
    for _ in 0..3 {
        echo(&client, &server, 1);
    }
    for extra in [0, 1, 10, 40] {
        let (res, held) = echo(&client, &server, extra);
        assert_eq!(res.status(), 200);
        assert!(res.body().is_empty());
        assert!(res.headers().len() > extra + 3, "{:?}", res.headers());
        // The URL and the headers; the body is empty (no allocation).
        assert_eq!(
            held,
            2,
            "{} headers: {:?}",
            res.headers().len(),
            res.headers()
        );
        drop(res);
    }
    assert_eq!(client.connection_stats().opened, 1);
}

#[test]
fn many_headers_arrive_in_order_with_their_values() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let (res, _) = echo(&client, &server, 40);
    let echoed: Vec<(&str, &str)> = res
        .headers()
        .iter()
        .filter(|(n, _)| n.starts_with("x-echo-h-x-h-"))
        .collect();
    let want: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-echo-h-x-h-{i}"), format!("value {i}")))
        .collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    assert_eq!(echoed, want);
    assert_eq!(res.header("X-Echo-H-X-H-39"), Some("value 39"));
    assert_eq!(res.header("x-echo-method"), Some("GET"));
    for (i, (name, value)) in res.headers().iter().enumerate() {
        assert_eq!(res.headers().get(i), Some((name, value)));
        assert_eq!(name, name.to_ascii_lowercase());
    }
}
