//! `httpbatch_net_options`: TLS and proxy options, set once and copied into an executor builder
//! or a pool builder (`_set_net_options`).

use std::ffi::c_char;

use crate::agent::{HttpClientConfig, TlsVersion};
use crate::error::{Error, ErrorKind};

use super::base::{
    FfiResult, HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw,
    last_error_into, try_bytes, try_out, try_ref, try_str,
};
use super::executor::httpbatch_executor_builder;
use super::httpbatch_result;
use super::pool::builder::httpbatch_pool_builder;

/// `httpbatch_net_options_set_min_tls_version`: TLS 1.2 and later.
pub const HTTPBATCH_TLS_1_2: u32 = 12;
/// `httpbatch_net_options_set_min_tls_version`: TLS 1.3 only.
pub const HTTPBATCH_TLS_1_3: u32 = 13;

/// TLS and proxy options (opaque). Not thread-safe. Defaults: certificates verified against the
/// built-in (Mozilla) roots, no client certificate, TLS 1.2 or later, no proxy but those of the
/// environment (`http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`, as curl reads them).
pub struct httpbatch_net_options {
    config: HttpClientConfig,
    last_error: LastError,
}

impl HasLastError for httpbatch_net_options {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Applies `change` and checks the result (files read, PEM parsed, proxy URLs parsed); an
/// unusable result is refused with `HTTPBATCH_RESULT_INVALID_CONFIG` and leaves the options as
/// they were.
fn update(
    options: *mut httpbatch_net_options,
    change: impl FnOnce(HttpClientConfig) -> FfiResult<HttpClientConfig>,
) -> httpbatch_result {
    guard_on_mut(options, "options", |o| {
        let next = change(o.config.clone())?;
        next.validate_net()?;
        o.config = next;
        Ok(())
    })
}

/// Creates options with the defaults.
///
/// Ownership: the caller frees them with `httpbatch_net_options_free`; builders copy them, so
/// they may be freed right after `_set_net_options`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_new(
    options_out: *mut *mut httpbatch_net_options,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `options_out` is NULL or writable, per the header.
        let out = unsafe { try_out(options_out, "options_out") }?;
        out.write(into_raw(httpbatch_net_options {
            config: HttpClientConfig::default(),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Trusts the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks; copied) in
/// addition to the built-in roots. PEM without a certificate is refused with
/// `HTTPBATCH_RESULT_INVALID_CONFIG`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_add_root_certificates_pem(
    options: *mut httpbatch_net_options,
    pem: *const u8,
    pem_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: valid for `pem_len` bytes, per the header.
        let pem = unsafe { try_bytes(pem, pem_len, "pem") }?;
        Ok(c.add_root_certificates_pem(pem))
    })
}

/// Trusts the CA certificates in the PEM file at `path` (UTF-8; read now, and again when a
/// client is built) in addition to the built-in roots, like curl's `--cacert` does with
/// `httpbatch_net_options_set_builtin_roots(options, false)`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_add_root_certificates_file(
    options: *mut httpbatch_net_options,
    path: *const c_char,
    path_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: valid for `path_len` bytes, per the header.
        let path = unsafe { try_str(path, path_len, "path") }?;
        Ok(c.add_root_certificates_file(path))
    })
}

/// Sets whether the built-in (Mozilla) roots are trusted besides the added ones. Turning them
/// off with no root added is refused with `HTTPBATCH_RESULT_INVALID_CONFIG`. Defaults to true.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_builtin_roots(
    options: *mut httpbatch_net_options,
    enabled: bool,
) -> httpbatch_result {
    update(options, |c| Ok(c.builtin_roots(enabled)))
}

/// Sets whether the operating system's verifier and trust store check certificates. Refused
/// with `HTTPBATCH_RESULT_INVALID_CONFIG` when the library was built without its
/// `platform-verifier` feature. Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_platform_verifier(
    options: *mut httpbatch_net_options,
    enabled: bool,
) -> httpbatch_result {
    update(options, |c| Ok(c.platform_verifier(enabled)))
}

/// Presents a client certificate (mutual TLS): `cert_chain` is PEM with the certificate and any
/// intermediates, `key` its PEM private key (PKCS#8, PKCS#1 or SEC1). Both copied.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_client_certificate_pem(
    options: *mut httpbatch_net_options,
    cert_chain: *const u8,
    cert_chain_len: usize,
    key: *const u8,
    key_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: each valid for its length, per the header.
        let chain = unsafe { try_bytes(cert_chain, cert_chain_len, "cert_chain") }?;
        // SAFETY: as above.
        let key = unsafe { try_bytes(key, key_len, "key") }?;
        Ok(c.client_certificate_pem(chain, key))
    })
}

/// As `httpbatch_net_options_set_client_certificate_pem`, from PEM files (UTF-8 paths; both
/// may name the same file).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_client_certificate_files(
    options: *mut httpbatch_net_options,
    cert_chain_path: *const c_char,
    cert_chain_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: each valid for its length, per the header.
        let chain = unsafe { try_str(cert_chain_path, cert_chain_path_len, "cert_chain_path") }?;
        // SAFETY: as above.
        let key = unsafe { try_str(key_path, key_path_len, "key_path") }?;
        Ok(c.client_certificate_files(chain, key))
    })
}

/// Sets the oldest TLS version accepted: `HTTPBATCH_TLS_1_2` or `HTTPBATCH_TLS_1_3`; another
/// value is refused with `HTTPBATCH_RESULT_INVALID_CONFIG`. Defaults to `HTTPBATCH_TLS_1_2`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_min_tls_version(
    options: *mut httpbatch_net_options,
    version: u32,
) -> httpbatch_result {
    update(options, |c| {
        let v = match version {
            HTTPBATCH_TLS_1_2 => TlsVersion::Tls12,
            HTTPBATCH_TLS_1_3 => TlsVersion::Tls13,
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("unknown TLS version {other}: expected 12 or 13"),
                )
                .into());
            }
        };
        Ok(c.min_tls_version(v))
    })
}

/// **Turns certificate verification off** when `enabled`: any certificate for any name is
/// accepted, so anyone on the path can read and change the traffic. For tests only (curl's
/// `-k`). Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_danger_accept_invalid_certs(
    options: *mut httpbatch_net_options,
    enabled: bool,
) -> httpbatch_result {
    update(options, |c| Ok(c.danger_accept_invalid_certs(enabled)))
}

/// Sends every request through the proxy at `url` (UTF-8, copied), as curl's `-x`:
/// `http://[user:password@]host[:port]` (plain-HTTP requests forwarded, https tunnelled with
/// CONNECT), `socks5://` (names resolved here), `socks5h://` (by the proxy), `socks4://`,
/// `socks4a://`. An empty `url` means no proxy at all, the environment's included. An unusable
/// URL is refused with `HTTPBATCH_RESULT_INVALID_CONFIG`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_proxy(
    options: *mut httpbatch_net_options,
    url: *const c_char,
    url_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: valid for `url_len` bytes, per the header.
        let url = unsafe { try_str(url, url_len, "url") }?;
        Ok(c.proxy(url))
    })
}

/// Sets the hosts reached without a proxy (UTF-8, copied), as curl's `--noproxy`: comma
/// separated host names (subdomains included, a leading dot ignored), IP addresses, CIDR ranges,
/// or `*` for all. Replaces `no_proxy` from the environment.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_no_proxy(
    options: *mut httpbatch_net_options,
    list: *const c_char,
    list_len: usize,
) -> httpbatch_result {
    update(options, |c| {
        // SAFETY: valid for `list_len` bytes, per the header.
        let list = unsafe { try_str(list, list_len, "list") }?;
        Ok(c.no_proxy(list))
    })
}

/// Sets whether proxies are read from the environment when a client is built (`http_proxy`
/// lower case only, `https_proxy`/`HTTPS_PROXY`, `all_proxy`/`ALL_PROXY`,
/// `no_proxy`/`NO_PROXY`). Defaults to true.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_set_proxy_from_env(
    options: *mut httpbatch_net_options,
    enabled: bool,
) -> httpbatch_result {
    update(options, |c| Ok(c.proxy_from_env(enabled)))
}

/// Copies the options' last error text into `buf`; see `httpbatch_request_last_error` for the
/// buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_last_error(
    options: *const httpbatch_net_options,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(options, buf, buf_len, len_out)
}

/// Frees options (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_net_options_free(options: *mut httpbatch_net_options) {
    guard_or((), || {
        // SAFETY: NULL or from `_new`, freed once.
        unsafe { free_raw(options) }
    })
}

/// Copies `options` (TLS and proxies) into the executor's HTTP client settings: like the other
/// client settings, they do not combine with `httpbatch_executor_builder_set_pool` (set them on
/// the pool builder instead).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_net_options(
    builder: *mut httpbatch_executor_builder,
    options: *const httpbatch_net_options,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: NULL or live, per the header.
        let o = unsafe { try_ref(options, "options") }?;
        b.client_set = true;
        b.config = b.config.clone().with_net_of(&o.config);
        Ok(())
    })
}

/// Copies `options` (TLS and proxies) into the pool's HTTP client settings.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_net_options(
    builder: *mut httpbatch_pool_builder,
    options: *const httpbatch_net_options,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: NULL or live, per the header.
        let o = unsafe { try_ref(options, "options") }?;
        b.client = b.client.clone().with_net_of(&o.config);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::executor::{httpbatch_executor_builder_free, httpbatch_executor_builder_new};
    use crate::ffi::pool::builder::{httpbatch_pool_builder_free, httpbatch_pool_builder_new};

    fn last_error(o: *const httpbatch_net_options) -> String {
        let mut buf = [0u8; 256];
        let mut len = 0usize;
        let r = httpbatch_net_options_last_error(o, buf.as_mut_ptr().cast(), buf.len(), &mut len);
        assert_eq!(r, httpbatch_result::Ok);
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    #[test]
    fn setters_check_what_they_are_given_and_builders_copy_it() {
        let mut o = std::ptr::null_mut();
        assert_eq!(httpbatch_net_options_new(&mut o), httpbatch_result::Ok);

        let junk = b"not PEM";
        let r = httpbatch_net_options_add_root_certificates_pem(o, junk.as_ptr(), junk.len());
        assert_eq!(r, httpbatch_result::InvalidConfig);
        assert!(
            last_error(o).contains("no CERTIFICATE"),
            "{}",
            last_error(o)
        );
        let path = "/nonexistent/ca.pem";
        let r =
            httpbatch_net_options_add_root_certificates_file(o, path.as_ptr().cast(), path.len());
        assert_eq!(r, httpbatch_result::InvalidConfig);
        assert!(last_error(o).contains(path));
        assert_eq!(
            httpbatch_net_options_set_builtin_roots(o, false),
            httpbatch_result::InvalidConfig,
            "no roots left"
        );
        assert_eq!(
            httpbatch_net_options_set_min_tls_version(o, 11),
            httpbatch_result::InvalidConfig
        );
        let bad = "ftp://proxy:1";
        let r = httpbatch_net_options_set_proxy(o, bad.as_ptr().cast(), bad.len());
        assert_eq!(r, httpbatch_result::InvalidConfig);
        assert_eq!(
            httpbatch_net_options_set_proxy(std::ptr::null_mut(), bad.as_ptr().cast(), 1),
            httpbatch_result::NullArgument
        );
        assert_eq!(
            httpbatch_net_options_set_proxy(o, std::ptr::null(), 3),
            httpbatch_result::NullArgument
        );

        let proxy = "socks5h://127.0.0.1:1080";
        let list = "localhost,10.0.0.0/8";
        assert_eq!(
            httpbatch_net_options_set_proxy(o, proxy.as_ptr().cast(), proxy.len()),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_net_options_set_no_proxy(o, list.as_ptr().cast(), list.len()),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_net_options_set_min_tls_version(o, HTTPBATCH_TLS_1_3),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_net_options_set_danger_accept_invalid_certs(o, true),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_net_options_set_proxy_from_env(o, false),
            httpbatch_result::Ok
        );

        let mut eb = std::ptr::null_mut();
        assert_eq!(
            httpbatch_executor_builder_new(&mut eb),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_executor_builder_set_net_options(eb, o),
            httpbatch_result::Ok
        );
        let mut pb = std::ptr::null_mut();
        assert_eq!(httpbatch_pool_builder_new(&mut pb), httpbatch_result::Ok);
        assert_eq!(
            httpbatch_pool_builder_set_net_options(pb, o),
            httpbatch_result::Ok
        );
        httpbatch_net_options_free(o);
        // SAFETY: live builders from `_new`, used by this thread only.
        let (e, p) = unsafe { (&*eb, &*pb) };
        for c in [&e.config, &p.client] {
            assert_eq!(c.get_proxy(), Some(proxy));
            assert_eq!(c.get_no_proxy(), Some(list));
            assert_eq!(c.get_min_tls_version(), TlsVersion::Tls13);
            assert!(c.get_danger_accept_invalid_certs() && !c.get_proxy_from_env());
        }
        assert!(e.client_set);
        assert_eq!(
            httpbatch_pool_builder_set_net_options(pb, std::ptr::null()),
            httpbatch_result::NullArgument
        );
        httpbatch_executor_builder_free(eb);
        httpbatch_pool_builder_free(pb);
    }
}
