//! A connection's input and output buffers: allocated on first use, the input grown only for a
//! response head that does not fit (up to the configured maximum) and shrunk back once read.
//!
//! Invariants:
//! - `consumed <= filled <= input.len()`; `input[consumed..filled]` is what ureq holds unparsed.
//! - ureq asks for room to read into only when it cannot use what it holds (a head, or a line,
//!   longer than what has arrived). With the input full, room comes from moving the unparsed
//!   bytes to the front, else from doubling the buffer, never past `max_input`: then the room
//!   is empty, which the counting transport reports as a head too large.
//! - Once everything is consumed, a grown input shrinks back to `input_size`, so only a
//!   connection that is reading a large head holds a large buffer.

use ureq::unversioned::transport::Buffers;

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
}

/// Room ureq needs in the input buffer for its temporary work while sending a body.
const MIN_TMP: usize = 10 * 1024;

impl GrowBuffers {
    pub(crate) fn new(input_size: usize, output_size: usize, max_input: usize) -> GrowBuffers {
        GrowBuffers {
            input: Vec::new(),
            filled: 0,
            consumed: 0,
            input_size: input_size.max(1),
            max_input: max_input.max(input_size),
            output: Vec::new(),
            output_size: output_size.max(1),
            progress: false,
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
    /// consumed (a grown buffer then shrinks back), else once past half the buffer or when
    /// `full`.
    fn shift(&mut self, full: bool) {
        if self.consumed == 0 {
            return;
        }
        if self.consumed == self.filled {
            self.consumed = 0;
            self.filled = 0;
            if self.input.len() > self.input_size {
                self.input.truncate(self.input_size);
                self.input.shrink_to_fit();
            }
        } else if full || self.filled > self.input.len() / 2 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
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
        if self.filled == self.input.len() && self.input.len() < self.max_input {
            let grown = (self.input.len() * 2).min(self.max_input);
            self.input.resize(grown, 0);
        }
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        self.filled += amount;
        assert!(self.filled <= self.input.len());
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed += amount;
        assert!(self.consumed <= self.filled);
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.ensure_allocation();
        self.shift(false);
        if self.input.len() - self.filled < MIN_TMP {
            self.input.resize(self.filled + MIN_TMP, 0);
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
        assert_eq!(b.input_append_buf().len(), 1024, "shrunk back once read");
        assert_eq!(b.input.capacity(), 1024);
    }
}
