//! The `Card` seam: the typed operations every card backend offers (the virtual card over a
//! [`Transport`](crate::Transport) now; PC/SC and PKCS#11 later), and the types they speak.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::CardError;
use crate::piv;
use crate::secret::{ManagementAlgorithm, ManagementKey, Pin};

/// The two card kinds (see DESIGN.md, "Cards").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// Old card with a PIN letter: PIN1 for authentication, PIN2 for signing, PUK.
    TwoPin,
    /// New card (product number 7XX): PIN1 only, chosen by the holder at activation; it
    /// also guards the signing key.
    OnePin,
}

impl CardKind {
    /// The PIN that guards `slot` on a card of this kind (`None` for the attestation key,
    /// which no command can use directly).
    pub fn pin_for(self, slot: KeySlot) -> Option<PinRef> {
        match (slot, self) {
            (KeySlot::Authentication, _) | (KeySlot::Signing, CardKind::OnePin) => {
                Some(PinRef::Pin1)
            }
            (KeySlot::Signing, CardKind::TwoPin) => Some(PinRef::Pin2),
            (KeySlot::Attestation, _) => None,
        }
    }
}

/// Where a card is in its life (see `docs/card.md`, "Life cycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifeCycle {
    /// Default management key: not personalised yet.
    Blank,
    /// One-PIN card whose PIN1 still holds the transport code.
    NotActivated,
    /// In use.
    Active,
    /// The PUK is blocked: the card can never be used again.
    Dead,
}

/// What the card says about itself (readable without a PIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The card number (printed on the card).
    pub card_number: String,
    /// The product number (printed on the back; 7XX for one-PIN cards).
    pub product_number: String,
    /// One or two PINs.
    pub kind: CardKind,
    /// Blank, not activated, active or dead.
    pub life_cycle: LifeCycle,
}

/// The key slots of the eID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySlot {
    /// `9A`: authentication (PIN1, verified once per session).
    Authentication,
    /// `9C`: signing (PIN2, or PIN1 on a one-PIN card, before every signature).
    Signing,
    /// `F9`: attestation (used only by the card itself, to certify the other keys).
    Attestation,
}

impl KeySlot {
    /// The PIV key reference.
    pub fn reference(self) -> u8 {
        match self {
            KeySlot::Authentication => piv::SLOT_AUTHENTICATION,
            KeySlot::Signing => piv::SLOT_SIGNING,
            KeySlot::Attestation => piv::SLOT_ATTESTATION,
        }
    }

    /// The data object holding this slot's certificate.
    pub fn certificate_tag(self) -> u32 {
        match self {
            KeySlot::Authentication => piv::tag::CERT_AUTHENTICATION,
            KeySlot::Signing => piv::tag::CERT_SIGNING,
            KeySlot::Attestation => piv::tag::CERT_ATTESTATION,
        }
    }
}

impl fmt::Display for KeySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.reference())
    }
}

/// The PINs of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinRef {
    /// `80`: PIN1, the security code.
    Pin1,
    /// `88`: PIN2, the signing code (two-PIN cards only).
    Pin2,
    /// `81`: the PUK.
    Puk,
}

impl PinRef {
    /// The PIV reference.
    pub fn reference(self) -> u8 {
        match self {
            PinRef::Pin1 => piv::REF_PIN1,
            PinRef::Pin2 => piv::REF_PIN2,
            PinRef::Puk => piv::REF_PUK,
        }
    }
}

/// A PIN's counters, from the card's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinStatus {
    /// Tries before the PIN blocks (0: blocked).
    pub tries_left: u8,
    /// Tries a fresh PIN has (from the card's product).
    pub tries_total: u8,
    /// Still the blank-card value.
    pub is_default: bool,
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// Generated on the card: it never existed outside.
    Generated,
    /// Imported from outside (never on the virtual card).
    Imported,
}

/// What the card tells about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    /// PIV algorithm byte (`11` for P-256).
    pub algorithm: u8,
    /// PIN policy (`01` never, `02` once, `03` always).
    pub pin_policy: u8,
    /// The PIN that guards the key, if any.
    pub guarded_by: Option<PinRef>,
    /// Generated on the card or imported.
    pub origin: KeyOrigin,
    /// The public key as a DER SubjectPublicKeyInfo.
    pub public_key_spki: Vec<u8>,
}

/// The typed operations of an eID card. All take `&self`: an implementation runs one
/// operation at a time per card. Which commands need which PIN or key, and what each error
/// means, is in `docs/card.md`.
pub trait Card: Send + Sync + fmt::Debug {
    /// Selects the PIV application (and so drops every verified state).
    fn select(&self) -> Result<(), CardError>;
    /// Card number, product number, kind and life cycle.
    fn info(&self) -> Result<CardInfo, CardError>;
    /// Verifies a PIN (PIN1 or PIN2). A wrong one costs a try: [`CardError::WrongPin`].
    fn verify(&self, pin: PinRef, value: &Pin) -> Result<(), CardError>;
    /// Whether the PIN is verified in this session (costs no try).
    fn is_verified(&self, pin: PinRef) -> Result<bool, CardError>;
    /// Tries left and total of a PIN or the PUK.
    fn pin_status(&self, pin: PinRef) -> Result<PinStatus, CardError>;
    /// Drops the verified state of a PIN.
    fn reset_verified(&self, pin: PinRef) -> Result<(), CardError>;
    /// Changes a PIN or the PUK. On a one-PIN card that is not activated, changing PIN1
    /// from the transport code activates the card.
    fn change_pin(&self, pin: PinRef, old: &Pin, new: &Pin) -> Result<(), CardError>;
    /// Sets a new PIN1 or PIN2 with the PUK and restores its tries. On a one-PIN card the
    /// new PIN1 is a transport code: the holder activates the card again.
    fn unblock_pin(&self, pin: PinRef, puk: &Pin, new: &Pin) -> Result<(), CardError>;
    /// The algorithm of the card's management key (GET METADATA of `9B`, tag `01`). A card
    /// that cannot tell is taken to speak AES-128, as the eID card does.
    fn management_algorithm(&self) -> Result<ManagementAlgorithm, CardError> {
        Ok(ManagementAlgorithm::Aes128)
    }
    /// Asks the card for an AES-128 management-key challenge (16 random bytes).
    fn management_challenge(&self) -> Result<[u8; 16], CardError>;
    /// Answers the open challenge (`ManagementKey::respond`, computed wherever the key is).
    fn management_respond(&self, response: &[u8; 16]) -> Result<(), CardError>;
    /// Challenge and response with a key held here. Backends that speak more than AES-128
    /// (the card client) answer a key of another algorithm in its own algorithm; this
    /// default refuses it.
    fn authenticate_management(&self, key: &ManagementKey) -> Result<(), CardError> {
        if key.algorithm() != ManagementAlgorithm::Aes128 {
            return Err(CardError::ManagementAlgorithm {
                card: ManagementAlgorithm::Aes128,
                key: key.algorithm(),
            });
        }
        let challenge = self.management_challenge()?;
        let response = key
            .respond(&challenge)
            .ok_or(CardError::BadResponse("AES failed on the challenge".into()))?;
        self.management_respond(&response)
    }
    /// Replaces the management key (needs management-key authentication).
    fn set_management_key(&self, key: &ManagementKey) -> Result<(), CardError>;
    /// Generates a P-256 key in `slot` (needs management-key authentication); returns its
    /// public key as a DER SubjectPublicKeyInfo.
    fn generate_key(&self, slot: KeySlot) -> Result<Vec<u8>, CardError>;
    /// Signs a SHA-256 digest with the key in `slot`; returns a DER ECDSA signature. The
    /// slot's PIN must be verified as `docs/card.md` says (for 9C: by the command just
    /// before; see [`Card::sign_with_pin`]).
    fn sign(&self, slot: KeySlot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError>;
    /// Verifies `pin` and signs immediately after, as one operation.
    fn sign_with_pin(
        &self,
        slot: KeySlot,
        pin: PinRef,
        value: &Pin,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CardError>;
    /// The certificate (DER) stored for `slot`, if any.
    fn read_certificate(&self, slot: KeySlot) -> Result<Option<Vec<u8>>, CardError>;
    /// Stores (or with `None` deletes) the certificate for `slot` (needs management-key
    /// authentication).
    fn write_certificate(&self, slot: KeySlot, der: Option<&[u8]>) -> Result<(), CardError>;
    /// An X.509 certificate, signed by the F9 key, that the key in `slot` was generated on
    /// the card.
    fn attest(&self, slot: KeySlot) -> Result<Vec<u8>, CardError>;
    /// The key in `slot`: algorithm, policy, origin and public key; `None` for an empty slot.
    fn key_metadata(&self, slot: KeySlot) -> Result<Option<KeyMetadata>, CardError>;
}
