//! The virtual card: an APDU-level emulator of the eID card (`docs/card.md`), file-backed.
//!
//! [`VirtualCard::transmit`] takes one command APDU and answers response data + status word.
//! Framing (CLA, chaining, GET RESPONSE) and the session (verified PINs, management-key
//! authentication) live here; the commands live in `pin`, `keys`, `objects` and `attest`.
//! Every change of persistent state is made on a copy, written to the card file, and only
//! then becomes the card's state: a write that fails changes nothing (`6F00`).

mod attest;
pub mod failpoint;
mod file;
mod keys;
mod objects;
mod pin;
mod state;
#[cfg(feature = "vpcd")]
pub mod vpcd;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::EcdsaKeyPair;
use zeroize::Zeroizing;

use crate::apdu::Command;
use crate::error::CardFileError;
use crate::piv::{self, ins};
use crate::status::Sw;
use crate::tlv;

pub use state::CardProfile;
use state::State;

/// What a handler answers: response data, or the status word of a refusal.
type Answer = Result<Vec<u8>, Sw>;

/// A file-backed (or, for tests and fuzzing, in-memory) virtual eID card.
pub struct VirtualCard {
    state: State,
    path: Option<PathBuf>,
    /// Parsed private keys by slot, rebuilt from `state` whenever a key changes.
    keys: BTreeMap<u8, EcdsaKeyPair>,
    session: Session,
}

/// Volatile state: lost at power-off and SELECT.
#[derive(Default)]
struct Session {
    pin1_verified: bool,
    pin2_verified: bool,
    /// One 9C signature allowed: set by VERIFY of the signing PIN, gone after the next
    /// command of any kind.
    sign_grant: bool,
    management_authenticated: bool,
    challenge: Option<Zeroizing<Vec<u8>>>,
    chain: Option<Chain>,
    /// Response data not yet fetched with GET RESPONSE.
    pending: Vec<u8>,
}

struct Chain {
    ins: u8,
    p1: u8,
    p2: u8,
    data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualCard")
            .field("card_number", &self.state.profile.card_number)
            .field("life_cycle", &self.state.life_cycle())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl VirtualCard {
    /// Makes a blank card and writes it to a new card file at `path` (refused if the path
    /// exists).
    pub fn create(path: &Path, profile: CardProfile) -> Result<Self, CardFileError> {
        profile.validate().map_err(CardFileError::InvalidProfile)?;
        let state = State::blank(profile);
        file::write(path, &state, true)?;
        Self::from_state(state, Some(path.to_owned()))
    }

    /// Opens an existing card file; a damaged, foreign or newer file is refused and left
    /// as it is.
    pub fn open(path: &Path) -> Result<Self, CardFileError> {
        let state = file::read(path)?;
        Self::from_state(state, Some(path.to_owned()))
    }

    /// A blank card that lives only in memory (tests, fuzzing).
    pub fn in_memory(profile: CardProfile) -> Result<Self, CardFileError> {
        profile.validate().map_err(CardFileError::InvalidProfile)?;
        Self::from_state(State::blank(profile), None)
    }

    fn from_state(state: State, path: Option<PathBuf>) -> Result<Self, CardFileError> {
        let mut card = VirtualCard {
            state,
            path,
            keys: BTreeMap::new(),
            session: Session::default(),
        };
        card.load_keys().map_err(|()| CardFileError::Corrupt {
            path: card.path.clone().unwrap_or_default(),
            reason: "a key does not parse".into(),
        })?;
        Ok(card)
    }

    /// The card's profile.
    pub fn profile(&self) -> &CardProfile {
        &self.state.profile
    }

    /// The card file, if the card has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Power off and on: the session (verified PINs, management authentication, open
    /// chain, pending response) is gone; the file is untouched.
    pub fn power_cycle(&mut self) {
        self.session = Session::default();
    }

    /// Runs one command APDU; answers response data followed by the status word (always at
    /// least 2 bytes).
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        if let [_, ins, ..] = apdu {
            failpoint::hit_command(*ins);
        }
        let (mut data, sw) = match self.process(apdu) {
            Ok((data, sw)) => (data, sw),
            Err(sw) => (Vec::new(), sw),
        };
        data.extend_from_slice(&sw.to_bytes());
        data
    }

    fn process(&mut self, apdu: &[u8]) -> Result<(Vec<u8>, Sw), Sw> {
        // The 9C grant lasts exactly until the next command (a chained part passes it on).
        let grant = std::mem::take(&mut self.session.sign_grant);
        let cmd = Command::parse(apdu)?;
        if cmd.cla & !piv::CLA_CHAIN != piv::CLA {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        let chained = cmd.cla & piv::CLA_CHAIN != 0;
        let limit = cmd.le.unwrap_or(256);
        if cmd.ins == ins::GET_RESPONSE && !chained && self.session.chain.is_none() {
            return self.get_response(&cmd, limit);
        }
        self.session.pending.clear();
        let data = match self.chain(&cmd, chained, grant)? {
            Some(data) => data,
            None => return Ok((Vec::new(), Sw::OK)),
        };
        let mut response = self.dispatch(&cmd, &data, grant)?;
        if response.len() > limit {
            self.session.pending = response.split_off(limit);
            let left = self.session.pending.len();
            return Ok((response, Sw::more_data(left)));
        }
        Ok((response, Sw::OK))
    }

    /// Chaining: `None` while the chain goes on; the whole data once it ends.
    fn chain(
        &mut self,
        cmd: &Command<'_>,
        chained: bool,
        grant: bool,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Sw> {
        if let Some(open) = &self.session.chain
            && (open.ins, open.p1, open.p2) != (cmd.ins, cmd.p1, cmd.p2)
        {
            self.session.chain = None;
            if cmd.ins != ins::SELECT {
                return Err(Sw::LAST_COMMAND_EXPECTED);
            }
        }
        let chainable = matches!(
            cmd.ins,
            ins::GENERATE | ins::GENERAL_AUTHENTICATE | ins::PUT_DATA | ins::SET_MANAGEMENT_KEY
        );
        if chained && !chainable {
            return Err(Sw::CHAINING_NOT_SUPPORTED);
        }
        // Command data may carry a PIN or a key: wiped when done with.
        let mut data = match self.session.chain.take() {
            Some(open) => open.data,
            None => Zeroizing::new(Vec::new()),
        };
        if data.len() + cmd.data.len() > piv::MAX_CHAIN {
            return Err(Sw::NO_SPACE);
        }
        data.extend_from_slice(cmd.data);
        if chained {
            self.session.chain = Some(Chain {
                ins: cmd.ins,
                p1: cmd.p1,
                p2: cmd.p2,
                data,
            });
            // A chained part is not yet a command: the grant survives it.
            self.session.sign_grant = grant;
            return Ok(None);
        }
        Ok(Some(data))
    }

    fn get_response(&mut self, cmd: &Command<'_>, limit: usize) -> Result<(Vec<u8>, Sw), Sw> {
        if (cmd.p1, cmd.p2) != (0, 0) {
            return Err(Sw::WRONG_P1P2);
        }
        if self.session.pending.is_empty() {
            return Err(Sw::CONDITIONS);
        }
        let rest = self
            .session
            .pending
            .split_off(limit.min(self.session.pending.len()));
        let part = std::mem::replace(&mut self.session.pending, rest);
        let left = self.session.pending.len();
        Ok((
            part,
            if left == 0 {
                Sw::OK
            } else {
                Sw::more_data(left)
            },
        ))
    }

    fn dispatch(&mut self, cmd: &Command<'_>, data: &[u8], grant: bool) -> Answer {
        if self.state.dead() && !matches!(cmd.ins, ins::SELECT | ins::GET_DATA) {
            return Err(Sw::DEAD);
        }
        match cmd.ins {
            ins::SELECT => self.select(cmd, data),
            ins::VERIFY => self.verify(cmd, data),
            ins::CHANGE_REFERENCE => self.change_reference(cmd, data),
            ins::RESET_RETRY => self.reset_retry(cmd, data),
            ins::GENERATE => self.generate(cmd, data),
            ins::GENERAL_AUTHENTICATE => self.general_authenticate(cmd, data, grant),
            ins::GET_DATA => self.get_data(cmd, data),
            ins::PUT_DATA => self.put_data(cmd, data),
            ins::ATTEST => self.attest(cmd),
            ins::METADATA => self.metadata(cmd),
            ins::SET_MANAGEMENT_KEY => self.set_management_key(cmd, data),
            ins::GET_SERIAL => self.serial(cmd),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        if (cmd.p1, cmd.p2) != (0x04, 0x00) {
            return Err(Sw::WRONG_P1P2);
        }
        if data.len() < piv::RID_LEN || !piv::AID.starts_with(data) {
            return Err(Sw::NOT_FOUND);
        }
        self.session = Session::default();
        let mut apt = Vec::new();
        tlv::put(&mut apt, 0x4F, &piv::AID[piv::RID_LEN..]);
        tlv::put(
            &mut apt,
            0x79,
            &tlv::encode(0x4F, &piv::AID[..piv::RID_LEN]),
        );
        tlv::put(&mut apt, 0x50, b"eID virtual card");
        let mut algorithms = Vec::new();
        tlv::put(&mut algorithms, 0x80, &[piv::ALG_AES128]);
        tlv::put(&mut algorithms, 0x80, &[piv::ALG_P256]);
        tlv::put(&mut algorithms, 0x06, &[0x00]);
        tlv::put(&mut apt, 0xAC, &algorithms);
        Ok(tlv::encode(0x61, &apt))
    }

    /// Makes `next` the card's state once it is in the card file.
    fn commit(&mut self, next: State) -> Result<(), Sw> {
        if let Some(path) = &self.path {
            file::write(path, &next, false).map_err(|_| Sw::INTERNAL)?;
        }
        self.state = next;
        Ok(())
    }

    fn load_keys(&mut self) -> Result<(), ()> {
        self.keys.clear();
        for slot in [
            piv::SLOT_AUTHENTICATION,
            piv::SLOT_SIGNING,
            piv::SLOT_ATTESTATION,
        ] {
            if let Some(key) = self.state.key(slot) {
                let pair = keys::parse(&key.pkcs8).map_err(|_| ())?;
                self.keys.insert(slot, pair);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
