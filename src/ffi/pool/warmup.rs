//! `httpbatch_pool_warmup` and its report.

use std::ffi::c_char;

use crate::pool::WarmupReport;

use crate::ffi::base::{
    Fail, StructSize, free_raw, guard, guard_on, guard_or, into_raw, try_out, try_ref, try_str,
    write_sized,
};
use crate::ffi::executor::micros;
use crate::ffi::httpbatch_result;

use super::{host_list, httpbatch_pool};

/// What a warmup did (opaque), one entry per host in the order given. Immutable; not to be freed
/// while another thread reads it.
pub struct httpbatch_warmup_report {
    report: WarmupReport,
    /// Per host: its transport errors joined, NUL-terminated.
    messages: Vec<std::ffi::CString>,
}

/// Opens `connections` connections to each host concurrently (each warmup request holds its
/// connection until all have arrived, so they are distinct sockets) and writes a report to
/// `*report_out`. `hosts` is a newline-separated list of URLs or origins (`hosts_len` bytes of
/// UTF-8, copied), e.g. `"http://127.0.0.1:8080\nhttp://127.0.0.1:8081"`. A host that fails is
/// reported in its entry; the call itself succeeds. At most 64 threads per host do the work, so
/// one call opens at most 4096 connections per host; `SIZE_MAX` means as many as allowed.
///
/// Ownership: the caller frees `*report_out` with `httpbatch_warmup_report_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_warmup(
    pool: *const httpbatch_pool,
    hosts: *const c_char,
    hosts_len: usize,
    connections: usize,
    report_out: *mut *mut httpbatch_warmup_report,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        // SAFETY: pointers are NULL or valid, per the header.
        let text = unsafe { try_str(hosts, hosts_len, "hosts") }?;
        let out = unsafe { try_out(report_out, "report_out") }?;
        out.write(std::ptr::null_mut());
        let report = p.pool.warmup(&host_list(text), connections);
        let messages = report
            .hosts
            .iter()
            .map(|h| {
                let mut m: Vec<String> = h.errors.iter().map(|e| e.to_string()).collect();
                m.dedup();
                crate::ffi::result::c_text(m.join("; "))
            })
            .collect();
        out.write(into_raw(httpbatch_warmup_report { report, messages }));
        Ok(())
    })
}

/// The warmup of one host. Set `struct_size` before `httpbatch_warmup_report_host`. Pointers are
/// owned by the report and valid until `httpbatch_warmup_report_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_host_warmup {
    /// Set by the caller to `sizeof(httpbatch_host_warmup)`.
    pub struct_size: usize,
    /// The host's origin (`scheme://host:port`; empty if it could not be parsed), not
    /// NUL-terminated.
    pub origin: *const c_char,
    /// Length of `origin`.
    pub origin_len: usize,
    /// Connections asked for.
    pub requested: u64,
    /// Requests sent (capped at the idle-connection cap per origin, and at 4096).
    pub attempted: u64,
    /// Sockets opened during the warmup (counted at the socket).
    pub opened: u64,
    /// Sockets open to the origin afterwards.
    pub live: u64,
    /// Requests answered with 2xx or 3xx.
    pub ok: u64,
    /// Requests that failed (transport error or 4xx/5xx).
    pub failed: u64,
    /// Microseconds this host's warmup took.
    pub elapsed_us: u64,
    /// The transport errors, joined with `; ` (NUL-terminated, `""` if none).
    pub errors: *const c_char,
    /// Length of `errors` without the NUL.
    pub errors_len: usize,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_host_warmup {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_host_warmup>()];
}

/// Writes the number of hosts in the report to `*len_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_len(
    report: *const httpbatch_warmup_report,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(report, "report") }?;
        unsafe { try_out(len_out, "len_out") }?.write(r.report.hosts.len());
        Ok(())
    })
}

/// Writes host `index` of the report into `*host_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_host(
    report: *const httpbatch_warmup_report,
    index: usize,
    host_out: *mut httpbatch_host_warmup,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(report, "report") }?;
        let h = r.report.hosts.get(index).ok_or_else(|| {
            Fail::new(
                httpbatch_result::IndexOutOfRange,
                format!("host {index} of {}", r.report.hosts.len()),
            )
        })?;
        let msg = &r.messages[index];
        let c = httpbatch_host_warmup {
            struct_size: std::mem::size_of::<httpbatch_host_warmup>(),
            origin: h.origin.as_ptr().cast(),
            origin_len: h.origin.len(),
            requested: h.requested as u64,
            attempted: h.attempted as u64,
            opened: h.opened,
            live: h.live,
            ok: h.ok as u64,
            failed: h.failed as u64,
            elapsed_us: micros(h.elapsed),
            errors: msg.as_ptr(),
            errors_len: msg.as_bytes().len(),
        };
        unsafe { write_sized(host_out, c, "host_out") }
    })
}

/// Frees a warmup report (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_free(report: *mut httpbatch_warmup_report) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_pool_warmup`, freed once.
        unsafe { free_raw(report) }
    })
}
