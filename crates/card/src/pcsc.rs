//! Cards in real readers through PC/SC (pcsc-lite's `pcscd` on Linux, the system's smart
//! card service elsewhere): the reader list, waiting for a card to come or go, and
//! [`PcscTransport`], a [`Transport`] that holds the card in a PC/SC transaction for as long
//! as it lives.
//!
//! **One step, one transaction.** A caller opens a transport for one step of its work (the
//! eID app opens the card afresh for every step, as it reopens a virtual card's file) and
//! drops it at the end. Between connect and drop the card is held in a PC/SC transaction:
//! no other program's APDUs (OpenSC in a browser, another eID app) come between the
//! APDUs of the step, so a management-key authentication or a verified PIN cannot be
//! consumed or reset by someone else half-way. A second step on the same card, from this
//! process or another, waits for the first to end, for at most the time given to
//! [`PcscTransport::connect`]; then it is refused as [`TransportError::Busy`] without
//! sending anything.
//!
//! **Nothing verified is left behind.** When a step verified a PIN or authenticated the
//! management key, the transaction ends with a card reset, so the card's security state
//! does not outlive the step (as with the virtual card, which starts each step from power-on).
//! A step that only read the card leaves it as it was, so other programs are not disturbed.
//!
//! pcsc's `Transaction` borrows the connection, so a transport that must own its
//! transaction runs the connection on a thread of its own and talks to it over a channel
//! (the cost is a thread hand-off per APDU, small beside a reader's round trip).

use std::ffi::{CStr, CString};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use zeroize::Zeroizing;

use crate::error::TransportError;
use crate::piv::{self, ins};
use crate::transport::Transport;

/// A reader the PC/SC service knows, and whether a card is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The reader's name as PC/SC gives it (e.g. "Virtual PCD 00 00").
    pub name: String,
    /// Whether a card is in the reader.
    pub card_present: bool,
}

/// Every reader the PC/SC service knows, in its order, with their cards. No reader at all is
/// an empty list, not an error.
pub fn readers() -> Result<Vec<ReaderStatus>, TransportError> {
    let context = establish()?;
    let mut states = reader_states(&context)?;
    if states.is_empty() {
        return Ok(Vec::new());
    }
    context
        .get_status_change(Duration::ZERO, &mut states)
        .map_err(failure)?;
    Ok(states.iter().map(status).collect())
}

/// Waits until a card is put in or taken out of one of the readers, or a reader comes or
/// goes, for at most `timeout`; returns the readers as they are then (unchanged on
/// timeout). `known` is what the caller last saw.
pub fn wait_for_change(
    known: &[ReaderStatus],
    timeout: Duration,
) -> Result<Vec<ReaderStatus>, TransportError> {
    let context = establish()?;
    let mut states = reader_states(&context)?;
    let readers = states.len();
    // The service's own pseudo-reader: it changes when a reader is plugged in or out.
    states.push(ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
    context
        .get_status_change(Duration::ZERO, &mut states)
        .map_err(failure)?;
    let now: Vec<ReaderStatus> = states[..readers].iter().map(status).collect();
    if now != known {
        return Ok(now);
    }
    for state in &mut states {
        state.sync_current_state();
    }
    match context.get_status_change(timeout, &mut states) {
        Ok(()) | Err(pcsc::Error::Timeout | pcsc::Error::UnknownReader) => self::readers(),
        Err(e) => Err(failure(e)),
    }
}

/// The card in one reader, held in a PC/SC transaction until the transport is dropped (see
/// the module's documentation).
#[derive(Debug)]
pub struct PcscTransport {
    reader: String,
    requests: Option<mpsc::Sender<Request>>,
    connection: Option<JoinHandle<()>>,
}

/// One APDU for the connection's thread, and where its answer goes.
struct Request {
    apdu: Zeroizing<Vec<u8>>,
    answer: mpsc::Sender<Result<Vec<u8>, TransportError>>,
}

impl PcscTransport {
    /// Connects to the card in `reader` and begins a transaction, waiting at most `wait`
    /// for another program's (or step's) transaction on the card to end. No card in the
    /// reader (or no such reader): [`TransportError::CardRemoved`]; still held by someone
    /// else after `wait`: [`TransportError::Busy`].
    pub fn connect(reader: &str, wait: Duration) -> Result<Self, TransportError> {
        let name = CString::new(reader)
            .map_err(|_| TransportError::Failed("a reader name has a NUL byte".into()))?;
        let (ready_tx, ready) = mpsc::channel();
        let (requests, inbox) = mpsc::channel();
        let connection = thread::Builder::new()
            .name("pcsc-card".into())
            .spawn(move || hold(&name, &ready_tx, &inbox))
            .map_err(|e| TransportError::Failed(format!("cannot start a card thread: {e}")))?;
        match ready.recv_timeout(wait) {
            Ok(Ok(())) => Ok(PcscTransport {
                reader: reader.to_owned(),
                requests: Some(requests),
                connection: Some(connection),
            }),
            Ok(Err(e)) => {
                let _ = connection.join();
                Err(e)
            }
            // The thread keeps waiting for the transaction and lets go as soon as it gets
            // it, since nobody holds the other end of its inbox any more.
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TransportError::Busy),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(TransportError::Failed(
                "the card thread ended without an answer".into(),
            )),
        }
    }

    /// The reader this transport holds a card in.
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let (answer, answered) = mpsc::channel();
        let sent = self.requests.as_ref().is_some_and(|requests| {
            requests
                .send(Request {
                    apdu: Zeroizing::new(apdu.to_vec()),
                    answer,
                })
                .is_ok()
        });
        if !sent {
            return Err(TransportError::CardRemoved);
        }
        answered.recv().unwrap_or(Err(TransportError::CardRemoved))
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        // Closing the inbox ends the transaction; waiting for the thread means the next
        // step (which may come at once) does not find the card still held by this one.
        self.requests.take();
        if let Some(connection) = self.connection.take() {
            let _ = connection.join();
        }
    }
}

/// The connection's thread: connect, begin the transaction, say so, answer APDUs until the
/// inbox closes, end the transaction (resetting the card if the step verified a PIN or the
/// management key), disconnect.
fn hold(
    reader: &CStr,
    ready: &mpsc::Sender<Result<(), TransportError>>,
    inbox: &mpsc::Receiver<Request>,
) {
    let mut card = match establish().and_then(|context| {
        context
            .connect(reader, ShareMode::Shared, Protocols::ANY)
            .map_err(failure)
    }) {
        Ok(card) => card,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // A card another program reset after we connected answers "reset" once: reconnect
    // (nothing is lost: the step has not begun) and begin again.
    for attempt in 0..3 {
        match serve(&mut card, ready, inbox) {
            Err(pcsc::Error::ResetCard) if attempt < 2 => {
                if let Err(e) =
                    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard)
                {
                    let _ = ready.send(Err(failure(e)));
                    return;
                }
            }
            Err(e) => {
                let _ = ready.send(Err(failure(e)));
                return;
            }
            Ok(()) => break,
        }
    }
    let _ = card.disconnect(Disposition::LeaveCard);
}

/// Begins the transaction, says so, answers APDUs until the inbox closes and ends the
/// transaction. Fails only if the transaction cannot begin.
fn serve(
    card: &mut pcsc::Card,
    ready: &mpsc::Sender<Result<(), TransportError>>,
    inbox: &mpsc::Receiver<Request>,
) -> Result<(), pcsc::Error> {
    let transaction = card.transaction()?;
    if ready.send(Ok(())).is_err() {
        // The caller gave up waiting (Busy): let go at once.
        return Ok(());
    }
    let mut touched_security = false;
    let mut buffer = Zeroizing::new(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]);
    for request in inbox {
        touched_security |= changes_security_state(&request.apdu);
        let answer = transaction
            .transmit(&request.apdu, &mut buffer[..])
            .map(<[u8]>::to_vec)
            .map_err(failure);
        let _ = request.answer.send(answer);
    }
    let end = if touched_security {
        Disposition::ResetCard
    } else {
        Disposition::LeaveCard
    };
    let _ = transaction.end(end);
    Ok(())
}

/// Whether a command may leave something verified on the card: VERIFY, CHANGE REFERENCE
/// DATA, RESET RETRY COUNTER, or the management-key GENERAL AUTHENTICATE.
fn changes_security_state(apdu: &[u8]) -> bool {
    match apdu {
        [
            _,
            ins::VERIFY | ins::CHANGE_REFERENCE | ins::RESET_RETRY,
            ..,
        ] => true,
        [_, ins::GENERAL_AUTHENTICATE, _, p2, ..] => *p2 == piv::REF_MANAGEMENT,
        _ => false,
    }
}

fn establish() -> Result<Context, TransportError> {
    Context::establish(Scope::User).map_err(failure)
}

fn reader_states(context: &Context) -> Result<Vec<ReaderState>, TransportError> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|name| ReaderState::new(name, State::UNAWARE))
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(failure(e)),
    }
}

fn status(state: &ReaderState) -> ReaderStatus {
    ReaderStatus {
        name: state.name().to_string_lossy().into_owned(),
        card_present: state.event_state().contains(State::PRESENT),
    }
}

/// A PC/SC error in the transport's terms: everything that means "no card here" is a
/// removed card, and so is a card reset under a step (its transaction ended by the reset,
/// e.g. a card put in just before and powered up again): whatever the step had verified is
/// gone, as after a removal, and the step must start again.
fn failure(error: pcsc::Error) -> TransportError {
    use pcsc::Error as E;
    match error {
        E::NoSmartcard
        | E::ResetCard
        | E::NotTransacted
        | E::RemovedCard
        | E::UnknownReader
        | E::ReaderUnavailable
        | E::NoReadersAvailable
        | E::UnpoweredCard
        | E::UnresponsiveCard => TransportError::CardRemoved,
        E::NoService | E::ServiceStopped => {
            TransportError::Failed("the smart card service (pcscd) is not running".into())
        }
        E::SharingViolation => TransportError::Busy,
        other => TransportError::Failed(format!("PC/SC: {other}")),
    }
}
