//! A fetch resumed: a card pulled out during the write, then a new fetch that gets the same
//! certificate (one only in the store); a server restarted twice mid-fetch.

use super::*;

#[tokio::test]
async fn a_card_pulled_out_during_the_write_is_resumed_with_the_same_certificate() {
    let (server, card) = held_world().await;
    let (session, started, fetch) = fetched(&server, "mypages").await;
    let key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    assert!(key.generated);
    let issued = fetch
        .approve(&card.client, &pin(&card.pin1), &key)
        .await
        .unwrap();
    card.armed.store(true, Ordering::SeqCst);
    let e = fetch.deliver(&card.client, &issued).await.unwrap_err();
    assert!(
        matches!(e, FetchError::Card(CardError::CardRemoved)),
        "{e:?}"
    );
    assert_eq!(e.hint(), Some(HintCode::CardRemoved));

    // Issued, not on the card: a visible state.
    let signing = signing_certificates(&server).await;
    assert_eq!(signing.len(), 1);
    assert_eq!(
        server
            .pki
            .store
            .delivered_at(&signing[0].serial)
            .await
            .unwrap(),
        None
    );
    // The order is signed and waits (the card's write is the app's; the store says the
    // certificate is not on the card).
    assert_eq!(
        collect(&server, &session, &started).await.0,
        OrderStatus::Pending
    );

    // The app was closed; the holder puts the card back and starts again from My Pages
    // (whose page cancels the order it was waiting on).
    card.put_back();
    server
        .state
        .orders
        .cancel(&started.order_ref, session.as_str(), SystemClock.now())
        .await
        .unwrap();
    let (_, _, again) = fetched(&server, "mypages").await;
    let key2 = again
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    assert!(
        !key2.generated,
        "the key of the interrupted fetch is used again"
    );
    assert_eq!(key2.public_key, key.public_key);
    let issued2 = again
        .approve(&card.client, &pin(&card.pin1), &key2)
        .await
        .unwrap();
    assert_eq!(
        issued2.der, issued.der,
        "the same certificate, delivered again"
    );
    again.deliver(&card.client, &issued2).await.unwrap();
    check_fetched(&server, &card.client).await;
}

#[tokio::test]
async fn a_fetch_survives_two_server_restarts() {
    let (server, card) = held_world().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    // A new server on the same store and port between every step.
    let server = server.restart().await;
    let issued = fetch
        .approve(&card.client, &pin(&card.pin1), &key)
        .await
        .unwrap();
    let server = server.restart().await;
    fetch.deliver(&card.client, &issued).await.unwrap();
    check_fetched(&server, &card.client).await;
}
