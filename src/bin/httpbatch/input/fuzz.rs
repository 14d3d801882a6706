//! Fuzz target for the CLI's input: any line, URL or JSON request spec, becomes exactly one slot
//! (or a pattern, or nothing for a blank line or a comment) and never panics; a line that cannot
//! become a request carries a typed "invalid" error. `scripts/fuzz.sh` runs it with many more
//! cases than CI.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

/// Any JSON value, a few levels deep, with strings of any characters.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "(http://127\\.0\\.0\\.1(:[0-9]{1,6})?|[a-z]{1,5}://|)[ -~]{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON request spec: the fields httpbatch reads, each with any value, and fields of its own.
fn spec_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("url".to_owned()),
        Just("method".to_owned()),
        Just("headers".to_owned()),
        Just("body".to_owned()),
        Just("body_base64".to_owned()),
        Just("tag".to_owned()),
        Just("priority".to_owned()),
        Just("timeout_ms".to_owned()),
        "[a-z_]{1,8}",
    ];
    prop::collection::vec((key, json_value()), 0..8)
        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()).to_string())
}

/// Checks what one line became; returns how many slots it made.
fn check(defaults: &Defaults, line: &str) -> usize {
    let p = Parser::new(defaults);
    match p.line("line 1".into(), line) {
        Parsed::Skip => {
            let t = line.trim();
            assert!(t.is_empty() || t.starts_with('#'), "{line:?} skipped");
            0
        }
        Parsed::One(item) => {
            assert_eq!(item.meta.origin.to_string(), "line 1");
            match &item.request {
                Ok(req) => {
                    assert!(item.meta.url.is_some(), "{line:?}: no URL to report");
                    assert_eq!(item.meta.method.as_deref(), Some(req.method().as_str()));
                }
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::InvalidUrl
                            | ErrorKind::InvalidHeader
                            | ErrorKind::InvalidRequest
                    ),
                    "{line:?}: {e}"
                ),
            }
            1
        }
        Parsed::Glob(g) => {
            let mut n = 0;
            for url in g.take(3) {
                let item = p.url_item("line 1".into(), &url);
                assert!(
                    item.meta.url.is_some(),
                    "{line:?}: {url:?} has no URL to report"
                );
                n += 1;
            }
            n
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_line_is_one_slot_or_a_typed_error(line in "(?s).{0,80}") {
        check(&Defaults::default(), &line);
        check(&Defaults { glob: true, ..Defaults::default() }, &line);
        check(&Defaults { jsonl: true, ..Defaults::default() }, &line);
    }

    #[test]
    fn any_json_spec_is_one_slot_or_a_typed_error(line in spec_line()) {
        let d = Defaults {
            headers: vec![("x-all".into(), "1".into())],
            body: Some(b"default".to_vec()),
            ..Defaults::default()
        };
        prop_assert_eq!(check(&d, &line), 1);
        prop_assert_eq!(check(&Defaults::default(), &line), 1);
    }
}
