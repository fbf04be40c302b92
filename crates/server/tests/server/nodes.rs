//! Two server nodes on one PostgreSQL database, behind one public URL (the issuer): every
//! step of a ceremony may reach either node, and nothing that matters lives in one node's
//! memory. Each test has a fresh database ([`PostgresDatabase`]); node A and node B are two
//! servers in this process, each with its own store handle (connections, audit chains) and
//! the installation's shared CA and secrets. (Killing a node outright is tested with real
//! processes in the root crate's `tests/nodes.rs`.)

use eid_clock::{Clock as _, SystemClock};
use eid_protocol::{AppCompleteResponse, AppFetchResponse};
use eid_store::{
    AnyStore, AuditEvent, CardRevocation, CertKind, PostgresStore, RevocationReason, Store,
};
use eid_testkit::{
    ANNA, AuthRequest, Browser, CardKind, Pki, PostgresDatabase, RP_REDIRECT, Rp, Server, TestCard,
    rp_client,
};
use serde_json::json;

use crate::world::RP;

struct Nodes {
    a: Server,
    b: Server,
    card: TestCard,
    rp: Rp,
    _db: PostgresDatabase,
}

async fn pg(db: &PostgresDatabase, node: &str) -> AnyStore {
    AnyStore::from(PostgresStore::connect(&db.url, node, 8).await.unwrap())
}

async fn nodes() -> Nodes {
    let db = PostgresDatabase::fresh().await;
    let pki = Pki::with_store(SystemClock.now(), pg(&db, "a").await).await;
    let card = pki.card(ANNA, "9752000001", CardKind::TwoPin).await;
    let a = Server::builder(pki)
        .client(rp_client(RP, RP_REDIRECT))
        .start()
        .await;
    let b = a.node(pg(&db, "b").await).await;
    Nodes {
        rp: a.client(RP),
        a,
        b,
        card,
        _db: db,
    }
}

impl Nodes {
    /// Authorization and *Legitimera* on `first`, the eID app's whole part on `second`,
    /// the return on `first`: the redirect to the client and the request.
    async fn login(
        &self,
        browser: &mut Browser,
        first: &Server,
        second: &Server,
    ) -> (String, AuthRequest) {
        let request = self.rp.via(&first.base).auth_request(&[]);
        let mut on_first = browser.via(&first.base);
        let page = on_first.get(&request.url).await;
        let wait = first.legitimera(&mut on_first, &page).await;
        let back = second.play_app(&self.card, &wait).await;
        let back = back.replacen(&self.a.base, &first.base, 1);
        let done = on_first.get(&back).await;
        assert_eq!(done.status, 303, "{}", done.body);
        *browser = on_first.via(&self.a.base);
        (done.location(), request)
    }
}

/// A login whose steps alternate between the nodes: authorize on A, the app on B,
/// collect on A, the return on A, the token on B; the ID token names the one issuer. A code
/// redeemed on one node is refused on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_alternating_between_two_nodes_succeeds() {
    let n = nodes().await;
    let mut browser = n.a.browser();
    let request = n.rp.auth_request(&[]);
    let page = browser.get(&request.url).await;
    let wait = n.a.legitimera(&mut browser, &page).await;
    // The app on B: fetch, report, sign and complete.
    let back = n.b.play_app(&n.card, &wait).await;
    // The page's collect on A sees what B did.
    assert_eq!(browser.collect().await.0, "pending");
    let done = browser.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = n.rp.code(&done.location(), &request);
    // The token on B.
    let (status, tokens) =
        n.rp.via(&n.b.base)
            .token(&code, Some(&request.verifier))
            .await;
    assert_eq!(status, 200, "{tokens}");
    let id =
        n.rp.via(&n.b.base)
            .verify(tokens["id_token"].as_str().unwrap())
            .await;
    assert_eq!(id["iss"], n.a.base.as_str());
    assert_eq!(id["nonce"], request.nonce.as_str());
    assert_eq!(id["given_name"], "Anna");
    // The access token works at A's userinfo.
    let (status, claims) =
        n.rp.userinfo(tokens["access_token"].as_str().unwrap())
            .await;
    assert_eq!(status, 200);
    assert_eq!(claims["sub"], id["sub"]);
    // The code is spent on B: A refuses it.
    let (status, err) = n.rp.token(&code, Some(&request.verifier)).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"], "invalid_grant");

    // And the other way round: a ceremony started on B, the app on A, the code redeemed on
    // A, then refused on B.
    let mut browser = n.a.browser();
    let (location, request) = n.login(&mut browser, &n.b, &n.a).await;
    let code = n.rp.code(&location, &request);
    assert_eq!(n.rp.token(&code, Some(&request.verifier)).await.0, 200);
    let (status, err) =
        n.rp.via(&n.b.base)
            .token(&code, Some(&request.verifier))
            .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Every node's audit chains verify together.
    let report = eid_store::audit::verify(&*n.a.state.store, None)
        .await
        .unwrap();
    let chains: Vec<_> = report.chains.iter().map(|c| c.chain.as_str()).collect();
    assert!(chains.iter().any(|c| c.starts_with("a.")), "{chains:?}");
    assert!(chains.iter().any(|c| c.starts_with("b.")), "{chains:?}");
}

/// What an app does with a fetch order's autostart token on `node`: the order and its app
/// token, or the refusal's status.
async fn app_fetch(node: &Server, token: &str) -> Result<AppFetchResponse, u16> {
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/order", node.base))
        .json(&json!({ "autoStartToken": token }))
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => Ok(r.json().await.unwrap()),
        status => Err(status),
    }
}

/// Two signing-certificate fetches for one card started at the same moment, one through
/// each node: one wins (the other is superseded, its app refused), and the card gets one
/// signing certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_for_one_card_through_both_nodes_one_wins() {
    let n = nodes().await;
    let (on_a, on_b) = tokio::join!(
        n.a.start_fetch(&n.card.number, "mypages"),
        n.b.start_fetch(&n.card.number, "mypages")
    );
    let (on_a, on_b) = (on_a.unwrap().1, on_b.unwrap().1);
    let fetched = [
        (&n.a, app_fetch(&n.a, &on_a.auto_start_token).await),
        (&n.b, app_fetch(&n.b, &on_b.auto_start_token).await),
    ];
    let winners: Vec<_> = fetched
        .iter()
        .filter_map(|(node, f)| f.as_ref().ok().map(|f| (*node, f.clone())))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one fetch is still pending");
    let (node, won) = &winners[0];
    let completion = n
        .card
        .complete_signing_enrollment(&won.order, &n.a.pki.store, &n.a.pki.master)
        .await;
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/complete", node.base))
        .bearer_auth(&won.app_token)
        .json(&completion)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: AppCompleteResponse = r.json().await.unwrap();
    assert!(done.certificate.is_some());
    let signing =
        n.b.state
            .store
            .certificates_of_card(&n.card.number)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == CertKind::Signing)
            .count();
    assert_eq!(signing, 1);
}

/// A card revoked through node A is refused on node B at once: B's next login with it
/// fails, with nothing cached on B standing in the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_revoked_through_one_node_is_refused_on_the_other_at_once() {
    let n = nodes().await;
    // B has seen the card work (whatever it keeps in memory, it has it now).
    let mut browser = n.a.browser();
    let (location, request) = n.login(&mut browser, &n.b, &n.b).await;
    let code = n.rp.code(&location, &request);
    assert_eq!(
        n.rp.via(&n.b.base)
            .token(&code, Some(&request.verifier))
            .await
            .0,
        200
    );

    let revocation = CardRevocation {
        card_number: n.card.number.clone(),
        reason: RevocationReason::KeyCompromise,
        at: SystemClock.now(),
        audit: AuditEvent {
            subject: n.card.number.clone(),
            ..n.a.pki.event("card.revoke")
        },
        certificate_audit: n.a.pki.event("certificate.revoke"),
    };
    n.a.state.store.revoke_card(&revocation).await.unwrap();

    // On B, at once: the app's completion with the revoked card is refused.
    let mut browser = n.b.browser();
    let request = n.rp.via(&n.b.base).auth_request(&[]);
    let page = browser.get(&request.url).await;
    let wait = n.b.legitimera(&mut browser, &page).await;
    let fetched = n.b.fetch_order(&wait).await;
    let r = reqwest::Client::new()
        .post(format!("{}/app/v1/complete", n.b.base))
        .bearer_auth(&fetched.app_token)
        .json(&n.card.complete_login(&fetched.order))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let refusal: serde_json::Value = r.json().await.unwrap();
    assert_eq!(refusal["errorCode"], "certificateErr", "{refusal}");
    assert!(
        refusal["details"].as_str().unwrap().contains("is revoked"),
        "{refusal}"
    );
    assert_eq!(
        browser.collect().await,
        ("failed".into(), "certificateErr".into())
    );
}

/// One node on PostgreSQL: the whole login, as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_on_one_postgresql_node() {
    let n = nodes().await;
    let mut browser = n.a.browser();
    let request = n.rp.auth_request(&[]);
    let location = n.a.login(&mut browser, &n.card, &request.url).await;
    let code = n.rp.code(&location, &request);
    assert_eq!(n.rp.token(&code, Some(&request.verifier)).await.0, 200);
}
