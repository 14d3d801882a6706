//! A batch run: settings from the options, reading the inputs, running them through the stack,
//! printing outcomes and the report.

use std::io::{self, BufReader, BufWriter, IsTerminal};
use std::path::Path;
use std::time::Duration;

use httpbatch::{BatchEvent, BatchOptions, Error, Request};

use crate::args::{BodyMode, Order, RunArgs};
use crate::input::{Defaults, Item, Meta, Reader};
use crate::output::{Sink, render};
use crate::progress;
use crate::stack::{Stack, StackConfig};
use crate::summary::{self, Report};
use crate::{Fatal, Interrupt};

/// Everything a run needs besides its inputs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The layers.
    pub stack: StackConfig,
    /// `--warmup`.
    pub warmup: Option<usize>,
    /// `--deadline`.
    pub deadline: Option<Duration>,
    /// `--fail-fast`.
    pub fail_fast: bool,
    /// `--order`.
    pub order: Order,
    /// `--body`.
    pub body: BodyMode,
    /// `--summary-json`.
    pub summary_json: bool,
    /// Print the summary table.
    pub summary: bool,
    /// Draw the progress bar (when stderr is a terminal).
    pub progress: bool,
}

impl Settings {
    /// The settings the options ask for.
    pub fn from_args(args: &RunArgs) -> Result<Settings, Fatal> {
        if args.health_check.is_some_and(|d| d.is_zero()) {
            return Err(Fatal::usage("--health-check needs an interval above zero"));
        }
        Ok(Settings {
            stack: StackConfig {
                concurrency: args.concurrency,
                rate: args.rate.map(|r| (r, args.burst.unwrap_or(1))),
                per_host: args.per_host,
                retries: args.retries,
                retry_backoff: args.retry_backoff,
                retry_after_cap: args.retry_after_cap,
                retry_post: args.retry_post,
                timeout: args.timeout,
                connect_timeout: args.connect_timeout,
                max_body: args.max_body,
                health_check: args.health_check,
                health_path: args.health_path.clone(),
                net: args.net.clone(),
                coalesce: args.coalesce.clone(),
                dedup: args.pages.dedup,
            },
            warmup: args.warmup.filter(|n| *n > 0),
            deadline: args.deadline,
            fail_fast: args.fail_fast,
            order: args.order,
            body: args.body.clone(),
            summary_json: args.summary_json,
            summary: !args.quiet,
            progress: !args.quiet,
        })
    }
}

/// The `-X`, `-H`, `-d` and `--jsonl` options, with `-d @FILE` read.
pub fn defaults(args: &RunArgs) -> Result<Defaults, Fatal> {
    let body = match args.data.as_deref() {
        None => None,
        Some(d) => Some(match d.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map_err(|e| Fatal::input(format!("cannot read --data file {path:?}: {e}")))?,
            None => d.as_bytes().to_vec(),
        }),
    };
    Ok(Defaults {
        method: args.method,
        headers: args.headers.clone(),
        body,
        jsonl: args.jsonl,
    })
}

/// Where the inputs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinUse {
    /// Read stdin where `-` appears among the URLs.
    WhereDashed,
    /// Read stdin (no URLs or file given and stdin is not a terminal).
    Implicit,
}

/// Whether stdin is read, or `None` when no input was named and stdin is a terminal.
pub fn stdin_use(args: &RunArgs) -> Option<StdinUse> {
    if !args.is_bare() {
        Some(StdinUse::WhereDashed)
    } else if io::stdin().is_terminal() {
        None
    } else {
        Some(StdinUse::Implicit)
    }
}

/// Reads every input: URL arguments (`-` = stdin), then `--input FILE`, or stdin.
pub fn load(args: &RunArgs, defaults: &Defaults, stdin: StdinUse) -> Result<Vec<Item>, Fatal> {
    let mut reader = Reader::new(defaults);
    let mut stdin_read = false;
    let mut read_stdin = |reader: &mut Reader<'_>| -> Result<(), Fatal> {
        if !std::mem::replace(&mut stdin_read, true) {
            reader
                .add_lines(None, io::stdin().lock())
                .map_err(|e| Fatal::input(format!("cannot read stdin: {e}")))?;
        }
        Ok(())
    };
    for (i, url) in args.urls.iter().enumerate() {
        if url == "-" {
            read_stdin(&mut reader)?;
        } else {
            reader.add_argument(i + 1, url);
        }
    }
    if let Some(path) = &args.input {
        read_file(&mut reader, path)?;
    }
    if stdin == StdinUse::Implicit {
        read_stdin(&mut reader)?;
    }
    Ok(reader.into_items())
}

fn read_file(reader: &mut Reader<'_>, path: &Path) -> Result<(), Fatal> {
    let cannot = |e: io::Error| Fatal::input(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    reader
        .add_lines(Some(path), BufReader::new(file))
        .map_err(cannot)
}

/// Warms connections up and starts health checks, as asked, before the batch.
fn prepare(stack: &Stack, s: &Settings, requests: &[Result<Request, Error>]) -> Result<(), Fatal> {
    let valid = || requests.iter().filter_map(|r| r.as_ref().ok());
    if let Some(n) = s.warmup {
        let report = stack.warmup(valid(), n);
        if s.summary {
            eprint!("{}", summary::warmup(&report));
        }
    }
    if let Some(interval) = s.stack.health_check {
        stack
            .health_check(valid(), interval, &s.stack.health_path)
            .map_err(|e| Fatal::usage(format!("cannot start health checks: {e}")))?;
    }
    Ok(())
}

/// Runs `items` and prints one line per item on stdout, then the report on stderr.
pub fn execute(s: &Settings, items: Vec<Item>, interrupt: &Interrupt) -> Result<Report, Fatal> {
    let stack = Stack::build(&s.stack).map_err(|e| Fatal::usage(e.to_string()))?;
    if let BodyMode::File(dir) = &s.body {
        std::fs::create_dir_all(dir).map_err(|e| {
            Fatal::input(format!(
                "cannot create body directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let (metas, requests): (Vec<Meta>, Vec<Result<Request, Error>>) =
        items.into_iter().map(|i| (i.meta, i.request)).unzip();
    prepare(&stack, s, &requests)?;
    let token = interrupt.token();
    let bar = progress::bar(metas.len(), s.progress);
    let mut sink = Sink::new(BufWriter::new(io::stdout().lock()), s.order);
    let mut stdout_closed = false;

    let mut options = BatchOptions::new()
        .control(interrupt.control())
        .concurrency(s.stack.concurrency)
        .request_timeout(s.stack.timeout)
        .fail_fast(s.fail_fast)
        .fail_fast_on_status(|status| status >= 400)
        .on_progress(progress::INTERVAL, |p| progress::update(&bar, p))
        .on_event(|e| match e {
            BatchEvent::Paused => progress::note(&bar, "paused (SIGUSR2 resumes)"),
            BatchEvent::Resumed { paused_for } => {
                progress::note(&bar, &format!("resumed after {paused_for:.1?}"))
            }
            _ => {}
        });
    if let Some(d) = s.deadline {
        options = options.batch_timeout(d);
    }
    let summary = stack
        .executor
        .execute_streaming(requests, options, |index, outcome| {
            let line = render(index, &metas[index], &outcome, &s.body);
            if !sink.push(index, line) && !stdout_closed {
                // Nobody reads the results any more: stop sending requests.
                stdout_closed = true;
                token.cancel();
            }
        });
    bar.finish_and_clear();

    let report = Report {
        summary,
        stats: stack.stats(),
        interrupted: interrupt.fired(),
    };
    if s.summary_json {
        sink.push_last(&report.json().to_string());
    }
    let written = sink.finish();
    if s.summary {
        eprint!("{}", report.table());
        if let Some(d) = stack.dedup_stats() {
            eprint!("{}", crate::pages::dedup_line(&d));
        }
    }
    if let Err(e) = written {
        eprintln!("httpbatch: cannot write results to stdout ({e}); the batch was stopped");
    }
    Ok(report)
}
