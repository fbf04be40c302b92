//! The PIN services of the app (issue 5 item 6): change PIN1 and PIN2, unblock a blocked
//! PIN2 with the PUK on a two-PIN card, and on a one-PIN (7XX) card the word to contact
//! the ID administrator.

use eid_card::{Card, CardClient, Pin, PinRef, VirtualCard, VirtualReader};
use eid_testkit::{Browser, CardKind, Letter, Page, TestApp, encode};
use zeroize::Zeroizing;

use crate::world::{World, start, start_with};

async fn post(
    app: &TestApp,
    browser: &mut Browser,
    page: &Page,
    action: &str,
    pairs: &[(&str, &str)],
) -> Page {
    post_with(app, browser, &page.input("csrf"), action, pairs).await
}

async fn post_with(
    app: &TestApp,
    browser: &mut Browser,
    csrf: &str,
    action: &str,
    pairs: &[(&str, &str)],
) -> Page {
    let mut all = vec![("csrf", csrf.to_owned()), ("lang", "sv".to_owned())];
    all.extend(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{}/{}/pin/{action}", app.url, app.capability);
    let r = browser
        .http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.url)
        .body(encode(&borrowed));
    browser.send(&url, r).await
}

async fn pin_page(world: &World, browser: &mut Browser) -> Page {
    let app = world.app();
    let page = browser
        .get(&format!("{}/{}/pin", app.url, app.capability))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn verifies(world: &World, pin: PinRef, value: &str) -> bool {
    let card = CardClient::new(VirtualReader::new(
        VirtualCard::open(&world.card.path).unwrap(),
    ));
    card.select().unwrap();
    card.verify(pin, &Pin::new(Zeroizing::new(value.to_owned())))
        .is_ok()
}

#[tokio::test]
async fn a_two_pin_card_changes_its_codes_and_unblocks_pin2_with_the_puk() {
    let world = start().await;
    let Letter::TwoPin { pin1, pin2, puk } = world.card.letter.clone() else {
        panic!("a two-PIN card");
    };
    let app = world.app();
    let mut browser = world.server.browser();
    let page = pin_page(&world, &mut browser).await;
    assert!(
        page.body.contains("Byt säkerhetskod (PIN1)"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Byt underskriftskod (PIN2)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Lås upp med PUK"), "{}", page.body);

    // A wrong current code costs a try and says how many are left.
    let wrong = post(
        app,
        &mut browser,
        &page,
        "change",
        &[
            ("which", "pin1"),
            ("old", "000000"),
            ("new", "111111"),
            ("again", "111111"),
        ],
    )
    .await;
    assert!(wrong.body.contains("Försök kvar: 2"), "{}", wrong.body);
    let differ = post(
        app,
        &mut browser,
        &page,
        "change",
        &[
            ("which", "pin1"),
            ("old", &pin1),
            ("new", "111111"),
            ("again", "111112"),
        ],
    )
    .await;
    assert!(differ.body.contains("olika"), "{}", differ.body);
    let changed = post(
        app,
        &mut browser,
        &page,
        "change",
        &[
            ("which", "pin1"),
            ("old", &pin1),
            ("new", "135791"),
            ("again", "135791"),
        ],
    )
    .await;
    assert!(
        changed.body.contains("Säkerhetskoden är bytt"),
        "{}",
        changed.body
    );
    assert!(verifies(&world, PinRef::Pin1, "135791"));

    // PIN2 blocked by three wrong tries, then unblocked with the PUK.
    for _ in 0..3 {
        post(
            app,
            &mut browser,
            &page,
            "change",
            &[
                ("which", "pin2"),
                ("old", "000000"),
                ("new", "111111"),
                ("again", "111111"),
            ],
        )
        .await;
    }
    let blocked = post(
        app,
        &mut browser,
        &page,
        "change",
        &[
            ("which", "pin2"),
            ("old", &pin2),
            ("new", "111111"),
            ("again", "111111"),
        ],
    )
    .await;
    assert!(blocked.body.contains("spärrad"), "{}", blocked.body);
    let unblocked = post(
        app,
        &mut browser,
        &page,
        "unblock",
        &[
            ("which", "pin2"),
            ("puk", &puk),
            ("new", "246802"),
            ("again", "246802"),
        ],
    )
    .await;
    assert!(unblocked.body.contains("upplåst"), "{}", unblocked.body);
    assert!(verifies(&world, PinRef::Pin2, "246802"));

    // A forged form is refused.
    let refused = post_with(
        app,
        &mut browser,
        "forged",
        "change",
        &[
            ("which", "pin1"),
            ("old", "135791"),
            ("new", "111111"),
            ("again", "111111"),
        ],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(verifies(&world, PinRef::Pin1, "135791"));
}

#[tokio::test]
async fn a_one_pin_card_is_unblocked_by_the_id_administrator() {
    let world = start_with(CardKind::OnePin).await;
    // Activated first (PIN1 chosen), as at the first login.
    let card = CardClient::new(VirtualReader::new(
        VirtualCard::open(&world.card.path).unwrap(),
    ));
    card.select().unwrap();
    card.change_pin(
        PinRef::Pin1,
        &Pin::new(Zeroizing::new(world.card.pin1.clone())),
        &Pin::new(Zeroizing::new("246810".to_owned())),
    )
    .unwrap();
    drop(card);
    let mut browser = world.server.browser();
    let page = pin_page(&world, &mut browser).await;
    assert!(
        page.body.contains("Byt säkerhetskod (PIN1)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Byt underskriftskod"), "{}", page.body);
    assert!(
        page.body.contains("kontakta din ID-administratör"),
        "{}",
        page.body
    );
    let app = world.app();
    let refused = post(
        app,
        &mut browser,
        &page,
        "unblock",
        &[
            ("which", "pin1"),
            ("puk", "12345678"),
            ("new", "111111"),
            ("again", "111111"),
        ],
    )
    .await;
    assert!(
        refused.body.contains("Kontakta din ID-administratör"),
        "{}",
        refused.body
    );
}
