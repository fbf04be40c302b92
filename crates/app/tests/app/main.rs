//! The eID app against a real server started in-process, driven over loopback HTTP as the
//! card holder's browser would: the loopback UI's defences, the launch page, a full login,
//! a wrong PIN, a blocked PIN and a cancel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.
mod fetch;
mod pins;
mod world;

use eid_testkit::{Browser, CardKind, Page, RP_REDIRECT, TestApp, encode, query};
use world::{World, start, start_with};

fn assert_headers(page: &Page) {
    let h = &page.headers;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.get("access-control-allow-origin").is_none());
}

/// Starts an order in `browser` and opens the app's launch page.
async fn launch(world: &World, browser: &mut Browser, lang: Option<&str>) -> (Page, String) {
    let request = world.rp.auth_request(&[]);
    let mut link = world.start_order(browser, &request).await;
    if let Some(l) = lang {
        link = format!("{link}&lang={l}");
    }
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_headers(&page);
    (page, request.verifier)
}

#[tokio::test]
async fn the_launch_page_shows_who_asks_and_for_what_from_the_order() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    assert!(
        page.body.contains("id=\"requester\">Testtjänsten<"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Logga in på Testtjänsten"),
        "{}",
        page.body
    );
    assert!(page.body.contains("9752000001"), "the card in use");
    assert!(page.body.contains("Ange din säkerhetskod"));
    assert!(page.body.contains("Legitimera"));
    assert!(page.body.contains("Avbryt"));
    assert!(!page.input("csrf").is_empty());
    // The focus starts in the PIN field, which has its label.
    assert!(page.body.contains("<label for=\"pin\">"));
    assert!(
        page.body
            .contains("<input id=\"pin\" type=\"password\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\" autofocus>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<html lang=\"sv\">"));
    assert!(!page.body.contains("style=") && !page.body.contains("<script"));

    // In English on request.
    let (page, _) = launch(&world, &mut browser, Some("en")).await;
    assert!(
        page.body.contains("Enter your security code"),
        "{}",
        page.body
    );
}

/// The app's pages look like the server's: the server's stylesheet, from the app itself,
/// under the capability path only.
#[tokio::test]
async fn the_dialog_has_the_stylesheet_of_the_server_pages() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let app = world.app();
    let href = format!("/{}/eid.css", app.capability);
    assert!(
        page.body
            .contains(&format!("<link rel=\"stylesheet\" href=\"{href}\">")),
        "{}",
        page.body
    );
    let css = browser.get(&format!("{}{href}", app.url)).await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_headers(&css);
    let server_css = browser
        .get(&format!("{}/static/eid.css", world.server.base))
        .await;
    assert_eq!(css.body, server_css.body, "one stylesheet");
    assert!(css.body.contains("main.dialog"));
    // Not outside the capability path: no other page can tell the app is there.
    let r = browser.get(&format!("{}/eid.css", app.url)).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_used_link_shows_no_order() {
    let world = start().await;
    let mut browser = world.server.browser();
    let link = world
        .start_order(&mut browser, &world.rp.auth_request(&[]))
        .await;
    assert_eq!(browser.get(&link).await.status, 200);
    let again = browser.get(&link).await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("redan öppnad"), "{}", again.body);
}

#[tokio::test]
async fn a_full_login_through_the_app_gives_the_client_its_code() {
    let world = start().await;
    let mut browser = world.server.browser();
    let request = world.rp.auth_request(&[]);
    let link = world.start_order(&mut browser, &request).await;
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);

    let signed = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", &world.card.pin1)])
        .await;
    let back = signed.return_url();
    assert!(
        back.starts_with(&format!("{}/login/return", world.server.base)),
        "{back}"
    );
    assert!(!back.contains(&world.card.pin1));

    // The browser that started the order follows the redirect with its cookie.
    let done = browser.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location();
    assert!(location.starts_with(RP_REDIRECT), "{location}");
    let q = query(&location);
    assert_eq!(q["state"], request.state);
    let (status, tokens) = world.rp.token(&q["code"], Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());

    // The launch is finished: posting it again does nothing.
    let again = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert_eq!(again.status, 409);
}

#[tokio::test]
async fn the_relay_attack_fails_another_browser_gets_no_code() {
    let world = start().await;
    let mut victim_of_relay = world.server.browser();
    let mut attacker = world.server.browser();
    let link = world
        .start_order(&mut attacker, &world.rp.auth_request(&[]))
        .await;
    let page = victim_of_relay.get(&link).await;
    let signed = world
        .app()
        .post(
            &mut victim_of_relay,
            &page,
            "sign",
            &[("pin", &world.card.pin1)],
        )
        .await;
    // The signing browser never started the order: no code for it.
    let done = victim_of_relay.get(&signed.return_url()).await;
    let location = done
        .headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    assert!(
        !location.is_some_and(|l| l.contains("code=")),
        "{}",
        done.body
    );
}

#[tokio::test]
async fn a_wrong_pin_shows_tries_left_and_completes_nothing() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let wrong = if world.card.pin1 == "000000" {
        "111111"
    } else {
        "000000"
    };
    let again = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", wrong)])
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(
        again.body.contains("Fel säkerhetskod. Försök kvar: 2"),
        "{}",
        again.body
    );
    assert!(!again.body.contains(wrong));
    assert_eq!(
        browser.collect().await,
        ("pending".to_owned(), "userSign".to_owned())
    );
    // The dialog is shown again for the same launch; the right PIN still works.
    let signed = world
        .app()
        .post(&mut browser, &again, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert!(signed.return_url().contains("/login/return?"));
}

#[tokio::test]
async fn a_blocked_pin_says_so_and_how_to_unblock() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (mut page, _) = launch(&world, &mut browser, None).await;
    let wrong = if world.card.pin1 == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in [2, 1] {
        page = world
            .app()
            .post(&mut browser, &page, "sign", &[("pin", wrong)])
            .await;
        assert!(
            page.body.contains(&format!("Försök kvar: {left}")),
            "{}",
            page.body
        );
    }
    let blocked = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", wrong)])
        .await;
    assert_eq!(blocked.status, 200);
    assert!(blocked.body.contains("spärrad"), "{}", blocked.body);
    assert!(blocked.body.contains("PUK"), "{}", blocked.body);
    assert!(
        blocked.body.contains("id=\"pin-services\""),
        "the way out: {}",
        blocked.body
    );
    assert_eq!(
        browser.collect().await,
        ("failed".to_owned(), "pinBlocked".to_owned())
    );
}

#[tokio::test]
async fn cancel_reports_and_says_avbrutet() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let cancelled = world.app().post(&mut browser, &page, "cancel", &[]).await;
    assert_eq!(cancelled.status, 200);
    assert!(cancelled.body.contains("Avbrutet"), "{}", cancelled.body);
    assert_eq!(
        browser.collect().await,
        ("failed".to_owned(), "userCancel".to_owned())
    );
    let after = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert_eq!(after.status, 409);
}

#[tokio::test]
async fn a_missing_card_is_reported_and_the_dialog_stays() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let aside = world.card.path.with_extension("away");
    std::fs::rename(&world.card.path, &aside).unwrap();
    let missing = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert_eq!(missing.status, 200);
    assert!(missing.body.contains("Kortet saknas"), "{}", missing.body);
    assert_eq!(
        browser.collect().await,
        ("pending".to_owned(), "cardRemoved".to_owned())
    );
    std::fs::rename(&aside, &world.card.path).unwrap();
    let signed = world
        .app()
        .post(&mut browser, &missing, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert!(signed.return_url().contains("/login/return?"));
}

#[tokio::test]
async fn the_app_refuses_other_origins_hosts_gets_that_act_and_wrong_capabilities() {
    let world = start().await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_url = format!("{}/{}/sign", world.app().url, world.app().capability);
    let form = encode(&[
        ("launch", &page.input("launch")),
        ("csrf", &page.input("csrf")),
        ("pin", &world.card.pin1),
    ]);

    // Another origin.
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let r = http
            .post(&sign_url)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    // A non-loopback Host header (DNS rebinding), on a page and on an action.
    let port = world.app().url.rsplit(':').next().unwrap();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        "127.0.0.1".to_owned(),
    ] {
        let r = http
            .post(&sign_url)
            .header("host", &host)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 421, "{host}");
        let r = http
            .get(format!(
                "{}/{}/launch",
                world.app().url,
                world.app().capability
            ))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 421, "{host}");
    }
    // localhost is the app's own name too.
    let r = http
        .get(format!(
            "{}/{}/launch",
            world.app().url,
            world.app().capability
        ))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a launch without a token");
    // A GET that would act.
    for action in ["sign", "cancel", "activate"] {
        let r = http
            .get(format!(
                "{}/{}/{action}?launch={}&csrf={}&pin={}",
                world.app().url,
                world.app().capability,
                page.input("launch"),
                page.input("csrf"),
                world.card.pin1
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{action}");
    }
    // A wrong capability path: 404 without detail.
    for path in [
        format!(
            "/{}x/launch?autostarttoken=abcdefghijklmnopqrstuvwxyz",
            world.app().capability
        ),
        "/launch".to_owned(),
        "/".to_owned(),
        format!("/{}/", world.app().capability),
        format!(
            "/{}/sign",
            &world.app().capability[..world.app().capability.len() - 1]
        ),
    ] {
        let r = http
            .post(format!("{}{path}", world.app().url))
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.text().await.unwrap().is_empty(), "{path}");
        let r = http
            .get(format!("{}{path}", world.app().url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // A wrong CSRF token.
    let r = http
        .post(&sign_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("launch", &page.input("launch")),
            ("csrf", "forged"),
            ("pin", &world.card.pin1),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // None of it acted: the real form still completes the order.
    let signed = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", &world.card.pin1)])
        .await;
    assert!(signed.return_url().contains("/login/return?"));
}

#[tokio::test]
async fn the_app_refuses_a_server_it_was_not_given() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["ftp://x.example", "https://u:p@x.example", "not a url"] {
        let e = eid_app::App::bind(eid_app::Config {
            cards: vec![dir.path().join("c").into()],
            servers: vec![bad.into()],
            port: 0,
        })
        .await
        .unwrap_err();
        assert!(matches!(e, eid_app::StartError::BadServer(_)), "{bad}");
    }
    // An app configured for another server cannot fetch this server's order.
    let world = start().await;
    let other = TestApp::start(
        vec![world.card.path.clone()],
        vec!["http://127.0.0.1:9".into()],
    )
    .await;
    let base = &other.launch_base;
    let mut browser = world.server.browser();
    let link = world
        .start_order(&mut browser, &world.rp.auth_request(&[]))
        .await;
    let token = query(&link)["autostarttoken"].clone();
    let page = browser.get(&format!("{base}{token}")).await;
    assert_eq!(page.status, 404, "{}", page.body);
    drop(other);

    // Configured as `localhost`, the app fetches an order whose origin is 127.0.0.1: refused.
    let other = TestApp::start(
        vec![world.card.path.clone()],
        vec![world.server.base.replace("127.0.0.1", "localhost")],
    )
    .await;
    let base = &other.launch_base;
    let link = world
        .start_order(&mut browser, &world.rp.auth_request(&[]))
        .await;
    let token = query(&link)["autostarttoken"].clone();
    let page = browser.get(&format!("{base}{token}")).await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(page.body.contains("inte litar"), "{}", page.body);
}

#[tokio::test]
async fn the_holder_chooses_the_active_eid_among_several_cards() {
    let world = start().await;
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.json");
    eid_card::VirtualCard::create(
        &other,
        eid_card::CardProfile::new("9752000099", "610", eid_card::CardKind::TwoPin),
    )
    .unwrap();
    let app = TestApp::start(
        vec![other, world.card.path.clone()],
        vec![world.server.base.clone()],
    )
    .await;
    let base = &app.launch_base;
    let mut browser = world.server.browser();
    let link = world
        .start_order(&mut browser, &world.rp.auth_request(&[]))
        .await;
    let token = query(&link)["autostarttoken"].clone();
    let page = browser.get(&format!("{base}{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("9752000099"), "the first card is active");
    assert!(
        page.body.contains("<select name=\"card\">"),
        "{}",
        page.body
    );
    let signed = app
        .post(
            &mut browser,
            &page,
            "sign",
            &[("card", "1"), ("pin", &world.card.pin1)],
        )
        .await;
    let done = browser.get(&signed.return_url()).await;
    assert!(done.location().contains("code="), "{}", done.body);
}

#[tokio::test]
async fn a_card_not_yet_activated_is_offered_activation_then_logs_in() {
    let world = start_with(CardKind::OnePin).await;
    let mut browser = world.server.browser();
    let request = world.rp.auth_request(&[]);
    let link = world.start_order(&mut browser, &request).await;
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Aktivera ditt kort"), "{}", page.body);
    assert!(page.body.contains("/activate"), "{}", page.body);

    // Signing with a PIN on a card that is not activated: reported, activation offered.
    let refused = world
        .app()
        .post(&mut browser, &page, "sign", &[("pin", "123456")])
        .await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("inte aktiverat"), "{}", refused.body);
    assert_eq!(
        browser.collect().await,
        ("pending".to_owned(), "cardNotActivated".to_owned())
    );

    let differ = world
        .app()
        .post(
            &mut browser,
            &refused,
            "activate",
            &[
                ("transport", &world.card.pin1),
                ("pin", "482913"),
                ("again", "482914"),
            ],
        )
        .await;
    assert!(differ.body.contains("olika"), "{}", differ.body);

    let signed = world
        .app()
        .post(
            &mut browser,
            &differ,
            "activate",
            &[
                ("transport", &world.card.pin1),
                ("pin", "482913"),
                ("again", "482913"),
            ],
        )
        .await;
    let done = browser.get(&signed.return_url()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let q = query(&done.location());
    let (status, tokens) = world.rp.token(&q["code"], Some(&request.verifier)).await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test]
async fn a_blocked_pin_on_a_one_pin_card_sends_the_holder_to_the_id_administrator() {
    let world = start_with(CardKind::OnePin).await;
    let mut browser = world.server.browser();
    let (page, _) = launch(&world, &mut browser, None).await;
    let mut page = world
        .app()
        .post(
            &mut browser,
            &page,
            "activate",
            &[
                ("transport", &world.card.pin1),
                ("pin", "482913"),
                ("again", "482913"),
            ],
        )
        .await;
    assert!(page.return_url().contains("/login/return?"));
    let (next, _) = launch(&world, &mut browser, Some("en")).await;
    page = next;
    for _ in 0..3 {
        page = world
            .app()
            .post(&mut browser, &page, "sign", &[("pin", "000000")])
            .await;
    }
    assert!(page.body.contains("blocked"), "{}", page.body);
    assert!(page.body.contains("ID administrator"), "{}", page.body);
}
