//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER: PINs, the PUK and the transport
//! code of one-PIN cards.
//!
//! Every comparison first decrements the counter and writes it to the card file, then
//! compares in constant time, then (if right) restores the counter and writes again. A
//! card killed in between has spent the try.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use zeroize::Zeroizing;

use super::failpoint;
use super::state::{PinId, Secret};
use super::{Answer, VirtualCard};
use crate::apdu::Command;
use crate::card::CardKind;
use crate::piv;
use crate::secret;
use crate::status::Sw;

impl VirtualCard {
    /// The PIN a P2 names (PIN1, PIN2 or, where `puk_allowed`, the PUK).
    fn pin_id(&self, p2: u8, puk_allowed: bool) -> Result<PinId, Sw> {
        match p2 {
            piv::REF_PIN1 => Ok(PinId::Pin1),
            piv::REF_PIN2 if self.state.pin2.is_some() => Ok(PinId::Pin2),
            piv::REF_PIN2 => Err(Sw::NO_REFERENCE),
            piv::REF_PUK if puk_allowed => Ok(PinId::Puk),
            _ => Err(Sw::WRONG_P1P2),
        }
    }

    /// PIN1 of a one-PIN card that still holds the transport code.
    fn is_transport(&self, id: PinId) -> bool {
        id == PinId::Pin1 && !self.state.activated
    }

    fn set_verified(&mut self, id: PinId, verified: bool) {
        match id {
            PinId::Pin1 => self.session.pin1_verified = verified,
            PinId::Pin2 => self.session.pin2_verified = verified,
            PinId::Puk => {}
        }
    }

    fn tries_left(&self, id: PinId) -> u8 {
        self.state.pin(id).map_or(0, |p| p.tries_left)
    }

    /// Spends a try, compares, and restores the tries if `candidate` is right.
    fn check(&mut self, id: PinId, candidate: &[u8; 8]) -> Result<(), Sw> {
        let left = self.tries_left(id);
        if left == 0 {
            return Err(Sw::BLOCKED);
        }
        let mut next = self.state.clone();
        if let Some(pin) = next.pin_mut(id) {
            pin.tries_left = left - 1;
        }
        self.commit(next)?;
        failpoint::hit(failpoint::PIN_COUNTER_PERSISTED);
        let stored = self
            .state
            .pin(id)
            .map(|p| p.padded())
            .ok_or(Sw::NO_REFERENCE)?;
        if verify_slices_are_equal(&stored[..], candidate).is_err() {
            return Err(Sw::tries_left(left - 1));
        }
        let mut next = self.state.clone();
        let total = next.tries_total(id);
        if let Some(pin) = next.pin_mut(id) {
            pin.tries_left = total;
        }
        self.commit(next)
    }

    pub(super) fn verify(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        let id = self.pin_id(cmd.p2, false)?;
        if cmd.p1 == 0xFF {
            if !data.is_empty() {
                return Err(Sw::WRONG_LENGTH);
            }
            self.set_verified(id, false);
            return Ok(Vec::new());
        }
        if cmd.p1 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        if self.is_transport(id) {
            return Err(Sw::NOT_USABLE);
        }
        if data.is_empty() {
            let verified = match id {
                PinId::Pin1 => self.session.pin1_verified,
                _ => self.session.pin2_verified,
            };
            return match (verified, self.tries_left(id)) {
                (true, _) => Ok(Vec::new()),
                (false, 0) => Err(Sw::BLOCKED),
                (false, left) => Err(Sw::tries_left(left)),
            };
        }
        let candidate = pin_field(data, 6..=8)?;
        self.set_verified(id, false);
        self.check(id, &candidate)?;
        self.set_verified(id, true);
        if id == self.state.signing_pin() {
            self.session.sign_grant = true;
        }
        Ok(Vec::new())
    }

    pub(super) fn change_reference(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        let id = self.pin_id(cmd.p2, true)?;
        if cmd.p1 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        let lengths = if id == PinId::Puk { 8..=8 } else { 6..=8 };
        let (old, new) = data.split_at_checked(8).ok_or(Sw::WRONG_LENGTH)?;
        if new.len() != 8 {
            return Err(Sw::WRONG_LENGTH);
        }
        let old = pin_field(old, lengths.clone())?;
        let new = pin_field(new, lengths)?;
        // Activation: the holder replaces the transport code (without the management key,
        // which only the card management system holds) and must choose a new value.
        let activating = self.is_transport(id) && !self.session.management_authenticated;
        if activating && *old == *new {
            return Err(Sw::WRONG_DATA);
        }
        if self.tries_left(id) == 0 {
            return Err(Sw::BLOCKED);
        }
        self.check(id, &old)
            .inspect_err(|_| self.set_verified(id, false))?;
        let mut next = self.state.clone();
        if let Some(pin) = next.pin_mut(id) {
            pin.value = Secret::new(&new[..]);
            pin.default = false;
        }
        if activating {
            next.activated = true;
        } else if id == PinId::Pin1
            && next.profile.kind == CardKind::OnePin
            && !next.profile.piv_only
            && self.session.management_authenticated
        {
            // The card management system sets a transport code: the holder chooses PIN1.
            next.activated = false;
        }
        self.commit(next)?;
        Ok(Vec::new())
    }

    pub(super) fn reset_retry(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        let id = self.pin_id(cmd.p2, false)?;
        if cmd.p1 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        let (puk, new) = data.split_at_checked(8).ok_or(Sw::WRONG_LENGTH)?;
        if new.len() != 8 {
            return Err(Sw::WRONG_LENGTH);
        }
        let puk = pin_field(puk, 8..=8)?;
        let new = pin_field(new, 6..=8)?;
        self.check(PinId::Puk, &puk)?;
        let mut next = self.state.clone();
        let total = next.tries_total(id);
        if let Some(pin) = next.pin_mut(id) {
            pin.value = Secret::new(&new[..]);
            pin.tries_left = total;
            pin.default = false;
        }
        if id == PinId::Pin1 && next.profile.kind == CardKind::OnePin && !next.profile.piv_only {
            // The new PIN1 is a transport code: the holder chooses PIN1 again (a plain PIV
            // card knows no transport code: its new PIN is simply the PIN).
            next.activated = false;
        }
        self.commit(next)?;
        self.set_verified(id, false);
        Ok(Vec::new())
    }
}

/// An 8-byte PIN field whose digits count is in `lengths`: `6700` for another size,
/// `6A80` for another form (no try is spent on either).
fn pin_field(
    field: &[u8],
    lengths: std::ops::RangeInclusive<usize>,
) -> Result<Zeroizing<[u8; 8]>, Sw> {
    let mut padded = Zeroizing::new([0u8; 8]);
    if field.len() != 8 {
        return Err(Sw::WRONG_LENGTH);
    }
    padded.copy_from_slice(field);
    match secret::digits_len(&padded) {
        Some(n) if lengths.contains(&n) => Ok(padded),
        _ => Err(Sw::WRONG_DATA),
    }
}
