//! The machinery every exported function uses: result codes, the panic guard, pointer helpers,
//! per-object last-error text and growable output structs.
//!
//! Invariants:
//! - Every exported body runs inside [`guard`] (or [`guard_or`] for the few functions that do not
//!   return a code), so a panic never unwinds into C: it becomes [`httpbatch_result::Panic`].
//! - Raw pointers become references only through the `try_*` helpers here, which check for NULL
//!   (and UTF-8, for text) and fail with a code instead of crashing.
//! - Per-object error text lives in the object ([`LastError`]), never in a thread-local: a Go
//!   goroutine may run consecutive calls on different OS threads.

use std::ffi::c_char;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

use parking_lot::Mutex;

use crate::error::Error;

pub use super::codes::httpbatch_result;

impl httpbatch_result {
    /// A static, NUL-terminated description of any number (unknown ones get a generic text).
    pub(crate) fn describe_code(code: u32) -> &'static std::ffi::CStr {
        match Self::ALL.iter().find(|r| **r as u32 == code) {
            Some(r) => r.describe(),
            None => c"unknown httpbatch_result code",
        }
    }
}

/// A failed call: its code and, when there is more to say, a message for the object's last error.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: httpbatch_result,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(code: httpbatch_result, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(
            httpbatch_result::NullArgument,
            format!("argument `{what}` is NULL"),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail::new(httpbatch_result::InvalidArgument, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::new(httpbatch_result::from_kind(e.kind()), e.to_string())
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Fail>;

/// Runs an exported body: a panic becomes [`httpbatch_result::Panic`], never an unwind into C.
pub(crate) fn guard(f: impl FnOnce() -> FfiResult) -> httpbatch_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => httpbatch_result::Ok,
        Ok(Err(fail)) => fail.code,
        Err(_) => httpbatch_result::Panic,
    }
}

/// Runs an exported body that returns a value rather than a code; `fallback` on panic.
pub(crate) fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Runs an exported body on an object that keeps a last error: a failure's message is recorded
/// on the object before its code is returned.
pub(crate) fn guard_on<T: HasLastError>(
    obj: *const T,
    what: &str,
    f: impl FnOnce(&T) -> FfiResult,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: the caller passes a pointer from the matching `_new` (or NULL, refused here).
        let obj = unsafe { try_ref(obj, what) }?;
        match catch_unwind(AssertUnwindSafe(|| f(obj))) {
            Ok(r) => obj.last_error().record(r),
            Err(_) => {
                obj.last_error().set("panic inside httpbatch");
                Err(Fail::new(httpbatch_result::Panic, "panic"))
            }
        }
    })
}

/// As [`guard_on`], for objects the call mutates (not shared across threads).
pub(crate) fn guard_on_mut<T: HasLastError>(
    obj: *mut T,
    what: &str,
    f: impl FnOnce(&mut T) -> FfiResult,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: as in `guard_on`; the header forbids concurrent use of mutable objects.
        let obj = unsafe { try_mut(obj, what) }?;
        match catch_unwind(AssertUnwindSafe(|| f(&mut *obj))) {
            Ok(r) => obj.last_error().record(r),
            Err(_) => {
                obj.last_error().set("panic inside httpbatch");
                Err(Fail::new(httpbatch_result::Panic, "panic"))
            }
        }
    })
}

/// A NULL-checked shared reference.
///
/// # Safety
/// `p` is NULL or points to a live `T` that outlives `'a`.
pub(crate) unsafe fn try_ref<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: forwarded to the caller.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(what))
}

/// A NULL-checked exclusive reference.
///
/// # Safety
/// `p` is NULL or points to a live `T` that outlives `'a` and is not used elsewhere meanwhile.
pub(crate) unsafe fn try_mut<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: forwarded to the caller.
    unsafe { p.as_mut() }.ok_or_else(|| Fail::null(what))
}

/// A NULL-checked out-pointer, to be written with `MaybeUninit::write`.
///
/// # Safety
/// `p` is NULL or valid for a write of `T` (its old content is not read or dropped).
pub(crate) unsafe fn try_out<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut MaybeUninit<T>> {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; forwarded to the caller.
    unsafe { p.cast::<MaybeUninit<T>>().as_mut() }.ok_or_else(|| Fail::null(what))
}

/// Bytes from pointer + length. NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes during `'a`.
pub(crate) unsafe fn try_bytes<'a>(p: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Fail::invalid(format!("length of `{what}` is too large")));
    }
    // SAFETY: non-NULL, length checked against isize::MAX; validity forwarded to the caller.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// UTF-8 text from pointer + length (no NUL terminator needed). NULL is allowed when `len` is 0.
///
/// # Safety
/// As [`try_bytes`].
pub(crate) unsafe fn try_str<'a>(p: *const c_char, len: usize, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded to the caller.
    let bytes = unsafe { try_bytes(p.cast(), len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Fail::new(
            httpbatch_result::InvalidUtf8,
            format!("`{what}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Moves `value` to the heap and returns the pointer C owns until the matching `_free`.
pub(crate) fn into_raw<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Drops an object made by [`into_raw`]; NULL is ignored.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] with the same `T` and was not freed before.
pub(crate) unsafe fn free_raw<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: forwarded to the caller.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Copies `text` and a NUL into `buf` (`buf_len` bytes) and its length (without the NUL) into
/// `*len_out`. Fails with [`httpbatch_result::BufferTooSmall`] when it does not fit; the buffer
/// then holds the prefix that fits, NUL-terminated (when `buf_len > 0`).
///
/// # Safety
/// `buf` is NULL or valid for `buf_len` byte writes; `len_out` is NULL or valid for a write.
pub(crate) unsafe fn write_text(
    text: &str,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> FfiResult {
    if !len_out.is_null() {
        // SAFETY: checked non-NULL; validity forwarded to the caller.
        unsafe { len_out.write(text.len()) };
    }
    if buf.is_null() {
        return if buf_len == 0 {
            Err(Fail::new(
                httpbatch_result::BufferTooSmall,
                "no buffer given; the length needed was written",
            ))
        } else {
            Err(Fail::null("buf"))
        };
    }
    let fits = buf_len > text.len();
    let n = if fits {
        text.len()
    } else {
        buf_len.saturating_sub(1)
    };
    if buf_len > 0 {
        // SAFETY: `n < buf_len`, so `n` bytes and the NUL after them lie inside `buf`.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    if fits {
        Ok(())
    } else {
        Err(Fail::new(
            httpbatch_result::BufferTooSmall,
            format!(
                "buffer of {buf_len} bytes is too small for {} bytes and a NUL",
                text.len()
            ),
        ))
    }
}

/// The text of the most recent failed call on an object. Never a thread-local.
#[derive(Debug, Default)]
pub(crate) struct LastError(Mutex<String>);

impl LastError {
    pub(crate) fn set(&self, message: &str) {
        let mut m = self.0.lock();
        m.clear();
        m.push_str(message);
    }

    pub(crate) fn get(&self) -> String {
        self.0.lock().clone()
    }

    pub(crate) fn record<T>(&self, r: FfiResult<T>) -> FfiResult<T> {
        if let Err(f) = &r {
            self.set(&f.message);
        }
        r
    }
}

/// Objects that carry a [`LastError`].
pub(crate) trait HasLastError {
    fn last_error(&self) -> &LastError;
}

/// The body of every `httpbatch_<object>_last_error` function: copies the object's last error
/// text into the caller's buffer (see [`write_text`]).
pub(crate) fn last_error_into<T: HasLastError>(
    obj: *const T,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `obj` is NULL or a live object, per the header's contract.
        let obj = unsafe { try_ref(obj, "obj") }?;
        let text = obj.last_error().get();
        // SAFETY: `buf`/`len_out` validity is the caller's contract.
        unsafe { write_text(&text, buf, buf_len, len_out) }
    })
}

/// Output structs that start with `size_t struct_size`, checked before writing.
///
/// # Safety
/// Implementors are `#[repr(C)]` and their first field is `struct_size: usize`.
pub(crate) unsafe trait StructSize: Copy {
    /// Every size a caller may pass: the current `size_of::<Self>()` and those of older versions
    /// (each a prefix of the current layout).
    const KNOWN_SIZES: &'static [usize];
}

/// Writes `value` into a caller-provided struct whose `struct_size` the caller has set, copying
/// only the prefix that the caller's version of the struct has. Unknown sizes (smaller than the
/// first version, larger than this library's, or in between) fail with
/// [`httpbatch_result::BadStructSize`] and write nothing.
///
/// # Safety
/// `out` is NULL or valid for reads of a `usize` and for writes of the `struct_size` it holds.
pub(crate) unsafe fn write_sized<T: StructSize>(
    out: *mut T,
    mut value: T,
    what: &str,
) -> FfiResult {
    if out.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: the first field of every `StructSize` type is `struct_size: usize`; `out` is non-NULL.
    let size = unsafe { out.cast::<usize>().read() };
    if !T::KNOWN_SIZES.contains(&size) || size > std::mem::size_of::<T>() {
        return Err(Fail::new(
            httpbatch_result::BadStructSize,
            format!(
                "`{what}->struct_size` is {size}; this library knows {:?} (set it to sizeof)",
                T::KNOWN_SIZES
            ),
        ));
    }
    // SAFETY: as above; `value` is a `T`, so its first field is the size.
    unsafe { (&mut value as *mut T).cast::<usize>().write(size) };
    // SAFETY: `size <= size_of::<T>()` bytes of `value` are readable; `out` has room for `size`.
    unsafe {
        std::ptr::copy_nonoverlapping((&value as *const T).cast::<u8>(), out.cast::<u8>(), size)
    };
    Ok(())
}
