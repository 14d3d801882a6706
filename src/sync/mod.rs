//! The crate's waiting primitives, one of each: the cancel-aware, fair semaphore with priorities
//! ([`semaphore`]). The cancel-aware wait is [`Context::wait_until`](crate::Context::wait_until),
//! which parks the thread and is unparked by a cancel.

pub(crate) mod semaphore;

pub(crate) use self::semaphore::Semaphore;
