//! The ID administrator unblocks a one-PIN (7XX) card: its PUK is diversified from the card
//! master key, so only the server side can use it. RESET RETRY COUNTER of PIN1 with that PUK
//! sets a new **transport code** (the card returns to *not activated*, `docs/card.md`, "Life
//! cycle"): the holder chooses PIN1 anew, so the administrator never knows it. A two-PIN
//! card is unblocked by its holder with the PUK from the PIN letter (the eID app's PIN
//! services), never here.

use rand::{CryptoRng, RngExt};
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use eid_card::{Card, CardError, CardKind, Pin, PinRef};
use eid_pki::CardMasterKey;
use eid_store::{AuditEvent, CardState, Store, StoreError};

/// Why a card was not unblocked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnblockError {
    /// A two-PIN card: its holder unblocks it with the PUK from the PIN letter.
    #[error(
        "card {0} has a PIN letter: its holder unblocks it with the PUK in the eID app \
         (Byt PIN-kod / Lås upp med PUK)"
    )]
    HolderUnblocks(String),
    /// The card is not in the store, or is revoked.
    #[error("card {0} is not a usable card of this platform")]
    UnknownCard(String),
    /// The card refused (a dead card, a PUK that is not this platform's, removed).
    #[error("the card refused: {0}")]
    Card(#[from] CardError),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// Unblocks one-PIN card `card` (PIN1) with its diversified PUK and a new transport code,
/// records the card as not activated (audited `card.unblock` by `actor`), and returns the
/// transport code, to be handed to the holder once.
pub async fn unblock_one_pin<R: CryptoRng + ?Sized>(
    card: &dyn Card,
    store: &dyn Store,
    master: &CardMasterKey,
    actor: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Zeroizing<String>, UnblockError> {
    card.select()?;
    let info = card.info()?;
    if info.kind == CardKind::TwoPin {
        return Err(UnblockError::HolderUnblocks(info.card_number));
    }
    let record = store
        .card(&info.card_number)
        .await?
        .filter(|c| matches!(c.state, CardState::Active | CardState::NotActivated))
        .ok_or_else(|| UnblockError::UnknownCard(info.card_number.clone()))?;
    let mut code = Zeroizing::new(String::with_capacity(8));
    for _ in 0..8 {
        code.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    let puk = Pin::new(master.one_pin_puk(&info.card_number));
    card.unblock_pin(PinRef::Pin1, &puk, &Pin::new(code.clone()))?;
    store
        .set_card_state(
            &record.card_number,
            CardState::NotActivated,
            &AuditEvent {
                at: now,
                actor: actor.to_owned(),
                action: "card.unblock".into(),
                subject: record.card_number.clone(),
                details: json!({ "transport_code": "set", "holder": record.holder }),
            },
        )
        .await?;
    Ok(code)
}
