//! Connection figures, derived from the counting connector's counters when read.

use std::sync::atomic::Ordering;

use super::connector::ConnCounters;

/// Connection figures, counted at the socket (not estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Sockets opened.
    pub opened: u64,
    /// Sockets closed (by either side, or dropped from the idle pool); an idle socket the peer
    /// has closed counts as closed as soon as statistics are read.
    pub closed: u64,
    /// Sockets open now: `opened - closed`.
    pub live: u64,
    /// Requests sent (attempts that reached a connection).
    pub requests: u64,
    /// Requests served on an already open connection: `requests - opened`.
    pub reused: u64,
}

impl ConnectionStats {
    pub(super) fn read(c: &ConnCounters) -> ConnectionStats {
        // Read `closed` before `opened` so a close racing with the read cannot make live negative.
        let closed = c.closed.load(Ordering::Acquire);
        let opened = c.opened.load(Ordering::Acquire).max(closed);
        let requests = c.requests.load(Ordering::Acquire);
        ConnectionStats {
            opened,
            closed,
            live: opened - closed,
            requests,
            reused: requests.saturating_sub(opened),
        }
    }

    pub(super) fn add(mut self, o: ConnectionStats) -> ConnectionStats {
        self.opened += o.opened;
        self.closed += o.closed;
        self.live += o.live;
        self.requests += o.requests;
        self.reused += o.reused;
        self
    }
}
