//! *Lista certifikat*, *Spärra certifikat* and *Hämta nytt underskriftscertifikat* over
//! HTTP: a holder revokes their own signing certificate (confirmation, reason, CSRF, the
//! audit log, OCSP asked by `openssl ocsp` says revoked, a new CRL at once); another
//! person's certificate and an authentication certificate are refused and nothing changes;
//! a signing certificate near its end is renewed through the start page, and the old one is
//! revoked as superseded only when the new one is on the card.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use eid_clock::{Clock as _, ManualClock, SystemClock};
use eid_store::revocation::RevocationStore;
use eid_store::{CertKind, CertStatus, CertificateRecord, RevocationReason, Serial, Store};
use eid_testkit::{ANNA, Browser, CardKind, Page, Pki, Server};
use time::Duration;

use crate::certificates::{authentication, complete_fetch, deliver, fetched_and_delivered, pem};

const BO: &str = "SE2321000016-B0B0";
const REVOKE: &str = "/mypages/certificates/revoke";

/// The `value` of the hidden input `name` in the first form posting to `action` after
/// `from` (a piece of the page that comes before it).
fn input_after(page: &Page, from: &str, action: &str, name: &str) -> String {
    let start = page
        .body
        .find(from)
        .unwrap_or_else(|| panic!("no {from}: {}", page.body));
    let rest = &page.body[start..];
    let form = rest
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action} after {from}: {}", page.body));
    eid_testkit::between(&rest[form..], &format!("name=\"{name}\" value=\""), "\"")
}

/// *Spärra* confirmed with the form's `reason` (`lost`, `not-needed`, …): the answer.
async fn confirm_revoke(
    browser: &mut Browser,
    url: &str,
    serial: &str,
    csrf: &str,
    reason: &str,
) -> Page {
    let form = [
        ("serial", serial),
        ("csrf", csrf),
        ("confirm", "yes"),
        ("reason", reason),
    ];
    browser.post_form(url, &form).await
}

async fn signing(server: &Server, card: &str) -> Vec<CertificateRecord> {
    server
        .pki
        .store
        .certificates_of_card(card)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect()
}

async fn status(server: &Server, serial: &Serial) -> CertStatus {
    server
        .pki
        .store
        .certificate(serial)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn revocations(server: &Server) -> Vec<eid_store::AuditEntry> {
    server
        .pki
        .store
        .audit_entries(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == "certificate.revoke")
        .collect()
}

/// `openssl ocsp` asks the server's responder (POST /ocsp) about `cert`, verifying the
/// answer up the CA chain: what it printed. Run off the test's runtime thread, which also
/// serves the answer.
async fn ocsp(server: &Server, dir: &Path, cert: &CertificateRecord) -> String {
    std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &cert.der)).unwrap();
    std::fs::write(dir.join("issuing.pem"), server.pki.ca.issuing_pem()).unwrap();
    std::fs::write(
        dir.join("chain.pem"),
        format!(
            "{}{}",
            server.pki.ca.root_pem(),
            server.pki.ca.issuing_pem()
        ),
    )
    .unwrap();
    let (url, dir) = (format!("{}/ocsp", server.base), dir.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args([
                "ocsp",
                "-issuer",
                "issuing.pem",
                "-cert",
                "cert.pem",
                "-url",
                &url,
                "-CAfile",
                "chain.pem",
            ])
            .current_dir(dir)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Response verify OK"), "{text}");
    text
}

#[tokio::test]
async fn a_holder_revokes_their_signing_certificate_and_ocsp_says_revoked() {
    let pki = Pki::new(SystemClock.now()).await;
    pki.add_person(BO, "Bo").await;
    let anna = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let bo = pki.card(BO, "9752000002", CardKind::TwoPin).await;
    let server = Server::builder(pki).start().await;
    let base = server.base.clone();
    let mine = fetched_and_delivered(&server, &anna).await;
    let bos = fetched_and_delivered(&server, &bo).await;
    let auth = authentication(&*server.pki.store, &anna.number).await;
    let dir = server.pki.dir.path().join("openssl");
    std::fs::create_dir(&dir).unwrap();
    assert!(ocsp(&server, &dir, &mine).await.contains("cert.pem: good"));

    let mut browser = server.browser();
    let start = server.mypages_login(&mut browser, &anna).await;
    assert!(
        start.body.contains("href=\"/mypages/certificates\""),
        "{}",
        start.body
    );
    let list = browser.get(&format!("{base}/mypages/certificates")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("<html lang=\"sv\">"));
    assert!(!list.body.contains("<script"), "no script");
    for word in [
        "Lista certifikat",
        "Legitimeringscertifikat",
        "Underskriftscertifikat",
        "Giltigt",
        "9752000001",
        &mine.serial.to_string(),
        &auth.serial.to_string(),
        "Spärras av ID-administratören",
        "det gör din ID-administratör",
    ] {
        assert!(list.body.contains(word), "{word}: {}", list.body);
    }
    assert!(
        !list.body.contains(&bos.serial.to_string()),
        "only the person's own cards"
    );
    assert_eq!(
        list.body.matches(&format!("action=\"{REVOKE}\"")).count(),
        1,
        "a revoke form for the signing certificate only"
    );
    let row = format!("id=\"cert-{}\"", mine.serial);
    let csrf = input_after(&list, &row, REVOKE, "csrf");
    assert_eq!(
        input_after(&list, &row, REVOKE, "serial"),
        mine.serial.to_string()
    );
    let url = format!("{base}{REVOKE}");
    let serial = mine.serial.to_string();

    // Refused, and nothing changes: no or a wrong CSRF token, another person's
    // certificate, an unknown one, the authentication certificate.
    let (bo_serial, auth_serial) = (bos.serial.to_string(), auth.serial.to_string());
    let yes = [("confirm", "yes"), ("reason", "lost")];
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("serial", serial.as_str())], 403),
        (vec![("serial", serial.as_str()), ("csrf", "")], 403),
        (vec![("serial", serial.as_str()), ("csrf", "AAAA")], 403),
        (
            vec![("serial", bo_serial.as_str()), ("csrf", csrf.as_str())],
            403,
        ),
        (vec![("serial", "0123456789"), ("csrf", csrf.as_str())], 403),
        (vec![("serial", "not hex"), ("csrf", csrf.as_str())], 403),
        (
            vec![("serial", auth_serial.as_str()), ("csrf", csrf.as_str())],
            409,
        ),
    ];
    for (mut form, want) in cases {
        form.extend_from_slice(&yes);
        let page = browser.post_form(&url, &form).await;
        assert_eq!(page.status, want, "{form:?}: {}", page.body);
        if want == 409 {
            assert!(
                page.body
                    .contains("Legitimeringscertifikatet kan du inte spärra själv"),
                "{}",
                page.body
            );
        }
    }
    // Another browser's session with this page's token.
    let mut other = server.browser();
    let _ = server.mypages_login(&mut other, &anna).await;
    let mut form = vec![("serial", serial.as_str()), ("csrf", csrf.as_str())];
    form.extend_from_slice(&yes);
    assert_eq!(other.post_form(&url, &form).await.status, 403);
    for cert in [&mine, &bos, &auth] {
        assert_eq!(status(&server, &cert.serial).await, CertStatus::Valid);
    }
    assert!(revocations(&server).await.is_empty());

    // The confirmation: which certificate, that it is final, the reasons; nothing yet.
    let asked = browser
        .post_form(&url, &[("serial", &serial), ("csrf", &csrf)])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    for word in [
        "Spärra certifikat",
        "Spärren går inte att ångra",
        "Varför spärrar du certifikatet?",
        "Jag har tappat kortet, eller kortet är stulet",
        "Jag behöver det inte längre",
        "Uppgifterna i certifikatet stämmer inte",
        "name=\"confirm\" value=\"yes\"",
        &serial,
    ] {
        assert!(asked.body.contains(word), "{word}: {}", asked.body);
    }
    let csrf = input_after(&asked, "<form class=\"revoke\"", REVOKE, "csrf");
    // Without a reason: nothing.
    let r = browser
        .post_form(
            &url,
            &[("serial", &serial), ("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(status(&server, &mine.serial).await, CertStatus::Valid);

    let crl_before = server
        .pki
        .store
        .revocation_marker()
        .await
        .unwrap()
        .crl_number;
    let done = confirm_revoke(&mut browser, &url, &serial, &csrf, "lost").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        format!("/mypages/certificates?revoked={serial}")
    );
    assert!(matches!(
        status(&server, &mine.serial).await,
        CertStatus::Revoked {
            reason: RevocationReason::KeyCompromise,
            ..
        }
    ));
    for cert in [&bos, &auth] {
        assert_eq!(status(&server, &cert.serial).await, CertStatus::Valid);
    }
    let log = revocations(&server).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event.actor, format!("person:{ANNA}"));
    assert_eq!(log[0].event.subject, serial);
    assert_eq!(log[0].event.details["reason"], "keyCompromise");
    assert!(
        server
            .pki
            .store
            .revocation_marker()
            .await
            .unwrap()
            .crl_number
            > crl_before,
        "a key compromise gets a new CRL at once"
    );
    let answer = ocsp(&server, &dir, &mine).await;
    assert!(answer.contains("cert.pem: revoked"), "{answer}");
    assert!(answer.contains("Reason: keyCompromise"), "{answer}");

    let after = browser.get(&format!("{base}{}", done.location())).await;
    assert_eq!(after.status, 200);
    for word in [
        "Certifikatet är spärrat.",
        "Spärrat ",
        "kortet eller koden kan ha kommit i orätta händer",
    ] {
        assert!(after.body.contains(word), "{word}: {}", after.body);
    }
    assert!(!after.body.contains(&format!("action=\"{REVOKE}\"")));
    // Again: refused, still one entry.
    let again = confirm_revoke(&mut browser, &url, &serial, &csrf, "not-needed").await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(revocations(&server).await.len(), 1);

    // In English through the language switch.
    let en = browser
        .get(&format!("{base}/mypages/certificates?lang=en"))
        .await;
    assert!(en.body.contains("<html lang=\"en\">"));
    for word in [
        "List of certificates",
        "Revoked ",
        "the card or its code may have fallen into the wrong hands",
        "Revoked by the ID administrator",
    ] {
        assert!(en.body.contains(word), "{word}: {}", en.body);
    }
}

#[tokio::test]
async fn a_signing_certificate_near_its_end_is_renewed_and_the_old_one_superseded_on_delivery() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let pki = Pki::new(clock.now()).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let server = Server::builder(pki).clock(clock.clone()).start().await;
    let base = server.base.clone();
    let old = fetched_and_delivered(&server, &card).await;

    // Far from its end: no new fetch.
    let mut browser = server.browser();
    let page = server.mypages_login(&mut browser, &card).await;
    assert!(
        page.body
            .contains("Kortet har redan ett giltigt underskriftscertifikat."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("action=\"/mypages/fetch\""));

    // Within the renewal window: *Hämta nytt underskriftscertifikat*.
    clock.set(old.not_after - eid_portal::eligibility::RENEWAL_WINDOW + Duration::days(5));
    let mut browser = server.browser();
    let page = server.mypages_login(&mut browser, &card).await;
    for word in [
        "Hämta nytt underskriftscertifikat",
        "Det gäller tills det nya finns på kortet, och spärras då.",
    ] {
        assert!(page.body.contains(word), "{word}: {}", page.body);
    }
    let from = page.body.find("action=\"/mypages/fetch\"").unwrap();
    let csrf = eid_testkit::between(&page.body[from..], "name=\"csrf\" value=\"", "\"");
    let wait = browser
        .post_form(
            &format!("{base}/mypages/fetch"),
            &[("card", &card.number), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    let token = eid_testkit::query(&wait.launch_link())["autostarttoken"].clone();
    let (app_token, new) = complete_fetch(&server, &card, &token).await;
    assert_ne!(new.serial, old.serial);

    // Issued but not yet on the card: the old one stays valid.
    assert_eq!(status(&server, &old.serial).await, CertStatus::Valid);
    assert!(revocations(&server).await.is_empty());

    deliver(&server, &app_token, &new.serial).await;
    let now = clock.now();
    let valid: Vec<_> = signing(&server, &card.number)
        .await
        .into_iter()
        .filter(|c| c.status == CertStatus::Valid && c.not_before <= now && now < c.not_after)
        .collect();
    assert_eq!(valid.len(), 1, "exactly one valid signing certificate");
    assert_eq!(valid[0].serial, new.serial);
    assert!(matches!(
        status(&server, &old.serial).await,
        CertStatus::Revoked {
            reason: RevocationReason::Superseded,
            ..
        }
    ));
    let log = revocations(&server).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event.subject, old.serial.to_string());
    assert_eq!(log[0].event.actor, format!("person:{ANNA}"));
    assert_eq!(log[0].event.details["supersededBy"], new.serial.to_string());
    // Confirmed again: nothing more.
    deliver(&server, &app_token, &new.serial).await;
    assert_eq!(revocations(&server).await.len(), 1);
}

/// Revoking is final, so it needs a recent card login (`eid_portal::FRESH_LOGIN`): once the
/// card login is older, though the session was renewed silently since, *Spärra* revokes
/// nothing and sends the holder to log in with a card again (`prompt=login`, `max_age=0`);
/// after that card login it goes through.
#[tokio::test]
async fn revoking_after_the_fresh_login_window_asks_for_a_card_login_again() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let pki = Pki::new(clock.now()).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let server = Server::builder(pki).clock(clock.clone()).start().await;
    let base = server.base.clone();
    let cert = fetched_and_delivered(&server, &card).await;
    let serial = cert.serial.to_string();
    let url = format!("{base}{REVOKE}");

    let mut browser = server.browser();
    let _ = server.mypages_login(&mut browser, &card).await;
    let list = browser.get(&format!("{base}/mypages/certificates")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let csrf = input_after(&list, &format!("id=\"cert-{serial}\""), REVOKE, "csrf");

    // Past the window. The access token has expired meanwhile: the start page renews it
    // without the card (the provider's session), which keeps the old card login's time.
    clock.advance(eid_portal::FRESH_LOGIN + Duration::minutes(1));
    let renew = browser.get(&format!("{base}/mypages")).await;
    assert_eq!(renew.status, 303, "{}", renew.body);
    assert_eq!(eid_testkit::query(&renew.location())["prompt"], "none");
    let callback = browser.get(&renew.location()).await;
    assert_eq!(callback.status, 303, "no card needed: {}", callback.body);
    let back = browser.get(&callback.location()).await;
    assert_eq!(back.location(), "/mypages?renewed=1");
    let list = browser.get(&format!("{base}/mypages/certificates")).await;
    assert_eq!(list.status, 200, "the session lives: {}", list.body);

    // Neither the confirmation nor the revocation itself: a fresh card login first.
    for form in [
        vec![("serial", serial.as_str()), ("csrf", csrf.as_str())],
        vec![
            ("serial", serial.as_str()),
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
            ("reason", "lost"),
        ],
    ] {
        let fresh = browser.post_form(&url, &form).await;
        assert_eq!(fresh.status, 303, "{form:?}: {}", fresh.body);
        let q = eid_testkit::query(&fresh.location());
        assert_eq!(q["prompt"], "login", "{}", fresh.location());
        assert_eq!(q["max_age"], "0", "{}", fresh.location());
    }
    assert_eq!(status(&server, &cert.serial).await, CertStatus::Valid);
    assert!(revocations(&server).await.is_empty());

    // The card login it asks for; then *Spärra* goes through.
    let fresh = browser
        .post_form(&url, &[("serial", &serial), ("csrf", &csrf)])
        .await;
    let callback = server.login(&mut browser, &card, &fresh.location()).await;
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let list = browser.get(&format!("{base}/mypages/certificates")).await;
    let csrf = input_after(&list, &format!("id=\"cert-{serial}\""), REVOKE, "csrf");
    let done = confirm_revoke(&mut browser, &url, &serial, &csrf, "not-needed").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        format!("/mypages/certificates?revoked={serial}")
    );
    assert!(matches!(
        status(&server, &cert.serial).await,
        CertStatus::Revoked {
            reason: RevocationReason::CessationOfOperation,
            ..
        }
    ));
    assert_eq!(revocations(&server).await.len(), 1);
}
