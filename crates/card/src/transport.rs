//! Getting APDUs to a card: the [`Transport`] trait, and [`VirtualReader`], an in-process
//! reader slot holding a [`VirtualCard`] that tests can pull the card out of.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::emulator::VirtualCard;
use crate::error::TransportError;

/// Sends one command APDU and returns the response APDU (data + status word). Taking the
/// card out must give [`TransportError::CardRemoved`], not another failure.
pub trait Transport: Send + std::fmt::Debug {
    /// One command, one response.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}

/// An in-process card reader with a virtual card in it. Clones share the slot: one clone
/// goes to the client as its transport, another stays with the test to
/// [`pull_out`](VirtualReader::pull_out) the card at any moment; every APDU after that
/// (including the rest of an operation in flight) gets [`TransportError::CardRemoved`].
#[derive(Debug, Clone)]
pub struct VirtualReader {
    slot: Arc<Mutex<Option<VirtualCard>>>,
}

impl VirtualReader {
    /// A reader with `card` inserted.
    pub fn new(card: VirtualCard) -> Self {
        VirtualReader {
            slot: Arc::new(Mutex::new(Some(card))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<VirtualCard>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the card out; returns it (with its file) if one was in.
    pub fn pull_out(&self) -> Option<VirtualCard> {
        self.lock().take()
    }

    /// Puts a card in (power-on: its session starts afresh); returns the card it replaced.
    pub fn insert(&self, mut card: VirtualCard) -> Option<VirtualCard> {
        card.power_cycle();
        self.lock().replace(card)
    }

    /// Whether a card is in.
    pub fn is_present(&self) -> bool {
        self.lock().is_some()
    }
}

impl Transport for VirtualReader {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.lock().as_mut() {
            Some(card) => Ok(card.transmit(apdu)),
            None => Err(TransportError::CardRemoved),
        }
    }
}
