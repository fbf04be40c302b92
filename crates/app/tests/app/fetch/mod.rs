//! Fetching a signing certificate (`enrollSign`) between the eID app, the card and the
//! real server on port 0: here the whole fetch through the app's dialog for both card
//! kinds, the issued certificate checked against the profile, the card's authentication
//! certificate and the card's 9C key, and a wrong signing code; in [`resume`] a card pulled
//! out during the write and a server restarted mid-fetch; in [`refusals`] another key or
//! subject, a reused key, the authentication key, attestations, another client, two
//! fetches at once and the management-response budget.

mod refusals;
mod resume;
mod yubikey;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use eid_app::{FetchError, PreparedKey, SigningFetch};
use eid_card::{
    Card, CardClient, CardError, KeySlot, Pin, PinRef, Transport, TransportError, VirtualCard,
    VirtualReader, certificate_request,
};
use eid_clock::{Clock as _, SystemClock};
use eid_orders::SessionId;
use eid_protocol::{HintCode, OrderStatus, StartResponse};
use eid_store::enroll::EnrollStore;
use eid_store::{CertKind, CertificateRecord, SigningPolicy, Store};
use eid_testkit::{ANNA, CardFile, CardKind, Letter, ORG, Pki, Server, TestCard};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

pub(super) fn pin(s: &str) -> Pin {
    Pin::new(Zeroizing::new(s.to_owned()))
}

pub(super) fn pin2(letter: &Letter) -> String {
    match letter {
        Letter::TwoPin { pin2, .. } => pin2.clone(),
        Letter::OnePin { .. } => panic!("a one-PIN card has no PIN2"),
    }
}

pub(super) const NUMBER: &str = "9752000001";
pub(super) const NEW_PIN1: &str = "246810";

/// A card file of `kind` for Anna; a one-PIN card is activated on the card (PIN1
/// [`NEW_PIN1`]) and in the store, as its first login would.
pub(super) async fn card_file(pki: &Pki, kind: CardKind) -> CardFile {
    let mut card = pki.card_file(ANNA, NUMBER, kind).await;
    if kind == CardKind::OnePin {
        let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
        client.select().unwrap();
        client
            .change_pin(PinRef::Pin1, &pin(&card.pin1), &pin(NEW_PIN1))
            .unwrap();
        card.pin1 = NEW_PIN1.into();
        pki.store
            .set_card_state(
                NUMBER,
                eid_store::CardState::Active,
                &pki.event("card.activate"),
            )
            .await
            .unwrap();
    }
    card
}

pub(super) async fn start(server: &Server, client: &str) -> (SessionId, StartResponse) {
    server.start_fetch(NUMBER, client).await.unwrap()
}

pub(super) async fn collect(
    server: &Server,
    session: &SessionId,
    started: &StartResponse,
) -> (OrderStatus, Option<HintCode>) {
    let c = server
        .state
        .orders
        .collect(&started.order_ref, session.as_str(), SystemClock.now())
        .await
        .unwrap();
    (c.status, c.hint_code)
}

pub(super) async fn signing_certificates(server: &Server) -> Vec<CertificateRecord> {
    server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect()
}

pub(super) async fn audit_actions(server: &Server) -> Vec<String> {
    server
        .pki
        .store
        .audit_entries(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.action)
        .collect()
}

/// The one signing certificate of the card: on the card in 9C, for the card's 9C key, with
/// the authentication certificate's subject, keyUsage nonRepudiation (critical) only, no
/// EKU, validity within the authentication certificate's, and confirmed delivered.
pub(super) async fn check_fetched(server: &Server, card: &dyn Card) -> CertificateRecord {
    let signing = signing_certificates(server).await;
    assert_eq!(signing.len(), 1, "one signing certificate, no more");
    let record = signing.into_iter().next().unwrap();
    let auth = server
        .pki
        .store
        .certificates_of_card(NUMBER)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == CertKind::Authentication)
        .unwrap();

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
        "certified key = the card's 9C key (metadata)"
    );
    assert_eq!(cert.subject().as_raw(), auth_cert.subject().as_raw());
    assert_eq!(cert.issuer().as_raw(), auth_cert.issuer().as_raw());
    let usage = cert.key_usage().unwrap().unwrap();
    assert!(usage.critical);
    assert!(usage.value.non_repudiation());
    assert!(!usage.value.digital_signature());
    assert!(cert.extended_key_usage().unwrap().is_none());
    assert!(cert.validity().not_before >= auth_cert.validity().not_before);
    assert!(cert.validity().not_after <= auth_cert.validity().not_after);
    assert!(
        server
            .pki
            .store
            .delivered_at(&record.serial)
            .await
            .unwrap()
            .is_some(),
        "the delivery is recorded"
    );
    let actions = audit_actions(server).await;
    for action in [
        "card.management",
        "order.enroll",
        "certificate.issue",
        "certificate.deliver",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    record
}

/// The whole fetch through the app's dialog, as the card holder's browser drives it.
pub(super) async fn fetch_through_the_app(kind: CardKind) {
    let pki = Pki::new(SystemClock.now()).await;
    let card = card_file(&pki, kind).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .start()
        .await;
    let (session, started) = start(&server, "mypages").await;
    let app = server.app();
    let mut browser = server.browser();
    let page = browser
        .get(&format!("{}{}", app.launch_base, started.auto_start_token))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("underskriftscertifikat"),
        "{}",
        page.body
    );
    let code = match kind {
        CardKind::TwoPin => {
            assert!(
                page.body.contains("Ange din underskriftskod (PIN2)"),
                "{}",
                page.body
            );
            pin2(&card.letter)
        }
        CardKind::OnePin => {
            assert!(
                page.body.contains("Ange din säkerhetskod (PIN1)"),
                "{}",
                page.body
            );
            assert!(page.body.contains("ingen underskriftskod"), "{}", page.body);
            card.pin1.clone()
        }
    };
    let page = app
        .post(&mut browser, &page, "enroll/key", &[("pin", &code)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hämtningen startar"), "{}", page.body);
    assert!(
        page.body.contains("Ta inte ut kortet ur kortläsaren"),
        "{}",
        page.body
    );
    assert_eq!(
        collect(&server, &session, &started).await.1,
        Some(HintCode::UserSign)
    );
    let page = app
        .post(
            &mut browser,
            &page,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hämtningen är klar"), "{}", page.body);
    let back = page.return_url();
    assert!(back.starts_with(&server.base), "{back}");

    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    check_fetched(&server, &client).await;
}

#[tokio::test]
async fn a_two_pin_card_fetches_its_signing_certificate_through_the_app() {
    fetch_through_the_app(CardKind::TwoPin).await;
}

#[tokio::test]
async fn a_one_pin_card_fetches_its_signing_certificate_with_pin1() {
    fetch_through_the_app(CardKind::OnePin).await;
}

#[tokio::test]
async fn a_wrong_signing_code_costs_a_try_and_can_be_corrected() {
    let pki = Pki::new(SystemClock.now()).await;
    let card = card_file(&pki, CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .start()
        .await;
    let (_, started) = start(&server, "mypages").await;
    let app = server.app();
    let mut browser = server.browser();
    let page = browser
        .get(&format!("{}{}", app.launch_base, started.auto_start_token))
        .await;
    let wrong = app
        .post(&mut browser, &page, "enroll/key", &[("pin", "999999")])
        .await;
    assert!(
        wrong.body.contains("Fel underskriftskod. Försök kvar: 2"),
        "{}",
        wrong.body
    );
    // The key generated before the wrong code is used again: no second key, no second
    // management response.
    let page = app
        .post(
            &mut browser,
            &wrong,
            "enroll/key",
            &[("pin", &pin2(&card.letter))],
        )
        .await;
    assert!(page.body.contains("Hämtningen startar"), "{}", page.body);
    let page = app
        .post(
            &mut browser,
            &page,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert!(page.body.contains("Hämtningen är klar"), "{}", page.body);
    let actions = audit_actions(&server).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "card.management").count(),
        2
    );
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    check_fetched(&server, &client).await;
}

/// A reader whose card is pulled out at the first PUT DATA once armed.
#[derive(Debug)]
pub(super) struct PullAtWrite {
    reader: VirtualReader,
    armed: Arc<AtomicBool>,
    pulled: Arc<Mutex<Option<VirtualCard>>>,
}

impl Transport for PullAtWrite {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if apdu.get(1) == Some(&0xDB) && self.armed.swap(false, Ordering::SeqCst) {
            *self.pulled.lock().unwrap() = self.reader.pull_out();
            return Err(TransportError::CardRemoved);
        }
        self.reader.transmit(apdu)
    }
}

pub(super) struct Held {
    client: CardClient<PullAtWrite>,
    reader: VirtualReader,
    armed: Arc<AtomicBool>,
    pulled: Arc<Mutex<Option<VirtualCard>>>,
    pin1: String,
    pin2: String,
}

impl Held {
    fn new(card: TestCard) -> Self {
        let TestCard {
            client,
            letter,
            pin1,
            ..
        } = card;
        let reader = client.into_transport();
        let armed = Arc::new(AtomicBool::new(false));
        let pulled = Arc::new(Mutex::new(None));
        let client = CardClient::new(PullAtWrite {
            reader: reader.clone(),
            armed: armed.clone(),
            pulled: pulled.clone(),
        });
        client.select().unwrap();
        Self {
            client,
            reader,
            armed,
            pulled,
            pin2: pin2(&letter),
            pin1,
        }
    }

    fn put_back(&self) {
        let card = self.pulled.lock().unwrap().take().unwrap();
        self.reader.insert(card);
        self.client.select().unwrap();
    }
}

/// In-memory two-PIN card held by the test, and the server.
pub(super) async fn held_world() -> (Server, Held) {
    let pki = Pki::new(SystemClock.now()).await;
    let card = pki.card(ANNA, NUMBER, CardKind::TwoPin).await;
    let server = Server::builder(pki).start().await;
    (server, Held::new(card))
}

pub(super) async fn fetched(
    server: &Server,
    client: &str,
) -> (SessionId, StartResponse, SigningFetch) {
    let (session, started) = start(server, client).await;
    let fetch = SigningFetch::fetch(&server.base, &started.auto_start_token)
        .await
        .unwrap();
    (session, started, fetch)
}

/// The server's refusal: its code and details; an `enrollmentRefused` also carries its
/// reason, which goes into the details as `[reason] details` for the tests to check.
pub(super) fn refused(e: FetchError) -> (String, String) {
    match e {
        FetchError::Server(eid_app::RemoteError::Refused {
            code,
            details,
            reason,
            ..
        }) => match reason {
            Some(r) => (code, format!("[{r}] {details}")),
            None => (code, details),
        },
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_dialog_survives_a_missing_card_and_a_server_restart() {
    let pki = Pki::new(SystemClock.now()).await;
    let card = card_file(&pki, CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .start()
        .await;
    let (_, started) = start(&server, "mypages").await;
    let mut browser = server.browser();
    let page = browser
        .get(&format!(
            "{}{}",
            server.app().launch_base,
            started.auto_start_token
        ))
        .await;
    let page = server
        .app()
        .post(
            &mut browser,
            &page,
            "enroll/key",
            &[("pin", &pin2(&card.letter))],
        )
        .await;
    assert!(page.body.contains("Hämtningen startar"), "{}", page.body);

    // The card is taken out: the step says so and stays.
    let away = card.path.with_extension("away");
    std::fs::rename(&card.path, &away).unwrap();
    let missing = server
        .app()
        .post(
            &mut browser,
            &page,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert!(missing.body.contains("Kortet saknas"), "{}", missing.body);
    assert!(missing.body.contains("enroll/approve"), "{}", missing.body);
    assert!(signing_certificates(&server).await.is_empty());

    // Put back, and meanwhile the server restarted: the same step goes through.
    std::fs::rename(&away, &card.path).unwrap();
    let server = server.restart().await;
    let done = server
        .app()
        .post(
            &mut browser,
            &missing,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.path).unwrap()));
    check_fetched(&server, &client).await;
}

#[tokio::test]
async fn a_refusal_is_said_in_the_holders_words() {
    let pki = Pki::new(SystemClock.now()).await;
    let card = card_file(&pki, CardKind::TwoPin).await;
    let server = Server::builder(pki)
        .app(vec![card.path.clone()])
        .start()
        .await;
    let (session, started) = start(&server, "mypages").await;
    let mut browser = server.browser();
    let app = server.app();
    let page = browser
        .get(&format!("{}{}", app.launch_base, started.auto_start_token))
        .await;
    let page = app
        .post(
            &mut browser,
            &page,
            "enroll/key",
            &[("pin", &pin2(&card.letter))],
        )
        .await;
    // The organisation withdraws the entitlement meanwhile.
    server
        .pki
        .store
        .set_signing_entitlement(ANNA, false, &server.pki.event("person.entitlement"))
        .await
        .unwrap();
    let refused = app
        .post(
            &mut browser,
            &page,
            "enroll/approve",
            &[("pin", &card.pin1)],
        )
        .await;
    assert!(
        refused
            .body
            .contains("Inget certifikat utfärdades: du har inte behörighet"),
        "{}",
        refused.body
    );
    assert_eq!(
        collect(&server, &session, &started).await,
        (OrderStatus::Failed, Some(HintCode::CertificateErr))
    );
    assert!(signing_certificates(&server).await.is_empty());
}
