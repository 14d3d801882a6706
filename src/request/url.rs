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
        match parse_plain(text) {
            Some(url) => Ok(url),
            None => Url::parse_general(text),
        }
    }

    /// Any URL, valid or not, with the error that names what is wrong: the rules
    /// [`parse_plain`] takes the common case of in one pass.
    fn parse_general(text: &str) -> Result<Url, Error> {
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

    /// The URL's text ([`as_str`](Self::as_str)), exact-sized: without a copy when the origin
    /// is the URL's prefix, else the allocation cut to the URL.
    pub(crate) fn into_boxed_str(self) -> Box<str> {
        if usize::from(self.url_len) == self.text.len() {
            return self.text;
        }
        let mut s = String::from(self.text);
        s.truncate(self.url_len as usize);
        s.into_boxed_str()
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

    /// What follows the origin (path, query and fragment, as in [`as_str`](Self::as_str)) when
    /// the URL starts with its origin, spelled as [`origin`](Self::origin) spells it; `None`
    /// when it does not.
    pub(crate) fn after_origin(&self) -> Option<&str> {
        (self.origin_start == 0)
            .then(|| &self.text[self.origin_end as usize..self.url_len as usize])
    }

    /// `scheme://host:port`, lower-cased: the key of per-origin agents, limits and statistics.
    /// Computed once, when the URL is parsed.
    pub fn origin(&self) -> &str {
        &self.text[self.origin_start as usize..self.origin_end as usize]
    }
}

/// Byte classes for [`parse_plain`]'s one pass.
const HOST: u8 = 1; // may appear in a plain host name: ASCII letters and digits, `-`, `.`, `_`
const UPPER: u8 = 2; // an upper-case ASCII letter
const END: u8 = 4; // ends the authority: `/`, `?`, `#`
const TARGET: u8 = 8; // may appear in a request target as is (no escape, no control byte)

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut k = 0;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' {
            k |= HOST;
        }
        if c.is_ascii_uppercase() {
            k |= UPPER;
        }
        if c == b'/' || c == b'?' || c == b'#' {
            k |= END;
        }
        if c > b' ' && c != 0x7f && !needs_escape(c) {
            k |= TARGET;
        }
        t[b] = k;
        b += 1;
    }
    t
};

/// The common URL in one forward pass over its bytes: `http` or `https`, a plain ASCII host
/// name or IPv4 address, an optional port from 1 to 65535, a target that needs no escape.
/// `None` for anything else (brackets, credentials, IDNA, escapes, any error), which
/// [`Url::parse_general`] then parses with the full rules; for the URLs taken here both agree
/// (the `parse_paths_agree` property test).
fn parse_plain(text: &str) -> Option<Url> {
    let b = text.as_bytes();
    if b.len() > u16::MAX as usize {
        return None;
    }
    let (scheme, rest_at) = if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        (Scheme::Http, 7)
    } else if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        (Scheme::Https, 8)
    } else {
        return None;
    };
    let mut i = rest_at;
    let mut colon = 0;
    let mut upper = 0;
    while i < b.len() {
        let c = b[i];
        let k = CLASS[c as usize];
        if k & HOST != 0 {
            upper |= k;
        } else if c == b':' && colon == 0 {
            colon = i;
        } else if k & END != 0 {
            break;
        } else {
            return None;
        }
        i += 1;
    }
    let target_at = i;
    let host_end = if colon == 0 { target_at } else { colon };
    if host_end == rest_at {
        return None;
    }
    let port = if colon == 0 {
        scheme.default_port()
    } else {
        let digits = &b[colon + 1..target_at];
        if digits.is_empty() {
            return None;
        }
        let mut port = 0u32;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            port = port * 10 + u32::from(d - b'0');
            if port > u32::from(u16::MAX) {
                return None;
            }
        }
        match u16::try_from(port) {
            Ok(p) if p != 0 => p,
            _ => return None,
        }
    };
    if !b[target_at..]
        .iter()
        .all(|&c| CLASS[c as usize] & TARGET != 0)
    {
        return None;
    }
    let canonical = b[..rest_at - 3] == *scheme.as_str().as_bytes()
        && upper & UPPER == 0
        && colon != 0
        && b[colon + 1] != b'0';
    let (text, origin_start, origin_end) = if canonical {
        (Box::from(text), 0, target_at)
    } else {
        let host = &text[rest_at..host_end];
        let digits = port.checked_ilog10().unwrap_or(0) as usize + 1;
        let mut out = String::with_capacity(text.len() + rest_at + host.len() + 1 + digits);
        out.push_str(text);
        out.push_str(scheme.as_str());
        out.push_str("://");
        if upper & UPPER == 0 {
            out.push_str(host);
        } else {
            out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
        }
        out.push(':');
        push_port(port, &mut out);
        if out.len() > u16::MAX as usize {
            return None;
        }
        let end = out.len();
        (out.into_boxed_str(), text.len(), end)
    };
    Some(Url {
        text,
        url_len: b.len() as u16,
        origin_start: origin_start as u16,
        origin_end: origin_end as u16,
        scheme,
    })
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
const fn needs_escape(b: u8) -> bool {
    !b.is_ascii()
        || matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
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
mod tests;
