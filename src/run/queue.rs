//! The dispatch queue between the thread that reads a run's input and its runners.
//!
//! Invariants:
//! - Every field is touched only under `state`'s mutex. The caller's thread pushes; runners pop.
//! - Order: priority descending, input index ascending. While every item so far has priority 0
//!   the queue is a FIFO (input order is index order); the first other priority turns it into a
//!   heap, whose order agrees with the FIFO's on what it already holds. The FIFO holds the
//!   pushed batches themselves (a push moves no item); an emptied one's buffer goes back to the
//!   caller with its next push, for the batch after.
//! - `pop` hands out nothing once the queue is closed or the run's stop token is cancelled, while
//!   the run's control is paused, or once the deadline has passed (then it closes the queue
//!   itself). It reads the token and the control itself, so nothing starts even before the
//!   caller's thread notices. `popped` counts what it handed out; once closed that count is
//!   final and the caller waits for exactly that many outcomes.
//! - Runners block in `pop` only while the input may still bring items (`input_done` false) and
//!   the queue is open; every change that could end that wait (push, close, resume, input end)
//!   notifies under the lock (a resume through [`Queue::wake`], called by the caller's thread).
//!   Before a runner blocks, `pop_waited` runs its `before_wait` (the runner hands over the
//!   outcomes it holds) without the lock, then looks again.
//! - Wake-ups chain: a push wakes one blocked runner, and a runner that takes an item while more
//!   are queued wakes the next, so only as many runners wake as keep up with the queue (all of
//!   them when items are slow, few when items take no time). `woken` counts runners notified
//!   and not yet running, so nobody is notified twice and a push without waiters makes no
//!   syscall; close, input end and resume wake everyone.
//! - `starving` is set when a runner blocks on an empty queue and cleared by a push: the
//!   caller's hint to hand over what it read at once.
//! - The lock is `std`'s: it parks in the kernel after a short spin and never yields.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::execute::CancelToken;

use super::control::BatchControl;

struct Entry<T> {
    priority: i32,
    index: usize,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (i32, Reverse<usize>) {
        (self.priority, Reverse(self.index))
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// An item as pushed and popped: `(index, priority, item)`.
pub(crate) type Queued<T> = (usize, i32, T);

enum Items<T> {
    /// The pushed batches themselves, popped from the front: a push moves a batch in whole
    /// rather than each item again (a `Vec` becomes a `VecDeque` and back without copying).
    Fifo(VecDeque<VecDeque<Queued<T>>>),
    Heap(BinaryHeap<Entry<T>>),
}

struct State<T> {
    items: Items<T>,
    /// The buffer of a batch that ran out, handed back to the caller by its next push for the
    /// batch after: a run's batches reuse their memory instead of allocating (and faulting in)
    /// fresh buffers at every refill.
    spare: Vec<Queued<T>>,
    popped: usize,
    closed: bool,
    input_done: bool,
    waiting: usize,
    /// Of the `waiting`, how many were notified and have not run yet.
    woken: usize,
}

pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    /// Mirrors `state.closed` (set under the lock) for lock-free reads by the caller's loop.
    closed: AtomicBool,
    /// Set when a runner blocks for want of an item, cleared by a push (see the invariants).
    starving: AtomicBool,
    ready: Condvar,
    deadline: Option<Instant>,
    stop: CancelToken,
    control: Option<BatchControl>,
}

impl<T> Queue<T> {
    pub(crate) fn new(
        deadline: Option<Instant>,
        stop: CancelToken,
        control: Option<BatchControl>,
    ) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: Items::Fifo(VecDeque::new()),
                spare: Vec::new(),
                popped: 0,
                closed: false,
                input_done: false,
                waiting: 0,
                woken: 0,
            }),
            closed: AtomicBool::new(false),
            starving: AtomicBool::new(false),
            ready: Condvar::new(),
            deadline,
            stop,
            control,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `items` (`(index, priority, item)`, in input order; taken whole, leaving in
    /// `items` the empty buffer of a spent batch, if any) under one lock and wakes one waiting
    /// runner (which wakes the next while items remain). If the queue is closed, hands them back.
    pub(crate) fn push_many(&self, items: &mut Vec<Queued<T>>) -> Result<(), ()> {
        if items.is_empty() {
            return if self.is_closed() { Err(()) } else { Ok(()) };
        }
        // Outside the lock: whether this batch leaves the FIFO (a priority other than 0).
        let prioritised = items.iter().any(|(_, p, _)| *p != 0);
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.closed {
            return Err(());
        }
        if prioritised {
            if let Items::Fifo(fifo) = &mut st.items {
                let heap = fifo
                    .drain(..)
                    .flatten()
                    .map(|(index, priority, item)| Entry {
                        priority,
                        index,
                        item,
                    })
                    .collect();
                st.items = Items::Heap(heap);
            }
        }
        match &mut st.items {
            Items::Fifo(fifo) => {
                let batch = std::mem::replace(items, std::mem::take(&mut st.spare));
                fifo.push_back(VecDeque::from(batch));
            }
            Items::Heap(heap) => {
                heap.extend(items.drain(..).map(|(index, priority, item)| Entry {
                    priority,
                    index,
                    item,
                }))
            }
        }
        self.wake_one(st);
        self.starving.store(false, AtomicOrdering::Relaxed);
        Ok(())
    }

    /// Wakes one blocked runner not already woken. Runners wake in a chain (each that takes an
    /// item while more are queued wakes the next), so a push wakes only as many as keep up with
    /// the queue: all of them for slow items, a few for items that take no time.
    fn wake_one(&self, st: &mut State<T>) {
        if st.waiting > st.woken {
            st.woken += 1;
            self.ready.notify_one();
        }
    }

    /// Wakes every blocked runner.
    fn wake_all(&self, st: &mut State<T>) {
        st.woken = st.waiting;
        self.ready.notify_all();
    }

    fn is_empty(st: &State<T>) -> bool {
        match &st.items {
            // Emptied batches leave the FIFO as they run out (see `take`).
            Items::Fifo(f) => f.is_empty(),
            Items::Heap(h) => h.is_empty(),
        }
    }

    /// Takes the next item in dispatch order.
    #[inline(always)]
    fn take(st: &mut State<T>) -> Option<Queued<T>> {
        match &mut st.items {
            Items::Fifo(fifo) => {
                let front = fifo.front_mut()?;
                let next = front.pop_front();
                if front.is_empty() {
                    if let Some(spent) = fifo.pop_front() {
                        // Keep the larger buffer for the caller's next batch.
                        if spent.capacity() > st.spare.capacity() {
                            st.spare = Vec::from(spent);
                        }
                    }
                }
                next
            }
            Items::Heap(heap) => heap.pop().map(|e| (e.index, e.priority, e.item)),
        }
    }

    /// The next item to run, blocking while the input may still bring one; `None` once the run
    /// is over for runners (closed, past the deadline, or input done and drained).
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Queued<T>> {
        self.pop_waited(&mut false, None::<fn()>)
    }

    /// Like `pop`; sets `waited` if it blocked. Before it would block it calls `before_wait`
    /// (once, without the lock) and looks again.
    #[inline(always)]
    pub(crate) fn pop_waited(
        &self,
        waited: &mut bool,
        mut before_wait: Option<impl FnOnce()>,
    ) -> Option<Queued<T>> {
        let mut st = self.lock();
        loop {
            if st.closed || self.stop.is_cancelled() {
                return None;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                st.closed = true;
                self.closed.store(true, AtomicOrdering::Release);
                self.wake_all(&mut st);
                return None;
            }
            if !self.control.as_ref().is_some_and(BatchControl::is_paused) {
                if let Some(next) = Self::take(&mut st) {
                    st.popped += 1;
                    if !Self::is_empty(&st) {
                        self.wake_one(&mut st);
                    }
                    return Some(next);
                }
                if st.input_done {
                    return None;
                }
            }
            if let Some(f) = before_wait.take() {
                drop(st);
                f();
                st = self.lock();
                continue;
            }
            st.waiting += 1;
            *waited = true;
            self.starving.store(true, AtomicOrdering::Relaxed);
            st = match self.deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    self.ready
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.ready.wait(st).unwrap_or_else(PoisonError::into_inner),
            };
            st.waiting -= 1;
            // Woken, timed out or spurious: either way no longer a wake-up in flight (a wrong
            // guess only costs a spare notification later).
            st.woken = st.woken.saturating_sub(1).min(st.waiting);
            if st.waiting == 0 {
                self.starving.store(false, AtomicOrdering::Relaxed);
            }
        }
    }

    /// Whether a runner is blocked waiting for an item (so what was read should be pushed now).
    pub(crate) fn is_starving(&self) -> bool {
        self.starving.load(AtomicOrdering::Relaxed)
    }

    /// Items queued and not yet popped.
    #[cfg(test)]
    fn len(&self) -> usize {
        match &self.lock().items {
            Items::Fifo(f) => f.iter().map(VecDeque::len).sum(),
            Items::Heap(h) => h.len(),
        }
    }

    /// Wakes every blocked runner to look again (after a resume).
    pub(crate) fn wake(&self) {
        let mut st = self.lock();
        self.wake_all(&mut st);
    }

    /// No more items will be pushed: runners finding the queue empty leave.
    pub(crate) fn input_done(&self) {
        let mut st = self.lock();
        st.input_done = true;
        self.wake_all(&mut st);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(AtomicOrdering::Acquire)
    }

    /// Closes the queue; returns how many items were ever popped (final from now on).
    pub(crate) fn close(&self) -> usize {
        let mut st = self.lock();
        st.closed = true;
        self.closed.store(true, AtomicOrdering::Release);
        self.wake_all(&mut st);
        st.popped
    }

    /// Closes the queue and takes what was never popped, in dispatch order.
    pub(crate) fn drain(&self) -> Vec<(usize, T)> {
        let mut st = self.lock();
        st.closed = true;
        self.closed.store(true, AtomicOrdering::Release);
        self.wake_all(&mut st);
        match std::mem::replace(&mut st.items, Items::Fifo(VecDeque::new())) {
            Items::Fifo(f) => f.into_iter().flatten().map(|(i, _, t)| (i, t)).collect(),
            Items::Heap(h) => h
                .into_sorted_vec()
                .into_iter()
                .rev()
                .map(|e| (e.index, e.item))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_until_a_priority_then_priority_then_index() {
        let q = Queue::new(None, CancelToken::new(), None);
        let mut items: Vec<_> = [(0, 0), (1, 0), (2, 5), (3, 0), (4, 5), (5, 9)]
            .into_iter()
            .map(|(i, p)| (i, p, i))
            .collect();
        q.push_many(&mut items).unwrap();
        q.input_done();
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(i, _, _)| i)).collect();
        assert_eq!(order, [5, 2, 4, 0, 1, 3]);
        assert_eq!(q.close(), 6);
        assert!(q.push_many(&mut vec![(6, 0, 6)]).is_err());
    }

    #[test]
    fn batches_pop_in_push_order_and_a_later_priority_takes_them_all_into_the_heap() {
        let q = Queue::new(None, CancelToken::new(), None);
        let mut a = vec![(0, 0, 'a'), (1, 0, 'b')];
        q.push_many(&mut a).unwrap();
        assert!(a.is_empty());
        q.push_many(&mut vec![(2, 0, 'c')]).unwrap();
        q.push_many(&mut vec![(3, 0, 'd'), (4, 0, 'e')]).unwrap();
        assert_eq!(q.len(), 5);
        assert_eq!(q.pop(), Some((0, 0, 'a')));
        assert_eq!(q.pop(), Some((1, 0, 'b')));
        assert_eq!(q.pop(), Some((2, 0, 'c')));
        q.push_many(&mut vec![(5, 0, 'f'), (6, 3, 'g')]).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop(), Some((6, 3, 'g')));
        assert_eq!(q.pop(), Some((3, 0, 'd')));
        assert_eq!(q.drain(), [(4, 'e'), (5, 'f')]);

        let fifo = Queue::new(None, CancelToken::new(), None);
        fifo.push_many(&mut vec![(0, 0, 'x')]).unwrap();
        fifo.push_many(&mut vec![(1, 0, 'y'), (2, 0, 'z')]).unwrap();
        assert_eq!(fifo.pop(), Some((0, 0, 'x')));
        assert_eq!(fifo.drain(), [(1, 'y'), (2, 'z')]);
        assert!(fifo.push_many(&mut vec![(3, 0, 'w')]).is_err());
    }

    #[test]
    fn a_spent_batchs_buffer_comes_back_with_the_next_push() {
        let q = Queue::new(None, CancelToken::new(), None);
        let mut a: Vec<_> = (0..100).map(|i| (i, 0, i)).collect();
        let cap = a.capacity();
        q.push_many(&mut a).unwrap();
        assert_eq!(a.capacity(), 0, "no batch spent yet");
        for i in 0..100 {
            assert_eq!(q.pop(), Some((i, 0, i)));
        }
        let mut b = vec![(100, 0, 100)];
        q.push_many(&mut b).unwrap();
        assert!(b.is_empty());
        assert_eq!(
            b.capacity(),
            cap,
            "the spent batch's buffer, for the next one"
        );
        assert_eq!(q.pop(), Some((100, 0, 100)));
    }

    #[test]
    fn cancelled_stop_pops_nothing() {
        let stop = CancelToken::new();
        let q = Queue::new(None, stop.clone(), None);
        q.push_many(&mut vec![(0, 0, ())]).unwrap();
        stop.cancel();
        assert!(q.pop().is_none());
    }

    #[test]
    fn past_deadline_pops_nothing_and_closes() {
        let q = Queue::new(Some(Instant::now()), CancelToken::new(), None);
        q.push_many(&mut vec![(0, 0, ())]).unwrap();
        assert!(q.pop().is_none());
        assert!(q.is_closed());
        assert_eq!(q.drain().len(), 1);
    }

    #[test]
    fn paused_queue_blocks_until_resumed() {
        let control = BatchControl::new();
        control.pause();
        let q = std::sync::Arc::new(Queue::new(None, CancelToken::new(), Some(control.clone())));
        q.push_many(&mut vec![(0, 0, 7)]).unwrap();
        let popper = {
            let q = q.clone();
            std::thread::spawn(move || q.pop())
        };
        while q.lock().waiting == 0 {
            std::thread::yield_now();
        }
        assert_eq!(q.len(), 1, "nothing is popped while paused");
        control.resume();
        q.wake();
        assert_eq!(popper.join().unwrap(), Some((0, 0, 7)));
    }
}
