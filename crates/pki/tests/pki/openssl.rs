//! OpenSSL as an independent peer: it verifies our chains strictly, reads our policy OIDs,
//! and writes CSRs we must accept (or refuse).

use std::sync::atomic::{AtomicUsize, Ordering};

use eid_pki::settings::{
    DEFAULT_AUTHENTICATION_POLICY, DEFAULT_SIGNING_POLICY, DEFAULT_VIRTUAL_CARD_POLICY,
};
use eid_pki::{Csr, CsrError, Issued, KeyAlgorithm, Profile, PublicKeyKind};
use time::Duration;

use crate::harness::*;
use crate::profiles::{Expect, check};

static LEAVES: AtomicUsize = AtomicUsize::new(0);

/// An issued certificate written out for OpenSSL next to the CA certificates.
pub struct Leaf<'a> {
    fx: &'a Fixture,
    /// The certificate's file name in the fixture's folder.
    pub file: String,
    at: String,
}

impl<'a> Leaf<'a> {
    pub fn new(fx: &'a Fixture, issued: &Issued) -> Self {
        fx.write("root.pem", fx.ca.root_pem());
        fx.write("issuing.pem", fx.ca.issuing_pem());
        let file = format!("leaf-{}.pem", LEAVES.fetch_add(1, Ordering::Relaxed));
        fx.write(&file, &issued.pem);
        let at = issued.record.not_before.unix_timestamp().to_string();
        Self { fx, file, at }
    }

    /// `openssl verify -x509_strict` of root → issuing → leaf with `extra` options, at the
    /// certificate's issue time, so the test does not depend on the wall clock.
    pub fn verify(&self, extra: &[&str]) -> (bool, String) {
        let mut args = vec![
            "verify",
            "-x509_strict",
            "-attime",
            &self.at,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ];
        args.extend_from_slice(extra);
        args.push(&self.file);
        run(self.fx.dir.path(), "openssl", &args)
    }

    /// `openssl x509 -noout -text` of the leaf.
    pub fn text(&self) -> String {
        let (ok, text) = run(
            self.fx.dir.path(),
            "openssl",
            &["x509", "-noout", "-text", "-in", &self.file],
        );
        assert!(ok, "{text}");
        text
    }
}

/// `openssl verify -x509_strict` of root → issuing → leaf, with the purpose and the
/// certificate policy a relying party would require.
pub fn verify_chain(fx: &Fixture, issued: &Issued, profile: Profile, virtual_card: bool) {
    let leaf = Leaf::new(fx, issued);
    let verify = |extra: &[&str]| leaf.verify(extra);

    let (ok, out) = verify(&[]);
    assert!(ok && out.contains(": OK"), "openssl verify: {out}");
    if profile == Profile::Authentication {
        let (ok, out) = verify(&["-purpose", "sslclient"]);
        assert!(ok, "openssl verify -purpose sslclient: {out}");
    }

    // A relying party that requires the real-card policy accepts real-card certificates
    // only; the virtual-card policy is accepted only where it is asked for.
    let real = match profile {
        Profile::Authentication => DEFAULT_AUTHENTICATION_POLICY,
        _ => DEFAULT_SIGNING_POLICY,
    };
    let (ok, out) = verify(&["-policy", real, "-explicit_policy"]);
    assert_eq!(ok, !virtual_card, "explicit policy {real}: {out}");
    let (ok, out) = verify(&["-policy", DEFAULT_VIRTUAL_CARD_POLICY, "-explicit_policy"]);
    assert_eq!(ok, virtual_card, "explicit virtual policy: {out}");

    // OpenSSL's reading of the extensions.
    let text = leaf.text();
    let policy = if virtual_card {
        DEFAULT_VIRTUAL_CARD_POLICY
    } else {
        real
    };
    assert!(text.contains(&format!("Policy: {policy}")), "{text}");
    assert!(text.contains(&format!("OCSP - URI:{OCSP_URL}")), "{text}");
    assert!(text.contains(&format!("URI:{CRL_URL}")), "{text}");
    assert!(
        !text.contains("CA:TRUE") && !text.contains("Mallory"),
        "{text}"
    );
}

/// The CA certificates themselves, strictly: root self-signed, issuing under it.
#[tokio::test]
async fn ca_certificates_pass_strict_checks() {
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Rsa3072] {
        let fx = Fixture::new(alg).await;
        let dir = fx.dir.path();
        fx.write("root.pem", fx.ca.root_pem());
        fx.write("issuing.pem", fx.ca.issuing_pem());
        let at = ca_time().unix_timestamp().to_string();
        let (ok, out) = run(
            dir,
            "openssl",
            &[
                "verify",
                "-x509_strict",
                "-attime",
                &at,
                "-CAfile",
                "root.pem",
                "issuing.pem",
            ],
        );
        assert!(ok, "{alg}: {out}");
        let (ok, text) = run(
            dir,
            "openssl",
            &["x509", "-noout", "-text", "-in", "issuing.pem"],
        );
        assert!(ok);
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(text.contains("Policy: X509v3 Any Policy"), "{text}");
        let (_, text) = run(
            dir,
            "openssl",
            &["x509", "-noout", "-text", "-in", "root.pem"],
        );
        assert!(
            text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE\n"),
            "{text}"
        );
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    }
}

/// Makes a key and a CSR with `openssl req`, subject and extensions chosen by an attacker.
fn openssl_csr(fx: &Fixture, name: &str, newkey: &[&str], digest: &str) -> String {
    let key = format!("{name}.key");
    let req = format!("{name}.csr");
    let mut args = vec![
        "req", "-new", "-nodes", "-keyout", &key, "-out", &req, digest,
    ];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-subj",
        "/C=XX/O=Evil/CN=Mallory/serialNumber=SE2321000016-bo",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "subjectAltName=DNS:evil.example",
        "-addext",
        "extendedKeyUsage=serverAuth,codeSigning",
    ]);
    let (ok, out) = run(fx.dir.path(), "openssl", &args);
    assert!(ok, "openssl req: {out}");
    std::fs::read_to_string(fx.dir.path().join(req)).unwrap()
}

#[tokio::test]
async fn csrs_from_openssl_are_certified_with_the_stores_subject() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let cases: [(&str, &[&str], &str, PublicKeyKind); 3] = [
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "-sha256",
            PublicKeyKind::EcP256,
        ),
        (
            "p384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "-sha384",
            PublicKeyKind::EcP384,
        ),
        (
            "rsa",
            &["-newkey", "rsa:2048"],
            "-sha512",
            PublicKeyKind::Rsa { bits: 2048 },
        ),
    ];
    let mut t = now();
    for (name, newkey, digest, kind) in cases {
        let pem = openssl_csr(&fx, name, newkey, digest);
        let csr = Csr::from_pem(&pem).unwrap();
        assert_eq!(csr.key_kind(), kind);
        // Each on a fresh authentication certificate for Anna (keys differ, all accepted).
        let issued = fx
            .issue(ANNA, ANNA_CARD, Profile::Authentication, &csr, false, t)
            .await
            .unwrap();
        let whole = t.replace_nanosecond(0).unwrap();
        let expect = Expect {
            profile: Profile::Authentication,
            virtual_card: false,
            hsa_id: ANNA,
            given_name: "Anna",
            surname: "Andersson",
            organisation: ORG_NAME,
            card: ANNA_CARD,
            not_before: whole,
            not_after: whole + Duration::days(730),
        };
        check(&fx, &issued, &csr, &expect).await;
        verify_chain(&fx, &issued, Profile::Authentication, false);

        // The certificate holds the very key OpenSSL generated.
        let cert = fx.write(&format!("{name}.crt"), &issued.pem);
        let (_, from_cert) = run(
            fx.dir.path(),
            "openssl",
            &["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()],
        );
        let (_, from_key) = run(
            fx.dir.path(),
            "openssl",
            &["pkey", "-pubout", "-in", &format!("{name}.key")],
        );
        assert_eq!(from_cert, from_key);
        t += Duration::MINUTE;
    }
}

#[tokio::test]
async fn weak_or_foreign_keys_from_openssl_are_refused() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    let rsa1024 = openssl_csr(&fx, "rsa1024", &["-newkey", "rsa:1024"], "-sha256");
    let err = Csr::from_pem(&rsa1024).unwrap_err();
    assert_eq!(err, CsrError::UnsupportedKey("RSA-1024".into()));
    assert!(err.to_string().contains("RSA 2048"), "{err}");

    let ed = openssl_csr(&fx, "ed25519", &["-newkey", "ed25519"], "-sha256");
    assert!(matches!(
        Csr::from_pem(&ed),
        Err(CsrError::UnsupportedKey(_))
    ));

    let sha1 = openssl_csr(&fx, "sha1", &["-newkey", "rsa:2048"], "-sha1");
    assert!(matches!(
        Csr::from_pem(&sha1),
        Err(CsrError::UnsupportedSignatureAlgorithm(_))
    ));

    let p521 = openssl_csr(
        &fx,
        "p521",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "-sha512",
    );
    assert!(matches!(
        Csr::from_pem(&p521),
        Err(CsrError::UnsupportedKey(_))
    ));
}
