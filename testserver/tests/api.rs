//! The JSON routes: `/jsonrpc` (the spec's batch rules), `/json-array` and `/quota/{key}`.

use httpbatch_testserver::Server;
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(server: &Server, path: &str, body: &str) -> (u16, String) {
    let mut res = agent()
        .post(&server.url(path))
        .content_type("application/json")
        .send(body)
        .unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap(),
    )
}

fn rpc(server: &Server, path: &str, body: &str) -> Value {
    let (status, text) = post(server, path, body);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn jsonrpc_follows_the_batch_rules() {
    let server = Server::start().unwrap();
    // A single call, and a parse error.
    let v = rpc(
        &server,
        "/jsonrpc",
        r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"a"}"#,
    );
    assert_eq!(v, json!({"jsonrpc":"2.0","result":3.0,"id":"a"}));
    let v = rpc(&server, "/jsonrpc", "[{");
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], Value::Null);
    // An empty batch is one Invalid Request object, not an array.
    assert_eq!(rpc(&server, "/jsonrpc", "[]")["error"]["code"], -32600);
    // A batch: invalid elements get -32600 with id null, notifications nothing, the rest an
    // answer each, in reverse order.
    let v = rpc(
        &server,
        "/jsonrpc",
        r#"[{"jsonrpc":"2.0","method":"echo","params":1,"id":1},1,
            {"jsonrpc":"2.0","method":"echo","params":2},
            {"jsonrpc":"2.0","method":"nope","id":3},
            {"jsonrpc":"2.0","method":"fail","id":4}]"#,
    );
    let ids: Vec<Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(4), json!(3), Value::Null, json!(1)]);
    assert_eq!(v[0]["error"]["code"], -32000);
    assert_eq!(v[1]["error"]["code"], -32601);
    assert_eq!(v[2]["error"]["code"], -32600);
    assert_eq!(v[3]["result"], 1);
    // Only notifications: nothing at all.
    let (status, text) = post(
        &server,
        "/jsonrpc",
        r#"[{"jsonrpc":"2.0","method":"echo"}]"#,
    );
    assert_eq!((status, text.as_str()), (204, ""));
    // Same order on request; drop and dup by id.
    let two =
        r#"[{"jsonrpc":"2.0","method":"echo","id":1},{"jsonrpc":"2.0","method":"echo","id":2}]"#;
    let v = rpc(&server, "/jsonrpc?order=same&drop=1&dup=2", two);
    let ids: Vec<Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(2), json!(2)]);
}

#[test]
fn json_array_transforms_at_pointers() {
    let server = Server::start().unwrap();
    let v = rpc(&server, "/json-array", "[10,20]");
    assert_eq!(v, json!([{"index":0,"item":10},{"index":1,"item":20}]));
    let v = rpc(
        &server,
        "/json-array?in=/items&out=/data/results&short=1",
        r#"{"items":[1,2,3]}"#,
    );
    assert_eq!(
        v,
        json!({"data":{"results":[{"index":0,"item":1},{"index":1,"item":2}]}})
    );
    assert_eq!(post(&server, "/json-array?in=/nope", "{}").0, 400);
}

#[test]
fn quota_is_enforced_and_advertised() {
    let server = Server::start().unwrap();
    let agent = agent();
    let get = |q: &str| {
        agent
            .get(&server.url(&format!("/quota/k?limit=3&window_ms=60000&{q}")))
            .call()
            .unwrap()
    };
    let res = get("style=both");
    assert_eq!(res.status(), 200);
    let h = |res: &ureq::http::Response<ureq::Body>, n: &str| {
        res.headers().get(n).map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        h(&res, "ratelimit").unwrap(),
        "limit=3, remaining=2, reset=20"
    );
    assert_eq!(h(&res, "ratelimit-policy").unwrap(), "3;w=60");
    assert_eq!(h(&res, "x-ratelimit-remaining").unwrap(), "2");
    get("style=ietf");
    let res = get("style=x");
    assert_eq!(h(&res, "x-ratelimit-remaining").unwrap(), "0");
    assert!(h(&res, "ratelimit").is_none());
    let res = get("style=ietf");
    assert_eq!(res.status(), 429);
    assert_eq!(h(&res, "retry-after").unwrap(), "20");
    assert!(h(&res, "x-ratelimit-limit").is_none());
    assert_eq!(
        agent
            .get(&server.url("/quota/k?limit=0"))
            .call()
            .unwrap()
            .status(),
        400
    );
}
