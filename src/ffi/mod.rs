//! The C ABI (`include/httpbatch.h`, generated from this module by cbindgen): the only place in
//! the crate with `unsafe`.
//!
//! Conventions (the header repeats them for C users):
//! - Every function but `httpbatch_version`, `httpbatch_result_str` and the `_free` functions
//!   returns an `httpbatch_result` code; `0` is success.
//! - Objects are opaque handles made by `_new` (or a builder's `_build`) and released by `_free`,
//!   which accepts NULL.
//! - Inputs are copied during the call; outputs are owned by the object they were read from.
//! - Each object keeps the text of its last failure (`_last_error`), never a thread-local.
//! - Every body runs in the panic guard of [`base`]; raw pointers become references only through
//!   its NULL-checking helpers.
#![allow(non_camel_case_types)]
// The exported functions take raw pointers from C callers, who uphold the contract the header
// states for each function; the NULL checks and copies happen in `base`'s helpers.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub(crate) mod base;
mod cancel;
mod control;
mod executor;
mod limiter;
mod net;
mod pool;
#[cfg(feature = "redis")]
mod redis;
mod request;
mod result;

#[cfg(test)]
mod tests;

use std::ffi::c_char;

pub use base::httpbatch_result;

/// The library's version, `MAJOR.MINOR.PATCH`, as a static NUL-terminated string (never freed).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_version() -> *const c_char {
    base::guard_or(c"".as_ptr(), || VERSION.as_ptr())
}

const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("version has no NUL"),
};

// The version constants exist for C (through the header); Rust code reads CARGO_PKG_VERSION.
/// Major version of the header this program was compiled with (compare with
/// `httpbatch_version()` at run time).
#[allow(dead_code)]
pub const HTTPBATCH_VERSION_MAJOR: u32 = 0;
/// Minor version of the header.
#[allow(dead_code)]
pub const HTTPBATCH_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
#[allow(dead_code)]
pub const HTTPBATCH_VERSION_PATCH: u32 = 0;

/// A static, NUL-terminated description of `code` (any number; unknown codes get a generic
/// text). Never freed, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_result_str(code: u32) -> *const c_char {
    base::guard_or(c"panic".as_ptr(), || {
        httpbatch_result::describe(code).as_ptr()
    })
}
