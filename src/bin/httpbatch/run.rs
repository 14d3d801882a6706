//! A batch run: settings from the options, the input as a lazy stream, running it through the
//! stack, printing outcomes and the report.
//!
//! The input is read as the engine asks for it (a window of `queue_ahead` items beyond those in
//! flight), so the first request leaves before the input ends. Per-item metadata lives in a map
//! from the engine's index to the input's, holding only the items read and not yet settled.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use httpbatch::{BatchEvent, BatchOptions, Outcome};

use crate::args::{BodyMode, Order, RunArgs, SummaryTo};
use crate::input::{Defaults, Meta, Parser};
use crate::output::{Sink, render_into};
use crate::progress;
use crate::resume::Resume;
use crate::source::{Inputs, Source};
use crate::stack::{Stack, StackConfig};
use crate::summary::{self, Report};
use crate::tally::Tally;
use crate::{Fatal, Interrupt};

/// Inputs read before the run to find the hosts that `--warmup` and `--health-check` cover.
pub const DISCOVERY_AHEAD: usize = 1000;

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
    /// `--include`: response headers in each line.
    pub include_headers: bool,
    /// `--summary-json`.
    pub summary_json: Option<SummaryTo>,
    /// `--resume FILE`.
    pub resume: Option<PathBuf>,
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
                max_head: args.max_head_size,
                health_check: args.health_check,
                health_path: args.health_path.clone(),
                net: args.net.clone(),
                coalesce: args.coalesce.clone(),
                dedup: args.pages.dedup,
                cache: args.cache.clone(),
            },
            warmup: args.warmup.filter(|n| *n > 0),
            deadline: args.deadline,
            fail_fast: args.fail_fast,
            order: args.order,
            body: args.body.clone(),
            include_headers: args.include,
            summary_json: args.summary_json.clone(),
            resume: args.resume.clone(),
            summary: !args.quiet,
            progress: !args.quiet,
        })
    }
}

/// The `-X`, `-H`, `-d`, `--jsonl` and `-g` options, with `-d @FILE` read.
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
        glob: !args.globoff,
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

/// The input's sources, in order: URL arguments (`-` = stdin, read once), then `--input FILE`,
/// or stdin. A file that cannot be opened is a usage error before anything is sent.
pub fn sources(args: &RunArgs, stdin: StdinUse) -> Result<Vec<Source>, Fatal> {
    let mut sources = Vec::new();
    let mut stdin_named = false;
    for (i, url) in args.urls.iter().enumerate() {
        if url == "-" {
            if !std::mem::replace(&mut stdin_named, true) {
                sources.push(Source::Stdin);
            }
        } else {
            sources.push(Source::Argument(i + 1, url.clone()));
        }
    }
    if let Some(path) = &args.input {
        let file = std::fs::File::open(path)
            .map_err(|e| Fatal::input(format!("cannot read {}: {e}", path.display())))?;
        sources.push(Source::File(path.display().to_string(), file));
    }
    if stdin == StdinUse::Implicit {
        sources.push(Source::Stdin);
    }
    Ok(sources)
}

/// The input of `sources`, reading no further once Ctrl-C is pressed (or stdout is closed).
pub fn inputs<'a>(
    defaults: &'a Defaults,
    sources: Vec<Source>,
    interrupt: &Interrupt,
) -> Inputs<'a> {
    let token = interrupt.token();
    Inputs::new(Parser::new(defaults), sources, move || token.is_cancelled())
}

/// Warms connections up and starts health checks, as asked, before the batch: for the hosts
/// among the first [`DISCOVERY_AHEAD`] inputs (all of a shorter input).
fn prepare(stack: &Stack, s: &Settings, inputs: &mut Inputs<'_>) -> Result<(), Fatal> {
    if s.warmup.is_none() && s.stack.health_check.is_none() {
        return Ok(());
    }
    let ahead = inputs.read_ahead(DISCOVERY_AHEAD);
    let valid = || ahead.iter().filter_map(|i| i.request.as_ref().ok());
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

/// Runs the inputs and prints one line per input read on stdout (or appends it to the
/// `--resume` file), then the report on stderr.
pub fn execute(
    s: &Settings,
    mut inputs: Inputs<'_>,
    interrupt: &Interrupt,
) -> Result<Report, Fatal> {
    let stack = Stack::build(&s.stack).map_err(|e| Fatal::usage(e.to_string()))?;
    if let BodyMode::File(dir) = &s.body {
        std::fs::create_dir_all(dir).map_err(|e| {
            Fatal::input(format!(
                "cannot create body directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let resume = match &s.resume {
        Some(path) => {
            let r = Resume::open(path)?;
            if s.summary {
                eprintln!(
                    "httpbatch: --resume: {} inputs already have a response in {}",
                    r.done(),
                    path.display()
                );
            }
            Some(r)
        }
        None => None,
    };
    prepare(&stack, s, &mut inputs)?;
    let token = interrupt.token();
    let bar = progress::bar(s.progress);
    let out: Box<dyn Write> = match &resume {
        Some(r) => Box::new(r.appender()?),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let mut sink = Sink::new(out, s.order);
    let mut stdout_closed = false;
    // Engine index -> the input's metadata and whether a worker started it (a cancelled item
    // that never started is reported as not_run), for the items read and not yet settled.
    let metas: RefCell<Slots> = RefCell::new(Slots::default());
    // The line being written, reused from one outcome to the next.
    let mut line = Vec::new();
    let mismatch: Cell<Option<String>> = Cell::new(None);
    let mut tally = Tally::default();
    let mut skipped = 0usize;
    let mut fed = 0usize;

    let readiness = inputs.readiness();
    let requests = inputs.by_ref().filter_map(|item| {
        if let Some(r) = &resume {
            match r.check(&item.meta) {
                Ok(true) => {
                    skipped += 1;
                    return None;
                }
                Ok(false) => {}
                Err(why) => {
                    if mismatch.replace(Some(why)).is_none() {
                        token.cancel();
                    }
                    return None;
                }
            }
        }
        metas.borrow_mut().insert(fed, (item.meta, false));
        fed += 1;
        Some(item.request)
    });
    let mut options = BatchOptions::new()
        .control(interrupt.control())
        .concurrency(s.stack.concurrency)
        // A window of a few items per worker, and no read that could wait on a producer while
        // other work is due: a slow producer's lines go out (and results come back) as they come.
        .queue_ahead(s.stack.concurrency.saturating_mul(2))
        .input_ready(move || readiness.ready())
        .request_timeout(s.stack.timeout)
        .fail_fast(s.fail_fast)
        .fail_fast_on_status(|status| status >= 400)
        .on_progress(progress::INTERVAL, |p| progress::update(&bar, p))
        .on_event(|e| match e {
            BatchEvent::Started { index } => {
                if let Some((_, started)) = metas.borrow_mut().get_mut(index) {
                    *started = true;
                }
            }
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
        .execute_streaming(requests, options, |index, mut outcome| {
            let (meta, ran) = metas.borrow_mut().remove(&index).unwrap_or_default();
            if matches!(outcome, Outcome::Cancelled) && !ran {
                outcome = Outcome::NotRun;
            }
            tally.record(&outcome, ran);
            line.clear();
            render_into(&mut line, &meta, &outcome, &s.body, s.include_headers);
            if !sink.push(index, &line) && !stdout_closed {
                // Nobody reads the results any more: stop sending requests.
                stdout_closed = true;
                token.cancel();
            }
        });
    bar.finish_and_clear();

    let report = Report {
        summary,
        tally,
        stats: stack.stats(),
        interrupted: interrupt.fired(),
        input_cut: inputs.stopped(),
        resumed: resume.map(|_| skipped),
    };
    let written = sink.finish();
    if s.summary {
        eprint!("{}", report.table());
        if let Some(d) = stack.dedup_stats() {
            eprint!("{}", crate::pages::dedup_line(&d));
        }
    }
    if let Some(to) = &s.summary_json {
        write_summary_json(to, &report)?;
    }
    if let Err(e) = written {
        eprintln!("httpbatch: cannot write results ({e}); the batch was stopped");
    }
    if let Some(why) = mismatch.into_inner() {
        return Err(Fatal::input(why));
    }
    if let Some(e) = inputs.error.take() {
        return Err(Fatal::input(e));
    }
    Ok(report)
}

/// The unsettled items' metadata by engine index. The keys are distinct small numbers, so a
/// multiplicative hash spreads them well at a fraction of the default hasher's cost.
type Slots = HashMap<usize, (Meta, bool), BuildHasherDefault<IndexHasher>>;

/// Fibonacci hashing of a `usize` key (the high bits, which the table uses, depend on all of
/// the key's bits).
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

fn write_summary_json(to: &SummaryTo, report: &Report) -> Result<(), Fatal> {
    let text = format!("{}\n", report.json());
    match to {
        SummaryTo::Stderr => {
            eprint!("{text}");
            Ok(())
        }
        SummaryTo::File(path) => std::fs::write(path, text).map_err(|e| {
            Fatal::input(format!(
                "cannot write the summary to {}: {e}",
                path.display()
            ))
        }),
    }
}
