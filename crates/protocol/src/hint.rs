//! Hint codes: why an order is pending or failed, as BankID's `hintCode`, plus the card
//! codes of this platform. Clients must handle codes they do not know:
//! [`HintCode::Unknown`] keeps them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hint code. On the wire a camelCase string; a string this version does not know
/// becomes [`HintCode::Unknown`] (never an error).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HintCode {
    // --- pending ---
    /// Pending: the order is waiting for the eID app to fetch it.
    OutstandingTransaction,
    /// Pending: no eID app has answered (the app is not installed or not started).
    NoClient,
    /// Pending: the app has fetched the order and is looking for the card.
    Started,
    /// Pending: the app is asking the card holder for the PIN and the signature.
    UserSign,
    // --- failed ---
    /// Failed: the order expired before it completed.
    ExpiredTransaction,
    /// Failed: the card's certificate or signature was not accepted (revoked, expired,
    /// not this platform's, or the signature does not match the order).
    CertificateErr,
    /// Failed: the card holder cancelled in the app.
    UserCancel,
    /// Failed: the order was cancelled by the page that started it (or a new order).
    Cancelled,
    /// Failed: the order could not be carried through: the app could not start it, or the
    /// browser came back in another browser session than the one that started it.
    StartFailed,
    // --- card (reported by the app) ---
    /// The card was taken out of the reader (pending: the holder may put it back).
    CardRemoved,
    /// The PIN is blocked (failed: unblock with the PUK, or ask the ID administrator).
    PinBlocked,
    /// The card is not activated yet (pending: the app offers activation).
    CardNotActivated,
    /// No card reader found (pending: the holder may connect one).
    NoCardReader,
    /// A card other than the one the order is for (pending, or failed when the server
    /// finds it at completion).
    WrongCard,
    /// Failed: another signing-certificate fetch for the same card was already in progress
    /// (set by the server; the other fetch goes on).
    AlreadyInProgress,
    /// A code this version does not know; the string as received.
    Unknown(String),
}

impl HintCode {
    /// The wire name (`outstandingTransaction`, …; an unknown code as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::OutstandingTransaction => "outstandingTransaction",
            Self::NoClient => "noClient",
            Self::Started => "started",
            Self::UserSign => "userSign",
            Self::ExpiredTransaction => "expiredTransaction",
            Self::CertificateErr => "certificateErr",
            Self::UserCancel => "userCancel",
            Self::Cancelled => "cancelled",
            Self::StartFailed => "startFailed",
            Self::CardRemoved => "cardRemoved",
            Self::PinBlocked => "pinBlocked",
            Self::CardNotActivated => "cardNotActivated",
            Self::NoCardReader => "noCardReader",
            Self::WrongCard => "wrongCard",
            Self::AlreadyInProgress => "alreadyInProgress",
            Self::Unknown(s) => s,
        }
    }

    /// The code for a wire name; never fails (unknown names become [`HintCode::Unknown`]).
    pub fn parse(name: &str) -> Self {
        match name {
            "outstandingTransaction" => Self::OutstandingTransaction,
            "noClient" => Self::NoClient,
            "started" => Self::Started,
            "userSign" => Self::UserSign,
            "expiredTransaction" => Self::ExpiredTransaction,
            "certificateErr" => Self::CertificateErr,
            "userCancel" => Self::UserCancel,
            "cancelled" => Self::Cancelled,
            "startFailed" => Self::StartFailed,
            "cardRemoved" => Self::CardRemoved,
            "pinBlocked" => Self::PinBlocked,
            "cardNotActivated" => Self::CardNotActivated,
            "noCardReader" => Self::NoCardReader,
            "wrongCard" => Self::WrongCard,
            "alreadyInProgress" => Self::AlreadyInProgress,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether the eID app may report this code, and if so whether it ends the order
    /// (`Some(true)`: the order fails with it) or only describes a pending order
    /// (`Some(false)`). `None` for codes only the server sets, and unknown codes.
    pub fn app_report(&self) -> Option<bool> {
        match self {
            Self::Started
            | Self::UserSign
            | Self::CardRemoved
            | Self::CardNotActivated
            | Self::NoCardReader
            | Self::WrongCard => Some(false),
            Self::UserCancel | Self::PinBlocked | Self::StartFailed => Some(true),
            _ => None,
        }
    }
}

impl fmt::Display for HintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for HintCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HintCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use super::*;

    const KNOWN: [HintCode; 15] = [
        HintCode::OutstandingTransaction,
        HintCode::NoClient,
        HintCode::Started,
        HintCode::UserSign,
        HintCode::ExpiredTransaction,
        HintCode::CertificateErr,
        HintCode::UserCancel,
        HintCode::Cancelled,
        HintCode::StartFailed,
        HintCode::CardRemoved,
        HintCode::PinBlocked,
        HintCode::CardNotActivated,
        HintCode::NoCardReader,
        HintCode::WrongCard,
        HintCode::AlreadyInProgress,
    ];

    #[test]
    fn every_known_code_round_trips() {
        for code in KNOWN {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<HintCode>(&json).unwrap(), code);
            assert_eq!(HintCode::parse(code.as_str()), code);
        }
    }

    #[test]
    fn unknown_codes_are_kept_not_refused() {
        let code: HintCode = serde_json::from_str("\"somethingNew\"").unwrap();
        assert_eq!(code, HintCode::Unknown("somethingNew".into()));
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"somethingNew\"");
        assert_eq!(code.app_report(), None);
        // Case matters on the wire: another spelling is another (unknown) code.
        assert_eq!(
            HintCode::parse("UserSign"),
            HintCode::Unknown("UserSign".into())
        );
    }

    #[test]
    fn the_app_reports_only_its_own_codes() {
        assert_eq!(HintCode::UserSign.app_report(), Some(false));
        assert_eq!(HintCode::UserCancel.app_report(), Some(true));
        assert_eq!(HintCode::PinBlocked.app_report(), Some(true));
        assert_eq!(HintCode::ExpiredTransaction.app_report(), None);
        assert_eq!(HintCode::CertificateErr.app_report(), None);
        assert_eq!(HintCode::OutstandingTransaction.app_report(), None);
    }
}
