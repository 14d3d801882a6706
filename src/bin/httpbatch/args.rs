//! Command-line arguments: what a curl or wrk user would guess, with help a newcomer can read.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use httpbatch::Rate;

use crate::units::{parse_duration, parse_head_size, parse_size};

const EXAMPLES: &str = "\
Examples:
  httpbatch demo                                   see it work against a built-in test server
  httpbatch https://example.com/a https://example.com/b
  httpbatch -a urls.txt -c 32 --rate 100/s --retries 3 > results.jsonl
  cat urls.txt | httpbatch --rate 5000/h --burst 20 --body text
  httpbatch -X POST -H 'content-type: application/json' -d '{\"id\":1}' http://127.0.0.1:8080/items
  httpbatch --jsonl -a requests.jsonl --order completed
  httpbatch 'http://127.0.0.1:8080/items/[001-100]' 'example.com/{a,b,c}'   globs; http:// implied
  httpbatch -a urls.txt --resume results.jsonl     run again after Ctrl-C or a crash: finishes the rest
  httpbatch serve --port 8080 --for 5m             a local test server to try things by hand

Input: one URL per line (blank lines and lines starting with # are skipped), or JSON lines:
  {\"method\":\"POST\",\"url\":\"http://…\",\"headers\":{\"k\":\"v\"},\"body\":\"…\",\"tag\":7,\"priority\":1,\"timeout_ms\":500}
\"body\" may be any JSON value (sent as JSON), or use \"body_base64\"; \"tag\" a number or a string;
fields of your own (e.g. \"id\") are echoed on the output line under \"fields\".
A bad line is reported on stderr with its line number and ends as an error in its own slot.
Input is streamed: `producer | httpbatch` starts sending while the producer still writes (read a
few lines per worker ahead; --order completed holds no line back). --warmup and --health-check
cover the hosts among the first 1000 inputs, which are read before the first request.

Output: one JSON object per request on stdout (in input order unless --order completed), then a
summary on stderr (--summary-json adds it as JSON on stderr or in a file). Exit status: 0 every
request of this run got a response below 400, 1 some did not, 2 usage or input error, 130
interrupted. Ctrl-C: no more input is read; requests in flight end cancelled, those read but not
started not_run, and lines never read get no output line (--resume FILE runs them later).

Signals: SIGUSR1 pauses the run (requests in flight finish, nothing new starts; the --deadline
keeps running), SIGUSR2 resumes it: `kill -USR1 <pid>`.";

/// Send a batch of HTTP requests: concurrently, rate-limited, retried, with a report.
#[derive(Debug, Parser)]
#[command(
    name = "httpbatch",
    version,
    about = "Send a batch of HTTP requests: concurrently, rate-limited, retried, with a report.",
    long_about = "Send a batch of HTTP requests: concurrently, rate-limited, retried, with a report.\n\n\
        Give URLs as arguments, in a file (-i), or on stdin. With no arguments at all it runs a \
        short demo against a built-in test server.",
    after_help = "Run `httpbatch --help` for examples.",
    after_long_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Log httpbatch's decisions on stderr: -v gives up and circuit changes, -vv every retry
    /// and why, backoff, throttle wait and redirect, -vvv everything. Without it, RUST_LOG
    /// (e.g. `httpbatch::retry=debug`) is honoured.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a short demo against the built-in test server: rate limiting, retries, progress.
    Demo(DemoArgs),
    /// Run the built-in test server on 127.0.0.1 and print its base URL, to try httpbatch by hand.
    #[command(after_long_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Print a completion script for SHELL on stdout, e.g.
    /// `httpbatch completions bash > /etc/bash_completion.d/httpbatch`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, e.g. `httpbatch man > httpbatch.1; man ./httpbatch.1`.
    Man,
    /// Put requests on a work list in Redis, for `httpbatch worker` processes on any machines.
    #[cfg(feature = "redis")]
    Submit(crate::distributed::SubmitArgs),
    /// Run the requests of a work list in Redis (with a rate shared by every worker).
    #[cfg(feature = "redis")]
    Worker(Box<crate::distributed::WorkerArgs>),
    /// Print the outcomes recorded on a work list, in input or completion order.
    #[cfg(feature = "redis")]
    Collect(crate::distributed::CollectArgs),
    /// Show a work list's queued, pending, done and failed requests, per worker.
    #[cfg(feature = "redis")]
    Status(crate::distributed::StatusArgs),
}

// Not `{n}` anywhere in help text: clap reads it as a line break.
const SERVE_HELP: &str = "\
Routes:
  /ok                          200 \"ok\"
  /status/{code}               that status
  /bytes/{len}                 len bytes of body
  /delay/{ms}                  answers after ms milliseconds
  /echo                        echoes the request body and headers
  /seq/{key}?s=503,200         the nth request to key gets the nth status
  /flaky/{key}?fail=N          the first N requests to key get 503, then 200
  /limited/{key}?n=N&retry_after=S   N requests get 200, the rest 429 with Retry-After: S
  /close, /reset               close the connection after answering / without answering
  /cacheable/{key}?cc=max-age%3D60&etag=1&lm=1&vary=H&expires=S   caching headers; 304 to validators
  /gunzip-echo                 echoes the request body after undoing Content-Encoding: gzip

  /__stats[?prefix=P]           the server's counters as JSON (control: not counted itself)
  /__reset                     zeroes the counters and sequences (control)

The first line on stdout is the base URL (http://127.0.0.1:PORT), flushed at once; everything
else goes to stderr. Ctrl-C or SIGTERM stops the server (exit status 0).

Example:
  httpbatch serve --port 8080 &
  seq 1 20 | sed 's|^|http://127.0.0.1:8080/flaky/|; s|$|?fail=1|' | httpbatch --retries 2

From a test (another process, any language): start `httpbatch serve --port 0 --exit-on-stdin-eof`
with a pipe on its stdin, read the URL line, and close the pipe (or send SIGTERM) when done.";

/// Options of `httpbatch demo`.
#[derive(Debug, Args, Default)]
pub struct DemoArgs {
    /// Print no explanations and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of `httpbatch serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 0)]
    pub port: u16,
    /// Stop after this long (e.g. 30s, 5m); runs until Ctrl-C or SIGTERM without it.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Stop when stdin reaches end of file: a test that runs the server with a pipe on its stdin
    /// never leaves it behind, even if the test crashes (the pipe closes when it dies).
    #[arg(long)]
    pub exit_on_stdin_eof: bool,
}

/// How outcomes are ordered on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Order {
    /// In the order of the input (held back until earlier requests finish).
    #[default]
    Input,
    /// As each request finishes.
    Completed,
}

/// How response bodies appear in the output (see --body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMode {
    /// Not at all (the byte count is still given).
    None,
    /// As text (invalid UTF-8 replaced).
    Text,
    /// Base64-encoded.
    Base64,
    /// Written to DIR/{index}.body, with the path in the output.
    File(PathBuf),
}

fn parse_body_mode(text: &str) -> Result<BodyMode, String> {
    match text {
        "none" => Ok(BodyMode::None),
        "text" => Ok(BodyMode::Text),
        "base64" => Ok(BodyMode::Base64),
        _ => match text.strip_prefix("file:") {
            Some(dir) if !dir.is_empty() => Ok(BodyMode::File(PathBuf::from(dir))),
            _ => Err(format!(
                "invalid body mode {text:?}: expected none, text, base64 or file:DIR"
            )),
        },
    }
}

/// Where `--summary-json` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryTo {
    /// Standard error, after the table.
    Stderr,
    /// A file (replaced).
    File(PathBuf),
}

fn parse_summary_to(text: &str) -> Result<SummaryTo, String> {
    Ok(if text.is_empty() {
        SummaryTo::Stderr
    } else {
        SummaryTo::File(PathBuf::from(text))
    })
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    Rate::parse(text).map_err(|e| e.message().to_owned())
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header {text:?}: expected \"Name: value\""))?;
    let name = name.trim();
    let value = value.trim_start();
    httpbatch::Request::builder(httpbatch::Method::Get, "http://h/")
        .header(name, value)
        .build()
        .map_err(|e| e.message().to_owned())?;
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_method(text: &str) -> Result<httpbatch::Method, String> {
    httpbatch::Method::parse(text).map_err(|e| e.message().to_owned())
}

fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("invalid concurrency {text:?}: expected 1 to 4096")),
    }
}

/// Options of a batch run (the default command).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// URLs to request; `-` reads them from stdin (as does piping them in with no URLs given).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read requests from FILE: one URL per line, or JSON lines (see --jsonl). `-a` as in xargs
    /// and GNU parallel (`-i` adds response headers, as in curl).
    #[arg(short = 'a', long, value_name = "FILE", help_heading = "Input")]
    pub input: Option<PathBuf>,

    /// Read every input line as a JSON request spec (lines starting with `{` always are).
    #[arg(long, help_heading = "Input")]
    pub jsonl: bool,

    /// Do not expand URL patterns: `[1-100]`, `[001-100]`, `[a-z]`, `[0-100:10]` and `{a,b,c}`
    /// are expanded (as curl does) in URL arguments and URL lines, not in JSON lines.
    #[arg(short = 'g', long, visible_alias = "no-glob", help_heading = "Input")]
    pub globoff: bool,

    /// Finish a list a previous run left half done: skip the inputs that already have a
    /// response line in FILE, drop its other lines, and append this run's lines to FILE (instead
    /// of stdout). FILE may not exist yet. Every input ends with one line in FILE.
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub resume: Option<PathBuf>,

    /// Method for requests that do not set one [default: GET, or POST with --data]: GET, HEAD,
    /// POST, PUT, DELETE, PATCH, OPTIONS or TRACE (the HTTP engine underneath, ureq, sends no other).
    #[arg(short = 'X', long, value_name = "METHOD", value_parser = parse_method, help_heading = "Request")]
    pub method: Option<httpbatch::Method>,

    /// Header for every request, as "Name: value". Repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header, help_heading = "Request")]
    pub headers: Vec<(String, String)>,

    /// Body for requests that do not set one; `@FILE` reads it from a file.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        help_heading = "Request"
    )]
    pub data: Option<String>,

    /// Requests in flight at once.
    #[arg(short, long, default_value = "16", value_name = "N", value_parser = parse_concurrency, help_heading = "Speed")]
    pub concurrency: usize,

    /// Most requests per interval, every retry included: 100/s, 5000/h, 0.5/s, 30/min.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, help_heading = "Speed")]
    pub rate: Option<Rate>,

    /// Requests that may go at once after an idle spell, with --rate [default: 1, evenly spaced].
    #[arg(long, value_name = "N", requires = "rate", help_heading = "Speed")]
    pub burst: Option<u32>,

    /// Most requests in flight to any one host [default: the concurrency].
    #[arg(long, value_name = "N", value_parser = parse_concurrency, help_heading = "Speed")]
    pub per_host: Option<usize>,

    /// Open N connections to each host before the batch starts (GET of --health-path).
    #[arg(long, value_name = "N", help_heading = "Speed")]
    pub warmup: Option<usize>,

    /// Probe every host this often while the batch runs; a host that fails two probes in a row
    /// is marked down and its requests fail fast (circuit_open) until a probe succeeds.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_duration, help_heading = "Speed")]
    pub health_check: Option<Duration>,

    /// Path that health probes and warmup requests ask for.
    #[arg(long, value_name = "PATH", default_value = "/", help_heading = "Speed")]
    pub health_path: String,

    /// Retry each failed request up to N times (on 429, 502, 503, 504, refused or reset
    /// connections and timeouts; GET, HEAD, PUT, DELETE, OPTIONS only, unless --retry-post).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Retries")]
    pub retries: u32,

    /// Delay before the first retry, doubled for each further one (with jitter).
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration, help_heading = "Retries")]
    pub retry_backoff: Duration,

    /// Longest Retry-After from the server that is honoured; a longer one is not waited for.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, help_heading = "Retries")]
    pub retry_after_cap: Duration,

    /// Retry POST and PATCH requests too (only if the server can take them twice).
    #[arg(long, help_heading = "Retries")]
    pub retry_post: bool,

    /// Time allowed for each request (connect, send, whole response).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, help_heading = "Limits")]
    pub timeout: Duration,

    /// Time allowed to connect.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Limits")]
    pub connect_timeout: Duration,

    /// Largest response body accepted (e.g. 64KiB, 10MiB); larger ones fail with body_too_large.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size, help_heading = "Limits")]
    pub max_body: u64,

    /// Largest response head (status line and headers) accepted, from 16KiB to 4MiB; a larger
    /// one fails with protocol and is not retried.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_head_size, help_heading = "Limits")]
    pub max_head_size: usize,

    /// Stop the whole batch after this long: requests not started end not_run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Limits")]
    pub deadline: Option<Duration>,

    /// Start nothing more after the first failure: an error or a status of 400 or more, as the
    /// exit status counts it (the rest end not_run).
    #[arg(long, help_heading = "Limits")]
    pub fail_fast: bool,

    /// Output order: `input` (default) or `completed`.
    #[arg(long, value_enum, default_value_t = Order::Input, value_name = "ORDER", help_heading = "Output")]
    pub order: Order,

    /// Response bodies in the output: none, text, base64, or file:DIR (one file per request).
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse_body_mode, help_heading = "Output")]
    pub body: BodyMode,

    /// Add each response's headers to its line (`"headers": {"name": "value"}`, names
    /// lowercased, repeated headers joined by ", ").
    #[arg(
        short = 'i',
        long,
        visible_alias = "include-headers",
        help_heading = "Output"
    )]
    pub include: bool,

    /// Also write the summary as JSON: `--summary-json=FILE` to FILE, `--summary-json` to
    /// stderr (never among the results on stdout).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "",
          require_equals = true,
          value_parser = parse_summary_to, help_heading = "Output")]
    pub summary_json: Option<SummaryTo>,

    /// No summary and no progress bar on stderr (bad input lines are still reported).
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,

    #[command(flatten)]
    pub net: NetArgs,

    /// `--dedup` and the pagination options (src/bin/httpbatch/pages.rs).
    #[command(flatten)]
    pub pages: crate::pages::PagesArgs,
    #[command(flatten)]
    pub cache: crate::cache::CacheArgs,

    #[command(flatten)]
    pub coalesce: crate::coalesce::CoalesceArgs,
}

/// TLS, proxy and decoding options, named as in curl.
#[derive(Debug, Args, Default, Clone)]
pub struct NetArgs {
    /// Do NOT verify TLS certificates: any certificate for any name is accepted, so anyone on
    /// the path can read and change the traffic. For testing only.
    #[arg(short = 'k', long, help_heading = "TLS and proxies")]
    pub insecure: bool,

    /// Verify servers with the CA certificates in this PEM file instead of the built-in roots.
    #[arg(long, value_name = "FILE", help_heading = "TLS and proxies")]
    pub cacert: Option<PathBuf>,

    /// Present this client certificate (PEM, with any intermediates) to servers that ask.
    #[arg(long, value_name = "FILE", help_heading = "TLS and proxies")]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM) [default: read from the --cert file].
    #[arg(
        long,
        value_name = "FILE",
        requires = "cert",
        help_heading = "TLS and proxies"
    )]
    pub key: Option<PathBuf>,

    /// Send requests through this proxy: http://[user:pass@]host[:port], socks5://… (names
    /// resolved here) or socks5h://… (by the proxy). Without it, http_proxy, https_proxy,
    /// all_proxy and no_proxy are read from the environment as curl does; "" uses none.
    #[arg(
        short = 'x',
        long,
        value_name = "URL",
        help_heading = "TLS and proxies"
    )]
    pub proxy: Option<String>,

    /// Hosts reached without the proxy: comma-separated names (subdomains included), IP
    /// addresses or CIDR ranges; `*` for all. Replaces no_proxy from the environment.
    #[arg(long, value_name = "LIST", help_heading = "TLS and proxies")]
    pub noproxy: Option<String>,

    /// Decode gzip, deflate and br bodies; --max-body applies to the decoded size. The
    /// default (accepted for curl's habit).
    #[arg(long, conflicts_with = "raw", help_heading = "Decoding")]
    pub compressed: bool,

    /// Keep bodies as sent: nothing decoded, Content-Encoding kept, no Accept-Encoding sent
    /// unless --accept-encoding asks for one.
    #[arg(long, help_heading = "Decoding")]
    pub raw: bool,

    /// Accept-Encoding sent by requests that set none ("" sends none) [default: gzip,
    /// deflate, br; none with --raw].
    #[arg(long, value_name = "LIST", help_heading = "Decoding")]
    pub accept_encoding: Option<String>,
}

impl NetArgs {
    /// `config` with these options applied.
    pub fn apply(&self, mut config: httpbatch::HttpClientConfig) -> httpbatch::HttpClientConfig {
        if self.insecure {
            config = config.danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &self.cacert {
            config = config.builtin_roots(false).add_root_certificates_file(ca);
        }
        if let Some(cert) = &self.cert {
            let key = self.key.as_ref().unwrap_or(cert);
            config = config.client_certificate_files(cert, key);
        }
        if let Some(proxy) = &self.proxy {
            config = config.proxy(proxy.as_str());
        }
        if let Some(list) = &self.noproxy {
            config = config.no_proxy(list.as_str());
        }
        if self.raw {
            config = config.decompress(false);
        }
        if let Some(value) = &self.accept_encoding {
            config = config.accept_encoding(value.as_str());
        }
        config
    }
}

impl RunArgs {
    /// Whether the command line names no target and sets nothing: the "just run it" case.
    pub fn is_bare(&self) -> bool {
        self.urls.is_empty() && self.input.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = Cli::try_parse_from([
            "httpbatch",
            "-c",
            "8",
            "--rate",
            "5000/h",
            "--burst",
            "20",
            "--retries",
            "2",
            "--retry-backoff",
            "250ms",
            "-H",
            "x-a: 1",
            "-H",
            "x-b:2",
            "-X",
            "put",
            "--body",
            "file:/tmp/out",
            "--order",
            "completed",
            "http://127.0.0.1/a",
        ])
        .unwrap();
        let r = cli.run;
        assert_eq!(r.concurrency, 8);
        assert_eq!(r.rate.unwrap().to_string(), "5000/h");
        assert_eq!(r.burst, Some(20));
        assert_eq!(r.retry_backoff, Duration::from_millis(250));
        assert_eq!(
            r.headers,
            [("x-a".into(), "1".into()), ("x-b".into(), "2".into())]
        );
        assert_eq!(r.method, Some(httpbatch::Method::Put));
        assert_eq!(r.body, BodyMode::File("/tmp/out".into()));
        assert_eq!(r.order, Order::Completed);
        assert_eq!(r.urls, ["http://127.0.0.1/a"]);
    }

    #[test]
    fn rejects_bad_values() {
        for args in [
            &["httpbatch", "--rate", "0/s"][..],
            &["httpbatch", "--burst", "3"],
            &["httpbatch", "-c", "0"],
            &["httpbatch", "--timeout", "soon"],
            &["httpbatch", "-H", "no-colon"],
            &["httpbatch", "-H", "bad name: x"],
            &["httpbatch", "--body", "file:"],
            &["httpbatch", "-X", "BREW"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn subcommands() {
        let cli =
            Cli::try_parse_from(["httpbatch", "serve", "--port", "0", "--for", "2s"]).unwrap();
        match cli.command {
            Some(Command::Serve(s)) => assert_eq!(s.run_for, Some(Duration::from_secs(2))),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["httpbatch", "demo"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Demo(_))));
    }

    #[test]
    fn tls_and_proxy_options_reach_the_client_config() {
        let cli = Cli::try_parse_from([
            "httpbatch",
            "-k",
            "--cacert",
            "ca.pem",
            "--cert",
            "me.pem",
            "-x",
            "socks5h://127.0.0.1:1080",
            "--noproxy",
            "localhost,10.0.0.0/8",
            "http://127.0.0.1/",
        ])
        .unwrap();
        let c = cli.run.net.apply(httpbatch::HttpClientConfig::default());
        assert!(c.get_danger_accept_invalid_certs());
        assert!(!c.get_builtin_roots());
        assert!(c.has_client_certificate());
        assert_eq!(c.get_proxy(), Some("socks5h://127.0.0.1:1080"));
        assert_eq!(c.get_no_proxy(), Some("localhost,10.0.0.0/8"));
        let plain = Cli::try_parse_from(["httpbatch", "http://127.0.0.1/"]).unwrap();
        let c = plain.run.net.apply(httpbatch::HttpClientConfig::default());
        assert!(!c.get_danger_accept_invalid_certs() && c.get_builtin_roots());
        assert!(c.get_proxy().is_none() && c.get_proxy_from_env());
        assert!(Cli::try_parse_from(["httpbatch", "--key", "k.pem", "http://h/"]).is_err());
    }
}
