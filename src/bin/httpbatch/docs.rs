//! `httpbatch completions SHELL` and `httpbatch man`: generated from the argument definitions,
//! so they cannot drift from `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::Fatal;
use crate::args::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Fatal> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "httpbatch", &mut out);
    write_stdout(&out)
}

/// Writes the man page (roff) to stdout.
pub fn man() -> Result<ExitCode, Fatal> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Fatal::input(format!("cannot render the man page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<ExitCode, Fatal> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Fatal::input(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
