//! The forms of a par call: `par_map` and friends, pipelines, and the handle items send through.
//! Each maps its items onto the one run engine ([`crate::run`]) and collects the outputs by index.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::batch::IntoBatchItem;
use crate::error::Error;
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;
use crate::run::{self, BatchOptions, Class, Hooks, Input, NotRun, Sink};

use super::{Gate, ParExecutor};

type PriorityFn<'a, T> = Box<dyn Fn(&T) -> i32 + 'a>;

/// A [`ParExecutor`] with the options of one call; made by [`ParExecutor::with_options`], or
/// from `&ParExecutor` (default options) by [`IntoParCall`].
pub struct ParCall<'a, E> {
    par: &'a ParExecutor<E>,
    options: BatchOptions<'a>,
}

impl<'a, E> ParCall<'a, E> {
    pub(super) fn new(par: &'a ParExecutor<E>, options: BatchOptions<'a>) -> Self {
        ParCall { par, options }
    }
}

impl<E> fmt::Debug for ParCall<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParCall")
            .field("par", self.par)
            .field("options", &self.options)
            .finish()
    }
}

/// What the [`ParMap`](super::ParMap) methods accept as their executor: `&ParExecutor` (default options) or a
/// [`ParCall`] from [`ParExecutor::with_options`].
pub trait IntoParCall<'a> {
    /// The wrapped executor stack.
    type Executor: Execute;

    /// The executor and the call's options.
    fn into_par_call(self) -> ParCall<'a, Self::Executor>;
}

impl<'a, E: Execute> IntoParCall<'a> for &'a ParExecutor<E> {
    type Executor = E;

    fn into_par_call(self) -> ParCall<'a, E> {
        self.with_options(BatchOptions::new())
    }
}

impl<'a, E: Execute> IntoParCall<'a> for ParCall<'a, E> {
    type Executor = E;

    fn into_par_call(self) -> ParCall<'a, E> {
        self
    }
}

/// The handle an item of a pipeline sends its requests through: every request takes a permit
/// of the executor's concurrency limit (by the item's priority, unless the request sets its own)
/// and runs under the call's [`Context`], so cancellation and the deadline reach it.
///
/// Send with [`send`](Self::send), or use it as an [`Execute`] with
/// [`context`](Self::context) (a context without the call's token is still checked against the
/// call's before the request starts).
pub struct ParClient<'a> {
    gate: &'a dyn Gate,
    ctx: &'a Context,
    index: usize,
    priority: i32,
}

impl fmt::Debug for ParClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParClient")
            .field("index", &self.index)
            .field("priority", &self.priority)
            .field("context", self.ctx)
            .finish()
    }
}

impl ParClient<'_> {
    /// Sends `request` under the call's context and the executor's concurrency limit.
    pub fn send(&self, request: Request) -> Result<Response, Error> {
        self.execute(request, self.ctx)
    }

    /// The call's context: its cancel token and deadline.
    pub fn context(&self) -> &Context {
        self.ctx
    }

    /// The input index of the item being processed.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The item's priority.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the call has been stopped (cancelled, deadline passed, failed fast or panicked):
    /// a long item may check it between steps.
    pub fn is_stopped(&self) -> bool {
        self.ctx.check().is_err()
    }
}

impl Execute for ParClient<'_> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        self.ctx.check()?;
        let priority = match request.priority() {
            0 => self.priority,
            p => p,
        };
        self.gate.gated(request, priority, ctx)
    }
}

/// The first failure of a fail-fast call: which input and why.
#[derive(Debug)]
pub struct ParError {
    /// Input index of the failed item.
    pub index: usize,
    /// Its error.
    pub error: Error,
}

impl fmt::Display for ParError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} failed: {}", self.index, self.error)
    }
}

impl std::error::Error for ParError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Every result of a fail-safe call, and every error.
///
/// `values[i]` is `Some` exactly when no error in `errors` has index `i`; `errors` is sorted by
/// index.
#[derive(Debug)]
pub struct ParCollected<R> {
    /// By input index: the value, or `None` for a failed item.
    pub values: Vec<Option<R>>,
    /// The failed items, by input index.
    pub errors: Vec<ParError>,
}

impl<R> ParCollected<R> {
    /// Whether every item succeeded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every value, or the failure with the lowest index.
    pub fn into_result(self) -> Result<Vec<R>, ParError> {
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.values.into_iter().flatten().collect()),
        }
    }
}

/// A pipeline over arbitrary items, made by [`ParMap::par_pipeline`](super::ParMap::par_pipeline) or
/// [`ParCall::pipeline`]: each item runs a closure that is given a [`ParClient`], so one item can
/// issue several dependent requests (fetch a list, then each detail) while every request of
/// every item shares the executor's one concurrency limit.
///
/// ```
/// use httpbatch::prelude::*;
/// use httpbatch::{HttpClient, ParExecutor, Request};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let par = ParExecutor::new(HttpClient::new(), 4)?;
/// // Each item: fetch a "list" whose length says how many "details" to fetch next.
/// let totals = (1..=6usize)
///     .par_pipeline(&par)
///     .priority(|n| *n as i32) // bigger items first
///     .try_run(|client, n| {
///         let list = client.send(Request::get(&server.url(&format!("/bytes/{n}")))?)?;
///         let mut total = 0;
///         for _ in 0..list.body().len() {
///             total += client.send(Request::get(&server.url("/bytes/10"))?)?.body().len();
///         }
///         Ok(total)
///     })?;
/// assert_eq!(totals, [10, 20, 30, 40, 50, 60]);
/// assert!(par.stats().peak_in_flight <= 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pipeline does nothing until `run` or `try_run`"]
pub struct Pipeline<'a, E, T> {
    call: ParCall<'a, E>,
    items: Box<dyn Iterator<Item = T> + 'a>,
    priority: Option<PriorityFn<'a, T>>,
}

impl<E, T> fmt::Debug for Pipeline<'_, E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("call", &self.call)
            .field("items", &self.items.size_hint())
            .field("priority", &self.priority.is_some())
            .finish()
    }
}

impl<'a, E: Execute, T: Send> Pipeline<'a, E, T> {
    /// Dispatches items with a higher `priority(item)` first (input order otherwise); their
    /// requests also wait for permits by it (unless a request sets its own priority).
    pub fn priority(mut self, priority: impl Fn(&T) -> i32 + 'a) -> Self {
        self.priority = Some(Box::new(priority));
        self
    }

    /// Fail-fast: runs `f` on every item until the first `Err` (or a cancel or deadline), then
    /// dispatches nothing more. Items in flight finish; their results are dropped. Returns every
    /// value in input order, or the first failure to settle.
    pub fn try_run<R, F>(self, f: F) -> Result<Vec<R>, ParError>
    where
        R: Send,
        F: Fn(&ParClient<'_>, T) -> Result<R, Error> + Sync,
    {
        let Pipeline {
            mut call,
            items,
            priority,
        } = self;
        call.options.fail_fast = true;
        let work = |c: &ParClient<'_>, item: T| classify(f(c, item));
        try_collect(call.engine(pipeline_input(items, priority), &work, &|why| {
            Err(why.error())
        }))
    }

    /// Fail-safe: runs `f` on every item (unless cancelled or past the deadline) and returns every
    /// value plus every error.
    pub fn run<R, F>(self, f: F) -> ParCollected<R>
    where
        R: Send,
        F: Fn(&ParClient<'_>, T) -> Result<R, Error> + Sync,
    {
        let Pipeline {
            call,
            items,
            priority,
        } = self;
        let work = |c: &ParClient<'_>, item: T| classify(f(c, item));
        collect(call.engine(pipeline_input(items, priority), &work, &|why| {
            Err(why.error())
        }))
    }
}

fn pipeline_input<'a, T: 'a>(
    items: Box<dyn Iterator<Item = T> + 'a>,
    priority: Option<PriorityFn<'a, T>>,
) -> impl Iterator<Item = (i32, T)> + 'a {
    items.map(move |item| (priority.as_ref().map_or(0, |p| p(&item)), item))
}

fn classify<R>(r: Result<R, Error>) -> (Result<R, Error>, Class) {
    let c = if r.is_ok() {
        Class::Success
    } else {
        Class::Error
    };
    (r, c)
}

/// What a par call collected, by input index.
struct Collected<O> {
    outputs: Vec<Option<O>>,
    /// The first item (in completion order) that ran and failed.
    first_error: Option<usize>,
    /// The first item (by index) that never ran.
    first_unrun: Option<usize>,
}

struct ParSink<'f, O> {
    got: Collected<O>,
    unrun: &'f dyn Fn(NotRun) -> O,
}

impl<O> ParSink<'_, O> {
    fn put(&mut self, index: usize, out: O) {
        let outputs = &mut self.got.outputs;
        if index >= outputs.len() {
            outputs.resize_with(index + 1, || None);
        }
        outputs[index] = Some(out);
    }
}

impl<T, O> Sink<T, O> for ParSink<'_, O> {
    fn settled(&mut self, index: usize, out: O, class: Class, _: Option<Duration>, _: &mut Hooks) {
        if class == Class::Error {
            self.got.first_error.get_or_insert(index);
        }
        self.put(index, out);
    }

    fn prompt(&self) -> bool {
        // Outputs are collected and returned at the end.
        false
    }

    fn not_run(&mut self, index: usize, _item: T, why: NotRun, _: &mut Hooks) {
        let first = self.got.first_unrun.get_or_insert(index);
        *first = (*first).min(index);
        let out = (self.unrun)(why);
        self.put(index, out);
    }
}

fn try_collect<R>(mut got: Collected<Result<R, Error>>) -> Result<Vec<R>, ParError> {
    if let Some(index) = got.first_error.or(got.first_unrun) {
        let error = match got.outputs[index].take() {
            Some(Err(e)) => e,
            _ => unreachable!("a failed item's slot holds its error"),
        };
        return Err(ParError { index, error });
    }
    Ok(got
        .outputs
        .into_iter()
        .map(|o| match o {
            Some(Ok(v)) => v,
            _ => unreachable!("without an error or an unrun item, every item succeeded"),
        })
        .collect())
}

fn collect<R>(got: Collected<Result<R, Error>>) -> ParCollected<R> {
    let mut errors = Vec::new();
    let values = got
        .outputs
        .into_iter()
        .enumerate()
        .map(|(index, o)| match o.expect("every item settles once") {
            Ok(v) => Some(v),
            Err(error) => {
                errors.push(ParError { index, error });
                None
            }
        })
        .collect();
    ParCollected { values, errors }
}

fn send_item(c: &ParClient<'_>, item: Result<Request, Error>) -> Result<Response, Error> {
    item.and_then(|req| c.send(req))
}

/// The input of the request forms: each request (or the error building it) with its priority.
fn request_input<I>(requests: I) -> impl Iterator<Item = (i32, Result<Request, Error>)>
where
    I: IntoIterator,
    I::Item: IntoBatchItem,
{
    requests.into_iter().map(|r| {
        let item = r.into_batch_item();
        (item.as_ref().map_or(0, Request::priority), item)
    })
}

impl<'a, E: Execute> ParCall<'a, E> {
    fn engine<T: Send, O: Send>(
        mut self,
        input: impl Iterator<Item = (i32, T)>,
        work: &(dyn Fn(&ParClient<'_>, T) -> (O, Class) + Sync),
        unrun: &dyn Fn(NotRun) -> O,
    ) -> Collected<O> {
        let inner = &*self.par.inner;
        let plan = run::Plan {
            workers: &inner.workers,
            max_runners: inner.threads,
            shutdown: None,
        };
        let input = input.map(|(priority, item)| Input::<T, O>::Work { priority, item });
        let gate: &dyn Gate = inner;
        let run_work = |w: &run::Worker<'_>, item: T| {
            let client = ParClient {
                gate,
                ctx: w.ctx,
                index: w.index,
                priority: w.priority,
            };
            work(&client, item)
        };
        let mut sink = ParSink {
            got: Collected {
                outputs: Vec::new(),
                first_error: None,
                first_unrun: None,
            },
            unrun,
        };
        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let mut ran = run::run(&plan, input, &mut self.options, &run_work, &mut sink);
        inner
            .counters
            .items
            .fetch_add(ran.total as u64, Ordering::Relaxed);
        ran.reraise();
        sink.got
    }

    /// Takes the fail-fast rule for responses out of the options: how a request form classes
    /// an outcome.
    fn request_rule(&mut self) -> impl Fn(&Result<Response, Error>) -> Class + Sync + 'a {
        let fail_fast = self.options.fail_fast;
        let fails_on = self.options.fail_status.take();
        move |res| match res {
            Ok(r) if r.is_success() => Class::Success,
            Ok(r) if fail_fast && fails_on.as_ref().is_some_and(|f| f(r.status())) => Class::Error,
            Ok(_) => Class::Failure,
            Err(_) => Class::Error,
        }
    }

    /// See [`ParMap::par_map`](super::ParMap::par_map).
    pub fn map<I, R, F>(mut self, requests: I, f: F) -> Vec<R>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> R + Sync,
    {
        let rule = self.request_rule();
        let work = |c: &ParClient<'_>, item| {
            let res = send_item(c, item);
            let class = rule(&res);
            (f(res), class)
        };
        let got = self.engine(request_input(requests), &work, &|why| f(Err(why.error())));
        got.outputs
            .into_iter()
            .map(|o| o.expect("every item ran or was settled as never run"))
            .collect()
    }

    /// See [`ParMap::try_par_map`](super::ParMap::try_par_map).
    pub fn try_map<I, R, F>(mut self, requests: I, f: F) -> Result<Vec<R>, ParError>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        self.options.fail_fast = true;
        let work = |c: &ParClient<'_>, item| classify(f(send_item(c, item)));
        try_collect(self.engine(request_input(requests), &work, &|why| Err(why.error())))
    }

    /// See [`ParMap::par_map_collect_errors`](super::ParMap::par_map_collect_errors).
    pub fn map_collect_errors<I, R, F>(self, requests: I, f: F) -> ParCollected<R>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        let work = |c: &ParClient<'_>, item| classify(f(send_item(c, item)));
        collect(self.engine(request_input(requests), &work, &|why| Err(why.error())))
    }

    /// A [`Pipeline`] over `items`; see [`ParMap::par_pipeline`](super::ParMap::par_pipeline).
    pub fn pipeline<I>(self, items: I) -> Pipeline<'a, E, I::Item>
    where
        I: IntoIterator,
        I::IntoIter: 'a,
        I::Item: Send,
    {
        Pipeline {
            call: self,
            items: Box::new(items.into_iter()),
            priority: None,
        }
    }
}
