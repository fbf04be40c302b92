//! The seed procedure through the PC/SC stack, for both card kinds: log in to My Pages with
//! the card (a one-PIN card is activated on the way), fetch the signing certificate, and
//! find it on the card. On the one-PIN card (a standard PIV card: one PIN) standard
//! software then signs with the fetched key: OpenSC's PKCS#11 module through the same
//! reader, verified by OpenSSL against the fetched certificate.

use eid_card::{Card as _, KeySlot};
use eid_testkit::CardKind;

use super::stack::{NUMBER, Stack};
use super::{openssl_verifies, sign, stderr};

async fn seed_procedure(kind: CardKind) {
    let mut stack = Stack::start(kind).await;
    let mut browser = stack.server.browser();
    let start = stack.mypages_login(&mut browser).await;
    assert!(start.body.contains(NUMBER), "{}", start.body);

    let dialog = stack.begin_fetch(&mut browser, &start).await;
    let done = stack.fetch(&mut browser, &dialog).await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let back = browser.get(&done.return_url()).await;
    assert!(back.status == 200 || back.status == 303, "{}", back.body);
    let start = browser.get(&format!("{}/mypages", stack.server.base)).await;
    assert!(start.body.contains("Underskrift"), "{}", start.body);

    // The certificate the CA issued is the one on the card: in the card file (the card's
    // memory) once the card process is gone.
    let issued = stack.signing_certificates().await;
    assert_eq!(issued.len(), 1, "one signing certificate");
    if kind == CardKind::OnePin {
        signs_through_opensc(&stack, &issued[0].der);
    }
    let card = stack.take_out();
    assert_eq!(
        card.read_certificate(KeySlot::Signing).unwrap(),
        Some(issued[0].der.clone()),
        "the card holds the issued certificate"
    );
}

#[tokio::test]
async fn a_two_pin_card_in_a_pcsc_reader_logs_in_and_fetches_its_signing_certificate() {
    seed_procedure(CardKind::TwoPin).await;
}

#[tokio::test]
async fn a_one_pin_card_in_a_pcsc_reader_is_activated_logs_in_and_fetches() {
    seed_procedure(CardKind::OnePin).await;
}

/// OpenSC's PKCS#11 module shows the fetched key and certificate (PIV 9C is its id 02),
/// `pkcs11-tool` signs after the PIN (and not with a wrong one), and OpenSSL verifies the
/// signature with the fetched certificate.
fn signs_through_opensc(stack: &Stack, certificate: &[u8]) {
    let daemon = &stack.daemon;
    let dir = daemon.dir();
    let listed = super::pkcs11_ok(daemon, &["-O"]);
    assert!(listed.contains("Certificate Object"), "{listed}");
    assert!(listed.contains("ID:         02"), "{listed}");
    let data = dir.join("document.txt");
    std::fs::write(&data, "Remiss 2026-11-28: Anna Andersson").unwrap();
    let cert = dir.join("signing.der");
    std::fs::write(&cert, certificate).unwrap();

    let (wrong, _) = sign(daemon, dir, "02", "999999", &data);
    assert!(!wrong.status.success(), "a wrong PIN signs nothing");
    let (out, signature) = sign(daemon, dir, "02", &stack.card.pin1, &data);
    assert!(out.status.success(), "{}", stderr(&out));
    let verified = openssl_verifies(dir, &cert, &data, &signature);
    assert!(verified.status.success(), "{}", stderr(&verified));
}
