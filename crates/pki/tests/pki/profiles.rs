//! Issued certificates parsed back with x509-parser: every extension, the subject, the
//! validity, the serial, the record and the audit entry.

use eid_pki::settings::{
    DEFAULT_AUTHENTICATION_POLICY, DEFAULT_SIGNING_POLICY, DEFAULT_VIRTUAL_CARD_POLICY,
};
use eid_pki::{Csr, Issued, KeyAlgorithm, Profile};
use eid_store::{CertKind, CertStatus, Store};
use time::{Duration, OffsetDateTime};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::harness::*;

/// What a certificate must say.
pub struct Expect<'a> {
    pub profile: Profile,
    pub virtual_card: bool,
    pub hsa_id: &'a str,
    pub given_name: &'a str,
    pub surname: &'a str,
    pub organisation: &'a str,
    pub card: &'a str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// The DER content of a dotted OID (arcs up to u128), written here independently of the crate.
pub fn oid_content(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u128> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut out = Vec::new();
    for arc in std::iter::once(arcs[0] * 40 + arcs[1]).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

/// The subject key identifier of the issuing CA.
pub fn issuing_ski(fx: &Fixture) -> Vec<u8> {
    let (_, ca) = X509Certificate::from_der(fx.ca.issuing_der()).unwrap();
    for ext in ca.extensions() {
        if let ParsedExtension::SubjectKeyIdentifier(ki) = ext.parsed_extension() {
            return ki.0.to_vec();
        }
    }
    panic!("issuing CA without SKI");
}

/// Asserts everything about an issued certificate.
pub async fn check(fx: &Fixture, issued: &Issued, csr: &Csr, e: &Expect<'_>) {
    let der = &issued.record.der;
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(cert.version(), X509Version::V3);

    // Signed by the issuing CA, over the requested key, canonical SPKI.
    let (_, ca) = X509Certificate::from_der(fx.ca.issuing_der()).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
    assert_eq!(cert.public_key().raw, csr.spki_der());

    // Serial: positive, at least 64 bits, matches the record.
    let serial = cert.raw_serial();
    assert!(serial[0] & 0x80 == 0, "negative serial");
    assert!(
        cert.serial.bits() > 64,
        "serial has {} bits",
        cert.serial.bits()
    );
    assert_eq!(issued.record.serial.as_bytes(), serial);

    // Subject: from the store, in order, with the right string types.
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
    let cn = format!("{} {}", e.given_name, e.surname);
    let expected = vec![
        (
            "2.5.4.6".to_string(),
            Tag::PrintableString,
            "SE".to_string(),
        ),
        ("2.5.4.10".into(), Tag::Utf8String, e.organisation.into()),
        ("2.5.4.3".into(), Tag::Utf8String, cn),
        ("2.5.4.42".into(), Tag::Utf8String, e.given_name.into()),
        ("2.5.4.4".into(), Tag::Utf8String, e.surname.into()),
        ("2.5.4.5".into(), Tag::PrintableString, e.hsa_id.into()),
    ];
    assert_eq!(subject, expected);
    let subject_text = cert.subject().to_string();
    assert!(!subject_text.contains("Mallory") && !subject_text.contains("Evil"));

    // Validity.
    assert_eq!(cert.validity().not_before.to_datetime(), e.not_before);
    assert_eq!(cert.validity().not_after.to_datetime(), e.not_after);
    assert!(e.not_after <= fx.ca.not_after());

    // Extensions: exactly these, with these criticalities.
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
    if e.profile == Profile::Authentication {
        want.push(("2.5.29.37".into(), false)); // extKeyUsage
    }
    want.sort();
    assert_eq!(seen, want, "extensions");
    assert!(cert.basic_constraints().unwrap().is_none());
    assert!(cert.subject_alternative_name().unwrap().is_none());

    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    match e.profile {
        Profile::Authentication => {
            assert_eq!(ku.value.flags, 1, "digitalSignature only");
            let eku = cert.extended_key_usage().unwrap().unwrap();
            assert!(!eku.critical);
            assert!(eku.value.client_auth);
            assert!(
                !eku.value.any
                    && !eku.value.server_auth
                    && !eku.value.code_signing
                    && !eku.value.email_protection
                    && !eku.value.time_stamping
                    && !eku.value.ocsp_signing
                    && eku.value.other.is_empty()
            );
        }
        Profile::Signing => {
            assert_eq!(ku.value.flags, 2, "nonRepudiation only");
            assert!(cert.extended_key_usage().unwrap().is_none());
        }
        _ => unreachable!(),
    }

    let policy = match (e.virtual_card, e.profile) {
        (true, _) => DEFAULT_VIRTUAL_CARD_POLICY,
        (false, Profile::Authentication) => DEFAULT_AUTHENTICATION_POLICY,
        (false, _) => DEFAULT_SIGNING_POLICY,
    };
    let mut found = 0;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CertificatePolicies(policies) => {
                let ids: Vec<&[u8]> = policies.iter().map(|p| p.policy_id.as_bytes()).collect();
                assert_eq!(ids, vec![oid_content(policy).as_slice()], "policies");
                assert!(policies[0].policy_qualifiers.is_none());
                found += 1;
            }
            ParsedExtension::CRLDistributionPoints(points) => {
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
                assert_eq!(aki.key_identifier.as_ref().unwrap().0, issuing_ski(fx));
                assert!(aki.authority_cert_issuer.is_none());
                found += 1;
            }
            ParsedExtension::SubjectKeyIdentifier(ki) => {
                let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, csr.spki_der());
                assert_eq!(ki.0, &sha.as_ref()[..20]);
                found += 1;
            }
            ParsedExtension::KeyUsage(_) | ParsedExtension::ExtendedKeyUsage(_) => {}
            other => panic!("unexpected extension {other:?}"),
        }
    }
    assert_eq!(found, 5);

    // The record as committed, and its audit entry.
    let r = &issued.record;
    assert_eq!(r.kind, e.profile.cert_kind());
    assert_eq!(r.card_number.as_deref(), Some(e.card));
    assert_eq!(r.hsa_id.as_deref(), Some(e.hsa_id));
    assert_eq!(r.status, CertStatus::Valid);
    assert_eq!((r.not_before, r.not_after), (e.not_before, e.not_after));
    assert_eq!(&r.public_key_sha256, csr.spki_sha256());
    assert_eq!(
        fx.store.certificate(&r.serial).await.unwrap().as_ref(),
        Some(r)
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
    assert_eq!(entry.event.details["card"], e.card);
    assert_eq!(entry.event.details["hsa_id"], e.hsa_id);
    let kind = match e.profile {
        Profile::Authentication => "authentication",
        _ => "signing",
    };
    assert_eq!(entry.event.details["kind"], kind);
}

/// Authentication then signing certificate for Anna, checked in full.
async fn auth_and_signing(ca_alg: KeyAlgorithm, key_kind: fn() -> KeyKind, virtual_card: bool) {
    let mut fx = Fixture::new(ca_alg).await;
    let t = now();
    let whole = t.replace_nanosecond(0).unwrap();

    let auth_csr = new_csr(key_kind());
    let auth = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Authentication,
            &auth_csr,
            virtual_card,
            t,
        )
        .await
        .unwrap();
    let expect = Expect {
        profile: Profile::Authentication,
        virtual_card,
        hsa_id: ANNA,
        given_name: "Anna",
        surname: "Andersson",
        organisation: ORG_NAME,
        card: ANNA_CARD,
        not_before: whole,
        not_after: whole + Duration::days(730),
    };
    check(&fx, &auth, &auth_csr, &expect).await;

    // A year later: the signing certificate ends with the authentication certificate.
    let later = t + Duration::days(365);
    let sign_csr = new_csr(key_kind());
    let sign = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Signing,
            &sign_csr,
            virtual_card,
            later,
        )
        .await
        .unwrap();
    let expect = Expect {
        profile: Profile::Signing,
        not_before: later.replace_nanosecond(0).unwrap(),
        not_after: auth.record.not_after,
        ..expect
    };
    check(&fx, &sign, &sign_csr, &expect).await;
    assert_eq!(sign.record.kind, CertKind::Signing);

    crate::openssl::verify_chain(&fx, &auth, Profile::Authentication, virtual_card);
    crate::openssl::verify_chain(&fx, &sign, Profile::Signing, virtual_card);
}

#[tokio::test]
async fn p256_ca_p256_keys_real_card() {
    auth_and_signing(KeyAlgorithm::P256, || KeyKind::P256, false).await;
}

#[tokio::test]
async fn p256_ca_rsa_keys_virtual_card() {
    auth_and_signing(KeyAlgorithm::P256, || KeyKind::Rsa2048, true).await;
}

#[tokio::test]
async fn rsa_ca_p256_keys_virtual_card() {
    auth_and_signing(KeyAlgorithm::Rsa2048, || KeyKind::P256, true).await;
}

#[tokio::test]
async fn rsa_ca_rsa_keys_real_card() {
    auth_and_signing(KeyAlgorithm::Rsa2048, || KeyKind::Rsa2048, false).await;
}

#[tokio::test]
async fn validity_never_outlives_the_issuing_ca() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let ca_end = fx.ca.not_after();
    assert_eq!(ca_end, datetime(2036, 1, 1));
    let late = ca_end - Duration::days(100);
    let csr = new_csr(KeyKind::P256);
    let auth = fx
        .issue(ANNA, ANNA_CARD, Profile::Authentication, &csr, false, late)
        .await
        .unwrap();
    assert_eq!(auth.record.not_after, ca_end);
    let sign = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Signing,
            &new_csr(KeyKind::P256),
            false,
            late,
        )
        .await
        .unwrap();
    assert_eq!(sign.record.not_after, ca_end);

    // After the CA's end nothing is issued.
    let err = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Authentication,
            &new_csr(KeyKind::P256),
            false,
            ca_end,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, eid_pki::IssueError::CaNotValid { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn signing_needs_a_currently_valid_authentication_certificate() {
    let mut fx = Fixture::new(KeyAlgorithm::P256).await;
    let auth = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Authentication,
            &new_csr(KeyKind::P256),
            false,
            now(),
        )
        .await
        .unwrap();
    // After the authentication certificate expired: refused, store unchanged.
    let after = auth.record.not_after + Duration::SECOND;
    let before = fx.snapshot().await;
    let err = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Signing,
            &new_csr(KeyKind::P256),
            false,
            after,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, eid_pki::IssueError::NoAuthenticationCertificate { .. }),
        "{err}"
    );
    assert_eq!(fx.snapshot().await, before);

    // Revoked: refused too.
    fx.store
        .revoke_certificate(
            &auth.record.serial,
            eid_store::RevocationReason::KeyCompromise,
            now(),
            &eid_store::AuditEvent {
                at: now(),
                actor: "admin:test".into(),
                action: "certificate.revoke".into(),
                subject: auth.record.serial.to_string(),
                details: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let err = fx
        .issue(
            ANNA,
            ANNA_CARD,
            Profile::Signing,
            &new_csr(KeyKind::P256),
            false,
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no valid authentication certificate"),
        "{err}"
    );
}

fn datetime(y: i32, m: u8, d: u8) -> OffsetDateTime {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
        .unwrap()
        .midnight()
        .assume_utc()
}
