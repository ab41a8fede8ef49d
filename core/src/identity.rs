//! Who a device is and what it may see: ed25519 device keys, certificates
//! signed by the township office, and scopes.
//!
//! The office key signs a certificate binding a device id and public key to
//! a role and a scope (region path prefixes or cell ids) until an expiry.
//! Devices pin the office's public key when they enrol, so two phones in a
//! village can check each other with no network at all. A device proves it
//! holds the key in its certificate by signing every sync envelope it sends.

use crate::wire::{self, Reader, WireError, Writer};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Clock drift tolerated between devices that have been offline for days.
pub const CLOCK_SKEW_SECS: i64 = 24 * 3600;
const MAGIC: &[u8; 4] = b"SLCT";
const VERSION: u8 = 1;
pub const MAX_SCOPE_ENTRIES: usize = 4096;
const MAX_SCOPE_ENTRY: usize = 256;
/// The scope entry that covers every cell (a county hub).
pub const SCOPE_ALL: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("certificate is malformed: {0}")]
    Malformed(#[from] WireError),
    #[error("certificate of device {device} was not issued by the pinned office key; it is forged or from another office — enrol again with this office")]
    WrongIssuer { device: String },
    #[error("certificate of device {device} has a bad signature; it was altered or forged")]
    BadSignature { device: String },
    #[error("certificate of device {device} expired at {expires}; enrol the device again")]
    Expired { device: String, expires: String },
    #[error("certificate of device {device} is not valid until {issued}; check the device clock")]
    NotYetValid { device: String, issued: String },
    #[error("device {device} has been revoked by the office")]
    Revoked { device: String },
    #[error("a revocation of device {device} was not signed by the pinned office key; it is forged or from another office, and nothing of the message was kept")]
    ForgedRevocation { device: String },
    #[error("device {device} did not prove it holds the key in its certificate")]
    NoProofOfKey { device: String },
    #[error(
        "this device is not enrolled (no certificate); run `silin enroll --hub URL --token T`"
    )]
    NotEnrolled,
    #[error("the certificate offered is for another device or key")]
    NotOurs,
    #[error("role {0:?} is not one of lead, grid_worker, office, county")]
    UnknownRole(String),
    #[error("scope entry {0:?} is neither a region path (county/township/...) nor a cell id")]
    BadScope(String),
    #[error("enrolment token is not known to this hub; ask the office for a new one")]
    UnknownToken,
    #[error("enrolment token was already used; ask the office for a new one")]
    TokenUsed,
    #[error("enrolment token expired; ask the office for a new one")]
    TokenExpired,
    #[error("device id {0} is already enrolled with another key; a device keeps its id only with its own key — enrol under a new id")]
    DeviceIdTaken(String),
    #[error("the hub's office key does not match the one named in the token; this is not your township's hub")]
    OfficeMismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Lead,
    GridWorker,
    Office,
    County,
    /// 楼长: in the county seat, looks after the cells of one building.
    BuildingHead,
    /// 单元长: looks after the cells of one unit (stairwell) of a building.
    UnitHead,
}

impl Role {
    /// Every role, in the order of their codes in a certificate.
    pub const ALL: [Role; 6] = [
        Role::Lead,
        Role::GridWorker,
        Role::Office,
        Role::County,
        Role::BuildingHead,
        Role::UnitHead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lead => "lead",
            Role::GridWorker => "grid_worker",
            Role::Office => "office",
            Role::County => "county",
            Role::BuildingHead => "building_head",
            Role::UnitHead => "unit_head",
        }
    }

    pub fn parse(s: &str) -> Result<Role, IdentityError> {
        Ok(match s {
            "lead" => Role::Lead,
            "grid_worker" => Role::GridWorker,
            "office" => Role::Office,
            "county" => Role::County,
            "building_head" => Role::BuildingHead,
            "unit_head" => Role::UnitHead,
            _ => return Err(IdentityError::UnknownRole(s.to_string())),
        })
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Option<Role> {
        Role::ALL.get(c as usize).copied()
    }
}

/// Cells a device may receive and change: region path prefixes
/// (`county/township`, down to a building or a unit — a whole path), cell ids, or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(pub Vec<String>);

impl Scope {
    /// Whether an entry names cell `id` itself (not a region around it).
    pub fn names_cell(&self, id: &str) -> bool {
        self.0.iter().any(|e| e == id)
    }

    /// Checks each entry's shape (a path prefix of 1–6 non-empty parts, a
    /// cell id, or `*`).
    pub fn parse(entries: &[String]) -> Result<Scope, IdentityError> {
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            // Normalise so that parsing is idempotent: a decoded entry must
            // re-encode to the bytes the office signed.
            let e = e.trim().trim_end_matches('/');
            let e = e.split('/').map(str::trim).collect::<Vec<_>>().join("/");
            // One spelling per cell id, so that matching is string equality.
            let e = match uuid::Uuid::parse_str(&e) {
                Ok(id) => id.to_string(),
                Err(_) if e == SCOPE_ALL => e,
                // Region parts in their one spelling, as cells store them.
                Err(_) => e
                    .split('/')
                    .map(crate::model::region_part)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|v| IdentityError::BadScope(format!("{e}: {}", v.rule)))?
                    .join("/"),
            };
            let e = e.as_str();
            let ok = e == SCOPE_ALL
                || uuid::Uuid::parse_str(e).is_ok()
                || (!e.is_empty()
                    && e.len() <= MAX_SCOPE_ENTRY
                    && e.split('/').count() <= crate::model::MAX_REGION_DEPTH
                    && e.split('/').all(|p| !p.trim().is_empty()));
            if !ok {
                return Err(IdentityError::BadScope(e.to_string()));
            }
            out.push(e.to_string());
        }
        Ok(Scope(out))
    }

    pub fn everything() -> Scope {
        Scope(vec![SCOPE_ALL.to_string()])
    }

    /// Whether the cell `cell_id`, filed under `path`, is inside. A cell-id
    /// entry names that one cell and nothing else: were it also read as a
    /// path, a cell could be filed under a path spelled like another cell's
    /// id and slip into that entry's scope.
    pub fn covers(&self, cell_id: &str, path: &str) -> bool {
        self.0.iter().any(|s| {
            if s == SCOPE_ALL {
                true
            } else if is_cell_id(s) {
                uuid::Uuid::parse_str(cell_id).is_ok_and(|c| c.to_string() == *s)
            } else {
                path == s
                    || (path.starts_with(s.as_str()) && path.as_bytes().get(s.len()) == Some(&b'/'))
            }
        })
    }
}

/// A scope entry that names one cell (a UUID), as opposed to a region path.
fn is_cell_id(entry: &str) -> bool {
    uuid::Uuid::parse_str(entry).is_ok()
}

/// A device's signed credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub device_id: String,
    pub public_key: [u8; 32],
    pub role: Role,
    pub scope: Scope,
    /// Unix seconds.
    pub issued: i64,
    pub expires: i64,
    /// The office public key that signed it.
    pub issuer: [u8; 32],
    pub signature: [u8; 64],
}

fn ts(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

impl Certificate {
    fn body(&self) -> Writer {
        let mut w =
            Writer::with_capacity(160 + self.scope.0.iter().map(|s| s.len() + 2).sum::<usize>());
        w.raw(MAGIC).u8(VERSION);
        wire::put_id(&mut w, &self.device_id);
        w.raw(&self.public_key).u8(self.role.code());
        w.uint(self.scope.0.len() as u64);
        for s in &self.scope.0 {
            w.str(s);
        }
        w.int(self.issued).int(self.expires).raw(&self.issuer);
        w
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.body();
        w.raw(&self.signature);
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<Certificate, IdentityError> {
        let mut r = Reader::new(bytes);
        Self::read(&mut r).and_then(|c| {
            r.finish()?;
            Ok(c)
        })
    }

    /// Reads one certificate from inside a larger message.
    pub fn read(r: &mut Reader<'_>) -> Result<Certificate, IdentityError> {
        if r.raw(4, "certificate magic")? != MAGIC {
            return Err(r.invalid("certificate magic").into());
        }
        if r.u8("certificate version")? != VERSION {
            return Err(r.invalid("certificate version").into());
        }
        let device_id = wire::get_id(r, "device id")?;
        let public_key = r.array::<32>("public key")?;
        let role = Role::from_code(r.u8("role")?).ok_or_else(|| r.invalid("role"))?;
        let n = r.len("scope entries", MAX_SCOPE_ENTRIES)?;
        let mut scope = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            scope.push(r.str("scope entry", MAX_SCOPE_ENTRY)?.to_string());
        }
        let scope = Scope::parse(&scope)?;
        let issued = r.int("issued")?;
        let expires = r.int("expires")?;
        let issuer = r.array::<32>("issuer")?;
        let signature = r.array::<64>("signature")?;
        Ok(Certificate {
            device_id,
            public_key,
            role,
            scope,
            issued,
            expires,
            issuer,
            signature,
        })
    }

    /// Checks the certificate against the pinned office key at time `now`.
    pub fn verify(&self, office: &[u8; 32], now: i64) -> Result<(), IdentityError> {
        let device = self.device_id.clone();
        if &self.issuer != office {
            return Err(IdentityError::WrongIssuer { device });
        }
        if !self.signed_by(office) {
            return Err(IdentityError::BadSignature { device });
        }
        if now > self.expires {
            return Err(IdentityError::Expired {
                device,
                expires: ts(self.expires),
            });
        }
        if now + CLOCK_SKEW_SECS < self.issued {
            return Err(IdentityError::NotYetValid {
                device,
                issued: ts(self.issued),
            });
        }
        Ok(())
    }

    /// Whether the office's signature is good. A hub checks the same few
    /// thousand certificates every session, and an ed25519 verification
    /// costs about fifty times a hash: signatures found good are
    /// remembered, by a hash of key, body and signature together, so a
    /// certificate altered in any byte is verified afresh. Only the
    /// signature is remembered; expiry is checked every time.
    fn signed_by(&self, office: &[u8; 32]) -> bool {
        use sha2::Digest;
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock};
        /// Past this many, the set starts over (a county's devices fit).
        const REMEMBERED: usize = 16_384;
        static GOOD: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
        let body = self.body().buf;
        let key: [u8; 32] = sha2::Sha256::new()
            .chain_update(office)
            .chain_update((body.len() as u64).to_le_bytes())
            .chain_update(&body)
            .chain_update(self.signature)
            .finalize()
            .into();
        let good = GOOD.get_or_init(Default::default);
        if good.lock().is_ok_and(|g| g.contains(&key)) {
            return true;
        }
        if !verify_signature(office, &body, &self.signature) {
            return false;
        }
        if let Ok(mut g) = good.lock() {
            if g.len() >= REMEMBERED {
                g.clear();
            }
            g.insert(key);
        }
        true
    }

    pub fn expires_text(&self) -> String {
        ts(self.expires)
    }
}

/// Fresh bytes from the operating system's generator (keys, nonces, tokens).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::{RngCore, SeedableRng};
    let mut b = [0u8; N];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut b);
    b
}

pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify(msg, &Signature::from_bytes(sig)).is_ok()
}

/// A device's (or the office's) ed25519 signing key.
#[derive(Clone)]
pub struct KeyPair(SigningKey);

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({})", hex::encode(self.public_key()))
    }
}

impl KeyPair {
    pub fn generate() -> KeyPair {
        let seed: [u8; 32] = random_bytes();
        KeyPair(SigningKey::from_bytes(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> KeyPair {
        KeyPair(SigningKey::from_bytes(seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// The secret scalar of this key, to use as an X25519 secret with the
    /// Montgomery form of the public key (sealed bundles: `sync::seal`).
    pub(crate) fn x25519_secret(&self) -> [u8; 32] {
        self.0.to_scalar_bytes()
    }
}

/// The township office: the key that signs certificates.
#[derive(Debug, Clone)]
pub struct Office {
    pub key: KeyPair,
}

impl Office {
    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }

    /// The office's signed word that `device_id` is revoked from `at`.
    pub fn revoke(&self, device_id: &str, at: i64) -> Revocation {
        Revocation {
            device_id: device_id.to_string(),
            at,
            signature: self.key.sign(&Revocation::body(device_id, at).buf),
        }
    }

    pub fn issue(
        &self,
        device_id: &str,
        public_key: [u8; 32],
        role: Role,
        scope: Scope,
        issued: i64,
        expires: i64,
    ) -> Certificate {
        let mut cert = Certificate {
            device_id: device_id.to_string(),
            public_key,
            role,
            scope,
            issued,
            expires,
            issuer: self.public_key(),
            signature: [0; 64],
        };
        cert.signature = self.key.sign(&cert.body().buf);
        cert
    }
}

/// Tags what a revocation's signature covers, so no other signed record
/// of silin's (a certificate, an envelope) can pass for one.
const REVOCATION_MAGIC: &[u8; 4] = b"SLRV";
/// Most revocations one message or store passes on (a county's devices
/// fit many times over); a longer list is refused whole, before any
/// signature is checked.
pub const MAX_REVOCATIONS: usize = 4096;
/// Encoded size of one revocation: magic, version, device id (16), time
/// (at most 10), signature (64).
const MAX_REVOCATION_BYTES: usize = 4 + 1 + 16 + 10 + 64;

/// The office's word that a device is refused from `at` on: its device id
/// and the time, signed by the office key. Revocations are cumulative:
/// every replica keeps the ones it has verified and passes them on in
/// every session and bundle, so two phones meeting offline refuse a device
/// the office revoked once either of them has heard of it. A receiver
/// checks the signature against the office key it pinned at enrolment;
/// the record's claims count for nothing until then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub device_id: String,
    /// Unix seconds.
    pub at: i64,
    pub signature: [u8; 64],
}

impl Revocation {
    fn body(device_id: &str, at: i64) -> Writer {
        let mut w = Writer::with_capacity(MAX_REVOCATION_BYTES);
        w.raw(REVOCATION_MAGIC).u8(VERSION);
        wire::put_id(&mut w, device_id);
        w.int(at);
        w
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Self::body(&self.device_id, self.at);
        w.raw(&self.signature);
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<Revocation, IdentityError> {
        let mut r = Reader::new(bytes);
        let rev = Self::read(&mut r)?;
        r.finish()?;
        Ok(rev)
    }

    /// Reads one revocation from inside a larger message.
    pub fn read(r: &mut Reader<'_>) -> Result<Revocation, IdentityError> {
        if r.raw(4, "revocation magic")? != REVOCATION_MAGIC {
            return Err(r.invalid("revocation magic").into());
        }
        if r.u8("revocation version")? != VERSION {
            return Err(r.invalid("revocation version").into());
        }
        Ok(Revocation {
            device_id: wire::get_id(r, "revoked device id")?,
            at: r.int("revoked at")?,
            signature: r.array::<64>("revocation signature")?,
        })
    }

    /// Whether the office whose public key is `office` signed it.
    pub fn signed_by(&self, office: &[u8; 32]) -> bool {
        verify_signature(
            office,
            &Self::body(&self.device_id, self.at).buf,
            &self.signature,
        )
    }
}

/// Writes a list of revocations (a count, then each).
pub fn write_revocations(w: &mut Writer, list: &[Revocation]) {
    w.uint(list.len() as u64);
    for rev in list {
        w.raw(&rev.encode());
    }
}

/// A list of revocations as bytes (what [`decode_revocations`] reads).
pub fn encode_revocations(list: &[Revocation]) -> Vec<u8> {
    let mut w = Writer::with_capacity(8 + list.len() * MAX_REVOCATION_BYTES);
    write_revocations(&mut w, list);
    w.into_inner()
}

/// Decodes a whole list of revocations (bounded; nothing may follow it).
/// Checks no signature: see [`Revocation::signed_by`].
pub fn decode_revocations(bytes: &[u8]) -> Result<Vec<Revocation>, IdentityError> {
    let mut r = Reader::new(bytes);
    let list = read_revocations(&mut r)?;
    r.finish()?;
    Ok(list)
}

/// Reads a list written by [`write_revocations`]: at most
/// [`MAX_REVOCATIONS`], none of them checked yet.
pub fn read_revocations(r: &mut Reader<'_>) -> Result<Vec<Revocation>, IdentityError> {
    let n = r.len("revocation count", MAX_REVOCATIONS)?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        out.push(Revocation::read(r)?);
    }
    Ok(out)
}

/// A short fingerprint of an office key, carried in enrolment tokens so a
/// device can tell its own township's hub from any other.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(public_key)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> Office {
        Office {
            key: KeyPair::from_seed(&[7; 32]),
        }
    }

    fn cert(now: i64) -> Certificate {
        let dev = KeyPair::from_seed(&[9; 32]);
        office().issue(
            "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
            dev.public_key(),
            Role::GridWorker,
            Scope::parse(&["Liangdang/Chengguan".into()]).unwrap(),
            now,
            now + 86400 * 30,
        )
    }

    #[test]
    fn a_revocation_verifies_only_against_its_office_and_for_its_device_and_time() {
        let dev = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";
        let rev = office().revoke(dev, 1_790_000_000);
        assert_eq!(Revocation::decode(&rev.encode()).unwrap(), rev);
        assert!(rev.signed_by(&office().public_key()));
        let other = Office {
            key: KeyPair::from_seed(&[8; 32]),
        };
        assert!(!rev.signed_by(&other.public_key()));
        let mut moved = rev.clone();
        moved.device_id = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e60".into();
        assert!(!moved.signed_by(&office().public_key()));
        let mut later = rev.clone();
        later.at += 1;
        assert!(!later.signed_by(&office().public_key()));
        // The office's certificate signature is no revocation signature.
        let c = cert(1_790_000_000);
        let posing = Revocation {
            device_id: c.device_id.clone(),
            at: c.issued,
            signature: c.signature,
        };
        assert!(!posing.signed_by(&office().public_key()));
    }

    #[test]
    fn every_truncation_of_a_revocation_list_is_a_typed_error() {
        let list = vec![
            office().revoke("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f", 1),
            office().revoke("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e60", -7),
        ];
        let b = encode_revocations(&list);
        assert_eq!(decode_revocations(&b).unwrap(), list);
        for n in 0..b.len() {
            assert!(decode_revocations(&b[..n]).is_err(), "prefix {n} decoded");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(decode_revocations(&long).is_err());
        // A count past the limit is refused before anything is allocated.
        let mut w = Writer::default();
        w.uint(MAX_REVOCATIONS as u64 + 1);
        assert!(matches!(
            decode_revocations(&w.buf),
            Err(IdentityError::Malformed(WireError::TooLong { .. }))
        ));
        let mut bad = b.clone();
        bad[1] = b'X';
        assert!(decode_revocations(&bad).is_err());
    }

    #[test]
    fn certificate_round_trips_and_verifies() {
        let now = 1_790_000_000;
        let c = cert(now);
        let back = Certificate::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        back.verify(&office().public_key(), now + 10).unwrap();
    }

    #[test]
    fn a_remembered_good_signature_vouches_for_no_altered_copy() {
        let now = 1_790_000_000;
        let c = cert(now);
        let office_key = office().public_key();
        // Verified twice: the second answer comes from what was remembered.
        c.verify(&office_key, now).unwrap();
        c.verify(&office_key, now).unwrap();
        // Still checked every time: expiry.
        assert!(matches!(
            c.verify(&office_key, c.expires + 1),
            Err(IdentityError::Expired { .. })
        ));
        // Any byte changed after the good one was remembered: refused.
        let mut widened = c.clone();
        widened.role = Role::County;
        assert!(matches!(
            widened.verify(&office_key, now),
            Err(IdentityError::BadSignature { .. })
        ));
        let mut resigned = c.clone();
        resigned.signature[0] ^= 1;
        assert!(matches!(
            resigned.verify(&office_key, now),
            Err(IdentityError::BadSignature { .. })
        ));
    }

    #[test]
    fn forged_expired_and_foreign_certificates_are_refused() {
        let now = 1_790_000_000;
        let c = cert(now);
        let office_key = office().public_key();
        assert!(matches!(
            c.verify(&office_key, now + 86400 * 31),
            Err(IdentityError::Expired { .. })
        ));
        let other = Office {
            key: KeyPair::from_seed(&[8; 32]),
        };
        assert!(matches!(
            c.verify(&other.public_key(), now),
            Err(IdentityError::WrongIssuer { .. })
        ));
        // Widen the scope after signing: the signature no longer matches.
        let mut widened = c.clone();
        widened.scope = Scope::everything();
        assert!(matches!(
            widened.verify(&office_key, now),
            Err(IdentityError::BadSignature { .. })
        ));
        // A certificate signed by another key but claiming our issuer.
        let mut forged = other.issue(
            &c.device_id,
            c.public_key,
            Role::County,
            Scope::everything(),
            now,
            now + 100,
        );
        forged.issuer = office_key;
        assert!(matches!(
            forged.verify(&office_key, now),
            Err(IdentityError::BadSignature { .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_certificate_is_a_typed_error() {
        let b = cert(0).encode();
        for n in 0..b.len() {
            assert!(Certificate::decode(&b[..n]).is_err());
        }
        let mut extra = b.clone();
        extra.push(1);
        assert!(matches!(
            Certificate::decode(&extra),
            Err(IdentityError::Malformed(WireError::Trailing(1)))
        ));
    }

    #[test]
    fn scope_covers_prefixes_on_part_boundaries_only() {
        let s =
            Scope::parse(&["A/B".into(), "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f".into()]).unwrap();
        assert!(s.covers("x", "A/B/C/D"));
        assert!(s.covers("x", "A/B"));
        assert!(!s.covers("x", "A/BB/C/D"));
        assert!(!s.covers("x", "A/C/C/D"));
        assert!(s.covers("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f", "Z/Z/Z/Z"));
        // A cell-id entry is never read as a path: a cell filed under a
        // path spelled like that id stays outside.
        assert!(!s.covers("x", "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f"));
        assert!(!s.covers("x", "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f/a"));
        let upper = Scope::parse(&["0190F1C4-7E8A-7C3B-9D2E-5A1B2C3D4E5F".into()]).unwrap();
        assert!(upper.covers("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f", "Z"));
        assert!(Scope::everything().covers("x", "Q/W/E/R"));
        assert!(Scope::parse(&["a//b".into()]).is_err());
        assert!(
            Scope::parse(&["c/t /".into()]).is_err() || {
                let once = Scope::parse(&["c/t /".into()]).unwrap();
                Scope::parse(&once.0).unwrap() == once
            }
        );
        assert!(Scope::parse(&["a/b/c/d/e".into()]).is_ok());
        assert!(Scope::parse(&["a/b/c/d/e/f/g".into()]).is_err());
    }
}
