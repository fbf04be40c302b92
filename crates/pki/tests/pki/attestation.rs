//! The attestation certificate of a card's slot F9 key: parsed back in full, verified by
//! OpenSSL, and refused (changing nothing) for unknown or unusable cards, taken keys and
//! keys that are not EC P-256.

use std::sync::Arc;

use eid_pki::settings::{
    DEFAULT_ATTESTATION_POLICY, DEFAULT_AUTHENTICATION_POLICY, DEFAULT_SIGNING_POLICY,
    DEFAULT_VIRTUAL_CARD_POLICY,
};
use eid_pki::{
    CertificateAuthority, FileSigner, IssueError, Issued, KeyAlgorithm, Profile, issue,
    issue_attestation,
};
use eid_store::{AuditEvent, CardState, CertKind, CertStatus, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rcgen::{KeyPair, PublicKeyData};
use time::{Duration, OffsetDateTime};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::harness::*;
use crate::openssl::Leaf;
use crate::profiles::{issuing_ski, oid_content};

/// Certifies `spki` as the attestation key of `card`, with the fixture's CA and RNG.
async fn attest(
    fx: &mut Fixture,
    card: &str,
    spki: &[u8],
    now: OffsetDateTime,
) -> Result<Issued, IssueError> {
    let ca = fx.ca.clone();
    attest_with(&ca, fx, card, spki, now).await
}

/// The same with another CA over the fixture's store.
async fn attest_with(
    ca: &CertificateAuthority,
    fx: &mut Fixture,
    card: &str,
    spki: &[u8],
    now: OffsetDateTime,
) -> Result<Issued, IssueError> {
    issue_attestation(
        ca,
        fx.store.as_ref(),
        card,
        spki,
        "admin:test",
        now,
        &mut fx.rng,
    )
    .await
}

/// The SubjectPublicKeyInfo DER of a key, as a card's GENERATE response yields it.
fn spki(key: &KeyPair) -> Vec<u8> {
    key.subject_public_key_info()
}

/// Asserts everything about an attestation certificate for `card`'s key `key_spki`.
async fn check(
    fx: &Fixture,
    issued: &Issued,
    card: &str,
    key_spki: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) {
    let der = &issued.record.der;
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(cert.version(), X509Version::V3);

    // Signed by the issuing CA, over the card's key.
    let (_, ca) = X509Certificate::from_der(fx.ca.issuing_der()).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
    assert_eq!(cert.public_key().raw, key_spki);

    // Serial: positive, more than 64 bits, the record's.
    assert!(cert.raw_serial()[0] & 0x80 == 0, "negative serial");
    assert!(cert.serial.bits() > 64);
    assert_eq!(issued.record.serial.as_bytes(), cert.raw_serial());

    // Subject: the card, in order, with the right string types.
    let subject: Vec<(String, Tag, String)> = cert
        .subject()
        .iter()
        .map(|rdn| {
            assert_eq!(rdn.iter().count(), 1, "multi-valued RDN");
            let attr = rdn.iter().next().unwrap();
            (
                attr.attr_type().to_id_string(),
                attr.attr_value().header.tag(),
                attr.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        subject,
        vec![
            ("2.5.4.6".into(), Tag::PrintableString, "SE".into()),
            ("2.5.4.10".into(), Tag::Utf8String, ORG_NAME.into()),
            (
                "2.5.4.3".into(),
                Tag::Utf8String,
                format!("Card {card} attestation")
            ),
            ("2.5.4.5".into(), Tag::PrintableString, card.into()),
        ]
    );

    // Validity.
    assert_eq!(cert.validity().not_before.to_datetime(), not_before);
    assert_eq!(cert.validity().not_after.to_datetime(), not_after);
    assert!(not_after <= fx.ca.not_after());

    // Extensions: exactly these, with these criticalities; no EKU, no basicConstraints.
    let mut seen: Vec<(String, bool)> = cert
        .extensions()
        .iter()
        .map(|x| (x.oid.to_id_string(), x.critical))
        .collect();
    seen.sort();
    let mut want = vec![
        ("2.5.29.35".to_string(), false),    // authorityKeyIdentifier
        ("2.5.29.15".into(), true),          // keyUsage
        ("2.5.29.31".into(), false),         // cRLDistributionPoints
        ("2.5.29.14".into(), false),         // subjectKeyIdentifier
        ("2.5.29.32".into(), false),         // certificatePolicies
        ("1.3.6.1.5.5.7.1.1".into(), false), // authorityInfoAccess
    ];
    want.sort();
    assert_eq!(seen, want, "extensions");
    assert!(cert.basic_constraints().unwrap().is_none());
    assert!(cert.extended_key_usage().unwrap().is_none());
    assert!(cert.subject_alternative_name().unwrap().is_none());

    let mut found = 0;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => {
                assert!(ext.critical);
                assert_eq!(ku.flags, 1, "digitalSignature only");
                found += 1;
            }
            ParsedExtension::CertificatePolicies(policies) => {
                assert!(!ext.critical);
                let ids: Vec<&[u8]> = policies.iter().map(|p| p.policy_id.as_bytes()).collect();
                assert_eq!(
                    ids,
                    vec![oid_content(DEFAULT_ATTESTATION_POLICY).as_slice()],
                    "the attestation policy only"
                );
                assert!(policies[0].policy_qualifiers.is_none());
                found += 1;
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                assert!(!ext.critical);
                assert_eq!(points.len(), 1);
                assert_eq!(
                    points[0].distribution_point,
                    Some(DistributionPointName::FullName(vec![GeneralName::URI(
                        CRL_URL
                    )]))
                );
                assert!(points[0].reasons.is_none() && points[0].crl_issuer.is_none());
                found += 1;
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                assert!(!ext.critical);
                let descs: Vec<_> = aia
                    .iter()
                    .map(|d| (d.access_method.clone(), d.access_location.clone()))
                    .collect();
                assert_eq!(
                    descs,
                    vec![
                        (OID_PKIX_ACCESS_DESCRIPTOR_OCSP, GeneralName::URI(OCSP_URL)),
                        (
                            OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS,
                            GeneralName::URI(CA_ISSUERS_URL)
                        ),
                    ]
                );
                found += 1;
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                assert!(!ext.critical);
                assert_eq!(aki.key_identifier.as_ref().unwrap().0, issuing_ski(fx));
                assert!(aki.authority_cert_issuer.is_none());
                assert!(aki.authority_cert_serial.is_none());
                found += 1;
            }
            ParsedExtension::SubjectKeyIdentifier(ki) => {
                assert!(!ext.critical);
                let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_spki);
                assert_eq!(ki.0, &sha.as_ref()[..20]);
                found += 1;
            }
            other => panic!("unexpected extension {other:?}"),
        }
    }
    assert_eq!(found, 6);

    // The record as committed: the card's, no person's; and its audit entry.
    let r = &issued.record;
    assert_eq!(r.kind, CertKind::Attestation);
    assert_eq!(r.card_number.as_deref(), Some(card));
    assert_eq!(r.hsa_id, None);
    assert_eq!(r.status, CertStatus::Valid);
    assert_eq!((r.not_before, r.not_after), (not_before, not_after));
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_spki);
    assert_eq!(r.public_key_sha256.as_slice(), sha.as_ref());
    assert_eq!(
        fx.store.certificate(&r.serial).await.unwrap().as_ref(),
        Some(r)
    );
    assert_eq!(
        fx.store
            .certificate_by_public_key(&r.public_key_sha256)
            .await
            .unwrap()
            .as_ref(),
        Some(r)
    );
    assert!(
        fx.store
            .certificates_of_card(card)
            .await
            .unwrap()
            .contains(r)
    );
    assert_eq!(
        pem::parse(&issued.pem).unwrap().contents(),
        r.der.as_slice()
    );
    let entries = fx.store.audit_entries(0, 100_000).await.unwrap();
    let entry = entries
        .iter()
        .rev()
        .find(|en| en.event.subject == r.serial.to_string())
        .expect("audit entry");
    assert_eq!(entry.event.action, "certificate.issue");
    assert_eq!(entry.event.actor, "admin:test");
    assert_eq!(entry.event.at, now());
    assert_eq!(
        entry.event.details,
        serde_json::json!({"kind": "attestation", "card": card})
    );
}

/// `openssl verify -x509_strict` of the chain; only a relying party that asks for the
/// attestation policy accepts it under an explicit policy.
fn verify_with_openssl(fx: &Fixture, issued: &Issued, card: &str) {
    let leaf = Leaf::new(fx, issued);
    let (ok, out) = leaf.verify(&[]);
    assert!(ok && out.contains(": OK"), "openssl verify: {out}");
    let (ok, out) = leaf.verify(&["-policy", DEFAULT_ATTESTATION_POLICY, "-explicit_policy"]);
    assert!(ok, "explicit attestation policy: {out}");
    for other in [
        DEFAULT_AUTHENTICATION_POLICY,
        DEFAULT_SIGNING_POLICY,
        DEFAULT_VIRTUAL_CARD_POLICY,
    ] {
        let (ok, out) = leaf.verify(&["-policy", other, "-explicit_policy"]);
        assert!(!ok, "accepted under policy {other}: {out}");
    }

    let text = leaf.text();
    assert!(
        text.contains(&format!("Policy: {DEFAULT_ATTESTATION_POLICY}")),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(text.contains(&format!("OCSP - URI:{OCSP_URL}")), "{text}");
    assert!(
        text.contains(&format!("CA Issuers - URI:{CA_ISSUERS_URL}")),
        "{text}"
    );
    assert!(text.contains(&format!("URI:{CRL_URL}")), "{text}");
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert!(
        !text.contains("Extended Key Usage") && !text.contains("Basic Constraints"),
        "{text}"
    );
    let (ok, subject) = run(
        fx.dir.path(),
        "openssl",
        &[
            "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", &leaf.file,
        ],
    );
    assert!(ok, "{subject}");
    assert_eq!(
        subject.trim(),
        format!("subject=serialNumber={card},CN=Card {card} attestation,O={ORG_NAME},C=SE")
    );
}

async fn attestation_in_full(ca_alg: KeyAlgorithm) {
    let mut fx = Fixture::new(ca_alg).await;
    let key = key(KeyKind::P256);
    let before = fx.snapshot().await;
    let issued = attest(&mut fx, ANNA_CARD, &spki(&key), now())
        .await
        .unwrap();
    // Ten years from March 2026 outlive the issuing CA (to 2036-01-01): its end bounds it.
    let whole = now().replace_nanosecond(0).unwrap();
    assert!(whole + Duration::days(3650) > fx.ca.not_after());
    check(
        &fx,
        &issued,
        ANNA_CARD,
        &spki(&key),
        whole,
        fx.ca.not_after(),
    )
    .await;
    verify_with_openssl(&fx, &issued, ANNA_CARD);

    // Exactly one certificate and one audit entry more.
    let after = fx.snapshot().await;
    assert_eq!(after.certificates.len(), before.certificates.len() + 1);
    assert_eq!(after.audit_entries, before.audit_entries + 1);

    // The key's identity is the one a CSR of the same key would have.
    assert_eq!(
        csr(&key).spki_sha256(),
        &issued.record.public_key_sha256,
        "a bare key and a CSR of it are one key"
    );
}

#[tokio::test]
async fn p256_ca_attests_a_card_key() {
    attestation_in_full(KeyAlgorithm::P256).await;
}

#[tokio::test]
async fn rsa_ca_attests_a_card_key() {
    attestation_in_full(KeyAlgorithm::Rsa2048).await;
}

#[tokio::test]
async fn the_attestation_validity_setting_is_used() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let mut s = settings();
    s.attestation_validity = Duration::days(365);
    let ca = CertificateAuthority::load(
        &fx.new_ca.root_cert_pem,
        &fx.new_ca.issuing_cert_pem,
        Arc::new(FileSigner::from_pkcs8_pem(&fx.new_ca.issuing_key_pem).unwrap()),
        s,
    )
    .unwrap();
    let key = key(KeyKind::P256);
    let issued = attest_with(&ca, &mut fx, BO_CARD, &spki(&key), now())
        .await
        .unwrap();
    let whole = now().replace_nanosecond(0).unwrap();
    check(
        &fx,
        &issued,
        BO_CARD,
        &spki(&key),
        whole,
        whole + Duration::days(365),
    )
    .await;
    verify_with_openssl(&fx, &issued, BO_CARD);
}

/// Asserts a refusal and that the store did not change.
async fn refused(
    fx: &mut Fixture,
    card: &str,
    key_spki: &[u8],
    want: fn(&IssueError) -> bool,
    words: &[&str],
) -> IssueError {
    let before = fx.snapshot().await;
    let err = attest(fx, card, key_spki, now()).await.unwrap_err();
    assert!(want(&err), "unexpected error: {err:?}");
    for w in words {
        assert!(err.to_string().contains(w), "message `{err}` lacks `{w}`");
    }
    assert_eq!(
        fx.snapshot().await,
        before,
        "store changed by a refusal: {err}"
    );
    err
}

#[tokio::test]
async fn unknown_revoked_and_dead_cards_are_refused() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let key = spki(&key(KeyKind::P256));
    refused(
        &mut fx,
        "9752269000000099",
        &key,
        |e| matches!(e, IssueError::UnknownCard(_)),
        &["no card with number 9752269000000099"],
    )
    .await;
    refused(
        &mut fx,
        ANNA_REVOKED_CARD,
        &key,
        |e| matches!(e, IssueError::CardNotUsable { .. }),
        &["is revoked"],
    )
    .await;

    fx.store
        .set_card_state(
            CARL_CARD,
            CardState::Dead,
            &AuditEvent {
                at: now(),
                actor: "admin:test".into(),
                action: "card.state".into(),
                subject: CARL_CARD.into(),
                details: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    refused(
        &mut fx,
        CARL_CARD,
        &key,
        |e| matches!(e, IssueError::CardNotUsable { .. }),
        &["is dead"],
    )
    .await;

    // After the issuing CA's end, nothing is issued either.
    let before = fx.snapshot().await;
    let ca_end = fx.ca.not_after();
    let err = attest(&mut fx, ANNA_CARD, &key, ca_end).await.unwrap_err();
    assert!(matches!(err, IssueError::CaNotValid { .. }), "{err}");
    assert_eq!(fx.snapshot().await, before);

    // The refusals left nothing behind: a usable card gets the same key certified.
    attest(&mut fx, BO_CARD, &key, now()).await.unwrap();
}

#[tokio::test]
async fn a_key_that_is_certified_already_is_refused() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;

    // The card's authentication key offered as its attestation key.
    let auth_key = key(KeyKind::P256);
    let auth = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Authentication,
            &csr(&auth_key),
            false,
            now(),
        )
        .await
        .unwrap();
    let err = refused(
        &mut fx,
        ANNA_CARD,
        &spki(&auth_key),
        |e| matches!(e, IssueError::KeyAlreadyCertified { serial: Some(_) }),
        &["already certified", "each certificate needs a new key"],
    )
    .await;
    assert!(
        err.to_string().contains(&auth.record.serial.to_string()),
        "{err}"
    );

    // An attestation key, again (on this or another card), or in a CSR for a person.
    let attestation_key = key(KeyKind::P256);
    let attested = attest(&mut fx, BO_CARD, &spki(&attestation_key), now())
        .await
        .unwrap();
    for card in [BO_CARD, CARL_CARD] {
        let err = refused(
            &mut fx,
            card,
            &spki(&attestation_key),
            |e| matches!(e, IssueError::KeyAlreadyCertified { serial: Some(_) }),
            &["already certified"],
        )
        .await;
        assert!(
            err.to_string()
                .contains(&attested.record.serial.to_string())
        );
    }
    let before = fx.snapshot().await;
    let err = fx
        .issue(
            BO,
            BO_CARD,
            Profile::Authentication,
            &csr(&attestation_key),
            false,
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, IssueError::KeyAlreadyCertified { serial: Some(_) }),
        "{err}"
    );
    assert_eq!(fx.snapshot().await, before);
}

#[tokio::test]
async fn keys_other_than_p256_and_garbage_are_refused() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let is_key_error = |e: &IssueError| matches!(e, IssueError::AttestationKey(_));

    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    refused(
        &mut fx,
        ANNA_CARD,
        &spki(&p384),
        is_key_error,
        &["EC P-384", "must be an EC P-256 public key"],
    )
    .await;
    refused(
        &mut fx,
        ANNA_CARD,
        &spki(&key(KeyKind::Rsa2048)),
        is_key_error,
        &["RSA-2048", "EC P-256"],
    )
    .await;
    let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    refused(
        &mut fx,
        ANNA_CARD,
        &spki(&ed25519),
        is_key_error,
        &["key algorithm 1.3.101.112"],
    )
    .await;

    let good = spki(&key(KeyKind::P256));
    // A point off the curve: there is no signature that would have caught it.
    let mut off_curve = good.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 0x01;
    refused(
        &mut fx,
        ANNA_CARD,
        &off_curve,
        is_key_error,
        &["not a valid EC P-256 public key"],
    )
    .await;
    // A compressed point (the certificate and the key's identity use the uncompressed one).
    let mut compressed = good[..good.len() - 65].to_vec();
    compressed[1] -= 32; // the outer SEQUENCE length
    let bit_string_len = compressed.len() - 2;
    compressed[bit_string_len] -= 32; // the BIT STRING length
    compressed.push(0x02 | (good[good.len() - 1] & 1));
    compressed.extend_from_slice(&good[good.len() - 64..good.len() - 32]);
    refused(
        &mut fx,
        ANNA_CARD,
        &compressed,
        is_key_error,
        &["not in uncompressed form"],
    )
    .await;
    // Truncated anywhere, followed by bytes, or not DER at all.
    for cut in (0..good.len()).step_by(9) {
        refused(
            &mut fx,
            ANNA_CARD,
            &good[..cut],
            is_key_error,
            &["EC P-256"],
        )
        .await;
    }
    let mut long = good.clone();
    long.extend_from_slice(b"xy");
    refused(
        &mut fx,
        ANNA_CARD,
        &long,
        is_key_error,
        &["2 unexpected bytes follow it"],
    )
    .await;
    refused(
        &mut fx,
        ANNA_CARD,
        b"garbage",
        is_key_error,
        &["not a DER SubjectPublicKeyInfo"],
    )
    .await;
    // A whole certificate request is not a bare key.
    refused(
        &mut fx,
        ANNA_CARD,
        &csr_der(&key(KeyKind::P256)),
        is_key_error,
        &["EC P-256"],
    )
    .await;

    // The key is checked before the card: garbage for an unknown card is a key error.
    refused(&mut fx, "0000", b"garbage", is_key_error, &[]).await;
}

/// Of an attestation and an authentication certificate for one key, issued at once,
/// exactly one is issued: the store's constraint decides, the loser gets the usual refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attestation_racing_a_person_for_one_key_loses_or_wins_cleanly() {
    let fx = Fixture::new(KeyAlgorithm::P256).await;
    for round in 0..10u64 {
        let key = key(KeyKind::P256);
        let before = fx.snapshot().await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));

        let (ca, store, b) = (fx.ca.clone(), fx.store.clone(), barrier.clone());
        let key_spki = spki(&key);
        let attestation = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(round * 2);
            b.wait().await;
            issue_attestation(
                &ca,
                store.as_ref(),
                BO_CARD,
                &key_spki,
                "admin:test",
                now(),
                &mut rng,
            )
            .await
        });
        let (ca, store, b) = (fx.ca.clone(), fx.store.clone(), barrier.clone());
        let req = eid_pki::IssueRequest {
            hsa_id: ANNA.into(),
            card_number: ANNA_CARD.into(),
            profile: Profile::Authentication,
            csr: csr(&key),
            virtual_card: false,
        };
        let authentication = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(round * 2 + 1);
            b.wait().await;
            issue(&ca, store.as_ref(), &req, "admin:test", now(), &mut rng).await
        });

        let mut ok = 0;
        for result in [attestation.await.unwrap(), authentication.await.unwrap()] {
            match result {
                Ok(_) => ok += 1,
                Err(IssueError::KeyAlreadyCertified { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
        let after = fx.snapshot().await;
        assert_eq!(after.certificates.len(), before.certificates.len() + 1);
        assert_eq!(after.audit_entries, before.audit_entries + 1);
    }
}
