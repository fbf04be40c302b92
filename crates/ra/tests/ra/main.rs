//! Personalisation against a real virtual card, a real CA and a real SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests.

use std::sync::Arc;

use eid_card::{
    Card, CardClient, CardError, CardProfile, KeySlot, LifeCycle, ManagementKey, Pin, PinRef,
    VirtualCard, VirtualReader,
};
use eid_pki::{
    CaNames, CardMasterKey, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings,
};
use eid_ra::{Personalisation, PersonaliseError, PinLetter, personalise};
use eid_store::{
    AuditEvent, CardKind, CardState, CertKind, CertStatus, Durability, Organisation, Person,
    SigningPolicy, SqliteStore, Store,
};
use time::OffsetDateTime;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

const NOW: OffsetDateTime = datetime!(2026-06-01 09:00 UTC);
const HSA: &str = "SE2321000016-A1B2";

struct World {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    ca: CertificateAuthority,
    master: CardMasterKey,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let names = CaNames {
        country: "SE".into(),
        organisation: "Test".into(),
        root_common_name: "Test Root".into(),
        issuing_common_name: "Test Issuing".into(),
    };
    let new = eid_pki::create_ca(
        &names,
        KeyAlgorithm::P256,
        NOW - time::Duration::days(1),
        &mut rand::rng(),
    )
    .unwrap();
    let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).unwrap();
    let ca = CertificateAuthority::load(
        &new.root_cert_pem,
        &new.issuing_cert_pem,
        Arc::new(signer),
        ProfileSettings::new("http://localhost/crl", "http://localhost/ocsp"),
    )
    .unwrap();
    let store = SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
        .await
        .unwrap();
    let event = |action: &str| AuditEvent {
        at: NOW,
        actor: "test".into(),
        action: action.into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    };
    store
        .add_organisation(
            &Organisation {
                org_number: "2321000016".into(),
                name: "Region Exempel".into(),
                signing_policy: SigningPolicy::SelfService,
                accept_unattested_keys: false,
                created_at: NOW,
            },
            &event("organisation.add"),
        )
        .await
        .unwrap();
    store
        .add_person(
            &Person {
                hsa_id: HSA.into(),
                given_name: "Anna".into(),
                surname: "Andersson".into(),
                org_number: "2321000016".into(),
                signing_entitled: true,
                active: true,
                created_at: NOW,
            },
            &event("person.add"),
        )
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        ca,
        master: CardMasterKey::generate().unwrap(),
    }
}

fn blank(number: &str, kind: CardKind) -> (VirtualReader, CardClient<VirtualReader>) {
    let (product, card_kind) = match kind {
        CardKind::TwoPin => ("610", eid_card::CardKind::TwoPin),
        CardKind::OnePin => ("710", eid_card::CardKind::OnePin),
    };
    let card = VirtualCard::in_memory(CardProfile::new(number, product, card_kind)).unwrap();
    let reader = VirtualReader::new(card);
    (reader.clone(), CardClient::new(reader))
}

fn request(number: &str, kind: CardKind) -> Personalisation<'_> {
    Personalisation {
        holder: HSA,
        card_number: number,
        product_number: match kind {
            CardKind::TwoPin => "610",
            CardKind::OnePin => "710",
        },
        kind,
        virtual_card: true,
    }
}

async fn run(
    w: &World,
    card: &dyn Card,
    p: &Personalisation<'_>,
) -> Result<PinLetter, PersonaliseError> {
    personalise(
        card,
        &w.ca,
        &w.store,
        &w.master,
        p,
        "admin:test",
        NOW,
        &mut rand::rng(),
    )
    .await
}

fn pin(s: &str) -> Pin {
    Pin::new(Zeroizing::new(s.to_owned()))
}

async fn audit_len(store: &SqliteStore) -> u64 {
    eid_store::audit::verify(store, None).await.unwrap().entries
}

#[tokio::test]
async fn a_two_pin_card_gets_keys_certificates_and_a_pin_letter() {
    let w = world().await;
    let (_reader, card) = blank("9752000001", CardKind::TwoPin);
    let letter = run(&w, &card, &request("9752000001", CardKind::TwoPin))
        .await
        .unwrap();
    let PinLetter::TwoPin { pin1, pin2, puk } = letter else {
        panic!("a two-PIN card gets a PIN letter");
    };
    assert_eq!((pin1.len(), pin2.len(), puk.len()), (6, 6, 8));

    // The store: the card, and its attestation and authentication certificates.
    let record = w.store.card("9752000001").await.unwrap().unwrap();
    assert_eq!(record.state, CardState::Active);
    assert_eq!(record.holder, HSA);
    let certs = w.store.certificates_of_card("9752000001").await.unwrap();
    let kinds: Vec<_> = certs.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&CertKind::Attestation) && kinds.contains(&CertKind::Authentication));

    // The card holds exactly those certificates, for its own keys.
    card.select().unwrap();
    let info = card.info().unwrap();
    assert_eq!(info.life_cycle, LifeCycle::Active);
    for (slot, kind) in [
        (KeySlot::Authentication, CertKind::Authentication),
        (KeySlot::Attestation, CertKind::Attestation),
    ] {
        let on_card = card.read_certificate(slot).unwrap().unwrap();
        let stored = certs.iter().find(|c| c.kind == kind).unwrap();
        assert_eq!(on_card, stored.der);
        let (_, cert) = X509Certificate::from_der(&on_card).unwrap();
        let key = card.key_metadata(slot).unwrap().unwrap().public_key_spki;
        assert_eq!(cert.public_key().raw, key.as_slice());
    }

    // The PIN letter works, the blank values do not.
    assert!(matches!(
        card.verify(PinRef::Pin1, &pin("123456")),
        Err(CardError::WrongPin { .. })
    ));
    card.verify(PinRef::Pin1, &pin1.as_str().into()).unwrap();
    card.verify(PinRef::Pin2, &pin2.as_str().into()).unwrap();
    assert!(!card.pin_status(PinRef::Puk).unwrap().is_default);

    // The management key is the diversified one; the blank key is refused.
    card.select().unwrap();
    assert!(
        card.authenticate_management(&ManagementKey::blank_card())
            .is_err()
    );
    let diversified = ManagementKey::from_bytes(*w.master.management_key("9752000001"));
    card.authenticate_management(&diversified).unwrap();

    // The authentication key was attested as generated on the card.
    let attestation = card.attest(KeySlot::Authentication).unwrap();
    let (_, attestation) = X509Certificate::from_der(&attestation).unwrap();
    let f9 = card
        .read_certificate(KeySlot::Attestation)
        .unwrap()
        .unwrap();
    let (_, f9) = X509Certificate::from_der(&f9).unwrap();
    attestation.verify_signature(Some(f9.public_key())).unwrap();
    audit_len(&w.store).await;
}

#[tokio::test]
async fn a_one_pin_card_waits_for_its_holder_with_a_transport_code() {
    let w = world().await;
    let (_reader, card) = blank("9752000002", CardKind::OnePin);
    let letter = run(&w, &card, &request("9752000002", CardKind::OnePin))
        .await
        .unwrap();
    let PinLetter::OnePin { transport_code } = letter else {
        panic!("a one-PIN card gets a transport code");
    };
    assert_eq!(
        w.store.card("9752000002").await.unwrap().unwrap().state,
        CardState::NotActivated
    );
    card.select().unwrap();
    assert_eq!(card.info().unwrap().life_cycle, LifeCycle::NotActivated);
    assert!(matches!(
        card.verify(PinRef::Pin1, &transport_code.as_str().into()),
        Err(CardError::NotActivated)
    ));
    // The holder activates; the PUK is the administrator's, derived from the master key.
    card.change_pin(
        PinRef::Pin1,
        &transport_code.as_str().into(),
        &pin("246810"),
    )
    .unwrap();
    card.verify(PinRef::Pin1, &pin("246810")).unwrap();
    let puk = w.master.one_pin_puk("9752000002");
    card.unblock_pin(PinRef::Pin1, &puk.as_str().into(), &pin("13572468"))
        .unwrap();
}

#[tokio::test]
async fn refusals_change_nothing() {
    let w = world().await;
    let before = audit_len(&w.store).await;

    // Unknown holder: nothing happens to the card either.
    let (_r, card) = blank("9752000003", CardKind::TwoPin);
    let mut p = request("9752000003", CardKind::TwoPin);
    p.holder = "SE2321000016-NOBODY";
    assert!(matches!(
        run(&w, &card, &p).await,
        Err(PersonaliseError::Holder(_))
    ));
    card.select().unwrap();
    assert_eq!(card.info().unwrap().life_cycle, LifeCycle::Blank);

    // The request names another card, or the wrong kind.
    assert!(matches!(
        run(&w, &card, &request("9752000099", CardKind::TwoPin)).await,
        Err(PersonaliseError::WrongCard(_))
    ));
    let mut wrong_kind = request("9752000003", CardKind::OnePin);
    wrong_kind.product_number = "610";
    assert!(matches!(
        run(&w, &card, &wrong_kind).await,
        Err(PersonaliseError::WrongCard(_))
    ));
    assert_eq!(audit_len(&w.store).await, before);
    assert!(w.store.cards(None).await.unwrap().is_empty());

    // A card personalised once is not blank any more.
    run(&w, &card, &request("9752000003", CardKind::TwoPin))
        .await
        .unwrap();
    let after = audit_len(&w.store).await;
    assert!(matches!(
        run(&w, &card, &request("9752000003", CardKind::TwoPin)).await,
        Err(PersonaliseError::WrongCard(_))
    ));
    assert_eq!(audit_len(&w.store).await, after);
}

/// A card that leaves the reader half-way: the half-made card can never be used.
#[tokio::test]
async fn a_card_pulled_out_half_way_is_revoked_with_its_certificates() {
    let w = world().await;
    let (reader, client) = blank("9752000004", CardKind::TwoPin);
    let card = PullAfter {
        inner: client,
        reader,
        writes_left: std::sync::atomic::AtomicUsize::new(1),
    };
    let err = run(&w, &card, &request("9752000004", CardKind::TwoPin))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersonaliseError::Card(CardError::CardRemoved)),
        "{err:?}"
    );
    assert_eq!(
        w.store.card("9752000004").await.unwrap().unwrap().state,
        CardState::Revoked
    );
    let certs = w.store.certificates_of_card("9752000004").await.unwrap();
    assert!(!certs.is_empty());
    assert!(
        certs
            .iter()
            .all(|c| matches!(c.status, CertStatus::Revoked { .. }))
    );
    eid_store::audit::verify(&w.store, None).await.unwrap();
}

/// Pulls the card out of its reader when the second certificate write starts.
#[derive(Debug)]
struct PullAfter {
    inner: CardClient<VirtualReader>,
    reader: VirtualReader,
    writes_left: std::sync::atomic::AtomicUsize,
}

impl Card for PullAfter {
    fn select(&self) -> Result<(), CardError> {
        self.inner.select()
    }
    fn info(&self) -> Result<eid_card::CardInfo, CardError> {
        self.inner.info()
    }
    fn verify(&self, p: PinRef, v: &Pin) -> Result<(), CardError> {
        self.inner.verify(p, v)
    }
    fn is_verified(&self, p: PinRef) -> Result<bool, CardError> {
        self.inner.is_verified(p)
    }
    fn pin_status(&self, p: PinRef) -> Result<eid_card::PinStatus, CardError> {
        self.inner.pin_status(p)
    }
    fn reset_verified(&self, p: PinRef) -> Result<(), CardError> {
        self.inner.reset_verified(p)
    }
    fn change_pin(&self, p: PinRef, o: &Pin, n: &Pin) -> Result<(), CardError> {
        self.inner.change_pin(p, o, n)
    }
    fn unblock_pin(&self, p: PinRef, k: &Pin, n: &Pin) -> Result<(), CardError> {
        self.inner.unblock_pin(p, k, n)
    }
    fn management_challenge(&self) -> Result<[u8; 16], CardError> {
        self.inner.management_challenge()
    }
    fn management_respond(&self, r: &[u8; 16]) -> Result<(), CardError> {
        self.inner.management_respond(r)
    }
    fn set_management_key(&self, k: &ManagementKey) -> Result<(), CardError> {
        self.inner.set_management_key(k)
    }
    fn generate_key(&self, s: KeySlot) -> Result<Vec<u8>, CardError> {
        self.inner.generate_key(s)
    }
    fn sign(&self, s: KeySlot, d: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        self.inner.sign(s, d)
    }
    fn sign_with_pin(
        &self,
        s: KeySlot,
        p: PinRef,
        v: &Pin,
        d: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        self.inner.sign_with_pin(s, p, v, d)
    }
    fn read_certificate(&self, s: KeySlot) -> Result<Option<Vec<u8>>, CardError> {
        self.inner.read_certificate(s)
    }
    fn write_certificate(&self, s: KeySlot, der: Option<&[u8]>) -> Result<(), CardError> {
        use std::sync::atomic::Ordering;
        if self.writes_left.fetch_sub(1, Ordering::SeqCst) == 0 {
            self.reader.pull_out();
        }
        self.inner.write_certificate(s, der)
    }
    fn attest(&self, s: KeySlot) -> Result<Vec<u8>, CardError> {
        self.inner.attest(s)
    }
    fn key_metadata(&self, s: KeySlot) -> Result<Option<eid_card::KeyMetadata>, CardError> {
        self.inner.key_metadata(s)
    }
}

#[tokio::test]
async fn the_administrator_unblocks_a_one_pin_card_with_a_new_transport_code() {
    let w = world().await;
    let (_reader, card) = blank("9752000007", CardKind::OnePin);
    let PinLetter::OnePin { transport_code } =
        run(&w, &card, &request("9752000007", CardKind::OnePin))
            .await
            .unwrap()
    else {
        panic!("a one-PIN card gets a transport code");
    };
    // The holder activates the card, then blocks PIN1.
    card.change_pin(PinRef::Pin1, &pin(&transport_code), &pin("246810"))
        .unwrap();
    for _ in 0..3 {
        let _ = card.verify(PinRef::Pin1, &pin("000000"));
    }
    assert!(matches!(
        card.verify(PinRef::Pin1, &pin("246810")),
        Err(CardError::PinBlocked)
    ));
    let code = eid_ra::unblock_one_pin(
        &card,
        &w.store,
        &w.master,
        "admin:test",
        NOW,
        &mut rand::rng(),
    )
    .await
    .unwrap();
    assert_eq!(code.len(), 8);
    // Not activated again: the holder chooses PIN1 with the new transport code.
    assert_eq!(card.info().unwrap().life_cycle, LifeCycle::NotActivated);
    assert_eq!(
        w.store.card("9752000007").await.unwrap().unwrap().state,
        CardState::NotActivated
    );
    card.change_pin(PinRef::Pin1, &pin(&code), &pin("135791"))
        .unwrap();
    card.verify(PinRef::Pin1, &pin("135791")).unwrap();

    // A two-PIN card is its holder's to unblock.
    let (_reader, two) = blank("9752000008", CardKind::TwoPin);
    run(&w, &two, &request("9752000008", CardKind::TwoPin))
        .await
        .unwrap();
    assert!(matches!(
        eid_ra::unblock_one_pin(
            &two,
            &w.store,
            &w.master,
            "admin:test",
            NOW,
            &mut rand::rng()
        )
        .await,
        Err(eid_ra::UnblockError::HolderUnblocks(_))
    ));
}
