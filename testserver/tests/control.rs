//! The control routes (`/__stats`, `/__reset`) that let a test in another process read and reset
//! the counters: they report exactly what the `Server` methods report, and never count
//! themselves.

use std::time::Duration;

use httpbatch_testserver::{Mode, Server};
use serde_json::Value;

/// A keep-alive client, as the tests' traffic would come from.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut res = agent.get(url).call().expect("request");
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().expect("body"))
}

fn stats(agent: &ureq::Agent, server: &Server, query: &str) -> Value {
    let (status, body) = get(agent, &server.url(&format!("/__stats{query}")));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn stats_report_the_counters_without_counting_themselves() {
    let server = Server::start().unwrap();
    let traffic = agent();
    for _ in 0..3 {
        assert_eq!(get(&traffic, &server.url("/ok")).0, 200);
    }
    assert_eq!(get(&traffic, &server.url("/bytes/2?x=1")).0, 200);
    let control = agent();
    for _ in 0..2 {
        let s = stats(&control, &server, "?prefix=/ok");
        assert_eq!(s["accepted"], 1, "{s}");
        assert_eq!(s["open_connections"], 1, "{s}");
        assert_eq!(s["requests"], 4, "{s}");
        assert_eq!(s["in_flight"], 0, "{s}");
        assert_eq!(s["max_in_flight"], 1, "{s}");
        assert_eq!(s["requests_for"], 3, "{s}");
    }
    assert!(stats(&control, &server, "").get("requests_for").is_none());
    // The in-process view agrees: the control connection and its requests are nowhere.
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 4);
    assert_eq!(server.requests_for("/__"), 0);
}

#[test]
fn a_control_request_on_a_counted_connection_leaves_the_connection_counted() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let agent = agent();
    assert_eq!(get(&agent, &server.url("/ok")).0, 200);
    let s = stats(&agent, &server, "");
    assert_eq!(
        (s["accepted"].as_u64(), s["requests"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 1);
    assert_eq!(
        server.arrivals().len(),
        1,
        "control requests are not arrivals"
    );
}

#[test]
fn reset_zeroes_the_counters_and_restarts_sequences() {
    let server = Server::start().unwrap();
    let agent = agent();
    let url = server.url("/seq/k?s=503,200");
    assert_eq!(get(&agent, &url).0, 503);
    assert_eq!(get(&agent, &url).0, 200);
    assert_eq!(get(&agent, &server.url("/__reset")), (200, "ok".into()));
    assert_eq!(server.requests(), 0);
    assert_eq!(server.accepted(), 0);
    assert_eq!(get(&agent, &url).0, 503, "the sequence starts over");
    let s = stats(&agent, &server, "");
    assert_eq!(s["requests"], 1, "{s}");
}

#[test]
fn control_routes_answer_in_every_mode() {
    let server = Server::start().unwrap();
    let agent = agent();
    for mode in [Mode::Unavailable, Mode::Reset, Mode::Hang] {
        server.set_mode(mode);
        let s = stats(&agent, &server, "");
        assert_eq!(s["requests"], 0, "{mode:?}: {s}");
    }
    server.set_mode(Mode::Normal);
}

#[test]
fn unknown_control_paths_are_404_and_not_counted() {
    let server = Server::start().unwrap();
    let agent = agent();
    assert_eq!(get(&agent, &server.url("/__nope")).0, 404);
    assert_eq!(server.requests(), 0);
    assert_eq!(server.accepted(), 0);
}
