//! The registration authority: the steps between a card and the CA that need the store's
//! records and the server's keys. Now: personalising a blank card for a person. Later (the
//! My Pages issue): the card holder's signing-certificate fetch.
//!
//! The RA holds the card master key and computes each card's management key; it never sees
//! a card holder's chosen PIN (PIN letters are made here once and handed out, never stored).

mod personalise;

pub use personalise::{Personalisation, PersonaliseError, PinLetter, personalise};
