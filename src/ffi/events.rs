//! Per-item events of a run through the C ABI (`httpbatch_batch_set_on_event`): started,
//! completed, failed, paused, resumed, drained — delivered on the thread that runs the batch.

use std::ffi::{CString, c_void};

use crate::run::BatchEvent;

use super::base::guard_on_mut;
use super::batch::httpbatch_batch;
use super::executor::micros;
use super::httpbatch_result;
use super::result::{httpbatch_item, outcome_message, outcome_to_c, response_to_c};

/// What an event reports.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum httpbatch_event_kind {
    /// A worker started item `index`.
    Started = 1,
    /// Item `index` got a response with a status below 400 (`item` says which).
    Completed = 2,
    /// Item `index` settled without a successful response: an error status, an error, cancelled
    /// or not run (`item` says which).
    Failed = 3,
    /// Dispatch paused (see `httpbatch_control`): requests in flight finish, nothing new starts.
    Paused = 4,
    /// Dispatch resumed after `paused_us` microseconds.
    Resumed = 5,
    /// Every item has settled; no event follows.
    Drained = 6,
}

/// One event, passed to an event callback and valid only during the call (copy what you keep).
/// The library sets `struct_size` to the size it filled (a newer library may add fields).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_event {
    /// Size of this struct as filled by the library.
    pub struct_size: usize,
    /// What happened.
    pub kind: httpbatch_event_kind,
    /// The item's input index (`Started`, `Completed`, `Failed`; 0 otherwise).
    pub index: usize,
    /// The item as it settled (`Completed` and `Failed`; NULL otherwise): the same fields as
    /// `httpbatch_batch_result_item` gives, pointers valid only during the call.
    pub item: *const httpbatch_item,
    /// How long the pause lasted (`Resumed`; 0 otherwise).
    pub paused_us: u64,
}

/// An event callback. `event` is valid only during the call; `user` is the pointer given to
/// `httpbatch_batch_set_on_event`. It runs on the thread that called
/// `httpbatch_executor_execute` (or `_execute_streaming`), never after that call returns, and
/// must not unwind (no C++ exception or `longjmp` may leave it). It may call
/// `httpbatch_cancel_token_cancel` or `httpbatch_control_*`.
pub type httpbatch_event_fn =
    Option<unsafe extern "C" fn(event: *const httpbatch_event, user: *mut c_void)>;

#[derive(Clone, Copy)]
pub(crate) struct Events {
    callback: unsafe extern "C" fn(*const httpbatch_event, *mut c_void),
    user: *mut c_void,
}

impl Events {
    /// Delivers `event` to the C callback.
    pub(crate) fn deliver(&self, event: &BatchEvent<'_>) {
        let mut c = httpbatch_event {
            struct_size: std::mem::size_of::<httpbatch_event>(),
            kind: httpbatch_event_kind::Drained,
            index: 0,
            item: std::ptr::null(),
            paused_us: 0,
        };
        // Storage the event's pointers borrow from, alive until the callback returns.
        let item: httpbatch_item;
        let message: Option<CString>;
        match event {
            BatchEvent::Started { index } => {
                c.kind = httpbatch_event_kind::Started;
                c.index = *index;
            }
            BatchEvent::Completed { index, response } => {
                item = response_to_c(response);
                c.kind = httpbatch_event_kind::Completed;
                c.index = *index;
                c.item = &item;
            }
            BatchEvent::Failed { index, outcome } => {
                message = outcome_message(outcome);
                item = outcome_to_c(outcome, message.as_deref().unwrap_or(c""));
                c.kind = httpbatch_event_kind::Failed;
                c.index = *index;
                c.item = &item;
            }
            BatchEvent::Paused => c.kind = httpbatch_event_kind::Paused,
            BatchEvent::Resumed { paused_for } => {
                c.kind = httpbatch_event_kind::Resumed;
                c.paused_us = micros(*paused_for);
            }
            BatchEvent::Drained { .. } => {}
        }
        // SAFETY: the caller's callback and its `user` pointer, as registered; `c` and what it
        // points to live for the call.
        unsafe { (self.callback)(&c, self.user) }
    }
}

/// Sets an event callback (NULL: none): one call per item started, completed (a response below
/// 400) and failed (anything else, the item's outcome in `event->item`), one when dispatch pauses
/// and resumes, and a last one when every item has settled (`HTTPBATCH_EVENT_KIND_DRAINED`). It
/// runs on the thread that runs the batch, never after the run returns. `user` is passed through
/// untouched; it must stay valid until the run returns.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_on_event(
    batch: *mut httpbatch_batch,
    callback: httpbatch_event_fn,
    user: *mut c_void,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.events = callback.map(|callback| Events { callback, user });
        Ok(())
    })
}
