//! `--resume FILE`: finish a list that an earlier run left half done.
//!
//! FILE is the earlier runs' output and this run's output. At the start, its lines whose outcome
//! is a response (any status) are kept and every other line (an error, cancelled, not run, a
//! line cut short by a crash, a summary) is dropped, by writing the kept lines to a temporary
//! file renamed over FILE. Then the run skips every input whose index has a kept line (its URL
//! and tag must match, or the input is not the one FILE was made from: an input error) and
//! appends one line per input it reads. So after any number of runs, interrupted or not, FILE
//! holds at most one line per input, and exactly one for every input the runs got to. Lines are
//! in input order within a run, not across runs (`jq -s 'sort_by(.index)[]'` sorts them).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Fatal;
use crate::input::Meta;

/// What a kept line says about its input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Done {
    url: Option<String>,
    tag: Option<Value>,
}

/// The inputs already done, and the file to append to.
#[derive(Debug)]
pub struct Resume {
    path: PathBuf,
    done: HashMap<usize, Done>,
}

impl Resume {
    /// Reads FILE (a missing FILE is an empty one), keeps its final lines and drops the rest.
    pub fn open(path: &Path) -> Result<Resume, Fatal> {
        let fail = |what: &str, e: std::io::Error| {
            Fatal::input(format!("--resume: cannot {what} {}: {e}", path.display()))
        };
        let mut done = HashMap::new();
        let mut kept = Vec::new();
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(|e| fail("read", e))?;
                    if let Some((index, d)) = final_line(&line) {
                        if let std::collections::hash_map::Entry::Vacant(v) = done.entry(index) {
                            v.insert(d);
                            kept.push(line);
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("read", e)),
        }
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".resume-tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut w = BufWriter::new(File::create(&tmp).map_err(|e| fail("write", e))?);
        for line in &kept {
            writeln!(w, "{line}").map_err(|e| fail("write", e))?;
        }
        w.into_inner()
            .map_err(|e| fail("write", e.into_error()))?
            .sync_all()
            .map_err(|e| fail("write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| fail("replace", e))?;
        Ok(Resume {
            path: path.to_owned(),
            done,
        })
    }

    /// How many inputs FILE already has a final line for.
    pub fn done(&self) -> usize {
        self.done.len()
    }

    /// Whether the input is done (skip it); an error when FILE's line for its index names
    /// another URL or tag.
    pub fn check(&self, meta: &Meta) -> Result<bool, String> {
        let Some(d) = self.done.get(&meta.index) else {
            return Ok(false);
        };
        if d.url == meta.url && d.tag == meta.tag {
            return Ok(true);
        }
        Err(format!(
            "--resume {}: input {} ({}) is {} but the file has {} for it: \
             the file comes from another input",
            self.path.display(),
            meta.index,
            meta.origin,
            meta.url.as_deref().unwrap_or("?"),
            d.url.as_deref().unwrap_or("?"),
        ))
    }

    /// FILE, opened to append this run's lines.
    pub fn appender(&self) -> Result<BufWriter<File>, Fatal> {
        OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map(BufWriter::new)
            .map_err(|e| {
                Fatal::input(format!(
                    "--resume: cannot append to {}: {e}",
                    self.path.display()
                ))
            })
    }
}

/// The index and input of an output line whose outcome is final (a response).
fn final_line(line: &str) -> Option<(usize, Done)> {
    let v: Value = serde_json::from_str(line).ok()?;
    if v.get("outcome")?.as_str()? != "response" {
        return None;
    }
    let index = usize::try_from(v.get("index")?.as_u64()?).ok()?;
    let done = Done {
        url: v.get("url").and_then(Value::as_str).map(str::to_owned),
        tag: v.get("tag").cloned(),
    };
    Some((index, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_responses_drops_the_rest_and_matches_by_index_url_and_tag() {
        let dir = std::env::temp_dir().join(format!("httpbatch-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out.jsonl");
        std::fs::write(
            &file,
            "{\"index\":0,\"url\":\"http://h/a\",\"outcome\":\"response\",\"status\":503}\n\
             {\"index\":1,\"url\":\"http://h/b\",\"outcome\":\"error\"}\n\
             {\"index\":2,\"url\":\"http://h/c\",\"outcome\":\"cancelled\"}\n\
             {\"summary\":{}}\n\
             {\"index\":3,\"url\":\"http://h/d\",\"tag\":7,\"outcome\":\"response\"}\n\
             {\"index\":4,\"url\":\"http://h/e\",\"outc",
        )
        .unwrap();
        let r = Resume::open(&file).unwrap();
        assert_eq!(r.done(), 2);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let meta = |index: usize, url: &str, tag: Option<u64>| Meta {
            index,
            url: Some(url.into()),
            tag: tag.map(Value::from),
            ..Meta::default()
        };
        assert_eq!(r.check(&meta(0, "http://h/a", None)), Ok(true));
        assert_eq!(r.check(&meta(1, "http://h/b", None)), Ok(false));
        assert_eq!(r.check(&meta(3, "http://h/d", Some(7))), Ok(true));
        assert!(r.check(&meta(3, "http://h/d", Some(8))).is_err());
        assert!(r.check(&meta(0, "http://h/other", None)).is_err());
        let missing = dir.join("new.jsonl");
        assert_eq!(Resume::open(&missing).unwrap().done(), 0);
        assert!(missing.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
