//! [`JsonRpcCodec`]: JSON-RPC 2.0 batches.

use serde_json::{Map, Value};

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
///   item's response is `200` with the reply object as body.
/// - A reply with an `error` object fails its item with [`ItemError::Remote`] (code, message,
///   data); a missing reply with [`ItemError::MissingReply`], a repeated one with
///   [`ItemError::DuplicateReply`] (kind [`Protocol`](crate::ErrorKind::Protocol)).
/// - A notification's outcome is an empty `204` once the combined request succeeded.
/// - A single error object instead of an array (the server rejected the batch as a whole)
///   fails every call with it; a non-2xx answer is handed to every member as is.
/// - A body that is not a JSON object with a `method` fails its own item at once
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

fn call_object(request: &Request) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(request.body()) {
        Ok(Value::Object(call)) if call.get("method").is_some_and(Value::is_string) => Ok(call),
        Ok(_) => {
            Err(ItemError::Invalid("not a JSON-RPC call object with a method".into()).into_error())
        }
        Err(e) => Err(ItemError::Invalid(format!("body is not JSON: {e}")).into_error()),
    }
}

fn remote(error: &Value) -> ItemError {
    ItemError::Remote {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        data: error.get("data").map(Value::to_string),
    }
}

impl Codec for JsonRpcCodec {
    fn batch_key(&self, request: &Request) -> Result<Option<String>, Error> {
        if request.body().is_empty() {
            return Ok(None); // not a call: sent on alone (a GET of a health page, say)
        }
        call_object(request)?;
        Ok(Some(default_batch_key(request)))
    }

    fn encode(&self, requests: &[Request]) -> Result<Request, Error> {
        let mut calls = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let mut call = call_object(r)?;
            if call.contains_key("id") {
                call.insert("id".into(), Value::from(i));
            }
            calls.push(Value::Object(call));
        }
        let body =
            serde_json::to_vec(&Value::Array(calls)).expect("a JSON value always serialises");
        combined_request(requests, body)
    }

    fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>> {
        if !response.is_success() {
            return split_failed(&response, requests);
        }
        let n = requests.len();
        // The caller's original ids; `None` for a notification.
        let ids: Vec<Option<Value>> = requests
            .iter()
            .map(|r| call_object(r).ok().and_then(|mut c| c.remove("id")))
            .collect();
        let replies: Vec<Value> = if response.body().is_empty() {
            Vec::new()
        } else {
            match serde_json::from_slice::<Value>(response.body()) {
                Ok(Value::Array(xs)) => xs,
                Ok(single) if single.get("id").is_some_and(Value::is_null) => {
                    // The whole batch was refused (parse error, invalid request).
                    let e = remote(single.get("error").unwrap_or(&Value::Null));
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
                Err(e) => {
                    let why = ItemError::Undecodable(e.to_string());
                    return (0..n).map(|_| Err(why.clone().into_error())).collect();
                }
            }
        };
        let mut slots: Vec<Option<Value>> = vec![None; n];
        let mut dup = vec![false; n];
        for reply in replies {
            let Some(i) = reply
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < n && ids[i].is_some())
            else {
                continue; // not one of ours
            };
            if slots[i].is_some() {
                dup[i] = true;
            }
            slots[i] = Some(reply);
        }
        let mut out = Vec::with_capacity(n);
        for (i, r) in requests.iter().enumerate() {
            let Some(id) = &ids[i] else {
                out.push(Ok(item_response(&response, r, 204, Vec::new())));
                continue;
            };
            out.push(match (slots[i].take(), dup[i]) {
                (None, _) => Err(ItemError::MissingReply.into_error()),
                (Some(_), true) => Err(ItemError::DuplicateReply.into_error()),
                (Some(reply), false) => match reply.get("error") {
                    Some(e) => Err(remote(e).into_error()),
                    None => {
                        let mut reply = reply;
                        reply["id"] = id.clone();
                        let body = serde_json::to_vec(&reply).expect("a JSON value serialises");
                        Ok(item_response(&response, r, 200, body))
                    }
                },
            });
        }
        out
    }
}
