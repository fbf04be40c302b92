//! The CA key seam: [`Signer`], and [`SignerKey`], which makes any signer an rcgen
//! [`rcgen::SigningKey`].
//!
//! The CA never needs the private key itself, only signatures: a file key today
//! ([`crate::FileSigner`]), an HSM through PKCS#11 later. A signer never logs, prints or
//! returns its private key except through an explicit export of the file signer.

use std::fmt;
use std::sync::Arc;

use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::KeyAlgorithm;

/// A CA private key that can sign, wherever it lives.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The key's algorithm; it fixes the certificates' signature algorithm (ECDSA with
    /// SHA-256 for P-256, RSA PKCS#1 v1.5 with SHA-256 for RSA).
    fn algorithm(&self) -> KeyAlgorithm;

    /// The public key as a DER SubjectPublicKeyInfo.
    fn spki_der(&self) -> &[u8];

    /// Signs `msg` (the signer hashes it): an ASN.1 DER `ECDSA-Sig-Value` for P-256, a
    /// PKCS#1 v1.5 signature for RSA, as X.509 wants them.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError>;
}

/// What went wrong with a CA key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// Generating a new key failed (the system's random source or crypto library failed).
    #[error("could not generate a {0} key")]
    Generate(KeyAlgorithm),
    /// The key file is not PEM text at all.
    #[error("the CA key file is not a PEM file: {0}")]
    NotPem(String),
    /// The key file holds an encrypted private key.
    #[error(
        "the CA key file holds an encrypted private key; eid needs an unencrypted PKCS#8 key \
         protected by file permissions (or an HSM)"
    )]
    Encrypted,
    /// The key file holds a PEM block that is not a private key, or an old SEC1/PKCS#1 key.
    #[error(
        "the CA key file holds a `{0}` PEM block, not a `PRIVATE KEY` (PKCS#8) block; \
         convert an old-format key with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    WrongPemLabel(String),
    /// The key is valid but of a kind eid does not use for a CA.
    #[error("the CA key is {0}; eid supports p256, rsa2048 and rsa3072 CA keys")]
    UnsupportedKey(String),
    /// The key file's content is not a usable PKCS#8 private key.
    #[error(
        "the CA key file does not hold a valid PKCS#8 private key (corrupt, truncated or not \
         a key)"
    )]
    Corrupt,
    /// The signer's public key could not be read (a broken signer implementation).
    #[error("the CA key's public key is not a valid SubjectPublicKeyInfo: {0}")]
    BadPublicKey(String),
    /// Exporting the key failed.
    #[error("could not export the CA key")]
    Export,
    /// Signing failed (for an HSM: the device refused or is unreachable).
    #[error("the CA key could not sign: {0}")]
    Sign(String),
}

/// Any [`Signer`] as an rcgen signing key.
#[derive(Debug, Clone)]
pub struct SignerKey {
    signer: Arc<dyn Signer>,
    /// The subjectPublicKey bits of the SubjectPublicKeyInfo.
    raw_public_key: Vec<u8>,
}

impl SignerKey {
    /// Wraps a signer; fails if its public key is not a SubjectPublicKeyInfo of its
    /// algorithm.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, SignerError> {
        let spki = signer.spki_der();
        let (rest, parsed) = SubjectPublicKeyInfo::from_der(spki)
            .map_err(|e| SignerError::BadPublicKey(e.to_string()))?;
        if !rest.is_empty() {
            return Err(SignerError::BadPublicKey("trailing bytes".into()));
        }
        let expected = match signer.algorithm() {
            KeyAlgorithm::P256 => x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
                x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
            }
        };
        if parsed.algorithm.algorithm != expected {
            return Err(SignerError::BadPublicKey(format!(
                "a {} signer has a {} public key",
                signer.algorithm(),
                parsed.algorithm.algorithm
            )));
        }
        let raw_public_key = parsed.subject_public_key.data.to_vec();
        Ok(Self {
            signer,
            raw_public_key,
        })
    }

    /// The wrapped signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }
}

impl rcgen::PublicKeyData for SignerKey {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.signer.spki_der().to_vec()
    }

    fn der_bytes(&self) -> &[u8] {
        &self.raw_public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.signer.algorithm().rcgen()
    }
}

impl rcgen::SigningKey for SignerKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.sign(msg).map_err(|e| {
            // rcgen's error cannot carry ours; keep the reason for the operator.
            tracing::error!(error = %e, "CA signer failed");
            rcgen::Error::RemoteKeyError
        })
    }
}
