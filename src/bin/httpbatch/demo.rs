//! `httpbatch demo` (also what a bare `httpbatch` runs) and `httpbatch serve`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use httpbatch::{Context, Rate};
use httpbatch_testserver::Server;

use crate::args::{BodyMode, DemoArgs, Order, ServeArgs};
use crate::input::Defaults;
use crate::run::{Settings, execute, inputs};
use crate::source::Source;
use crate::stack::StackConfig;
use crate::{EXIT_INTERRUPTED, Fatal, Interrupt};

const FAST: usize = 16;
const SLOW: usize = 4;
const FLAKY: usize = 6;
const LIMITED: usize = 6;
/// Requests the server's quota admits on `/limited/quota`; the rest get 429.
const QUOTA: usize = 4;
const CONCURRENCY: usize = 8;
const RATE: &str = "40/s";
const BURST: u32 = 8;
const RETRIES: u32 = 2;

fn demo_urls(server: &Server) -> Vec<String> {
    let fast = (0..FAST).map(|_| server.url("/bytes/64"));
    let slow = (0..SLOW).map(|i| server.url(&format!("/delay/{}", 300 + 100 * i)));
    let flaky = (0..FLAKY).map(|i| server.url(&format!("/flaky/demo-{i}?fail=2")));
    let limited =
        (0..LIMITED).map(|_| server.url(&format!("/limited/quota?n={QUOTA}&retry_after=1")));
    // Interleave so the progress bar shows every kind of request early on.
    let mut kinds: Vec<Box<dyn Iterator<Item = String>>> = vec![
        Box::new(fast),
        Box::new(slow),
        Box::new(flaky),
        Box::new(limited),
    ];
    let mut urls = Vec::new();
    while urls.len() < FAST + SLOW + FLAKY + LIMITED {
        for k in &mut kinds {
            if let Some(u) = k.next() {
                urls.push(u);
            }
        }
    }
    urls
}

fn demo_settings(quiet: bool) -> Settings {
    Settings {
        stack: StackConfig {
            concurrency: CONCURRENCY,
            rate: Some((Rate::parse(RATE).expect("a valid rate"), BURST)),
            per_host: None,
            retries: RETRIES,
            retry_backoff: Duration::from_millis(100),
            retry_after_cap: Duration::from_secs(5),
            retry_post: false,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            max_body: 1 << 20,
            max_head: 64 << 10,
            health_check: None,
            health_path: "/".into(),
            net: Default::default(),
            coalesce: Default::default(),
            dedup: false,
            cache: Default::default(),
        },
        warmup: None,
        deadline: Some(Duration::from_secs(30)),
        fail_fast: false,
        order: Order::Input,
        body: BodyMode::None,
        include_headers: false,
        summary_json: None,
        resume: None,
        summary: !quiet,
        progress: true,
    }
}

fn explain(server: &Server) {
    let total = FAST + SLOW + FLAKY + LIMITED;
    eprintln!(
        "httpbatch demo: a built-in test server listens on {}\n\
         Sending {total} requests, {CONCURRENCY} at a time, at most {RATE} (burst {BURST}), \
         retrying each up to {RETRIES} times:\n\
         \x20 {FAST:>2} × /bytes/64          fast: answered at once\n\
         \x20 {SLOW:>2} × /delay/300..600    slow: answered after 0.3–0.6 s\n\
         \x20 {FLAKY:>2} × /flaky/N?fail=2    flaky: 503 twice, then 200; retried with backoff\n\
         \x20 {LIMITED:>2} × /limited/quota     rate-limited: the server takes {QUOTA}, then answers \
         429 with Retry-After: 1\n\
         The rate limiter paces every attempt, retries included (\"throttled\" in the summary).\n\
         stdout gets one JSON line per request, in input order; stderr the progress bar (on a \
         terminal) and the summary.\n",
        server.base_url()
    );
}

fn afterword(server: &Server) {
    eprintln!(
        "\nWhat you saw: the flaky requests ended 200 with \"attempts\":3 (two 503s retried).\n\
         The {} requests over the quota waited the 1 s the server's Retry-After asked for, twice,\n\
         and ended 429: retries cannot beat a hard quota; that is what a failure looks like.\n\
         The server answered {} requests in all (every attempt passed the rate limiter).\n\
         Try it by hand: `httpbatch serve --port 8080` in one terminal, then e.g.\n\
         \x20 seq 1 50 | sed 's|.*|http://127.0.0.1:8080/flaky/&?fail=1|' | httpbatch --rate 10/s --retries 2",
        LIMITED - QUOTA,
        server.requests()
    );
}

/// Runs the demo batch against an embedded server; exits 0 when everything went as scripted.
pub fn demo(args: &DemoArgs, interrupt: &Interrupt) -> Result<ExitCode, Fatal> {
    let server =
        Server::start().map_err(|e| Fatal::input(format!("cannot start the demo server: {e}")))?;
    if !args.quiet {
        explain(&server);
    }
    let defaults = Defaults::default();
    let sources = demo_urls(&server)
        .into_iter()
        .enumerate()
        .map(|(i, url)| Source::Argument(i + 1, url))
        .collect();
    let inputs = inputs(&defaults, sources, interrupt);
    let report = execute(&demo_settings(args.quiet), inputs, interrupt)?;
    if !args.quiet && !report.interrupted {
        afterword(&server);
    }
    server.stop();
    let s = &report.tally;
    let over_quota = LIMITED - QUOTA;
    Ok(if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if s.succeeded == s.total - over_quota && s.status_classes[3] == over_quota {
        ExitCode::SUCCESS
    } else {
        eprintln!("httpbatch demo: the outcomes are not what the script expects");
        ExitCode::FAILURE
    })
}

/// Runs the test server until `--for` elapses, Ctrl-C or SIGTERM, or (with
/// `--exit-on-stdin-eof`) stdin closes. The base URL is the first line on stdout.
pub fn serve(args: &ServeArgs, interrupt: &Interrupt) -> Result<ExitCode, Fatal> {
    let server = Server::builder()
        .port(args.port)
        .start()
        .map_err(|e| Fatal::input(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    println!("{}", server.base_url());
    let _ = std::io::stdout().flush();
    if args.exit_on_stdin_eof {
        // Stops the server as Ctrl-C would once stdin ends (or fails): the parent that holds
        // the other end of the pipe closed it, or died.
        let stop = interrupt.token();
        std::thread::Builder::new()
            .name("httpbatch-stdin".into())
            .spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                stop.cancel();
            })
            .map_err(|e| Fatal::input(format!("cannot watch stdin: {e}")))?;
    }
    let until = args.run_for.map(|d| Instant::now() + d);
    eprintln!(
        "httpbatch: test server on {} (stops {}{}); routes: `httpbatch serve --help`",
        server.base_url(),
        match args.run_for {
            Some(d) => format!("after {d:?} or "),
            None => String::new(),
        },
        if args.exit_on_stdin_eof {
            "on Ctrl-C, SIGTERM or end of stdin"
        } else {
            "on Ctrl-C or SIGTERM"
        }
    );
    let ctx = Context::new().with_cancel(interrupt.token());
    loop {
        let step = Instant::now() + Duration::from_secs(3600);
        let next = until.map_or(step, |u| u.min(step));
        if ctx.wait_until(next).is_err() || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
    }
    eprintln!(
        "httpbatch: test server stopped after {} requests on {} connections",
        server.requests(),
        server.accepted()
    );
    server.stop();
    Ok(ExitCode::SUCCESS)
}
