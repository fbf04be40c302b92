//! The delegated responder's life cycle: its key made here, its certificate issued by the
//! CA, both recorded in the store (the key sealed) before use, and a successor issued when
//! the current one comes within [`ResponderPolicy::renew_before`] of its end, so responses
//! are never signed by a certificate about to lapse.
//!
//! Every node of an installation signs with the same responder: the store holds it, sealed
//! with AES-256-GCM under a key the caller derives from the installation's key-encryption
//! key (a random 96-bit nonce per key, the certificate's serial as associated data, so a
//! sealed key cannot be moved to another responder's row). Two nodes rolling over at once
//! both issue a certificate; the store records one of them ([`RevocationStore::add_ocsp_responder`]
//! compares the current serial) and the loser uses the winner's.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use eid_store::revocation::{ResponderRecord, RevocationStore};
use eid_store::{AuditEvent, Serial};
use rand::CryptoRng;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use super::{OcspError, Responder};
use crate::{CertificateAuthority, FileSigner, Signer};

/// Version byte of the sealed-key format: `1 || nonce (12) || ciphertext || tag (16)`.
const SEALED_V1: u8 = 1;
/// Associated data: a domain tag, then the certificate's serial.
const AAD_TAG: &[u8] = b"eid ocsp responder key v1";
/// Tries at a rollover that another node keeps winning before giving up.
const TRIES: usize = 3;

/// The key that seals responder keys in the store. `Debug` shows nothing of it.
pub struct ResponderKeySeal(LessSafeKey);

impl fmt::Debug for ResponderKeySeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponderKeySeal(<secret>)")
    }
}

impl ResponderKeySeal {
    /// From 32 secret bytes (the server derives them from its key-encryption key).
    pub fn new(key: &[u8; 32]) -> Result<Self, OcspError> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| OcspError::Seal("unusable sealing key"))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    fn aad(serial: &Serial) -> Vec<u8> {
        [AAD_TAG, serial.as_bytes()].concat()
    }

    fn seal(&self, serial: &Serial, secret: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let mut buffer = Zeroizing::new(secret.to_vec());
        // Sealing into a buffer of the right size cannot fail; an empty result would be
        // refused when opened.
        let Ok(tag) = self.0.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(Self::aad(serial)),
            &mut buffer,
        ) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len() + tag.as_ref().len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        out.extend_from_slice(tag.as_ref());
        out
    }

    fn open(&self, serial: &Serial, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OcspError> {
        let wrong = || {
            OcspError::Seal(
                "the responder key does not open: another key-encryption key, or a changed \
                 record",
            )
        };
        let Some((&SEALED_V1, rest)) = sealed.split_first() else {
            return Err(wrong());
        };
        if rest.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(Self::aad(serial)), &mut buffer)
            .map_err(|_| wrong())?
            .len();
        buffer.truncate(plain);
        Ok(buffer)
    }
}

/// How long responder certificates live and when they are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponderPolicy {
    /// A new responder certificate's validity (default 30 days; it is never checked for
    /// revocation, `ocsp-nocheck`, so it is kept short).
    pub validity: Duration,
    /// A successor is issued when the current one has less than this left (default 10
    /// days), so every response it signed has expired long before it does.
    pub renew_before: Duration,
}

impl Default for ResponderPolicy {
    fn default() -> Self {
        Self {
            validity: Duration::days(30),
            renew_before: Duration::days(10),
        }
    }
}

impl ResponderPolicy {
    /// The policy if it is usable: a successor is due some time after issuance.
    pub fn checked(self) -> Result<Self, OcspError> {
        if self.renew_before > Duration::ZERO && self.renew_before < self.validity {
            Ok(self)
        } else {
            Err(OcspError::BadPolicy)
        }
    }

    /// Whether `record` should be replaced at `now`.
    pub fn due(&self, record: &ResponderRecord, now: OffsetDateTime) -> bool {
        record.not_after - now < self.renew_before
    }
}

/// A responder in use: its record and the engine that signs with its key.
#[derive(Debug)]
pub struct ActiveResponder {
    /// The certificate's record (its sealed key, validity, serial).
    pub record: ResponderRecord,
    /// The engine.
    pub responder: Responder,
}

/// The responder certificate `der` was issued by `ca`'s issuing CA (after a CA change, the
/// recorded one is not, and is replaced).
fn issued_by(ca: &CertificateAuthority, der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, issuing))) = (
        X509Certificate::from_der(der),
        X509Certificate::from_der(ca.issuing_der()),
    ) else {
        return false;
    };
    cert.issuer().as_raw() == issuing.subject().as_raw()
        && cert.verify_signature(Some(issuing.public_key())).is_ok()
}

fn activate(
    ca: &CertificateAuthority,
    seal: &ResponderKeySeal,
    record: ResponderRecord,
) -> Result<ActiveResponder, OcspError> {
    let pem = seal.open(&record.serial, &record.sealed_key)?;
    let text = std::str::from_utf8(&pem).map_err(|_| OcspError::Seal("not a PEM key"))?;
    let signer: Arc<dyn Signer> =
        Arc::new(FileSigner::from_pkcs8_pem(text).map_err(|e| OcspError::Sign(e.to_string()))?);
    let responder = Responder::new(ca.issuing_der(), &record.der, signer)?;
    Ok(ActiveResponder { record, responder })
}

/// A new responder: key and certificate made, key sealed; not recorded yet.
fn new_responder<R: CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    seal: &ResponderKeySeal,
    policy: &ResponderPolicy,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<ResponderRecord, OcspError> {
    let key = FileSigner::generate(ca.algorithm()).map_err(|e| OcspError::Sign(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| OcspError::Sign(e.to_string()))?;
    let key: Arc<dyn Signer> = Arc::new(key);
    // An hour back for clients whose clocks run slow; never before the CA.
    let not_before = crate::crl::whole_seconds(now - Duration::hours(1)).max(ca.not_before());
    let not_after = crate::crl::whole_seconds(now + policy.validity).min(ca.not_after());
    if not_after <= now {
        return Err(OcspError::BadCertificate("issuing CA (it has expired)"));
    }
    let der = ca.ocsp_responder_certificate(key, not_before, not_after, rng)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|_| OcspError::BadCertificate("responder"))?;
    let serial =
        Serial::from_be_bytes(cert.raw_serial()).ok_or(OcspError::BadCertificate("responder"))?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let sealed_key = seal.seal(&serial, pem.as_bytes(), nonce);
    Ok(ResponderRecord {
        serial,
        der,
        sealed_key,
        not_before,
        not_after,
        issued_at: now,
    })
}

/// The responder to sign with at `now`: the store's current one, or a successor issued and
/// recorded first when there is none, it is due for replacement, or the CA did not issue
/// it. New certificates are audited as `ocsp.responder.issue` by `actor`.
pub async fn ensure_responder<S, R>(
    ca: &CertificateAuthority,
    store: &S,
    seal: &ResponderKeySeal,
    policy: &ResponderPolicy,
    now: OffsetDateTime,
    rng: &mut R,
    actor: &str,
) -> Result<ActiveResponder, OcspError>
where
    S: RevocationStore + ?Sized,
    R: CryptoRng + Send + ?Sized,
{
    let policy = policy.checked()?;
    for _ in 0..TRIES {
        let current = store.current_ocsp_responder().await?;
        if let Some(record) = &current
            && !policy.due(record, now)
            && issued_by(ca, &record.der)
        {
            return activate(ca, seal, record.clone());
        }
        let record = new_responder(ca, seal, &policy, now, rng)?;
        let replaces = current.as_ref().map(|r| r.serial.clone());
        let audit = AuditEvent {
            at: now,
            actor: actor.to_owned(),
            action: "ocsp.responder.issue".into(),
            subject: record.serial.to_string(),
            details: serde_json::json!({
                "not_before": record.not_before.unix_timestamp(),
                "not_after": record.not_after.unix_timestamp(),
                "replaces": replaces.as_ref().map(ToString::to_string),
            }),
        };
        if store
            .add_ocsp_responder(&record, replaces.as_ref(), &audit)
            .await?
        {
            tracing::info!(
                serial = %record.serial,
                not_after = %record.not_after,
                "OCSP responder certificate issued"
            );
            return activate(ca, seal, record);
        }
        // Another node took over first: use its responder (checked again above).
    }
    Err(OcspError::Contended)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_key_and_serial() {
        let seal = ResponderKeySeal::new(&[7; 32]).unwrap();
        let serial = Serial::from_be_bytes(&[1, 2, 3]).unwrap();
        let sealed = seal.seal(&serial, b"secret key", [9; NONCE_LEN]);
        assert_eq!(&*seal.open(&serial, &sealed).unwrap(), b"secret key");
        assert!(!sealed.windows(10).any(|w| w == b"secret key"));
        let other_serial = Serial::from_be_bytes(&[4]).unwrap();
        assert!(seal.open(&other_serial, &sealed).is_err());
        let other_key = ResponderKeySeal::new(&[8; 32]).unwrap();
        assert!(other_key.open(&serial, &sealed).is_err());
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(seal.open(&serial, &changed).is_err());
        assert!(seal.open(&serial, &[]).is_err());
        assert!(seal.open(&serial, &[SEALED_V1, 1, 2]).is_err());
        assert_eq!(format!("{seal:?}"), "ResponderKeySeal(<secret>)");
    }
}
