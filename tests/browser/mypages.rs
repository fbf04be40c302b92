//! My Pages in a real browser, seed steps 1–3: *Mina sidor* → *LOGGA IN* → the provider's
//! login page → *eID på denna enhet* / *Legitimera* → the eID app's page (PIN1) → back to
//! the start page, where the card is expanded with the green arrow, marked as the one
//! logged in with, and offers *Hämta underskriftscertifikat* (or says why not). Also: the
//! refusal path, logout, a fetch form without its CSRF token, the cookies' attributes, and
//! *Spärra certifikat* after a whole fetch.

use eid_server::Settings;
use eid_store::Store as _;
use eid_testkit::{ANNA, CardFile, CardKind, Letter, Pki, Server, SigningPolicy};
use fantoccini::Locator;

use crate::driver::{Browser, Driver};

/// A server with the eID app holding `holder`'s card file, and Chromium.
pub(crate) struct MyPages {
    pub(crate) server: Server,
    pub(crate) card: CardFile,
    pub(crate) driver: Driver,
}

impl MyPages {
    /// Anna (self-service organisation) with a two-PIN card in the app and a second card
    /// that stays in the drawer.
    async fn anna(test: &str) -> Self {
        let pki = Pki::new(eid_clock::Clock::now(&eid_clock::SystemClock)).await;
        let card = pki.card_file(ANNA, "9752000001", CardKind::TwoPin).await;
        let _drawer = pki.card(ANNA, "9752000002", CardKind::TwoPin).await;
        Self::start(test, pki, card, |_| {}).await
    }

    pub(crate) async fn start(
        test: &str,
        pki: Pki,
        card: CardFile,
        edit: impl FnOnce(&mut Settings) + Send + 'static,
    ) -> Self {
        let server = Server::builder(pki)
            .app(vec![card.path.clone()])
            .settings(edit)
            .start()
            .await;
        let driver = Driver::start(test).await;
        Self {
            server,
            card,
            driver,
        }
    }

    /// Seed steps 1 and 2: from `/mypages` through the provider's login page and the app's
    /// PIN dialog back to the start page.
    pub(crate) async fn log_in(&self, b: &mut Browser) {
        let base = &self.server.base;
        b.goto(&format!("{base}/mypages")).await;
        b.wait_for_text("LOGGA IN").await;
        b.shot("start-page").await;
        b.click("#login").await;
        b.wait_for_url(&format!("{base}/oidc/authorize")).await;
        b.wait_for_text("eID på denna enhet").await;
        assert!(b.text().await.contains("Mina sidor"), "who asks");
        b.shot("provider-login").await;
        b.click("form[action='/login'] button[type=submit]").await;
        b.wait_for_text("Väntar på eID-appen").await;
        let launch = b.href("#launch").await;
        b.shot("waiting").await;
        let waiting = b.open_tab(&launch).await;
        let dialog = b.wait_for_text("Ange din säkerhetskod").await;
        assert!(dialog.contains(&self.card.number), "{dialog}");
        b.shot("app-pin1").await;
        b.fill("#pin", &self.card.pin1).await;
        b.click("form[action$='/sign'] button[type=submit]").await;
        b.wait_for_url(&format!("{base}/mypages")).await;
        b.wait_for_text("Dina eID").await;
        b.shot("logged-in").await;
        // The waiting page's tab is left as it is; the holder goes on in this one.
        let _ = waiting;
    }

    /// Seed step 3: the green arrow opens the card; returns the card's text.
    pub(crate) async fn expand(&self, b: &mut Browser, card: &str) -> String {
        let details = format!("details#card-{card}");
        let open = |b: &Browser| {
            let details = details.clone();
            let client = b.client.clone();
            async move {
                client
                    .find(Locator::Css(&details))
                    .await
                    .unwrap()
                    .attr("open")
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        assert!(!open(b).await, "cards start closed");
        b.click(&format!("{details} > summary")).await;
        assert!(open(b).await, "the arrow opened the card");
        b.shot(&format!("card-{card}-expanded")).await;
        b.client
            .find(Locator::Css(&details))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn seed_steps_1_to_3_log_in_and_show_the_card_with_the_fetch_button() {
    let w = MyPages::anna("mypages").await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    let page = b.text().await;
    assert!(page.contains("Anna Andersson"), "{page}");
    assert!(
        page.contains("Om underskriftscertifikat"),
        "the policy: {page}"
    );
    let card = w.expand(&mut b, "9752000001").await;
    for word in [
        "Du är inloggad med detta kort",
        "Kortnummer",
        "9752000001",
        "Produktnummer",
        "610",
        "Legitimeringscertifikat",
        "Giltigt",
        "Underskriftscertifikat",
        "underskriftskod (PIN2)",
        "Hämta underskriftscertifikat",
    ] {
        assert!(card.contains(word), "{word}: {card}");
    }
    // The card in the drawer is not the one logged in with: no button, the reason.
    let other = w.expand(&mut b, "9752000002").await;
    assert!(!other.contains("Du är inloggad med detta kort"), "{other}");
    assert!(
        other.contains("Du är inloggad med ett annat kort"),
        "{other}"
    );
    let buttons = b
        .client
        .find_all(Locator::Css("form.fetch button"))
        .await
        .unwrap();
    assert_eq!(buttons.len(), 1, "one fetch button, on the login card");
    b.client
        .execute(
            "document.querySelector('form.fetch button').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .unwrap();
    b.shot("fetch-button").await;

    // The cookies: __Host-, Secure, HttpOnly, SameSite=Lax, no Domain.
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "__Host-eid-mypages")
        .expect("the session cookie");
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax")
    );
    assert_eq!(session.path(), Some("/"));
    assert!(
        !cookies
            .iter()
            .any(|c| c.name() == "__Host-eid-mypages-login"),
        "the pending login is spent"
    );

    // English, through the switch, keeps the session.
    b.click("a.lang").await;
    b.wait_for_text("Your eIDs").await;
    b.shot("english").await;
    b.click("a.lang").await;
    b.wait_for_text("Dina eID").await;

    // Step 4: *Hämta underskriftscertifikat* starts the fetch; the page says which code and
    // to keep the card in the reader, polls the order, and can cancel it.
    w.expand(&mut b, "9752000001").await;
    b.click("form.fetch button[type=submit]").await;
    let waiting = b
        .wait_for_text("Ta inte ut kortet ur kortläsaren medan hämtningen pågår")
        .await;
    assert!(waiting.contains("underskriftskod (PIN2)"), "{waiting}");
    let launch = b.href("#launch").await;
    assert!(launch.starts_with(&w.server.app().launch_base), "{launch}");
    b.wait_for_text("Starta eID-appen.").await;
    b.shot("fetch-waiting").await;
    b.click("#cancel").await;
    b.wait_for_text("Hämtningen avbröts.").await;
    b.shot("fetch-cancelled").await;
}

#[tokio::test]
async fn a_fetch_form_without_its_csrf_token_is_refused() {
    let w = MyPages::anna("mypages-csrf").await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    w.expand(&mut b, "9752000001").await;
    // As a forged form would: the same POST without the token.
    b.client
        .execute(
            "document.querySelector('form.fetch input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    b.click("form.fetch button[type=submit]").await;
    b.wait_for_text("Begäran kunde inte godtas").await;
    b.shot("csrf-refused").await;
}

#[tokio::test]
async fn logout_returns_to_the_start_page_and_ends_the_login() {
    let w = MyPages::anna("mypages-logout").await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    b.click("form.logout button[type=submit]").await;
    b.wait_for_text("LOGGA IN").await;
    b.shot("logged-out").await;
    assert!(b.url().await.ends_with("/mypages"), "{}", b.url().await);
    let cookies = b.client.get_all_cookies().await.unwrap();
    for gone in ["__Host-eid-mypages", "__Host-eid-sso"] {
        assert!(!cookies.iter().any(|c| c.name() == gone), "{gone} stays");
    }
    // A new login needs the card again: the provider shows its login page.
    b.click("#login").await;
    b.wait_for_text("eID på denna enhet").await;
}

/// Bo's organisation has not decided on signing certificates: his card shows the reason
/// and no button.
#[tokio::test]
async fn a_person_whose_organisation_has_not_decided_sees_the_reason() {
    let pki = Pki::new(eid_clock::Clock::now(&eid_clock::SystemClock)).await;
    pki.add_organisation("2321000017", "Region Avvaktar", SigningPolicy::Disabled)
        .await;
    pki.add_person_in("SE2321000017-B0B0", "Bo", "2321000017")
        .await;
    let card = pki
        .card_file("SE2321000017-B0B0", "9752000042", CardKind::TwoPin)
        .await;
    let w = MyPages::start("mypages-refused", pki, card, |_| {}).await;
    let mut b = w.driver.browser("bo").await;
    w.log_in(&mut b).await;
    let card = w.expand(&mut b, "9752000042").await;
    assert!(card.contains("Du är inloggad med detta kort"), "{card}");
    assert!(
        card.contains("Din organisation har inte beslutat"),
        "{card}"
    );
    assert!(!card.contains("Hämta underskriftscertifikat"), "{card}");
}

/// *Spärra certifikat* in the browser: a whole fetch through the app (PIN2, then PIN1),
/// then *Lista certifikat*, *Spärra*, the confirmation with a reason, and the list saying
/// *Spärrat* with the reason in words; the store agrees.
#[tokio::test]
async fn the_holder_revokes_the_fetched_signing_certificate_with_a_reason() {
    let w = MyPages::anna("mypages-revoke").await;
    let mut b = w.driver.browser("anna").await;
    w.log_in(&mut b).await;
    let pin2 = match &w.card.letter {
        Letter::TwoPin { pin2, .. } => pin2.clone(),
        Letter::OnePin { .. } => panic!("a two-PIN card"),
    };
    w.expand(&mut b, "9752000001").await;
    b.click("form.fetch button[type=submit]").await;
    b.wait_for_text("Ta inte ut kortet ur kortläsaren medan hämtningen pågår")
        .await;
    let launch = b.href("#launch").await;
    let _waiting = b.open_tab(&launch).await;
    b.wait_for_text("Ange din underskriftskod (PIN2)").await;
    b.fill("#pin", &pin2).await;
    b.click("form[action$='/enroll/key'] button[type=submit]")
        .await;
    b.wait_for_text("Hämtningen startar").await;
    b.fill("#pin", &w.card.pin1).await;
    b.click("form[action$='/enroll/approve'] button[type=submit]")
        .await;
    b.wait_for_url(&format!("{}/mypages", w.server.base)).await;
    b.wait_for_text("Hämtningen är klar").await;

    b.click("p.more a").await;
    let list = b.wait_for_text("Lista certifikat").await;
    assert!(list.contains("Spärras av ID-administratören"), "{list}");
    b.shot("certificate-list").await;
    b.click("form.revoke button[type=submit]").await;
    let confirm = b.wait_for_text("Varför spärrar du certifikatet?").await;
    assert!(confirm.contains("Spärren går inte att ångra"), "{confirm}");
    b.click("#reason-lost").await;
    b.shot("revoke-confirmation").await;
    b.click("form.revoke button.primary").await;
    let done = b.wait_for_text("Certifikatet är spärrat.").await;
    assert!(
        done.contains("kortet eller koden kan ha kommit i orätta händer"),
        "{done}"
    );
    b.shot("revoked").await;
    let signing: Vec<_> = w
        .server
        .pki
        .store
        .certificates_of_card("9752000001")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == eid_store::CertKind::Signing)
        .collect();
    assert_eq!(signing.len(), 1);
    assert!(matches!(
        signing[0].status,
        eid_store::CertStatus::Revoked {
            reason: eid_store::RevocationReason::KeyCompromise,
            ..
        }
    ));
}
