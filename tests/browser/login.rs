//! The login ceremony in a real browser, and the ways it ends without a login.

use std::time::Duration;

use eid_testkit::CardKind;

use crate::World;
use crate::site::Outcome;

/// The text the waiting page's status line shows once collect has told it.
async fn status(browser: &crate::Browser, needle: &str) {
    browser.wait_for_text(needle).await;
}

#[tokio::test]
async fn a_card_login_ends_at_the_relying_party_with_a_verified_id_token() {
    let w = World::start("login", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    let waiting = b.open_tab(&launch).await;
    let dialog = b.wait_for_text("Ange din säkerhetskod").await;
    assert!(dialog.contains("Testtjänsten"), "who asks: {dialog}");
    assert!(dialog.contains("9752000001"), "which card: {dialog}");
    b.shot("app-dialog").await;
    b.fill("#pin", &w.card.pin1).await;
    b.click("form[action$='/sign'] button[type=submit]").await;
    b.wait_for_url(&w.site.base).await;
    let page = b.wait_for_text("Inloggad").await;
    b.shot("logged-in").await;
    assert!(page.contains("Anna Andersson"), "{page}");
    let outcomes = w.site.outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let Outcome::LoggedIn { subject, name } = &outcomes[0] else {
        panic!("not logged in: {outcomes:?}");
    };
    assert_eq!(name, "Anna Andersson");
    assert!(!subject.is_empty());
    // The waiting page learns that the order is complete.
    b.switch_to(waiting).await;
    status(&b, "Klart").await;
    b.shot("waiting-page-after").await;

    // The login session holds: the next login of the same browser needs no card.
    b.goto(&format!("{}/login", w.site.base)).await;
    b.wait_for_url(&w.site.base).await;
    b.wait_for_text("Inloggad").await;
    assert_eq!(w.site.outcomes().len(), 2);
}

#[tokio::test]
async fn a_wrong_pin_shows_the_tries_left_and_three_block_it() {
    let w = World::start("wrong-pin", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    let waiting = b.open_tab(&launch).await;
    for left in [2, 1] {
        b.fill("#pin", "000000").await;
        b.click("form[action$='/sign'] button[type=submit]").await;
        b.wait_for_text(&format!("Fel säkerhetskod. Försök kvar: {left}"))
            .await;
        b.shot(&format!("tries-left-{left}")).await;
    }
    b.fill("#pin", "000000").await;
    b.click("form[action$='/sign'] button[type=submit]").await;
    let blocked = b.wait_for_text("spärrad").await;
    assert!(blocked.contains("PUK"), "what to do: {blocked}");
    b.shot("blocked").await;
    b.switch_to(waiting).await;
    status(&b, "Säkerhetskoden är spärrad").await;
    b.shot("waiting-page-blocked").await;
    assert!(w.site.outcomes().is_empty());
}

#[tokio::test]
async fn cancel_in_the_app_ends_the_order_on_the_waiting_page() {
    let w = World::start("cancel", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    let waiting = b.open_tab(&launch).await;
    b.wait_for_text("Ange din säkerhetskod").await;
    b.click("form[action$='/cancel'] button[type=submit]").await;
    b.wait_for_text("Avbrutet").await;
    b.shot("app-cancelled").await;
    b.switch_to(waiting).await;
    status(&b, "Inloggningen avbröts i eID-appen").await;
    b.shot("waiting-page-cancelled").await;
    assert!(w.site.outcomes().is_empty());
}

#[tokio::test]
async fn cancel_on_the_waiting_page_stops_the_app_too() {
    let w = World::start("cancel-page", CardKind::TwoPin).await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    b.click("#cancel").await;
    status(&b, "Inloggningen avbröts.").await;
    b.shot("waiting-page-cancelled").await;
    b.open_tab(&launch).await;
    let page = b.wait_for_text("eID").await;
    assert!(!page.contains("Ange din säkerhetskod"), "{page}");
    b.shot("app-after-cancel").await;
    assert!(w.site.outcomes().is_empty());
}

#[tokio::test]
async fn an_expired_order_says_so_and_the_pin_is_not_used() {
    let w = World::start_with("expired", CardKind::TwoPin, |s| {
        s.order_lifetime = time::Duration::seconds(3);
    })
    .await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    let waiting = b.open_tab(&launch).await;
    b.wait_for_text("Ange din säkerhetskod").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    b.fill("#pin", &w.card.pin1).await;
    b.click("form[action$='/sign'] button[type=submit]").await;
    b.wait_for_text("har gått ut").await;
    b.shot("app-expired").await;
    b.switch_to(waiting).await;
    status(&b, "Tiden gick ut").await;
    b.shot("waiting-page-expired").await;
    assert!(w.site.outcomes().is_empty());
}

/// The relay attack: the order is started in browser A (the attacker's), its launch link
/// reaches the card holder, whose app and browser B complete it. The order counts only
/// with A's browser session cookie, and B's return carries B's: nobody is logged in.
#[tokio::test]
async fn an_order_relayed_to_another_browser_logs_nobody_in() {
    let w = World::start("relay", CardKind::TwoPin).await;
    let mut attacker = w.driver.browser("attacker").await;
    let launch = w.legitimera(&mut attacker).await;
    let mut victim = w.driver.browser("victim").await;
    victim.goto(&launch).await;
    victim.wait_for_text("Ange din säkerhetskod").await;
    victim.shot("app-dialog").await;
    victim.fill("#pin", &w.card.pin1).await;
    victim
        .click("form[action$='/sign'] button[type=submit]")
        .await;
    let refused = victim.wait_for_url(&w.server.base).await;
    assert!(refused.contains("/login/return"), "{refused}");
    victim.shot("return-refused").await;
    let page = victim.text().await;
    assert!(page.contains("startades i en annan webbläsare"), "{page}");
    attacker.wait_for_text("kunde inte slutföras").await;
    attacker.shot("waiting-page-failed").await;
    assert!(w.site.outcomes().is_empty(), "{:?}", w.site.outcomes());
}

/// A one-PIN card fresh from its PIN letter is offered activation in the app: the transport
/// code and a new security code, then the login goes on.
#[tokio::test]
async fn a_new_one_pin_card_is_activated_on_the_way() {
    let w = World::start("activate", CardKind::OnePin).await;
    let mut b = w.driver.browser("anna").await;
    let launch = w.legitimera(&mut b).await;
    b.open_tab(&launch).await;
    b.wait_for_text("Aktivera ditt kort").await;
    b.shot("activation").await;
    b.fill("input[name=transport]", &w.card.pin1).await;
    b.fill("input[name=pin]", "24681357").await;
    b.fill("input[name=again]", "24681357").await;
    b.click("form[action$='/activate'] button[type=submit]")
        .await;
    b.wait_for_url(&w.site.base).await;
    b.wait_for_text("Anna Andersson").await;
    b.shot("logged-in").await;
    assert!(matches!(w.site.outcomes()[..], [Outcome::LoggedIn { .. }]));
}
