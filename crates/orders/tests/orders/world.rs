//! A test world: a real CA, a real SQLite store, persons with personalised virtual cards,
//! the order engine, and an eID app played in-process with the real card.
#![allow(missing_debug_implementations)] // Test fixtures.

use std::sync::Arc;

use eid_card::{Card, CardClient, CardProfile, KeySlot, Pin, PinRef, VirtualCard, VirtualReader};
use eid_orders::{NewOrder, OrderConfig, OrderError, Orders, Requester, SessionId};
use eid_pki::{
    CaNames, CardMasterKey, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings,
};
use eid_protocol::{
    AppCompletion, AppFetchResponse, AppOrder, Enrollment, OrderKind, StartResponse, ToBeSigned,
};
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_store::{
    AuditEvent, CardKind, Durability, Organisation, Person, SigningPolicy, SqliteStore, Store,
};
use time::OffsetDateTime;
use time::macros::datetime;
use zeroize::Zeroizing;

pub const NOW: OffsetDateTime = datetime!(2026-06-01 09:00 UTC);
pub const ORG: &str = "2321000016";
pub const ANNA: &str = "SE2321000016-A1B2";
pub const BERTIL: &str = "SE2321000016-B2C3";
pub const ORIGIN: &str = "https://eid.example";
pub const RETURN_URL: &str = "https://eid.example/login/return";

/// A personalised card in a virtual reader, with the PIN that unlocks its 9A key.
pub struct TestCard {
    pub number: String,
    pub client: CardClient<VirtualReader>,
    pub pin1: String,
}

pub struct World {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub ca: Arc<CertificateAuthority>,
    pub orders: Orders<SqliteStore>,
    pub anna: TestCard,
    pub bertil: TestCard,
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        at: NOW,
        actor: "test".into(),
        action: action.into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    }
}

fn person(hsa_id: &str, given: &str) -> Person {
    Person {
        hsa_id: hsa_id.into(),
        given_name: given.into(),
        surname: "Andersson".into(),
        org_number: ORG.into(),
        signing_entitled: true,
        active: true,
        created_at: NOW,
    }
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let names = CaNames {
        country: "SE".into(),
        organisation: "Test".into(),
        root_common_name: "Test Root".into(),
        issuing_common_name: "Test Issuing".into(),
    };
    let new = eid_pki::create_ca(
        &names,
        KeyAlgorithm::P256,
        NOW - time::Duration::days(1),
        &mut rand::rng(),
    )
    .unwrap();
    let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).unwrap();
    let ca = Arc::new(
        CertificateAuthority::load(
            &new.root_cert_pem,
            &new.issuing_cert_pem,
            Arc::new(signer),
            ProfileSettings::new("http://localhost/crl", "http://localhost/ocsp"),
        )
        .unwrap(),
    );
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap(),
    );
    store
        .add_organisation(
            &Organisation {
                org_number: ORG.into(),
                name: "Region Exempel".into(),
                signing_policy: SigningPolicy::SelfService,
                accept_unattested_keys: false,
                created_at: NOW,
            },
            &event("organisation.add"),
        )
        .await
        .unwrap();
    for (hsa, given) in [(ANNA, "Anna"), (BERTIL, "Bertil")] {
        store
            .add_person(&person(hsa, given), &event("person.add"))
            .await
            .unwrap();
    }
    let master = CardMasterKey::generate().unwrap();
    let anna = personalised(&store, &ca, &master, ANNA, "9752000001", CardKind::TwoPin).await;
    let bertil = personalised(&store, &ca, &master, BERTIL, "9752000002", CardKind::TwoPin).await;
    let orders = Orders::new(store.clone(), ca.clone(), OrderConfig::new(ORIGIN)).unwrap();
    World {
        _dir: dir,
        store,
        ca,
        orders,
        anna,
        bertil,
    }
}

/// A card personalised for `holder`; a one-PIN card is activated on the card (but not in
/// the store) with PIN1 `246810`.
pub async fn personalised(
    store: &SqliteStore,
    ca: &CertificateAuthority,
    master: &CardMasterKey,
    holder: &str,
    number: &str,
    kind: CardKind,
) -> TestCard {
    let (product, card_kind) = match kind {
        CardKind::TwoPin => ("610", eid_card::CardKind::TwoPin),
        CardKind::OnePin => ("710", eid_card::CardKind::OnePin),
    };
    let card = VirtualCard::in_memory(CardProfile::new(number, product, card_kind)).unwrap();
    let client = CardClient::new(VirtualReader::new(card));
    let letter = personalise(
        &client,
        ca,
        store,
        master,
        &Personalisation {
            holder,
            card_number: number,
            product_number: product,
            kind,
            virtual_card: true,
        },
        "admin:test",
        NOW - time::Duration::hours(1),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let pin1 = match letter {
        PinLetter::TwoPin { pin1, .. } => pin1.to_string(),
        PinLetter::OnePin { transport_code } => {
            client.select().unwrap();
            client
                .change_pin(PinRef::Pin1, &pin(&transport_code), &pin("246810"))
                .unwrap();
            "246810".into()
        }
    };
    TestCard {
        number: number.into(),
        client,
        pin1,
    }
}

pub fn pin(s: &str) -> Pin {
    Pin::new(Zeroizing::new(s.to_owned()))
}

impl TestCard {
    /// The card's authentication certificate, as the app reads it from the card.
    pub fn certificate(&self) -> Vec<u8> {
        self.client
            .read_certificate(KeySlot::Authentication)
            .unwrap()
            .unwrap()
    }

    /// What the app does: verify PIN1 on the card, then sign SHA-256 of the to-be-signed
    /// bytes with the 9A key.
    pub fn sign(&self, tbs: &ToBeSigned) -> Vec<u8> {
        self.client.select().unwrap();
        self.client.verify(PinRef::Pin1, &pin(&self.pin1)).unwrap();
        self.client
            .sign(KeySlot::Authentication, &tbs.digest().unwrap())
            .unwrap()
    }

    /// A login completion for `order`, signed by this card.
    pub fn complete_login(&self, order: &AppOrder) -> AppCompletion {
        AppCompletion {
            signature: self.sign(&ToBeSigned::for_order(order, None)),
            certificate: self.certificate(),
            new_public_key: None,
        }
    }

    /// An enrollment approval for `order` of `new_key`, signed by this card.
    pub async fn complete_enrollment(
        &self,
        order: &AppOrder,
        new_key: &[u8],
        store: &SqliteStore,
    ) -> AppCompletion {
        let auth = store
            .certificates_of_card(&self.number)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.kind == eid_store::CertKind::Authentication)
            .unwrap();
        let enrollment = Enrollment {
            new_public_key_sha256: eid_orders::sha256(new_key),
            card_number: self.number.clone(),
            auth_certificate_serial: auth.serial.as_bytes().to_vec(),
        };
        AppCompletion {
            signature: self.sign(&ToBeSigned::for_order(order, Some(enrollment))),
            certificate: self.certificate(),
            new_public_key: Some(new_key.to_vec()),
        }
    }
}

pub fn login(client: &str) -> NewOrder {
    NewOrder {
        kind: OrderKind::Auth,
        requester: Requester {
            client_id: client.into(),
            display_name: "Mina sidor".into(),
        },
        text: "Logga in på Mina sidor".into(),
        return_url: RETURN_URL.into(),
        card_number: None,
    }
}

pub fn enroll(card: &str) -> NewOrder {
    NewOrder {
        kind: OrderKind::EnrollSign,
        text: "Hämta underskriftscertifikat".into(),
        card_number: Some(card.into()),
        ..login("mypages")
    }
}

impl World {
    pub async fn session(&self) -> SessionId {
        self.orders
            .open_browser_session(NOW, &mut rand::rng())
            .await
            .unwrap()
    }

    pub async fn start(&self, order: &NewOrder, session: &SessionId) -> StartResponse {
        self.orders
            .start(order, session.as_str(), NOW, &mut rand::rng())
            .await
            .unwrap()
    }

    /// The app opens the launch link and fetches the order.
    pub async fn fetch(&self, started: &StartResponse) -> Result<AppFetchResponse, OrderError> {
        self.orders
            .app_fetch(
                &started.auto_start_token,
                NOW + time::Duration::seconds(2),
                &mut rand::rng(),
            )
            .await
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.action)
            .collect()
    }
}

/// The `orderRef` and `secret` the app appends to the return URL.
pub fn return_params(url: &str) -> (String, String) {
    let query = url.split_once('?').unwrap().1;
    let mut order_ref = None;
    let mut secret = None;
    for pair in query.split('&') {
        match pair.split_once('=').unwrap() {
            ("orderRef", v) => order_ref = Some(v.to_owned()),
            ("secret", v) => secret = Some(v.to_owned()),
            _ => {}
        }
    }
    (order_ref.unwrap(), secret.unwrap())
}
