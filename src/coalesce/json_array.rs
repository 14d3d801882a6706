//! [`JsonArrayCodec`]: bodies collected into one JSON array, results split from an array.

use serde_json::Value;

use super::codec::{
    Codec, ItemError, combined_request, default_batch_key, item_response, split_failed,
};
use crate::error::{Error, ErrorKind};
use crate::request::Request;
use crate::response::Response;

/// Collects the (JSON) bodies of a batch into one array, and hands the `i`th element of the
/// answer's array to the `i`th request, as a response with the combined status and the element
/// as body.
///
/// Where the arrays live is configurable by JSON pointer (RFC 6901): with
/// [`request_pointer`](Self::request_pointer) `"/items"` the combined body is
/// `{"items":[…]}`, with [`response_pointer`](Self::response_pointer) `"/results"` the
/// answer's array is read from `{"results":[…]}`. An answer with fewer elements than requests
/// fails the ones left over with [`ItemError::MissingReply`]; a non-2xx answer is handed to every
/// member as is. A body that is not JSON fails its own item ([`ItemError::Invalid`]); a request
/// without a body is sent on alone, uncombined.
///
/// ```
/// use httpbatch::coalesce::{Codec, JsonArrayCodec};
/// use httpbatch::{Request, Response};
///
/// let codec = JsonArrayCodec::new().request_pointer("/items")?.response_pointer("/results")?;
/// let reqs = [
///     Request::post("http://127.0.0.1/bulk", r#"{"n":1}"#)?,
///     Request::post("http://127.0.0.1/bulk", "2")?,
/// ];
/// assert_eq!(codec.encode(&reqs)?.body(), br#"{"items":[{"n":1},2]}"#);
/// let parts = codec.decode(&reqs, Response::new(200, r#"{"results":["a","b"]}"#));
/// assert_eq!(parts[1].as_ref().unwrap().text(), r#""b""#);
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct JsonArrayCodec {
    request_path: Vec<String>,
    response_pointer: String,
}

fn pointer_tokens(pointer: &str) -> Result<Vec<String>, Error> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("a JSON pointer starts with '/': {pointer:?}"),
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

impl JsonArrayCodec {
    /// Bare arrays both ways.
    pub fn new() -> JsonArrayCodec {
        JsonArrayCodec::default()
    }

    /// Where the array goes in the combined body, as a JSON pointer (`""` for the body itself).
    /// Fails with [`ErrorKind::InvalidConfig`] on a pointer that does not start with `/`.
    /// Defaults to `""`.
    pub fn request_pointer(mut self, pointer: &str) -> Result<JsonArrayCodec, Error> {
        self.request_path = pointer_tokens(pointer)?;
        Ok(self)
    }

    /// Where the results array is in the answer, as a JSON pointer (`""` for the body itself).
    /// Fails with [`ErrorKind::InvalidConfig`] on a pointer that does not start with `/`.
    /// Defaults to `""`.
    pub fn response_pointer(mut self, pointer: &str) -> Result<JsonArrayCodec, Error> {
        pointer_tokens(pointer)?;
        self.response_pointer = pointer.to_owned();
        Ok(self)
    }
}

impl Codec for JsonArrayCodec {
    fn batch_key(&self, request: &Request) -> Result<Option<String>, Error> {
        if request.body().is_empty() {
            return Ok(None); // nothing to collect: sent on alone
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(request.body())
            .map_err(|e| ItemError::Invalid(format!("body is not JSON: {e}")).into_error())?;
        Ok(Some(default_batch_key(request)))
    }

    fn encode(&self, requests: &[Request]) -> Result<Request, Error> {
        // Bodies were checked to be JSON by `batch_key`: they are copied, not re-parsed.
        let size: usize = requests.iter().map(|r| r.body().len() + 1).sum();
        let mut body = Vec::with_capacity(size + 16 * self.request_path.len() + 2);
        for token in &self.request_path {
            body.push(b'{');
            serde_json::to_writer(&mut body, token).expect("a string serialises");
            body.push(b':');
        }
        body.push(b'[');
        for (i, r) in requests.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(r.body());
        }
        body.push(b']');
        body.extend(std::iter::repeat_n(b'}', self.request_path.len()));
        combined_request(requests, body)
    }

    fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>> {
        if !response.is_success() {
            return split_failed(&response, requests);
        }
        let fail = |why: String| {
            let e = ItemError::Undecodable(why);
            requests
                .iter()
                .map(|_| Err(e.clone().into_error()))
                .collect()
        };
        let value = match serde_json::from_slice::<Value>(response.body()) {
            Ok(v) => v,
            Err(e) => return fail(e.to_string()),
        };
        let Some(Value::Array(results)) = value.pointer(&self.response_pointer) else {
            return fail(format!("no array at {:?}", self.response_pointer));
        };
        let status = response.status();
        let mut results = results.iter();
        requests
            .iter()
            .map(|r| match results.next() {
                Some(x) => {
                    let body = serde_json::to_vec(x).expect("a JSON value serialises");
                    Ok(item_response(&response, r, status, body))
                }
                None => Err(ItemError::MissingReply.into_error()),
            })
            .collect()
    }
}
