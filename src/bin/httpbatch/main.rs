//! `httpbatch`: send a batch of HTTP requests from the command line.
//!
//! Run `httpbatch --help` for the options and examples, `httpbatch demo` to see it work
//! against the built-in test server. Exit status: 0 every request got a response below 400,
//! 1 some did not, 2 usage or input error, 130 interrupted by Ctrl-C (or SIGTERM, SIGHUP).

mod args;
mod cache;
mod coalesce;
mod demo;
#[cfg(feature = "redis")]
mod distributed;
mod docs;
mod glob;
mod input;
mod logging;
mod output;
mod pages;
mod progress;
mod resume;
mod run;
mod source;
mod stack;
mod summary;
mod tally;
mod units;

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use httpbatch::{BatchControl, CancelToken};
use signal_hook::consts::{SIGUSR1, SIGUSR2};

use crate::args::{Cli, Command, DemoArgs};
use crate::summary::Report;

/// Exit status for an interrupted run: 128 + SIGINT, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;
/// Exit status for usage and input errors (clap uses it for its own errors too).
const EXIT_USAGE: u8 = 2;

/// An error that stops the tool before or instead of a run: exit status 2.
#[derive(Debug)]
pub struct Fatal(String);

impl Fatal {
    /// A bad option or combination of options.
    pub fn usage(msg: impl Into<String>) -> Fatal {
        Fatal(msg.into())
    }

    /// An input that cannot be read.
    pub fn input(msg: impl Into<String>) -> Fatal {
        Fatal(msg.into())
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ctrl-C (and SIGTERM, SIGHUP): the first cancels the run (which still prints every slot and the
/// summary), the second exits at once. SIGUSR1 pauses the run (requests in flight finish, nothing
/// new starts) and SIGUSR2 resumes it.
#[derive(Clone)]
pub struct Interrupt {
    control: BatchControl,
    hits: Arc<AtomicUsize>,
}

impl Interrupt {
    fn install() -> Interrupt {
        let interrupt = Interrupt {
            control: BatchControl::new(),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let handler = interrupt.clone();
        let installed = ctrlc::set_handler(move || {
            if handler.hits.fetch_add(1, Ordering::SeqCst) > 0 {
                std::process::exit(EXIT_INTERRUPTED.into());
            }
            handler.control.cancel();
        });
        if let Err(e) = installed {
            eprintln!("httpbatch: warning: Ctrl-C will not stop the batch cleanly: {e}");
        }
        let control = interrupt.control.clone();
        let pause_signals =
            signal_hook::iterator::Signals::new([SIGUSR1, SIGUSR2]).and_then(|mut signals| {
                std::thread::Builder::new()
                    .name("httpbatch-signals".into())
                    .spawn(move || {
                        for signal in signals.forever() {
                            match signal {
                                SIGUSR1 => control.pause(),
                                _ => control.resume(),
                            }
                        }
                    })
            });
        if let Err(e) = pause_signals {
            eprintln!("httpbatch: warning: SIGUSR1/SIGUSR2 will not pause and resume: {e}");
        }
        interrupt
    }

    /// The token that Ctrl-C cancels.
    pub fn token(&self) -> CancelToken {
        self.control.cancel_token().clone()
    }

    /// The control that Ctrl-C cancels and SIGUSR1/SIGUSR2 pause and resume.
    pub fn control(&self) -> BatchControl {
        self.control.clone()
    }

    /// Whether Ctrl-C was pressed.
    pub fn fired(&self) -> bool {
        self.hits.load(Ordering::SeqCst) > 0
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logging = logging::init(cli.verbose);
    let interrupt = Interrupt::install();
    let result = match cli.command {
        Some(Command::Demo(a)) => demo::demo(&a, &interrupt),
        Some(Command::Serve(a)) => demo::serve(&a, &interrupt),
        #[cfg(feature = "redis")]
        Some(Command::Submit(a)) => distributed::submit(&a),
        #[cfg(feature = "redis")]
        Some(Command::Worker(a)) => distributed::worker(&a, &interrupt),
        #[cfg(feature = "redis")]
        Some(Command::Collect(a)) => distributed::collect(&a),
        #[cfg(feature = "redis")]
        Some(Command::Status(a)) => distributed::status(&a),
        Some(Command::Completions { shell }) => docs::completions(shell),
        Some(Command::Man) => docs::man(),
        None => batch(&cli.run, logging, &interrupt),
    };
    result.unwrap_or_else(|e| {
        eprintln!("httpbatch: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// The default command: run the batch the arguments describe, or the demo when there is none.
fn batch(args: &args::RunArgs, logging: bool, interrupt: &Interrupt) -> Result<ExitCode, Fatal> {
    let no_arguments = std::env::args_os().len() <= 1;
    let Some(stdin) = run::stdin_use(args) else {
        if no_arguments {
            return demo::demo(&DemoArgs::default(), interrupt);
        }
        return Err(Fatal::usage(
            "no URLs: give them as arguments, in a file (-i FILE) or on stdin; \
             `httpbatch demo` shows it working, `httpbatch --help` explains",
        ));
    };
    if args.pages.paginate.is_some() {
        return pages::walk(args, interrupt);
    }
    let mut settings = run::Settings::from_args(args)?;
    // Log lines and a redrawn progress bar do not mix.
    settings.progress &= !logging;
    let defaults = run::defaults(args)?;
    let mut inputs = run::inputs(&defaults, run::sources(args, stdin)?, interrupt);
    if inputs.read_ahead(1).is_empty() && inputs.error.is_none() {
        if no_arguments {
            // `cargo run` in CI: stdin is not a terminal but empty.
            return demo::demo(&DemoArgs::default(), interrupt);
        }
        eprintln!("httpbatch: no requests in the input");
    }
    let report = run::execute(&settings, inputs, interrupt)?;
    Ok(exit_code(&report))
}

/// 0 when every request got a response below 400, 130 when interrupted, 1 otherwise.
pub fn exit_code(report: &Report) -> ExitCode {
    if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.tally.succeeded == report.tally.total {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
