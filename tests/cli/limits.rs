//! The response head limit: a head over it ends its request with `protocol` after one attempt,
//! `--max-head-size` raises it, and a value the client could not honour is a usage error.

use super::run;
use super::support::Server;

#[test]
fn max_head_size_bounds_the_response_head() {
    let server = Server::start().unwrap();
    let big = server.url("/big-header/70000");
    // Over the 64 KiB default: a protocol error, not retried.
    let r = run(&["-q", "--retries", "2", &big]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = &r.lines()[0];
    assert_eq!(line["error"]["kind"], "protocol", "{line}");
    assert_eq!(line["attempts"], 1, "{line}");
    // Raised: the same answer parses, with its header.
    let r = run(&["-q", "-i", "--max-head-size", "128KiB", &big]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let line = &r.lines()[0];
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["headers"]["x-big"].as_str().map(str::len), Some(70000));
    // Lowered to the 16 KiB floor: a 20 KiB head, fine by default, fails.
    let mid = server.url("/big-header/20000");
    assert_eq!(run(&["-q", &mid]).lines()[0]["status"], 200);
    let r = run(&["-q", "--max-head-size", "16KiB", &mid]);
    assert_eq!(r.lines()[0]["error"]["kind"], "protocol");
    for bad in ["1KiB", "5MiB", "lots"] {
        let r = run(&["--max-head-size", bad, &big]);
        assert_eq!(r.code(), 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("max-head-size"), "{bad}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    assert_eq!(
        server.requests_for("/big-header/70000"),
        2,
        "one attempt each run"
    );
}
