use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use ureq::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn pairs(h: &Headers) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn hash(h: &Headers) -> u64 {
    let mut s = DefaultHasher::new();
    h.hash(&mut s);
    s.finish()
}

#[test]
fn pairs_keep_their_order_and_repeats() {
    let h: Headers = [("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]
        .into_iter()
        .collect();
    assert_eq!(h.len(), 4);
    assert!(!h.is_empty());
    let want = [("b", "2"), ("a", "1"), ("b", "3"), ("c", "")];
    assert_eq!(h.iter().collect::<Vec<_>>(), want);
    assert_eq!((&h).into_iter().len(), 4);
    for (i, pair) in want.iter().enumerate() {
        assert_eq!(h.get(i), Some(*pair));
    }
    assert_eq!(h.get(4), None);
    assert_eq!(h.get(usize::MAX), None);
    let mut back: Vec<_> = h.iter().rev().collect();
    back.reverse();
    assert_eq!(back, want);
    // Both ends at once meet in the middle, each pair once.
    let mut it = h.iter();
    assert_eq!(it.next(), Some(("b", "2")));
    assert_eq!(it.next_back(), Some(("c", "")));
    assert_eq!(it.len(), 2);
    assert_eq!(it.next_back(), Some(("b", "3")));
    assert_eq!(it.next(), Some(("a", "1")));
    assert_eq!((it.next(), it.next_back()), (None, None));
}

#[test]
fn lookup_ignores_case_and_names_are_kept_lower_case() {
    let h: Headers = [("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")]
        .into_iter()
        .collect();
    assert_eq!(h.get(0), Some(("content-type", "text/plain")));
    assert_eq!(h.get(1), Some(("x-a", "1")));
    assert_eq!(h.first("CONTENT-TYPE"), Some("text/plain"));
    assert_eq!(h.first("x-A"), Some("1"));
    assert_eq!(h.all("X-a").collect::<Vec<_>>(), ["1", "2"]);
    assert!(h.contains("content-type"));
    assert_eq!(h.first("content"), None);
    assert_eq!(h.first("x-a-"), None);
    assert!(!h.contains(""));
    // Values keep their case.
    let h = Headers::new().with("ETag", "\"AbC\"");
    assert_eq!(h.get(0), Some(("etag", "\"AbC\"")));
}

#[test]
fn empty_headers_hold_nothing() {
    let h = Headers::new();
    assert!(h.is_empty());
    assert_eq!(h.len(), 0);
    assert_eq!(h.get(0), None);
    assert_eq!(h.iter().next(), None);
    assert_eq!(h.iter().len(), 0);
    assert_eq!(h.first("a"), None);
    assert_eq!(format!("{h:?}"), "[]");
    // No block at all: the same value however it was made.
    assert_eq!(h.block.len(), 0);
    assert_eq!(h, Headers::default());
    assert_eq!(h, std::iter::empty::<(&str, &str)>().collect());
    assert_eq!(h, Headers::from_map(&HeaderMap::new()));
    assert_eq!(std::mem::size_of::<Headers>(), 16);
}

#[test]
fn pairs_of_empty_strings_are_pairs() {
    let h: Headers = std::iter::repeat_n(("", ""), 300).collect();
    assert_eq!(h.len(), 300);
    assert!(!h.is_empty());
    assert!(h.iter().all(|p| p == ("", "")));
    assert_eq!(h.get(299), Some(("", "")));
    assert_eq!(h.get(300), None);
}

#[test]
fn a_head_is_kept_as_it_came_with_lossy_text_for_invalid_utf8() {
    let raw: [(&str, &[u8]); 5] = [
        ("content-type", b"text/plain; charset=utf-8"),
        ("x-utf8", "caf\u{e9} \u{1F600}".as_bytes()),
        ("x-latin1", b"caf\xe9"),
        ("x-truncated", b"a\xf0\x9f\x98b"),
        ("x-tab", b"a\tb"),
    ];
    let mut map = HeaderMap::new();
    for (n, v) in raw {
        map.append(
            HeaderName::from_static(n),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let h = Headers::from_map(&map);
    let want: Vec<(String, String)> = raw
        .iter()
        .map(|(n, v)| ((*n).to_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert_eq!(pairs(&h), want);
    assert_eq!(h.first("x-latin1"), Some("caf\u{FFFD}"));
    assert_eq!(h.first("x-truncated"), Some("a\u{FFFD}b"));
    assert_eq!(h.first("x-utf8"), Some("caf\u{e9} \u{1F600}"));
    // The same block as built from the text.
    assert_eq!(h, want.iter().cloned().collect());
}

#[test]
fn a_head_keeps_every_value_of_a_repeated_name_in_order() {
    let mut map = HeaderMap::new();
    for v in ["a=1", "b=2", "c=3"] {
        map.append("set-cookie", HeaderValue::from_static(v));
    }
    map.append("content-length", HeaderValue::from_static("64"));
    let h = Headers::from_map(&map);
    assert_eq!(h.len(), map.len());
    assert_eq!(
        h.all("set-cookie").collect::<Vec<_>>(),
        ["a=1", "b=2", "c=3"]
    );
    assert_eq!(h.first("content-length"), Some("64"));
}

#[test]
fn many_headers_index_in_constant_steps() {
    let made: Vec<(String, String)> = (0..5000)
        .map(|i| (format!("x-{i}"), "v".repeat(i % 37)))
        .collect();
    let h: Headers = made.iter().cloned().collect();
    assert_eq!(h.len(), 5000);
    assert_eq!(pairs(&h), made);
    for i in [0, 1, 127, 128, 4999] {
        let (n, v) = h.get(i).unwrap();
        assert_eq!((n, v), (made[i].0.as_str(), made[i].1.as_str()));
    }
    assert_eq!(h.first("X-4321"), Some("v".repeat(4321 % 37).as_str()));
    assert_eq!(h.get(5000), None);
}

#[test]
fn numbers_take_the_fewest_seven_bit_digits() {
    assert_eq!(width(0), 1);
    assert_eq!(width(127), 1);
    assert_eq!(width(128), 2);
    assert_eq!(width((1 << 14) - 1), 2);
    assert_eq!(width(1 << 14), 3);
    assert_eq!(width(usize::MAX), usize::BITS.div_ceil(7) as usize);
    for x in [0, 1, 127, 128, 1 << 20, usize::MAX >> 1, usize::MAX] {
        let w = width(x);
        let mut s = String::new();
        push_number(&mut s, w, x);
        assert_eq!(s.len(), w);
        assert!(s.is_ascii());
        assert_eq!(read_number(s.as_bytes()), x, "{x} in {w} digits");
    }
}

#[test]
fn texts_across_each_width_read_back() {
    // Around each change of width: 127/128 and 16383/16384 bytes of text.
    for text in [5, 126, 127, 128, 129, 16_382, 16_383, 16_384, 16_385] {
        let value = "v".repeat(text - 5);
        let h: Headers = [("x-n", value.as_str()), ("b", "2")].into_iter().collect();
        assert_eq!(h.get(0), Some(("x-n", value.as_str())), "{text} bytes");
        assert_eq!(h.get(1), Some(("b", "2")), "{text} bytes");
        let w = match text {
            ..128 => 1,
            128..16_384 => 2,
            _ => 3,
        };
        assert_eq!(h.block.as_bytes()[0], w as u8, "{text} bytes");
        // Exact: the one block is its table (width, count, four ends) plus the text.
        assert_eq!(h.block.len(), 1 + w + 4 * w + text, "{text} bytes");
    }
}

#[test]
fn a_huge_value_is_kept_whole() {
    // 3 MiB: four digits per number (above 2 MiB).
    let big = "x".repeat(3 << 20);
    let h = Headers::new().with("x-big", &big).with("x-after", "1");
    assert_eq!(h.len(), 2);
    assert_eq!(h.first("x-big").map(str::len), Some(3 << 20));
    assert_eq!(h.get(1), Some(("x-after", "1")));
    assert_eq!(h.block.as_bytes()[0], 4);
}

#[test]
fn clones_equal_and_hash_alike_and_order_matters() {
    let a: Headers = [("a", "1"), ("b", "2")].into_iter().collect();
    let b = a.clone();
    assert_eq!(a, b);
    assert_eq!(hash(&a), hash(&b));
    let c: Headers = [("A", "1"), ("B", "2")].into_iter().collect();
    assert_eq!(a, c, "names are lower-cased when collected");
    let swapped: Headers = [("b", "2"), ("a", "1")].into_iter().collect();
    assert_ne!(a, swapped);
    // The same text split differently is a different set of pairs.
    let split: Headers = [("a1", ""), ("b", "2")].into_iter().collect();
    assert_ne!(a, split);
    assert_ne!(a, Headers::new());
}

#[test]
fn debug_looks_like_the_list_of_pairs() {
    let h: Headers = [("a", "1"), ("b", "x\"y")].into_iter().collect();
    let list = vec![("a", "1"), ("b", "x\"y")];
    assert_eq!(format!("{h:?}"), format!("{list:?}"));
    assert_eq!(format!("{:?}", h.iter()), format!("{list:?}"));
}

#[test]
fn with_adds_at_the_end() {
    let h = Headers::new().with("A", "1").with("b", "2").with("a", "3");
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [("a", "1"), ("b", "2"), ("a", "3")]
    );
    assert_eq!(h.first("a"), Some("1"));
}

#[test]
fn a_head_of_any_size_reads_back_the_same() {
    // Up to 16 pairs are borrowed on the stack, more (or a value to make text of) on the heap:
    // every path makes the same block.
    for count in [1, 15, 16, 17, 40] {
        for bad_at in [None, Some(0), Some(count - 1)] {
            let mut map = HeaderMap::new();
            let mut want = Vec::new();
            for i in 0..count {
                let name = HeaderName::try_from(format!("x-{i}")).unwrap();
                let value: Vec<u8> = match bad_at == Some(i) {
                    true => b"\xffv".to_vec(),
                    false => format!("v{i}").into_bytes(),
                };
                want.push((
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                ));
                map.append(name, HeaderValue::from_bytes(&value).unwrap());
            }
            let h = Headers::from_map(&map);
            assert_eq!(pairs(&h), want, "{count} pairs, invalid at {bad_at:?}");
            assert_eq!(h, want.iter().cloned().collect(), "{count}, {bad_at:?}");
        }
    }
}

#[test]
fn the_text_is_every_name_then_its_value_in_order_and_reading_from_either_end_agrees() {
    // Widths 1, 2 and 3 (text past 127 and 16,383 bytes), so each way of reading a number runs.
    for size in [3, 200, 20_000] {
        let want: Vec<(String, String)> = (0..7)
            .map(|i| (format!("n{i}"), "v".repeat(size / 7 + i)))
            .collect();
        let h: Headers = want.iter().cloned().collect();
        let joined: String = want.iter().map(|(n, v)| format!("{n}{v}")).collect();
        assert_eq!(h.text(), joined, "{size}");
        let (text, pairs) = h.text_and_iter();
        assert_eq!(text, joined, "{size}");
        assert_eq!(pairs.len(), want.len(), "{size}");
        assert_eq!(h.count_and_len(), (want.len(), joined.len()), "{size}");
        let mut back: Vec<_> = h
            .iter()
            .rev()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        back.reverse();
        assert_eq!(back, want, "{size}");
        for (i, pair) in want.iter().enumerate() {
            assert_eq!(
                h.get(i),
                Some((pair.0.as_str(), pair.1.as_str())),
                "{size}, {i}"
            );
        }
    }
    assert_eq!(Headers::new().text(), "");
    assert_eq!(Headers::new().count_and_len(), (0, 0));
    assert_eq!(Headers::new().text_and_iter().1.len(), 0);
}
