//! [`CardClient`]: the [`Card`] operations spoken as APDUs over any [`Transport`], with
//! command chaining and GET RESPONSE handled, one operation at a time per card.

use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use crate::apdu;
use crate::card::{
    Card, CardInfo, CardKind, KeyMetadata, KeyOrigin, KeySlot, LifeCycle, PinRef, PinStatus,
};
use crate::error::CardError;
use crate::piv::{self, ins, tag};
use crate::secret::{ManagementAlgorithm, ManagementKey, Pin};
use crate::status::Sw;
use crate::tlv;
use crate::transport::Transport;

/// Largest response the client collects through GET RESPONSE.
const MAX_RESPONSE: usize = 64 * 1024;

/// The card client. The mutex around the transport makes each operation (however many
/// APDUs it takes) run alone.
#[derive(Debug)]
pub struct CardClient<T: Transport> {
    transport: Mutex<T>,
}

/// One locked card: the APDU exchanges of one operation.
struct Session<'a, T: Transport>(MutexGuard<'a, T>);

impl<T: Transport> CardClient<T> {
    /// A client over `transport`. It does not talk to the card yet.
    pub fn new(transport: T) -> Self {
        CardClient {
            transport: Mutex::new(transport),
        }
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn session(&self) -> Session<'_, T> {
        Session(
            self.transport
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Sends one command (chained when over 255 bytes) and collects the whole response;
    /// returns the data and the final status word, whatever it is.
    pub fn exchange(
        &self,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> Result<(Vec<u8>, Sw), CardError> {
        self.session().exchange(ins, p1, p2, data)
    }
}

impl<T: Transport> Session<'_, T> {
    fn exchange(
        &mut self,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> Result<(Vec<u8>, Sw), CardError> {
        let mut chunks = data.chunks(255).peekable();
        let mut response = loop {
            let chunk = chunks.next().unwrap_or(&[]);
            let last = chunks.peek().is_none();
            let cla = if last { piv::CLA } else { piv::CLA_CHAIN };
            // The APDU may carry a PIN or a key: wiped once sent.
            let apdu = Zeroizing::new(apdu::build(cla, ins, p1, p2, chunk, last.then_some(0)));
            let answer = self.0.transmit(&apdu)?;
            let (body, sw) = split(&answer)?;
            if last {
                break (body.to_vec(), sw);
            }
            if sw != Sw::OK {
                return Ok((Vec::new(), sw));
            }
        };
        while let Some(left) = response.1.as_more_data() {
            let answer = self
                .0
                .transmit(&[piv::CLA, ins::GET_RESPONSE, 0, 0, left])?;
            let (body, sw) = split(&answer)?;
            response.0.extend_from_slice(body);
            response.1 = sw;
            if response.0.len() > MAX_RESPONSE {
                return Err(CardError::BadResponse("the response is too long".into()));
            }
        }
        Ok(response)
    }

    /// As `exchange`, but anything other than `9000` is an error (mapped for PINs).
    fn ok(&mut self, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, CardError> {
        let (body, sw) = self.exchange(ins, p1, p2, data)?;
        check(sw, Stake::Plain)?;
        Ok(body)
    }

    fn verify(&mut self, pin: PinRef, value: &Pin) -> Result<(), CardError> {
        let padded = pin_field(value, pin)?;
        let (_, sw) = self.exchange(ins::VERIFY, 0, pin.reference(), &padded[..])?;
        check(sw, Stake::Pin)
    }

    fn get_object(&mut self, object: u32) -> Result<Option<Vec<u8>>, CardError> {
        let name = object_name(object);
        let (body, sw) = self.exchange(ins::GET_DATA, 0x3F, 0xFF, &tlv::encode(0x5C, &name))?;
        if sw == Sw::NOT_FOUND {
            return Ok(None);
        }
        check(sw, Stake::Plain)?;
        let content =
            tlv::only(&body, 0x53).map_err(|_| bad("a data object is not a 53 template"))?;
        Ok(Some(content.to_vec()))
    }

    fn info(&mut self) -> Result<CardInfo, CardError> {
        let Some(content) = self.get_object(tag::CARD_INFO)? else {
            return self.plain_piv_info();
        };
        let items = tlv::parse_all(&content).map_err(|_| bad("card info is not TLV"))?;
        let text = |t| {
            tlv::find(&items, t)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
                .ok_or_else(|| bad("card info lacks a number"))
        };
        let kind = match tlv::find(&items, 0x03) {
            Some([0x01]) => CardKind::TwoPin,
            Some([0x02]) => CardKind::OnePin,
            _ => return Err(bad("card info has an unknown kind")),
        };
        let life_cycle = match tlv::find(&items, 0x04) {
            Some([0x00]) => LifeCycle::Blank,
            Some([0x01]) => LifeCycle::NotActivated,
            Some([0x02]) => LifeCycle::Active,
            Some([0x03]) => LifeCycle::Dead,
            _ => return Err(bad("card info has an unknown life cycle")),
        };
        Ok(CardInfo {
            card_number: text(0x01)?,
            product_number: text(0x02)?,
            kind,
            life_cycle,
        })
    }

    /// What a plain PIV card (a YubiKey) says of itself, in the platform's terms: its serial
    /// number is the card number, it is the enrolled-PIV product (one PIN), blank while its
    /// management key is the PIV default and active once the platform set its own.
    fn plain_piv_info(&mut self) -> Result<CardInfo, CardError> {
        let (body, sw) = self.exchange(ins::GET_SERIAL, 0, 0, &[])?;
        let serial = match <[u8; 4]>::try_from(body.as_slice()) {
            Ok(bytes) if sw == Sw::OK => u32::from_be_bytes(bytes),
            _ => {
                return Err(CardError::Unsupported(
                    "identify itself: it has neither the eID card-info object nor a serial number",
                ));
            }
        };
        let management = match self.exchange(ins::METADATA, 0, piv::REF_MANAGEMENT, &[])? {
            (body, Sw::OK) => body,
            _ => {
                return Err(CardError::Unsupported(
                    "tell whether its management key is the default: it answers no metadata (a YubiKey does from firmware 5.3)",
                ));
            }
        };
        let items = tlv::parse_all(&management).map_err(|_| bad("metadata is not TLV"))?;
        let life_cycle = match tlv::find(&items, 0x05) {
            Some([0x01]) => LifeCycle::Blank,
            Some([0x00]) => LifeCycle::Active,
            _ => {
                return Err(bad(
                    "the management key's metadata does not say if it is the default",
                ));
            }
        };
        Ok(CardInfo {
            card_number: serial.to_string(),
            product_number: piv::ENROLLED_PIV_PRODUCT.to_owned(),
            kind: CardKind::OnePin,
            life_cycle,
        })
    }

    /// GET METADATA of `9B`, tag `01`.
    fn management_algorithm(&mut self) -> Result<ManagementAlgorithm, CardError> {
        let body = self
            .metadata(piv::REF_MANAGEMENT)?
            .ok_or(CardError::Unsupported(
                "tell its management key's algorithm: it answers no metadata",
            ))?;
        let items = tlv::parse_all(&body).map_err(|_| bad("metadata is not TLV"))?;
        match tlv::find(&items, 0x01) {
            Some([byte]) => ManagementAlgorithm::from_byte(*byte).ok_or_else(|| {
                CardError::BadResponse(format!(
                    "the management key's algorithm {byte:02X} is not 3DES or AES"
                ))
            }),
            _ => Err(bad("the management key's metadata has no algorithm")),
        }
    }

    /// GENERAL AUTHENTICATE `9B`: the card's challenge (one block of `algorithm`).
    fn management_challenge(
        &mut self,
        algorithm: ManagementAlgorithm,
    ) -> Result<Vec<u8>, CardError> {
        let body = self.ok(
            ins::GENERAL_AUTHENTICATE,
            algorithm.byte(),
            piv::REF_MANAGEMENT,
            &tlv::encode(0x7C, &tlv::encode(0x81, &[])),
        )?;
        let inner = tlv::only(&body, 0x7C).map_err(|_| bad("no 7C template"))?;
        let challenge = tlv::only(inner, 0x81).map_err(|_| bad("no challenge"))?;
        if challenge.len() != algorithm.challenge_len() {
            return Err(CardError::BadResponse(format!(
                "the challenge is not {} bytes",
                algorithm.challenge_len()
            )));
        }
        Ok(challenge.to_vec())
    }

    /// GENERAL AUTHENTICATE `9B`: the answer to the open challenge.
    fn management_respond(
        &mut self,
        algorithm: ManagementAlgorithm,
        response: &[u8],
    ) -> Result<(), CardError> {
        let (_, sw) = self.exchange(
            ins::GENERAL_AUTHENTICATE,
            algorithm.byte(),
            piv::REF_MANAGEMENT,
            &tlv::encode(0x7C, &tlv::encode(0x82, response)),
        )?;
        match sw {
            Sw::SECURITY_STATUS | Sw::CONDITIONS => Err(CardError::ManagementKeyRejected),
            sw => check(sw, Stake::Plain),
        }
    }

    fn metadata(&mut self, reference: u8) -> Result<Option<Vec<u8>>, CardError> {
        let (body, sw) = self.exchange(ins::METADATA, 0, reference, &[])?;
        if sw == Sw::NO_REFERENCE {
            return Ok(None);
        }
        check(sw, Stake::Plain)?;
        Ok(Some(body))
    }

    fn sign(&mut self, slot: KeySlot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        if slot == KeySlot::Attestation {
            return Err(CardError::Unsupported("sign with the attestation key"));
        }
        let mut template = tlv::encode(0x82, &[]);
        tlv::put(&mut template, 0x81, digest);
        let body = self.ok(
            ins::GENERAL_AUTHENTICATE,
            piv::ALG_P256,
            slot.reference(),
            &tlv::encode(0x7C, &template),
        )?;
        let inner = tlv::only(&body, 0x7C).map_err(|_| bad("no 7C template"))?;
        let items = tlv::parse_all(inner).map_err(|_| bad("7C is not TLV"))?;
        let signature = tlv::find(&items, 0x82).ok_or_else(|| bad("no signature"))?;
        Ok(signature.to_vec())
    }
}

impl<T: Transport> Card for CardClient<T> {
    fn select(&self) -> Result<(), CardError> {
        self.session()
            .ok(ins::SELECT, 0x04, 0x00, &piv::AID)
            .map(drop)
    }

    fn info(&self) -> Result<CardInfo, CardError> {
        self.session().info()
    }

    fn verify(&self, pin: PinRef, value: &Pin) -> Result<(), CardError> {
        self.session().verify(pin, value)
    }

    fn is_verified(&self, pin: PinRef) -> Result<bool, CardError> {
        let (_, sw) = self
            .session()
            .exchange(ins::VERIFY, 0, pin.reference(), &[])?;
        match sw {
            Sw::OK => Ok(true),
            sw if sw.as_tries_left().is_some_and(|n| n > 0) => Ok(false),
            sw => check(sw, Stake::Plain).map(|()| false),
        }
    }

    fn pin_status(&self, pin: PinRef) -> Result<PinStatus, CardError> {
        let body = self
            .session()
            .metadata(pin.reference())?
            .ok_or(CardError::NotFound)?;
        let items = tlv::parse_all(&body).map_err(|_| bad("metadata is not TLV"))?;
        let [total, left] = tlv::find(&items, 0x06)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .ok_or_else(|| bad("PIN metadata without tries"))?;
        Ok(PinStatus {
            tries_left: left,
            tries_total: total,
            is_default: tlv::find(&items, 0x05) == Some(&[1][..]),
        })
    }

    fn reset_verified(&self, pin: PinRef) -> Result<(), CardError> {
        self.session()
            .ok(ins::VERIFY, 0xFF, pin.reference(), &[])
            .map(drop)
    }

    fn change_pin(&self, pin: PinRef, old: &Pin, new: &Pin) -> Result<(), CardError> {
        let mut data = Zeroizing::new(Vec::with_capacity(16));
        data.extend_from_slice(&pin_field(old, pin)?[..]);
        data.extend_from_slice(&pin_field(new, pin)?[..]);
        let (_, sw) = self
            .session()
            .exchange(ins::CHANGE_REFERENCE, 0, pin.reference(), &data)?;
        check(
            sw,
            if pin == PinRef::Puk {
                Stake::Puk
            } else {
                Stake::Pin
            },
        )
    }

    fn unblock_pin(&self, pin: PinRef, puk: &Pin, new: &Pin) -> Result<(), CardError> {
        let mut data = Zeroizing::new(Vec::with_capacity(16));
        data.extend_from_slice(&pin_field(puk, PinRef::Puk)?[..]);
        data.extend_from_slice(&pin_field(new, pin)?[..]);
        let (_, sw) = self
            .session()
            .exchange(ins::RESET_RETRY, 0, pin.reference(), &data)?;
        check(sw, Stake::Puk)
    }

    fn management_algorithm(&self) -> Result<ManagementAlgorithm, CardError> {
        self.session().management_algorithm()
    }

    fn management_challenge(&self) -> Result<[u8; 16], CardError> {
        self.session()
            .management_challenge(ManagementAlgorithm::Aes128)?
            .try_into()
            .map_err(|_| bad("the challenge is not 16 bytes"))
    }

    fn management_respond(&self, response: &[u8; 16]) -> Result<(), CardError> {
        self.session()
            .management_respond(ManagementAlgorithm::Aes128, response)
    }

    /// In the key's own algorithm; if the card refuses the challenge, its metadata tells
    /// whether the algorithm was the reason.
    fn authenticate_management(&self, key: &ManagementKey) -> Result<(), CardError> {
        let mut session = self.session();
        let challenge = match session.management_challenge(key.algorithm()) {
            Ok(challenge) => challenge,
            Err(error) => {
                return match session.management_algorithm() {
                    Ok(card) if card != key.algorithm() => Err(CardError::ManagementAlgorithm {
                        card,
                        key: key.algorithm(),
                    }),
                    _ => Err(error),
                };
            }
        };
        let response = key
            .respond_to(&challenge)
            .ok_or_else(|| bad("the challenge is not one block of the key's cipher"))?;
        session.management_respond(key.algorithm(), &response)
    }

    fn set_management_key(&self, key: &ManagementKey) -> Result<(), CardError> {
        let algorithm = key.algorithm();
        let mut data = Zeroizing::new(vec![
            algorithm.byte(),
            piv::REF_MANAGEMENT,
            algorithm.key_len() as u8,
        ]);
        data.extend_from_slice(key.expose());
        self.session()
            .ok(ins::SET_MANAGEMENT_KEY, 0xFF, 0xFF, &data)
            .map(drop)
    }

    fn generate_key(&self, slot: KeySlot) -> Result<Vec<u8>, CardError> {
        let template = tlv::encode(0xAC, &tlv::encode(0x80, &[piv::ALG_P256]));
        let body = self
            .session()
            .ok(ins::GENERATE, 0, slot.reference(), &template)?;
        let inner = tlv::only(&body, 0x7F49).map_err(|_| bad("no 7F49 template"))?;
        spki_from_point_tlv(inner)
    }

    fn sign(&self, slot: KeySlot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        self.session().sign(slot, digest)
    }

    fn sign_with_pin(
        &self,
        slot: KeySlot,
        pin: PinRef,
        value: &Pin,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        let mut session = self.session();
        session.verify(pin, value)?;
        session.sign(slot, digest)
    }

    fn read_certificate(&self, slot: KeySlot) -> Result<Option<Vec<u8>>, CardError> {
        let Some(object) = self.session().get_object(slot.certificate_tag())? else {
            return Ok(None);
        };
        let items = tlv::parse_all(&object).map_err(|_| bad("a certificate object is not TLV"))?;
        let der = tlv::find(&items, 0x70).ok_or_else(|| bad("a certificate object has no 70"))?;
        Ok(Some(der.to_vec()))
    }

    fn write_certificate(&self, slot: KeySlot, der: Option<&[u8]>) -> Result<(), CardError> {
        let mut data = tlv::encode(0x5C, &object_name(slot.certificate_tag()));
        let content = match der {
            Some(der) => {
                let mut content = tlv::encode(0x70, der);
                tlv::put(&mut content, 0x71, &[0x00]);
                tlv::put(&mut content, 0xFE, &[]);
                content
            }
            None => Vec::new(),
        };
        tlv::put(&mut data, 0x53, &content);
        self.session()
            .ok(ins::PUT_DATA, 0x3F, 0xFF, &data)
            .map(drop)
    }

    fn attest(&self, slot: KeySlot) -> Result<Vec<u8>, CardError> {
        self.session().ok(ins::ATTEST, slot.reference(), 0, &[])
    }

    fn key_metadata(&self, slot: KeySlot) -> Result<Option<KeyMetadata>, CardError> {
        let Some(body) = self.session().metadata(slot.reference())? else {
            return Ok(None);
        };
        let items = tlv::parse_all(&body).map_err(|_| bad("metadata is not TLV"))?;
        let byte = |t| match tlv::find(&items, t) {
            Some([b, ..]) => Ok(*b),
            _ => Err(bad("metadata lacks a field")),
        };
        let guarded_by = match tlv::find(&items, 0x80) {
            Some([piv::REF_PIN1]) => Some(PinRef::Pin1),
            Some([piv::REF_PIN2]) => Some(PinRef::Pin2),
            _ => None,
        };
        Ok(Some(KeyMetadata {
            algorithm: byte(0x01)?,
            pin_policy: byte(0x02)?,
            guarded_by,
            origin: if byte(0x03)? == 0x01 {
                KeyOrigin::Generated
            } else {
                KeyOrigin::Imported
            },
            public_key_spki: spki_from_point_tlv(
                tlv::find(&items, 0x04).ok_or_else(|| bad("metadata lacks the public key"))?,
            )?,
        }))
    }
}

fn bad(what: &str) -> CardError {
    CardError::BadResponse(what.to_owned())
}

fn split(answer: &[u8]) -> Result<(&[u8], Sw), CardError> {
    apdu::split_response(answer).ok_or_else(|| bad("the answer is shorter than a status word"))
}

/// `86 41 04‖X‖Y` to a SubjectPublicKeyInfo.
fn spki_from_point_tlv(tlv_bytes: &[u8]) -> Result<Vec<u8>, CardError> {
    let point = tlv::only(tlv_bytes, 0x86).map_err(|_| bad("no 86 public point"))?;
    piv::p256_spki(point).ok_or_else(|| bad("the public key is not a P-256 point"))
}

/// The `5C` value naming an object.
fn object_name(object: u32) -> Vec<u8> {
    if object <= 0xFF {
        vec![object as u8]
    } else {
        object.to_be_bytes()[1..].to_vec()
    }
}

/// A PIN in PIV's padded form, checked for its form first (so a typo costs no try).
fn pin_field(value: &Pin, pin: PinRef) -> Result<Zeroizing<[u8; 8]>, CardError> {
    let padded = value.padded().ok_or(CardError::BadPinFormat)?;
    let digits = crate::secret::digits_len(&padded).unwrap_or(0);
    let ok = if pin == PinRef::Puk {
        digits == 8
    } else {
        (6..=8).contains(&digits)
    };
    if ok {
        Ok(padded)
    } else {
        Err(CardError::BadPinFormat)
    }
}

/// What was at stake when a status word came back, for the errors it maps to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stake {
    /// No PIN in the command.
    Plain,
    /// A PIN (VERIFY, CHANGE of PIN1/PIN2).
    Pin,
    /// The PUK (RESET RETRY COUNTER, CHANGE of the PUK).
    Puk,
}

/// A status word to `Ok(())` or the error it means.
fn check(sw: Sw, stake: Stake) -> Result<(), CardError> {
    match (sw, stake) {
        (Sw::OK, _) => Ok(()),
        (sw, _) if sw.as_tries_left().is_some() => {
            let n = sw.as_tries_left().unwrap_or(0);
            Err(match (n, stake) {
                (0, Stake::Puk) => CardError::CardDead,
                (0, _) => CardError::PinBlocked,
                (n, Stake::Puk) => CardError::WrongPuk { tries_left: n },
                (n, _) => CardError::WrongPin { tries_left: n },
            })
        }
        (Sw::BLOCKED, Stake::Puk) | (Sw::DEAD, _) => Err(CardError::CardDead),
        (Sw::BLOCKED, _) => Err(CardError::PinBlocked),
        (Sw::WRONG_DATA, Stake::Pin | Stake::Puk) => Err(CardError::BadPinFormat),
        (Sw::NOT_USABLE, _) => Err(CardError::NotActivated),
        (Sw::SECURITY_STATUS, _) => Err(CardError::SecurityStatusNotSatisfied),
        (Sw::NOT_FOUND | Sw::NO_REFERENCE, _) => Err(CardError::NotFound),
        (sw, _) => Err(CardError::Status(sw)),
    }
}
