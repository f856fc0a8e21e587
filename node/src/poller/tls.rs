//! TLS for the dial path: a client that completes the handshake with any chain (so the chain
//! can always be read and reported) and a separate verification against the webpki root store,
//! whose verdict becomes the `cert_error` metric.
//!
//! One root store for every region (webpki-roots) so zones never disagree because of their
//! machines' trust stores. Session resumption is off: every poll sees the full handshake.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

/// The client configurations and the chain verifier, built once per node.
pub struct TlsSetup {
    plain: TlsConnector,
    http: TlsConnector,
    verifier: Arc<WebPkiServerVerifier>,
}

impl Default for TlsSetup {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsSetup {
    pub fn new() -> TlsSetup {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            // The bundled roots and the ring provider are fixed at build time: a failure here
            // is a bug, not an operating error.
            .expect("webpki verifier from bundled roots");
        let config = |alpn: Vec<Vec<u8>>| {
            let mut c = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider.clone())))
                .with_no_client_auth();
            c.alpn_protocols = alpn;
            c.resumption = rustls::client::Resumption::disabled();
            TlsConnector::from(Arc::new(c))
        };
        TlsSetup {
            plain: config(Vec::new()),
            http: config(vec![b"http/1.1".to_vec()]),
            verifier,
        }
    }

    /// The connector: offering HTTP/1.1 by ALPN, or no ALPN.
    pub fn connector(&self, http: bool) -> &TlsConnector {
        if http { &self.http } else { &self.plain }
    }

    /// Why `chain` (leaf first) does not verify for `name`; empty when it does.
    pub fn verify_chain(&self, chain: &[CertificateDer<'static>], name: &ServerName<'_>) -> String {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return "no certificate".into();
        };
        match self
            .verifier
            .verify_server_cert(leaf, intermediates, name, &[], UnixTime::now())
        {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }
}

/// The protocol version as Go and blackbox_exporter spell it, e.g. "TLS 1.3".
pub fn version_name(v: Option<ProtocolVersion>) -> String {
    match v {
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
}

/// Accepts any certificate chain but still checks the handshake signatures, so the peer
/// proves it holds the key of the certificate it showed.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
