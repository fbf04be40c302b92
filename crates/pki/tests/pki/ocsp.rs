//! The OCSP engine against OpenSSL's client: requests made by `openssl ocsp`, answered by
//! our responder, verified by `openssl ocsp` (signature by the delegated responder
//! certificate, its chain, the nonce, good / revoked with reason / unknown), and the error
//! statuses for requests the responder must not answer.

use std::sync::Arc;

use eid_pki::ocsp::{Responder, SerialStatus, error_response};
use eid_pki::{FileSigner, KeyAlgorithm, Signer};
use eid_store::RevocationReason;
use time::Duration;
use x509_ocsp::OcspResponseStatus;

use crate::harness::*;
use crate::openssl::Leaf;

fn responder(fx: &mut Fixture, alg: KeyAlgorithm) -> Responder {
    let key: Arc<dyn Signer> = Arc::new(FileSigner::generate(alg).unwrap());
    let t = now();
    let cert = fx
        .ca
        .ocsp_responder_certificate(key.clone(), t, t + Duration::days(30), &mut fx.rng)
        .unwrap();
    fx.write("responder.der", &cert);
    let (ok, out) = run(
        fx.dir.path(),
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "responder.der",
            "-noout",
            "-text",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("OCSP Signing") && out.contains("OCSP No Check"),
        "{out}"
    );
    Responder::new(fx.ca.issuing_der(), &cert, key).unwrap()
}

/// A request made by `openssl ocsp ARGS -reqout FILE`, as DER.
fn openssl_request(fx: &Fixture, args: &[&str], file: &str) -> Vec<u8> {
    let mut all = vec!["ocsp"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-reqout", file]);
    let (ok, out) = run(fx.dir.path(), "openssl", &all);
    assert!(ok, "{out}");
    std::fs::read(fx.dir.path().join(file)).unwrap()
}

#[tokio::test]
async fn openssl_accepts_good_revoked_and_unknown_answers_with_the_nonce() {
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let mut fx = Fixture::new(alg).await;
        let t = now();
        let good = fx.authentication(ANNA, ANNA_CARD, t).await;
        let revoked = fx.authentication(BO, BO_CARD, t).await;
        let responder = responder(&mut fx, alg);
        let good_leaf = Leaf::new(&fx, &good);
        let revoked_leaf = Leaf::new(&fx, &revoked);
        // Verified at the fixture's time: its certificates are dated then.
        let at = (t + Duration::hours(3)).unix_timestamp().to_string();
        let chain = format!("{}{}", fx.ca.root_pem(), fx.ca.issuing_pem());
        fx.write("chain.pem", chain);
        let request = openssl_request(
            &fx,
            &[
                "-issuer",
                "issuing.pem",
                "-cert",
                &good_leaf.file,
                "-cert",
                &revoked_leaf.file,
                "-serial",
                "0x0123456789",
            ],
            "req.der",
        );
        let checked = responder.check_request(&request).unwrap();
        let serials = checked.serials();
        assert_eq!(serials.len(), 3);
        assert_eq!(serials[0].as_ref(), Some(&good.record.serial));
        let statuses = [
            SerialStatus::Good,
            SerialStatus::Revoked {
                at: t + Duration::hours(1),
                reason: RevocationReason::KeyCompromise,
            },
            SerialStatus::Unknown,
        ];
        let der = responder
            .respond(
                &checked,
                &statuses,
                t + Duration::hours(2),
                t + Duration::hours(2),
                t + Duration::days(1),
            )
            .unwrap();
        fx.write("resp.der", &der);
        // The response to this request: signature, responder chain, nonce, statuses.
        let (ok, out) = run(
            fx.dir.path(),
            "openssl",
            &[
                "ocsp",
                "-reqin",
                "req.der",
                "-respin",
                "resp.der",
                "-CAfile",
                "chain.pem",
                "-validity_period",
                "100000000",
                "-attime",
                &at,
                "-resp_text",
            ],
        );
        assert!(ok, "{alg}: {out}");
        assert!(out.contains("Response verify OK"), "{alg}: {out}");
        assert!(out.contains("Cert Status: good"), "{out}");
        assert!(out.contains("Cert Status: revoked"), "{out}");
        assert!(out.contains("Revocation Reason: keyCompromise"), "{out}");
        assert!(out.contains("Cert Status: unknown"), "{out}");
        assert!(out.contains("OCSP Nonce"), "the nonce is echoed: {out}");
        // And per certificate, as a client asking about its files sees it.
        let (ok, out) = run(
            fx.dir.path(),
            "openssl",
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-CAfile",
                "chain.pem",
                "-issuer",
                "issuing.pem",
                "-cert",
                &good_leaf.file,
                "-cert",
                &revoked_leaf.file,
                "-serial",
                "0x0123456789",
                "-no_nonce",
                "-validity_period",
                "100000000",
                "-attime",
                &at,
            ],
        );
        assert!(ok, "{alg}: {out}");
        assert!(out.contains(&format!("{}: good", good_leaf.file)), "{out}");
        assert!(
            out.contains(&format!("{}: revoked", revoked_leaf.file)),
            "{out}"
        );
        assert!(out.contains("0x0123456789: unknown"), "{out}");

        // A response to another request's nonce is refused by OpenSSL.
        openssl_request(
            &fx,
            &["-issuer", "issuing.pem", "-cert", &good_leaf.file],
            "other.der",
        );
        let (ok, out) = run(
            fx.dir.path(),
            "openssl",
            &[
                "ocsp",
                "-reqin",
                "other.der",
                "-respin",
                "resp.der",
                "-CAfile",
                "chain.pem",
                "-issuer",
                "issuing.pem",
                "-cert",
                &good_leaf.file,
                "-validity_period",
                "100000000",
                "-attime",
                &at,
            ],
        );
        assert!(!ok || out.contains("nonce"), "{out}");
    }
}

#[tokio::test]
async fn bad_requests_get_the_rfc_error_statuses() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let t = now();
    let leaf = fx.authentication(ANNA, ANNA_CARD, t).await;
    let responder = responder(&mut fx, KeyAlgorithm::P256);
    let leaf = Leaf::new(&fx, &leaf);
    let request = openssl_request(
        &fx,
        &["-issuer", "issuing.pem", "-cert", &leaf.file],
        "req.der",
    );
    assert!(responder.check_request(&request).is_ok());

    // Truncated, empty, garbage: malformed.
    for bad in [&request[..request.len() / 2], &[][..], b"not DER at all"] {
        assert_eq!(
            responder.check_request(bad).unwrap_err(),
            OcspResponseStatus::MalformedRequest
        );
    }
    // Another issuer: unauthorized. (OpenSSL hashes the "issuer" it is given.)
    let other = openssl_request(
        &fx,
        &["-issuer", "root.pem", "-serial", "0x01"],
        "other-issuer.der",
    );
    assert_eq!(
        responder.check_request(&other).unwrap_err(),
        OcspResponseStatus::Unauthorized
    );
    // A CertID hashed with an algorithm the responder does not know: malformed.
    let sha512 = openssl_request(
        &fx,
        &["-issuer", "issuing.pem", "-sha512", "-cert", &leaf.file],
        "sha512.der",
    );
    assert_eq!(
        responder.check_request(&sha512).unwrap_err(),
        OcspResponseStatus::MalformedRequest
    );
    // SHA-256 CertIDs are answered.
    let sha256 = openssl_request(
        &fx,
        &["-issuer", "issuing.pem", "-sha256", "-cert", &leaf.file],
        "sha256.der",
    );
    assert!(responder.check_request(&sha256).is_ok());

    // The error responses parse as such for OpenSSL.
    fx.write(
        "malformed.der",
        error_response(OcspResponseStatus::MalformedRequest),
    );
    let (_, out) = run(
        fx.dir.path(),
        "openssl",
        &[
            "ocsp",
            "-respin",
            "malformed.der",
            "-resp_text",
            "-noverify",
        ],
    );
    assert!(out.contains("malformedrequest"), "{out}");
}
