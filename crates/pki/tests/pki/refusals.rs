//! Bad input and refused requests: each gets its clear error and changes nothing.

use eid_pki::{Csr, CsrError, IssueError, KeyAlgorithm, Profile};

use crate::harness::*;

#[tokio::test]
async fn broken_csrs_are_refused_before_the_store() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    let before = fx.snapshot().await;
    for kind in [KeyKind::P256, KeyKind::Rsa2048] {
        let der = csr_der(&key(kind));

        // A flipped byte of the signature: no proof of possession.
        let mut bad = der.clone();
        let at = bad.len() - 5;
        bad[at] ^= 0x40;
        let err = Csr::from_der(&bad).unwrap_err();
        assert_eq!(err, CsrError::BadSignature);
        assert!(err.to_string().contains("proof of possession"));

        // A flipped byte of the signed data (here: the public key).
        let mut bad = der.clone();
        bad[40] ^= 0x01;
        assert!(Csr::from_der(&bad).is_err());

        // Truncated anywhere.
        for cut in (0..der.len()).step_by(7) {
            let err = Csr::from_der(&der[..cut]).unwrap_err();
            assert!(matches!(err, CsrError::Malformed(_)), "cut {cut}: {err}");
        }

        // Trailing garbage, DER and PEM.
        let mut long = der.clone();
        long.extend_from_slice(b"garbage");
        let err = Csr::from_der(&long).unwrap_err();
        assert_eq!(err, CsrError::TrailingBytes(7));
        assert!(err.to_string().contains("7 unexpected bytes"));
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", long));
        assert_eq!(Csr::from_pem(&pem).unwrap_err(), CsrError::TrailingBytes(7));
    }
    assert!(matches!(Csr::from_der(&[]), Err(CsrError::Malformed(_))));
    assert!(matches!(Csr::from_pem(""), Err(CsrError::NotPem(_))));
    assert_eq!(fx.snapshot().await, before);
}

#[tokio::test]
async fn subject_injected_through_the_csr_is_ignored() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    // The CSR says CN=Mallory, O=Evil, C=XX, SAN evil.example and CA:TRUE.
    let issued = fx
        .issue(
            BO,
            BO_CARD,
            Profile::Authentication,
            &new_csr(KeyKind::P256),
            false,
            now(),
        )
        .await
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.record.der).unwrap();
    assert_eq!(
        cert.subject().to_string(),
        "C=SE, O=Region Exempel, CN=Bo Björk, givenName=Bo, surname=Björk, \
         serialNumber=SE2321000016-bo"
    );
    assert!(cert.subject_alternative_name().unwrap().is_none());
    assert!(cert.basic_constraints().unwrap().is_none());
}

/// Asserts a refusal and that the store did not change.
async fn refused(
    fx: &mut Fixture,
    hsa_id: &str,
    card: &str,
    profile: Profile,
    csr: &Csr,
    want: fn(&IssueError) -> bool,
    words: &str,
) {
    let before = fx.snapshot().await;
    let err = fx
        .issue(hsa_id, card, profile, csr, false, now())
        .await
        .unwrap_err();
    assert!(want(&err), "unexpected error: {err:?}");
    assert!(
        err.to_string().contains(words),
        "message `{err}` lacks `{words}`"
    );
    assert_eq!(
        fx.snapshot().await,
        before,
        "store changed by a refusal: {err}"
    );
}

#[tokio::test]
async fn a_public_key_is_certified_once() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let auth_csr = new_csr(KeyKind::P256);
    let auth = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Authentication,
            &auth_csr,
            false,
            now(),
        )
        .await
        .unwrap();

    // The card's authentication key as signing key: its own message.
    refused(
        &mut fx,
        ANNA,
        ANNA_CARD,
        Profile::Signing,
        &auth_csr,
        |e| matches!(e, IssueError::KeyIsAuthenticationKey),
        "card's authentication key",
    )
    .await;
    // The same key again as an authentication key.
    refused(
        &mut fx,
        ANNA,
        ANNA_CARD,
        Profile::Authentication,
        &auth_csr,
        |e| matches!(e, IssueError::KeyAlreadyCertified { serial: Some(_) }),
        &auth.record.serial.to_string(),
    )
    .await;
    // The same key for another person, even through a fresh CSR of the same key.
    let sign_key = key(KeyKind::P256);
    fx.issue(
        ANNA,
        ANNA_CARD,
        Profile::Signing,
        &csr(&sign_key),
        false,
        now(),
    )
    .await
    .unwrap();
    refused(
        &mut fx,
        BO,
        BO_CARD,
        Profile::Authentication,
        &csr(&sign_key),
        |e| matches!(e, IssueError::KeyAlreadyCertified { .. }),
        "already certified",
    )
    .await;
}

#[tokio::test]
async fn persons_and_cards_are_checked() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let csr = new_csr(KeyKind::P256);
    refused(
        &mut fx,
        "SE2321000016-nobody",
        ANNA_CARD,
        Profile::Authentication,
        &csr,
        |e| matches!(e, IssueError::UnknownPerson(_)),
        "no person with HSA-id SE2321000016-nobody",
    )
    .await;
    refused(
        &mut fx,
        ANNA,
        "0000",
        Profile::Authentication,
        &csr,
        |e| matches!(e, IssueError::UnknownCard(_)),
        "no card with number 0000",
    )
    .await;
    refused(
        &mut fx,
        ANNA,
        BO_CARD,
        Profile::Authentication,
        &csr,
        |e| matches!(e, IssueError::CardOfAnotherPerson { .. }),
        "does not belong to SE2321000016-anna",
    )
    .await;
    refused(
        &mut fx,
        ANNA,
        ANNA_REVOKED_CARD,
        Profile::Authentication,
        &csr,
        |e| matches!(e, IssueError::CardNotUsable { .. }),
        "is revoked",
    )
    .await;
    refused(
        &mut fx,
        DORA,
        DORA_CARD,
        Profile::Authentication,
        &csr,
        |e| matches!(e, IssueError::PersonInactive(_)),
        "not active",
    )
    .await;
}

#[tokio::test]
async fn signing_follows_the_organisations_decision() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    for (hsa_id, card) in [(BO, BO_CARD), (CARL, CARL_CARD)] {
        fx.issue(
            hsa_id,
            card,
            Profile::Authentication,
            &new_csr(KeyKind::P256),
            false,
            now(),
        )
        .await
        .unwrap();
    }
    // Carl is entitled, but his organisation has signing disabled.
    refused(
        &mut fx,
        CARL,
        CARL_CARD,
        Profile::Signing,
        &new_csr(KeyKind::P256),
        |e| matches!(e, IssueError::SigningDisabled { .. }),
        "Vård AB has not enabled signing certificates",
    )
    .await;
    // Bo's organisation allows it, but he is not entitled.
    refused(
        &mut fx,
        BO,
        BO_CARD,
        Profile::Signing,
        &new_csr(KeyKind::P256),
        |e| matches!(e, IssueError::NotEntitled { .. }),
        "not entitled",
    )
    .await;
    // Anna is entitled but has no authentication certificate yet.
    refused(
        &mut fx,
        ANNA,
        ANNA_CARD,
        Profile::Signing,
        &new_csr(KeyKind::P256),
        |e| matches!(e, IssueError::NoAuthenticationCertificate { .. }),
        "no valid authentication certificate",
    )
    .await;
}
