//! Status words (ISO 7816-4 `SW1 SW2`) the card answers, with their meaning here.
//!
//! The table in `docs/card.md` is the reference; these constants are its names.

/// A status word: `SW1 << 8 | SW2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sw(pub u16);

impl Sw {
    /// Done.
    pub const OK: Sw = Sw(0x9000);
    /// Wrong length (APDU framing, `Lc`/`Le`, extended length, PIN field size).
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    /// Another command arrived while a chain was open.
    pub const LAST_COMMAND_EXPECTED: Sw = Sw(0x6883);
    /// Command chaining is not supported for this command.
    pub const CHAINING_NOT_SUPPORTED: Sw = Sw(0x6884);
    /// Security status not satisfied (PIN, 9C grant, management key).
    pub const SECURITY_STATUS: Sw = Sw(0x6982);
    /// PIN or PUK blocked.
    pub const BLOCKED: Sw = Sw(0x6983);
    /// Reference data not usable: PIN1 of a one-PIN card not yet activated.
    pub const NOT_USABLE: Sw = Sw(0x6984);
    /// Conditions of use not satisfied (nothing pending, no open challenge).
    pub const CONDITIONS: Sw = Sw(0x6985);
    /// Incorrect data field.
    pub const WRONG_DATA: Sw = Sw(0x6A80);
    /// The card is dead (PUK blocked).
    pub const DEAD: Sw = Sw(0x6A81);
    /// Application or data object not found.
    pub const NOT_FOUND: Sw = Sw(0x6A82);
    /// Not enough memory (object or chain too large).
    pub const NO_SPACE: Sw = Sw(0x6A84);
    /// Incorrect P1/P2.
    pub const WRONG_P1P2: Sw = Sw(0x6A86);
    /// Referenced data not found (empty slot, no PIN2 on this card).
    pub const NO_REFERENCE: Sw = Sw(0x6A88);
    /// INS not supported.
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// CLA not supported.
    pub const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);
    /// The card could not write its state; nothing changed.
    pub const INTERNAL: Sw = Sw(0x6F00);

    /// `63Cx`: wrong value (or, for an empty VERIFY, not verified), `tries` left.
    pub fn tries_left(tries: u8) -> Sw {
        Sw(0x63C0 | u16::from(tries.min(15)))
    }

    /// `61xx`: `left` more bytes for GET RESPONSE (`00` for 256 or more).
    pub fn more_data(left: usize) -> Sw {
        Sw(0x6100 | if left >= 256 { 0 } else { left as u16 })
    }

    /// The tries left of a `63Cx`, if this is one.
    pub fn as_tries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x0F) as u8)
    }

    /// The byte count of a `61xx`, if this is one (`0` means 256 or more).
    pub fn as_more_data(self) -> Option<u8> {
        (self.0 & 0xFF00 == 0x6100).then_some((self.0 & 0xFF) as u8)
    }

    /// The two bytes as sent.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl std::fmt::Display for Sw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Sw;

    #[test]
    fn counted_status_words() {
        assert_eq!(Sw::tries_left(2), Sw(0x63C2));
        assert_eq!(Sw(0x63C2).as_tries_left(), Some(2));
        assert_eq!(Sw::OK.as_tries_left(), None);
        assert_eq!(Sw::more_data(300), Sw(0x6100));
        assert_eq!(Sw::more_data(17), Sw(0x6111));
        assert_eq!(Sw(0x6111).as_more_data(), Some(17));
        assert_eq!(Sw::NOT_FOUND.to_string(), "6A82");
    }
}
