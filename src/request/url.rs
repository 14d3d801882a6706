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
/// Stored as one allocation of its text, followed by its origin (`scheme://host:port`, the key
/// of per-origin agents, limits and statistics) when that is not already the text's prefix, plus
/// offsets: a queued request costs the URL's bytes and a few words, not a parsed tree, and the
/// origin is computed once, when the URL is parsed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// The URL, then its origin unless the URL starts with it.
    text: Box<str>,
    url_len: u16,
    origin_start: u16,
    origin_end: u16,
    scheme: Scheme,
}

impl Url {
    /// Parses and validates an absolute `http://` or `https://` URL.
    ///
    /// Bytes that may not appear in a request target — anything outside ASCII, and
    /// `"` `<` `>` `\` `^` `` ` `` `{` `|` `}` — are percent-encoded in the path and query, as
    /// browsers and curl do (UTF-8 bytes, so `/ü` becomes `/%C3%BC`); existing `%XX` escapes are
    /// kept. Whitespace and control characters are refused. An internationalised host name is
    /// converted to its ASCII (`xn--`) form by UTS 46, as browsers and curl do; one that UTS 46
    /// refuses is an [`ErrorKind::InvalidUrl`].
    ///
    /// ```
    /// use httpbatch::Url;
    /// let url = Url::parse("http://127.0.0.1:8080/anything/ü?q=\"x\"").unwrap();
    /// assert_eq!(url.as_str(), "http://127.0.0.1:8080/anything/%C3%BC?q=%22x%22");
    /// ```
    ///
    /// ```
    /// use httpbatch::Url;
    /// let url = Url::parse("http://Bücher.example/ü").unwrap();
    /// assert_eq!(url.as_str(), "http://xn--bcher-kva.example/%C3%BC");
    /// assert_eq!(url.host(), "xn--bcher-kva.example");
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
        let port_text = port;
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if !host.is_ascii() {
            // An internationalised name: its UTS 46 ASCII form (`bücher.example` is
            // `xn--bcher-kva.example`), as browsers and curl send it; then the URL with it.
            let ascii = idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL)
                .map_err(|_| bad("invalid internationalised host name"))?;
            if !ascii.is_ascii() || ascii.is_empty() {
                return Err(bad("invalid internationalised host name"));
            }
            let host_at = rest_at;
            let rebuilt = format!(
                "{}{ascii}{}",
                &text[..host_at],
                &text[host_at + host.len()..]
            );
            return Url::parse(&rebuilt);
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
        let target_at = rest_at + auth_end;
        let mut out = String::new();
        let escaped = text[target_at..].bytes().any(needs_escape);
        if escaped {
            out.reserve(text.len() + 16 + ORIGIN_MAX);
            out.push_str(&text[..target_at]);
            for c in text[target_at..].chars() {
                if c.is_ascii() && !needs_escape(c as u8) {
                    out.push(c);
                } else {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        push_hex(b, &mut out);
                    }
                }
            }
            if out.len() > u16::MAX as usize {
                return Err(bad("URL longer than 65535 bytes once percent-encoded"));
            }
        }
        let url_len = if escaped { out.len() } else { text.len() };
        // The origin is the URL's prefix when the URL spells it canonically: a lower-case scheme
        // and host and an explicit port without leading zeros.
        let scheme_text = &text[..rest_at - 3];
        let prefix = scheme_text == scheme.as_str()
            && !host.bytes().any(|b| b.is_ascii_uppercase())
            && port_text.is_some_and(|p| !p.starts_with('0'));
        let (origin_start, origin_end) = if prefix {
            (0, target_at)
        } else {
            if !escaped {
                let digits = port.checked_ilog10().unwrap_or(0) as usize + 1;
                let origin_len = scheme.as_str().len() + 3 + host.len() + 1 + digits;
                out.reserve_exact(text.len() + origin_len);
                out.push_str(text);
            }
            let start = out.len();
            out.push_str(scheme.as_str());
            out.push_str("://");
            out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
            out.push(':');
            push_port(port, &mut out);
            (start, out.len())
        };
        if out.len() > u16::MAX as usize {
            return Err(bad("URL longer than 65535 bytes with its origin"));
        }
        let text: Box<str> = match out.is_empty() {
            true => text.into(),
            false => out.into_boxed_str(),
        };
        Ok(Url {
            text,
            url_len: url_len as u16,
            origin_start: origin_start as u16,
            origin_end: origin_end as u16,
            scheme,
        })
    }

    /// This URL with `pairs` (already encoded) appended to its query.
    pub(crate) fn with_query_pairs(&self, pairs: &str) -> Result<Url, Error> {
        let text = self.as_str();
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
        &self.text[..self.url_len as usize]
    }

    /// The URL's text ([`as_str`](Self::as_str)) without a copy.
    pub(crate) fn into_string(self) -> String {
        let mut s = String::from(self.text);
        s.truncate(self.url_len as usize);
        s
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lower-cased (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        let origin = self.origin();
        let start = self.scheme.as_str().len() + 3;
        let end = origin.rfind(':').unwrap_or(origin.len());
        &origin[start..end]
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        let origin = self.origin();
        let digits = &origin[origin.rfind(':').map_or(origin.len(), |i| i + 1)..];
        digits
            .parse()
            .unwrap_or_else(|_| self.scheme.default_port())
    }

    /// `scheme://host:port`, lower-cased: the key of per-origin agents, limits and statistics.
    /// Computed once, when the URL is parsed.
    pub fn origin(&self) -> &str {
        &self.text[self.origin_start as usize..self.origin_end as usize]
    }
}

/// The longest origin appended to a URL's text beyond its host: `https://` and `:65535`.
const ORIGIN_MAX: usize = 16;

fn push_hex(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

/// Appends `port` in decimal (without the formatting machinery: this runs for most URLs).
fn push_port(port: u16, out: &mut String) {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    let mut n = port;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Whether `b` must be percent-encoded in a request target: outside ASCII, or one of the
/// characters neither RFC 3986 nor the `http` crate's URI parser allows there.
fn needs_escape(b: u8) -> bool {
    !b.is_ascii() || b"\"<>\\^`{|}".contains(&b)
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
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
        // The origin, computed once: the URL's prefix when spelled canonically, else kept
        // after the URL in the same allocation; never part of `as_str`.
        for (given, origin, host, port) in [
            ("http://a:8080/x", "http://a:8080", "a", 8080),
            ("http://a/x", "http://a:80", "a", 80),
            (
                "https://Example.COM/x",
                "https://example.com:443",
                "example.com",
                443,
            ),
            ("HTTP://a:80", "http://a:80", "a", 80),
            ("http://a:0080/ü", "http://a:80", "a", 80),
            ("http://[::1]:9/x", "http://[::1]:9", "[::1]", 9),
            ("https://[::1]/ü", "https://[::1]:443", "[::1]", 443),
            ("http://a:65535?q", "http://a:65535", "a", 65535),
        ] {
            let u = Url::parse(given).unwrap();
            assert_eq!(u.origin(), origin, "{given:?}");
            assert_eq!(u.host(), host, "{given:?}");
            assert_eq!(u.port(), port, "{given:?}");
            assert!(!u.as_str().ends_with(origin) || given.ends_with(origin));
            assert_eq!(u, u.clone());
        }
        assert_eq!(std::mem::size_of::<Url>(), 24);
        // Internationalised names in their UTS 46 ASCII form, the rest of the URL kept.
        for (given, sent, host) in [
            (
                "http://bücher.example/",
                "http://xn--bcher-kva.example/",
                "xn--bcher-kva.example",
            ),
            (
                "https://BÜCHER.example:8443/ü?q=ß",
                "https://xn--bcher-kva.example:8443/%C3%BC?q=%C3%9F",
                "xn--bcher-kva.example",
            ),
            ("http://日本.jp", "http://xn--wgv71a.jp", "xn--wgv71a.jp"),
            ("http://faß.de/", "http://xn--fa-hia.de/", "xn--fa-hia.de"),
        ] {
            let u = Url::parse(given).unwrap();
            assert_eq!(u.as_str(), sent, "{given:?}");
            assert_eq!(u.host(), host, "{given:?}");
            assert_eq!(Url::parse(sent).unwrap(), u, "{given:?}: the same URL");
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
            // Internationalised names UTS 46 refuses: a disallowed code point, a label mixing
            // right-to-left and left-to-right letters, a deny-listed ASCII byte.
            "http://a\u{FFFD}b.example/",
            "http://aא.example/",
            "http://ü<.example/",
            "http://[ü]/",
            "http://a/\u{7f}",
            "http://a/x\ty",
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad:?}");
        }
    }
}
