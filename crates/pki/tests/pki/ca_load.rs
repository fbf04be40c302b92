//! Creating and loading a CA: wrong, corrupt or mismatched key files and certificates are
//! refused with a clear error.

use std::sync::Arc;

use eid_pki::{
    CaError, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings, SettingsError,
    Signer, SignerError, create_ca,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::harness::*;

fn load(root: &str, issuing: &str, key_pem: &str) -> Result<CertificateAuthority, CaError> {
    let signer = FileSigner::from_pkcs8_pem(key_pem)?;
    CertificateAuthority::load(root, issuing, Arc::new(signer), settings())
}

#[test]
fn a_created_ca_loads_with_its_issuing_key_only() {
    let mut rng = StdRng::seed_from_u64(1);
    let a = create_ca(&names(), KeyAlgorithm::P256, ca_time(), &mut rng).unwrap();
    let b = create_ca(&names(), KeyAlgorithm::P256, ca_time(), &mut rng).unwrap();
    let ca = load(&a.root_cert_pem, &a.issuing_cert_pem, &a.issuing_key_pem).unwrap();
    assert_eq!(ca.algorithm(), KeyAlgorithm::P256);
    assert_eq!(ca.not_before(), ca_time());
    assert_eq!(ca.root_pem(), a.root_cert_pem);
    assert_eq!(ca.issuing_pem(), a.issuing_cert_pem);
    assert!(!format!("{a:?}").contains("PRIVATE"));

    // The root's key is the wrong key file.
    let err = load(&a.root_cert_pem, &a.issuing_cert_pem, &a.root_key_pem).unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch), "{err}");
    assert!(
        err.to_string()
            .contains("does not belong to the issuing CA")
    );
    // Another CA's issuing key.
    let err = load(&a.root_cert_pem, &a.issuing_cert_pem, &b.issuing_key_pem).unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch), "{err}");
    // An RSA key for a P-256 certificate.
    let rsa = FileSigner::generate(KeyAlgorithm::Rsa2048).unwrap();
    let err = load(
        &a.root_cert_pem,
        &a.issuing_cert_pem,
        &rsa.to_pkcs8_pem().unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch), "{err}");

    // The issuing CA of another root.
    let err = load(&b.root_cert_pem, &a.issuing_cert_pem, &a.issuing_key_pem).unwrap_err();
    assert!(matches!(err, CaError::NotChained), "{err}");
    // Root and issuing swapped.
    let err = load(&a.issuing_cert_pem, &a.root_cert_pem, &a.root_key_pem).unwrap_err();
    assert!(matches!(err, CaError::RootNotSelfSigned), "{err}");
}

#[test]
fn wrong_or_corrupt_files_get_clear_errors() {
    let mut rng = StdRng::seed_from_u64(2);
    let a = create_ca(&names(), KeyAlgorithm::P256, ca_time(), &mut rng).unwrap();

    // A certificate given as the key file.
    let err = load(&a.root_cert_pem, &a.issuing_cert_pem, &a.root_cert_pem).unwrap_err();
    assert!(
        matches!(err, CaError::Signer(SignerError::WrongPemLabel(_))),
        "{err}"
    );
    assert!(err.to_string().contains("not a `PRIVATE KEY`"), "{err}");
    // A corrupt key file: base64 intact, DER damaged.
    let mut der = pem::parse(a.issuing_key_pem.as_str())
        .unwrap()
        .into_contents();
    let mid = der.len() / 2;
    der.truncate(mid);
    let corrupt = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
    let err = load(&a.root_cert_pem, &a.issuing_cert_pem, &corrupt).unwrap_err();
    assert!(
        matches!(err, CaError::Signer(SignerError::Corrupt)),
        "{err}"
    );
    // Text that is not PEM at all.
    let err = load(&a.root_cert_pem, &a.issuing_cert_pem, "hello").unwrap_err();
    assert!(
        matches!(err, CaError::Signer(SignerError::NotPem(_))),
        "{err}"
    );
    // A key given as a certificate.
    let err = load(&a.issuing_key_pem, &a.issuing_cert_pem, &a.issuing_key_pem).unwrap_err();
    assert!(
        matches!(err, CaError::NotPem { which: "root", .. }),
        "{err}"
    );
    // A leaf-like (non-CA) certificate as the root: make one with rcgen.
    let leaf = rcgen::generate_simple_self_signed(vec!["x.example".into()]).unwrap();
    let err = load(&leaf.cert.pem(), &a.issuing_cert_pem, &a.issuing_key_pem).unwrap_err();
    assert!(
        matches!(err, CaError::NotACa { which: "root", .. }),
        "{err}"
    );
    // Two certificates in one file.
    let two = format!("{}{}", a.root_cert_pem, a.issuing_cert_pem);
    let err = load(&two, &a.issuing_cert_pem, &a.issuing_key_pem).unwrap_err();
    assert!(
        err.to_string().contains("expected one certificate"),
        "{err}"
    );
}

#[test]
fn bad_settings_and_names_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = create_ca(&names(), KeyAlgorithm::P256, ca_time(), &mut rng).unwrap();
    let signer: Arc<dyn Signer> = Arc::new(FileSigner::from_pkcs8_pem(&a.issuing_key_pem).unwrap());
    let mut s = ProfileSettings::new("ldap://x/crl", OCSP_URL);
    let err = CertificateAuthority::load(
        &a.root_cert_pem,
        &a.issuing_cert_pem,
        signer.clone(),
        s.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            CaError::Settings(SettingsError::Url {
                setting: "crl_url",
                ..
            })
        ),
        "{err}"
    );
    s.crl_url = CRL_URL.into();
    s.authentication_policy = "not.an.oid".into();
    let err =
        CertificateAuthority::load(&a.root_cert_pem, &a.issuing_cert_pem, signer, s).unwrap_err();
    assert!(err.to_string().contains("authentication_policy"), "{err}");

    let mut n = names();
    n.country = "Sweden".into();
    let err = create_ca(&n, KeyAlgorithm::P256, ca_time(), &mut rng).unwrap_err();
    assert!(err.to_string().contains("country"), "{err}");
}

#[test]
fn rsa_cas_round_trip() {
    let mut rng = StdRng::seed_from_u64(4);
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072] {
        let a = create_ca(&names(), alg, ca_time(), &mut rng).unwrap();
        let ca = load(&a.root_cert_pem, &a.issuing_cert_pem, &a.issuing_key_pem).unwrap();
        assert_eq!(ca.algorithm(), alg);
    }
}
