//! The order engine end to end with real virtual cards, a real CA and a real SQLite store:
//! the card verifies PIN1 and signs SHA-256 of the to-be-signed bytes with its 9A key.
//! One test binary: `refusals` (each refused completion, token, secret, session), `enroll`
//! (enrollment approvals, card activation) and `supersede` (a newer fetch for a card and
//! an older one: abandoned, concurrent, resumed) are modules of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

mod enroll;
mod refusals;
mod supersede;
mod world;

use time::Duration;

use eid_orders::{OrderError, Requester};
use eid_protocol::{AppCompletion, HintCode, OrderStatus};
use eid_store::Store;
use eid_store::orders::OrderStore;

use world::*;

pub fn later(seconds: i64) -> time::OffsetDateTime {
    NOW + Duration::seconds(seconds)
}

pub async fn collect_hint(
    w: &World,
    order_ref: &str,
    session: &eid_orders::SessionId,
) -> (OrderStatus, Option<HintCode>) {
    let c = w
        .orders
        .collect(order_ref, session.as_str(), later(10))
        .await
        .unwrap();
    (c.status, c.hint_code)
}

#[tokio::test]
async fn a_full_login_with_a_real_card() {
    let w = world().await;
    let session = w.session().await;
    let started = w.start(&login("mypages"), &session).await;
    assert_eq!(
        collect_hint(&w, &started.order_ref, &session).await,
        (OrderStatus::Pending, Some(HintCode::OutstandingTransaction))
    );

    let fetched = w.fetch(&started).await.unwrap();
    let order = &fetched.order;
    assert_eq!(order.order_ref, started.order_ref);
    assert_eq!(order.requester, "Mina sidor");
    assert_eq!(order.server_origin, ORIGIN);
    assert_eq!(order.text, "Logga in på Mina sidor");
    assert_eq!(order.card_number, None);
    assert_eq!(
        collect_hint(&w, &started.order_ref, &session).await,
        (OrderStatus::Pending, Some(HintCode::Started))
    );
    w.orders
        .app_report(&fetched.app_token, &HintCode::UserSign, later(3))
        .await
        .unwrap();
    assert_eq!(
        collect_hint(&w, &started.order_ref, &session).await,
        (OrderStatus::Pending, Some(HintCode::UserSign))
    );

    let completion = w.anna.complete_login(order);
    let done = w
        .orders
        .app_complete(&fetched.app_token, &completion, later(5), &mut rand::rng())
        .await
        .unwrap();
    let (order_ref, secret) = return_params(&done.return_url);
    assert!(
        done.return_url
            .starts_with(&format!("{RETURN_URL}?orderRef="))
    );
    assert_eq!(order_ref, started.order_ref);
    // Signed but not yet returned: still pending.
    assert_eq!(
        collect_hint(&w, &order_ref, &session).await.0,
        OrderStatus::Pending
    );

    let returned = w
        .orders
        .browser_return(&order_ref, &secret, session.as_str(), later(6))
        .await
        .unwrap();
    assert_eq!(returned.status, OrderStatus::Complete);
    let collected = w
        .orders
        .collect(&order_ref, session.as_str(), later(8))
        .await
        .unwrap();
    assert_eq!(collected, returned);
    let data = collected.completion_data.unwrap();
    assert_eq!(data.user.hsa_id, ANNA);
    assert_eq!(data.user.name, "Anna Andersson");
    assert_eq!(data.card_number, w.anna.number);
    assert_eq!(data.signature, completion.signature);
    let auth = w.store.certificates_of_card(&w.anna.number).await.unwrap();
    assert!(
        auth.iter()
            .any(|c| c.serial.to_string() == data.certificate_serial)
    );

    let actions = w.audit_actions().await;
    assert_eq!(
        actions[actions.len() - 3..],
        ["order.start", "order.sign", "order.complete"]
    );
    assert_eq!(
        eid_store::audit::verify(&*w.store, None)
            .await
            .unwrap()
            .entries,
        actions.len() as u64
    );
    // The store keeps no raw token.
    let stored = w.store.order(&order_ref).await.unwrap().unwrap();
    assert_eq!(
        stored.autostart_token_sha256,
        eid_orders::sha256(started.auto_start_token.as_bytes())
    );
    assert_ne!(
        stored.return_secret_sha256,
        Some(eid_orders::sha256(secret.as_bytes()))
    );
}

#[tokio::test]
async fn a_relayed_order_never_logs_anyone_in() {
    let w = world().await;
    let attacker = w.session().await;
    let victim = w.session().await;
    // The attacker starts an order and pushes its launch link to the victim, whose app
    // signs and sends the victim's browser to the return URL.
    let started = w.start(&login("mypages"), &attacker).await;
    let fetched = w.fetch(&started).await.unwrap();
    let done = w
        .orders
        .app_complete(
            &fetched.app_token,
            &w.anna.complete_login(&fetched.order),
            later(5),
            &mut rand::rng(),
        )
        .await
        .unwrap();
    let (order_ref, secret) = return_params(&done.return_url);
    assert!(matches!(
        w.orders
            .browser_return(&order_ref, &secret, victim.as_str(), later(6))
            .await,
        Err(OrderError::Relayed)
    ));
    // The attacker's collect never completes, and the secret is spent even for them.
    assert_eq!(
        collect_hint(&w, &order_ref, &attacker).await,
        (OrderStatus::Failed, Some(HintCode::StartFailed))
    );
    assert!(matches!(
        w.orders
            .browser_return(&order_ref, &secret, attacker.as_str(), later(7))
            .await,
        Err(OrderError::ReturnRefused)
    ));
    assert_eq!(
        collect_hint(&w, &order_ref, &attacker).await.0,
        OrderStatus::Failed
    );
    assert!(
        w.audit_actions()
            .await
            .ends_with(&["order.sign".into(), "order.fail".into()])
    );
}

/// Starts and fetches a login order; returns the session and what the app fetched.
pub async fn fetched_login(w: &World) -> (eid_orders::SessionId, eid_protocol::AppFetchResponse) {
    let session = w.session().await;
    let started = w.start(&login("mypages"), &session).await;
    (session, w.fetch(&started).await.unwrap())
}

/// Completing with `completion` is refused with an error matching `expected`; the order
/// then collects as failed with `hint` (or stays as it was when `hint` is `None`); the
/// cards' states do not change and the only audit entry added is the order's failure.
pub async fn refused_completion(
    w: &World,
    session: &eid_orders::SessionId,
    fetched: &eid_protocol::AppFetchResponse,
    completion: &AppCompletion,
    expected: impl Fn(&OrderError) -> bool,
    hint: Option<HintCode>,
) {
    let cards_before = w.store.cards(None).await.unwrap();
    let order_before = w.store.order(&fetched.order.order_ref).await.unwrap();
    let audit_before = w.audit_actions().await.len();
    let err = w
        .orders
        .app_complete(&fetched.app_token, completion, later(5), &mut rand::rng())
        .await
        .unwrap_err();
    assert!(expected(&err), "unexpected error {err:?}");
    assert_eq!(w.store.cards(None).await.unwrap(), cards_before);
    let order = w
        .store
        .order(&fetched.order.order_ref)
        .await
        .unwrap()
        .unwrap();
    assert!(order.signature.is_none() && order.return_secret_sha256.is_none());
    let actions = w.audit_actions().await;
    match hint {
        Some(hint) => {
            assert_eq!(
                collect_hint(w, &fetched.order.order_ref, session).await,
                (OrderStatus::Failed, Some(hint))
            );
            assert_eq!(actions[audit_before..], ["order.fail"]);
        }
        None => {
            assert_eq!(Some(order), order_before);
            assert_eq!(actions.len(), audit_before);
        }
    }
}

#[tokio::test]
async fn bad_starts_are_refused() {
    let w = world().await;
    let session = w.session().await;
    let before = w.audit_actions().await.len();
    let start = |order: eid_orders::NewOrder, session: String| {
        let w = &w;
        async move {
            w.orders
                .start(&order, &session, NOW, &mut rand::rng())
                .await
        }
    };
    assert!(matches!(
        start(login("mypages"), "no-such-session".into()).await,
        Err(OrderError::NoBrowserSession)
    ));
    let expired = w.orders.config().browser_session_lifetime + Duration::seconds(1);
    assert!(matches!(
        w.orders
            .start(
                &login("mypages"),
                session.as_str(),
                NOW + expired,
                &mut rand::rng()
            )
            .await,
        Err(OrderError::NoBrowserSession)
    ));
    let mut bad = Vec::new();
    for url in [
        "javascript:alert(1)",
        "https://",
        "/relative",
        "https://x.example/#frag",
        "https://x.example/a b",
    ] {
        bad.push(eid_orders::NewOrder {
            return_url: url.into(),
            ..login("mypages")
        });
    }
    bad.push(eid_orders::NewOrder {
        text: String::new(),
        ..login("mypages")
    });
    bad.push(eid_orders::NewOrder {
        text: "x".repeat(1501),
        ..login("mypages")
    });
    bad.push(eid_orders::NewOrder {
        text: "a\u{0}b".into(),
        ..login("mypages")
    });
    bad.push(eid_orders::NewOrder {
        requester: Requester {
            client_id: "mypages".into(),
            display_name: " ".into(),
        },
        ..login("mypages")
    });
    bad.push(eid_orders::NewOrder {
        card_number: Some(w.anna.number.clone()),
        ..login("mypages")
    });
    bad.push(eid_orders::NewOrder {
        card_number: None,
        ..enroll(&w.anna.number)
    });
    bad.push(enroll("9752000404"));
    bad.push(eid_orders::NewOrder {
        kind: eid_protocol::OrderKind::Sign,
        ..login("mypages")
    });
    for order in bad {
        assert!(
            matches!(
                start(order.clone(), session.as_str().into()).await,
                Err(OrderError::InvalidParameters(_))
            ),
            "{order:?}"
        );
    }
    assert_eq!(w.audit_actions().await.len(), before);
}
