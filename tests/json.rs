//! The `json` feature against the loopback server: typed request bodies, typed decoding, and
//! errors that keep the status and a body excerpt.
#![cfg(feature = "json")]

mod support;

use std::collections::HashMap;

use httpbatch::{Context, ErrorKind, Execute, HttpClient, Method, Request};
use serde::{Deserialize, Serialize};
use support::Server;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u32,
    note: String,
    lines: Vec<(String, u32)>,
}

#[test]
fn a_serializable_value_goes_out_as_json_and_decodes_back() {
    let server = Server::start().unwrap();
    let order = Order {
        id: 9,
        note: "ünïcode \"quoted\"".into(),
        lines: vec![("tea".into(), 2)],
    };
    let req = Request::json(Method::Put, &server.url("/echo"), &order).unwrap();
    assert_eq!(req.body(), serde_json::to_vec(&order).unwrap());
    let res = HttpClient::new().execute(req, &Context::new()).unwrap();
    assert_eq!(res.header("x-echo-method"), Some("PUT"));
    assert_eq!(
        res.header("x-echo-h-content-type"),
        Some("application/json")
    );
    let back: Order = res.error_for_status().unwrap().json().unwrap();
    assert_eq!(back, order);
}

#[test]
fn decode_errors_keep_the_status_and_a_body_excerpt() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let res = client
        .execute(
            Request::get(&server.url("/bytes/300")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    let err = res.json::<Order>().unwrap_err();
    assert!(err.is_decode() && !err.is_status());
    assert_eq!(err.status(), 200);
    assert_eq!(err.url(), server.url("/bytes/300"));
    assert_eq!(err.excerpt(), format!("{}…", "x".repeat(256)));
    let source = std::error::Error::source(&err).expect("serde's error");
    assert!(source.to_string().contains("line 1"), "{source}");

    // A JSON body of the wrong shape: the same error, with serde's reason.
    let res = client
        .execute(
            Request::json(Method::Post, &server.url("/echo"), &[1, 2]).unwrap(),
            &Context::new(),
        )
        .unwrap();
    let err = res.json::<Order>().unwrap_err();
    assert_eq!(err.excerpt(), "[1,2]");
    assert!(err.to_string().contains("not the expected JSON"), "{err}");
}

#[test]
fn error_for_status_keeps_the_status_and_excerpt() {
    let server = Server::start().unwrap();
    let res = HttpClient::new()
        .execute(
            Request::get(&server.url("/status/418")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    let err = res.error_for_status_ref().unwrap_err();
    assert!(err.is_status());
    assert_eq!((err.status(), err.excerpt()), (418, "418"));
    assert!(err.to_string().contains("status 418"), "{err}");
    // A multi-byte character is never cut in half.
    let body = format!("{}é", "a".repeat(255));
    let err = httpbatch::Response::new(500, body)
        .error_for_status()
        .unwrap_err();
    assert_eq!(err.excerpt(), format!("{}…", "a".repeat(255)));
}

#[test]
fn a_value_that_does_not_serialise_fails_the_build() {
    let mut bad = HashMap::new();
    bad.insert((1u8, 2u8), 3u8); // JSON object keys must be strings
    let err = Request::builder(Method::Post, "http://127.0.0.1/")
        .json(&bad)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("JSON"), "{err}");
}
