//! URLs: validated when a request is built, stored as text plus offsets.

use std::fmt;

use crate::error::{Error, ErrorKind};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Appends `s` encoded as `application/x-www-form-urlencoded` (WHATWG URL standard, §5.2):
/// `*-._` and ASCII alphanumerics kept, space as `+`, other UTF-8 bytes as `%XX`.
pub(crate) fn form_urlencode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// A validated absolute `http` or `https` URL.
///
/// Stored as its text plus the offsets of its host, so a queued request costs the URL's bytes and
/// a few words, not a parsed tree.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    text: Box<str>,
    host_start: u16,
    host_end: u16,
    port: u16,
    scheme: Scheme,
}

impl Url {
    /// Parses and validates an absolute `http://` or `https://` URL.
    ///
    /// Bytes that may not appear in a request target — anything outside ASCII, and
    /// `"` `<` `>` `\` `^` `` ` `` `{` `|` `}` — are percent-encoded in the path and query, as
    /// browsers and curl do (UTF-8 bytes, so `/ü` becomes `/%C3%BC`); existing `%XX` escapes are
    /// kept. Whitespace and control characters are refused, and so is a host outside ASCII (give
    /// an internationalised name in its `xn--` form).
    ///
    /// ```
    /// use httpbatch::Url;
    /// let url = Url::parse("http://127.0.0.1:8080/anything/ü?q=\"x\"").unwrap();
    /// assert_eq!(url.as_str(), "http://127.0.0.1:8080/anything/%C3%BC?q=%22x%22");
    /// ```
    ///
    /// ```
    /// use httpbatch::Url;
    /// let url = Url::parse("http://127.0.0.1:8080/a?b=1").unwrap();
    /// assert_eq!(url.host(), "127.0.0.1");
    /// assert_eq!(url.port(), 8080);
    /// assert_eq!(url.origin(), "http://127.0.0.1:8080");
    /// assert!(Url::parse("127.0.0.1/no-scheme").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidUrl, format!("{why}: {text:?}"));
        if text.len() > u16::MAX as usize {
            return Err(bad("URL longer than 65535 bytes"));
        }
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("URL contains whitespace or control characters"));
        }
        let (scheme, rest_at) = match text.find("://") {
            Some(i) => {
                let s = &text[..i];
                let scheme = if s.eq_ignore_ascii_case("http") {
                    Scheme::Http
                } else if s.eq_ignore_ascii_case("https") {
                    Scheme::Https
                } else {
                    return Err(bad(&format!(
                        "unsupported scheme {s:?} (only http and https)"
                    )));
                };
                (scheme, i + 3)
            }
            None => return Err(bad("missing scheme (expected http:// or https://)")),
        };
        let rest = &text[rest_at..];
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; send a header",
            ));
        }
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let close = stripped
                .find(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let after = &stripped[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after IPv6 address")),
            };
            (&authority[..close + 2], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if !host.is_ascii() {
            return Err(bad(
                "non-ASCII host (give an internationalised name in its xn-- form)",
            ));
        }
        if !host.starts_with('[')
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(bad("invalid host"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("invalid port"))?,
        };
        let host_start = rest_at as u16;
        let target_at = rest_at + auth_end;
        let text: Box<str> = match text[target_at..].bytes().any(needs_escape) {
            false => text.into(),
            true => {
                let mut out = String::with_capacity(text.len() + 16);
                out.push_str(&text[..target_at]);
                for c in text[target_at..].chars() {
                    if c.is_ascii() && !needs_escape(c as u8) {
                        out.push(c);
                    } else {
                        let mut buf = [0; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    }
                }
                if out.len() > u16::MAX as usize {
                    return Err(bad("URL longer than 65535 bytes once percent-encoded"));
                }
                out.into()
            }
        };
        Ok(Url {
            text,
            host_start,
            host_end: host_start + host.len() as u16,
            port,
            scheme,
        })
    }

    /// This URL with `pairs` (already encoded) appended to its query.
    pub(crate) fn with_query_pairs(&self, pairs: &str) -> Result<Url, Error> {
        let text = &*self.text;
        let (base, fragment) = match text.find('#') {
            Some(i) => text.split_at(i),
            None => (text, ""),
        };
        let sep = match base.find('?') {
            None => "?",
            Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
            Some(_) => "&",
        };
        Url::parse(&format!("{base}{sep}{pairs}{fragment}"))
    }

    /// The URL as given, with the path and query percent-encoded where needed (see
    /// [`parse`](Self::parse)).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        &self.text[self.host_start as usize..self.host_end as usize]
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `scheme://host:port`, lower-cased: the key of per-origin agents, limits and statistics.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host().to_ascii_lowercase(),
            self.port
        )
    }
}

/// Whether `b` must be percent-encoded in a request target: outside ASCII, or one of the
/// characters neither RFC 3986 nor the `http` crate's URI parser allows there.
fn needs_escape(b: u8) -> bool {
    !b.is_ascii() || b"\"<>\\^`{|}".contains(&b)
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let u = Url::parse("HTTPS://Example.COM/x").unwrap();
        assert_eq!(u.scheme(), Scheme::Https);
        assert_eq!(u.port(), 443);
        assert_eq!(u.origin(), "https://example.com:443");
        // Non-ASCII and illegal bytes in path and query are percent-encoded, escapes kept.
        for (given, sent) in [
            ("http://a/anything/ü", "http://a/anything/%C3%BC"),
            ("http://a/ü?ß=ü", "http://a/%C3%BC?%C3%9F=%C3%BC"),
            ("http://a/%C3%BC", "http://a/%C3%BC"),
            (
                "http://a/{x}|\\^`<>\"",
                "http://a/%7Bx%7D%7C%5C%5E%60%3C%3E%22",
            ),
            ("http://a/日本?q=1", "http://a/%E6%97%A5%E6%9C%AC?q=1"),
            ("http://a/plain?q=1&r=%20", "http://a/plain?q=1&r=%20"),
        ] {
            let u = Url::parse(given).unwrap();
            assert_eq!(u.as_str(), sent, "{given:?}");
            assert_eq!(u.host(), "a");
            assert_eq!(Url::parse(sent).unwrap().as_str(), sent, "idempotent");
        }
        let u = Url::parse("http://[::1]:9/x").unwrap();
        assert_eq!(u.host(), "[::1]");
        assert_eq!(u.port(), 9);
        for bad in [
            "",
            "http://",
            "http:///x",
            "ftp://a/",
            "http://a:0/",
            "http://a:99999/",
            "http://a b/",
            "http://u:p@a/",
            "http://a/\r\n",
            "http://[::1/",
            "localhost:80",
            "http://bücher.example/",
            "http://a/\u{7f}",
            "http://a/x\ty",
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad:?}");
        }
    }
}
