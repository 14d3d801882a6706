//! TLS for the leaf: the client's TLS options, the rustls configuration built from them once per
//! client, and the connector that wraps a connection in TLS.
//!
//! Invariants:
//! - The rustls `ClientConfig` is built once, when the client is created, and shared by every
//!   origin's agent; a configuration that cannot be built (an unreadable file, PEM without a
//!   certificate) fails every https request with `InvalidConfig`, never a panic.
//! - Every failure of the handshake, and every rustls error on an established connection, leaves
//!   this module as a [`LeafFailure`] of kind `Tls` carrying the reason; timeouts and cancellation
//!   pass through untouched so they keep their own kinds.
//! - Verification is on unless the loudly named `danger_accept_invalid_certs` is set; even then
//!   the handshake signatures are still checked, so only the certificate's trust is skipped.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::time::Duration as UDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport, TransportAdapter,
};

use super::HttpClientConfig;
use super::buffers::GrowBuffers;
use super::failure::LeafFailure;
use crate::error::{Error, ErrorKind};

/// The oldest TLS version the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// PEM, given inline or as a file read when the client is created.
#[derive(Clone)]
enum Pem {
    Bytes(Arc<[u8]>),
    File(PathBuf),
}

impl Pem {
    fn load(&self) -> Result<Vec<u8>, Error> {
        match self {
            Pem::Bytes(b) => Ok(b.to_vec()),
            Pem::File(p) => std::fs::read(p).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("cannot read {}: {e}", p.display()),
                )
            }),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::Bytes(b) => write!(f, "<{} bytes of PEM>", b.len()),
            Pem::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The TLS part of an [`HttpClientConfig`]; set through its TLS methods.
#[derive(Debug, Clone)]
pub(crate) struct TlsOptions {
    extra_roots: Vec<Pem>,
    builtin_roots: bool,
    platform_verifier: bool,
    client_cert: Option<(Pem, Pem)>,
    min_version: TlsVersion,
    danger_accept_invalid_certs: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            extra_roots: Vec::new(),
            builtin_roots: true,
            platform_verifier: false,
            client_cert: None,
            min_version: TlsVersion::Tls12,
            danger_accept_invalid_certs: false,
        }
    }
}

/// TLS options. An option that cannot be used (an unreadable file, PEM without a certificate)
/// makes [`HttpClient::try_with_config`](super::HttpClient::try_with_config) fail with
/// [`ErrorKind::InvalidConfig`], and every https request of a client built anyway fail with it.
impl HttpClientConfig {
    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE` blocks) in addition to the
    /// built-in roots.
    ///
    /// ```
    /// use httpbatch::HttpClientConfig;
    /// # let pem = "";
    /// let config = HttpClientConfig::default().add_root_certificates_pem(pem);
    /// ```
    pub fn add_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls
            .extra_roots
            .push(Pem::Bytes(Arc::from(pem.as_ref())));
        self
    }
    /// Trusts the CA certificates in the PEM file at `path` (read when the client is created)
    /// in addition to the built-in roots, like curl's `--cacert`.
    pub fn add_root_certificates_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.extra_roots.push(Pem::File(path.into()));
        self
    }
    /// Sets whether the built-in (Mozilla) root certificates are trusted.
    pub fn builtin_roots(mut self, yes: bool) -> Self {
        self.tls.builtin_roots = yes;
        self
    }
    /// Whether the built-in (Mozilla) root certificates are trusted, besides any added ones.
    /// Defaults to `true`.
    pub fn get_builtin_roots(&self) -> bool {
        self.tls.builtin_roots
    }
    /// Sets whether the operating system's verifier (and its trust store) checks certificates
    /// instead of the built-in roots. Needs the crate feature `platform-verifier`.
    pub fn platform_verifier(mut self, yes: bool) -> Self {
        self.tls.platform_verifier = yes;
        self
    }
    /// Whether the operating system's verifier checks certificates. Defaults to `false`.
    pub fn get_platform_verifier(&self) -> bool {
        self.tls.platform_verifier
    }
    /// Presents a client certificate (mutual TLS): `cert_chain` holds the certificate and any
    /// intermediates, `key` its private key (PKCS#8, PKCS#1 or SEC1), both PEM.
    pub fn client_certificate_pem(
        mut self,
        cert_chain: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Self {
        self.tls.client_cert = Some((
            Pem::Bytes(Arc::from(cert_chain.as_ref())),
            Pem::Bytes(Arc::from(key.as_ref())),
        ));
        self
    }
    /// Like [`client_certificate_pem`](Self::client_certificate_pem), reading PEM files when the
    /// client is created (both may name the same file).
    pub fn client_certificate_files(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls.client_cert = Some((Pem::File(cert_chain.into()), Pem::File(key.into())));
        self
    }
    /// Whether a client certificate is presented. Defaults to `false`.
    pub fn has_client_certificate(&self) -> bool {
        self.tls.client_cert.is_some()
    }
    /// Sets the oldest TLS version accepted.
    pub fn min_tls_version(mut self, v: TlsVersion) -> Self {
        self.tls.min_version = v;
        self
    }
    /// The oldest TLS version accepted. Defaults to [`TlsVersion::Tls12`].
    pub fn get_min_tls_version(&self) -> TlsVersion {
        self.tls.min_version
    }
    /// **Turns off certificate verification**: any certificate, for any host name, from any
    /// issuer, expired or not, is accepted. Anyone on the path can then read and change the
    /// traffic. For tests and debugging only; curl's `-k/--insecure`.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.tls.danger_accept_invalid_certs = yes;
        self
    }
    /// Whether certificate verification is off. Defaults to `false`.
    pub fn get_danger_accept_invalid_certs(&self) -> bool {
        self.tls.danger_accept_invalid_certs
    }
}

impl HttpClientConfig {
    /// `self` with the TLS and proxy options of `other` (the C ABI keeps them apart).
    pub(crate) fn with_net_of(mut self, other: &HttpClientConfig) -> HttpClientConfig {
        self.tls = other.tls.clone();
        self.proxy = other.proxy.clone();
        self.decompress = other.decompress;
        self.accept_encoding = other.accept_encoding.clone();
        self
    }

    /// Checks the TLS, proxy and decoding options (reading the files and the environment they
    /// name).
    pub(crate) fn validate_net(&self) -> Result<(), Error> {
        self.validate()?;
        client_config(&self.tls)?;
        super::proxy::ProxyRules::new(&self.proxy, |name| std::env::var(name).ok())?;
        Ok(())
    }
}

fn invalid(msg: impl fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, msg.to_string())
}

fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = pem.load()?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("bad PEM in {pem:?}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!("no CERTIFICATE in {pem:?}")));
    }
    Ok(certs)
}

/// Builds the rustls configuration the options describe.
pub(crate) fn client_config(o: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match o.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(invalid)?;
    let mut extra = Vec::new();
    for pem in &o.extra_roots {
        extra.extend(certificates(pem)?);
    }
    let builder = if o.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                provider.signature_verification_algorithms,
            )))
    } else if o.platform_verifier {
        builder
            .dangerous()
            .with_custom_certificate_verifier(platform_verifier(extra, provider)?)
    } else {
        let mut roots = RootCertStore::empty();
        if o.builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("unusable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("no root certificate to verify servers with"));
        }
        builder.with_root_certificates(roots)
    };
    let config = match &o.client_cert {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = certificates(chain)?;
            let key_pem = key.load()?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| invalid(format!("no usable private key in {key:?}: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("client certificate rejected: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(feature = "platform-verifier")]
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let v = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider)
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
    };
    Ok(Arc::new(v.map_err(|e| {
        invalid(format!("platform verifier unavailable: {e}"))
    })?))
}

#[cfg(not(feature = "platform-verifier"))]
fn platform_verifier(
    _extra: Vec<CertificateDer<'static>>,
    _provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    Err(invalid(
        "the platform verifier needs httpbatch's `platform-verifier` feature",
    ))
}

/// Accepts any certificate, but still checks that the peer holds the certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Wraps https connections in TLS with the client's configuration (built once, shared by every
/// origin).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    /// The error's message when the options cannot be used.
    config: Result<Arc<ClientConfig>, String>,
}

impl TlsConnector {
    pub(crate) fn new(options: &TlsOptions) -> TlsConnector {
        TlsConnector {
            config: client_config(options).map_err(|e| e.message().to_owned()),
        }
    }

    /// The configuration error, if the options could not be used.
    pub(crate) fn error(&self) -> Option<Error> {
        let msg = self.config.as_ref().err()?;
        Some(Error::new(ErrorKind::InvalidConfig, msg.clone()))
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

/// The time left of `details.timeout`, which started at `details.now`.
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    use ureq::unversioned::transport::time::Instant as UInstant;
    let mut t = details.timeout;
    if let (UDuration::Exact(limit), UInstant::Exact(now), UInstant::Exact(start)) =
        (t.after, (details.current_time)(), details.now)
    {
        t.after = UDuration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    t
}

/// Turns an I/O error of a TLS stream into a typed one: a rustls error is a TLS failure; during
/// the handshake so is any other failure but a timeout or a cancellation (a peer that closes or
/// answers in plain text is no TLS server).
fn tls_error(e: io::Error, host: &str, handshake: bool) -> ureq::Error {
    if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        let what = if handshake {
            "TLS handshake with"
        } else {
            "TLS error from"
        };
        return LeafFailure::new(ErrorKind::Tls, format!("{what} {host} failed: {r}")).into();
    }
    let passes = !handshake
        || e.get_ref().is_some_and(|i| i.is::<ureq::Error>())
        || matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        );
    if passes {
        return ureq::Error::from(e);
    }
    LeafFailure::new(
        ErrorKind::Tls,
        format!("TLS handshake with {host} failed: {e}"),
    )
    .into()
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self
            .config
            .clone()
            .map_err(|m| LeafFailure::new(ErrorKind::InvalidConfig, m))?;
        let host = details
            .uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let name = ServerName::try_from(host.clone()).map_err(|e| {
            LeafFailure::new(
                ErrorKind::Tls,
                format!("{host} is not a TLS server name: {e}"),
            )
        })?;
        let mut conn = ClientConnection::new(config, name)
            .map_err(|e| LeafFailure::new(ErrorKind::Tls, format!("TLS setup for {host}: {e}")))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details));
        conn.complete_io(&mut sock)
            .map_err(|e| tls_error(e, &host, true))?;
        let buffers = GrowBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
            details.config.max_response_header_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
            host,
        })))
    }
}

/// An established TLS connection over the chained transport.
pub(crate) struct TlsTransport {
    buffers: GrowBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
    host: String,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let out = &self.buffers.output()[..amount];
        self.stream
            .write_all(out)
            .map_err(|e| tls_error(e, &self.host, false))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        if input.is_empty() {
            // A full buffer (a head larger than it): nothing can be read; the counting
            // transport above says why.
            return Ok(false);
        }
        let n = self
            .stream
            .read(input)
            .map_err(|e| tls_error(e, &self.host, false))?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_options_are_invalid_config() {
        let no_roots = HttpClientConfig::default().builtin_roots(false);
        let err = client_config(&no_roots.tls).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");

        let not_pem = HttpClientConfig::default().add_root_certificates_pem("hello");
        let err = client_config(&not_pem.tls).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        assert!(err.message().contains("no CERTIFICATE"), "{err}");

        let missing = HttpClientConfig::default().add_root_certificates_file("/nonexistent/ca.pem");
        let err = client_config(&missing.tls).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        assert!(err.message().contains("/nonexistent/ca.pem"), "{err}");

        let no_key = HttpClientConfig::default().client_certificate_pem("", "");
        assert_eq!(
            client_config(&no_key.tls).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn defaults_build_and_are_safe() {
        let c = HttpClientConfig::default();
        assert!(!c.get_danger_accept_invalid_certs());
        assert!(c.get_builtin_roots());
        assert_eq!(c.get_min_tls_version(), TlsVersion::Tls12);
        assert!(client_config(&c.tls).is_ok());
        assert!(
            client_config(&c.min_tls_version(TlsVersion::Tls13).tls).is_ok(),
            "TLS 1.3 only"
        );
    }
}
