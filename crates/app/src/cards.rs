//! Where the app finds the holder's eIDs: virtual card files, cards in PC/SC readers (a
//! named reader, or every reader the smart card service has) and the cards a PKCS#11 module
//! shows. The list is read afresh each time it is shown or used, so a card put in or taken
//! out is seen at the next page.
//!
//! Every use opens the card anew and the returned [`Card`] lives for one step: a virtual
//! card is read from its file (a missing file is a removed card), a card in a reader is
//! held in a PC/SC transaction until the step ends (`eid_card::pcsc`), a PKCS#11 card gets
//! fresh sessions and is logged out when the step drops it (`eid_card::pkcs11`).

use std::path::PathBuf;
use std::time::Duration;

use eid_card::pcsc::{self, PcscTransport};
use eid_card::pkcs11::Pkcs11Module;
use eid_card::{Card, CardClient, CardError, CardFileError, VirtualCard, VirtualReader};

/// How long a step waits for another program's step on the same card to end before it is
/// refused as busy.
const CARD_WAIT: Duration = Duration::from_secs(10);

/// One place the app looks for a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardSource {
    /// A virtual card file.
    File(PathBuf),
    /// The card in this PC/SC reader (listed even while the reader is empty).
    Reader(String),
    /// Every PC/SC reader that has a card in it.
    AllReaders,
    /// Every card this PKCS#11 module shows (its file, e.g. OpenSC's `opensc-pkcs11.so`).
    Pkcs11(PathBuf),
}

impl From<PathBuf> for CardSource {
    fn from(path: PathBuf) -> Self {
        CardSource::File(path)
    }
}

/// One eID the holder can choose: where it is and what the page calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Shown to the holder, and the key that remembers the active choice.
    pub(crate) label: String,
    place: Place,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    File(PathBuf),
    Reader(String),
    Pkcs11 {
        module: PathBuf,
        card_number: String,
    },
}

/// The sources the app was started with.
#[derive(Debug)]
pub(crate) struct Cards {
    sources: Vec<CardSource>,
}

impl Cards {
    pub(crate) fn new(sources: Vec<CardSource>) -> Self {
        Cards { sources }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The eIDs as they are now, in the order of the sources (files first as given).
    pub(crate) fn list(&self) -> Vec<Listed> {
        let mut listed: Vec<Listed> = Vec::new();
        let mut present: Option<Vec<pcsc::ReaderStatus>> = None;
        for source in &self.sources {
            match source {
                CardSource::File(path) => listed.push(Listed {
                    label: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| path.display().to_string()),
                    place: Place::File(path.clone()),
                }),
                CardSource::Reader(name) => push_reader(&mut listed, name),
                CardSource::AllReaders => {
                    // An unreachable service lists no readers; opening says why.
                    let readers =
                        present.get_or_insert_with(|| pcsc::readers().unwrap_or_default());
                    for reader in readers.iter().filter(|r| r.card_present) {
                        push_reader(&mut listed, &reader.name);
                    }
                }
                CardSource::Pkcs11(module) => {
                    // A module that does not load lists no cards (`eid app` checks it at
                    // start-up, so this is a module that failed since).
                    let cards = Pkcs11Module::load(module).and_then(|m| m.cards());
                    for card in cards.unwrap_or_default() {
                        listed.push(Listed {
                            label: format!("{} (PKCS#11)", card.card_number),
                            place: Place::Pkcs11 {
                                module: module.clone(),
                                card_number: card.card_number,
                            },
                        });
                    }
                }
            }
        }
        listed
    }

    /// Opens the eID labelled `label` (the first listed when `None` or no longer there) for
    /// one step, chosen and opened from one listing; returns its place in that list too.
    pub(crate) fn open(&self, label: Option<&str>) -> (usize, Result<Box<dyn Card>, CardError>) {
        let listed = self.list();
        let index = label
            .and_then(|label| listed.iter().position(|l| l.label == label))
            .unwrap_or(0);
        let card = match listed.get(index) {
            Some(chosen) => open_place(&chosen.place),
            None => Err(CardError::CardRemoved),
        };
        (index, card)
    }
}

/// Opens the card at `place` and selects its application.
fn open_place(place: &Place) -> Result<Box<dyn Card>, CardError> {
    let card: Box<dyn Card> = match place {
        Place::File(path) => {
            let card = VirtualCard::open(path).map_err(|e| match e {
                CardFileError::Io { .. } => CardError::CardRemoved,
                other => CardError::BadResponse(other.to_string()),
            })?;
            Box::new(CardClient::new(VirtualReader::new(card)))
        }
        Place::Reader(name) => {
            // Up to `CARD_WAIT` for a busy card: the runtime's other tasks move off this
            // thread meanwhile.
            let transport = blocking(|| PcscTransport::connect(name, CARD_WAIT))?;
            Box::new(CardClient::new(transport))
        }
        Place::Pkcs11 {
            module,
            card_number,
        } => Box::new(Pkcs11Module::load(module)?.open(Some(card_number))?),
    };
    card.select()?;
    Ok(card)
}

fn push_reader(listed: &mut Vec<Listed>, name: &str) {
    if !listed
        .iter()
        .any(|l| l.place == Place::Reader(name.to_owned()))
    {
        listed.push(Listed {
            label: name.to_owned(),
            place: Place::Reader(name.to_owned()),
        });
    }
}

/// Runs `f`, which may block for a while, so that it does not hold up the app's other tasks:
/// in a multi-threaded runtime (`eid app`) through `block_in_place`; elsewhere (a test's
/// single-threaded runtime) as it is.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
