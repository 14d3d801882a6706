//! The input as a lazy stream of items: URL arguments (`-` = stdin), then `--input FILE`, or
//! stdin. Lines are read only as the run asks for them, so `producer | httpbatch` starts sending
//! before the producer is done, and memory stays bounded by what is queued and in flight.
//!
//! Stopping: once `stop` says so (Ctrl-C, stdout closed), no further line is read; the items
//! already read settle in the run, and the lines never read get no output line (`--resume`
//! runs them later).
//!
//! A slow producer: the engine reads on the thread that also prints outcomes, so it asks
//! [`Readiness`] before a read that could wait on stdin; while requests are in flight it reads
//! only lines already there, and goes on dispatching and printing in between.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::glob::Glob;
use crate::input::{Item, Origin, Parsed, Parser};

/// One place inputs come from.
#[derive(Debug)]
pub enum Source {
    /// A URL given as argument number `.0` (1-based).
    Argument(usize, String),
    /// Standard input.
    Stdin,
    /// A file (its name as given, and the file opened).
    File(String, std::fs::File),
}

/// How often a wait for a stdin line checks whether the run was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

/// A line source: a file read in place, or stdin read by its own thread, so that a wait for a
/// producer's next line notices Ctrl-C (within [`STOP_POLL`]) instead of blocking until the
/// producer writes or closes.
enum Lines {
    File(Box<dyn BufRead>),
    Stdin(mpsc::Receiver<io::Result<Vec<u8>>>),
}

struct Open {
    name: Option<Arc<str>>,
    lines: Lines,
    line: usize,
}

/// Whether the next item can be read without waiting on a producer (shared with the run, which
/// asks it while the iterator is borrowed).
#[derive(Debug, Default)]
pub struct Readiness {
    /// The next read would wait on stdin unless a line is pending.
    may_block: AtomicBool,
    /// Lines the stdin thread has read and the iterator has not taken yet.
    pending: AtomicUsize,
    /// Stdin ended (or failed): a read returns at once.
    ended: AtomicBool,
}

impl Readiness {
    /// Whether reading the next item cannot block.
    pub fn ready(&self) -> bool {
        !self.may_block.load(Ordering::Acquire)
            || self.pending.load(Ordering::Acquire) > 0
            || self.ended.load(Ordering::Acquire)
    }
}

/// Starts the thread that reads stdin line by line (a few thousand lines ahead at most).
fn read_stdin(readiness: Arc<Readiness>) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(4096);
    let spawned = std::thread::Builder::new()
        .name("httpbatch-stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut buf = Vec::new();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        if tx.send(Ok(buf)).is_err() {
                            break;
                        }
                        readiness.pending.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            readiness.ended.store(true, Ordering::Release);
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::sync_channel(1);
        let _ = tx.send(Err(e));
        return rx;
    }
    rx
}

/// The items of every source, in order, read on demand.
pub struct Inputs<'a> {
    parser: Parser<'a>,
    sources: VecDeque<Source>,
    open: Option<Open>,
    glob: Option<(Glob, Origin, u64)>,
    /// The buffer lines of a file are read into, kept from one line to the next.
    buf: Vec<u8>,
    ahead: VecDeque<Item>,
    next_index: usize,
    stop: Box<dyn Fn() -> bool + 'a>,
    stopped: bool,
    readiness: Arc<Readiness>,
    /// Why reading stopped early (an unreadable file or stdin), reported after the run.
    pub error: Option<String>,
}

impl<'a> Inputs<'a> {
    /// Items of `sources`, parsed by `parser`; reading stops once `stop()` is true.
    pub fn new(parser: Parser<'a>, sources: Vec<Source>, stop: impl Fn() -> bool + 'a) -> Self {
        Inputs {
            parser,
            sources: sources.into(),
            open: None,
            glob: None,
            buf: Vec::new(),
            ahead: VecDeque::new(),
            next_index: 0,
            stop: Box::new(stop),
            stopped: false,
            readiness: Arc::new(Readiness::default()),
            error: None,
        }
    }

    /// Whether the next item can be read without waiting on a producer; stays valid while the
    /// iterator is in use.
    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    fn update_readiness(&self) {
        let on_stdin = match &self.open {
            Some(open) => matches!(open.lines, Lines::Stdin(_)),
            None => matches!(self.sources.front(), Some(Source::Stdin)),
        };
        let may_block = on_stdin && self.ahead.is_empty() && self.glob.is_none();
        self.readiness.may_block.store(may_block, Ordering::Release);
    }

    /// Reads up to `n` items ahead (fewer if the input ends first) and returns them; they are
    /// still yielded by the iterator afterwards.
    pub fn read_ahead(&mut self, n: usize) -> &VecDeque<Item> {
        while self.ahead.len() < n {
            match self.read() {
                Some(item) => self.ahead.push_back(item),
                None => break,
            }
        }
        &self.ahead
    }

    /// Whether the input was cut short by `stop` (so some lines were never read).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    fn read(&mut self) -> Option<Item> {
        loop {
            if (self.stop)() {
                self.stopped = true;
                return None;
            }
            if let Some((glob, origin, k)) = &mut self.glob {
                if let Some(url) = glob.next() {
                    *k += 1;
                    let origin = Origin::Glob(Box::new(origin.clone()), *k, glob.total());
                    return Some(self.indexed(self.parser.url_item(origin, &url)));
                }
                self.glob = None;
            }
            let (origin, parsed) = match self.open.as_mut() {
                Some(open) => {
                    let mut buf = std::mem::take(&mut self.buf);
                    buf.clear();
                    let read = match &mut open.lines {
                        Lines::File(f) => f.read_until(b'\n', &mut buf),
                        Lines::Stdin(rx) => match rx.recv_timeout(STOP_POLL) {
                            Ok(line) => {
                                self.readiness.pending.fetch_sub(1, Ordering::AcqRel);
                                line.map(|l| {
                                    buf = l;
                                    buf.len()
                                })
                            }
                            Err(mpsc::RecvTimeoutError::Timeout) => continue,
                            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(0),
                        },
                    };
                    match read {
                        Ok(0) => {
                            self.open = None;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let name = open.name.as_deref().unwrap_or("stdin");
                            self.error = Some(format!("cannot read {name}: {e}"));
                            self.open = None;
                            self.sources.clear();
                            return None;
                        }
                    }
                    open.line += 1;
                    let origin = Origin::Line(open.name.clone(), open.line);
                    let parsed = match std::str::from_utf8(&buf) {
                        Ok(text) => self.parser.line(origin.clone(), text),
                        Err(_) => Parsed::One(Box::new(self.parser.not_utf8(origin.clone()))),
                    };
                    // The line's buffer serves the next one (a line from stdin brings its own).
                    self.buf = buf;
                    (origin, parsed)
                }
                None => match self.sources.pop_front()? {
                    Source::Argument(position, text) => {
                        let origin = Origin::Text(format!("argument {position}"));
                        (origin.clone(), self.parser.line(origin, &text))
                    }
                    Source::Stdin => {
                        self.open = Some(Open {
                            name: None,
                            lines: Lines::Stdin(read_stdin(self.readiness.clone())),
                            line: 0,
                        });
                        continue;
                    }
                    Source::File(name, file) => {
                        self.open = Some(Open {
                            name: Some(name.into()),
                            lines: Lines::File(Box::new(BufReader::new(file))),
                            line: 0,
                        });
                        continue;
                    }
                },
            };
            match parsed {
                Parsed::Skip => {}
                Parsed::One(item) => return Some(self.indexed(*item)),
                Parsed::Glob(g) => self.glob = Some((g, origin, 0)),
            }
        }
    }

    fn indexed(&mut self, mut item: Item) -> Item {
        item.meta.index = self.next_index;
        self.next_index += 1;
        item
    }
}

impl Iterator for Inputs<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let item = match self.ahead.pop_front() {
            Some(item) => Some(item),
            None => self.read(),
        };
        self.update_readiness();
        item
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::input::Defaults;

    fn file_with(name: &str, bytes: &[u8]) -> (String, std::fs::File) {
        let path =
            std::env::temp_dir().join(format!("httpbatch-src-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (path.display().to_string(), file)
    }

    #[test]
    fn arguments_then_file_with_globs_bad_bytes_and_indices() {
        let defaults = Defaults {
            glob: true,
            ..Defaults::default()
        };
        let (name, file) = file_with("a", b"# c\nh/[1-2]\n\xff\xfe\nh/z\n");
        let sources = vec![
            Source::Argument(1, "h/a".into()),
            Source::File(name.clone(), file),
        ];
        let items: Vec<Item> = Inputs::new(Parser::new(&defaults), sources, || false).collect();
        let got: Vec<(usize, Option<&str>, String, bool)> = items
            .iter()
            .map(|i| {
                let m = &i.meta;
                (
                    m.index,
                    m.url.as_deref(),
                    m.origin.to_string(),
                    i.request.is_ok(),
                )
            })
            .collect();
        let line = |n: usize| format!("{name} line {n}");
        assert_eq!(got[0], (0, Some("http://h/a"), "argument 1".into(), true));
        assert_eq!(got[1].1, Some("http://h/1"));
        assert_eq!(got[1].2, format!("{} (URL 1 of 2)", line(2)));
        assert_eq!(got[2].1, Some("http://h/2"));
        assert_eq!((got[3].0, &got[3].2, got[3].3), (3, &line(3), false));
        assert_eq!((got[4].0, got[4].1), (4, Some("http://h/z")));
        assert_eq!(items.len(), 5);
    }

    #[test]
    fn stop_ends_the_input_and_is_reported() {
        let defaults = Defaults::default();
        let (name, file) = file_with("b", b"h/1\nh/2\nh/3\n");
        let read = Cell::new(0);
        let mut inputs = Inputs::new(
            Parser::new(&defaults),
            vec![Source::File(name, file)],
            || read.get() >= 2,
        );
        assert_eq!(inputs.read_ahead(1).len(), 1);
        let mut n = 0;
        while inputs.next().is_some() {
            n += 1;
            read.set(n);
        }
        assert_eq!(n, 2);
        assert!(inputs.stopped());
    }
}
