//! `Link` header values (RFC 8288 §3): `<uri-reference>; rel="next"; …`, comma-separated.

/// The target of the first link whose `rel` contains `next` (case-insensitive), over every
/// `Link` header value in order. The target is returned as written (resolve it yourself).
pub(super) fn next_target<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    values
        .into_iter()
        .flat_map(Links::new)
        .find(|(_, rel)| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
        })
        .map(|(target, _)| target)
}

/// Iterates `(target, rel)` over one header value; links without a parseable target are
/// skipped, a missing `rel` is empty.
struct Links<'a> {
    rest: &'a str,
}

impl<'a> Links<'a> {
    fn new(value: &'a str) -> Links<'a> {
        Links { rest: value }
    }
}

impl<'a> Iterator for Links<'a> {
    type Item = (&'a str, String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest.trim_start_matches([' ', '\t', ',']);
            if s.is_empty() {
                return None;
            }
            let Some(after_lt) = s.strip_prefix('<') else {
                self.rest = skip_link(s);
                continue;
            };
            let Some(close) = after_lt.find('>') else {
                self.rest = "";
                return None;
            };
            let target = &after_lt[..close];
            let mut p = &after_lt[close + 1..];
            let mut rel = String::new();
            loop {
                p = p.trim_start_matches([' ', '\t']);
                let Some(after_semi) = p.strip_prefix(';') else {
                    break;
                };
                let after_semi = after_semi.trim_start_matches([' ', '\t']);
                let name_end = after_semi
                    .find(['=', ';', ',', ' ', '\t'])
                    .unwrap_or(after_semi.len());
                let name = &after_semi[..name_end];
                p = after_semi[name_end..].trim_start_matches([' ', '\t']);
                let mut value = String::new();
                if let Some(v) = p.strip_prefix('=') {
                    let v = v.trim_start_matches([' ', '\t']);
                    (value, p) = match v.strip_prefix('"') {
                        Some(q) => quoted(q),
                        None => {
                            let end = v.find([';', ',', ' ', '\t']).unwrap_or(v.len());
                            (v[..end].to_string(), &v[end..])
                        }
                    };
                }
                // The first `rel` wins (RFC 8288 §3.3).
                if name.eq_ignore_ascii_case("rel") && rel.is_empty() {
                    rel = value;
                }
            }
            // Anything else before the next comma is junk: skip it.
            self.rest = skip_link(p);
            return Some((target, rel));
        }
    }
}

/// The rest of a quoted string after its opening quote: its value (escapes undone) and what
/// follows the closing quote.
fn quoted(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 1..]),
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    out.push(e);
                }
            }
            c => out.push(c),
        }
    }
    (out, "")
}

/// `s` from its next top-level comma (quotes and `<…>` respected).
fn skip_link(s: &str) -> &str {
    let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' if !in_angle => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => return &s[i..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_links_and_params() {
        let v = r#"<https://a/x?page=1>; rel="first", <?page=3>; title="a, b; c"; rel="prev next", </last>; rel=last"#;
        assert_eq!(next_target([v]), Some("?page=3"));
        assert_eq!(next_target([r#"</p2>; REL=Next"#]), Some("/p2"));
        assert_eq!(next_target([r#"<a,b>; rel=next"#]), Some("a,b"));
        // Several header values; the first `rel` of a link counts.
        assert_eq!(
            next_target([r#"</a>; rel=prev; rel=next"#, r#"</b>; rel="next""#]),
            Some("/b")
        );
        assert_eq!(next_target([r#"</a>; rel="nextish""#]), None);
        assert_eq!(next_target([r#"junk, </ok>;rel=next"#]), Some("/ok"));
        assert_eq!(
            next_target([r#"</a>; title="\"q\""; rel=next"#]),
            Some("/a")
        );
        assert_eq!(next_target(["<unclosed; rel=next", ""]), None);
        assert_eq!(next_target(std::iter::empty()), None);
    }
}
