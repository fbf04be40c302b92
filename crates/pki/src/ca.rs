//! The two-level CA: [`create_ca`] makes a root and an issuing CA (for a demo or a first
//! installation); [`CertificateAuthority::load`] checks and loads an existing issuing CA with
//! its key behind a [`Signer`].

use std::fmt;
use std::sync::Arc;

use rand::CryptoRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

use crate::csr::CanonicalKey;
use crate::profile::{Leaf, LeafExtensions};
use crate::serial::random_serial;
use crate::{
    FileSigner, KeyAlgorithm, ProfileSettings, SettingsError, Signer, SignerError, SignerKey,
};

/// Root CA validity in years.
const ROOT_YEARS: i32 = 20;
/// Issuing CA validity in years.
const ISSUING_YEARS: i32 = 10;

/// Names of a new CA pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaNames {
    /// Country, two upper-case letters (`SE`).
    pub country: String,
    /// Organisation running the CA (`O` of both CA certificates).
    pub organisation: String,
    /// Common name of the root CA.
    pub root_common_name: String,
    /// Common name of the issuing CA.
    pub issuing_common_name: String,
}

/// A freshly created root and issuing CA. The private keys are wiped from memory when this
/// is dropped; write them to files only the CA's user can read.
pub struct NewCa {
    /// The root CA certificate, PEM.
    pub root_cert_pem: String,
    /// The issuing CA certificate, PEM.
    pub issuing_cert_pem: String,
    /// The root CA's private key, unencrypted PKCS#8 PEM. Keep it offline.
    pub root_key_pem: Zeroizing<String>,
    /// The issuing CA's private key, unencrypted PKCS#8 PEM.
    pub issuing_key_pem: Zeroizing<String>,
}

impl fmt::Debug for NewCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCa")
            .field("root_cert_pem", &self.root_cert_pem)
            .field("issuing_cert_pem", &self.issuing_cert_pem)
            .finish_non_exhaustive()
    }
}

/// Why a CA could not be created or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The CA key could not be generated, read or used.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// A profile setting is wrong.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A CA name is empty or not encodable.
    #[error("CA name `{field}`: {reason}")]
    Name {
        /// Which name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A certificate file is not PEM with exactly one certificate.
    #[error("the {which} CA certificate is not a PEM certificate: {reason}")]
    NotPem {
        /// `root` or `issuing`.
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate does not parse.
    #[error("the {which} CA certificate is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// `root` or `issuing`.
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate is not a CA certificate (basicConstraints cA, keyUsage keyCertSign).
    #[error("the {which} CA certificate is not a CA certificate: {reason}")]
    NotACa {
        /// `root` or `issuing`.
        which: &'static str,
        /// What is missing.
        reason: &'static str,
    },
    /// The root certificate is not self-signed.
    #[error("the root CA certificate is not self-signed")]
    RootNotSelfSigned,
    /// The issuing CA certificate is not issued by the root certificate.
    #[error("the issuing CA certificate is not signed by the root CA certificate")]
    NotChained,
    /// The CA key is not the key of the issuing CA certificate.
    #[error(
        "the CA key does not belong to the issuing CA certificate (wrong key file or wrong \
         certificate)"
    )]
    KeyMismatch,
    /// The issuing CA's name uses multi-valued or empty RDNs, which this CA cannot copy.
    #[error("the issuing CA certificate's subject has an empty or multi-valued RDN; unsupported")]
    UnsupportedName,
    /// Building or signing a CA certificate failed.
    #[error("could not build the {which} CA certificate: {reason}")]
    Build {
        /// `root` or `issuing`.
        which: &'static str,
        /// What failed.
        reason: String,
    },
}

/// Creates a self-signed root CA (20 years) and an issuing CA signed by it (10 years), each
/// with a new key of `algorithm`. Serial numbers come from `rng`.
pub fn create_ca<R: CryptoRng + ?Sized>(
    names: &CaNames,
    algorithm: KeyAlgorithm,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<NewCa, CaError> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let root_signer = FileSigner::generate(algorithm)?;
    let root_key_pem = root_signer.to_pkcs8_pem()?;
    let issuing_signer = FileSigner::generate(algorithm)?;
    let issuing_key_pem = issuing_signer.to_pkcs8_pem()?;
    let root_key = SignerKey::new(Arc::new(root_signer))?;
    let issuing_key = SignerKey::new(Arc::new(issuing_signer))?;

    let mut root = ca_params(names, &names.root_common_name, rng)?;
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.not_before = now;
    root.not_after = add_years(now, ROOT_YEARS);
    let root_cert = root.self_signed(&root_key).map_err(|e| CaError::Build {
        which: "root",
        reason: e.to_string(),
    })?;

    let mut issuing = ca_params(names, &names.issuing_common_name, rng)?;
    issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    issuing.use_authority_key_identifier_extension = true;
    issuing.custom_extensions = vec![crate::profile::any_policy()];
    issuing.not_before = now;
    issuing.not_after = add_years(now, ISSUING_YEARS).min(root.not_after);
    let root_issuer = Issuer::new(root, &root_key);
    let issuing_cert =
        issuing
            .signed_by(&issuing_key, &root_issuer)
            .map_err(|e| CaError::Build {
                which: "issuing",
                reason: e.to_string(),
            })?;

    Ok(NewCa {
        root_cert_pem: root_cert.pem(),
        issuing_cert_pem: issuing_cert.pem(),
        root_key_pem,
        issuing_key_pem,
    })
}

/// Subject, serial and key usage shared by both CA certificates.
fn ca_params<R: CryptoRng + ?Sized>(
    names: &CaNames,
    common_name: &str,
    rng: &mut R,
) -> Result<CertificateParams, CaError> {
    let country = (names.country.len() == 2
        && names.country.bytes().all(|b| b.is_ascii_uppercase()))
    .then(|| rcgen::string::PrintableString::try_from(names.country.as_str()).ok())
    .flatten()
    .ok_or(CaError::Name {
        field: "country",
        reason: "must be two upper-case letters, like SE",
    })?;
    for (field, value) in [
        ("organisation", names.organisation.as_str()),
        ("root common name", names.root_common_name.as_str()),
        ("issuing common name", names.issuing_common_name.as_str()),
    ] {
        if value.trim().is_empty() {
            return Err(CaError::Name {
                field,
                reason: "must not be empty",
            });
        }
        if value.chars().count() > 64 {
            return Err(CaError::Name {
                field,
                reason: "must be at most 64 characters",
            });
        }
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, DnValue::PrintableString(country));
    dn.push(DnType::OrganizationName, names.organisation.as_str());
    dn.push(DnType::CommonName, common_name);
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial(rng)));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// `t` plus whole calendar years (29 February becomes 28 February).
fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    let year = t.year() + years;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t| t.replace_year(year)))
        .unwrap_or(t.saturating_add(Duration::days(365 * i64::from(years))))
}

/// A loaded issuing CA, ready to sign end-entity certificates. Cheap to share (`Arc`) and
/// safe to use from many tasks at once.
pub struct CertificateAuthority {
    root_der: Vec<u8>,
    root_pem: String,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    algorithm: KeyAlgorithm,
    settings: ProfileSettings,
    extensions: LeafExtensions,
    issuer: Issuer<'static, SignerKey>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("algorithm", &self.algorithm)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads an issuing CA: checks that the root is a self-signed CA certificate, that the
    /// issuing CA certificate is a CA certificate signed by the root, that `signer` holds the
    /// issuing CA's key, and that the settings are valid.
    pub fn load(
        root_cert_pem: &str,
        issuing_cert_pem: &str,
        signer: Arc<dyn Signer>,
        settings: ProfileSettings,
    ) -> Result<Self, CaError> {
        let checked = settings.checked()?;
        let root_der = pem_certificate("root", root_cert_pem)?;
        let issuing_der = pem_certificate("issuing", issuing_cert_pem)?;
        let root = parse_certificate("root", &root_der)?;
        let issuing = parse_certificate("issuing", &issuing_der)?;
        check_ca("root", &root)?;
        check_ca("issuing", &issuing)?;
        if root.subject().as_raw() != root.issuer().as_raw() || root.verify_signature(None).is_err()
        {
            return Err(CaError::RootNotSelfSigned);
        }
        if issuing.issuer().as_raw() != root.subject().as_raw()
            || issuing.verify_signature(Some(root.public_key())).is_err()
        {
            return Err(CaError::NotChained);
        }
        let key = SignerKey::new(signer.clone())?;
        let cert_key = issuing.public_key();
        if rcgen::PublicKeyData::der_bytes(&key) != cert_key.subject_public_key.data.as_ref()
            || rcgen::PublicKeyData::subject_public_key_info(&key) != cert_key.raw
        {
            return Err(CaError::KeyMismatch);
        }
        let simple_name = issuing.subject().iter().all(|rdn| rdn.iter().count() == 1);
        if !simple_name {
            return Err(CaError::UnsupportedName);
        }
        let not_before = issuing.validity().not_before.to_datetime();
        let not_after = issuing.validity().not_after.to_datetime();
        let issuer =
            Issuer::from_ca_cert_der(&issuing_der.as_slice().into(), key).map_err(|e| {
                CaError::BadCertificate {
                    which: "issuing",
                    reason: e.to_string(),
                }
            })?;
        Ok(Self {
            root_pem: to_pem(&root_der),
            issuing_pem: to_pem(&issuing_der),
            root_der,
            issuing_der,
            not_before,
            not_after,
            algorithm: signer.algorithm(),
            extensions: LeafExtensions::new(&settings, &checked),
            settings,
            issuer,
        })
    }

    /// The issuing CA as rcgen signs with it (certificates, CRLs).
    pub(crate) fn issuer(&self) -> &Issuer<'static, SignerKey> {
        &self.issuer
    }

    /// The root CA certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root CA certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The issuing CA certificate, DER.
    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    /// The issuing CA certificate, PEM.
    pub fn issuing_pem(&self) -> &str {
        &self.issuing_pem
    }

    /// Start of the issuing CA's validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the issuing CA's validity: no certificate it issues outlives it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The CA key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The profile settings in force.
    pub fn settings(&self) -> &ProfileSettings {
        &self.settings
    }

    /// Signs an end-entity certificate for `key`. Crate-private on purpose: a certificate
    /// leaves this crate only through [`crate::issue()`] or [`crate::issue_attestation`],
    /// after it is recorded.
    pub(crate) fn sign_leaf(
        &self,
        leaf: &Leaf<'_>,
        key: &CanonicalKey,
    ) -> Result<Vec<u8>, LeafError> {
        let params = leaf.params(&self.extensions)?;
        let cert = params
            .signed_by(key, &self.issuer)
            .map_err(|e| LeafError::Sign(e.to_string()))?;
        Ok(cert.der().to_vec())
    }
}

/// Why an end-entity certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeafError {
    #[error(transparent)]
    Subject(#[from] crate::SubjectError),
    #[error("{0}")]
    Sign(String),
}

fn pem_certificate(which: &'static str, text: &str) -> Result<Vec<u8>, CaError> {
    let blocks = pem::parse_many(text).map_err(|e| CaError::NotPem {
        which,
        reason: e.to_string(),
    })?;
    match blocks.as_slice() {
        [block] if block.tag() == "CERTIFICATE" => Ok(block.contents().to_vec()),
        [block] => Err(CaError::NotPem {
            which,
            reason: format!("found a `{}` block", block.tag()),
        }),
        _ => Err(CaError::NotPem {
            which,
            reason: format!(
                "expected one certificate, found {} PEM blocks",
                blocks.len()
            ),
        }),
    }
}

fn parse_certificate<'a>(
    which: &'static str,
    der: &'a [u8],
) -> Result<X509Certificate<'a>, CaError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CaError::BadCertificate {
        which,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CaError::BadCertificate {
            which,
            reason: "trailing bytes".into(),
        });
    }
    Ok(cert)
}

fn check_ca(which: &'static str, cert: &X509Certificate<'_>) -> Result<(), CaError> {
    let bad = |reason| Err(CaError::NotACa { which, reason });
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return bad("basicConstraints cA is not set"),
        Err(_) => return bad("its basicConstraints extension is malformed"),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => bad("keyUsage lacks keyCertSign"),
        Ok(_) => Ok(()),
        Err(_) => bad("its keyUsage extension is malformed"),
    }
}

fn to_pem(der: &[u8]) -> String {
    crate::pem_encode("CERTIFICATE", der)
}
