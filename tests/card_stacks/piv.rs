//! A plain PIV card (as a YubiKey: no eID card-info object, a serial number, one PIN) in
//! the virtual reader, enrolled into the platform by the ID administrator with
//! `eid admin card enroll --reader` through pcscd (docs/card-stacks.md, "Real PIV cards").

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use eid_card::{
    Card, CardClient, CardError, CardProfile, KeySlot, ManagementAlgorithm, ManagementKey, Pin,
    PinRef, VirtualCard, VirtualReader,
};
use eid_testkit::pcsc::PcscDaemon;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Data, EID, HOLDER, openssl, stderr, stdout, text};

const SERIAL: u32 = 17_320_508;
/// The PIN and PUK the holder set on the card before bringing it (as with `ykman piv`).
const PIN: &str = "314159";
const PUK: &str = "27182818";

fn pin(digits: &str) -> Pin {
    Pin::new(Zeroizing::new(digits.to_owned()))
}

fn open(file: &Path) -> CardClient<VirtualReader> {
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(file).unwrap()));
    client.select().unwrap();
    client
}

/// A new plain PIV card whose holder has set a PIN and PUK of their own.
fn plain_card(data: &Data) -> PathBuf {
    plain_card_with(data, ManagementAlgorithm::Aes128)
}

/// As [`plain_card`], with a default management key of `algorithm` (a factory YubiKey's
/// is 3DES before firmware 5.7, AES-192 from 5.7).
fn plain_card_with(data: &Data, algorithm: ManagementAlgorithm) -> PathBuf {
    let file = data.path("yubikey.card");
    drop(VirtualCard::create(&file, CardProfile::plain_piv_with(SERIAL, algorithm)).unwrap());
    let card = open(&file);
    card.change_pin(PinRef::Pin1, &pin("123456"), &pin(PIN))
        .unwrap();
    card.change_pin(PinRef::Puk, &pin("12345678"), &pin(PUK))
        .unwrap();
    file
}

/// `eid admin card enroll` through the test's pcscd, with `pin` on standard input.
fn enroll(pcsc: &PcscDaemon, data: &Data, pin: &str) -> Output {
    let mut child = pcsc
        .command(EID)
        .args([
            "admin",
            "card",
            "enroll",
            "--reader",
            &PcscDaemon::reader_name(0),
            "--holder",
            HOLDER,
            "--data",
        ])
        .arg(&data.data)
        .env_remove("EID_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pin}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_plain_piv_card_is_enrolled_through_pcsc_and_gets_the_platforms_key_and_certificate() {
    let data = Data::new();
    let file = plain_card(&data);
    let pcsc = PcscDaemon::start();
    let served = pcsc.serve(EID, &file, 0);
    let reader = PcscDaemon::reader_name(0);

    // Before: a blank card of product 790, identified by its serial number.
    let shown = pcsc.run(EID, &["card", "show", "--reader", &reader, "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["card_number"], SERIAL.to_string());
    assert_eq!(shown["state"], "blank");

    // A wrong PIN enrols nothing and costs a try.
    let wrong = enroll(&pcsc, &data, "999999");
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("wrong PIN: 2 tries left"),
        "{}",
        stderr(&wrong)
    );
    let listed = data.eid(&["admin", "card", "list", "--json"]);
    assert!(!listed.contains(&SERIAL.to_string()), "{listed}");

    let out = enroll(&pcsc, &data, PIN);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("enrolled card {SERIAL} (product 790, one PIN)")),
        "{}",
        stdout(&out)
    );

    // After: active, one PIN (its tries back to 3), a 9A certificate from the platform's CA.
    let shown = pcsc.run(EID, &["card", "show", "--reader", &reader, "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["state"], "active", "{shown}");
    assert_eq!(shown["product_number"], "790", "{shown}");
    assert_eq!(shown["kind"], "one-pin", "{shown}");
    assert_eq!(shown["tries_left"][0]["left"], 3, "{shown}");
    let certificates = shown["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 1, "only 9A: {shown}");
    assert_eq!(certificates[0]["slot"], "9A");
    let cert = data.path("auth.pem");
    std::fs::write(&cert, certificates[0]["pem"].as_str().unwrap()).unwrap();
    let verified = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        text(&data.data.join("ca/root.pem")),
        "-untrusted",
        text(&data.data.join("ca/issuing.pem")),
        text(&cert),
    ]);
    assert!(verified.status.success(), "{}", stdout(&verified));

    // Recorded as an active one-PIN card of the holder, and audited.
    let number = SERIAL.to_string();
    let cards: Value =
        serde_json::from_str(&data.eid(&["admin", "card", "list", "--json"])).unwrap();
    let card = cards
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["card_number"] == number.as_str())
        .unwrap_or_else(|| panic!("not recorded: {cards}"));
    assert_eq!(card["product_number"], "790");
    assert_eq!(card["kind"], "one-pin");
    assert_eq!(card["state"], "active");
    assert_eq!(card["holder"], HOLDER);
    data.eid(&["admin", "audit", "verify"]);
    let audit = rusqlite::Connection::open(data.data.join("eid.db")).unwrap();
    let enrolled: i64 = audit
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'card.enroll' AND subject = ?1",
            [&number],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(enrolled, 1, "the enrolment is in the audit log");

    // Once only: the card is no longer blank.
    let again = enroll(&pcsc, &data, PIN);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("not blank"), "{}", stderr(&again));

    // The card's memory: the diversified management key, not the default; no F9 key.
    let (status, said) = served.stop();
    assert!(status.success(), "{said}");
    pcsc.wait_for_card(0, false);
    let card = open(&file);
    assert!(matches!(
        card.authenticate_management(&ManagementKey::blank_card()),
        Err(CardError::ManagementKeyRejected)
    ));
    let master = eid_pki::CardMasterKey::load(&data.data.join("ca/card-master.key")).unwrap();
    card.authenticate_management(&ManagementKey::from_bytes(
        *master.management_key(&SERIAL.to_string()),
    ))
    .unwrap();
    assert!(card.key_metadata(KeySlot::Attestation).unwrap().is_none());
    assert!(matches!(
        card.attest(KeySlot::Authentication),
        Err(CardError::NotFound)
    ));
    // The holder's PIN is untouched.
    card.verify(PinRef::Pin1, &pin(PIN)).unwrap();
}

#[test]
fn a_plain_piv_card_with_a_3des_or_aes_192_default_key_is_enrolled_and_then_speaks_aes_128() {
    for algorithm in [ManagementAlgorithm::TripleDes, ManagementAlgorithm::Aes192] {
        let data = Data::new();
        let file = plain_card_with(&data, algorithm);
        let pcsc = PcscDaemon::start();
        let served = pcsc.serve(EID, &file, 0);

        let out = enroll(&pcsc, &data, PIN);
        assert!(out.status.success(), "{algorithm}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("enrolled card {SERIAL} (product 790, one PIN)")),
            "{algorithm}: {}",
            stdout(&out)
        );
        let shown = pcsc.run(
            EID,
            &[
                "card",
                "show",
                "--reader",
                &PcscDaemon::reader_name(0),
                "--json",
            ],
        );
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(shown["state"], "active", "{algorithm}: {shown}");
        assert_eq!(
            shown["certificates"][0]["slot"], "9A",
            "{algorithm}: {shown}"
        );

        // The card's key is now the platform's AES-128 key; the factory default is gone.
        let (status, said) = served.stop();
        assert!(status.success(), "{said}");
        pcsc.wait_for_card(0, false);
        let card = open(&file);
        assert_eq!(
            card.management_algorithm().unwrap(),
            ManagementAlgorithm::Aes128
        );
        assert!(matches!(
            card.authenticate_management(&ManagementKey::piv_default(algorithm)),
            Err(CardError::ManagementAlgorithm { .. })
        ));
        let master = eid_pki::CardMasterKey::load(&data.data.join("ca/card-master.key")).unwrap();
        card.authenticate_management(&ManagementKey::from_bytes(
            *master.management_key(&SERIAL.to_string()),
        ))
        .unwrap();
        card.verify(PinRef::Pin1, &pin(PIN)).unwrap();
    }
}

#[test]
fn a_card_whose_pin_is_the_piv_default_is_not_enrolled() {
    let data = Data::new();
    let file = data.path("fresh.card");
    drop(VirtualCard::create(&file, CardProfile::plain_piv(SERIAL)).unwrap());
    let pcsc = PcscDaemon::start();
    let _served = pcsc.serve(EID, &file, 0);
    let out = enroll(&pcsc, &data, "123456");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PIN is still the PIV default"),
        "{}",
        stderr(&out)
    );
    // Nothing changed: still blank, not recorded.
    let shown = pcsc.run(
        EID,
        &[
            "card",
            "show",
            "--reader",
            &PcscDaemon::reader_name(0),
            "--json",
        ],
    );
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["state"], "blank", "{shown}");
    let listed = data.eid(&["admin", "card", "list", "--json"]);
    assert!(!listed.contains(&SERIAL.to_string()), "{listed}");
}

/// The seed procedure on an enrolled plain PIV card, with the app on `--reader`: My Pages
/// login with the one PIN, then the signing-certificate fetch with the same PIN (the app
/// relays the 9B challenge–response to the server, which holds the diversified key). The
/// card came with its maker's attestation key (as a YubiKey's F9) and the organisation
/// demands attested keys: the key is certified because the server trusts the maker's roots.
#[tokio::test]
async fn an_enrolled_piv_card_logs_in_and_fetches_its_signing_certificate_with_its_one_pin() {
    use std::sync::Arc;

    use eid_clock::{Clock as _, SystemClock};
    use eid_store::{CertKind, SigningPolicy, Store as _};
    use eid_testkit::{ANNA, CardMaker, ORG, Pki, Server, TestApp};

    use super::stack::{begin_fetch, fetch, login_dialog, login_done, with_server};

    let daemon = PcscDaemon::start();
    let pki = Pki::new(SystemClock.now()).await;
    pki.store
        .set_organisation_policy(
            ORG,
            SigningPolicy::SelfService,
            false,
            &pki.event("organisation.policy"),
        )
        .await
        .unwrap();
    let maker = CardMaker::new("Yubico-like");
    let roots =
        Arc::new(eid_pki::VendorAttestationRoots::from_pem(maker.roots_pem().as_bytes()).unwrap());
    let file = pki.dir.path().join("yubikey.card");
    maker.install(&mut VirtualCard::create(&file, CardProfile::plain_piv(SERIAL)).unwrap());
    {
        let card = open(&file);
        card.change_pin(PinRef::Pin1, &pin("123456"), &pin(PIN))
            .unwrap();
        card.change_pin(PinRef::Puk, &pin("12345678"), &pin(PUK))
            .unwrap();
        card.verify(PinRef::Pin1, &pin(PIN)).unwrap();
        let number = eid_ra::enrol(
            &card,
            &pki.ca,
            pki.store.as_ref(),
            &pki.master,
            ANNA,
            "test",
            pki.now,
            &mut rand::rng(),
        )
        .await
        .unwrap();
        assert_eq!(number, SERIAL.to_string());
    }
    let store = pki.store.clone();
    let served = daemon.serve(EID, &file, 0);
    let mut app = daemon.command(EID);
    app.args(["app", "--reader", &PcscDaemon::reader_name(0)]);
    let server = Server::builder(pki)
        .settings(move |s| s.vendor_attestation_roots = roots)
        .app_with(move |base| TestApp::spawn(with_server(app, base)))
        .start()
        .await;
    let number = SERIAL.to_string();
    let mut browser = server.browser();

    let dialog = login_dialog(&server, &mut browser, &number).await;
    let signed = server
        .app()
        .post(&mut browser, &dialog, "sign", &[("pin", PIN)])
        .await;
    let start = login_done(&server, &mut browser, &signed).await;
    assert!(start.body.contains(&number), "{}", start.body);

    let dialog = begin_fetch(&server, &mut browser, &start, &number).await;
    let done = fetch(&server, &mut browser, &dialog, PIN, PIN).await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let signing: Vec<_> = store
        .certificates_of_card(&number)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect();
    assert_eq!(signing.len(), 1, "one signing certificate");

    // On the card (its file, once the card is out): the issued certificate in 9C.
    drop(served);
    daemon.wait_for_card(0, false);
    assert_eq!(
        open(&file).read_certificate(KeySlot::Signing).unwrap(),
        Some(signing[0].der.clone())
    );
}
