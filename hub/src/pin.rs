//! https to a hub whose certificate this device pinned: a TLS 1.3
//! connection (rustls on ring) that accepts exactly one certificate, named
//! by its SHA-256 fingerprint, and no certificate authority. The pinned
//! certificate's names and dates are not checked — it is usually the hub's
//! own self-signed one, and a phone's clock may be far off — but the
//! handshake's signature is, with rustls' own checks, so only the holder of
//! the pinned certificate's key completes it.
//!
//! ureq's own TLS connector takes no custom verifier, so this is a link of
//! ureq's connector chain (after its TCP connector), as its own rustls
//! connector is.

use crate::api;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// What the last refused handshake was shown, so the caller can say so in
/// a typed error rather than as an I/O failure.
pub(crate) type Presented = Arc<Mutex<Option<String>>>;

#[derive(Debug)]
struct PinnedVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
    presented: Presented,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = api::certificate_fingerprint(end_entity);
        if seen == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The config offers TLS 1.3 only; a TLS 1.2 handshake never gets here.
        Err(rustls::Error::General(
            "the hub client speaks TLS 1.3 only".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS link of a connector chain: wraps an https connection in TLS
/// that accepts only the pinned certificate; leaves http as it is.
#[derive(Debug)]
pub(crate) struct PinnedTls {
    config: Arc<ClientConfig>,
}

impl PinnedTls {
    /// `pin`: a [`api::certificate_fingerprint`]; what a refused handshake
    /// was shown goes to `presented`.
    pub(crate) fn new(pin: &str, presented: Presented) -> Result<PinnedTls, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinnedVerifier {
            pin: pin.to_ascii_lowercase(),
            provider: provider.clone(),
            presented,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(PinnedTls {
            config: Arc::new(config),
        })
    }
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, PinnedTransport>;

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
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // The name goes out as SNI for a DNS name; the pin, not the name,
        // decides whether the certificate is accepted.
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::BadUri(format!("{host:?} is not a host name")))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| ureq::Error::Other(Box::new(e)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(PinnedTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// An https connection to the pinned hub.
pub(crate) struct PinnedTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for PinnedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedTransport").finish_non_exhaustive()
    }
}

impl Transport for PinnedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
