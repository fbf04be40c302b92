//! What a fetch refuses: a request for another key (another subject is ignored), a key
//! certified before, the authentication key, a missing or foreign attestation, an order
//! from another client, two fetches for one card at once and a spent management budget.

use super::*;

#[tokio::test]
async fn a_request_for_another_key_than_the_approved_one_is_refused() {
    let (server, card) = held_world().await;
    let (session, started, fetch) = fetched(&server, "mypages").await;
    let mut key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    key.certificate_request = rcgen::CertificateParams::default()
        .serialize_request(&other)
        .unwrap()
        .der()
        .to_vec();
    let (code, details) = refused(
        fetch
            .approve(&card.client, &pin(&card.pin1), &key)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[notApprovedKey]"), "{details}");
    assert!(details.contains("another key"), "{details}");
    assert_eq!(
        collect(&server, &session, &started).await,
        (OrderStatus::Failed, Some(HintCode::CertificateErr))
    );
    assert!(signing_certificates(&server).await.is_empty());
}

#[tokio::test]
async fn the_authentication_key_is_never_certified_for_signing() {
    let (server, card) = held_world().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let c = &card.client;
    c.select().unwrap();
    let auth = c.key_metadata(KeySlot::Authentication).unwrap().unwrap();
    let attestation = c.attest(KeySlot::Authentication).ok();
    c.verify(PinRef::Pin1, &pin(&card.pin1)).unwrap();
    let request =
        certificate_request(c, KeySlot::Authentication, NUMBER, &auth.public_key_spki).unwrap();
    let key = PreparedKey {
        public_key: auth.public_key_spki,
        certificate_request: request,
        attestation,
        attestation_key_certificate: None,
        generated: false,
    };
    let (code, details) = refused(fetch.approve(c, &pin(&card.pin1), &key).await.unwrap_err());
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[authenticationKey]"), "{details}");
    assert!(signing_certificates(&server).await.is_empty());
}

#[tokio::test]
async fn a_key_certified_before_is_not_certified_again() {
    let pki = Pki::new(SystemClock.now()).await;
    pki.add_person("SE2321000016-B2", "Bertil").await;
    let anna = Held::new(pki.card(ANNA, NUMBER, CardKind::TwoPin).await);
    let bertil = Held::new(
        pki.card("SE2321000016-B2", "9752000002", CardKind::TwoPin)
            .await,
    );
    let server = Server::builder(pki).start().await;
    // Anna fetches her certificate.
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let key = fetch
        .prepare_key(&anna.client, &pin(&anna.pin2))
        .await
        .unwrap();
    let issued = fetch
        .approve(&anna.client, &pin(&anna.pin1), &key)
        .await
        .unwrap();
    fetch.deliver(&anna.client, &issued).await.unwrap();

    // Bertil's fetch presents Anna's certified key (request and attestation from her card).
    let (_, started) = server.start_fetch("9752000002", "mypages").await.unwrap();
    let bertils = SigningFetch::fetch(&server.base, &started.auto_start_token)
        .await
        .unwrap();
    let e = bertils
        .approve(&bertil.client, &pin(&bertil.pin1), &key)
        .await
        .unwrap_err();
    let (code, details) = refused(e);
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[keyAlreadyCertified]"), "{details}");
    let all: Vec<_> = server
        .pki
        .store
        .certificates_of_card("9752000002")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CertKind::Signing)
        .collect();
    assert!(all.is_empty());
}

#[tokio::test]
async fn a_key_without_attestation_needs_the_organisations_consent() {
    let (server, card) = held_world().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let mut key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    key.attestation = None;
    let (code, details) = refused(
        fetch
            .approve(&card.client, &pin(&card.pin1), &key)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[attestationRequired]"), "{details}");
    assert!(signing_certificates(&server).await.is_empty());

    // Where the organisation accepts unattested keys, the same key is certified.
    server
        .pki
        .store
        .set_organisation_policy(
            ORG,
            SigningPolicy::SelfService,
            true,
            &server.pki.event("organisation.policy"),
        )
        .await
        .unwrap();
    let (_, _, again) = fetched(&server, "mypages").await;
    let mut key = again
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    key.attestation = None;
    let issued = again
        .approve(&card.client, &pin(&card.pin1), &key)
        .await
        .unwrap();
    again.deliver(&card.client, &issued).await.unwrap();
    assert_eq!(signing_certificates(&server).await.len(), 1);
}

#[tokio::test]
async fn only_my_pages_starts_a_fetch() {
    let (server, _card) = held_world().await;
    let e = server
        .start_fetch(NUMBER, "testtjansten")
        .await
        .unwrap_err();
    assert!(
        matches!(e, eid_orders::OrderError::InvalidParameters(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn two_fetches_for_one_card_one_wins_the_other_is_refused() {
    let (server, card) = held_world().await;
    let (session1, started1, first) = fetched(&server, "mypages").await;
    let key = first
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    // The holder starts again before the first is signed (its app closed, say): the newer
    // fetch supersedes the first, whose page sees it cancelled and whose app is refused.
    let (_, _, second) = fetched(&server, "mypages").await;
    assert_eq!(
        collect(&server, &session1, &started1).await,
        (OrderStatus::Failed, Some(HintCode::Cancelled))
    );
    let (code, _) = refused(
        first
            .approve(&card.client, &pin(&card.pin1), &key)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "notPending");
    // The second finds the first's key in 9C and goes through with it.
    let key2 = second
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    assert!(!key2.generated);
    assert_eq!(key2.public_key, key.public_key);
    let issued = second
        .approve(&card.client, &pin(&card.pin1), &key2)
        .await
        .unwrap();
    second.deliver(&card.client, &issued).await.unwrap();
    check_fetched(&server, &card.client).await;

    // Two management requests of two fetched orders at the same moment: exactly one is
    // answered (the newer order's; the older was superseded when the newer started).
    let http = reqwest::Client::new();
    let token = |t: String| {
        let http = http.clone();
        let base = server.base.clone();
        async move {
            let fetched: eid_protocol::AppFetchResponse = http
                .post(format!("{base}/app/v1/order"))
                .json(&serde_json::json!({ "autoStartToken": t }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            fetched.app_token
        }
    };
    let (_, a) = start(&server, "mypages").await;
    let ta = token(a.auto_start_token).await;
    let (_, b) = start(&server, "mypages").await;
    let tb = token(b.auto_start_token).await;
    let relay = |t: String| {
        let http = http.clone();
        let base = server.base.clone();
        async move {
            http.post(format!("{base}/app/v1/enroll/management"))
                .bearer_auth(t)
                .json(&serde_json::json!({ "challenge": "AAECAwQFBgcICQoLDA0ODw==" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (sa, sb) = tokio::join!(relay(ta.clone()), relay(tb.clone()));
    let mut statuses = [sa, sb];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);

    // The winner's budget: six responses, then a clear refusal.
    let winner = if sa == 200 { ta } else { tb };
    for _ in 1..6 {
        assert_eq!(relay(winner.clone()).await, 200);
    }
    assert_eq!(relay(winner).await, 403);
}

#[tokio::test]
async fn an_attestation_from_another_card_or_slot_is_refused() {
    let pki = Pki::new(SystemClock.now()).await;
    pki.add_person("SE2321000016-B2", "Bertil").await;
    let anna = Held::new(pki.card(ANNA, NUMBER, CardKind::TwoPin).await);
    let bertil = Held::new(
        pki.card("SE2321000016-B2", "9752000002", CardKind::TwoPin)
            .await,
    );
    let server = Server::builder(pki).start().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let mut key = fetch
        .prepare_key(&anna.client, &pin(&anna.pin2))
        .await
        .unwrap();
    let good = key.attestation.clone();

    // Signed by another card's attestation key.
    key.attestation = Some(bertil.client.attest(KeySlot::Authentication).unwrap());
    let (code, details) = refused(
        fetch
            .approve(&anna.client, &pin(&anna.pin1), &key)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[attestationRefused]"), "{details}");

    // This card's attestation, but of its authentication slot.
    let (_, _, again) = fetched(&server, "mypages").await;
    key.attestation = Some(anna.client.attest(KeySlot::Authentication).unwrap());
    let (_, details) = refused(
        again
            .approve(&anna.client, &pin(&anna.pin1), &key)
            .await
            .unwrap_err(),
    );
    assert!(details.contains("slot"), "{details}");
    assert!(signing_certificates(&server).await.is_empty());

    // The card's own attestation of the key goes through.
    let (_, _, third) = fetched(&server, "mypages").await;
    key.attestation = good;
    let issued = third
        .approve(&anna.client, &pin(&anna.pin1), &key)
        .await
        .unwrap();
    third.deliver(&anna.client, &issued).await.unwrap();
    assert_eq!(signing_certificates(&server).await.len(), 1);
}

/// The card's 9C key as rcgen sees it: a request with any subject, signed on the card.
struct OnCard<'a> {
    card: &'a dyn Card,
    public: rcgen::SubjectPublicKeyInfo,
}

impl rcgen::PublicKeyData for OnCard<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.public.algorithm()
    }
}

impl rcgen::SigningKey for OnCard<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg).as_ref());
        self.card
            .sign(KeySlot::Signing, &digest)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

#[tokio::test]
async fn a_request_for_another_subject_gets_the_subject_from_the_store() {
    let (server, card) = held_world().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    let mut key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    // The same key asks to be Mallory, a CA, with extra usages.
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, "Mallory");
    name.push(rcgen::DnType::OrganizationName, "Evil");
    params.distinguished_name = name;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    card.client.verify(PinRef::Pin2, &pin(&card.pin2)).unwrap();
    let on_card = OnCard {
        card: &card.client,
        public: rcgen::SubjectPublicKeyInfo::from_der(&key.public_key).unwrap(),
    };
    key.certificate_request = params.serialize_request(&on_card).unwrap().der().to_vec();
    let issued = fetch
        .approve(&card.client, &pin(&card.pin1), &key)
        .await
        .unwrap();
    fetch.deliver(&card.client, &issued).await.unwrap();
    let record = check_fetched(&server, &card.client).await;
    let (_, cert) = X509Certificate::from_der(&record.der).unwrap();
    let subject = cert.subject().to_string();
    assert!(subject.contains("CN=Anna Andersson"), "{subject}");
    assert!(
        !subject.contains("Mallory") && !subject.contains("Evil"),
        "{subject}"
    );
    assert!(cert.basic_constraints().unwrap().is_none());
}

#[tokio::test]
async fn bad_input_to_the_enrollment_endpoints_is_refused_and_changes_nothing() {
    let (server, card) = held_world().await;
    let (_, _, fetch) = fetched(&server, "mypages").await;
    // A real order's token, taken from a fetch of our own for Anna's other card (a second
    // fetch for this card would supersede the one in progress).
    server.pki.card(ANNA, "9752000002", CardKind::TwoPin).await;
    let (_, started) = server.start_fetch("9752000002", "mypages").await.unwrap();
    let http = reqwest::Client::new();
    let fetched: eid_protocol::AppFetchResponse = http
        .post(format!("{}/app/v1/order", server.base))
        .json(&serde_json::json!({ "autoStartToken": started.auto_start_token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = audit_actions(&server).await.len();
    let post = |path: &str, token: Option<&str>, body: &str| {
        let mut r = http
            .post(format!("{}/app/v1/enroll/{path}", server.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body["errorCode"].as_str().unwrap_or("").to_owned())
        }
    };
    let token = fetched.app_token.as_str();
    let sixteen = r#"{"challenge":"AAECAwQFBgcICQoLDA0ODw=="}"#;
    for (path, tok, body, status, code) in [
        ("management", None, sixteen, 400, "invalidParameters"),
        (
            "management",
            Some("x".repeat(43)),
            sixteen,
            401,
            "tokenRefused",
        ),
        (
            "management",
            Some(token.to_owned()),
            r#"{"challenge":"AAE="}"#,
            400,
            "invalidParameters",
        ),
        (
            "management",
            Some(token.to_owned()),
            r#"{"challenge":"***"}"#,
            400,
            "invalidParameters",
        ),
        (
            "management",
            Some(token.to_owned()),
            r#"{"challenge":"AAE=","more":1}"#,
            400,
            "invalidParameters",
        ),
        (
            "management",
            Some(token.to_owned()),
            "not json",
            400,
            "invalidParameters",
        ),
        (
            "delivered",
            Some(token.to_owned()),
            r#"{"certificateSerial":"4A0B"}"#,
            409,
            "notPending",
        ),
        (
            "delivered",
            Some(token.to_owned()),
            "{}",
            400,
            "invalidParameters",
        ),
    ] {
        let got = post(path, tok.as_deref(), body).await;
        assert_eq!(got, (status, code.to_owned()), "{path} {body}");
    }
    assert_eq!(
        audit_actions(&server).await.len(),
        before,
        "nothing changed"
    );
    // The fetch in progress is untouched by all that.
    let key = fetch
        .prepare_key(&card.client, &pin(&card.pin2))
        .await
        .unwrap();
    assert!(key.generated);
}
