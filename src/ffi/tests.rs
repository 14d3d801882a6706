//! Unit tests of the FFI helpers, and of the exported functions called the way C calls them.

use std::ffi::{CStr, c_char, c_void};
use std::ptr::{null, null_mut};

use super::base::*;
use super::batch::*;
use super::cancel::*;
use super::executor::*;
use super::executor_stats::*;
use super::headers::*;
use super::request::*;
use super::result::*;
use super::*;
use crate::error::ErrorKind;
use httpbatch_testserver::Server;

type R = httpbatch_result;

fn text(p: *const c_char, len: usize) -> String {
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn codes_are_unique_stable_and_described() {
    let mut seen = std::collections::HashSet::new();
    for r in R::ALL {
        assert!(seen.insert(r as u32), "{r:?} reuses a number");
        let d = R::describe_code(r as u32).to_str().unwrap();
        assert_ne!(d, "unknown httpbatch_result code", "{r:?}");
    }
    for &kind in ErrorKind::all() {
        assert_eq!(R::from_kind(kind) as u32, kind as u32, "{kind:?}");
    }
    // Numbers C programs were compiled against must never change.
    assert_eq!(R::Ok as u32, 0);
    assert_eq!(R::Timeout as u32, 7);
    assert_eq!(R::NullArgument as u32, 1000);
    assert_eq!(R::InvalidArgument as u32, 1007);
    let unknown = unsafe { CStr::from_ptr(httpbatch_result_str(999_999)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown httpbatch_result code");
    let ok = unsafe { CStr::from_ptr(httpbatch_result_str(0)) };
    assert_eq!(ok.to_str().unwrap(), "ok");
}

#[test]
fn version_constants_match_the_crate() {
    let v = unsafe { CStr::from_ptr(httpbatch_version()) }
        .to_str()
        .unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    let want =
        format!("{HTTPBATCH_VERSION_MAJOR}.{HTTPBATCH_VERSION_MINOR}.{HTTPBATCH_VERSION_PATCH}");
    assert_eq!(
        v, want,
        "update the HTTPBATCH_VERSION_* constants in src/ffi/mod.rs"
    );
}

#[test]
fn guard_turns_panics_into_a_code() {
    assert_eq!(guard(|| Ok(())), R::Ok);
    assert_eq!(guard(|| Err(Fail::null("x"))), R::NullArgument);
    assert_eq!(guard(|| panic!("boom")), R::Panic);
    assert_eq!(guard_or(7, || -> i32 { panic!("boom") }), 7);
}

#[test]
fn str_helper_checks_null_and_utf8() {
    unsafe {
        assert_eq!(try_str(null(), 0, "s").unwrap(), "");
        assert_eq!(try_str(null(), 3, "s").unwrap_err().code, R::NullArgument);
        let bad = b"ab\xffcd";
        let e = try_str(bad.as_ptr().cast(), bad.len(), "s").unwrap_err();
        assert_eq!(e.code, R::InvalidUtf8);
        assert!(e.message.contains("byte 2"), "{}", e.message);
        let good = "héllo";
        assert_eq!(
            try_str(good.as_ptr().cast(), good.len(), "s").unwrap(),
            good
        );
    }
}

#[test]
fn write_text_reports_length_and_truncates_safely() {
    let mut buf = [0x55 as c_char; 8];
    let mut len = 0usize;
    unsafe {
        write_text("hello", buf.as_mut_ptr(), buf.len(), &mut len).unwrap();
        assert_eq!(len, 5);
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "hello");
        let e = write_text("hello world", buf.as_mut_ptr(), buf.len(), &mut len).unwrap_err();
        assert_eq!(e.code, R::BufferTooSmall);
        assert_eq!(len, 11);
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "hello w");
        // Exactly the text and no room for the NUL: too small.
        let e = write_text("hello", buf.as_mut_ptr(), 5, &mut len).unwrap_err();
        assert_eq!(e.code, R::BufferTooSmall);
        // Length query.
        let e = write_text("abc", null_mut(), 0, &mut len).unwrap_err();
        assert_eq!((e.code, len), (R::BufferTooSmall, 3));
        assert_eq!(
            write_text("abc", null_mut(), 4, null_mut())
                .unwrap_err()
                .code,
            R::NullArgument
        );
    }
}

#[test]
fn write_sized_checks_struct_size() {
    let stats = |size: usize| httpbatch_connection_stats {
        struct_size: size,
        opened: 0,
        closed: 0,
        live: 0,
        requests: 0,
        reused: 0,
    };
    let value = httpbatch_connection_stats {
        opened: 3,
        ..stats(0)
    };
    let size = std::mem::size_of::<httpbatch_connection_stats>();
    for bad in [0, 8, size - 8, size + 8, usize::MAX] {
        let mut out = stats(bad);
        let e = unsafe { write_sized(&mut out, value, "out") }.unwrap_err();
        assert_eq!(e.code, R::BadStructSize, "size {bad}");
        assert_eq!(out.opened, 0, "nothing written for size {bad}");
    }
    let mut out = stats(size);
    unsafe { write_sized(&mut out, value, "out") }.unwrap();
    assert_eq!((out.struct_size, out.opened), (size, 3));
    assert_eq!(
        unsafe { write_sized(null_mut(), value, "out") }
            .unwrap_err()
            .code,
        R::NullArgument
    );
}

#[test]
fn null_arguments_are_codes_not_crashes() {
    assert_eq!(httpbatch_request_new(null_mut()), R::NullArgument);
    assert_eq!(httpbatch_batch_new(null_mut()), R::NullArgument);
    assert_eq!(
        httpbatch_request_set_url(null_mut(), null(), 0),
        R::NullArgument
    );
    assert_eq!(httpbatch_batch_add(null_mut(), null()), R::NullArgument);
    assert_eq!(
        httpbatch_executor_execute(null(), null_mut(), null_mut()),
        R::NullArgument
    );
    assert_eq!(httpbatch_cancel_token_cancel(null()), R::NullArgument);
    assert_eq!(
        httpbatch_executor_builder_build(null_mut(), null_mut()),
        R::NullArgument
    );
    httpbatch_request_free(null_mut());
    httpbatch_batch_free(null_mut());
    httpbatch_batch_result_free(null_mut());
    httpbatch_executor_free(null_mut());
    httpbatch_executor_builder_free(null_mut());
    httpbatch_cancel_token_free(null_mut());
}

fn last_error_of_request(req: *const httpbatch_request) -> String {
    let mut buf = [0 as c_char; 256];
    let mut len = 0;
    assert_eq!(
        httpbatch_request_last_error(req, buf.as_mut_ptr(), buf.len(), &mut len),
        R::Ok
    );
    text(buf.as_ptr(), len)
}

#[test]
fn request_setters_validate_and_record_the_last_error() {
    let mut req = null_mut();
    assert_eq!(httpbatch_request_new(&mut req), R::Ok);
    assert_eq!(last_error_of_request(req), "");
    let url = "ftp://x/";
    assert_eq!(
        httpbatch_request_set_url(req, url.as_ptr().cast(), url.len()),
        R::InvalidUrl
    );
    assert!(last_error_of_request(req).contains("scheme"));
    let (n, v) = ("x-a", "1\r\nInjected: yes");
    assert_eq!(
        httpbatch_request_add_header(req, n.as_ptr().cast(), n.len(), v.as_ptr().cast(), v.len()),
        R::InvalidHeader
    );
    assert!(last_error_of_request(req).contains("CR, LF"));
    let m = "BREW";
    assert_eq!(
        httpbatch_request_set_method(req, m.as_ptr().cast(), m.len()),
        R::InvalidRequest
    );
    // A request whose URL failed validation joins a batch as an error in its own slot; a strict
    // batch refuses it.
    let mut batch = null_mut();
    assert_eq!(httpbatch_batch_new(&mut batch), R::Ok);
    assert_eq!(httpbatch_batch_add(batch, req), R::Ok);
    let mut len = 99;
    assert_eq!(httpbatch_batch_len(batch, &mut len), R::Ok);
    assert_eq!(len, 1);
    assert_eq!(httpbatch_batch_set_strict(batch, true), R::Ok);
    assert_eq!(httpbatch_batch_add(batch, req), R::InvalidUrl);
    assert_eq!(httpbatch_batch_len(batch, &mut len), R::Ok);
    assert_eq!(len, 1);
    httpbatch_batch_free(batch);
    httpbatch_request_free(req);
}

fn executor(workers: usize) -> *mut httpbatch_executor {
    let mut b = null_mut();
    assert_eq!(httpbatch_executor_builder_new(&mut b), R::Ok);
    assert_eq!(
        httpbatch_executor_builder_set_workers(b, 0),
        R::InvalidConfig
    );
    assert_eq!(httpbatch_executor_builder_set_workers(b, workers), R::Ok);
    assert_eq!(httpbatch_executor_builder_set_timeout_ms(b, 5000), R::Ok);
    let mut e = null_mut();
    assert_eq!(httpbatch_executor_builder_build(b, &mut e), R::Ok);
    e
}

fn item(res: *const httpbatch_batch_result, i: usize) -> httpbatch_item {
    let mut it = std::mem::MaybeUninit::<httpbatch_item>::zeroed();
    unsafe { (*it.as_mut_ptr()).struct_size = std::mem::size_of::<httpbatch_item>() };
    assert_eq!(httpbatch_batch_result_item(res, i, it.as_mut_ptr()), R::Ok);
    unsafe { it.assume_init() }
}

unsafe extern "C" fn count_progress(p: *const httpbatch_progress, user: *mut c_void) {
    let p = unsafe { &*p };
    let calls = unsafe { &mut *user.cast::<Vec<(u64, u64)>>() };
    calls.push((p.completed, p.total));
}

#[test]
fn a_batch_end_to_end() {
    let server = Server::start().expect("loopback server");
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    let exec = executor(4);
    let mut batch = null_mut();
    assert_eq!(httpbatch_batch_new(&mut batch), R::Ok);
    let urls = [
        server.url("/ok"),
        server.url("/status/404"),
        refused,
        server.url("/bytes/64"),
    ];
    for u in &urls[..3] {
        assert_eq!(
            httpbatch_batch_add_get(batch, u.as_ptr().cast(), u.len()),
            R::Ok
        );
    }
    let mut req = null_mut();
    assert_eq!(httpbatch_request_new(&mut req), R::Ok);
    let u = &urls[3];
    assert_eq!(
        httpbatch_request_set_url(req, u.as_ptr().cast(), u.len()),
        R::Ok
    );
    assert_eq!(httpbatch_request_set_tag(req, 77), R::Ok);
    assert_eq!(httpbatch_batch_add(batch, req), R::Ok);
    httpbatch_request_free(req);
    let mut calls: Vec<(u64, u64)> = Vec::new();
    assert_eq!(
        httpbatch_batch_set_progress(
            batch,
            Some(count_progress),
            (&mut calls as *mut Vec<(u64, u64)>).cast(),
            0
        ),
        R::Ok
    );
    let mut res = null_mut();
    assert_eq!(httpbatch_executor_execute(exec, batch, &mut res), R::Ok);
    let mut len = 0;
    assert_eq!(httpbatch_batch_result_len(res, &mut len), R::Ok);
    assert_eq!(len, 4);
    let a = item(res, 0);
    assert_eq!(
        (a.outcome, a.status, a.code),
        (httpbatch_outcome::Response, 200, R::Ok)
    );
    assert_eq!(text(a.body.cast(), a.body_len), "ok");
    assert_eq!(unsafe { CStr::from_ptr(a.error_message) }.to_bytes(), b"");
    let b = item(res, 1);
    assert_eq!((b.outcome, b.status), (httpbatch_outcome::Response, 404));
    let c = item(res, 2);
    assert_eq!(
        (c.outcome, c.code),
        (httpbatch_outcome::Error, R::ConnectRefused)
    );
    assert!(text(c.error_message, c.error_message_len).contains("refused"));
    let d = item(res, 3);
    assert_eq!((d.status, d.body_len, d.tag), (200, 64, 77));
    // Headers by index and by name.
    let (mut np, mut nl, mut vp, mut vl) = (null(), 0, null(), 0);
    let n = "Content-Length";
    assert_eq!(
        httpbatch_batch_result_find_header(res, 3, n.as_ptr().cast(), n.len(), &mut vp, &mut vl),
        R::Ok
    );
    assert_eq!(text(vp, vl), "64");
    assert!(d.header_count > 0);
    assert_eq!(
        httpbatch_batch_result_header(res, 3, 0, &mut np, &mut nl, &mut vp, &mut vl),
        R::Ok
    );
    assert_eq!(
        httpbatch_batch_result_header(res, 2, 0, &mut np, &mut nl, &mut vp, &mut vl),
        R::IndexOutOfRange
    );
    let mut it = item(res, 0);
    assert_eq!(
        httpbatch_batch_result_item(res, 4, &mut it),
        R::IndexOutOfRange
    );
    // Summary and stats.
    let mut s = std::mem::MaybeUninit::<httpbatch_batch_summary>::zeroed();
    unsafe { (*s.as_mut_ptr()).struct_size = std::mem::size_of::<httpbatch_batch_summary>() };
    assert_eq!(httpbatch_batch_result_summary(res, s.as_mut_ptr()), R::Ok);
    let s = unsafe { s.assume_init() };
    assert_eq!((s.total, s.succeeded, s.responses, s.errors), (4, 2, 3, 1));
    let mut st = std::mem::MaybeUninit::<httpbatch_executor_stats>::zeroed();
    unsafe { (*st.as_mut_ptr()).struct_size = std::mem::size_of::<httpbatch_executor_stats>() };
    assert_eq!(httpbatch_executor_stats_get(exec, st.as_mut_ptr()), R::Ok);
    let st = unsafe { st.assume_init() };
    assert_eq!(st.requests, 4);
    assert_eq!(st.errors[R::ConnectRefused as usize], 1);
    assert_eq!(st.errors_total, 1);
    // Progress ran on this thread and ended at 100 %.
    assert_eq!(calls.last(), Some(&(4, 4)));
    // The batch was drained by the run.
    assert_eq!(httpbatch_batch_len(batch, &mut len), R::Ok);
    assert_eq!(len, 0);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

#[test]
fn cancel_from_another_thread_stops_a_batch() {
    let server = Server::start().expect("loopback server");
    let exec = executor(2);
    let mut batch = null_mut();
    assert_eq!(httpbatch_batch_new(&mut batch), R::Ok);
    let u = server.url("/delay/5000");
    for _ in 0..50 {
        assert_eq!(
            httpbatch_batch_add_get(batch, u.as_ptr().cast(), u.len()),
            R::Ok
        );
    }
    let mut token = null_mut();
    assert_eq!(httpbatch_cancel_token_new(&mut token), R::Ok);
    assert_eq!(httpbatch_batch_set_cancel_token(batch, token), R::Ok);
    let shared = token as usize;
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            httpbatch_cancel_token_cancel(shared as *const httpbatch_cancel_token),
            R::Ok
        );
    });
    let started = std::time::Instant::now();
    let mut res = null_mut();
    assert_eq!(httpbatch_executor_execute(exec, batch, &mut res), R::Ok);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    t.join().unwrap();
    let mut cancelled = false;
    assert_eq!(
        httpbatch_cancel_token_is_cancelled(token, &mut cancelled),
        R::Ok
    );
    assert!(cancelled);
    for i in 0..50 {
        assert_eq!(item(res, i).outcome, httpbatch_outcome::Cancelled);
    }
    httpbatch_batch_result_free(res);
    httpbatch_cancel_token_free(token);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}
