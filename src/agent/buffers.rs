//! A connection's input and output buffers: allocated on first use, the input started at
//! [`INPUT_START`] at most, grown for a response head that does not fit and while a large body
//! streams through (up to the configured maximum), and shrunk back once read.
//!
//! The output keeps the configured size: ureq writes a request head line by line and fails a
//! line longer than the whole output, so its size is the longest request line or header line
//! that can be sent. The input has no such limit (it grows), so it starts small.
//!
//! Invariants:
//! - `consumed <= filled <= input.len() <= max_input`; `input[consumed..filled]` is what ureq
//!   holds unparsed.
//! - ureq asks for room to read into only when it cannot use what it holds (a head, or a line,
//!   longer than what has arrived). With the input full, room comes from moving the unparsed
//!   bytes to the front, else from doubling the buffer, never past `max_input`: then the room
//!   is empty, which the counting transport reports as a head too large.
//! - A read that fills the whole (empty) buffer marks the connection `streaming`: a body larger
//!   than the buffer is coming through, and the next whole-buffer read gets twice the room (up
//!   to `max_input`), so a large body takes fewer, larger reads (as hyper's adaptive read
//!   buffer does) while a small exchange keeps the small buffer.
//! - Once everything is consumed and the last read did not fill the buffer, a grown input
//!   shrinks back to its starting size at once, so only a connection that is reading a large head or
//!   body holds a large buffer, and an idle pooled one holds the starting size.

use ureq::unversioned::transport::Buffers;

/// The input's starting size when the configured one is larger: hyper's first read buffer too.
/// A response head up to this size is read without growing; W1's 64-byte responses (about 100
/// bytes with their head) use one page of it. 8 KiB less per connection than the 16 KiB
/// default: 0.25 MiB of peak RSS at 32 connections, 1 MiB at 128.
pub(crate) const INPUT_START: usize = 8 * 1024;

#[derive(Debug)]
pub(crate) struct GrowBuffers {
    input: Vec<u8>,
    filled: usize,
    consumed: usize,
    input_size: usize,
    max_input: usize,
    output: Vec<u8>,
    output_size: usize,
    progress: bool,
    /// Room the last `input_append_buf` handed out.
    offered: usize,
    /// The last read filled the whole buffer (see the invariants).
    streaming: bool,
}

impl GrowBuffers {
    pub(crate) fn new(input_size: usize, output_size: usize, max_input: usize) -> GrowBuffers {
        GrowBuffers {
            input: Vec::new(),
            filled: 0,
            consumed: 0,
            input_size: input_size.clamp(1, INPUT_START),
            max_input: max_input.max(input_size).max(1),
            output: Vec::new(),
            output_size: output_size.max(1),
            progress: false,
            offered: 0,
            streaming: false,
        }
    }

    fn ensure_allocation(&mut self) {
        if self.output.len() < self.output_size {
            self.output.resize(self.output_size, 0);
        }
        if self.input.len() < self.input_size {
            self.input.resize(self.input_size, 0);
        }
    }

    /// Moves the unparsed bytes to the front when that frees room: at once when everything is
    /// consumed (see [`drained`](Self::drained)), else once past half the buffer or when `full`.
    fn shift(&mut self, full: bool) {
        if self.consumed == 0 || self.drained() {
            return;
        }
        if full || self.filled > self.input.len() / 2 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
    }

    /// When everything read is consumed: starts the input over at its front and, unless a body
    /// is streaming through, shrinks a grown input back to `input_size`. Whether it was.
    fn drained(&mut self) -> bool {
        if self.consumed != self.filled {
            return false;
        }
        self.consumed = 0;
        self.filled = 0;
        if self.input.len() > self.input_size && !self.streaming {
            self.input.truncate(self.input_size);
            self.input.shrink_to_fit();
        }
        true
    }
}

impl Buffers for GrowBuffers {
    fn output(&mut self) -> &mut [u8] {
        self.ensure_allocation();
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.consumed..self.filled]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.ensure_allocation();
        let full = self.filled == self.input.len();
        self.shift(full);
        // Full (a head that does not fit), or empty after a read that filled it all (a large
        // body streaming through): twice the room, never past the maximum.
        let grow = self.filled == self.input.len() || (self.filled == 0 && self.streaming);
        if grow && self.input.len() < self.max_input {
            let grown = (self.input.len() * 2).min(self.max_input);
            self.input.resize(grown, 0);
        }
        self.offered = self.input.len() - self.filled;
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        self.streaming = amount > 0 && amount == self.offered && amount == self.input.len();
        self.filled += amount;
        assert!(self.filled <= self.input.len());
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed += amount;
        assert!(self.consumed <= self.filled);
        self.drained();
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.ensure_allocation();
        self.shift(false);
        // ureq reads a chunked request body into `tmp`, at most what fits the output (less
        // chunk framing), and a sized one straight into the output. An empty input is room
        // enough: grow it only when unparsed bytes leave less (ureq's pathological case of a
        // peer talking before it was asked).
        let want = self.output_size.min(self.input_size);
        if self.input.len() - self.filled < want {
            self.input.resize(self.filled + want, 0);
        }
        (&mut self.input[self.filled..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        !self.input().is_empty() && self.progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_grows_for_what_does_not_fit_up_to_the_maximum_and_shrinks_back() {
        let mut b = GrowBuffers::new(1024, 1024, 4096);
        assert!(b.input.is_empty(), "nothing allocated before use");
        assert_eq!(b.input_append_buf().len(), 1024);
        b.input_appended(1024);
        // Full and nothing consumed: room comes from growing, up to the maximum.
        assert_eq!(b.input_append_buf().len(), 1024);
        b.input_appended(1024);
        assert_eq!(b.input_append_buf().len(), 2048);
        b.input_appended(2048);
        assert_eq!(b.input_append_buf().len(), 0, "at the maximum: no room");
        assert_eq!(b.input().len(), 4096);
        // Part consumed: the rest moves to the front instead.
        b.input_consume(1000);
        assert_eq!(b.input_append_buf().len(), 1000);
        assert_eq!(b.input().len(), 3096);
        b.input_consume(3096);
        assert_eq!(b.input.capacity(), 1024, "shrunk back once read");
        assert_eq!(b.input_append_buf().len(), 1024);
    }

    #[test]
    fn the_input_starts_small_and_grows_to_the_configured_size_and_beyond_for_a_head() {
        let mut b = GrowBuffers::new(64 * 1024, 16 * 1024, 64 * 1024);
        assert_eq!(
            b.output().len(),
            16 * 1024,
            "the output keeps its configured size"
        );
        assert_eq!(b.input_append_buf().len(), INPUT_START);
        b.input_appended(INPUT_START - 1);
        let mut room = b.input_append_buf().len();
        while room > 0 {
            b.input_appended(room);
            room = b.input_append_buf().len();
        }
        assert_eq!(
            b.input().len(),
            64 * 1024,
            "a head grows the input to the maximum"
        );
        b.input_consume(64 * 1024);
        assert_eq!(b.input_append_buf().len(), INPUT_START, "and it comes back");
    }

    /// Reads of a body larger than the buffer: each that fills the whole buffer doubles the
    /// next one's room up to the maximum; one that does not fill it (the body's tail) shrinks
    /// the buffer back once consumed, so the idle connection holds the small buffer again.
    #[test]
    fn a_body_that_fills_every_read_gets_larger_reads_and_the_small_buffer_comes_back() {
        let mut b = GrowBuffers::new(1024, 1024, 8192);
        let mut rooms = Vec::new();
        for _ in 0..5 {
            let room = b.input_append_buf().len();
            rooms.push(room);
            b.input_appended(room);
            // ureq hands what it holds to the caller's read.
            b.input_consume(room);
        }
        assert_eq!(
            rooms,
            [1024, 2048, 4096, 8192, 8192],
            "never past the maximum"
        );
        assert_eq!(b.input.len(), 8192, "kept while the body streams");
        // The tail of the body: a short read, consumed; the buffer shrinks at once.
        let room = b.input_append_buf().len();
        b.input_appended(room / 3);
        assert_eq!(b.input.len(), 8192);
        b.input_consume(room / 3);
        assert_eq!((b.input.len(), b.input.capacity()), (1024, 1024));
        assert_eq!(b.input_append_buf().len(), 1024);
    }

    /// Small exchanges (a short read, all of it consumed) never grow the buffer, and a read
    /// that fills only the room after unparsed bytes is no sign of a streaming body.
    #[test]
    fn small_reads_and_partly_filled_buffers_keep_the_buffer_small() {
        let mut b = GrowBuffers::new(1024, 1024, 8192);
        for _ in 0..3 {
            assert_eq!(b.input_append_buf().len(), 1024);
            b.input_appended(200);
            b.input_consume(200);
        }
        // 100 bytes of a head arrive, then the rest of the room fills: not streaming.
        assert_eq!(b.input_append_buf().len(), 1024);
        b.input_appended(100);
        assert_eq!(b.input_append_buf().len(), 924);
        b.input_appended(924);
        b.input_consume(1024);
        assert_eq!(b.input_append_buf().len(), 1024);
        assert_eq!(b.input.len(), 1024);
    }
}
