//! JSON routes for coalescing and adaptive limits: `/jsonrpc` (JSON-RPC 2.0 with the spec's
//! batch rules), `/json-array` (an array transform) and `/quota/{key}` (a quota that is
//! enforced and advertised).
//!
//! Runs on handler threads; the quota's state lives in the per-key sequences (one GCRA
//! timestamp per key, updated under the sequences lock), so `reset_counters` restarts it.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::conn::Req;
use crate::inner::Inner;
use crate::routes::{Body, Reply, param};

fn json_reply(status: u16, value: &Value, extra: &mut Vec<u8>) -> Reply {
    extra.extend_from_slice(b"content-type: application/json\r\n");
    Reply {
        status,
        body: Body::Text(value.to_string()),
        close: false,
    }
}

fn rpc_error(code: i64, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

/// One call of a batch (or a single call): `None` for a notification.
fn rpc_call(call: &Value) -> Option<Value> {
    let Some(obj) = call.as_object() else {
        return Some(rpc_error(-32600, "Invalid Request", Value::Null));
    };
    let id = obj.get("id").cloned();
    let valid_id = matches!(
        id,
        None | Some(Value::Null | Value::Number(_) | Value::String(_))
    );
    let method = obj.get("method").and_then(Value::as_str);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || method.is_none() || !valid_id {
        return Some(rpc_error(-32600, "Invalid Request", Value::Null));
    }
    let id = id?; // a notification: run, never answered
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let outcome = match method.unwrap_or_default() {
        "echo" => Ok(params),
        "add" => match params.as_array() {
            Some(xs) if xs.iter().all(Value::is_number) => {
                Ok(json!(xs.iter().filter_map(Value::as_f64).sum::<f64>()))
            }
            _ => Err((-32602, "Invalid params")),
        },
        "fail" => Err((-32000, "failed on purpose")),
        _ => Err((-32601, "Method not found")),
    };
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err((code, message)) => rpc_error(code, message, id),
    })
}

/// `/jsonrpc`: JSON-RPC 2.0 over `POST`, batch rules as the spec states them. Batch answers come
/// in reverse order (`?order=same` keeps it); `?drop=ID` leaves the answer with id `ID` out and
/// `?dup=ID` sends it twice, so clients can be tested against broken servers. `?limit=N`
/// enforces and advertises a quota of `N` HTTP requests per second, as `/quota/jsonrpc` does.
pub(crate) fn jsonrpc(inner: &Inner, req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    if param(req.query, "limit").is_some() {
        let verdict = quota(inner, "jsonrpc", req.query, extra);
        if verdict.status != 200 {
            return verdict;
        }
    }
    let parsed: Value = match serde_json::from_slice(req.body) {
        Ok(v) => v,
        Err(_) => return json_reply(200, &rpc_error(-32700, "Parse error", Value::Null), extra),
    };
    let Value::Array(calls) = parsed else {
        return match rpc_call(&parsed) {
            Some(answer) => json_reply(200, &answer, extra),
            None => no_content(),
        };
    };
    if calls.is_empty() {
        return json_reply(
            200,
            &rpc_error(-32600, "Invalid Request", Value::Null),
            extra,
        );
    }
    let id_is = |answer: &Value, want: Option<&str>| {
        want.is_some_and(|w| answer.get("id").is_some_and(|id| id_text(id) == w))
    };
    let (drop, dup) = (param(req.query, "drop"), param(req.query, "dup"));
    let mut answers = Vec::with_capacity(calls.len());
    for answer in calls.iter().filter_map(rpc_call) {
        if id_is(&answer, drop) {
            continue;
        }
        if id_is(&answer, dup) {
            answers.push(answer.clone());
        }
        answers.push(answer);
    }
    if answers.is_empty() {
        // Only notifications: the spec says to return nothing at all.
        return no_content();
    }
    if param(req.query, "order") != Some("same") {
        answers.reverse();
    }
    json_reply(200, &Value::Array(answers), extra)
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn no_content() -> Reply {
    Reply {
        status: 204,
        body: Body::Static(b""),
        close: false,
    }
}

/// `/json-array?in=PTR&out=PTR&short=N`: the array at JSON pointer `in` of the body (default:
/// the body) becomes `[{"index": i, "item": x}, …]`, placed at pointer `out` of an object
/// (default: the answer is the array); `short=N` leaves the last `N` results out.
pub(crate) fn json_array(req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
        return json_reply(400, &json!({"error": "body is not JSON"}), extra);
    };
    let items = match param(req.query, "in") {
        None | Some("") => Some(&body),
        Some(ptr) => body.pointer(&ptr.replace("%2F", "/")),
    };
    let Some(Value::Array(items)) = items else {
        return json_reply(400, &json!({"error": "no array at `in`"}), extra);
    };
    let short = param(req.query, "short").and_then(|s| s.parse::<usize>().ok());
    let keep = items.len().saturating_sub(short.unwrap_or(0));
    let results: Vec<Value> = items
        .iter()
        .take(keep)
        .enumerate()
        .map(|(i, x)| json!({"index": i, "item": x}))
        .collect();
    let mut out = Value::Array(results);
    if let Some(ptr) = param(req.query, "out").filter(|p| !p.is_empty()) {
        // Wrap from the innermost key out: "/data/results" → {"data":{"results":[…]}}.
        for key in ptr
            .replace("%2F", "/")
            .rsplit('/')
            .filter(|k| !k.is_empty())
        {
            out = json!({ key: out });
        }
    }
    json_reply(200, &out, extra)
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// `/quota/{key}?limit=N&window_ms=W&style=ietf|x|both`: at most `N` requests per `W` ms
/// (default 1000) with bursts of up to `N` (a GCRA token bucket, so it refills continuously);
/// over quota answers `429` with `Retry-After`. Every answer advertises the quota: `style=ietf`
/// sends `RateLimit: limit=N, remaining=R, reset=S` and `RateLimit-Policy: N;w=W/1000`, `x`
/// sends `X-RateLimit-Limit`/`-Remaining`/`-Reset` (delta seconds), `both` (default) sends both.
/// `reset` is the whole seconds, rounded up, until the quota is full again.
pub(crate) fn quota(inner: &Inner, key: &str, query: &str, extra: &mut Vec<u8>) -> Reply {
    let limit = param(query, "limit").and_then(|v| v.parse::<u64>().ok());
    let window = param(query, "window_ms").map_or(Some(1000), |v| v.parse::<u64>().ok());
    let style = param(query, "style").unwrap_or("both");
    let (Some(limit @ 1..), Some(window @ 1000..), "ietf" | "x" | "both") = (limit, window, style)
    else {
        return Reply {
            status: 400,
            body: Body::Static(b"want /quota/{key}?limit=N&window_ms=W(>=1000)&style=ietf|x|both"),
            close: false,
        };
    };
    let now = base().elapsed().as_nanos() as u64;
    let window_ns = window * 1_000_000;
    let t = window_ns / limit; // one request's share
    let tau = window_ns - t; // a full bucket is `limit` requests
    let (ok, tat) = inner.with_sequence(&format!("quota/{key}"), |stored| {
        let tat = (*stored).max(now);
        if tat - now > tau {
            (false, tat)
        } else {
            *stored = tat + t;
            (true, tat + t)
        }
    });
    let debt = tat - now; // time until the bucket is full again
    let remaining = if ok {
        (window_ns - debt.min(window_ns)) / t
    } else {
        0
    };
    let secs = |ns: u64| Duration::from_nanos(ns).as_secs() + u64::from(ns % 1_000_000_000 != 0);
    let reset = secs(debt);
    if style != "x" {
        let _ = write!(
            extra,
            "ratelimit: limit={limit}, remaining={remaining}, reset={reset}\r\n\
             ratelimit-policy: {limit};w={}\r\n",
            window / 1000
        );
    }
    if style != "ietf" {
        let _ = write!(
            extra,
            "x-ratelimit-limit: {limit}\r\nx-ratelimit-remaining: {remaining}\r\n\
             x-ratelimit-reset: {reset}\r\n"
        );
    }
    if ok {
        Reply::ok_with(200)
    } else {
        let _ = write!(extra, "retry-after: {}\r\n", secs(tat - now - tau));
        Reply::code(429)
    }
}
