//! The store's errors.

/// A unique thing that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// An organisation with this organisation number exists.
    OrgNumber,
    /// A person with this HSA-id exists.
    HsaId,
    /// A card with this card number exists.
    CardNumber,
    /// A certificate with this serial number exists.
    Serial,
    /// This public key is already certified.
    PublicKey,
    /// This one-time value was already used.
    OneTimeValue,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OrgNumber => "an organisation with this organisation number already exists",
            Self::HsaId => "a person with this HSA-id already exists",
            Self::CardNumber => "a card with this card number already exists",
            Self::Serial => "a certificate with this serial number already exists",
            Self::PublicKey => "this public key is already certified",
            Self::OneTimeValue => "this one-time value was already used",
        })
    }
}

/// What kind of record was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// No such organisation.
    Organisation,
    /// No such person.
    Person,
    /// No such card.
    Card,
    /// No such certificate.
    Certificate,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Organisation => "no such organisation",
            Self::Person => "no such person",
            Self::Card => "no such card",
            Self::Certificate => "no such certificate",
        })
    }
}

/// Errors of every [`crate::Store`] implementation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record that must exist (the one changed, or one referred to) does not.
    #[error("{0}")]
    NotFound(Missing),
    /// A unique value is taken; nothing was changed.
    #[error("{0}")]
    Conflict(Conflict),
    /// A change that the record's state does not allow (e.g. revoking a revoked certificate).
    #[error("{0}")]
    Refused(String),
    /// Stored data could not be read back (a corrupt or foreign database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database schema is newer than this program.
    #[error(
        "the database has schema version {found}, this program knows up to {known}: upgrade eid"
    )]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest version this program knows.
        known: i64,
    },
    /// The database itself failed (I/O, locking, connection).
    #[error("database error: {0}")]
    Backend(String),
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
