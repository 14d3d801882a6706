//! Unit tests of the FFI helpers and of the exported functions called as C would call them.
