//! The certificate the hub serves https with: PEM files the office gives
//! (`--tls-cert`/`--tls-key`), or a self-signed one the hub makes on its
//! first start and keeps beside its database (`<db>.tls-cert.pem`, and
//! `<db>.tls-key.pem` at mode 0600, written like the office key file).
//!
//! Devices do not check it against certificate authorities: they pin its
//! SHA-256 fingerprint at enrolment (the token the office prints carries
//! it) and accept no other, so a self-signed certificate is as good as any,
//! and its names and dates do not matter.

use crate::api;
use crate::office::{cannot_write, refuse_shared, write_new_file};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use silin_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate chain and its key, as the hub serves them.
pub struct HubCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    fingerprint: String,
}

impl Clone for HubCertificate {
    fn clone(&self) -> Self {
        HubCertificate {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

impl std::fmt::Debug for HubCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCertificate")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// `<db>.tls-cert.pem`: the self-signed certificate of the hub at `db`.
pub fn cert_path(db: &Path) -> PathBuf {
    beside(db, ".tls-cert.pem")
}

/// `<db>.tls-key.pem`: its private key (PKCS#8, mode 0600).
pub fn key_path(db: &Path) -> PathBuf {
    beside(db, ".tls-key.pem")
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}

fn unreadable(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Incompatible(format!("cannot read the {what} {}: {e}", path.display()))
}

fn read(path: &Path, what: &str) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(path, what, e)),
    }
}

fn parse_chain(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(path, "TLS certificate", e))?;
    if chain.is_empty() {
        return Err(Error::Incompatible(format!(
            "the TLS certificate file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(chain)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        Error::Incompatible(format!(
            "the TLS key file {} holds no PEM private key ({e}); give the key of --tls-cert's certificate",
            path.display()
        ))
    })
}

impl HubCertificate {
    fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self> {
        let fingerprint = api::certificate_fingerprint(&chain[0]);
        let c = HubCertificate {
            chain,
            key,
            fingerprint,
        };
        // Refuse a key that is not the certificate's before saying we listen.
        c.server_config()?;
        Ok(c)
    }

    /// The office's own certificate (chain, end-entity first) and key, PEM.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self> {
        let missing = |p: &Path, what: &str| {
            Error::Incompatible(format!("there is no {what} file {}", p.display()))
        };
        let chain_pem =
            read(cert, "TLS certificate")?.ok_or_else(|| missing(cert, "TLS certificate"))?;
        let key_pem = read(key, "TLS key")?.ok_or_else(|| missing(key, "TLS key"))?;
        refuse_shared(key, "TLS key")?;
        HubCertificate::new(parse_chain(cert, &chain_pem)?, parse_key(key, &key_pem)?)
    }

    /// The hub's self-signed certificate beside the database at `db`
    /// ([`cert_path`], [`key_path`]), made (ECDSA P-256) when there is none.
    /// Each file is written whole, synced and linked into place, never
    /// replacing one another process wrote first; a key without its
    /// certificate (a start cut short) gets a certificate made for it.
    pub fn self_signed(db: &Path) -> Result<Self> {
        let (cert_file, key_file) = (cert_path(db), key_path(db));
        let key_pem = match read(&key_file, "TLS key")? {
            Some(pem) => pem,
            None => {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| cannot_write(&key_file, e))?;
                write_new_file(&key_file, key.serialize_pem().as_bytes())?;
                // Ours, or the one another process linked first.
                read(&key_file, "TLS key")?.ok_or_else(|| cannot_write(&key_file, "it vanished"))?
            }
        };
        refuse_shared(&key_file, "TLS key")?;
        let cert_pem = match read(&cert_file, "TLS certificate")? {
            Some(pem) => pem,
            None => {
                let text = String::from_utf8(key_pem.clone())
                    .map_err(|e| unreadable(&key_file, "TLS key", e))?;
                let key = rcgen::KeyPair::from_pem(&text)
                    .map_err(|e| unreadable(&key_file, "TLS key", e))?;
                // Names and dates are not checked by devices (they pin the
                // certificate); rcgen's validity runs from 1975 to 4096.
                let cert = rcgen::CertificateParams::new(vec!["silin-hub".to_string()])
                    .and_then(|mut p| {
                        p.distinguished_name
                            .push(rcgen::DnType::CommonName, "silin township hub");
                        p.self_signed(&key)
                    })
                    .map_err(|e| cannot_write(&cert_file, e))?;
                write_new_file(&cert_file, cert.pem().as_bytes())?;
                read(&cert_file, "TLS certificate")?
                    .ok_or_else(|| cannot_write(&cert_file, "it vanished"))?
            }
        };
        HubCertificate::new(parse_chain(&cert_file, &cert_pem)?, parse_key(&key_file, &key_pem)?)
            .map_err(|e| {
                Error::Incompatible(format!(
                    "{e}; the hub's TLS files {} and {} do not belong together: restore both from the hub's backup, or move both aside to make new ones (devices must then enrol again)",
                    cert_file.display(),
                    key_file.display()
                ))
            })
    }

    /// SHA-256 of the end-entity certificate, 64 hex digits: what devices
    /// pin.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// TLS 1.3 only (both ends are silin), on ring.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.chain.clone(), self.key.clone_key())
            })
            .map_err(|e| {
                Error::Incompatible(format!(
                    "the TLS certificate and key cannot be served ({e}); give a certificate with its own key (PEM)"
                ))
            })?;
        Ok(Arc::new(config))
    }
}
