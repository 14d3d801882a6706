//! [`ParMap`]: rayon-like parallel methods on request lists and item lists.

use crate::batch::IntoBatchItem;
use crate::error::Error;
use crate::response::Response;

use super::{IntoParCall, ParCollected, ParError, Pipeline};
#[cfg(doc)]
use super::{ParClient, ParExecutor};
#[cfg(doc)]
use crate::{BatchOptions, Execute, Request};

/// Rayon-like parallel methods for lists of requests (any `IntoIterator` of [`Request`] or
/// `Result<Request, Error>`) and, through [`par_pipeline`](Self::par_pipeline), of arbitrary
/// items. Implemented for every `IntoIterator`; bring it in with `use httpbatch::prelude::*`.
///
/// The first argument is `&ParExecutor` or [`ParExecutor::with_options`]. Every request goes
/// through the executor stack's [`Execute::execute`], so its own limits (rate limits, per-host
/// caps, retries) hold as well as the `ParExecutor`'s concurrency limit.
///
/// # Panics
///
/// Each method re-raises a panic of its closure (or of the progress callback) once the items in
/// flight have settled. Calling a method from inside an item of the same `ParExecutor` panics
/// (it would wait on the threads it occupies); send nested requests through the [`ParClient`].
pub trait ParMap: IntoIterator + Sized {
    /// Sends every request and maps each outcome with `f` (on the pool's threads); returns the
    /// mapped values in input order. Nothing stops early, except a cancel or a deadline: then `f`
    /// gets the error of each request that was interrupted or never started (the latter on the
    /// calling thread).
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 8)?;
    /// let statuses = vec![
    ///     Request::get(&server.url("/status/201")),
    ///     Request::get("not a url"),
    ///     Request::get(&server.url("/status/404")),
    /// ]
    /// .par_map(&par, |res| res.map(|r| r.status()).map_err(|e| e.kind()));
    /// assert_eq!(statuses, [Ok(201), Err(httpbatch::ErrorKind::InvalidUrl), Ok(404)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn par_map<'a, P, R, F>(self, par: P, f: F) -> Vec<R>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> R + Sync,
    {
        par.into_par_call().map(self, f)
    }

    /// Fail-fast: sends the requests and maps each outcome with `f` until `f` returns the first
    /// `Err` (or the call is cancelled or passes its deadline); from then on nothing more is
    /// dispatched, and the requests in flight finish with their results dropped (cancel through
    /// [`BatchOptions::cancel`] to interrupt them). Returns every value in input order, or which
    /// item failed first and why.
    ///
    /// A response with any status is an `Ok` outcome; return `Err` from `f` to treat a status as
    /// a failure.
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{Error, ErrorKind, HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 1)?;
    /// let paths = ["/ok", "/ok", "/status/500", "/ok", "/ok"];
    /// let err = paths
    ///     .iter()
    ///     .map(|p| Request::get(&server.url(p)))
    ///     .try_par_map(&par, |res| {
    ///         let r = res?;
    ///         if r.status() >= 400 {
    ///             return Err(Error::new(ErrorKind::Protocol, format!("status {}", r.status())));
    ///         }
    ///         Ok(r.text().into_owned())
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.index, 2);
    /// assert_eq!(server.requests(), 3); // concurrency 1: nothing after the failure was sent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn try_par_map<'a, P, R, F>(self, par: P, f: F) -> Result<Vec<R>, ParError>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        par.into_par_call().try_map(self, f)
    }

    /// Fail-safe: sends every request, maps each outcome with `f`, and returns every value plus
    /// every error (including the items a cancel or deadline stopped).
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 4)?;
    /// let out = ["/bytes/3", "/reset", "/bytes/5"]
    ///     .iter()
    ///     .map(|p| Request::get(&server.url(p)))
    ///     .par_map_collect_errors(&par, |res| res.map(|r| r.body().len()));
    /// assert_eq!(out.values, [Some(3), None, Some(5)]);
    /// assert_eq!(out.errors.len(), 1);
    /// assert_eq!(out.errors[0].index, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn par_map_collect_errors<'a, P, R, F>(self, par: P, f: F) -> ParCollected<R>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        par.into_par_call().map_collect_errors(self, f)
    }

    /// A [`Pipeline`] over these items: finish it with [`try_run`](Pipeline::try_run)
    /// (fail-fast) or [`run`](Pipeline::run) (fail-safe), optionally after
    /// [`priority`](Pipeline::priority).
    fn par_pipeline<'a, P>(self, par: P) -> Pipeline<'a, P::Executor, Self::Item>
    where
        Self::IntoIter: 'a,
        Self::Item: Send,
        P: IntoParCall<'a> + 'a,
    {
        par.into_par_call().pipeline(self)
    }
}

impl<I: IntoIterator> ParMap for I {}
