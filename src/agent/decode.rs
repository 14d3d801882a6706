//! Content decoding: gzip, deflate and br bodies decoded as they are read, the body limit on the
//! decoded size.
//!
//! Invariants:
//! - The limit bounds both the bytes read from the wire and the bytes decoded: a decoder never
//!   produces more than `limit + 1` bytes (the one extra byte proves the body is too large), so a
//!   small compressed bomb costs at most `limit` of memory and stops with `BodyExceedsLimit`.
//! - A body is decoded only if every coding it names is known; with an unknown one (`zstd`) it
//!   is returned as sent, `Content-Encoding` kept. A decoded body loses `Content-Encoding` and
//!   `Content-Length` (they described the bytes on the wire), as browsers and curl report it.
//! - Errors of the wire under a decoder stay what they are (a reset, the limit); only the
//!   decoder's own complaints become [`ErrorKind::Protocol`](crate::ErrorKind::Protocol).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use ureq::http::{HeaderMap, header};

use super::failure::LeafFailure;
use crate::error::ErrorKind;

/// `Accept-Encoding` sent when decoding is on and neither the request nor the configuration
/// names one.
pub(crate) const DEFAULT_ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Most bytes read (and dropped) after a compressed stream ends, to keep the connection.
const TRAILER_DRAIN: u64 = 64 * 1024;

/// A content coding the leaf decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    /// zlib-wrapped (RFC 9110) or, as some servers send it, raw deflate: told apart by the
    /// zlib header, as browsers do.
    Deflate,
    Br,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
        }
    }
}

/// The codings of `Content-Encoding`, in the order they were applied; `None` when one of them
/// is unknown (the body is then returned as sent). `identity` is no coding.
pub(crate) fn codings(headers: &HeaderMap) -> Option<Vec<Coding>> {
    let mut out = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().ok()?;
        for c in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let c = if c.eq_ignore_ascii_case("gzip") || c.eq_ignore_ascii_case("x-gzip") {
                Coding::Gzip
            } else if c.eq_ignore_ascii_case("deflate") {
                Coding::Deflate
            } else if c.eq_ignore_ascii_case("br") {
                Coding::Br
            } else if c.eq_ignore_ascii_case("identity") {
                continue;
            } else {
                return None;
            };
            out.push(c);
        }
    }
    Some(out)
}

/// Marks an error of the wire so the decoders' own errors can be told from it.
#[derive(Debug)]
struct WireError(io::Error);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WireError {}

/// The raw body, its errors marked as the wire's.
struct Wire<R>(R);

impl<R: Read> Read for Wire<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::other(WireError(e))),
                ok => return ok,
            }
        }
    }
}

/// Reads `raw` (already limited to `limit` bytes by ureq) through the decoders of `codings`
/// (applied in that order, so undone in reverse), keeping at most `limit` decoded bytes.
pub(crate) fn decode(
    raw: impl Read,
    codings: &[Coding],
    limit: u64,
) -> Result<Vec<u8>, ureq::Error> {
    let mut wire = BufReader::with_capacity(8 * 1024, Wire(raw));
    let result = decode_from(&mut wire, codings, limit);
    match result {
        Ok(body) => {
            // Bytes after the end of a compressed stream belong to no one; read them so the
            // connection can be reused (a failure only costs the connection).
            let _ = io::copy(&mut (&mut wire).take(TRAILER_DRAIN), &mut io::sink());
            Ok(body)
        }
        Err(e) => Err(unwrap_error(e, codings)),
    }
}

fn decode_from<R: BufRead>(wire: &mut R, codings: &[Coding], limit: u64) -> io::Result<Vec<u8>> {
    if wire.fill_buf()?.is_empty() {
        // No body (HEAD, 204, 304, or an empty one): nothing to decode.
        return Ok(Vec::new());
    }
    let mut reader: Box<dyn Read + '_> = Box::new(wire);
    for &coding in codings.iter().rev() {
        reader = match coding {
            Coding::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(BufReader::new(reader))),
            Coding::Deflate => {
                let mut inner = BufReader::new(reader);
                if is_zlib(inner.fill_buf()?) {
                    Box::new(flate2::bufread::ZlibDecoder::new(inner))
                } else {
                    Box::new(flate2::bufread::DeflateDecoder::new(inner))
                }
            }
            Coding::Br => Box::new(brotli_decompressor::Decompressor::new(reader, 4096)),
        };
    }
    let mut out = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::other(ureq::Error::BodyExceedsLimit(limit)));
    }
    Ok(out)
}

/// Whether `head` starts with a zlib header (RFC 1950: deflate, window ≤ 32 KiB, check bits).
fn is_zlib(head: &[u8]) -> bool {
    match head {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

fn unwrap_error(e: io::Error, codings: &[Coding]) -> ureq::Error {
    let is_wire = e.get_ref().is_some_and(|i| i.is::<WireError>());
    let is_ureq = e.get_ref().is_some_and(|i| i.is::<ureq::Error>());
    if is_wire {
        let inner = e.into_inner().and_then(|i| i.downcast::<WireError>().ok());
        return match inner {
            Some(w) => ureq::Error::from(w.0),
            None => ureq::Error::Io(io::Error::other("wire error")),
        };
    }
    if is_ureq {
        return ureq::Error::from(e);
    }
    let names: Vec<_> = codings.iter().map(|c| c.name()).collect();
    LeafFailure::new(
        ErrorKind::Protocol,
        format!("invalid {} response body: {e}", names.join(", ")),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn headers(ce: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in ce {
            h.append(header::CONTENT_ENCODING, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn codings_are_parsed_in_order_and_unknown_ones_disable_decoding() {
        assert_eq!(codings(&headers(&[])), Some(vec![]));
        assert_eq!(
            codings(&headers(&["GZIP, identity", "br"])),
            Some(vec![Coding::Gzip, Coding::Br])
        );
        assert_eq!(
            codings(&headers(&["x-gzip,deflate"])),
            Some(vec![Coding::Gzip, Coding::Deflate])
        );
        assert_eq!(codings(&headers(&["gzip", "zstd"])), None);
    }

    #[test]
    fn zlib_and_raw_deflate_and_stacked_codings_decode() {
        let data = b"hello hello hello hello".repeat(50);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&data).unwrap();
        let zlib = z.finish().unwrap();
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(&data).unwrap();
        let raw = d.finish().unwrap();
        assert!(is_zlib(&zlib) && !is_zlib(&raw));
        for body in [zlib, raw.clone()] {
            let got = decode(&body[..], &[Coding::Deflate], 1 << 20).unwrap();
            assert_eq!(got, data);
        }
        // deflate applied first, then gzip: undone in reverse.
        let stacked = gzip(&raw);
        let got = decode(&stacked[..], &[Coding::Deflate, Coding::Gzip], 1 << 20).unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn the_limit_is_on_the_decoded_size_and_exact() {
        let data = vec![0u8; 1000];
        let z = gzip(&data);
        assert_eq!(decode(&z[..], &[Coding::Gzip], 1000).unwrap().len(), 1000);
        let e = decode(&z[..], &[Coding::Gzip], 999).unwrap_err();
        assert!(matches!(e, ureq::Error::BodyExceedsLimit(999)), "{e:?}");
    }

    #[test]
    fn corrupt_bodies_are_protocol_errors_and_wire_errors_stay_wire_errors() {
        let e = decode(&b"not gzip at all"[..], &[Coding::Gzip], 100).unwrap_err();
        let ureq::Error::Io(io) = &e else {
            panic!("{e:?}")
        };
        let f = io.get_ref().unwrap().downcast_ref::<LeafFailure>().unwrap();
        assert_eq!(f.kind, ErrorKind::Protocol);
        assert!(f.message.contains("gzip"), "{}", f.message);

        let z = gzip(&[7u8; 5000]);
        let cut = &z[..z.len() / 2];
        struct Reset<'a>(&'a [u8]);
        impl Read for Reset<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::ErrorKind::ConnectionReset.into());
                }
                self.0.read(buf)
            }
        }
        let e = decode(Reset(cut), &[Coding::Gzip], 1 << 20).unwrap_err();
        let ureq::Error::Io(io) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset, "{e:?}");
    }

    #[test]
    fn an_empty_body_is_not_decoded() {
        assert!(decode(&b""[..], &[Coding::Br], 10).unwrap().is_empty());
    }
}
