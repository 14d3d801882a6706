//! The work list's payload and outcome formats for workers that are not the CLI (the C, C++ and
//! Go workers): a payload is what `httpbatch submit` stores — a URL, or a JSON request spec —
//! and an outcome is one JSON object, so any worker runs any submitter's list and `collect`
//! reads any worker's outcomes.

use std::time::Duration;

use serde_json::{Map, Value};

use super::worklist::Entry;
use crate::batch::Outcome;
use crate::error::{Error, ErrorKind};
use crate::request::{Method, Request};

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

/// The request a payload describes: a URL (a GET; `http://` is assumed without a scheme, as the
/// CLI does), or a JSON object with `url` and optionally `method`, `headers` (an object of
/// strings), `body` (a string is sent as it is, any other JSON value as JSON) and `timeout_ms`.
/// Other fields (`tag`, fields of the user's own) are ignored. Fails with
/// [`ErrorKind::InvalidRequest`] on anything else.
///
/// ```
/// use httpbatch::distributed::request_from_payload;
/// let r = request_from_payload(r#"{"url":"http://127.0.0.1:8080/a","method":"POST","body":{"a":1}}"#)?;
/// assert_eq!((r.method().as_str(), r.body()), ("POST", &b"{\"a\":1}"[..]));
/// assert_eq!(request_from_payload("127.0.0.1:8080/b")?.url().as_str(), "http://127.0.0.1:8080/b");
/// # Ok::<(), httpbatch::Error>(())
/// ```
pub fn request_from_payload(payload: &str) -> Result<Request, Error> {
    let text = payload.trim();
    if !text.starts_with('{') {
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(invalid(format!("not a URL or a JSON request: {text:?}")));
        }
        return Request::get(&with_scheme(text));
    }
    let v: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| invalid(format!("invalid JSON request: {e}")))?;
    let url = match v.get("url") {
        Some(Value::String(u)) => with_scheme(u),
        _ => return Err(invalid("a JSON request needs \"url\" (a string)")),
    };
    let method = match v.get("method") {
        None | Some(Value::Null) => Method::Get,
        Some(Value::String(m)) => Method::parse(m)?,
        Some(_) => return Err(invalid("\"method\" must be a string")),
    };
    let mut b = Request::builder(method, &url);
    match v.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, value) in h {
                let Value::String(value) = value else {
                    return Err(invalid(format!("header {name:?} must be a string")));
                };
                b = b.header(name, value);
            }
        }
        Some(_) => return Err(invalid("\"headers\" must be an object of strings")),
    }
    match v.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => b = b.body(s.as_bytes().to_vec()),
        Some(other) => b = b.body(other.to_string().into_bytes()),
    }
    if v.contains_key("body_base64") {
        return Err(invalid("\"body_base64\" is read by the CLI's worker only"));
    }
    match v.get("timeout_ms") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|ms| ms > 0) => {
            b = b.timeout(Duration::from_millis(n.as_u64().unwrap_or(1)));
        }
        Some(_) => return Err(invalid("\"timeout_ms\" must be a whole number above 0")),
    }
    b.build()
}

fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The outcome recorded for `entry`: one JSON object with `id`, `index` (submission order),
/// `outcome` (`response`, `error`, …), `status` (a response's), `error` (`kind` and `message`),
/// `attempts`, `bytes` (a response body's length) and `worker`: the fields of the CLI's lines
/// that do not depend on its options.
pub fn outcome_line(entry: &Entry, outcome: &Outcome, worker: &str) -> String {
    let mut o = Map::new();
    o.insert("id".into(), entry.id.clone().into());
    o.insert("index".into(), entry.seq.into());
    o.insert("outcome".into(), outcome.kind_str().into());
    match outcome {
        Outcome::Response(r) => {
            o.insert("status".into(), r.status().into());
            o.insert("attempts".into(), r.attempts().into());
            o.insert("bytes".into(), r.body().len().into());
        }
        Outcome::Error(e) => {
            let mut err = Map::new();
            err.insert("kind".into(), e.kind().as_str().into());
            err.insert("message".into(), e.message().into());
            o.insert("error".into(), err.into());
            o.insert("attempts".into(), e.attempts().into());
        }
        Outcome::Cancelled | Outcome::NotRun => {}
    }
    o.insert("worker".into(), worker.into());
    Value::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let r = request_from_payload("http://127.0.0.1:1/a?b=c").unwrap();
        assert_eq!(
            (r.method(), r.url().as_str()),
            (Method::Get, "http://127.0.0.1:1/a?b=c")
        );
        let r = request_from_payload(
            r#"{"url":"http://127.0.0.1:1/","method":"PUT","headers":{"x-a":"1"},"body":"hi","timeout_ms":50,"tag":3,"mine":true}"#,
        )
        .unwrap();
        assert_eq!(r.method(), Method::Put);
        assert_eq!(r.body(), b"hi");
        assert_eq!(r.timeout(), Some(Duration::from_millis(50)));
        assert!(r.headers().any(|(n, v)| n == "x-a" && v == "1"));
        for bad in [
            "",
            "two words",
            "{",
            r#"{"url":5}"#,
            r#"{"method":"GET"}"#,
            r#"{"url":"http://127.0.0.1:1/","headers":{"a":1}}"#,
            r#"{"url":"http://127.0.0.1:1/","timeout_ms":0}"#,
            r#"{"url":"http://127.0.0.1:1/","method":7}"#,
        ] {
            let e = request_from_payload(bad).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::InvalidRequest | ErrorKind::InvalidUrl),
                "{bad}: {e}"
            );
        }
    }
}
