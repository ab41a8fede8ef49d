//! Sealing a bundle to its recipients, so that a file on a memory card or
//! in a chat carries no villager's name to anyone else who picks it up.
//!
//! A sealed file is the signed bundle encrypted once with a fresh content
//! key (ChaCha20-Poly1305), and that key wrapped for each recipient device
//! by X25519 between a fresh ephemeral key and the recipient's certified
//! ed25519 key, read as its Montgomery form — the keys the office already
//! certified, so there is no second key to enrol, lose or rotate. Only the
//! recipients' public keys are in the clear (so a device can tell a file
//! is not for it). Opening checks every length before it trusts one and
//! authenticates the whole header with the content, so a flipped byte
//! anywhere is refused as a broken seal; the bundle inside is then checked
//! exactly as an unsealed one.
//!
//! Layout: `SILNSEAL`, version 1, recipient count n (1–64), the ephemeral
//! X25519 public key (32), the content nonce (12), n × (recipient's ed25519
//! public key (32), wrapped content key (48)), the sealed bundle.

use crate::identity::KeyPair;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use sha2::{Digest, Sha512};

const MAGIC: &[u8; 8] = b"SILNSEAL";
const VERSION: u8 = 1;
/// Most recipients one file is sealed to: a grid worker's phone and the
/// hub, a few leads; past this, seal separate files.
pub const MAX_RECIPIENTS: usize = 64;
const KEY: usize = 32;
const NONCE: usize = 12;
const TAG: usize = 16;
const ENTRY: usize = KEY + KEY + TAG;
const FIXED: usize = MAGIC.len() + 2 + KEY + NONCE;
const DOMAIN: &[u8] = b"silin bundle seal v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a bundle is sealed to 1 to {MAX_RECIPIENTS} devices; {0} were named")]
    Recipients(usize),
    #[error("recipient key {0} is not a valid device key")]
    BadRecipient(String),
    #[error("this sealed bundle is for {recipients} other device(s), not this one; ask the sender to seal it to this device")]
    NotForThisDevice { recipients: usize },
    #[error("the bundle's seal is broken (the file was cut short or changed); ask the sender for it again")]
    Broken,
    #[error("device {0} has not been met by this one, so its key is unknown; sync with it once (or with the hub) before sealing a bundle to it")]
    UnknownRecipient(String),
    #[error("device {0} is revoked or its certificate has expired; a bundle is not sealed to it")]
    RecipientRevoked(String),
    #[error("no device this one has met may hold these cells; name a recipient, or write the bundle unsealed on purpose")]
    NoKnownRecipient,
}

/// Whether `bytes` are a sealed bundle (as opposed to a plain one).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// How many devices a sealed bundle is for, if it is one whose header
/// reads.
pub fn recipients(bytes: &[u8]) -> Option<usize> {
    Header::read(bytes).ok().map(|h| h.entries.len())
}

/// Seals `plain` to the devices whose ed25519 public keys are `to`.
pub fn seal(plain: &[u8], to: &[[u8; 32]]) -> Result<Vec<u8>, SealError> {
    let mut to = to.to_vec();
    to.sort_unstable();
    to.dedup();
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        return Err(SealError::Recipients(to.len()));
    }
    let eph_secret: [u8; 32] = crate::identity::random_bytes();
    let eph_public = MontgomeryPoint::mul_base_clamped(eph_secret).to_bytes();
    let content_key: [u8; 32] = crate::identity::random_bytes();
    let nonce: [u8; NONCE] = crate::identity::random_bytes();
    let mut out = Vec::with_capacity(FIXED + to.len() * ENTRY + plain.len() + TAG);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(to.len() as u8);
    out.extend_from_slice(&eph_public);
    out.extend_from_slice(&nonce);
    for recipient in &to {
        let point =
            montgomery(recipient).ok_or_else(|| SealError::BadRecipient(hex::encode(recipient)))?;
        let shared = point.mul_clamped(eph_secret).to_bytes();
        let wrapped = aead(&wrap_key(&shared, &eph_public, recipient))
            .encrypt(&[0u8; NONCE].into(), &content_key[..])
            .map_err(|_| SealError::Broken)?;
        out.extend_from_slice(recipient);
        out.extend_from_slice(&wrapped);
    }
    let sealed = aead(&content_key)
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plain,
                aad: &out,
            },
        )
        .map_err(|_| SealError::Broken)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a sealed bundle with this device's key.
pub fn open(bytes: &[u8], key: &KeyPair) -> Result<Vec<u8>, SealError> {
    let h = Header::read(bytes)?;
    let me = key.public_key();
    let Some(wrapped) = h.entries.iter().find(|(k, _)| *k == me).map(|(_, w)| w) else {
        return Err(SealError::NotForThisDevice {
            recipients: h.entries.len(),
        });
    };
    let eph = MontgomeryPoint(h.eph_public);
    let shared = eph.mul_clamped(key.x25519_secret()).to_bytes();
    // A low-order ephemeral key gives an all-zero secret anyone can compute.
    if shared == [0u8; 32] {
        return Err(SealError::Broken);
    }
    let content_key = aead(&wrap_key(&shared, &h.eph_public, &me))
        .decrypt(&[0u8; NONCE].into(), &wrapped[..])
        .map_err(|_| SealError::Broken)?;
    let content_key: [u8; 32] = content_key.try_into().map_err(|_| SealError::Broken)?;
    aead(&content_key)
        .decrypt(
            &h.nonce.into(),
            Payload {
                msg: &bytes[h.len..],
                aad: &bytes[..h.len],
            },
        )
        .map_err(|_| SealError::Broken)
}

struct Header {
    eph_public: [u8; 32],
    nonce: [u8; NONCE],
    entries: Vec<([u8; 32], [u8; ENTRY - KEY])>,
    /// Bytes of header, the sealed bundle's associated data.
    len: usize,
}

impl Header {
    fn read(bytes: &[u8]) -> Result<Header, SealError> {
        if bytes.len() < FIXED || !bytes.starts_with(MAGIC) || bytes[8] != VERSION {
            return Err(SealError::Broken);
        }
        let n = usize::from(bytes[9]);
        if n == 0 || n > MAX_RECIPIENTS {
            return Err(SealError::Broken);
        }
        let len = FIXED + n * ENTRY;
        if bytes.len() < len + TAG {
            return Err(SealError::Broken);
        }
        let fixed = |at: usize| -> [u8; 32] {
            let mut k = [0u8; 32];
            k.copy_from_slice(&bytes[at..at + KEY]);
            k
        };
        let mut nonce = [0u8; NONCE];
        nonce.copy_from_slice(&bytes[FIXED - NONCE..FIXED]);
        let entries = (0..n)
            .map(|i| {
                let at = FIXED + i * ENTRY;
                let mut w = [0u8; ENTRY - KEY];
                w.copy_from_slice(&bytes[at + KEY..at + ENTRY]);
                (fixed(at), w)
            })
            .collect();
        Ok(Header {
            eph_public: fixed(10),
            nonce,
            entries,
            len,
        })
    }
}

/// A device's ed25519 public key in its Montgomery (X25519) form.
fn montgomery(ed_public: &[u8; 32]) -> Option<MontgomeryPoint> {
    let point = CompressedEdwardsY(*ed_public).decompress()?;
    // A small-order key would give a secret anyone can compute.
    (!point.is_small_order()).then(|| point.to_montgomery())
}

/// The key that wraps the content key for one recipient: bound to the
/// shared secret, this file's ephemeral key and the recipient.
fn wrap_key(shared: &[u8; 32], eph_public: &[u8; 32], recipient: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha512::new();
    h.update(DOMAIN);
    h.update(shared);
    h.update(eph_public);
    h.update(recipient);
    let d = h.finalize();
    let mut k = [0u8; 32];
    k.copy_from_slice(&d[..32]);
    k
}

fn aead(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recipient_opens_it_and_nobody_else() {
        let (a, b, c) = (
            KeyPair::generate(),
            KeyPair::generate(),
            KeyPair::generate(),
        );
        let plain = b"bundle bytes \xe7\x8e\x8b\xe8\x8a\xb3".to_vec();
        let sealed = seal(&plain, &[a.public_key(), b.public_key()]).unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(recipients(&sealed), Some(2));
        assert!(!sealed.windows(plain.len()).any(|w| w == plain));
        assert_eq!(open(&sealed, &a).unwrap(), plain);
        assert_eq!(open(&sealed, &b).unwrap(), plain);
        assert_eq!(
            open(&sealed, &c),
            Err(SealError::NotForThisDevice { recipients: 2 })
        );
    }

    #[test]
    fn any_changed_or_missing_byte_breaks_the_seal() {
        let a = KeyPair::generate();
        let sealed = seal(b"plain", &[a.public_key()]).unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &a).is_err(), "byte {i}");
        }
        for cut in 0..sealed.len() {
            assert!(open(&sealed[..cut], &a).is_err(), "cut at {cut}");
        }
        assert_eq!(seal(b"x", &[]), Err(SealError::Recipients(0)));
        // The identity point's encoding is a small-order key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            seal(b"x", &[identity]),
            Err(SealError::BadRecipient(_))
        ));
    }
}
