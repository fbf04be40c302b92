//! Seed steps 1–7 in a real browser: *Mina sidor* → *LOGGA IN* → the provider → the app
//! (PIN1) → the start page → the green arrow → *Hämta underskriftscertifikat* → the app's
//! fetch dialog (PIN2, or PIN1 on a 7XX card) → *Hämtningen startar* / *Ta inte ut kortet*
//! → PIN1 → back on My Pages with *Hämtningen är klar* and the card's new signing
//! certificate. The issued certificate is then checked in the store against the card's
//! authentication certificate and the card's 9C key. Also: a wrong signing code, a blocked
//! one unblocked with the PUK in the app's PIN services, and a card taken out during step 6.
//! (The refusal path is in [`crate::mypages`].)

use eid_card::{Card as _, CardClient, KeySlot, Pin, PinRef, VirtualCard, VirtualReader};
use eid_store::enroll::EnrollStore as _;
use eid_store::{CardState, CertKind, CertificateRecord, Store as _};
use eid_testkit::{ANNA, CardKind, Letter, Pki};
use fantoccini::Locator;
use fantoccini::wd::WindowHandle;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::driver::Browser;
use crate::mypages::MyPages;

const NUMBER: &str = "9752000001";
/// The security code Anna chose when she activated her 7XX card.
const NEW_PIN1: &str = "24681357";

fn pin(s: &str) -> Pin {
    Pin::new(Zeroizing::new(s.to_owned()))
}

fn client(path: &std::path::Path) -> CardClient<VirtualReader> {
    CardClient::new(VirtualReader::new(VirtualCard::open(path).unwrap()))
}

/// Anna with a card of `kind` in the app; a 7XX card is activated (PIN1 [`NEW_PIN1`]) on
/// the card and in the store, as its first login in the app would.
async fn anna(test: &str, kind: CardKind) -> MyPages {
    let pki = Pki::new(eid_clock::Clock::now(&eid_clock::SystemClock)).await;
    let mut card = pki.card_file(ANNA, NUMBER, kind).await;
    if kind == CardKind::OnePin {
        let c = client(&card.path);
        c.select().unwrap();
        c.change_pin(PinRef::Pin1, &pin(&card.pin1), &pin(NEW_PIN1))
            .unwrap();
        card.pin1 = NEW_PIN1.into();
        pki.store
            .set_card_state(NUMBER, CardState::Active, &pki.event("card.activate"))
            .await
            .unwrap();
    }
    MyPages::start(test, pki, card, |_| {}).await
}

fn letter(w: &MyPages) -> (String, String) {
    match &w.card.letter {
        Letter::TwoPin { pin2, puk, .. } => (pin2.clone(), puk.clone()),
        Letter::OnePin { .. } => panic!("a 7XX card has no PIN2"),
    }
}

/// Seed steps 3–5 up to the app's code form: the green arrow, *Hämta
/// underskriftscertifikat*, the page that says which code, the app opened from its launch
/// link in a new tab. Returns the waiting page's tab.
async fn start_fetch(w: &MyPages, b: &mut Browser, kind: CardKind) -> WindowHandle {
    let card = w.expand(b, NUMBER).await;
    assert!(card.contains("Hämta underskriftscertifikat"), "{card}");
    b.click("form.fetch button[type=submit]").await;
    let waiting = b
        .wait_for_text("Ta inte ut kortet ur kortläsaren medan hämtningen pågår")
        .await;
    match kind {
        CardKind::TwoPin => {
            assert!(waiting.contains("underskriftskod (PIN2)"), "{waiting}");
        }
        CardKind::OnePin => {
            assert!(waiting.contains("ingen underskriftskod"), "{waiting}");
            assert!(
                waiting.contains("säkerhetskod (PIN1), den kod du valde"),
                "{waiting}"
            );
        }
    }
    let launch = b.href("#launch").await;
    assert!(launch.starts_with(&w.server.app().launch_base), "{launch}");
    b.shot("fetch-waiting").await;
    let waiting = b.open_tab(&launch).await;
    let dialog = b.wait_for_text("underskriftscertifikat").await;
    assert!(dialog.contains(NUMBER), "which card: {dialog}");
    match kind {
        CardKind::TwoPin => {
            assert!(
                dialog.contains("Ange din underskriftskod (PIN2)"),
                "{dialog}"
            );
        }
        CardKind::OnePin => {
            assert!(dialog.contains("Ange din säkerhetskod (PIN1)"), "{dialog}");
            assert!(dialog.contains("ingen underskriftskod"), "{dialog}");
        }
    }
    b.shot("app-signing-code").await;
    waiting
}

/// Step 5: the signing code (PIN2, or PIN1 on a 7XX card) → *Hämtningen startar*.
async fn enter_signing_code(b: &mut Browser, code: &str) {
    b.fill("#pin", code).await;
    b.click("form[action$='/enroll/key'] button[type=submit]")
        .await;
    b.wait_for_text("Hämtningen startar").await;
    let warning = b
        .client
        .find(Locator::Css("#warning"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        warning.contains("Ta inte ut kortet ur kortläsaren"),
        "{warning}"
    );
    b.shot("app-starting").await;
}

/// Step 6a: PIN1 → the app's *Hämtningen är klar* → back on My Pages (step 7): the
/// notification, the card open with its signing certificate valid.
async fn approve_and_return(w: &MyPages, b: &mut Browser, pin1: &str) {
    b.fill("#pin", pin1).await;
    b.click("form[action$='/enroll/approve'] button[type=submit]")
        .await;
    step_7(w, b).await;
}

async fn step_7(w: &MyPages, b: &mut Browser) {
    b.wait_for_url(&format!("{}/mypages", w.server.base)).await;
    let page = b.wait_for_text("Hämtningen är klar").await;
    b.shot("fetched").await;
    assert!(
        page.contains("Kortet har nu ett underskriftscertifikat"),
        "{page}"
    );
    let details = format!("details#card-{NUMBER}");
    let card = b.client.find(Locator::Css(&details)).await.unwrap();
    assert!(
        card.attr("open").await.unwrap().is_some(),
        "the fetched card is open"
    );
    let text = card.text().await.unwrap();
    assert!(text.contains("Du är inloggad med detta kort"), "{text}");
    let status = b
        .client
        .find(Locator::Css(&format!(
            "{details} tr.cert.signing td.status"
        )))
        .await
        .unwrap_or_else(|e| panic!("no signing certificate listed: {e}\n{text}"))
        .text()
        .await
        .unwrap();
    assert_eq!(status, "Giltigt", "{text}");
    let row = b
        .client
        .find(Locator::Css(&format!("{details} tr.cert.signing th")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(row, "Underskriftscertifikat");
    assert!(
        b.client
            .find_all(Locator::Css(&format!("{details} tr.cert.signing.none")))
            .await
            .unwrap()
            .is_empty(),
        "no 'none on the card' row: {text}"
    );
    assert!(
        text.contains("Kortet har redan ett giltigt underskriftscertifikat"),
        "{text}"
    );
    assert!(
        b.client
            .find_all(Locator::Css("form.fetch"))
            .await
            .unwrap()
            .is_empty(),
        "no fetch button any more: {text}"
    );
    b.client
        .execute(
            &format!(
                "document.querySelector('{details} tr.cert.signing').scrollIntoView({{block: 'center'}});"
            ),
            vec![],
        )
        .await
        .unwrap();
    b.shot("signing-certificate-listed").await;
}

fn signing(certs: &[CertificateRecord]) -> Vec<&CertificateRecord> {
    certs
        .iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect()
}

/// The store holds exactly one signing certificate for the card: the one on the card in
/// 9C, for the card's 9C key, with the authentication certificate's subject and issuer,
/// keyUsage nonRepudiation, and validity within the authentication certificate's.
async fn check_issued(w: &MyPages) -> Vec<u8> {
    let certs = w
        .server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap();
    let sig = signing(&certs);
    assert_eq!(sig.len(), 1, "exactly one signing certificate");
    let record = sig[0];
    let auth = certs
        .iter()
        .find(|c| c.kind == CertKind::Authentication)
        .expect("the authentication certificate");

    let card = client(&w.card.path);
    card.select().unwrap();
    let on_card = card.read_certificate(KeySlot::Signing).unwrap().unwrap();
    assert_eq!(on_card, record.der, "the card holds the issued certificate");
    let key = card.key_metadata(KeySlot::Signing).unwrap().unwrap();

    let (_, cert) = X509Certificate::from_der(&record.der).unwrap();
    let (_, auth_cert) = X509Certificate::from_der(&auth.der).unwrap();
    let (_, spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&key.public_key_spki).unwrap();
    assert_eq!(
        cert.public_key().subject_public_key.data,
        spki.subject_public_key.data,
        "the certified key is the card's 9C key"
    );
    assert_ne!(
        cert.public_key().subject_public_key.data,
        auth_cert.public_key().subject_public_key.data,
        "not the authentication key"
    );
    assert_eq!(cert.subject().as_raw(), auth_cert.subject().as_raw());
    assert_eq!(cert.issuer().as_raw(), auth_cert.issuer().as_raw());
    let usage = cert.key_usage().unwrap().expect("keyUsage");
    assert!(usage.critical);
    assert!(usage.value.non_repudiation());
    assert!(!usage.value.digital_signature());
    assert!(cert.validity().not_before >= auth_cert.validity().not_before);
    assert!(cert.validity().not_after <= auth_cert.validity().not_after);
    assert!(cert.validity().is_valid(), "valid now");
    assert!(
        w.server
            .pki
            .store
            .delivered_at(&record.serial)
            .await
            .unwrap()
            .is_some(),
        "the delivery is recorded"
    );
    record.der.clone()
}

async fn whole_fetch(test: &str, kind: CardKind) {
    let w = anna(test, kind).await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    let waiting = start_fetch(&w, &mut b, kind).await;
    let code = match kind {
        CardKind::TwoPin => letter(&w).0,
        CardKind::OnePin => w.card.pin1.clone(),
    };
    enter_signing_code(&mut b, &code).await;
    approve_and_return(&w, &mut b, &w.card.pin1).await;
    check_issued(&w).await;
    // The waiting page learnt it too.
    b.switch_to(waiting).await;
    b.wait_for_text("Hämtningen är klar. Du kommer tillbaka till Mina sidor")
        .await;
    b.shot("waiting-page-done").await;
}

#[tokio::test]
async fn seed_steps_1_to_7_a_two_pin_card_fetches_its_signing_certificate() {
    whole_fetch("fetch-two-pin", CardKind::TwoPin).await;
}

#[tokio::test]
async fn seed_steps_1_to_7_a_7xx_card_fetches_its_signing_certificate_with_pin1() {
    whole_fetch("fetch-one-pin", CardKind::OnePin).await;
}

#[tokio::test]
async fn a_wrong_signing_code_shows_the_tries_left_and_the_right_one_goes_on() {
    let w = anna("fetch-wrong-pin2", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    start_fetch(&w, &mut b, CardKind::TwoPin).await;
    b.fill("#pin", "00000000").await;
    b.click("form[action$='/enroll/key'] button[type=submit]")
        .await;
    b.wait_for_text("Fel underskriftskod. Försök kvar: 2").await;
    b.shot("wrong-pin2").await;
    enter_signing_code(&mut b, &letter(&w).0).await;
    approve_and_return(&w, &mut b, &w.card.pin1).await;
    check_issued(&w).await;
}

#[tokio::test]
async fn a_blocked_signing_code_is_unblocked_with_the_puk_and_the_fetch_succeeds() {
    let w = anna("fetch-blocked-pin2", CardKind::TwoPin).await;
    let (pin2, puk) = letter(&w);
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    let start_page = b.client.window().await.unwrap();
    start_fetch(&w, &mut b, CardKind::TwoPin).await;
    for left in [2, 1] {
        b.fill("#pin", "00000000").await;
        b.click("form[action$='/enroll/key'] button[type=submit]")
            .await;
        b.wait_for_text(&format!("Fel underskriftskod. Försök kvar: {left}"))
            .await;
    }
    b.fill("#pin", "00000000").await;
    b.click("form[action$='/enroll/key'] button[type=submit]")
        .await;
    let blocked = b.wait_for_text("Underskriftskoden är spärrad").await;
    assert!(blocked.contains("PUK"), "what to do: {blocked}");
    b.shot("pin2-blocked").await;

    // The app's PIN services: unblock PIN2 with the PUK, choosing a new signing code.
    b.click("#pin-services").await;
    b.wait_for_text("Lås upp med PUK").await;
    b.shot("pin-services").await;
    let form = "form[action$='/pin/unblock']";
    b.client
        .find(Locator::Css(&format!(
            "{form} select[name=which] option[value=pin2]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let new_pin2 = "13572468";
    assert_ne!(new_pin2, pin2);
    b.fill(&format!("{form} input[name=puk]"), &puk).await;
    b.fill(&format!("{form} input[name=new]"), new_pin2).await;
    b.fill(&format!("{form} input[name=again]"), new_pin2).await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_for_text("Koden är upplåst och bytt").await;
    b.shot("pin2-unblocked").await;

    // Back to My Pages (the tab the fetch was started from), and the fetch once more.
    b.switch_to(start_page).await;
    b.goto(&format!("{}/mypages", w.server.base)).await;
    b.wait_for_text("Dina eID").await;
    start_fetch(&w, &mut b, CardKind::TwoPin).await;
    enter_signing_code(&mut b, new_pin2).await;
    approve_and_return(&w, &mut b, &w.card.pin1).await;
    check_issued(&w).await;
}

#[tokio::test]
async fn a_card_taken_out_during_step_6_is_put_back_and_the_fetch_completes() {
    let w = anna("fetch-card-removed", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    start_fetch(&w, &mut b, CardKind::TwoPin).await;
    enter_signing_code(&mut b, &letter(&w).0).await;

    // The card is taken out of the reader (its file is away): PIN1 gets *Kortet saknas*,
    // the step stays, and nothing is issued.
    let away = w.card.path.with_extension("away");
    std::fs::rename(&w.card.path, &away).unwrap();
    b.fill("#pin", &w.card.pin1).await;
    b.click("form[action$='/enroll/approve'] button[type=submit]")
        .await;
    let missing = b.wait_for_text("Kortet saknas").await;
    b.shot("card-removed").await;
    assert_eq!(
        missing.matches("Kortet saknas").count(),
        1,
        "said once: {missing}"
    );
    assert!(
        b.client
            .find(Locator::Css("form[action$='/enroll/approve']"))
            .await
            .is_ok(),
        "the step can be tried again"
    );
    let certs = w
        .server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap();
    assert!(signing(&certs).is_empty(), "nothing issued yet");

    // Put back: the same step goes through, one certificate.
    std::fs::rename(&away, &w.card.path).unwrap();
    approve_and_return(&w, &mut b, &w.card.pin1).await;
    check_issued(&w).await;
}

#[tokio::test]
async fn a_server_restarted_during_step_6_loses_nothing_and_the_fetch_completes() {
    let w = anna("fetch-server-restart", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    start_fetch(&w, &mut b, CardKind::TwoPin).await;
    enter_signing_code(&mut b, &letter(&w).0).await;

    // The server goes down and comes back (same address, store and secrets): the app's
    // step 6 goes on against the order kept in the store.
    let MyPages {
        server,
        card,
        driver,
    } = w;
    let server = server.restart().await;
    let w = MyPages {
        server,
        card,
        driver,
    };
    approve_and_return(&w, &mut b, &w.card.pin1).await;
    check_issued(&w).await;
}
