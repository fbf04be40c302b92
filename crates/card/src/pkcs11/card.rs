//! [`Pkcs11Card`]: the [`Card`] operations on the tokens of one card (see the parent
//! module's doc for the mapping).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::TokenInfo;
use cryptoki::types::AuthPin;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::objects::{
    P256_PARAMS, always_authenticates, der_signature, find, find_all, public_key,
    spki_from_ec_point,
};
use super::{
    ASSUMED_PIN_TRIES, ASSUMED_PUK_TRIES, Capabilities, ID_AUTHENTICATION, ID_SIGNING,
    Pkcs11Module, TokenCard, bad, card_error, failed,
};
use crate::card::{
    Card, CardInfo, CardKind, KeyMetadata, KeyOrigin, KeySlot, LifeCycle, PinRef, PinStatus,
};
use crate::error::CardError;
use crate::piv;
use crate::secret::{ManagementKey, Pin};

/// One card of a PKCS#11 module: a session on each of its tokens.
#[derive(Debug)]
pub struct Pkcs11Card {
    module: Pkcs11Module,
    card: TokenCard,
    state: Mutex<State>,
}

/// What the card holds between operations.
#[derive(Debug)]
struct State {
    /// One session per token, PIN1's token first.
    sessions: Vec<Session>,
    /// The PIN just verified for the signing key: one signature, by the next operation.
    grant: Option<Pin>,
    /// Set `CKA_ALWAYS_AUTHENTICATE` on a new signing key.
    want_always_authenticate: bool,
    /// What the last key generation found out about `CKA_ALWAYS_AUTHENTICATE`.
    always_authenticate: Option<bool>,
}

impl Pkcs11Card {
    /// Loads the module at `module_path` and opens the card with `card_number` (or its only
    /// card). No such card: [`CardError::CardRemoved`].
    pub fn open(module_path: &Path, card_number: Option<&str>) -> Result<Self, CardError> {
        Pkcs11Module::load(module_path)?.open(card_number)
    }

    pub(super) fn with(module: Pkcs11Module, card: TokenCard) -> Result<Self, CardError> {
        let sessions = open_sessions(&module, &card)?;
        Ok(Pkcs11Card {
            module,
            card,
            state: Mutex::new(State {
                sessions,
                grant: None,
                want_always_authenticate: false,
                always_authenticate: None,
            }),
        })
    }

    /// The card's number, kind and tokens.
    pub fn tokens(&self) -> &TokenCard {
        &self.card
    }

    /// Whether `generate_key` sets `CKA_ALWAYS_AUTHENTICATE` on the signing key (see the
    /// module's doc; off by default). A module that refuses the attribute gets a key
    /// without it.
    pub fn set_always_authenticate(&self, on: bool) -> Result<(), CardError> {
        self.begin()?.want_always_authenticate = on;
        Ok(())
    }

    /// What this card can do (see [`Capabilities`]).
    pub fn capabilities(&self) -> Result<Capabilities, CardError> {
        let state = self.begin()?;
        let mut generate_keys = true;
        let mut sign_ecdsa = true;
        for slot in &self.card.slots {
            let context = &self.module.context;
            let mechanisms = context.get_mechanism_list(*slot).map_err(card_error)?;
            let offers = |m: MechanismType| mechanisms.contains(&m);
            generate_keys &= offers(MechanismType::ECC_KEY_PAIR_GEN)
                && context
                    .get_mechanism_info(*slot, MechanismType::ECC_KEY_PAIR_GEN)
                    .is_ok_and(|info| info.generate_key_pair());
            sign_ecdsa &= offers(MechanismType::ECDSA)
                && context
                    .get_mechanism_info(*slot, MechanismType::ECDSA)
                    .is_ok_and(|info| info.sign());
        }
        let always_authenticate = match state.always_authenticate {
            Some(known) => Some(known),
            None => {
                let session = self.session_for_slot(&state, KeySlot::Signing)?;
                match find(session, ObjectClass::PRIVATE_KEY, ID_SIGNING)? {
                    Some(key) => Some(always_authenticates(session, key)?),
                    None => None,
                }
            }
        };
        Ok(Capabilities {
            attestation: false,
            management_key: false,
            generate_keys,
            sign_ecdsa,
            always_authenticate,
        })
    }

    /// Takes the card for one operation; any signature grant lapses.
    fn begin(&self) -> Result<MutexGuard<'_, State>, CardError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| failed("an earlier operation on the card panicked".into()))?;
        state.grant = None;
        Ok(state)
    }

    fn token_info(&self, index: usize) -> Result<TokenInfo, CardError> {
        let slot = self.card.slots.get(index).ok_or(CardError::NotFound)?;
        self.module
            .context
            .get_token_info(*slot)
            .map_err(card_error)
    }

    /// The index of the token that holds `pin` (`Puk`: PIN1's token).
    fn token_index(&self, pin: PinRef) -> Result<usize, CardError> {
        match (pin, self.card.kind) {
            (PinRef::Pin1 | PinRef::Puk, _) => Ok(0),
            (PinRef::Pin2, CardKind::TwoPin) => Ok(1),
            (PinRef::Pin2, CardKind::OnePin) => Err(CardError::NotFound),
        }
    }

    fn slot_pin(&self, slot: KeySlot) -> Result<PinRef, CardError> {
        self.card
            .kind
            .pin_for(slot)
            .ok_or(CardError::Unsupported("hold an attestation key"))
    }

    fn session_for_slot<'s>(
        &self,
        state: &'s State,
        slot: KeySlot,
    ) -> Result<&'s Session, CardError> {
        let index = self.token_index(self.slot_pin(slot)?)?;
        state.sessions.get(index).ok_or(CardError::NotFound)
    }

    /// `C_Login` of `user` with `value` on the token at `index`, the refusal mapped with the
    /// token's flags.
    fn login(
        &self,
        session: &Session,
        index: usize,
        user: UserType,
        value: &AuthPin,
    ) -> Result<(), CardError> {
        let puk = matches!(user, UserType::So);
        match session.login(user, Some(value)) {
            Ok(()) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                let status = pin_status(&self.token_info(index)?, puk);
                Err(match (status.tries_left, puk) {
                    (0, true) => CardError::CardDead,
                    (0, false) => CardError::PinBlocked,
                    (n, true) => CardError::WrongPuk { tries_left: n },
                    (n, false) => CardError::WrongPin { tries_left: n },
                })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) if puk => Err(CardError::CardDead),
            Err(e) => Err(card_error(e)),
        }
    }

    /// Runs `work` in an SO session on the token at `index`, logged in with the PUK.
    fn as_so(
        &self,
        state: &State,
        index: usize,
        puk: &AuthPin,
        work: impl FnOnce(&Session) -> Result<(), CardError>,
    ) -> Result<(), CardError> {
        let session = state.sessions.get(index).ok_or(CardError::NotFound)?;
        logout(session)?;
        self.login(session, index, UserType::So, puk)?;
        let result = work(session);
        let out = logout(session);
        result.and(out)
    }
}

impl Drop for Pkcs11Card {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut() {
            for session in &state.sessions {
                let _ = logout(session);
            }
        }
    }
}

fn open_sessions(module: &Pkcs11Module, card: &TokenCard) -> Result<Vec<Session>, CardError> {
    card.slots
        .iter()
        .map(|slot| module.context.open_rw_session(*slot).map_err(card_error))
        .collect()
}

/// `C_Logout`, where nobody logged in is fine.
fn logout(session: &Session) -> Result<(), CardError> {
    match session.logout() {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserNotLoggedIn, _)) => Ok(()),
        Err(e) => Err(card_error(e)),
    }
}

fn logged_in(session: &Session) -> Result<bool, CardError> {
    let info = session.get_session_info().map_err(card_error)?;
    Ok(matches!(
        info.session_state(),
        SessionState::RoUser | SessionState::RwUser
    ))
}

/// The tries of the user PIN (or with `puk` the SO PIN), estimated from the token's flags.
fn pin_status(token: &TokenInfo, puk: bool) -> PinStatus {
    let (locked, final_try, count_low, to_change, total) = if puk {
        (
            token.so_pin_locked(),
            token.so_pin_final_try(),
            token.so_pin_count_low(),
            token.so_pin_to_be_changed(),
            ASSUMED_PUK_TRIES,
        )
    } else {
        (
            token.user_pin_locked(),
            token.user_pin_final_try(),
            token.user_pin_count_low(),
            token.user_pin_to_be_changed(),
            ASSUMED_PIN_TRIES,
        )
    };
    let tries_left = if locked {
        0
    } else if final_try {
        1
    } else if count_low {
        total - 1
    } else {
        total
    };
    PinStatus {
        tries_left,
        tries_total: total,
        is_default: to_change,
    }
}

/// A PIN's digits for the token, checked for their form first (so a typo costs no try).
fn digits(value: &Pin, pin: PinRef) -> Result<AuthPin, CardError> {
    let padded = value.padded().ok_or(CardError::BadPinFormat)?;
    let len = crate::secret::digits_len(&padded).unwrap_or(0);
    let ok = if pin == PinRef::Puk {
        len == 8
    } else {
        (6..=8).contains(&len)
    };
    let text = std::str::from_utf8(&padded[..len]).map_err(|_| CardError::BadPinFormat)?;
    if ok {
        Ok(AuthPin::from(text))
    } else {
        Err(CardError::BadPinFormat)
    }
}

fn key_id(slot: KeySlot) -> Result<u8, CardError> {
    match slot {
        KeySlot::Authentication => Ok(ID_AUTHENTICATION),
        KeySlot::Signing => Ok(ID_SIGNING),
        KeySlot::Attestation => Err(CardError::Unsupported("hold an attestation key")),
    }
}

fn key_label(slot: KeySlot) -> Vec<u8> {
    match slot {
        KeySlot::Signing => b"eID signing key".to_vec(),
        _ => b"eID authentication key".to_vec(),
    }
}

/// Whether a refusal of a key template is about the attributes (so a template without
/// `CKA_ALWAYS_AUTHENTICATE` may pass).
fn template_refused(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::AttributeTypeInvalid
                | RvError::AttributeValueInvalid
                | RvError::AttributeReadOnly
                | RvError::TemplateInconsistent,
            _
        )
    )
}

impl Card for Pkcs11Card {
    fn select(&self) -> Result<(), CardError> {
        let mut state = self.begin()?;
        for session in &state.sessions {
            let _ = logout(session);
        }
        state.sessions = open_sessions(&self.module, &self.card)?;
        Ok(())
    }

    fn info(&self) -> Result<CardInfo, CardError> {
        let _state = self.begin()?;
        let tokens = (0..self.card.slots.len())
            .map(|i| self.token_info(i))
            .collect::<Result<Vec<_>, _>>()?;
        let model = tokens.first().map(|t| t.model().trim()).unwrap_or_default();
        let life_cycle = if tokens.iter().any(TokenInfo::so_pin_locked) {
            LifeCycle::Dead
        } else if tokens.iter().any(|t| !t.user_pin_initialized()) {
            LifeCycle::Blank
        } else if tokens.iter().any(TokenInfo::user_pin_to_be_changed) {
            LifeCycle::NotActivated
        } else {
            LifeCycle::Active
        };
        Ok(CardInfo {
            card_number: self.card.card_number.clone(),
            product_number: if model.is_empty() { "pkcs11" } else { model }.to_owned(),
            kind: self.card.kind,
            life_cycle,
        })
    }

    fn verify(&self, pin: PinRef, value: &Pin) -> Result<(), CardError> {
        let mut state = self.begin()?;
        if pin == PinRef::Puk {
            return Err(CardError::Unsupported("verify the PUK on its own"));
        }
        let index = self.token_index(pin)?;
        let secret = digits(value, pin)?;
        let session = state.sessions.get(index).ok_or(CardError::NotFound)?;
        logout(session)?;
        self.login(session, index, UserType::User, &secret)?;
        if self.card.kind.pin_for(KeySlot::Signing) == Some(pin) {
            state.grant = Some(value.clone());
        }
        Ok(())
    }

    fn is_verified(&self, pin: PinRef) -> Result<bool, CardError> {
        let state = self.begin()?;
        if pin == PinRef::Puk {
            return Ok(false);
        }
        let session = state
            .sessions
            .get(self.token_index(pin)?)
            .ok_or(CardError::NotFound)?;
        logged_in(session)
    }

    fn pin_status(&self, pin: PinRef) -> Result<PinStatus, CardError> {
        let _state = self.begin()?;
        if pin != PinRef::Puk {
            return Ok(pin_status(&self.token_info(self.token_index(pin)?)?, false));
        }
        // The PUK is every token's SO PIN: the worst of them.
        let mut worst: Option<PinStatus> = None;
        for index in 0..self.card.slots.len() {
            let status = pin_status(&self.token_info(index)?, true);
            if worst.is_none_or(|w| status.tries_left < w.tries_left) {
                worst = Some(status);
            }
        }
        worst.ok_or(CardError::NotFound)
    }

    fn reset_verified(&self, pin: PinRef) -> Result<(), CardError> {
        let state = self.begin()?;
        if pin == PinRef::Puk {
            return Ok(());
        }
        let session = state
            .sessions
            .get(self.token_index(pin)?)
            .ok_or(CardError::NotFound)?;
        logout(session)
    }

    fn change_pin(&self, pin: PinRef, old: &Pin, new: &Pin) -> Result<(), CardError> {
        let state = self.begin()?;
        let (old, new) = (digits(old, pin)?, digits(new, pin)?);
        if pin == PinRef::Puk {
            for index in 0..state.sessions.len() {
                self.as_so(&state, index, &old, |session| {
                    session.set_pin(&old, &new).map_err(card_error)
                })?;
            }
            return Ok(());
        }
        let index = self.token_index(pin)?;
        let session = state.sessions.get(index).ok_or(CardError::NotFound)?;
        // C_SetPIN checks the old PIN like a login: a wrong one is a wrong PIN.
        match session.set_pin(&old, &new) {
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                let status = pin_status(&self.token_info(index)?, false);
                Err(match status.tries_left {
                    0 => CardError::PinBlocked,
                    n => CardError::WrongPin { tries_left: n },
                })
            }
            other => other.map_err(card_error),
        }
    }

    fn unblock_pin(&self, pin: PinRef, puk: &Pin, new: &Pin) -> Result<(), CardError> {
        let state = self.begin()?;
        if pin == PinRef::Puk {
            return Err(CardError::Unsupported("unblock the PUK"));
        }
        let index = self.token_index(pin)?;
        let (puk, new) = (digits(puk, PinRef::Puk)?, digits(new, pin)?);
        self.as_so(&state, index, &puk, |session| {
            session.init_pin(&new).map_err(card_error)
        })
    }

    fn management_challenge(&self) -> Result<[u8; 16], CardError> {
        Err(no_management_key())
    }

    fn management_respond(&self, _response: &[u8; 16]) -> Result<(), CardError> {
        Err(no_management_key())
    }

    fn authenticate_management(&self, _key: &ManagementKey) -> Result<(), CardError> {
        Err(no_management_key())
    }

    fn set_management_key(&self, _key: &ManagementKey) -> Result<(), CardError> {
        Err(no_management_key())
    }

    fn generate_key(&self, slot: KeySlot) -> Result<Vec<u8>, CardError> {
        let mut state = self.begin()?;
        let id = key_id(slot)?;
        let index = self.token_index(self.slot_pin(slot)?)?;
        let offered = self
            .module
            .context
            .get_mechanism_info(self.card.slots[index], MechanismType::ECC_KEY_PAIR_GEN)
            .is_ok_and(|info| info.generate_key_pair());
        if !offered {
            return Err(CardError::Unsupported(
                "generate a P-256 key (its PKCS#11 module offers no EC key generation)",
            ));
        }
        let session = state.sessions.get(index).ok_or(CardError::NotFound)?;
        if !logged_in(session)? {
            return Err(CardError::SecurityStatusNotSatisfied);
        }
        let old: Vec<ObjectHandle> = [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY]
            .into_iter()
            .map(|class| find_all(session, class, id))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Verify(true),
            Attribute::Id(vec![id]),
            Attribute::Label(key_label(slot)),
        ];
        let mut private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::KeyType(KeyType::EC),
            Attribute::Sign(true),
            Attribute::Id(vec![id]),
            Attribute::Label(key_label(slot)),
        ];
        let always = slot == KeySlot::Signing && state.want_always_authenticate;
        if always {
            private.push(Attribute::AlwaysAuthenticate(true));
        }
        let generated =
            match session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private) {
                Err(e) if always && template_refused(&e) => {
                    private.pop();
                    session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                }
                other => other,
            };
        // A module that does not let the user generate keys (some want the SO, or a
        // vendor tool): a plain refusal rather than the module's code.
        let (public_key, private_key) = generated.map_err(|e| match e {
            CkError::Pkcs11(
                RvError::FunctionNotSupported
                | RvError::MechanismInvalid
                | RvError::ActionProhibited
                | RvError::UserNotLoggedIn
                | RvError::TemplateInconsistent
                | RvError::AttributeValueInvalid,
                _,
            ) => CardError::Unsupported(
                "generate keys under the user PIN (its PKCS#11 module refused)",
            ),
            other => card_error(other),
        })?;
        let spki = {
            let point = session
                .get_attributes(public_key, &[AttributeType::EcPoint])
                .map_err(card_error)?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(p) => Some(p),
                    _ => None,
                })
                .ok_or_else(|| bad("the new public key has no EC point"))?;
            spki_from_ec_point(&point)?
        };
        let always = if slot == KeySlot::Signing {
            Some(always_authenticates(session, private_key)?)
        } else {
            state.always_authenticate
        };
        // The old key pair goes only once the new one exists.
        for handle in old {
            session.destroy_object(handle).map_err(card_error)?;
        }
        state.always_authenticate = always;
        Ok(spki)
    }

    fn sign(&self, slot: KeySlot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        let grant = self
            .state
            .lock()
            .map_err(|_| failed("an earlier operation on the card panicked".into()))?
            .grant
            .take();
        let state = self.begin()?;
        let id = key_id(slot)?;
        let session = self.session_for_slot(&state, slot)?;
        if !logged_in(session)? {
            return Err(CardError::SecurityStatusNotSatisfied);
        }
        let grant = match (slot, grant) {
            (KeySlot::Signing, None) => return Err(CardError::SecurityStatusNotSatisfied),
            (KeySlot::Signing, Some(pin)) => Some(pin),
            _ => None,
        };
        let key = find(session, ObjectClass::PRIVATE_KEY, id)?.ok_or(CardError::NotFound)?;
        let raw = match grant {
            Some(pin) if always_authenticates(session, key)? => {
                let secret = digits(&pin, self.slot_pin(slot)?)?;
                session
                    .sign_init(&Mechanism::Ecdsa, key)
                    .map_err(card_error)?;
                let index = self.token_index(self.slot_pin(slot)?)?;
                self.login(session, index, UserType::ContextSpecific, &secret)?;
                session
                    .sign_update(digest)
                    .and_then(|()| session.sign_final())
                    .map_err(|e| match e {
                        CkError::Pkcs11(
                            RvError::FunctionNotSupported | RvError::OperationNotInitialized,
                            _,
                        ) => CardError::Unsupported(
                            "sign with a key that asks for its PIN at every signature \
                             (its module signs ECDSA in one part only)",
                        ),
                        other => card_error(other),
                    })?
            }
            _ => session
                .sign(&Mechanism::Ecdsa, key, digest)
                .map_err(card_error)?,
        };
        der_signature(&raw)
    }

    fn sign_with_pin(
        &self,
        slot: KeySlot,
        pin: PinRef,
        value: &Pin,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        self.verify(pin, value)?;
        self.sign(slot, digest)
    }

    fn read_certificate(&self, slot: KeySlot) -> Result<Option<Vec<u8>>, CardError> {
        let state = self.begin()?;
        if slot == KeySlot::Attestation {
            return Ok(None);
        }
        let session = self.session_for_slot(&state, slot)?;
        let Some(cert) = find(session, ObjectClass::CERTIFICATE, key_id(slot)?)? else {
            return Ok(None);
        };
        let value = session
            .get_attributes(cert, &[AttributeType::Value])
            .map_err(card_error)?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Value(v) => Some(v),
                _ => None,
            })
            .ok_or_else(|| bad("a certificate object has no value"))?;
        Ok(Some(value))
    }

    fn write_certificate(&self, slot: KeySlot, der: Option<&[u8]>) -> Result<(), CardError> {
        let state = self.begin()?;
        let id = key_id(slot)?;
        let session = self.session_for_slot(&state, slot)?;
        let old = find_all(session, ObjectClass::CERTIFICATE, id)?;
        if let Some(der) = der {
            let (_, cert) = X509Certificate::from_der(der)
                .map_err(|_| CardError::Unsupported("store something that is not a certificate"))?;
            let tbs = &cert.tbs_certificate;
            // CKA_SERIAL_NUMBER is the DER INTEGER, tag and length included.
            let serial = crate::tlv::encode(0x02, tbs.raw_serial());
            let template = [
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Id(vec![id]),
                Attribute::Label(match slot {
                    KeySlot::Signing => b"eID signing certificate".to_vec(),
                    _ => b"eID authentication certificate".to_vec(),
                }),
                Attribute::Subject(tbs.subject.as_raw().to_vec()),
                Attribute::Issuer(tbs.issuer.as_raw().to_vec()),
                Attribute::SerialNumber(serial),
                Attribute::Value(der.to_vec()),
            ];
            session.create_object(&template).map_err(card_error)?;
        }
        for handle in old {
            session.destroy_object(handle).map_err(card_error)?;
        }
        Ok(())
    }

    fn attest(&self, _slot: KeySlot) -> Result<Vec<u8>, CardError> {
        Err(CardError::Unsupported(
            "attest its keys (PKCS#11 has no key attestation)",
        ))
    }

    fn key_metadata(&self, slot: KeySlot) -> Result<Option<KeyMetadata>, CardError> {
        let state = self.begin()?;
        if slot == KeySlot::Attestation {
            return Ok(None);
        }
        let pin = self.slot_pin(slot)?;
        let session = self.session_for_slot(&state, slot)?;
        let Some((spki, local)) = public_key(session, key_id(slot)?)? else {
            return Ok(None);
        };
        Ok(Some(KeyMetadata {
            algorithm: piv::ALG_P256,
            pin_policy: if slot == KeySlot::Signing {
                piv::policy::ALWAYS
            } else {
                piv::policy::ONCE
            },
            guarded_by: Some(pin),
            origin: if local {
                KeyOrigin::Generated
            } else {
                KeyOrigin::Imported
            },
            public_key_spki: spki,
        }))
    }
}

fn no_management_key() -> CardError {
    CardError::Unsupported(
        "use a management key (a PKCS#11 token has none: its user PIN authorises key generation)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_go_as_digits_of_the_right_length() {
        assert!(digits(&Pin::from("12345"), PinRef::Pin1).is_err());
        assert!(digits(&Pin::from("123456"), PinRef::Pin1).is_ok());
        assert!(digits(&Pin::from("123456"), PinRef::Puk).is_err());
        assert!(digits(&Pin::from("12345678"), PinRef::Puk).is_ok());
    }
}
