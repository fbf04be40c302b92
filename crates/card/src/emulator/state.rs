//! What a virtual card remembers across power-offs: its profile, PINs and counters,
//! management key, keys (PKCS#8) and data objects. This is the content of the card file.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::card::{CardKind, LifeCycle};
use crate::piv;
use crate::secret::{self, ManagementAlgorithm, ManagementKey};

/// The format tag of a card file.
pub(crate) const FORMAT: &str = "eid-virtual-card";
/// The format version this code writes and reads.
pub(crate) const VERSION: u64 = 1;

/// What kind of card to make: fixed when the card is made, as a product's chip is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardProfile {
    /// The card number: 1–32 characters of `0-9 A-Z a-z -`.
    pub card_number: String,
    /// The product number: 1–16 characters of `0-9 A-Z a-z -` (7XX for one-PIN cards).
    pub product_number: String,
    /// One or two PINs.
    pub kind: CardKind,
    /// Tries of each PIN, 1–15 (default 3).
    pub pin_tries: u8,
    /// Tries of the PUK, 1–15 (default 10).
    pub puk_tries: u8,
    /// A plain PIV card (as a YubiKey), not an eID card: no card-info object, a serial
    /// number (GET SERIAL, the card number as a `u32`), one PIN and no transport code.
    /// For testing the platform's support of real PIV cards without one (`docs/card.md`,
    /// "A plain PIV card"). Absent in older card files: false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub piv_only: bool,
    /// The algorithm of the blank card's (PIV default) management key: AES-128 (the eID
    /// card), or 3DES / AES-192 on a plain PIV card, as a factory YubiKey before / from
    /// firmware 5.7. Absent in older card files: AES-128.
    #[serde(default, skip_serializing_if = "is_aes128")]
    pub management_algorithm: ManagementAlgorithm,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

fn is_aes128(algorithm: &ManagementAlgorithm) -> bool {
    *algorithm == ManagementAlgorithm::Aes128
}

impl CardProfile {
    /// A profile with the default tries (3 for PINs, 10 for the PUK).
    pub fn new(card_number: &str, product_number: &str, kind: CardKind) -> Self {
        CardProfile {
            card_number: card_number.to_owned(),
            product_number: product_number.to_owned(),
            kind,
            pin_tries: 3,
            puk_tries: 10,
            piv_only: false,
            management_algorithm: ManagementAlgorithm::Aes128,
        }
    }

    /// A plain PIV card (as a YubiKey) with serial number `serial`: one PIN, default tries.
    /// Its product number is the one the platform gives such cards once enrolled
    /// ([`piv::ENROLLED_PIV_PRODUCT`]); the card itself never tells it.
    pub fn plain_piv(serial: u32) -> Self {
        CardProfile {
            piv_only: true,
            ..Self::new(
                &serial.to_string(),
                piv::ENROLLED_PIV_PRODUCT,
                CardKind::OnePin,
            )
        }
    }

    /// A plain PIV card whose default management key has `algorithm` (3DES or AES-192 as
    /// factory YubiKeys).
    pub fn plain_piv_with(serial: u32, algorithm: ManagementAlgorithm) -> Self {
        CardProfile {
            management_algorithm: algorithm,
            ..Self::plain_piv(serial)
        }
    }

    /// The serial number a plain PIV card answers to GET SERIAL.
    pub(crate) fn serial(&self) -> Option<u32> {
        self.piv_only
            .then(|| self.card_number.parse().ok())
            .flatten()
    }

    /// Checks the rules on each field; the message says which one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let token = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !token(&self.card_number, 32) {
            return Err("the card number must be 1 to 32 letters, digits or '-'".into());
        }
        if !token(&self.product_number, 16) {
            return Err("the product number must be 1 to 16 letters, digits or '-'".into());
        }
        if !(1..=15).contains(&self.pin_tries) || !(1..=15).contains(&self.puk_tries) {
            return Err("PIN and PUK tries must be 1 to 15".into());
        }
        if self.piv_only {
            if self.kind != CardKind::OnePin {
                return Err("a plain PIV card has one PIN".into());
            }
            let decimal = self.card_number.bytes().all(|b| b.is_ascii_digit())
                && !self.card_number.starts_with('0');
            if !decimal || self.card_number.parse::<u32>().is_err() {
                return Err(
                    "a plain PIV card's number is its serial: a decimal number below 2^32 without leading zeros"
                        .into(),
                );
            }
        } else if self.management_algorithm != ManagementAlgorithm::Aes128 {
            return Err("only a plain PIV card has a management key other than AES-128".into());
        }
        Ok(())
    }
}

/// Bytes that are secret: hex in the file, zeroized in memory, never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) Zeroizing<Vec<u8>>);

impl Secret {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        Secret(Zeroizing::new(bytes.to_vec()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Writes hex straight into the serializer's output: no intermediate string to forget.
struct HexDisplay<'a>(&'a [u8]);

impl fmt::Display for HexDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&HexDisplay(&self.0))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Secret, E> {
                let mut out = Zeroizing::new(vec![0; text.len() / 2]);
                hex::decode_to_slice(text, &mut out[..])
                    .map_err(|_| E::custom("a secret is not valid hex"))?;
                Ok(Secret(out))
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

/// A PIN, PIN2 or PUK: its padded value and counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PinState {
    /// The value padded with `FF` to 8 bytes.
    pub(crate) value: Secret,
    pub(crate) tries_left: u8,
    /// Still the blank-card value.
    pub(crate) default: bool,
}

impl PinState {
    fn blank(digits: &[u8], tries: u8) -> Self {
        let padded = secret::padded(digits).unwrap_or_else(|| Zeroizing::new([0xFF; 8]));
        PinState {
            value: Secret::new(&padded[..]),
            tries_left: tries,
            default: true,
        }
    }

    /// The value as a fixed array (validated on load to be 8 bytes).
    pub(crate) fn padded(&self) -> Zeroizing<[u8; 8]> {
        let mut out = Zeroizing::new([0xFF; 8]);
        if self.value.0.len() == 8 {
            out.copy_from_slice(&self.value.0);
        }
        out
    }
}

/// A key the card holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyState {
    /// PKCS#8 of the P-256 private key.
    pub(crate) pkcs8: Secret,
}

/// The whole persistent state of a card (the card file's content).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    pub(crate) format: String,
    pub(crate) version: u64,
    pub(crate) profile: CardProfile,
    /// The management key was changed from the blank-card key.
    pub(crate) personalised: bool,
    /// One-PIN cards: the holder has chosen PIN1 (two-PIN cards: always true).
    pub(crate) activated: bool,
    pub(crate) pin1: PinState,
    pub(crate) pin2: Option<PinState>,
    pub(crate) puk: PinState,
    pub(crate) management_key: Secret,
    /// The management key's algorithm (absent in older card files, and not written for
    /// AES-128: AES-128).
    #[serde(default, skip_serializing_if = "is_aes128")]
    pub(crate) management_algorithm: ManagementAlgorithm,
    pub(crate) authentication_key: Option<KeyState>,
    pub(crate) signing_key: Option<KeyState>,
    pub(crate) attestation_key: Option<KeyState>,
    #[serde(with = "hex_option")]
    pub(crate) authentication_certificate: Option<Vec<u8>>,
    #[serde(with = "hex_option")]
    pub(crate) signing_certificate: Option<Vec<u8>>,
    #[serde(with = "hex_option")]
    pub(crate) attestation_certificate: Option<Vec<u8>>,
}

mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| hex::decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Which PIN a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinId {
    Pin1,
    Pin2,
    Puk,
}

impl State {
    /// A blank card: default PINs, PUK and management key, no keys, no objects.
    pub(crate) fn blank(profile: CardProfile) -> Self {
        let pin2 = (profile.kind == CardKind::TwoPin)
            .then(|| PinState::blank(b"123456", profile.pin_tries));
        State {
            format: FORMAT.into(),
            version: VERSION,
            personalised: false,
            // A blank card's PIN1 is an ordinary (default) PIN, so personalisation can use
            // the authentication key; a one-PIN card gets its transport code last.
            activated: true,
            pin1: PinState::blank(b"123456", profile.pin_tries),
            pin2,
            puk: PinState::blank(b"12345678", profile.puk_tries),
            management_key: Secret::new(
                ManagementKey::piv_default(profile.management_algorithm).expose(),
            ),
            management_algorithm: profile.management_algorithm,
            authentication_key: None,
            signing_key: None,
            attestation_key: None,
            authentication_certificate: None,
            signing_certificate: None,
            attestation_certificate: None,
            profile,
        }
    }

    pub(crate) fn pin(&self, id: PinId) -> Option<&PinState> {
        match id {
            PinId::Pin1 => Some(&self.pin1),
            PinId::Pin2 => self.pin2.as_ref(),
            PinId::Puk => Some(&self.puk),
        }
    }

    pub(crate) fn pin_mut(&mut self, id: PinId) -> Option<&mut PinState> {
        match id {
            PinId::Pin1 => Some(&mut self.pin1),
            PinId::Pin2 => self.pin2.as_mut(),
            PinId::Puk => Some(&mut self.puk),
        }
    }

    pub(crate) fn tries_total(&self, id: PinId) -> u8 {
        match id {
            PinId::Puk => self.profile.puk_tries,
            _ => self.profile.pin_tries,
        }
    }

    pub(crate) fn key(&self, slot: u8) -> Option<&KeyState> {
        match slot {
            piv::SLOT_AUTHENTICATION => self.authentication_key.as_ref(),
            piv::SLOT_SIGNING => self.signing_key.as_ref(),
            piv::SLOT_ATTESTATION => self.attestation_key.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn key_mut(&mut self, slot: u8) -> Option<&mut Option<KeyState>> {
        match slot {
            piv::SLOT_AUTHENTICATION => Some(&mut self.authentication_key),
            piv::SLOT_SIGNING => Some(&mut self.signing_key),
            piv::SLOT_ATTESTATION => Some(&mut self.attestation_key),
            _ => None,
        }
    }

    pub(crate) fn object(&self, tag: u32) -> Option<&[u8]> {
        match tag {
            piv::tag::CERT_AUTHENTICATION => self.authentication_certificate.as_deref(),
            piv::tag::CERT_SIGNING => self.signing_certificate.as_deref(),
            piv::tag::CERT_ATTESTATION => self.attestation_certificate.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn object_mut(&mut self, tag: u32) -> Option<&mut Option<Vec<u8>>> {
        match tag {
            piv::tag::CERT_AUTHENTICATION => Some(&mut self.authentication_certificate),
            piv::tag::CERT_SIGNING => Some(&mut self.signing_certificate),
            piv::tag::CERT_ATTESTATION => Some(&mut self.attestation_certificate),
            _ => None,
        }
    }

    pub(crate) fn dead(&self) -> bool {
        self.puk.tries_left == 0
    }

    pub(crate) fn life_cycle(&self) -> LifeCycle {
        if self.dead() {
            LifeCycle::Dead
        } else if !self.personalised {
            LifeCycle::Blank
        } else if !self.activated {
            LifeCycle::NotActivated
        } else {
            LifeCycle::Active
        }
    }

    /// The PIN that guards the signing key on this card.
    pub(crate) fn signing_pin(&self) -> PinId {
        match self.profile.kind {
            CardKind::TwoPin => PinId::Pin2,
            CardKind::OnePin => PinId::Pin1,
        }
    }

    /// Checks every invariant a card file must keep; the message names the broken one.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.profile.validate()?;
        if (self.profile.kind == CardKind::TwoPin) != self.pin2.is_some() {
            return Err("PIN2 must exist exactly on two-PIN cards".into());
        }
        if (self.profile.kind == CardKind::TwoPin || self.profile.piv_only) && !self.activated {
            return Err("a two-PIN card or a plain PIV card is always activated".into());
        }
        for (id, name, lengths) in [
            (PinId::Pin1, "PIN1", 6..=8),
            (PinId::Pin2, "PIN2", 6..=8),
            (PinId::Puk, "PUK", 8..=8),
        ] {
            let Some(pin) = self.pin(id) else { continue };
            let well_formed = pin.value.0.len() == 8
                && secret::digits_len(&pin.padded()).is_some_and(|n| lengths.contains(&n));
            if !well_formed {
                return Err(format!("{name} is not well formed"));
            }
            if pin.tries_left > self.tries_total(id) {
                return Err(format!("{name} has more tries left than its total"));
            }
        }
        if self.management_key.0.len() != self.management_algorithm.key_len() {
            return Err(format!(
                "the management key is not {} bytes, as {} wants",
                self.management_algorithm.key_len(),
                self.management_algorithm
            ));
        }
        for (slot, name) in [
            (piv::SLOT_AUTHENTICATION, "9A"),
            (piv::SLOT_SIGNING, "9C"),
            (piv::SLOT_ATTESTATION, "F9"),
        ] {
            if let Some(key) = self.key(slot) {
                super::keys::parse(&key.pkcs8)
                    .map_err(|_| format!("the {name} key is not a P-256 PKCS#8 key"))?;
            }
        }
        for object in [
            &self.authentication_certificate,
            &self.signing_certificate,
            &self.attestation_certificate,
        ] {
            if object.as_ref().is_some_and(|o| o.len() > piv::MAX_OBJECT) {
                return Err("a data object is larger than the card allows".into());
            }
        }
        Ok(())
    }
}
