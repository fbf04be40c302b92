//! The certificate authority of the eID platform: the CA key seam ([`Signer`]), the
//! creation and loading of a two-level CA ([`create_ca`], [`CertificateAuthority`]), the
//! certificate profiles modelled on SITHS ([`Profile`], [`ProfileSettings`]), checking of
//! untrusted certification requests ([`Csr`]) and the RA step that decides, signs and
//! records ([`issue()`] for a person's key, [`issue_attestation`] for a card's attestation
//! key).
//!
//! What this crate must never do:
//! - **take a subject from a CSR**: a certificate's subject always comes from the store
//!   (person, card and organisation); a request contributes its public key and nothing
//!   else;
//! - **return a certificate before it is committed**: end-entity certificates leave the
//!   crate only through [`issue()`] and [`issue_attestation`], after `Store::add_certificate`
//!   has recorded them with their audit entry; the signing primitive is crate-private;
//! - certify a public key twice, or read the clock or a global RNG: `now` and the RNG for
//!   serial numbers are arguments (key generation uses aws-lc-rs's system random source);
//! - log or print private keys: the [`FileSigner`] debug output shows only the key hash.
//!
//! All cryptography is aws-lc-rs; rcgen writes certificates, x509-parser reads them.
//! Design notes (profiles, the policy OID arc, virtual cards) are in the module docs of
//! [`profile`] and [`settings`].

mod algorithm;
mod asn1;
mod attestation;
mod ca;
mod card_keys;
mod crl;
mod csr;
mod enroll;
mod file_signer;
mod issue;
pub mod ocsp;
pub mod profile;
mod serial;
pub mod settings;
mod signer;
mod validate;

pub use algorithm::{KeyAlgorithm, UnknownKeyAlgorithm};
pub use attestation::{
    AttestationError, AttestedKey, KeyAttestation, VendorAttestationRoots, VendorRootsError,
    verify_signing_key_attestation,
};
pub use ca::{CaError, CaNames, CertificateAuthority, NewCa, create_ca};
pub use card_keys::{CardKeyError, CardMasterKey};
pub use crl::{CrlError, CrlSchedule, LiveCrl, RevokedEntry};
pub use csr::{Csr, CsrError, PublicKeyKind};
pub use enroll::{EnrollError, Enrolled, SigningEnrollment, enroll_signing_key};
pub use file_signer::FileSigner;
pub use issue::{IssueError, IssueRequest, Issued, issue, issue_attestation};
pub use profile::{Profile, SubjectError};
pub use settings::{ProfileSettings, SettingsError};
pub use signer::{Signer, SignerError, SignerKey};
pub use validate::{ValidAuthentication, ValidationError, validate_authentication_certificate};

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// PEM with Unix line endings (the pem crate defaults to CRLF).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
