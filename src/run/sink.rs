//! Where a run's outcomes go on the caller's thread ([`Sink`]), the callbacks that catch panics
//! there ([`Hooks`]), and how a run ended ([`Ran`]).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use super::event::BatchEvent;
use super::options::EventFn;
use super::{Class, NotRun};

/// Callbacks on the caller's thread that catch panics: the first panic is kept and stops the run.
pub(crate) struct Hooks<'o, 'a> {
    pub(super) events: Option<&'o mut EventFn<'a>>,
    pub(super) panic: Option<Box<dyn Any + Send>>,
}

impl Hooks<'_, '_> {
    /// Delivers `event` to the event callback, if any (and nothing panicked yet).
    pub(crate) fn event(&mut self, event: &BatchEvent<'_>) {
        if self.panic.is_some() {
            return;
        }
        if let Some(f) = self.events.as_mut() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(event))) {
                self.panic = Some(p);
            }
        }
    }

    /// Runs user code `f`, keeping its panic.
    pub(crate) fn guard(&mut self, f: impl FnOnce()) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            self.panic.get_or_insert(p);
        }
    }

    pub(crate) fn wants_events(&self) -> bool {
        self.events.is_some()
    }
}

/// Where a run's outcomes go, on the caller's thread.
pub(crate) trait Sink<T, O> {
    /// Item `index` settled with `out`, classed `class`, after running on a worker for `ran`
    /// (`None`: settled without running).
    fn settled(
        &mut self,
        index: usize,
        out: O,
        class: Class,
        ran: Option<Duration>,
        hooks: &mut Hooks<'_, '_>,
    );
    /// Item `index` never started; settle it.
    fn not_run(&mut self, index: usize, item: T, why: NotRun, hooks: &mut Hooks<'_, '_>);

    /// Whether each outcome must be delivered as it settles (a consumer that streams). If not,
    /// outcomes may reach the sink in batches, as late as the run needs them.
    fn prompt(&self) -> bool {
        true
    }
}

/// How a run ended.
pub(crate) struct Ran {
    pub(crate) start: Instant,
    pub(crate) total: usize,
    /// A callback's panic, to re-raise once the API's own last callbacks have run.
    pub(crate) panic: Option<Box<dyn Any + Send>>,
}

impl Ran {
    /// Re-raises a callback's panic, if any.
    pub(crate) fn reraise(&mut self) {
        if let Some(p) = self.panic.take() {
            resume_unwind(p);
        }
    }
}
