//! The crate's errors, one enum per concern: [`CardError`] (an operation on a card),
//! [`TransportError`] (getting APDUs to a card) and [`CardFileError`] (the virtual card's
//! file and profile). Messages are plain words and never contain a PIN or a key.

use std::path::PathBuf;

use crate::secret::ManagementAlgorithm;
use crate::status::Sw;

/// Why a card operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The PIN was wrong; it blocks when no tries are left.
    #[error("wrong PIN: {tries_left} tries left before it blocks")]
    WrongPin {
        /// Tries left (at least 1).
        tries_left: u8,
    },
    /// The PUK was wrong; the card dies when no tries are left.
    #[error("wrong PUK: {tries_left} tries left before the card can no longer be used")]
    WrongPuk {
        /// Tries left (at least 1).
        tries_left: u8,
    },
    /// The PIN is blocked (it was just entered wrong for the last time, or was already).
    #[error("the PIN is blocked: it must be unblocked with the PUK")]
    PinBlocked,
    /// The PUK is blocked: the card can never be used again.
    #[error("the card can no longer be used: its PUK is blocked")]
    CardDead,
    /// A one-PIN card whose holder has not yet chosen PIN1 with the transport code.
    #[error("the card is not activated: choose your PIN with the transport code first")]
    NotActivated,
    /// The card needs a PIN verified (for the signing key: just before the signature) or
    /// the management key authenticated first.
    #[error(
        "the card refused: the PIN must be verified first (or the management key authenticated)"
    )]
    SecurityStatusNotSatisfied,
    /// The card rejected the response to its management-key challenge.
    #[error("the card rejected the management key")]
    ManagementKeyRejected,
    /// The card's management key has another algorithm than the key offered for it.
    #[error("the card's management key is {card}, not {key}")]
    ManagementAlgorithm {
        /// The algorithm of the card's key (from its metadata).
        card: ManagementAlgorithm,
        /// The algorithm of the key offered.
        key: ManagementAlgorithm,
    },
    /// A PIN is not 6 to 8 digits, or a PUK not 8 digits, or a new PIN equals the
    /// transport code. No try was spent.
    #[error(
        "a PIN has 6 to 8 digits and a PUK 8 digits (a new PIN must differ from the transport code)"
    )]
    BadPinFormat,
    /// The card has no such key, PIN or data object.
    #[error("the card has no such key, PIN or data object")]
    NotFound,
    /// The card was taken out of the reader.
    #[error("the card was removed")]
    CardRemoved,
    /// The card could not be reached.
    #[error("could not talk to the card: {0}")]
    Transport(TransportError),
    /// The card answered something that does not follow the protocol.
    #[error("the card's answer is malformed: {0}")]
    BadResponse(String),
    /// The card answered with an unexpected status word.
    #[error("the card answered with status {0}")]
    Status(Sw),
    /// This card or backend cannot do this.
    #[error("this card cannot {0}")]
    Unsupported(&'static str),
}

impl From<TransportError> for CardError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::CardRemoved => CardError::CardRemoved,
            other => CardError::Transport(other),
        }
    }
}

/// Why an APDU did not reach the card or its answer did not come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card is not (or no longer) in the reader.
    #[error("the card was removed")]
    CardRemoved,
    /// Another operation (of this or another program) holds the card and did not let go in
    /// time. Nothing was sent.
    #[error("the card is busy with another operation: try again in a moment")]
    Busy,
    /// Any other failure of the reader or the link to it.
    #[error("{0}")]
    Failed(String),
}

/// Why a virtual card could not be created, opened or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardFileError {
    /// Reading or writing the file failed.
    #[error("card file {path}: {source}")]
    Io {
        /// The card file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// `create` found a file where the new card should go.
    #[error("card file {0} already exists; it was left as it is")]
    Exists(PathBuf),
    /// The file is an eID card file but damaged (truncated, bad JSON, broken invariant).
    #[error("card file {path} is damaged ({reason}); it was left as it is")]
    Corrupt {
        /// The card file.
        path: PathBuf,
        /// What is wrong, in plain words.
        reason: String,
    },
    /// The file is not an eID card file (another program's).
    #[error("{0} is not an eID card file; it was left as it is")]
    Foreign(PathBuf),
    /// The file was written by a newer version of this software.
    #[error("card file {path} has format version {version}, newer than this program knows")]
    TooNew {
        /// The card file.
        path: PathBuf,
        /// The version in the file.
        version: u64,
    },
    /// The profile of a new card is not valid.
    #[error("invalid card profile: {0}")]
    InvalidProfile(String),
}
