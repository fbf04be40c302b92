//! Certificate requests signed by a key on the card. The card signs the request's SHA-256
//! digest with the slot's key, so the request's proof of possession comes from the card; the
//! slot's PIN must be verified as for any signature (for 9C: just before).

use std::sync::Mutex;

use aws_lc_rs::digest;
use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SigningKey};

use crate::card::{Card, KeySlot};
use crate::error::CardError;

/// A PKCS#10 request (DER) for the key in `slot`, whose public key is `spki_der` (from
/// GENERATE or the card's metadata). The subject only names the card and slot: the CA takes
/// the subject from its own records.
pub fn certificate_request(
    card: &dyn Card,
    slot: KeySlot,
    card_number: &str,
    spki_der: &[u8],
) -> Result<Vec<u8>, CardError> {
    let public = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| CardError::BadResponse(format!("the slot's public key: {e}")))?;
    let key = OnCard {
        card,
        slot,
        public,
        failure: Mutex::new(None),
    };
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("{card_number} {slot}"));
    params.distinguished_name = name;
    let request = params.serialize_request(&key);
    if let Some(e) = key.failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(e);
    }
    request
        .map(|csr| csr.der().to_vec())
        .map_err(|e| CardError::BadResponse(format!("cannot build the request: {e}")))
}

/// The card's key as rcgen sees it; remembers the card's own error, which rcgen cannot carry.
struct OnCard<'a> {
    card: &'a dyn Card,
    slot: KeySlot,
    public: rcgen::SubjectPublicKeyInfo,
    failure: Mutex<Option<CardError>>,
}

impl PublicKeyData for OnCard<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.public.algorithm()
    }
}

impl SigningKey for OnCard<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, msg).as_ref());
        self.card.sign(self.slot, &hash).map_err(|e| {
            if let Ok(mut failure) = self.failure.lock() {
                *failure = Some(e);
            }
            rcgen::Error::RemoteKeyError
        })
    }
}
