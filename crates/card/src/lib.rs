//! The eID card: the PIV APDU interface (`docs/card.md`), a file-backed virtual card that
//! implements it ([`VirtualCard`]), transports ([`Transport`], [`VirtualReader`]) and the
//! card client ([`CardClient`]) behind the [`Card`] seam; with the `pcsc` feature, cards in
//! real readers (`pcsc`); with the `pkcs11` feature, cards that come with a PKCS#11 module
//! (`pkcs11`: OpenSC, vendor middleware, SoftHSM2).
//!
//! The card is at the ground of the layers, beside the store: it knows nothing of the
//! store, the CA or the configuration. Time and randomness come from the caller or from
//! aws-lc-rs's generator (the card's own "TRNG").
//!
//! This crate must never:
//! - log anything (a PIN or a key cannot end up in a log that does not exist);
//! - keep card state anywhere but the card file (the virtual card's secure element);
//! - return a PIN or a private key from any function or APDU;
//! - compare a PIN in variable time, or before its retry counter is written down.

pub mod apdu;
mod card;
mod client;
mod csr;
pub mod emulator;
mod error;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod piv;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod secret;
pub mod status;
pub mod tlv;
mod transport;

pub use card::{
    Card, CardInfo, CardKind, KeyMetadata, KeyOrigin, KeySlot, LifeCycle, PinRef, PinStatus,
};
pub use client::CardClient;
pub use csr::certificate_request;
/// The virtual card in vsmartcard's virtual reader (feature `vpcd`).
#[cfg(feature = "vpcd")]
pub use emulator::vpcd;
pub use emulator::{CardProfile, VirtualCard};
pub use error::{CardError, CardFileError, TransportError};
pub use secret::{ManagementAlgorithm, ManagementKey, Pin};
pub use status::Sw;
pub use transport::{Transport, VirtualReader};
