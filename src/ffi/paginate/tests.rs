//! The paginator and dedup entry points, called the way C calls them, against loopback servers.

use std::ffi::c_char;
use std::ptr::null_mut;

use super::*;
use crate::ffi::dedup::*;
use crate::ffi::executor::*;
use crate::ffi::request::*;
use httpbatch_testserver::Server;

type R = httpbatch_result;

fn executor(dedup: bool) -> *mut httpbatch_executor {
    let mut b = null_mut();
    assert_eq!(httpbatch_executor_builder_new(&mut b), R::Ok);
    assert_eq!(httpbatch_executor_builder_set_dedup(b, dedup, false), R::Ok);
    let mut e = null_mut();
    assert_eq!(httpbatch_executor_builder_build(b, &mut e), R::Ok);
    e
}

fn request(url: &str) -> *mut httpbatch_request {
    let mut r = null_mut();
    assert_eq!(httpbatch_request_new(&mut r), R::Ok);
    assert_eq!(
        httpbatch_request_set_url(r, url.as_ptr().cast(), url.len()),
        R::Ok
    );
    r
}

fn paginator(exec: *mut httpbatch_executor, url: &str, spec: &str) -> *mut httpbatch_paginator {
    let req = request(url);
    let mut p = null_mut();
    let rc = httpbatch_paginator_new(exec, req, spec.as_ptr().cast(), spec.len(), &mut p);
    httpbatch_request_free(req);
    assert_eq!(rc, R::Ok);
    p
}

fn set_items(p: *mut httpbatch_paginator, ptr: &str) {
    assert_eq!(
        httpbatch_paginator_set_items(p, ptr.as_ptr().cast(), ptr.len()),
        R::Ok
    );
}

fn text(p: *const c_char, len: usize) -> String {
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn state(p: *mut httpbatch_paginator) -> String {
    let mut buf = vec![0 as c_char; 512];
    let mut len = 0;
    assert_eq!(
        httpbatch_paginator_state(p, buf.as_mut_ptr(), buf.len(), &mut len),
        R::Ok
    );
    text(buf.as_ptr(), len)
}

#[test]
fn pages_and_items_through_the_c_abi_with_a_resume() {
    let server = Server::start().unwrap();
    let exec = executor(false);
    // Pages, with their items, until the scripted failure of page 3.
    let url = server.url("/pages/numbered/35?per=10&fail=c&fail_page=3");
    let p = paginator(exec, &url, "page:page");
    set_items(p, "/items");
    let mut outcome = 99;
    for page in 0..2 {
        assert_eq!(httpbatch_paginator_next_page(p, &mut outcome), R::Ok);
        assert_eq!(outcome, HTTPBATCH_PAGE_READ);
        let (mut status, mut count) = (0, 0);
        assert_eq!(httpbatch_paginator_page_status(p, &mut status), R::Ok);
        assert_eq!(httpbatch_paginator_page_item_count(p, &mut count), R::Ok);
        assert_eq!((status, count), (200, 10));
        let (mut json, mut len) = (std::ptr::null(), 0);
        assert_eq!(
            httpbatch_paginator_page_item(p, 9, &mut json, &mut len),
            R::Ok
        );
        assert_eq!(text(json, len), format!("{{\"id\":{}}}", page * 10 + 10));
        assert_eq!(
            httpbatch_paginator_page_item(p, 10, &mut json, &mut len),
            R::IndexOutOfRange
        );
    }
    assert_eq!(httpbatch_paginator_next_page(p, &mut outcome), R::Ok);
    assert_eq!(outcome, HTTPBATCH_PAGE_FAILED);
    let mut status = 0;
    httpbatch_paginator_page_status(p, &mut status);
    assert_eq!(status, 500);
    let saved = state(p);
    assert!(saved.contains("\"number\":3"), "{saved}");
    // Options are fixed once the walk started.
    assert_eq!(httpbatch_paginator_set_limits(p, 1, 0), R::InvalidArgument);
    httpbatch_paginator_free(p);

    // A second paginator resumes from the saved state and reads items.
    let p = paginator(exec, &url, "page:page");
    set_items(p, "/items");
    assert_eq!(
        httpbatch_paginator_resume(p, saved.as_ptr().cast(), saved.len()),
        R::Ok
    );
    let mut ids = Vec::new();
    loop {
        let (mut json, mut len) = (std::ptr::null(), 0);
        assert_eq!(
            httpbatch_paginator_next_item(p, &mut json, &mut len, &mut outcome),
            R::Ok
        );
        if outcome == HTTPBATCH_PAGE_DONE {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&text(json, len)).unwrap();
        ids.push(v["id"].as_u64().unwrap());
    }
    assert_eq!(ids, (21..=35).collect::<Vec<_>>());
    assert!(state(p).contains("\"done\":true"));
    // A walk reads items or pages, not both.
    assert_eq!(
        httpbatch_paginator_next_page(p, &mut outcome),
        R::InvalidArgument
    );
    httpbatch_paginator_free(p);

    let bad = "cursor:nope";
    let req = request(&url);
    let mut p = null_mut();
    assert_eq!(
        httpbatch_paginator_new(exec, req, bad.as_ptr().cast(), bad.len(), &mut p),
        R::InvalidConfig
    );
    httpbatch_request_free(req);
    httpbatch_executor_free(exec);
}

#[test]
fn a_transport_error_returns_its_code() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let exec = executor(false);
    let p = paginator(exec, &format!("http://127.0.0.1:{port}/"), "link");
    let mut outcome = 99;
    assert_eq!(
        httpbatch_paginator_next_page(p, &mut outcome),
        R::ConnectRefused
    );
    assert!(state(p).contains("\"next\":null"));
    httpbatch_paginator_free(p);
    httpbatch_executor_free(exec);
}

#[test]
fn dedup_option_shares_identical_requests_of_concurrent_batches() {
    let server = Server::start().unwrap();
    let exec = executor(true);
    let url = server.url("/delay/200");
    // Two batches on two threads, 20 identical requests each.
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (url, exec) = (url.clone(), exec as usize);
            s.spawn(move || {
                let exec = exec as *mut httpbatch_executor;
                let mut batch = null_mut();
                assert_eq!(crate::ffi::batch::httpbatch_batch_new(&mut batch), R::Ok);
                for _ in 0..20 {
                    assert_eq!(
                        crate::ffi::batch::httpbatch_batch_add_get(
                            batch,
                            url.as_ptr().cast(),
                            url.len()
                        ),
                        R::Ok
                    );
                }
                let mut result = null_mut();
                assert_eq!(httpbatch_executor_execute(exec, batch, &mut result), R::Ok);
                crate::ffi::result::httpbatch_batch_result_free(result);
                crate::ffi::batch::httpbatch_batch_free(batch);
            });
        }
    });
    let mut stats = httpbatch_dedup_stats {
        struct_size: std::mem::size_of::<httpbatch_dedup_stats>(),
        ..Default::default()
    };
    assert_eq!(httpbatch_executor_dedup_stats(exec, &mut stats), R::Ok);
    assert_eq!(stats.requests, 40);
    assert_eq!(stats.wire + stats.saved, 40);
    assert_eq!(server.requests_for("/delay/200"), stats.wire);
    assert!(stats.saved > 0);
    httpbatch_executor_free(exec);
}
