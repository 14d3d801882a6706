//! `--dedup` and `--paginate`: the dedup layer in the stack, and walking paginated APIs.
//!
//! A walk sends every page through the same stack as a batch (rate limit, retries, per-host
//! caps), one URL after another, and prints one JSON line per page — or per item with
//! `--items POINTER`. `--resume-state FILE` starts from the state saved in FILE (when it
//! exists) and saves the walk's state there whenever it stops: done, failed or interrupted, so
//! running the same command again continues where it stopped.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use httpbatch::{Context, DedupStats, PageState, Strategy, paginate};
use serde_json::json;

use crate::args::RunArgs;
use crate::stack::Stack;
use crate::{Fatal, Interrupt, run};

/// Options of the dedup layer and of paginated walks.
#[derive(Debug, Args, Default, Clone)]
pub struct PagesArgs {
    /// Send identical requests in flight at the same time (GET, HEAD, OPTIONS with the same URL,
    /// headers and body) once; each still gets its own output line.
    #[arg(long, help_heading = "Speed")]
    pub dedup: bool,

    /// Walk the pages of each URL instead of fetching it once: `link` (Link rel="next"),
    /// `cursor:POINTER:PARAM` (the next cursor at a JSON pointer, sent back as ?PARAM=),
    /// `page:PARAM` or `offset:PARAM` (numbers until an empty page, or the --total).
    #[arg(long, value_name = "STRATEGY", value_parser = parse_strategy, help_heading = "Pagination")]
    pub paginate: Option<Strategy>,

    /// Print one line per item, the items being the array at this JSON pointer of each page
    /// ("" for a page that is an array).
    #[arg(
        long,
        value_name = "POINTER",
        requires = "paginate",
        help_heading = "Pagination"
    )]
    pub items: Option<String>,

    /// The total number of items, at this JSON pointer of the first page (page and offset).
    #[arg(
        long,
        value_name = "POINTER",
        requires = "paginate",
        help_heading = "Pagination"
    )]
    pub total: Option<String>,

    /// Stop each walk after N pages.
    #[arg(
        long,
        value_name = "N",
        requires = "paginate",
        help_heading = "Pagination"
    )]
    pub max_pages: Option<u64>,

    /// Stop each walk after N items.
    #[arg(
        long,
        value_name = "N",
        requires = "paginate",
        help_heading = "Pagination"
    )]
    pub max_items: Option<u64>,

    /// Resume the walk from the state in FILE if it exists, and save its state there when it
    /// stops (one URL only).
    #[arg(
        long,
        value_name = "FILE",
        requires = "paginate",
        help_heading = "Pagination"
    )]
    pub resume_state: Option<PathBuf>,
}

fn parse_strategy(text: &str) -> Result<Strategy, String> {
    text.parse()
        .map_err(|e: httpbatch::Error| e.message().to_owned())
}

/// The summary line of the dedup layer, for stderr.
pub fn dedup_line(stats: &DedupStats) -> String {
    format!(
        "dedup: {} requests, {} sent, {} shared an identical request in flight\n",
        stats.requests,
        stats.wire + stats.bypassed,
        stats.saved
    )
}

/// Walks the pages of every input URL; exit status 0 when every walk reached its end (or a
/// limit), 1 when one failed, 130 when interrupted.
pub fn walk(args: &RunArgs, interrupt: &Interrupt) -> Result<ExitCode, Fatal> {
    let pages = &args.pages;
    let Some(mut strategy) = pages.paginate.clone() else {
        return Err(Fatal::usage("--paginate is not set"));
    };
    if let Some(p) = &pages.items {
        strategy = strategy.items(p);
    }
    if let Some(p) = &pages.total {
        strategy = strategy.total(p);
    }
    let settings = run::Settings::from_args(args)?;
    let stdin = run::stdin_use(args).ok_or_else(|| Fatal::usage("no URL to paginate"))?;
    let items = run::load(args, &run::defaults(args)?, stdin)?;
    if pages.resume_state.is_some() && items.len() != 1 {
        return Err(Fatal::usage("--resume-state takes exactly one URL"));
    }
    let stack = Stack::build(&settings.stack).map_err(|e| Fatal::usage(e.to_string()))?;
    let ctx = Context::new().with_cancel(interrupt.token());
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failed = false;
    for item in items {
        let request = item
            .request
            .map_err(|e| Fatal::input(format!("{}: {e}", item.meta.origin)))?;
        let state = match &pages.resume_state {
            Some(path) => load_state(path)?,
            None => PageState::new(),
        };
        let mut walk = paginate(stack.executor.top(), request, strategy.clone())
            .context(ctx.clone())
            .max_pages(pages.max_pages.unwrap_or(u64::MAX))
            .max_items(pages.max_items.unwrap_or(u64::MAX))
            .resume(state);
        let mut write = |line: String| writeln!(out, "{line}");
        let mut error = None;
        let written: io::Result<()> = (|| {
            for page in walk.by_ref() {
                let mut page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                };
                if pages.items.is_some() {
                    for item in page.take_items() {
                        write(item.to_string())?;
                    }
                } else {
                    let res = page.response();
                    write(
                        json!({
                            "page": page.index(),
                            "url": res.url(),
                            "status": res.status(),
                            "items": page.items().len(),
                            "bytes": res.body().len(),
                        })
                        .to_string(),
                    )?;
                }
            }
            Ok(())
        })();
        if let Some(path) = &pages.resume_state {
            save_state(path, walk.state())?;
        }
        if let Err(e) = written {
            eprintln!("httpbatch: cannot write to stdout ({e}); the walk was stopped");
            failed = true;
            break;
        }
        if let Some(e) = error {
            eprintln!("httpbatch: {}: {e}", item.meta.origin);
            failed = true;
        }
        if settings.summary {
            let s = walk.state();
            eprintln!(
                "{}: {} pages, {} items{}",
                item.meta.origin,
                s.pages(),
                s.items(),
                if s.is_done() { "" } else { " (not at the end)" }
            );
        }
        if interrupt.fired() {
            break;
        }
    }
    let _ = out.flush();
    if settings.summary {
        if let Some(stats) = stack.dedup_stats() {
            eprint!("{}", dedup_line(&stats));
        }
    }
    Ok(if interrupt.fired() {
        ExitCode::from(130)
    } else if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn load_state(path: &Path) -> Result<PageState, Fatal> {
    match std::fs::read_to_string(path) {
        Ok(text) => PageState::from_json(&text)
            .map_err(|e| Fatal::input(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(PageState::new()),
        Err(e) => Err(Fatal::input(format!("cannot read {}: {e}", path.display()))),
    }
}

fn save_state(path: &Path, state: &PageState) -> Result<(), Fatal> {
    // Write then rename, so a crash mid-write leaves the previous state.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, state.to_json() + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Fatal::input(format!("cannot save the state to {}: {e}", path.display())))
}
