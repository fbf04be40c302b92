//! PIN lockout and unblock with the PUK through the PC/SC stack: the app's PIN services
//! reach the card through pcscd, the card counts the tries and blocks, and what it decided
//! is in the card file afterwards.

use eid_card::{Card as _, CardError, Pin, PinRef};
use eid_testkit::{Browser, CardKind, Letter, Page, encode};
use zeroize::Zeroizing;

use super::stack::Stack;

async fn pin_page(stack: &Stack, browser: &mut Browser) -> Page {
    let app = stack.app();
    let page = browser
        .get(&format!("{}/{}/pin", app.url, app.capability))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

async fn post(
    stack: &Stack,
    browser: &mut Browser,
    page: &Page,
    action: &str,
    pairs: &[(&str, &str)],
) -> Page {
    let app = stack.app();
    let csrf = page.input("csrf");
    let mut all = vec![("csrf", csrf.as_str()), ("lang", "sv")];
    all.extend_from_slice(pairs);
    let url = format!("{}/{}/pin/{action}", app.url, app.capability);
    let r = browser
        .http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.url)
        .body(encode(&all));
    browser.send(&url, r).await
}

fn pin(value: &str) -> Pin {
    Pin::new(Zeroizing::new(value.to_owned()))
}

#[tokio::test]
async fn pin2_locks_after_three_wrong_tries_and_the_puk_unblocks_it_through_pcsc() {
    let mut stack = Stack::start(CardKind::TwoPin).await;
    let Letter::TwoPin { pin2, puk, .. } = stack.card.letter.clone() else {
        panic!("a two-PIN card");
    };
    let mut browser = stack.server.browser();
    let page = pin_page(&stack, &mut browser).await;
    assert!(page.body.contains("Lås upp med PUK"), "{}", page.body);

    let change = |old: &'static str| {
        [
            ("which", "pin2"),
            ("old", old),
            ("new", "111111"),
            ("again", "111111"),
        ]
    };
    for left in [2, 1] {
        let wrong = post(&stack, &mut browser, &page, "change", &change("000000")).await;
        assert!(
            wrong.body.contains(&format!("Försök kvar: {left}")),
            "{}",
            wrong.body
        );
    }
    let blocked = post(&stack, &mut browser, &page, "change", &change("000000")).await;
    assert!(blocked.body.contains("spärrad"), "{}", blocked.body);
    // The right code no longer helps: the card refuses it.
    let still = post(
        &stack,
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
    assert!(still.body.contains("spärrad"), "{}", still.body);

    // A wrong PUK costs a PUK try; the right one sets a new PIN2.
    let wrong_puk = post(
        &stack,
        &mut browser,
        &page,
        "unblock",
        &[
            ("which", "pin2"),
            ("puk", "00000000"),
            ("new", "246802"),
            ("again", "246802"),
        ],
    )
    .await;
    assert!(!wrong_puk.body.contains("upplåst"), "{}", wrong_puk.body);
    let unblocked = post(
        &stack,
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

    // What the card decided is in its memory: the new PIN2 with all its tries, and the PUK's
    // tries restored by the right PUK (docs/card.md).
    let card = stack.take_out();
    for code in [PinRef::Pin2, PinRef::Puk] {
        let status = card.pin_status(code).unwrap();
        assert_eq!(status.tries_left, status.tries_total, "{code:?}");
    }
    assert!(matches!(
        card.verify(PinRef::Pin2, &pin(&pin2)),
        Err(CardError::WrongPin { .. })
    ));
    card.verify(PinRef::Pin2, &pin("246802")).unwrap();
}
