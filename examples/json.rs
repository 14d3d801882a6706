//! JSON bodies (feature `json`): send a typed value, decode a typed answer, and turn a failed
//! status or an unexpected body into an error that shows what the server said.
//!
//! Run with `cargo run --features json --example json`.

use httpbatch::{Context, Execute, HttpClient, Method, Request};
use httpbatch_testserver::Server;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Ticket {
    id: u64,
    title: String,
    tags: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let client = HttpClient::new();
    let ticket = Ticket {
        id: 1,
        title: "printer on fire".into(),
        tags: vec!["urgent".into()],
    };
    // `/echo` answers with the body it got: a stand-in for an API that returns the object.
    let req = Request::json(Method::Post, &server.url("/echo"), &ticket)?;
    let back: Ticket = client
        .execute(req, &Context::new())?
        .error_for_status()?
        .json()?;
    println!("round trip: {back:?}");
    assert_eq!(back, ticket);

    // A failed status keeps the status and the start of the body.
    let res = client.execute(Request::get(&server.url("/status/503"))?, &Context::new())?;
    let err = res.error_for_status().unwrap_err();
    println!("error_for_status: {err}");
    assert_eq!(err.status(), 503);

    // A body of the wrong shape says so, with serde's reason and the body's start.
    let res = client.execute(Request::get(&server.url("/ok"))?, &Context::new())?;
    let err = res.json::<Ticket>().unwrap_err();
    println!("decode: {err}");
    assert!(err.is_decode());
    Ok(())
}
