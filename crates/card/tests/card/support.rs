//! The harness: virtual cards in temporary folders, blank or personalised, with a client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use eid_card::{
    Card, CardClient, CardKind, CardProfile, KeySlot, ManagementKey, Pin, PinRef, Transport,
    TransportError, VirtualCard, VirtualReader,
};
use tempfile::TempDir;

pub const PIN1: &str = "246810";
pub const PIN2: &str = "13572468";
pub const PUK: &str = "87654321";
pub const TRANSPORT: &str = "975310";
pub const BLANK_PIN: &str = "123456";
pub const BLANK_PUK: &str = "12345678";

pub fn management_key() -> ManagementKey {
    ManagementKey::from_bytes([0x42; 16])
}

pub fn pin(digits: &str) -> Pin {
    Pin::from(digits)
}

/// Every response the card gave, for checks across a whole run.
pub type Log = Arc<Mutex<Vec<Vec<u8>>>>;

/// A transport that records every response.
#[derive(Debug, Clone)]
pub struct Recording {
    pub reader: VirtualReader,
    pub log: Log,
}

impl Transport for Recording {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let response = self.reader.transmit(apdu)?;
        self.log.lock().unwrap().push(response.clone());
        Ok(response)
    }
}

/// A card in a reader in a temporary folder, and a client for it.
pub struct TestCard {
    pub _dir: TempDir,
    pub path: PathBuf,
    pub reader: VirtualReader,
    pub log: Log,
    pub client: CardClient<Recording>,
}

impl TestCard {
    pub fn blank(kind: CardKind) -> Self {
        Self::blank_with(profile(kind))
    }

    pub fn blank_with(profile: CardProfile) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        let card = VirtualCard::create(&path, profile).unwrap();
        let reader = VirtualReader::new(card);
        let log = Log::default();
        let client = CardClient::new(Recording {
            reader: reader.clone(),
            log: log.clone(),
        });
        TestCard {
            _dir: dir,
            path,
            reader,
            log,
            client,
        }
    }

    /// Personalised as `docs/card.md` says: management key, F9/9A/9C keys, PUK and PINs
    /// (one-PIN card: the transport code). The session is reset afterwards.
    pub fn personalised(kind: CardKind) -> Self {
        let card = Self::blank(kind);
        personalise(&card.client, kind);
        card
    }

    pub fn file_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

pub fn profile(kind: CardKind) -> CardProfile {
    let product = match kind {
        CardKind::TwoPin => "402",
        CardKind::OnePin => "701",
    };
    CardProfile::new("9752269000123456", product, kind)
}

pub fn personalise(client: &impl Card, kind: CardKind) {
    client.select().unwrap();
    client
        .authenticate_management(&ManagementKey::blank_card())
        .unwrap();
    client.set_management_key(&management_key()).unwrap();
    for slot in [
        KeySlot::Attestation,
        KeySlot::Authentication,
        KeySlot::Signing,
    ] {
        client.generate_key(slot).unwrap();
    }
    client
        .change_pin(PinRef::Puk, &pin(BLANK_PUK), &pin(PUK))
        .unwrap();
    match kind {
        CardKind::TwoPin => {
            client
                .change_pin(PinRef::Pin1, &pin(BLANK_PIN), &pin(PIN1))
                .unwrap();
            client
                .change_pin(PinRef::Pin2, &pin(BLANK_PIN), &pin(PIN2))
                .unwrap();
        }
        CardKind::OnePin => {
            client
                .change_pin(PinRef::Pin1, &pin(BLANK_PIN), &pin(TRANSPORT))
                .unwrap();
        }
    }
    client.select().unwrap();
}

/// Verifies an ECDSA signature over SHA-256(`message`) with a P-256 SubjectPublicKeyInfo.
pub fn verifies(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let point = &spki[spki.len() - 65..];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .is_ok()
}

pub fn sha256(message: &[u8]) -> [u8; 32] {
    digest(&SHA256, message).as_ref().try_into().unwrap()
}

/// The JSON of a card file.
pub fn card_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
