//! Attestation: the card's F9 key certifies that 9A/9C keys were generated on the card, and
//! the attestation chains to the F9 certificate written at personalisation (issued here by
//! an rcgen CA standing in for the platform's attestation CA).

use eid_card::{Card, CardError, CardKind, KeySlot};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SubjectPublicKeyInfo,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::support::*;

/// The card's extensions (docs/card.md) live under `2.25.<this>.2`.
const CARD_UUID_ARC: u128 = 335_355_927_546_609_564_506_616_252_023_372_769;

/// The content octets of an OID (x509-parser prints arcs over 64 bits only as hex).
fn oid_content(arcs: &[u128]) -> Vec<u8> {
    let mut out = Vec::new();
    for arc in std::iter::once(arcs[0] * 40 + arcs[1]).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7F) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

fn ca() -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "eID test attestation CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (params, key)
}

#[test]
fn an_attestation_verifies_with_the_f9_key_and_chains_to_the_f9_certificate() {
    let card = TestCard::personalised(CardKind::TwoPin);
    let c = &card.client;
    // Personalisation's last step: certify the F9 key.
    let (ca_params, ca_key) = ca();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let f9 = c.key_metadata(KeySlot::Attestation).unwrap().unwrap();
    let mut f9_params = CertificateParams::new(vec![]).unwrap();
    f9_params
        .distinguished_name
        .push(DnType::CommonName, "eID card attestation 9752269000123456");
    f9_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let f9_cert = f9_params
        .signed_by(
            &SubjectPublicKeyInfo::from_der(&f9.public_key_spki).unwrap(),
            &Issuer::new(ca_params, &ca_key),
        )
        .unwrap();
    c.authenticate_management(&management_key()).unwrap();
    c.write_certificate(KeySlot::Attestation, Some(f9_cert.der()))
        .unwrap();

    let (_, ca_x509) = X509Certificate::from_der(ca_cert.der()).unwrap();
    let (_, f9_x509) = X509Certificate::from_der(f9_cert.der()).unwrap();
    f9_x509
        .verify_signature(Some(ca_x509.public_key()))
        .unwrap();
    for slot in [KeySlot::Signing, KeySlot::Authentication] {
        let der = c.attest(slot).unwrap();
        assert!(der.len() > 255, "long enough to need GET RESPONSE");
        let (rest, att) = X509Certificate::from_der(&der).unwrap();
        assert!(rest.is_empty());
        att.verify_signature(Some(f9_x509.public_key())).unwrap();
        assert_eq!(att.issuer(), f9_x509.subject());
        assert_eq!(att.validity(), f9_x509.validity());
        let key = c.key_metadata(slot).unwrap().unwrap().public_key_spki;
        assert_eq!(att.public_key().raw, &key[..]);
        let ext = |n: u128| {
            let oid = oid_content(&[2, 25, CARD_UUID_ARC, 2, n]);
            att.extensions()
                .iter()
                .find(|e| e.oid.as_bytes() == oid)
                .unwrap_or_else(|| panic!("no extension .2.{n}"))
                .value
                .to_vec()
        };
        assert_eq!(ext(1), [&[0x0C, 16][..], b"9752269000123456"].concat());
        assert_eq!(ext(2), [0x04, 0x01, slot.reference()]);
        let (policy, pin) = match slot {
            KeySlot::Signing => (0x03, 0x88),
            _ => (0x02, 0x80),
        };
        assert_eq!(ext(3), [0x04, 0x02, policy, pin]);
        assert_eq!(ext(4), [&[0x0C, 3][..], b"402"].concat());
        // And OpenSSL's view of the chain agrees, when OpenSSL is there.
        openssl_verifies(ca_cert.der(), f9_cert.der(), &der);
    }
}

/// `openssl verify -partial_chain`-free check: CA → F9 → attestation. Skipped (with a note)
/// where no `openssl` binary exists.
fn openssl_verifies(ca: &[u8], f9: &[u8], attestation: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let pem = |name: &str, der: &[u8]| {
        let path = dir.path().join(name);
        let text = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64(der)
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (ca, f9, att) = (
        pem("ca.pem", ca),
        pem("f9.pem", f9),
        pem("att.pem", attestation),
    );
    let Ok(out) = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&ca)
        .arg("-untrusted")
        .arg(&f9)
        .arg(&att)
        .output()
    else {
        eprintln!("no openssl: chain checked with x509-parser only");
        return;
    };
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn without_an_f9_certificate_the_attestation_still_verifies_with_the_f9_key() {
    let card = TestCard::personalised(CardKind::OnePin);
    let c = &card.client;
    let der = c.attest(KeySlot::Signing).unwrap();
    let (_, att) = X509Certificate::from_der(&der).unwrap();
    let f9 = c.key_metadata(KeySlot::Attestation).unwrap().unwrap();
    let (_, f9_spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&f9.public_key_spki).unwrap();
    att.verify_signature(Some(&f9_spki)).unwrap();
    assert_eq!(att.issuer().to_string(), "CN=eID virtual card attestation");
    let other = c.key_metadata(KeySlot::Authentication).unwrap().unwrap();
    let (_, other_spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&other.public_key_spki).unwrap();
    assert!(att.verify_signature(Some(&other_spki)).is_err());
}

#[test]
fn empty_slots_have_nothing_to_attest() {
    let card = TestCard::blank(CardKind::TwoPin);
    let c = &card.client;
    assert!(matches!(
        c.attest(KeySlot::Signing),
        Err(CardError::NotFound)
    ));
    c.authenticate_management(&eid_card::ManagementKey::blank_card())
        .unwrap();
    c.generate_key(KeySlot::Signing).unwrap();
    // No F9 key yet.
    assert!(matches!(
        c.attest(KeySlot::Signing),
        Err(CardError::NotFound)
    ));
    assert!(matches!(
        c.attest(KeySlot::Attestation),
        Err(CardError::Status(eid_card::Sw(0x6A86)))
    ));
    assert_eq!(c.key_metadata(KeySlot::Authentication).unwrap(), None);
}
