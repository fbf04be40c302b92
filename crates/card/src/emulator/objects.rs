//! Data objects (GET DATA, PUT DATA) and key/PIN metadata (GET METADATA, vendor `F7`).
//!
//! Everything readable is public: certificates, the discovery object, the CHUID and the
//! card info object. Writes need the management key.

use aws_lc_rs::digest;

use super::keys::public_point_tlv;
use super::state::PinId;
use super::{Answer, VirtualCard};
use crate::apdu::Command;
use crate::card::{CardKind, LifeCycle};
use crate::piv::{self, policy, tag};
use crate::status::Sw;
use crate::tlv;

/// The FASC-N YubiKeys put in their CHUID (agency code 9999, all else zero).
const FASC_N: [u8; 25] = [
    0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08,
    0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
];

impl VirtualCard {
    pub(super) fn get_data(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF) {
            return Err(Sw::WRONG_P1P2);
        }
        let wanted = object_tag(tlv::only(data, 0x5C).map_err(|_| Sw::WRONG_DATA)?)?;
        let content = match wanted {
            tag::DISCOVERY => {
                let mut discovery = tlv::encode(0x4F, &piv::AID);
                tlv::put(&mut discovery, 0x5F2F, &[0x40, 0x00]);
                return Ok(tlv::encode(0x7E, &discovery));
            }
            tag::CHUID => self.chuid(),
            // A plain PIV card has no card-info object: it is not an eID card.
            tag::CARD_INFO if self.state.profile.piv_only => return Err(Sw::NOT_FOUND),
            tag::CARD_INFO => self.card_info(),
            _ => self.state.object(wanted).ok_or(Sw::NOT_FOUND)?.to_vec(),
        };
        Ok(tlv::encode(0x53, &content))
    }

    pub(super) fn put_data(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        if !self.session.management_authenticated {
            return Err(Sw::SECURITY_STATUS);
        }
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF) {
            return Err(Sw::WRONG_P1P2);
        }
        let (t, name, rest) = tlv::next(data).map_err(|_| Sw::WRONG_DATA)?;
        if t != 0x5C {
            return Err(Sw::WRONG_DATA);
        }
        let wanted = object_tag(name)?;
        let content = tlv::only(rest, 0x53).map_err(|_| Sw::WRONG_DATA)?;
        if content.len() > piv::MAX_OBJECT {
            return Err(Sw::NO_SPACE);
        }
        let mut next = self.state.clone();
        let object = next.object_mut(wanted).ok_or(Sw::WRONG_DATA)?;
        *object = (!content.is_empty()).then(|| content.to_vec());
        self.commit(next)?;
        Ok(Vec::new())
    }

    /// GET SERIAL (vendor `F8`, as YubiKey): a plain PIV card's serial number, 4 bytes
    /// big-endian. The eID card has no serial number (its card-info object says who it is).
    pub(super) fn serial(&mut self, cmd: &Command<'_>) -> Answer {
        let serial = self.state.profile.serial().ok_or(Sw::INS_NOT_SUPPORTED)?;
        if (cmd.p1, cmd.p2) != (0, 0) {
            return Err(Sw::WRONG_P1P2);
        }
        Ok(serial.to_be_bytes().to_vec())
    }

    fn card_info(&self) -> Vec<u8> {
        let profile = &self.state.profile;
        let mut info = tlv::encode(0x01, profile.card_number.as_bytes());
        tlv::put(&mut info, 0x02, profile.product_number.as_bytes());
        let kind = match profile.kind {
            CardKind::TwoPin => 0x01,
            CardKind::OnePin => 0x02,
        };
        tlv::put(&mut info, 0x03, &[kind]);
        let life_cycle = match self.state.life_cycle() {
            LifeCycle::Blank => 0x00,
            LifeCycle::NotActivated => 0x01,
            LifeCycle::Active => 0x02,
            LifeCycle::Dead => 0x03,
        };
        tlv::put(&mut info, 0x04, &[life_cycle]);
        info
    }

    fn chuid(&self) -> Vec<u8> {
        let number = &self.state.profile.card_number;
        let seed = format!("eid card {number}");
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&digest::digest(&digest::SHA256, seed.as_bytes()).as_ref()[..16]);
        // OpenSC names a PIV card's token by the GUID's last 8 bytes in hex: the card number
        // there, in BCD, makes that name the card number (`eid_card::pkcs11` reads it back).
        if let Some(bcd) = bcd8(number) {
            guid[8..].copy_from_slice(&bcd);
        }
        let mut chuid = tlv::encode(0x30, &FASC_N);
        tlv::put(&mut chuid, 0x34, &guid);
        tlv::put(&mut chuid, 0x35, b"20300101");
        tlv::put(&mut chuid, 0x3E, &[]);
        tlv::put(&mut chuid, 0xFE, &[]);
        chuid
    }

    pub(super) fn metadata(&mut self, cmd: &Command<'_>) -> Answer {
        if cmd.p1 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        let mut out = Vec::new();
        match cmd.p2 {
            piv::REF_PIN1 | piv::REF_PIN2 | piv::REF_PUK => {
                let id = match cmd.p2 {
                    piv::REF_PIN1 => PinId::Pin1,
                    piv::REF_PIN2 => PinId::Pin2,
                    _ => PinId::Puk,
                };
                let pin = self.state.pin(id).ok_or(Sw::NO_REFERENCE)?;
                tlv::put(&mut out, 0x01, &[piv::ALG_PIN]);
                tlv::put(&mut out, 0x05, &[u8::from(pin.default)]);
                tlv::put(
                    &mut out,
                    0x06,
                    &[self.state.tries_total(id), pin.tries_left],
                );
            }
            piv::REF_MANAGEMENT => {
                tlv::put(&mut out, 0x01, &[self.state.management_algorithm.byte()]);
                tlv::put(&mut out, 0x02, &[policy::NEVER, policy::NEVER]);
                tlv::put(
                    &mut out,
                    0x05,
                    &[u8::from(self.management_key_is_default())],
                );
            }
            slot @ (piv::SLOT_AUTHENTICATION | piv::SLOT_SIGNING | piv::SLOT_ATTESTATION) => {
                let pair = self.keys.get(&slot).ok_or(Sw::NO_REFERENCE)?;
                let (pin_policy, guard) = match slot {
                    piv::SLOT_AUTHENTICATION => (policy::ONCE, Some(piv::REF_PIN1)),
                    piv::SLOT_SIGNING => (
                        policy::ALWAYS,
                        Some(match self.state.signing_pin() {
                            PinId::Pin2 => piv::REF_PIN2,
                            _ => piv::REF_PIN1,
                        }),
                    ),
                    _ => (policy::NEVER, None),
                };
                tlv::put(&mut out, 0x01, &[piv::ALG_P256]);
                tlv::put(&mut out, 0x02, &[pin_policy, policy::NEVER]);
                tlv::put(&mut out, 0x03, &[0x01]);
                tlv::put(&mut out, 0x04, &public_point_tlv(pair));
                if let Some(guard) = guard {
                    tlv::put(&mut out, 0x80, &[guard]);
                }
            }
            _ => return Err(Sw::WRONG_P1P2),
        }
        Ok(out)
    }
}

/// A data object tag from the value of `5C`: one byte (`7E`) or three.
fn object_tag(bytes: &[u8]) -> Result<u32, Sw> {
    match bytes {
        [one] => Ok(u32::from(*one)),
        [a, b, c] => Ok(u32::from_be_bytes([0, *a, *b, *c])),
        _ => Err(Sw::WRONG_DATA),
    }
}

/// A card number of at most 16 digits as 8 bytes of BCD, zero-padded on the left.
fn bcd8(number: &str) -> Option<[u8; 8]> {
    if number.is_empty() || number.len() > 16 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{number:0>16}");
    let mut bcd = [0u8; 8];
    for (byte, pair) in bcd.iter_mut().zip(padded.as_bytes().chunks(2)) {
        *byte = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Some(bcd)
}
