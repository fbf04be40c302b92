//! The order engine's world: the testkit's CA and store, Anna and Bertil with personalised
//! two-PIN cards (each plays the eID app's part in-process), and the order engine over them.
#![allow(missing_debug_implementations)] // Test fixtures.

use std::sync::Arc;

use eid_orders::{NewOrder, OrderConfig, OrderError, Orders, Requester, SessionId};
use eid_protocol::{AppFetchResponse, OrderKind, StartResponse};
use eid_store::{AnyStore, CardKind, Store};
use eid_testkit::{Pki, TestCard};
use time::OffsetDateTime;
use time::macros::datetime;

pub use eid_testkit::ANNA;

pub const NOW: OffsetDateTime = datetime!(2026-06-01 09:00 UTC);
pub const BERTIL: &str = "SE2321000016-B2C3";
pub const ORIGIN: &str = "https://eid.example";
pub const RETURN_URL: &str = "https://eid.example/login/return";

pub struct World {
    pub pki: Pki,
    /// The fixture's store.
    pub store: Arc<AnyStore>,
    pub orders: Orders<AnyStore>,
    /// Anna's two-PIN card.
    pub anna: TestCard,
    /// Bertil's two-PIN card.
    pub bertil: TestCard,
}

pub async fn world() -> World {
    let pki = Pki::new(NOW).await;
    pki.add_person(BERTIL, "Bertil").await;
    let anna = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let bertil = pki.card(BERTIL, "9752000002", CardKind::TwoPin).await;
    let orders = Orders::new(pki.store.clone(), pki.ca.clone(), OrderConfig::new(ORIGIN)).unwrap();
    World {
        store: pki.store.clone(),
        pki,
        orders,
        anna,
        bertil,
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
    /// An engine over the same store and CA that also holds the card master key, as the
    /// server's does: it answers the cards' management-key challenges.
    pub fn with_master(&self) -> Orders<AnyStore> {
        Orders::new(
            self.pki.store.clone(),
            self.pki.ca.clone(),
            OrderConfig::new(ORIGIN),
        )
        .unwrap()
        .with_card_master(Arc::new(self.pki.master.clone()))
    }

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
    let q = eid_testkit::query(url);
    (q["orderRef"].clone(), q["secret"].clone())
}
