// The codes of the C interface itself, beside `0` (success) and the error kinds of
// `src/error/table.rs`. Read only by `build.rs`, which generates `httpbatch_result`
// (`src/ffi/codes.rs`) and the Go constants from both tables; `scripts/gen-codes.sh` rewrites them.
//
// Each row: doc lines, then `Name = number, "snake_name", "short description";`.
// Rules: numbers are 1000 and up, stable, never reused.
interface_codes! {
    /// A required pointer argument was NULL.
    NullArgument = 1000, "null_argument", "NULL argument";
    /// A text argument is not valid UTF-8.
    InvalidUtf8 = 1001, "invalid_utf8", "invalid UTF-8";
    /// The `struct_size` of an output struct is not a size this library knows.
    BadStructSize = 1002, "bad_struct_size", "bad struct_size";
    /// The output buffer is too small; the length needed was written to the length out-pointer.
    BufferTooSmall = 1003, "buffer_too_small", "buffer too small";
    /// The library panicked inside this call; the call had no effect that can be relied on.
    Panic = 1004, "panic", "panic inside httpbatch";
    /// An index is past the end (of a result's items or an item's headers).
    IndexOutOfRange = 1005, "index_out_of_range", "index out of range";
    /// The item looked up does not exist (for instance a header the response does not have).
    NotFound = 1006, "not_found", "not found";
    /// An argument is out of its allowed range (the message on the object says which).
    InvalidArgument = 1007, "invalid_argument", "invalid argument";
}
