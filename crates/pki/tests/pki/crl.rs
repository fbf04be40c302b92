//! CRLs of the issuing CA, checked by OpenSSL: the signature, the fields RFC 5280 requires,
//! reason codes, and `openssl verify -crl_check` refusing the revoked certificate only.

use eid_pki::{CrlError, KeyAlgorithm, RevokedEntry};
use eid_store::RevocationReason;
use time::Duration;

use crate::harness::*;
use crate::openssl::Leaf;

#[tokio::test]
async fn openssl_verifies_the_crl_and_refuses_only_the_revoked_certificate() {
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let mut fx = Fixture::new(alg).await;
        let t = now();
        let revoked = fx.authentication(ANNA, ANNA_CARD, t).await;
        let good = fx.authentication(BO, BO_CARD, t).await;
        let entry = RevokedEntry {
            serial: revoked.record.serial.clone(),
            revoked_at: t + Duration::minutes(1),
            reason: RevocationReason::KeyCompromise,
        };
        let der = fx
            .ca
            .crl(
                &[entry],
                7,
                t + Duration::minutes(2),
                t + Duration::hours(26),
            )
            .unwrap();
        fx.write("crl.der", &der);
        let (ok, pem) = run(
            fx.dir.path(),
            "openssl",
            &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
        );
        assert!(ok, "{pem}");

        let revoked_leaf = Leaf::new(&fx, &revoked);
        let good_leaf = Leaf::new(&fx, &good);
        // The CRL's own signature, by the issuing CA.
        let (ok, text) = run(
            fx.dir.path(),
            "openssl",
            &[
                "crl",
                "-in",
                "crl.pem",
                "-CAfile",
                "issuing.pem",
                "-noout",
                "-text",
            ],
        );
        assert!(ok && text.contains("verify OK"), "{text}");
        assert!(
            text.contains("X509v3 CRL Number") && text.contains("7"),
            "{text}"
        );
        assert!(text.contains("Next Update"), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        let crl_check = ["-crl_check", "-CRLfile", "crl.pem"];
        let at = (t + Duration::minutes(3)).unix_timestamp().to_string();
        let verify = |leaf: &Leaf<'_>| {
            run(
                fx.dir.path(),
                "openssl",
                &[
                    "verify",
                    "-x509_strict",
                    "-attime",
                    &at,
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    crl_check[0],
                    crl_check[1],
                    crl_check[2],
                    &leaf.file,
                ],
            )
        };
        let (ok, out) = verify(&good_leaf);
        assert!(
            ok,
            "{alg}: the good certificate must verify with the CRL: {out}"
        );
        let (ok, out) = verify(&revoked_leaf);
        assert!(!ok && out.contains("certificate revoked"), "{alg}: {out}");
    }
}

#[tokio::test]
async fn an_empty_crl_is_valid_and_a_backwards_period_is_refused() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    let t = now();
    let der = fx.ca.crl(&[], 1, t, t + Duration::hours(1)).unwrap();
    fx.write("empty.der", &der);
    fx.write("issuing.pem", fx.ca.issuing_pem());
    let (ok, out) = run(
        fx.dir.path(),
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "empty.der",
            "-CAfile",
            "issuing.pem",
            "-noout",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
    assert!(matches!(
        fx.ca.crl(&[], 2, t, t),
        Err(CrlError::BadPeriod { .. })
    ));
}
