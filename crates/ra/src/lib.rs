//! The registration authority: the steps between a card and the CA that need the store's
//! records and the server's keys: personalising a blank card for a person, and the ID
//! administrator's unblocking of a one-PIN card. (The card holder's signing-certificate fetch
//! is `eid_pki::enroll_signing_key`, driven by the order engine.)
//!
//! The RA holds the card master key and computes each card's management key; it never sees
//! a card holder's chosen PIN (PIN letters are made here once and handed out, never stored).

mod personalise;
mod unblock;

pub use personalise::{
    Personalisation, PersonaliseError, PinLetter, enrol, enrollable, personalise,
};
pub use unblock::{UnblockError, unblock_one_pin};
