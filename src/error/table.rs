// THE error-kind table: the one place an error kind is written down.
//
// Read twice: by `src/error.rs` (through `include!`), whose `error_kinds!` makes `ErrorKind`, its
// names, numbers and descriptions from it; and by `build.rs`, which generates from it the C
// codes (`src/ffi/codes.rs`, hence `include/httpbatch.h` via cbindgen) and the Go constants
// (`ffi-tests/go/codes.go`). A build fails while those generated files disagree with this table;
// `scripts/gen-codes.sh` rewrites them.
//
// Each row: doc lines, then `Name = number, "snake_name", "short description";`.
// Rules: numbers are stable and never reused; a new kind takes the next number at the end
// (numbers are 1, 2, 3, … in table order); names are unique snake_case.
error_kinds! {
    /// The URL could not be parsed, or its scheme is not `http` or `https`.
    InvalidUrl = 1, "invalid_url", "invalid URL";
    /// A header name or value is malformed (for instance it contains CR or LF).
    InvalidHeader = 2, "invalid_header", "invalid header";
    /// Some other part of the request is invalid (for instance a method name).
    InvalidRequest = 3, "invalid_request", "invalid request";
    /// The host name could not be resolved.
    Dns = 4, "dns", "host name could not be resolved";
    /// The server refused the connection.
    ConnectRefused = 5, "connect_refused", "connection refused";
    /// The connection was reset or closed before the response was complete.
    ConnectionReset = 6, "connection_reset", "connection reset";
    /// A timeout expired (connect, or the whole request).
    Timeout = 7, "timeout", "timeout";
    /// The response body is larger than the configured limit.
    BodyTooLarge = 8, "body_too_large", "response body too large";
    /// The TLS handshake or a TLS record failed.
    Tls = 9, "tls", "TLS failure";
    /// The server spoke something that is not valid HTTP/1.1.
    Protocol = 10, "protocol", "HTTP protocol error";
    /// Another I/O error.
    Io = 11, "io", "I/O error";
    /// The request was cancelled through a cancel token or by shutdown.
    Cancelled = 12, "cancelled", "cancelled";
    /// The request was never started (fail-fast tripped, or a deadline passed first).
    NotRun = 13, "not_run", "not run";
    /// The batch deadline passed while the request was waiting or in flight.
    DeadlineExceeded = 14, "deadline_exceeded", "deadline exceeded";
    /// User code (an executor or a callback) or the library panicked while handling this request.
    Panicked = 15, "panicked", "panicked while handling the request";
    /// The host is marked unhealthy and its circuit is open: the request failed fast.
    CircuitOpen = 16, "circuit_open", "circuit open: host unhealthy";
    /// The component was stopped or shut down; it accepts no more work.
    Stopped = 17, "stopped", "stopped";
    /// Too many redirects, or a redirect that could not be followed.
    Redirect = 18, "redirect", "redirect failed";
    /// An invalid configuration value (for instance zero workers or a zero rate).
    InvalidConfig = 19, "invalid_config", "invalid configuration";
    /// The retry budget is exhausted: the request was not retried to protect a failing host.
    RetryBudgetExhausted = 20, "retry_budget_exhausted", "retry budget exhausted";
    /// The server answered this item with an error of its own inside a combined answer that
    /// went through (a JSON-RPC error object); the item's `coalesce::ItemError::Remote` has the
    /// code, message and data.
    Remote = 21, "remote", "the server answered the item with an error";
    /// A bounded queue was full, so the request was not sent (request coalescing's queue of
    /// held requests).
    QueueFull = 22, "queue_full", "queue full: request not sent";
}
