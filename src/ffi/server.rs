//! `httpbatch_test_server`: the loopback demo/test server, so C, C++ and Go tests and examples
//! are self-contained on 127.0.0.1 with no subprocess and no network.

use std::ffi::c_char;

use crate::loopback::Server;

use super::base::{
    Fail, FfiResult, free_raw, guard, guard_or, into_raw, try_out, try_ref, try_str, write_text,
};
use super::httpbatch_result;

/// A scripted HTTP/1.1 server on 127.0.0.1 (opaque), for tests, examples and demos, not for
/// production traffic. Thread-safe. Routes (by URL path):
/// `/ok` (200 `ok`), `/status/{code}`, `/bytes/{n}` (n bytes of `x`), `/delay/{ms}`,
/// `/echo` (echoes the body; headers `x-echo-method`, `x-echo-h-NAME` for each request header),
/// `/seq/{key}?s=503,503,200&retry_after=S` (the nth request to key gets the nth status),
/// `/flaky/{key}?fail=N`, `/limited/{key}?n=N`, `/close`, `/reset` (closes without answering);
/// anything else is 404.
pub struct httpbatch_test_server {
    server: Server,
}

fn server<'a>(p: *const httpbatch_test_server) -> FfiResult<&'a Server> {
    // SAFETY: `p` is NULL or a live server, per the header.
    Ok(&unsafe { try_ref(p, "server") }?.server)
}

/// Starts a loopback server on `127.0.0.1:port` (0: a free port the system picks) and writes it
/// to `*server_out`. Fails with `HTTPBATCH_RESULT_IO` if the port cannot be bound.
///
/// Ownership: the caller owns the server and frees it with `httpbatch_test_server_free`, which
/// stops it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_start(
    port: u16,
    server_out: *mut *mut httpbatch_test_server,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `server_out` is NULL or writable, per the header.
        let out = unsafe { try_out(server_out, "server_out") }?;
        out.write(std::ptr::null_mut());
        let server = Server::builder()
            .port(port)
            .start()
            .map_err(|e| Fail::new(httpbatch_result::Io, e.to_string()))?;
        out.write(into_raw(httpbatch_test_server { server }));
        Ok(())
    })
}

/// Writes the server's port to `*port_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_port(
    server: *const httpbatch_test_server,
    port_out: *mut u16,
) -> httpbatch_result {
    guard(|| {
        let s = self::server(server)?;
        // SAFETY: `port_out` is NULL or writable, per the header.
        unsafe { try_out(port_out, "port_out") }?.write(s.addr().port());
        Ok(())
    })
}

/// Writes `http://127.0.0.1:PORT` followed by `path` (`path_len` bytes of UTF-8 starting with
/// `/`) into `buf` (`buf_len` bytes, NUL-terminated), and the URL's length without the NUL into
/// `*len_out` (may be NULL). A buffer too small gets the prefix that fits and the call returns
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` (pass `buf = NULL, buf_len = 0` to ask for the length).
/// A path not starting with `/` fails with `HTTPBATCH_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_url(
    server: *const httpbatch_test_server,
    path: *const c_char,
    path_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        let s = self::server(server)?;
        // SAFETY: `path` is valid for `path_len` bytes, per the header.
        let path = unsafe { try_str(path, path_len, "path") }?;
        if !path.starts_with('/') {
            return Err(Fail::invalid("path must start with '/'"));
        }
        // SAFETY: `buf`/`len_out` validity is the caller's contract.
        unsafe { write_text(&s.url(path), buf, buf_len, len_out) }
    })
}

/// Writes the number of requests the server has answered (or started answering) to
/// `*requests_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_requests(
    server: *const httpbatch_test_server,
    requests_out: *mut u64,
) -> httpbatch_result {
    guard(|| {
        let s = self::server(server)?;
        // SAFETY: `requests_out` is NULL or writable, per the header.
        unsafe { try_out(requests_out, "requests_out") }?.write(s.requests());
        Ok(())
    })
}

/// Writes the number of TCP connections the server has accepted to `*accepted_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_accepted(
    server: *const httpbatch_test_server,
    accepted_out: *mut u64,
) -> httpbatch_result {
    guard(|| {
        let s = self::server(server)?;
        // SAFETY: `accepted_out` is NULL or writable, per the header.
        unsafe { try_out(accepted_out, "accepted_out") }?.write(s.accepted());
        Ok(())
    })
}

/// Writes the most requests the server has had in flight at once to `*max_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_max_in_flight(
    server: *const httpbatch_test_server,
    max_out: *mut u64,
) -> httpbatch_result {
    guard(|| {
        let s = self::server(server)?;
        // SAFETY: `max_out` is NULL or writable, per the header.
        unsafe { try_out(max_out, "max_out") }?.write(s.max_in_flight());
        Ok(())
    })
}

/// Stops the server: closes every connection and joins its threads. Idempotent; `_free` does it
/// too.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_stop(
    server: *const httpbatch_test_server,
) -> httpbatch_result {
    guard(|| {
        self::server(server)?.stop();
        Ok(())
    })
}

/// Stops and frees the server (NULL is ignored). No other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_test_server_free(server: *mut httpbatch_test_server) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_test_server_start`, freed once.
        unsafe { free_raw(server) }
    })
}
