//! Cards that come with a PKCS#11 module (OpenSC's `opensc-pkcs11.so`, vendor middleware,
//! SoftHSM2 in tests), behind the [`Card`](crate::Card) seam: [`Pkcs11Module`] loads a module and lists
//! the cards it shows, [`Pkcs11Card`] is one of them.
//!
//! # Cards from tokens
//!
//! A PKCS#11 module shows tokens, not cards. A two-PIN card is two tokens, one per PIN (as
//! OpenSC shows a PKCS#15 card with two PINs: `<card label> (<PIN label>)`, every token with
//! the card's serial number); a one-PIN card is one token. Tokens are grouped into cards by
//! their **card number**:
//!
//! - if the token label has the form `<digits> (…)` or is all digits, the digits are the card
//!   number (the label convention, for modules whose serial numbers cannot be chosen);
//! - otherwise the token's serial number is (OpenSC's convention; for a PIV card OpenSC takes
//!   it from the CHUID, where the eID card writes its number: leading zeros are dropped from
//!   an all-digit serial).
//!
//! A card with two tokens is a two-PIN card: the token whose label ends in `(PIN2)` (in any
//! case) holds PIN2 and the signing key, the other PIN1 and the authentication key. A card
//! with one token is a one-PIN card: its PIN is PIN1 and guards both keys. Uninitialised
//! tokens are not cards.
//!
//! **Setting up such tokens with SoftHSM2.** `softhsm2-util` cannot choose a token's serial
//! number (SoftHSM draws it at `--init-token`), so SoftHSM tokens use the label convention:
//!
//! ```text
//! softhsm2-util --init-token --free --label "9752269000123456 (PIN1)" --so-pin <PUK> --pin <PIN1>
//! softhsm2-util --init-token --free --label "9752269000123456 (PIN2)" --so-pin <PUK> --pin <PIN2>
//! softhsm2-util --init-token --free --label "9752269000654321" --so-pin <PUK> --pin <PIN1>
//! ```
//!
//! The first two are a two-PIN card, the third a one-PIN card. Each token's SO PIN is the
//! card's PUK: give both tokens of a card the same one.
//!
//! # The `Card` operations on a token
//!
//! | operation | here |
//! |---|---|
//! | `select` | logs out and opens fresh sessions (one read-write session per token) |
//! | `info` | card number (above), product number = the token's model (`pkcs11` if empty), kind by token count, life cycle: `Dead` if an SO PIN is locked, `Blank` if a user PIN is not initialised, `NotActivated` if one must be changed (`CKF_USER_PIN_TO_BE_CHANGED`), else `Active` |
//! | `verify` | `C_Login` as user on the PIN's token (after a `C_Logout`, so the PIN is checked every time) |
//! | `is_verified` | the session is in a user state |
//! | `pin_status` | from the token's flags (below) |
//! | `reset_verified` | `C_Logout` |
//! | `change_pin` | `C_SetPIN`; for the PUK: SO login and `C_SetPIN` on every token of the card |
//! | `unblock_pin` | the PUK is the token's SO PIN: SO login, `C_InitPIN`, logout |
//! | management key | `Unsupported`: a token has no PIV management key; key generation is authorised by the user PIN |
//! | `generate_key` | a P-256 key pair on the slot's token (needs the user login): private key `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, `CKA_SIGN`; `CKA_ID` `01` for authentication and `02` for signing (OpenSC's PIV mapping of 9A and 9C); the public key is a public object, so the key can be read back without a PIN |
//! | `sign` | `CKM_ECDSA` over the SHA-256 digest; the raw `r‖s` converted to DER |
//! | certificates | the X.509 `CKO_CERTIFICATE` with the slot's `CKA_ID` (replaced when written; `None` deletes it); a public object |
//! | `attest` | `Unsupported`: PKCS#11 has no key attestation |
//! | `key_metadata` | from the key objects: `CKA_EC_POINT` (DER-wrapped) to a SubjectPublicKeyInfo, `CKA_LOCAL` to the origin, the PIN policy this backend enforces (below) |
//!
//! **Tries are an estimate.** PKCS#11 does not give a PIN's tries left, only flags: locked
//! is 0, `FINAL_TRY` is 1, `COUNT_LOW` is one less than the total, and otherwise the total,
//! which this module assumes is 3 for a PIN and 10 for the PUK (the eID card's). A module
//! that never counts (SoftHSM never locks a PIN) always shows the total.
//!
//! **A PIN before every signature with the signing key.** As on the PIV card, the signing key
//! signs only right after its PIN was verified (PIN2, or PIN1 on a one-PIN card): a
//! successful `verify` of that PIN grants exactly one signature with the signing key, and
//! the grant lapses with the next operation of any kind (so `verify` then
//! [`certificate_request`](crate::certificate_request) works, as with the PIV client). The
//! backend enforces this itself, because the token's own way cannot be used here:
//!
//! - *Why not `CKA_ALWAYS_AUTHENTICATE` (the design asked for it).* A key with it needs a
//!   `C_Login` as `CKU_CONTEXT_SPECIFIC` between `C_SignInit` and `C_Sign`. The `cryptoki`
//!   crate's safe API has no bare `C_Sign` after a `C_SignInit` (its `sign` runs both), and
//!   the workspace forbids `unsafe`, so such a signature can only run as `C_SignInit`, the
//!   context login, `C_SignUpdate`, `C_SignFinal`; a module whose `CKM_ECDSA` is single-part
//!   only cannot do that. SoftHSM 2.6 takes the attribute and then refuses every signature
//!   that way (tested: [`CardError::Unsupported`]). So `generate_key` sets it only when
//!   [`Pkcs11Card::set_always_authenticate`] asks (default off; for modules with multi-part
//!   ECDSA, such as OpenSC's), falls back without it when the module refuses the attribute,
//!   and [`Capabilities::always_authenticate`] says what the key got.
//! - *The grant.* To sign after `verify` without the token's context login, the grant keeps
//!   the verified PIN (a [`Pin`](crate::Pin): zeroized when dropped, never returned or
//!   printed) in memory until the next operation, which uses it for a key that always
//!   authenticates or drops it. The PIN is never kept beyond that one operation.
//!
//! Either way the signing key's PIN policy is *always* (`key_metadata` says `03`); the
//! authentication key's is *once* (`02`), as on the PIV card.
//!
//! **No management key.** `generate_key` needs the token's user login (PIN1 for 9A, PIN2
//! for 9C on a two-PIN card), where the PIV card needs the management key; writing a
//! certificate needs what the token asks for (SoftHSM: nothing beyond a read-write
//! session). The eID app's management-key steps are refused as
//! [`CardError::Unsupported`] and must be skipped for this backend.

//! **One module per process.** A module is loaded and `C_Initialize`d once per process and
//! stays loaded (PKCS#11 allows one initialisation per process). Logins belong to the
//! process and token, not to a session: dropping a [`Pkcs11Card`] logs out, and two
//! `Pkcs11Card`s of one card in one process share their login.
//!
//! PINs travel to the token as their digits: a PIN has 6 to 8 digits and the PUK 8, as on
//! the eID card; another form is [`CardError::BadPinFormat`] and costs no try.
//!
//! The code is three files: this one (modules, tokens grouped into cards, errors),
//! `card.rs` (the [`Card`](crate::Card) operations) and `objects.rs` (token objects and
//! formats), to keep each small.
//!
//! This module never logs. (`cryptoki` itself may log, through the `log` crate, that a
//! session failed to close; nothing secret is in that message.)

mod card;
mod objects;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use crate::card::CardKind;
use crate::error::{CardError, TransportError};

pub use card::Pkcs11Card;

/// `CKA_ID` of the authentication key and its certificate (OpenSC maps PIV 9A to 01).
pub const ID_AUTHENTICATION: u8 = 0x01;
/// `CKA_ID` of the signing key and its certificate (OpenSC maps PIV 9C to 02).
pub const ID_SIGNING: u8 = 0x02;
/// Tries a fresh PIN is assumed to have (PKCS#11 does not tell).
pub const ASSUMED_PIN_TRIES: u8 = 3;
/// Tries a fresh PUK (SO PIN) is assumed to have.
pub const ASSUMED_PUK_TRIES: u8 = 10;

/// A loaded and initialised PKCS#11 module.
#[derive(Debug, Clone)]
pub struct Pkcs11Module {
    context: Pkcs11,
    path: PathBuf,
}

/// A card as a module shows it: its number, kind and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCard {
    /// The card number (from the token labels or serial numbers; see the module's doc).
    pub card_number: String,
    /// One token: one-PIN; two: two-PIN.
    pub kind: CardKind,
    /// The token labels, PIN1's token first.
    pub labels: Vec<String>,
    /// The slots of the tokens, PIN1's token first.
    slots: Vec<Slot>,
}

/// What a PKCS#11 card can do, as far as this backend can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Key attestation: never (PKCS#11 has none).
    pub attestation: bool,
    /// A PIV management key: never (key generation is authorised by the user PIN).
    pub management_key: bool,
    /// Every token offers P-256 key-pair generation (`CKM_EC_KEY_PAIR_GEN`), which this
    /// backend runs under the user login. A module may still refuse it at generation.
    pub generate_keys: bool,
    /// Every token offers `CKM_ECDSA` signatures.
    pub sign_ecdsa: bool,
    /// Whether the signing key carries `CKA_ALWAYS_AUTHENTICATE` (the token itself asks for
    /// the PIN before every signature): `None` while unknown (no key generated here, and
    /// the private key is hidden without a login).
    pub always_authenticate: Option<bool>,
}

/// Modules loaded in this process, by path: PKCS#11 initialises a module once per process.
fn loaded() -> &'static Mutex<BTreeMap<PathBuf, Pkcs11>> {
    static LOADED: OnceLock<Mutex<BTreeMap<PathBuf, Pkcs11>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

impl Pkcs11Module {
    /// Loads and initialises the module at `path` (once per process; later calls share it).
    pub fn load(path: &Path) -> Result<Self, CardError> {
        let mut modules = loaded()
            .lock()
            .map_err(|_| failed("the PKCS#11 module list is poisoned".into()))?;
        if let Some(context) = modules.get(path) {
            return Ok(Pkcs11Module {
                context: context.clone(),
                path: path.to_owned(),
            });
        }
        let context = Pkcs11::new(path).map_err(|e| {
            failed(format!(
                "cannot load the PKCS#11 module {}: {e}",
                path.display()
            ))
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(failed(format!(
                    "the PKCS#11 module {} did not start: {e}",
                    path.display()
                )));
            }
        }
        modules.insert(path.to_owned(), context.clone());
        Ok(Pkcs11Module {
            context,
            path: path.to_owned(),
        })
    }

    /// The module's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cards the module shows now, by card number. A group of tokens that does not
    /// form a card (more than two tokens, or two without exactly one `(PIN2)` label) is
    /// left out.
    pub fn cards(&self) -> Result<Vec<TokenCard>, CardError> {
        let mut groups: BTreeMap<String, Vec<(Slot, String)>> = BTreeMap::new();
        for slot in self
            .context
            .get_slots_with_initialized_token()
            .map_err(card_error)?
        {
            let token = self.context.get_token_info(slot).map_err(card_error)?;
            let label = token.label().trim().to_owned();
            groups
                .entry(card_number(&label, token.serial_number()))
                .or_default()
                .push((slot, label));
        }
        Ok(groups
            .into_iter()
            .filter_map(|(number, tokens)| token_card(number, tokens))
            .collect())
    }

    /// Opens the card with `card_number`, or the only card when `None`.
    pub fn open(&self, card_number: Option<&str>) -> Result<Pkcs11Card, CardError> {
        let mut cards = self.cards()?;
        let card = match card_number {
            Some(number) => cards
                .into_iter()
                .find(|c| c.card_number == number)
                .ok_or(CardError::CardRemoved)?,
            None if cards.len() == 1 => cards.remove(0),
            None if cards.is_empty() => return Err(CardError::CardRemoved),
            None => {
                return Err(failed(format!(
                    "the PKCS#11 module shows {} cards: name the card number",
                    cards.len()
                )));
            }
        };
        Pkcs11Card::with(self.clone(), card)
    }
}

/// The card number of a token (see the module's doc).
fn card_number(label: &str, serial: &str) -> String {
    let prefix = label.split(" (").next().unwrap_or(label).trim();
    let convention = label == prefix || label.ends_with(')');
    if convention && !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) {
        return prefix.to_owned();
    }
    // OpenSC names a PIV card's token by the last 8 bytes of its CHUID GUID in hex; the eID
    // card writes its card number there in BCD, zero-padded: the digits without the padding.
    let serial = serial.trim();
    let digits = serial.trim_start_matches('0');
    if !digits.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()) {
        digits.to_owned()
    } else {
        serial.to_owned()
    }
}

/// The tokens of one card number as a card, PIN1's token first; `None` if they are not one.
fn token_card(card_number: String, mut tokens: Vec<(Slot, String)>) -> Option<TokenCard> {
    let kind = match tokens.len() {
        1 => CardKind::OnePin,
        2 => {
            let pin2 = |label: &str| label.to_ascii_lowercase().ends_with("(pin2)");
            match (pin2(&tokens[0].1), pin2(&tokens[1].1)) {
                (false, true) => {}
                (true, false) => tokens.swap(0, 1),
                _ => return None,
            }
            CardKind::TwoPin
        }
        _ => return None,
    };
    Some(TokenCard {
        card_number,
        kind,
        labels: tokens.iter().map(|(_, l)| l.clone()).collect(),
        slots: tokens.into_iter().map(|(s, _)| s).collect(),
    })
}

fn bad(what: &str) -> CardError {
    CardError::BadResponse(what.to_owned())
}

fn failed(what: String) -> CardError {
    CardError::Transport(TransportError::Failed(what))
}

/// A `cryptoki` error in the card's terms, in plain words.
fn card_error(error: CkError) -> CardError {
    let CkError::Pkcs11(rv, function) = error else {
        return failed(format!("the PKCS#11 module failed: {error}"));
    };
    match rv {
        RvError::PinIncorrect => CardError::WrongPin {
            tries_left: ASSUMED_PIN_TRIES - 1,
        },
        RvError::PinLocked => CardError::PinBlocked,
        RvError::PinLenRange | RvError::PinInvalid | RvError::PinTooWeak => CardError::BadPinFormat,
        RvError::PinExpired | RvError::UserPinNotInitialized => CardError::NotActivated,
        RvError::UserNotLoggedIn | RvError::UserAnotherAlreadyLoggedIn => {
            CardError::SecurityStatusNotSatisfied
        }
        RvError::DeviceRemoved
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::SessionClosed
        | RvError::SessionHandleInvalid
        | RvError::SlotIdInvalid => CardError::CardRemoved,
        RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid => CardError::NotFound,
        RvError::MechanismInvalid | RvError::CurveNotSupported => {
            CardError::Unsupported("do this with a P-256 key (its module lacks the mechanism)")
        }
        RvError::FunctionNotSupported => {
            CardError::Unsupported("do this (its PKCS#11 module lacks the function)")
        }
        RvError::TokenWriteProtected => {
            CardError::Unsupported("store anything (the token is write-protected)")
        }
        RvError::DeviceMemory => failed("the token is full".into()),
        other => failed(format!("the PKCS#11 module refused {function:?}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_come_from_labels_or_serials() {
        assert_eq!(
            card_number("9752269000123456 (PIN1)", "ab12"),
            "9752269000123456"
        );
        assert_eq!(card_number("9752269000123456", "ab12"), "9752269000123456");
        assert_eq!(card_number("eID (PIN2)", "ab12"), "ab12");
        assert_eq!(card_number("Jane Doe", "ab12 "), "ab12");
        assert_eq!(card_number("12 (PIN1) x", "ab12"), "ab12");
        // OpenSC's PIV token serial: the eID card's number in BCD, zero-padded.
        assert_eq!(
            card_number("Anna Andersson", "0000975283687791"),
            "975283687791"
        );
        assert_eq!(
            card_number("Anna Andersson", "a01f7147a9f6a16c"),
            "a01f7147a9f6a16c"
        );
    }

    #[test]
    fn two_tokens_need_one_pin2_label() {
        let (a, b) = (Slot::try_from(1u64).unwrap(), Slot::try_from(2u64).unwrap());
        let card = token_card(
            "1".into(),
            vec![(a, "1 (pin2)".into()), (b, "1 (PIN1)".into())],
        )
        .unwrap();
        assert_eq!(card.kind, CardKind::TwoPin);
        assert_eq!(card.labels, ["1 (PIN1)", "1 (pin2)"]);
        assert!(token_card("1".into(), vec![(a, "1 (A)".into()), (b, "1 (B)".into())]).is_none());
        let one = token_card("1".into(), vec![(a, "1".into())]).unwrap();
        assert_eq!(one.kind, CardKind::OnePin);
    }
}
