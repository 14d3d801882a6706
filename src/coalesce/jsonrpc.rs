//! [`JsonRpcCodec`]: JSON-RPC 2.0 batches.
//!
//! Calls and replies are read shallowly: the members are kept as raw JSON text (`RawValue`),
//! never built into trees, so `params` and `result` of any size cost one scan each.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::codec::{
    Codec, ItemError, combined_request, default_batch_key, item_response, split_failed,
};
use crate::error::Error;
use crate::request::Request;
use crate::response::Response;

/// JSON-RPC 2.0 batches: each request's body is one call object
/// (`{"jsonrpc":"2.0","method":…,"params":…,"id":…}`, no `id` for a notification); a batch is
/// sent as one array of calls to the shared URL and the answers are matched back by `id`, in any
/// order.
///
/// - Ids are the codec's: each call is sent with its index in the batch as `id`, so callers may
///   reuse ids freely; each reply is handed back with the caller's own `id` restored. The
///   item's response is `200` with the reply object as body. Members other than `jsonrpc`,
///   `method`, `params` and `id` are not sent (JSON-RPC 2.0 defines no others).
/// - A reply with an `error` object fails its item with [`ItemError::Remote`] (code, message,
///   data; kind [`Remote`](crate::ErrorKind::Remote)); a missing reply with
///   [`ItemError::MissingReply`], a repeated one with [`ItemError::DuplicateReply`] (kind
///   [`Protocol`](crate::ErrorKind::Protocol)).
/// - A notification's outcome is an empty `204` once the combined request succeeded.
/// - A single error object instead of an array (the server rejected the batch as a whole)
///   fails every call with it; a non-2xx answer is handed to every member as is.
/// - A body that is not a JSON object with a string `method` fails its own item at once
///   ([`ItemError::Invalid`]); a request without a body is sent on alone, uncombined.
#[derive(Debug, Clone, Default)]
pub struct JsonRpcCodec {
    _private: (),
}

impl JsonRpcCodec {
    /// The codec.
    pub fn new() -> JsonRpcCodec {
        JsonRpcCodec::default()
    }
}

/// `Some(raw)` even for `null`: `"id": null` is a call, not a notification.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow)]
    method: &'a RawValue,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorObject<'a> {
    code: i64,
    message: String,
    #[serde(borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

fn call(request: &Request) -> Result<Call<'_>, Error> {
    match serde_json::from_slice::<Call<'_>>(request.body()) {
        Ok(c) if c.method.get().starts_with('"') => Ok(c),
        Ok(_) => Err(ItemError::Invalid("the method is not a string".into()).into_error()),
        Err(e) => Err(ItemError::Invalid(format!("not a JSON-RPC call object: {e}")).into_error()),
    }
}

fn remote(error: Option<&RawValue>) -> ItemError {
    let e: ErrorObject<'_> = error
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    ItemError::Remote {
        code: e.code,
        message: e.message,
        data: e.data.map(|d| d.get().to_owned()),
    }
}

impl Codec for JsonRpcCodec {
    fn batch_key(&self, request: &Request) -> Result<Option<String>, Error> {
        if request.body().is_empty() {
            return Ok(None); // not a call: sent on alone (a GET of a health page, say)
        }
        call(request)?;
        Ok(Some(default_batch_key(request)))
    }

    fn encode(&self, requests: &[Request]) -> Result<Request, Error> {
        let size: usize = requests.iter().map(|r| r.body().len() + 24).sum();
        let mut body = Vec::with_capacity(size + 2);
        body.push(b'[');
        for (i, r) in requests.iter().enumerate() {
            let c = call(r)?;
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"jsonrpc\":");
            body.extend_from_slice(c.jsonrpc.map_or("\"2.0\"", RawValue::get).as_bytes());
            body.extend_from_slice(b",\"method\":");
            body.extend_from_slice(c.method.get().as_bytes());
            if let Some(p) = c.params {
                body.extend_from_slice(b",\"params\":");
                body.extend_from_slice(p.get().as_bytes());
            }
            if c.id.is_some() {
                body.extend_from_slice(format!(",\"id\":{i}").as_bytes());
            }
            body.push(b'}');
        }
        body.push(b']');
        combined_request(requests, body)
    }

    fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>> {
        if !response.is_success() {
            return split_failed(&response, requests);
        }
        let n = requests.len();
        // The caller's original ids; `None` for a notification.
        let ids: Vec<Option<&RawValue>> = requests
            .iter()
            .map(|r| call(r).ok().and_then(|c| c.id))
            .collect();
        let body = response.body();
        let replies: Vec<Reply<'_>> = if body.is_empty() {
            Vec::new()
        } else {
            match serde_json::from_slice::<Vec<Reply<'_>>>(body) {
                Ok(replies) => replies,
                Err(e) => match serde_json::from_slice::<Reply<'_>>(body) {
                    Ok(single) if single.id.is_none_or(|id| id.get() == "null") => {
                        // The whole batch was refused (parse error, invalid request).
                        let e = remote(single.error);
                        return ids
                            .iter()
                            .zip(requests)
                            .map(|(id, r)| match id {
                                None => Ok(item_response(&response, r, 204, Vec::new())),
                                Some(_) => Err(e.clone().into_error()),
                            })
                            .collect();
                    }
                    Ok(single) => vec![single],
                    Err(_) => {
                        let why = ItemError::Undecodable(e.to_string());
                        return (0..n).map(|_| Err(why.clone().into_error())).collect();
                    }
                },
            }
        };
        let mut slots: Vec<Option<Reply<'_>>> = (0..n).map(|_| None).collect();
        let mut dup = vec![false; n];
        for reply in replies {
            let Some(i) = reply
                .id
                .and_then(|id| id.get().parse::<usize>().ok())
                .filter(|&i| i < n && ids[i].is_some())
            else {
                continue; // not one of ours
            };
            dup[i] |= slots[i].is_some();
            slots[i] = Some(reply);
        }
        let mut out = Vec::with_capacity(n);
        for (i, r) in requests.iter().enumerate() {
            let Some(id) = ids[i] else {
                out.push(Ok(item_response(&response, r, 204, Vec::new())));
                continue;
            };
            out.push(match (slots[i].take(), dup[i]) {
                (None, _) => Err(ItemError::MissingReply.into_error()),
                (Some(_), true) => Err(ItemError::DuplicateReply.into_error()),
                (Some(reply), false) => match (reply.error, reply.result) {
                    (Some(e), _) => Err(remote(Some(e)).into_error()),
                    (None, result) => {
                        let result = result.map_or("null", RawValue::get);
                        let body = format!(
                            "{{\"jsonrpc\":\"2.0\",\"result\":{result},\"id\":{}}}",
                            id.get()
                        );
                        Ok(item_response(&response, r, 200, body.into_bytes()))
                    }
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Request {
        Request::post("http://127.0.0.1/rpc", body).unwrap()
    }

    #[test]
    fn encodes_with_batch_ids_and_restores_the_callers() {
        let reqs = [
            req(r#"{"jsonrpc":"2.0","method":"a","params":{"x":[1,2]},"id":"mine"}"#),
            req(r#"{"jsonrpc":"2.0","method":"b"}"#),
            req(r#"{"jsonrpc":"2.0","method":"c","id":null}"#),
        ];
        let combined = JsonRpcCodec::new().encode(&reqs).unwrap();
        assert_eq!(
            std::str::from_utf8(combined.body()).unwrap(),
            r#"[{"jsonrpc":"2.0","method":"a","params":{"x":[1,2]},"id":0},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","method":"c","id":2}]"#
        );
        let answer = r#"[{"jsonrpc":"2.0","result":null,"id":2},{"jsonrpc":"2.0","result":{"ok":true},"id":0}]"#;
        let out = JsonRpcCodec::new().decode(&reqs, Response::new(200, answer));
        assert_eq!(
            out[0].as_ref().unwrap().text(),
            r#"{"jsonrpc":"2.0","result":{"ok":true},"id":"mine"}"#
        );
        assert_eq!(out[1].as_ref().unwrap().status(), 204);
        assert_eq!(
            out[2].as_ref().unwrap().text(),
            r#"{"jsonrpc":"2.0","result":null,"id":null}"#
        );
    }

    #[test]
    fn a_batch_refused_as_a_whole_fails_every_call() {
        let reqs = [
            req(r#"{"jsonrpc":"2.0","method":"a","id":1}"#),
            req(r#"{"jsonrpc":"2.0","method":"b"}"#),
        ];
        let answer = r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":[1]},"id":null}"#;
        let out = JsonRpcCodec::new().decode(&reqs, Response::new(200, answer));
        let e = out[0].as_ref().unwrap_err();
        assert_eq!(
            ItemError::of(e),
            Some(&ItemError::Remote {
                code: -32600,
                message: "Invalid Request".into(),
                data: Some("[1]".into())
            })
        );
        assert_eq!(out[1].as_ref().unwrap().status(), 204);
        let out = JsonRpcCodec::new().decode(&reqs, Response::new(200, "garbage"));
        assert!(matches!(
            ItemError::of(out[0].as_ref().unwrap_err()),
            Some(ItemError::Undecodable(_))
        ));
        for bad in [r#"{"method":1}"#, "[]", "nope"] {
            let e = JsonRpcCodec::new().batch_key(&req(bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidRequest, "{bad}");
        }
    }
}
