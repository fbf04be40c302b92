//! Certificates as the revocation tests need them: a signing certificate fetched over HTTP
//! the way the eID app fetches it (and confirmed on the card), a card's authentication
//! certificate, PEM for OpenSSL, and a CA of another organisation.

use eid_pki::{CaNames, KeyAlgorithm};
use eid_store::{CertKind, CertificateRecord, Serial, Store};
use eid_testkit::{Server, TestCard};
use serde_json::json;
use time::OffsetDateTime;

/// A signing-certificate fetch for `card` as the eID app makes it over HTTP, from the
/// launch token of an order started for the card: the app token and the issued certificate
/// (not yet confirmed on the card).
pub async fn complete_fetch(
    server: &Server,
    card: &TestCard,
    auto_start_token: &str,
) -> (String, CertificateRecord) {
    let http = reqwest::Client::new();
    let fetched: eid_protocol::AppFetchResponse = http
        .post(format!("{}/app/v1/order", server.base))
        .json(&json!({ "autoStartToken": auto_start_token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let completion = card
        .complete_signing_enrollment(&fetched.order, &server.pki.store, &server.pki.master)
        .await;
    let r = http
        .post(format!("{}/app/v1/complete", server.base))
        .bearer_auth(&fetched.app_token)
        .json(&completion)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done: eid_protocol::AppCompleteResponse = r.json().await.unwrap();
    let der = done.certificate.expect("the signing certificate");
    let cert = server
        .pki
        .store
        .certificates_of_card(&card.number)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.der == der)
        .unwrap();
    (fetched.app_token, cert)
}

/// [`complete_fetch`] of an order started for `card` from My Pages (the holder's
/// *Hämta underskriftscertifikat*), up to the issued certificate; not confirmed on the card.
pub async fn fetch_signing_certificate(
    server: &Server,
    card: &TestCard,
) -> (String, CertificateRecord) {
    let (_, started) = server.start_fetch(&card.number, "mypages").await.unwrap();
    complete_fetch(server, card, &started.auto_start_token).await
}

/// The app confirms the certificate `serial` written to the card.
pub async fn deliver(server: &Server, app_token: &str, serial: &Serial) {
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/enroll/delivered", server.base))
        .bearer_auth(app_token)
        .json(&json!({ "certificateSerial": serial.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A whole fetch, written to the card and confirmed: the certificate.
pub async fn fetched_and_delivered(server: &Server, card: &TestCard) -> CertificateRecord {
    let (token, cert) = fetch_signing_certificate(server, card).await;
    deliver(server, &token, &cert.serial).await;
    cert
}

/// The authentication certificate of the card `card` in `store`.
pub async fn authentication<S: Store + ?Sized>(store: &S, card: &str) -> CertificateRecord {
    store
        .certificates_of_card(card)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == CertKind::Authentication)
        .unwrap()
}

/// `der` as PEM with the label `label` (`CERTIFICATE`).
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The issuing CA certificate (PEM) of another organisation's CA, valid from `from`: one
/// this server's responder is not authoritative for.
pub fn other_issuing_ca(from: OffsetDateTime) -> String {
    eid_pki::create_ca(
        &CaNames {
            country: "SE".into(),
            organisation: "Other".into(),
            root_common_name: "Other Root".into(),
            issuing_common_name: "Other Issuing".into(),
        },
        KeyAlgorithm::P256,
        from,
        &mut rand::rng(),
    )
    .unwrap()
    .issuing_cert_pem
}
