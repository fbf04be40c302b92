//! [`Csr`]: a PKCS#10 certification request from an untrusted peer (a card, the eID app),
//! parsed, checked and its proof of possession verified.
//!
//! Only the public key is ever used. The request's subject, attributes and requested
//! extensions are ignored and never copied into a certificate: the subject comes from the
//! store. Accepted keys and signatures: ECDSA P-256/P-384 with SHA-256/384, RSA 2048–8192
//! bits with PKCS#1 v1.5 and SHA-256/384/512.
//!
//! The public key is kept in a canonical SubjectPublicKeyInfo encoding (uncompressed EC
//! point, minimal RSA integers, `NULL` RSA parameters), which is what the certificate
//! carries and what [`Csr::spki_sha256`] hashes, so one key cannot be certified twice under
//! two encodings.

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Version};

use crate::asn1;

/// Smallest and largest RSA modulus accepted, in bits.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// A checked certification request: well-formed, a supported key, a valid self-signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Csr {
    der: Vec<u8>,
    key: CanonicalKey,
}

impl std::fmt::Debug for Csr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csr")
            .field("key", &self.key.kind)
            .field("spki_sha256", &hex::encode(self.key.spki_sha256))
            .finish_non_exhaustive()
    }
}

/// A supported public key in canonical form: what a certificate carries and how the store
/// identifies the key. Every key this crate certifies, from a CSR or straight from a card,
/// goes through here, so one key has one identity however it was encoded.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CanonicalKey {
    kind: PublicKeyKind,
    /// The subjectPublicKey bits, canonical.
    raw_public_key: Vec<u8>,
    /// The canonical SubjectPublicKeyInfo DER.
    spki: Vec<u8>,
    spki_sha256: [u8; 32],
}

impl std::fmt::Debug for CanonicalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanonicalKey")
            .field("kind", &self.kind)
            .field("spki_sha256", &hex::encode(self.spki_sha256))
            .finish_non_exhaustive()
    }
}

impl CanonicalKey {
    fn new(kind: PublicKeyKind, raw_public_key: Vec<u8>) -> Self {
        let spki = canonical_spki(kind, &raw_public_key);
        Self {
            kind,
            spki_sha256: crate::sha256(&spki),
            raw_public_key,
            spki,
        }
    }

    /// Parses a bare DER SubjectPublicKeyInfo (nothing may follow it). With no signature to
    /// verify, the key itself is checked (an EC point must be on its curve). The error's
    /// text says what is wrong, for the caller to put in context.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} unexpected bytes follow it", rest.len()));
        }
        let (kind, raw) = public_key(&spki).map_err(|e| match e {
            CsrError::UnsupportedKey(reason) => reason,
            other => other.to_string(),
        })?;
        let check: &'static dyn VerificationAlgorithm = match kind {
            PublicKeyKind::EcP256 => &signature::ECDSA_P256_SHA256_ASN1,
            PublicKeyKind::EcP384 => &signature::ECDSA_P384_SHA384_ASN1,
            PublicKeyKind::Rsa { .. } => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        signature::ParsedPublicKey::new(check, &raw)
            .map_err(|e| format!("not a valid {kind} public key ({e})"))?;
        Ok(Self::new(kind, raw))
    }

    /// The kind of key.
    pub(crate) fn kind(&self) -> PublicKeyKind {
        self.kind
    }

    /// Canonical SubjectPublicKeyInfo DER.
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-256 of [`Self::spki_der`]: the key's identity in the store.
    pub(crate) fn spki_sha256(&self) -> &[u8; 32] {
        &self.spki_sha256
    }
}

/// The kind of public key in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyKind {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
}

impl std::fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EcP256 => f.write_str("EC P-256"),
            Self::EcP384 => f.write_str("EC P-384"),
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
        }
    }
}

/// Why a certification request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The PEM text holds no `CERTIFICATE REQUEST` block, or more than one.
    #[error("the certificate request is not PEM with exactly one CERTIFICATE REQUEST block: {0}")]
    NotPem(String),
    /// The DER is not a PKCS#10 request (truncated, corrupt, or something else).
    #[error(
        "the certificate request is malformed (truncated, corrupt or not a PKCS#10 request): {0}"
    )]
    Malformed(String),
    /// Bytes follow the request.
    #[error("the certificate request is followed by {0} unexpected bytes")]
    TrailingBytes(usize),
    /// The request's version is not 1 (encoded 0).
    #[error("the certificate request has an unsupported version")]
    UnsupportedVersion,
    /// The public key's algorithm or parameters are not supported.
    #[error(
        "the certificate request's key is not supported ({0}); use EC P-256, EC P-384 or RSA \
         2048–8192 bits"
    )]
    UnsupportedKey(String),
    /// The request is signed with an algorithm that is not accepted.
    #[error(
        "the certificate request is signed with an unsupported algorithm ({0}); use ECDSA or \
         RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512"
    )]
    UnsupportedSignatureAlgorithm(String),
    /// The signature does not verify with the request's own key: no proof that the
    /// requester holds the private key.
    #[error(
        "the certificate request's signature does not verify with its public key (no proof \
         of possession of the private key)"
    )]
    BadSignature,
}

impl Csr {
    /// Parses and checks a DER request. Nothing may follow it.
    pub fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        let (rest, req) = X509CertificationRequest::from_der(der)
            .map_err(|e| CsrError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CsrError::TrailingBytes(rest.len()));
        }
        let info = &req.certification_request_info;
        if info.version != X509Version(0) {
            return Err(CsrError::UnsupportedVersion);
        }
        let (key, raw_public_key) = public_key(&info.subject_pki)?;
        let verify = verification_algorithm(key, &req.signature_algorithm)?;
        if req.signature_value.unused_bits != 0 {
            return Err(CsrError::BadSignature);
        }
        signature::UnparsedPublicKey::new(verify, &raw_public_key)
            .verify(info.raw, &req.signature_value.data)
            .map_err(|_| CsrError::BadSignature)?;
        Ok(Self {
            der: der.to_vec(),
            key: CanonicalKey::new(key, raw_public_key),
        })
    }

    /// Parses and checks a PEM request (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`).
    pub fn from_pem(text: &str) -> Result<Self, CsrError> {
        let blocks = pem::parse_many(text).map_err(|e| CsrError::NotPem(e.to_string()))?;
        let [block] = blocks.as_slice() else {
            return Err(CsrError::NotPem(format!(
                "found {} PEM blocks",
                blocks.len()
            )));
        };
        if !matches!(
            block.tag(),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
        ) {
            return Err(CsrError::NotPem(format!("found a `{}` block", block.tag())));
        }
        Self::from_der(block.contents())
    }

    /// The request as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The kind of key requested.
    pub fn key_kind(&self) -> PublicKeyKind {
        self.key.kind
    }

    /// The public key as the certificate will carry it: canonical SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.key.spki
    }

    /// SHA-256 of [`Self::spki_der`]: the key's identity in the store.
    pub fn spki_sha256(&self) -> &[u8; 32] {
        &self.key.spki_sha256
    }

    /// The requested key, canonical.
    pub(crate) fn key(&self) -> &CanonicalKey {
        &self.key
    }
}

impl rcgen::PublicKeyData for CanonicalKey {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn der_bytes(&self) -> &[u8] {
        &self.raw_public_key
    }

    /// rcgen writes the certificate's SubjectPublicKeyInfo from this algorithm's key OIDs
    /// and `der_bytes`; for these three the result is [`CanonicalKey::spki_der`].
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.kind {
            PublicKeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            PublicKeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            PublicKeyKind::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl rcgen::PublicKeyData for Csr {
    fn subject_public_key_info(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(&self.key)
    }

    fn der_bytes(&self) -> &[u8] {
        rcgen::PublicKeyData::der_bytes(&self.key)
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(&self.key)
    }
}

/// The key's kind and canonical subjectPublicKey bits.
fn public_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<(PublicKeyKind, Vec<u8>), CsrError> {
    let alg = &spki.algorithm;
    if spki.subject_public_key.unused_bits != 0 {
        return Err(CsrError::UnsupportedKey(
            "the public key is not a whole number of bytes".into(),
        ));
    }
    let bits = &spki.subject_public_key.data;
    if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
        let (kind, len) = match curve {
            Some(c) if c == OID_EC_P256 => (PublicKeyKind::EcP256, 65),
            Some(c) if c == OID_NIST_EC_P384 => (PublicKeyKind::EcP384, 97),
            Some(c) => return Err(CsrError::UnsupportedKey(format!("EC curve {c}"))),
            None => {
                return Err(CsrError::UnsupportedKey(
                    "EC key without a named curve".into(),
                ));
            }
        };
        if bits.len() != len || bits.first() != Some(&0x04) {
            return Err(CsrError::UnsupportedKey(format!(
                "{kind} point is not in uncompressed form"
            )));
        }
        Ok((kind, bits.to_vec()))
    } else if alg.algorithm == OID_PKCS1_RSAENCRYPTION {
        if !null_or_absent(alg) {
            return Err(CsrError::UnsupportedKey(
                "RSA key with unexpected parameters".into(),
            ));
        }
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(CsrError::UnsupportedKey("malformed RSA public key".into()));
        };
        let modulus = strip_zeros(rsa.modulus);
        let modulus_bits = modulus
            .first()
            .map_or(0, |b| modulus.len() * 8 - b.leading_zeros() as usize);
        if !RSA_BITS.contains(&modulus_bits) {
            return Err(CsrError::UnsupportedKey(format!("RSA-{modulus_bits}")));
        }
        let canonical = asn1::sequence(&[
            &asn1::unsigned_integer(modulus),
            &asn1::unsigned_integer(rsa.exponent),
        ]);
        Ok((PublicKeyKind::Rsa { bits: modulus_bits }, canonical))
    } else {
        Err(CsrError::UnsupportedKey(format!(
            "key algorithm {}",
            alg.algorithm
        )))
    }
}

fn verification_algorithm(
    key: PublicKeyKind,
    alg: &AlgorithmIdentifier<'_>,
) -> Result<&'static dyn VerificationAlgorithm, CsrError> {
    let oid = &alg.algorithm;
    let unsupported = || CsrError::UnsupportedSignatureAlgorithm(format!("{oid} with a {key} key"));
    let verify: &'static dyn VerificationAlgorithm = match key {
        PublicKeyKind::EcP256 | PublicKeyKind::EcP384 => {
            // RFC 5758: the ECDSA algorithm identifiers have no parameters.
            if alg.parameters.is_some() {
                return Err(unsupported());
            }
            let p256 = key == PublicKeyKind::EcP256;
            if *oid == OID_SIG_ECDSA_WITH_SHA256 {
                if p256 {
                    &signature::ECDSA_P256_SHA256_ASN1
                } else {
                    &signature::ECDSA_P384_SHA256_ASN1
                }
            } else if *oid == OID_SIG_ECDSA_WITH_SHA384 {
                if p256 {
                    &signature::ECDSA_P256_SHA384_ASN1
                } else {
                    &signature::ECDSA_P384_SHA384_ASN1
                }
            } else {
                return Err(unsupported());
            }
        }
        PublicKeyKind::Rsa { .. } => {
            if !null_or_absent(alg) {
                return Err(unsupported());
            }
            if *oid == OID_PKCS1_SHA256WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else if *oid == OID_PKCS1_SHA384WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA384
            } else if *oid == OID_PKCS1_SHA512WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA512
            } else {
                return Err(unsupported());
            }
        }
    };
    Ok(verify)
}

fn null_or_absent(alg: &AlgorithmIdentifier<'_>) -> bool {
    alg.parameters
        .as_ref()
        .is_none_or(|p| p.tag() == Tag::Null && p.data.is_empty())
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The SubjectPublicKeyInfo DER as rcgen writes it for this key kind.
fn canonical_spki(key: PublicKeyKind, raw_public_key: &[u8]) -> Vec<u8> {
    let algorithm = match key {
        PublicKeyKind::EcP256 => asn1::sequence(&[
            &asn1::tlv(asn1::tag::OID, OID_KEY_TYPE_EC_PUBLIC_KEY.as_bytes()),
            &asn1::tlv(asn1::tag::OID, OID_EC_P256.as_bytes()),
        ]),
        PublicKeyKind::EcP384 => asn1::sequence(&[
            &asn1::tlv(asn1::tag::OID, OID_KEY_TYPE_EC_PUBLIC_KEY.as_bytes()),
            &asn1::tlv(asn1::tag::OID, OID_NIST_EC_P384.as_bytes()),
        ]),
        PublicKeyKind::Rsa { .. } => asn1::sequence(&[
            &asn1::tlv(asn1::tag::OID, OID_PKCS1_RSAENCRYPTION.as_bytes()),
            &asn1::tlv(asn1::tag::NULL, &[]),
        ]),
    };
    asn1::sequence(&[&algorithm, &asn1::bit_string(raw_public_key)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256_csr() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_good_request_is_accepted_and_its_key_is_canonical() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        let csr = Csr::from_der(&der).unwrap();
        assert_eq!(csr.key_kind(), PublicKeyKind::EcP384);
        assert_eq!(
            csr.spki_der(),
            rcgen::PublicKeyData::subject_public_key_info(&key)
        );
        assert_eq!(csr.der(), der);
    }

    #[test]
    fn broken_requests_are_refused() {
        let der = p256_csr();
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(Csr::from_der(&trailing), Err(CsrError::TrailingBytes(1)));
        for cut in [1, 10, der.len() / 2, der.len() - 1] {
            assert!(
                matches!(Csr::from_der(&der[..cut]), Err(CsrError::Malformed(_))),
                "cut at {cut}"
            );
        }
        let mut bad_sig = der.clone();
        let last = bad_sig.len() - 3;
        bad_sig[last] ^= 0x01;
        assert_eq!(Csr::from_der(&bad_sig), Err(CsrError::BadSignature));
        assert!(matches!(Csr::from_pem("hello"), Err(CsrError::NotPem(_))));
        let cert_pem = pem::encode(&pem::Pem::new("CERTIFICATE", der));
        assert!(matches!(Csr::from_pem(&cert_pem), Err(CsrError::NotPem(_))));
    }

    #[test]
    fn a_bare_key_gets_the_same_identity_as_in_a_request() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let csr = Csr::from_der(params.serialize_request(&key).unwrap().der()).unwrap();
        let bare =
            CanonicalKey::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(&key))
                .unwrap();
        assert_eq!(&bare, csr.key());
        assert_eq!(bare.kind(), PublicKeyKind::EcP256);

        // A point off the curve: nothing proves it, so it is checked.
        let mut spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let last = spki.len() - 1;
        spki[last] ^= 0x01;
        let err = CanonicalKey::from_spki_der(&spki).unwrap_err();
        assert!(err.contains("not a valid EC P-256 public key"), "{err}");
        let mut long = rcgen::PublicKeyData::subject_public_key_info(&key);
        long.push(0);
        assert!(CanonicalKey::from_spki_der(&long).is_err());
        assert!(CanonicalKey::from_spki_der(b"garbage").is_err());
    }

    #[test]
    fn ed25519_is_not_accepted() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        assert!(matches!(
            Csr::from_der(&der),
            Err(CsrError::UnsupportedKey(_))
        ));
    }
}
