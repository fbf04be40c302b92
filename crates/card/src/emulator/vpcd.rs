//! The virtual card in vsmartcard's virtual reader (`vpcd`, a pcscd driver): the card
//! connects to the reader's TCP port as a vpicc and every PC/SC application on the machine
//! sees a card in the reader (OpenSC, `pkcs11-tool`, our own PC/SC transport).
//!
//! The reader drives the card: power off, power on and reset end the card's session
//! ([`VirtualCard::power_cycle`]); each APDU goes to [`VirtualCard::transmit`], which
//! writes the card file before it answers whenever the card's memory changes. The card
//! file is the card's memory, so taking the card out (closing the connection, or the
//! process ending in any way) loses nothing but the session, as pulling a real card does.
//!
//! The protocol is vsmartcard's (a 2-byte big-endian length, then the message), spoken by
//! the `vpicc` crate. That crate logs every message at `trace` level through `log`: the
//! `eid` binary turns its log target off, since APDUs carry PINs.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::VirtualCard;

/// Where vpcd waits for its first card, as Debian's `vsmartcard-vpcd` configures it
/// (reader "Virtual PCD 00 00"; the second reader listens on the next port).
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";

/// The card's answer to reset: protocol T=1 only, no interface parameters to negotiate,
/// and historical bytes (category `80`) with the card capabilities (selection by full or
/// partial DF name, command chaining, no extended lengths) and card issuer's data "eID".
pub const ATR: [u8; 13] = [
    0x3B, 0x89, 0x01, // TS, T0 (TD1 and 9 historical bytes), TD1 (T=1)
    0x80, 0x73, 0xC0, 0x00, 0x80, // category, card capabilities
    0x53, b'e', b'I', b'D', // card issuer's data
    0x00, // TCK
];

/// How long to wait for the reader to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A card connected to a vpcd reader slot, ready to [`serve`](VpcdCard::serve).
#[derive(Debug)]
pub struct VpcdCard {
    connection: vpicc::Connection,
    stream: TcpStream,
    removed: Arc<AtomicBool>,
    addr: SocketAddr,
}

/// Takes the card out of the reader from another thread (a signal handler's task, a
/// test): the serving loop ends with [`Ended::Removed`] after the APDU in progress, if
/// any, has been answered.
#[derive(Debug, Clone)]
pub struct Remover {
    stream: Arc<TcpStream>,
    removed: Arc<AtomicBool>,
}

impl Remover {
    /// Takes the card out.
    pub fn remove(&self) {
        self.removed.store(true, Ordering::SeqCst);
        // Only fails if the connection is already closed: then the card is out anyway.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Why [`VpcdCard::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The card was taken out ([`Remover::remove`]).
    Removed,
    /// The reader closed the connection (pcscd stopped, or the reader was removed).
    ReaderGone,
}

/// Why the card could not be put in the reader or stopped serving unexpectedly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpcdError {
    /// Nothing accepted the connection at the address.
    #[error("no virtual reader (vpcd) at {addr}: is pcscd running with vsmartcard-vpcd?")]
    NoReader {
        /// The address as given.
        addr: String,
        /// What the connection attempt said.
        #[source]
        source: io::Error,
    },
    /// The address is not `HOST:PORT` of a reachable host.
    #[error("{addr} is not a reader address (HOST:PORT): {reason}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The connection to the reader failed while the card was in it.
    #[error("the connection to the virtual reader at {addr} failed: {source}")]
    Connection {
        /// The reader's address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

impl VpcdCard {
    /// Connects to the vpcd reader slot at `addr` (`HOST:PORT`, e.g. [`DEFAULT_VPCD`]):
    /// the reader sees a card inserted once it asks for the ATR.
    pub fn connect(addr: &str) -> Result<Self, VpcdError> {
        let bad = |reason: String| VpcdError::BadAddress {
            addr: addr.to_owned(),
            reason,
        };
        let candidates: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| bad(e.to_string()))?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
        for candidate in candidates {
            match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
                Ok(stream) => return Self::from_stream(stream, candidate),
                Err(e) => last = e,
            }
        }
        Err(VpcdError::NoReader {
            addr: addr.to_owned(),
            source: last,
        })
    }

    fn from_stream(stream: TcpStream, addr: SocketAddr) -> Result<Self, VpcdError> {
        let failed = |source| VpcdError::Connection { addr, source };
        // APDUs are small and answered one at a time: send each answer at once.
        stream.set_nodelay(true).map_err(failed)?;
        let handle = stream.try_clone().map_err(failed)?;
        Ok(VpcdCard {
            connection: vpicc::Connection::from(stream),
            stream: handle,
            removed: Arc::new(AtomicBool::new(false)),
            addr,
        })
    }

    /// The reader's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that takes the card out while [`serve`](VpcdCard::serve) runs.
    pub fn remover(&self) -> Result<Remover, VpcdError> {
        let stream = self
            .stream
            .try_clone()
            .map_err(|source| VpcdError::Connection {
                addr: self.addr,
                source,
            })?;
        Ok(Remover {
            stream: Arc::new(stream),
            removed: Arc::clone(&self.removed),
        })
    }

    /// Serves `card` to the reader until the card is taken out or the reader goes away.
    /// Blocks the thread.
    pub fn serve(mut self, card: &mut VirtualCard) -> Result<Ended, VpcdError> {
        let mut inserted = Inserted(card);
        loop {
            if let Err(e) = self.connection.poll(&mut inserted) {
                return if self.removed.load(Ordering::SeqCst) {
                    Ok(Ended::Removed)
                } else if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                ) {
                    Ok(Ended::ReaderGone)
                } else {
                    Err(VpcdError::Connection {
                        addr: self.addr,
                        source: e,
                    })
                };
            }
        }
    }
}

/// The card as vpicc drives it.
struct Inserted<'a>(&'a mut VirtualCard);

impl vpicc::VSmartCard for Inserted<'_> {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn power_on(&mut self) {
        self.0.power_cycle();
    }

    fn power_off(&mut self) {
        self.0.power_cycle();
    }

    fn reset(&mut self) {
        self.0.power_cycle();
    }

    fn execute(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.0.transmit(apdu)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::card::CardKind;
    use crate::emulator::CardProfile;

    #[test]
    fn the_atr_checksum_is_right() {
        // TCK: the XOR of every byte from T0 to TCK is zero.
        assert_eq!(ATR[1..].iter().fold(0, |x, b| x ^ b), 0);
        // T0's low nibble counts the historical bytes.
        assert_eq!(usize::from(ATR[1] & 0x0F), ATR.len() - 4);
    }

    fn send(stream: &mut TcpStream, message: &[u8]) {
        let len = u16::try_from(message.len()).unwrap().to_be_bytes();
        stream.write_all(&[&len[..], message].concat()).unwrap();
    }

    fn receive(stream: &mut TcpStream) -> Vec<u8> {
        let mut len = [0; 2];
        stream.read_exact(&mut len).unwrap();
        let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut message).unwrap();
        message
    }

    /// Plays vpcd's side of the protocol against the card.
    #[test]
    fn the_reader_gets_the_atr_and_answers_and_sees_the_card_go() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let card =
            VirtualCard::in_memory(CardProfile::new("123", "402", CardKind::TwoPin)).unwrap();
        let vpcd = VpcdCard::connect(&addr).unwrap();
        let remover = vpcd.remover().unwrap();
        let serving = std::thread::spawn(move || {
            let mut card = card;
            vpcd.serve(&mut card)
        });
        let (mut reader, _) = listener.accept().unwrap();
        send(&mut reader, &[4]);
        assert_eq!(receive(&mut reader), ATR);
        send(&mut reader, &[1]);
        let select = crate::apdu::build(0, 0xA4, 4, 0, &crate::piv::AID, Some(0));
        send(&mut reader, &select);
        let answer = receive(&mut reader);
        assert_eq!(&answer[answer.len() - 2..], [0x90, 0x00]);
        assert_eq!(answer[0], 0x61, "the APT");
        remover.remove();
        assert_eq!(serving.join().unwrap().unwrap(), Ended::Removed);

        // The reader going away ends the serving too.
        let vpcd = VpcdCard::connect(&addr).unwrap();
        let serving = std::thread::spawn(move || {
            let mut card =
                VirtualCard::in_memory(CardProfile::new("124", "402", CardKind::TwoPin)).unwrap();
            vpcd.serve(&mut card)
        });
        let (reader, _) = listener.accept().unwrap();
        drop(reader);
        assert_eq!(serving.join().unwrap().unwrap(), Ended::ReaderGone);
    }

    #[test]
    fn no_reader_is_named_plainly() {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap().to_string();
        drop(free);
        let message = VpcdCard::connect(&addr).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("no virtual reader (vpcd) at {addr}: is pcscd running with vsmartcard-vpcd?")
        );
        assert!(matches!(
            VpcdCard::connect("nowhere"),
            Err(VpcdError::BadAddress { .. })
        ));
    }
}
