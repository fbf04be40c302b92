//! A plain PIV card (a YubiKey, enrolled into the platform) attests its new signing key
//! with its maker's F9 key: the app sends the attestation and the F9 certificate, and the
//! server accepts the key only if the F9 certificate chains to a maker's root it was
//! configured with. Here the organisation demands attested keys, so the attestation alone
//! decides.

use eid_card::CardProfile;
use eid_testkit::CardMaker;

use super::*;

const SERIAL: u32 = 10_123_456;
/// The PIN and PUK the holder set before bringing the card.
const PIN: &str = "314159";
const PUK: &str = "27182818";

/// A server whose organisation demands attested keys and trusts `trusted`'s roots (none
/// for `None`), and a card from `maker`'s factory enrolled for Anna.
async fn world(
    maker: &CardMaker,
    trusted: Option<&CardMaker>,
) -> (Server, CardClient<VirtualReader>) {
    let pki = Pki::new(SystemClock.now()).await;
    pki.store
        .set_organisation_policy(
            ORG,
            SigningPolicy::SelfService,
            false,
            &pki.event("organisation.policy"),
        )
        .await
        .unwrap();
    let mut card = VirtualCard::in_memory(CardProfile::plain_piv(SERIAL)).unwrap();
    maker.install(&mut card);
    let client = CardClient::new(VirtualReader::new(card));
    client.select().unwrap();
    client
        .change_pin(PinRef::Pin1, &pin("123456"), &pin(PIN))
        .unwrap();
    client
        .change_pin(PinRef::Puk, &pin("12345678"), &pin(PUK))
        .unwrap();
    client.verify(PinRef::Pin1, &pin(PIN)).unwrap();
    eid_ra::enrol(
        &client,
        &pki.ca,
        pki.store.as_ref(),
        &pki.master,
        ANNA,
        "test",
        pki.now,
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let roots = trusted.map(|m| {
        Arc::new(eid_pki::VendorAttestationRoots::from_pem(m.roots_pem().as_bytes()).unwrap())
    });
    let server = Server::builder(pki)
        .settings(move |s| {
            if let Some(roots) = roots {
                s.vendor_attestation_roots = roots;
            }
        })
        .start()
        .await;
    (server, client)
}

/// One fetch through the app's steps with the card's one PIN.
async fn fetch(
    server: &Server,
    card: &CardClient<VirtualReader>,
) -> Result<eid_app::IssuedCertificate, FetchError> {
    let (_, started) = server
        .start_fetch(&SERIAL.to_string(), "mypages")
        .await
        .unwrap();
    let fetch = SigningFetch::fetch(&server.base, &started.auto_start_token)
        .await
        .unwrap();
    let key = fetch.prepare_key(card, &pin(PIN)).await?;
    assert!(key.attestation.is_some() && key.attestation_key_certificate.is_some());
    let issued = fetch.approve(card, &pin(PIN), &key).await?;
    fetch.deliver(card, &issued).await?;
    Ok(issued)
}

async fn signing_certificates_of_the_card(server: &Server) -> usize {
    server
        .pki
        .store
        .certificates_of_card(&SERIAL.to_string())
        .await
        .unwrap()
        .iter()
        .filter(|c| c.kind == CertKind::Signing)
        .count()
}

#[tokio::test]
async fn a_yubikey_key_attested_by_a_trusted_maker_is_certified() {
    let maker = CardMaker::new("Yubico-like");
    let (server, card) = world(&maker, Some(&maker)).await;
    let issued = fetch(&server, &card).await.unwrap();
    assert_eq!(signing_certificates_of_the_card(&server).await, 1);
    card.select().unwrap();
    assert_eq!(
        card.read_certificate(KeySlot::Signing).unwrap(),
        Some(issued.der)
    );
}

#[tokio::test]
async fn a_yubikey_key_from_an_untrusted_maker_is_refused() {
    let maker = CardMaker::new("Yubico-like");
    let other = CardMaker::new("Another maker");
    let (server, card) = world(&maker, Some(&other)).await;
    let (code, details) = refused(fetch(&server, &card).await.unwrap_err());
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[attestationRefused]"), "{details}");
    assert!(
        details.contains("not signed by a configured root"),
        "{details}"
    );
    assert_eq!(signing_certificates_of_the_card(&server).await, 0);
}

#[tokio::test]
async fn without_makers_roots_a_yubikey_key_is_unattested_and_the_organisation_decides() {
    let maker = CardMaker::new("Yubico-like");
    let (server, card) = world(&maker, None).await;
    let (code, details) = refused(fetch(&server, &card).await.unwrap_err());
    assert_eq!(code, "enrollmentRefused");
    assert!(details.starts_with("[attestationRequired]"), "{details}");
    assert_eq!(signing_certificates_of_the_card(&server).await, 0);

    // The organisation accepts unattested keys: the same card's key is certified.
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
    fetch(&server, &card).await.unwrap();
    assert_eq!(signing_certificates_of_the_card(&server).await, 1);
}
