//! OCSP (RFC 6960) without HTTP: requests parsed and checked, responses built and signed by
//! a delegated responder (a certificate with `id-kp-OCSPSigning` and `id-pkix-ocsp-nocheck`
//! that the issuing CA issues, §4.2.2.2), and the error responses of §2.3.
//!
//! The messages are the `x509-ocsp` crate's types; the signature goes through the
//! [`Signer`] seam, so the responder key may live in a file or an HSM like the CA's.
//!
//! Choices where RFC 6960 leaves room, and why:
//! - a request naming an issuer this responder does not serve is answered `unauthorized`
//!   (§2.3, RFC 5019 §2.2.3): it is not authoritative for it;
//! - a CertID hashed with anything but SHA-1 or SHA-256 is `malformedRequest`: the responder
//!   cannot tell which issuer it names;
//! - at most [`MAX_REQUESTS`] CertIDs per request and a nonce of 1 to 32 bytes (RFC 8954),
//!   else `malformedRequest`; request signatures are not required and not checked;
//! - the nonce extension is echoed exactly as sent.
//!
//! Around the engine: [`responder`] keeps the delegated responder's key and certificate in
//! the store and rolls them over; [`service`] is the responder a server runs (statuses from
//! the store, pre-signed responses cached until a revocation). `docs/revocation.md`.

pub mod responder;
pub mod service;

pub use responder::{ActiveResponder, ResponderKeySeal, ResponderPolicy, ensure_responder};
pub use service::{OcspAnswer, OcspService, OcspSettings, SignedResponse};
/// The response statuses of RFC 6960 §4.2.1, for callers that map them.
pub use x509_ocsp::OcspResponseStatus;

use std::sync::Arc;

use aws_lc_rs::digest;
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Decode, Encode};
use eid_store::{RevocationReason, Serial};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{KeyAlgorithm, Signer};

/// Most CertIDs answered in one request.
pub const MAX_REQUESTS: usize = 16;

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// What the store says about a serial of this CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialStatus {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at `at` for `reason`.
    Revoked {
        at: OffsetDateTime,
        reason: RevocationReason,
    },
    /// Not a certificate this CA issued.
    Unknown,
}

/// A request that passed the checks: the serials asked about (all of this responder's
/// issuer) and the nonce extension to echo.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    ids: Vec<CertId>,
    nonce: Option<Extension>,
}

impl CheckedRequest {
    /// Whether the request asked for a nonce (its answer is then for it alone).
    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }

    /// The serials asked about, in request order (`None` for a zero or negative serial,
    /// which this CA never issues: answered `unknown`).
    pub fn serials(&self) -> Vec<Option<Serial>> {
        self.ids
            .iter()
            .map(|id| Serial::from_be_bytes(id.serial_number.as_bytes()))
            .collect()
    }
}

/// Why a response could not be made (an internal failure: answer `internalError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The responder or issuing CA certificate does not parse.
    #[error("the {0} certificate is unusable for OCSP")]
    BadCertificate(&'static str),
    /// Encoding failed.
    #[error("the OCSP response could not be encoded: {0}")]
    Encode(String),
    /// The responder key could not sign.
    #[error("the OCSP responder could not sign: {0}")]
    Sign(String),
    /// The statuses given do not match the request's CertIDs.
    #[error("{given} statuses for {asked} CertIDs")]
    StatusCount { given: usize, asked: usize },
    /// A responder key could not be sealed or opened (the wrong key-encryption key, or a
    /// changed record).
    #[error("{0}")]
    Seal(&'static str),
    /// The settings are not usable (a response validity that is not positive; a rollover
    /// that is not due some time after issuance).
    #[error(
        "OCSP settings: responses must be valid for a positive time, and responders renewed \
         some time after issuance and before they end"
    )]
    BadPolicy,
    /// Other nodes kept replacing the responder while this one tried.
    #[error("the OCSP responder changed on every try")]
    Contended,
    /// The store failed.
    #[error("the store: {0}")]
    Store(#[from] eid_store::StoreError),
}

/// A delegated OCSP responder for one issuing CA.
#[derive(Debug, Clone)]
pub struct Responder {
    /// (hash algorithm, issuer name hash, issuer key hash) for SHA-1 and SHA-256.
    issuer_hashes: [(ObjectIdentifier, Vec<u8>, Vec<u8>); 2],
    responder_cert: Certificate,
    responder_key_hash: Vec<u8>,
    signer: Arc<dyn Signer>,
}

/// The DER of an error response (§2.3); never signed.
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    let response = OcspResponse {
        response_status: status,
        response_bytes: None,
    };
    // Two fixed small fields: encoding cannot fail; an empty answer would be refused by
    // every client as well.
    response.to_der().unwrap_or_default()
}

fn generalized(t: OffsetDateTime) -> Result<OcspGeneralizedTime, OcspError> {
    let seconds = u64::try_from(t.unix_timestamp())
        .map_err(|_| OcspError::Encode("a time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
        .map(OcspGeneralizedTime)
        .map_err(|e| OcspError::Encode(e.to_string()))
}

fn crl_reason(r: RevocationReason) -> CrlReason {
    match r {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
    }
}

/// An OCSP request about `serials` of the CA whose issuing certificate is `issuing_der`,
/// with SHA-1 CertIDs as RFC 5019 clients make them, and the nonce extension when `nonce`
/// is given (1 to 32 bytes): what a relying party sends. For tests and load generators.
pub fn request(
    issuing_der: &[u8],
    serials: &[Serial],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, OcspError> {
    use x509_cert::serial_number::SerialNumber;
    use x509_ocsp::{Request, TbsRequest};
    let (_, issuing) = X509Certificate::from_der(issuing_der)
        .map_err(|_| OcspError::BadCertificate("issuing CA"))?;
    let sha1 = |bytes: &[u8]| {
        OctetString::new(
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
                .as_ref()
                .to_vec(),
        )
        .map_err(|e| OcspError::Encode(e.to_string()))
    };
    let name_hash = sha1(issuing.subject().as_raw())?;
    let key_hash = sha1(issuing.public_key().subject_public_key.data.as_ref())?;
    let mut request_list = Vec::with_capacity(serials.len());
    for serial in serials {
        request_list.push(Request {
            req_cert: CertId {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: SHA1,
                    parameters: Some(Null.into()),
                },
                issuer_name_hash: name_hash.clone(),
                issuer_key_hash: key_hash.clone(),
                serial_number: SerialNumber::new(serial.as_bytes())
                    .map_err(|e| OcspError::Encode(e.to_string()))?,
            },
            single_request_extensions: None,
        });
    }
    let request_extensions = match nonce {
        None => None,
        Some(nonce) => {
            let inner = OctetString::new(nonce.to_vec())
                .and_then(|n| n.to_der())
                .and_then(OctetString::new)
                .map_err(|e| OcspError::Encode(e.to_string()))?;
            Some(vec![Extension {
                extn_id: NONCE,
                critical: false,
                extn_value: inner,
            }])
        }
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list,
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| OcspError::Encode(e.to_string()))
}

impl Responder {
    /// A responder for the CA whose issuing certificate is `issuing_der`, answering with
    /// the delegated certificate `responder_der`, whose key `signer` holds.
    pub fn new(
        issuing_der: &[u8],
        responder_der: &[u8],
        signer: Arc<dyn Signer>,
    ) -> Result<Self, OcspError> {
        let (_, issuing) = X509Certificate::from_der(issuing_der)
            .map_err(|_| OcspError::BadCertificate("issuing CA"))?;
        let name = issuing.subject().as_raw();
        let key = issuing.public_key().subject_public_key.data.as_ref();
        let hash = |alg: &'static digest::Algorithm, bytes: &[u8]| {
            digest::digest(alg, bytes).as_ref().to_vec()
        };
        let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
        let responder_cert = Certificate::from_der(responder_der)
            .map_err(|_| OcspError::BadCertificate("responder"))?;
        let responder_key = responder_cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(Self {
            issuer_hashes: [
                (SHA1, hash(sha1, name), hash(sha1, key)),
                (
                    SHA256,
                    hash(&digest::SHA256, name),
                    hash(&digest::SHA256, key),
                ),
            ],
            responder_key_hash: hash(sha1, responder_key),
            responder_cert,
            signer,
        })
    }

    /// Parses and checks a DER request; `Err` is the error status to answer with.
    pub fn check_request(&self, der: &[u8]) -> Result<CheckedRequest, OcspResponseStatus> {
        let request =
            OcspRequest::from_der(der).map_err(|_| OcspResponseStatus::MalformedRequest)?;
        let list = &request.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_REQUESTS {
            return Err(OcspResponseStatus::MalformedRequest);
        }
        let mut ids = Vec::with_capacity(list.len());
        for single in list {
            let id = &single.req_cert;
            let Some((_, name_hash, key_hash)) = self
                .issuer_hashes
                .iter()
                .find(|(alg, _, _)| *alg == id.hash_algorithm.oid)
            else {
                return Err(OcspResponseStatus::MalformedRequest);
            };
            if id.issuer_name_hash.as_bytes() != name_hash.as_slice()
                || id.issuer_key_hash.as_bytes() != key_hash.as_slice()
            {
                return Err(OcspResponseStatus::Unauthorized);
            }
            ids.push(id.clone());
        }
        let nonce = request
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == NONCE)
            .cloned();
        if let Some(nonce) = &nonce {
            let inner = OctetString::from_der(nonce.extn_value.as_bytes())
                .map_err(|_| OcspResponseStatus::MalformedRequest)?;
            if !(1..=32).contains(&inner.as_bytes().len()) {
                return Err(OcspResponseStatus::MalformedRequest);
            }
        }
        Ok(CheckedRequest { ids, nonce })
    }

    /// The signed response to `request`, one status per CertID in order, valid from
    /// `this_update` to `next_update`.
    pub fn respond(
        &self,
        request: &CheckedRequest,
        statuses: &[SerialStatus],
        produced_at: OffsetDateTime,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, OcspError> {
        if statuses.len() != request.ids.len() {
            return Err(OcspError::StatusCount {
                given: statuses.len(),
                asked: request.ids.len(),
            });
        }
        let mut responses = Vec::with_capacity(statuses.len());
        for (id, status) in request.ids.iter().zip(statuses) {
            let cert_status = match status {
                SerialStatus::Good => CertStatus::Good(Null),
                SerialStatus::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                    revocation_time: generalized(*at)?,
                    revocation_reason: Some(crl_reason(*reason)),
                }),
                SerialStatus::Unknown => CertStatus::Unknown(Null),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update: generalized(this_update)?,
                next_update: Some(generalized(next_update)?),
                single_extensions: None,
            });
        }
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(
                OctetString::new(self.responder_key_hash.clone())
                    .map_err(|e| OcspError::Encode(e.to_string()))?,
            ),
            produced_at: generalized(produced_at)?,
            responses,
            response_extensions: request.nonce.clone().map(|n| vec![n]),
        };
        let tbs = data
            .to_der()
            .map_err(|e| OcspError::Encode(e.to_string()))?;
        let signature = self
            .signer
            .sign(&tbs)
            .map_err(|e| OcspError::Sign(e.to_string()))?;
        let signature_algorithm = match self.signer.algorithm() {
            KeyAlgorithm::P256 => AlgorithmIdentifierOwned {
                oid: ECDSA_SHA256,
                parameters: None,
            },
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => AlgorithmIdentifierOwned {
                oid: RSA_SHA256,
                parameters: Some(Null.into()),
            },
        };
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm,
            signature: BitString::from_bytes(&signature)
                .map_err(|e| OcspError::Encode(e.to_string()))?,
            certs: Some(vec![self.responder_cert.clone()]),
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(|e| OcspError::Encode(e.to_string()))
    }
}

impl crate::CertificateAuthority {
    /// A delegated OCSP responder certificate for the key `signer` holds (§4.2.2.2):
    /// issued by the issuing CA, `id-kp-OCSPSigning`, `digitalSignature`, and
    /// `id-pkix-ocsp-nocheck` (clients do not check its own status), valid from
    /// `not_before` to `not_after` (keep it short; roll it over before it ends). DER. The
    /// caller records it before use, as every certificate.
    pub fn ocsp_responder_certificate<R: rand::CryptoRng + ?Sized>(
        &self,
        signer: Arc<dyn Signer>,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        rng: &mut R,
    ) -> Result<Vec<u8>, OcspError> {
        use rcgen::{
            CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyUsagePurpose, SerialNumber,
        };
        let (_, issuing) = X509Certificate::from_der(self.issuing_der())
            .map_err(|_| OcspError::BadCertificate("issuing CA"))?;
        let mut dn = DistinguishedName::new();
        let text = |attr: Option<&x509_parser::x509::AttributeTypeAndValue<'_>>| {
            attr.and_then(|a| a.as_str().ok()).map(str::to_owned)
        };
        if let Some(country) = text(issuing.subject().iter_country().next()) {
            dn.push(DnType::CountryName, country);
        }
        if let Some(org) = text(issuing.subject().iter_organization().next()) {
            dn.push(DnType::OrganizationName, org);
        }
        let ca_name = text(issuing.subject().iter_common_name().next()).unwrap_or_default();
        dn.push(DnType::CommonName, format!("{ca_name} OCSP"));
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(&crate::serial::random_serial(rng)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        params.use_authority_key_identifier_extension = true;
        // id-pkix-ocsp-nocheck ::= NULL (RFC 6960 §4.2.2.2.1).
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
            vec![0x05, 0x00],
        )];
        params.not_before = not_before;
        params.not_after = not_after.min(self.not_after());
        let key = crate::SignerKey::new(signer).map_err(|e| OcspError::Sign(e.to_string()))?;
        let cert = params
            .signed_by(&key, self.issuer())
            .map_err(|e| OcspError::Encode(e.to_string()))?;
        Ok(cert.der().to_vec())
    }
}
