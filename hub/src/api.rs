//! What travels between a device and the hub besides sync envelopes: the
//! JSON bodies of enrolment, health and errors. Shared by client and server
//! so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// A device asks for its certificate, proving it holds the key it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub token: String,
    pub device_id: String,
    /// ed25519 public key, hex.
    pub public_key: String,
    /// Signature over [`enrol_proof`], hex.
    pub proof: String,
}

/// The hub's answer to an accepted enrolment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The encoded certificate, hex.
    pub certificate: String,
    /// The office key that signed it, hex; the device pins it.
    pub office_public_key: String,
    pub role: String,
    pub scope: Vec<String>,
    pub expires: String,
    /// SHA-256 of the TLS certificate the hub serves (64 hex digits), when
    /// it serves https; absent from a plain-HTTP hub and from older hubs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<String>,
}

/// Every error the hub answers with: a stable kind and a message a person
/// can act on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub cells: i64,
    pub device_id: String,
    /// Fingerprint of the office key (the suffix of the tokens it issues).
    #[serde(default)]
    pub office: String,
}

/// The bytes a device signs to enrol: binds the token to this device id and
/// key, so a token seen on the wire cannot enrol another key.
pub fn enrol_proof(token: &str, device_id: &str, public_key: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(12 + token.len() + device_id.len() + 32);
    m.extend_from_slice(b"silin-enrol\0");
    m.extend_from_slice(token.as_bytes());
    m.extend_from_slice(device_id.as_bytes());
    m.extend_from_slice(public_key);
    m
}

/// An enrolment token as the office prints it:
/// `<32 hex secret>.<16 hex office fingerprint>`, followed by
/// `.<64 hex TLS certificate fingerprint>` when the hub serves https.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub secret: &'a str,
    /// [`silin_core::identity::fingerprint`] of the office key.
    pub office: &'a str,
    /// [`certificate_fingerprint`] of the hub's TLS certificate.
    pub tls_certificate: Option<&'a str>,
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a token; `None` when it does not have the shape of [`Token`].
/// Tokens without the TLS part (older hubs, plain-HTTP hubs) still read.
pub fn parse_token(token: &str) -> Option<Token<'_>> {
    let mut parts = token.split('.');
    let (secret, office) = (parts.next()?, parts.next()?);
    let tls_certificate = parts.next();
    if parts.next().is_some()
        || !is_hex(secret, 32)
        || !is_hex(office, 16)
        || tls_certificate.is_some_and(|t| !is_hex(t, 64))
    {
        return None;
    }
    Some(Token {
        secret,
        office,
        tls_certificate,
    })
}

/// Splits a token into its secret and office fingerprint; `None` when it
/// does not have the shape of [`Token`].
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    parse_token(token).map(|t| (t.secret, t.office))
}

/// A token naming the TLS certificate a device must pin, in the form
/// [`parse_token`] reads.
pub fn token_with_certificate(token: &str, fingerprint: &str) -> String {
    format!("{token}.{fingerprint}")
}

/// The SHA-256 fingerprint of a certificate's DER bytes, 64 lowercase hex
/// digits: what a device pins, and what `openssl x509 -fingerprint
/// -sha256` shows (without the colons).
pub fn certificate_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// True for a [`certificate_fingerprint`] (either case).
pub fn is_certificate_fingerprint(s: &str) -> bool {
    is_hex(s, 64)
}

/// Headers of a signed read (`/v1/rollup`, `/metrics`) from a device: its
/// certificate (hex), the unix second it signed at, and its signature
/// (hex) over [`read_proof`].
pub const CERTIFICATE_HEADER: &str = "silin-certificate";
pub const TIME_HEADER: &str = "silin-time";
pub const SIGNATURE_HEADER: &str = "silin-signature";

/// The bytes a device signs to read from the hub: the method, the path
/// with its query, and the time, so a signature is good for that one
/// request and only within the allowed clock skew.
pub fn read_proof(method: &str, path_and_query: &str, time: i64) -> Vec<u8> {
    let time = time.to_string();
    let mut m = Vec::with_capacity(14 + method.len() + path_and_query.len() + time.len());
    m.extend_from_slice(b"silin-read\0");
    m.extend_from_slice(method.as_bytes());
    m.push(0);
    m.extend_from_slice(path_and_query.as_bytes());
    m.push(0);
    m.extend_from_slice(time.as_bytes());
    m
}
