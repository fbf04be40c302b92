//! Personalised virtual cards, and what the eID app does with one.

use std::path::PathBuf;

use eid_card::{
    Card, CardClient, KeySlot, ManagementKey, Pin, PinRef, VirtualReader, certificate_request,
};
use eid_pki::CardMasterKey;
use eid_protocol::{AppCompletion, AppOrder, Enrollment, EnrollmentEvidence, ToBeSigned};
use eid_ra::PinLetter;
use eid_store::{AnyStore, CertKind, Store};
use zeroize::Zeroizing;

/// The codes a card was handed out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Letter {
    TwoPin {
        pin1: String,
        pin2: String,
        puk: String,
    },
    OnePin {
        transport_code: String,
    },
}

impl From<PinLetter> for Letter {
    fn from(letter: PinLetter) -> Self {
        match letter {
            PinLetter::TwoPin { pin1, pin2, puk } => Self::TwoPin {
                pin1: pin1.to_string(),
                pin2: pin2.to_string(),
                puk: puk.to_string(),
            },
            PinLetter::OnePin { transport_code } => Self::OnePin {
                transport_code: transport_code.to_string(),
            },
        }
    }
}

impl Letter {
    /// What PIN1 is on a new card: PIN1 of a two-PIN card, the transport code of a one-PIN
    /// card.
    pub fn initial_pin1(&self) -> &str {
        match self {
            Self::TwoPin { pin1, .. } => pin1,
            Self::OnePin { transport_code } => transport_code,
        }
    }
}

fn pin(s: &str) -> Pin {
    Pin::new(Zeroizing::new(s.to_owned()))
}

/// A personalised card in a virtual reader in memory, played by the test as the eID app
/// would use it.
pub struct TestCard {
    pub number: String,
    pub client: CardClient<VirtualReader>,
    pub letter: Letter,
    /// What PIN1 is now: from the letter, until [`TestCard::activate`] changes it.
    pub pin1: String,
}

impl TestCard {
    pub(crate) fn new(number: &str, client: CardClient<VirtualReader>, letter: Letter) -> Self {
        Self {
            number: number.into(),
            client,
            pin1: letter.initial_pin1().to_owned(),
            letter,
        }
    }

    /// Activates a one-PIN card on the card (not in the store): PIN1 becomes `new_pin1`
    /// instead of the transport code.
    pub fn activate(&mut self, new_pin1: &str) {
        self.client.select().unwrap();
        self.client
            .change_pin(PinRef::Pin1, &pin(&self.pin1), &pin(new_pin1))
            .unwrap();
        new_pin1.clone_into(&mut self.pin1);
    }

    /// The card's authentication certificate, as the app reads it from the card.
    pub fn certificate(&self) -> Vec<u8> {
        self.client
            .read_certificate(KeySlot::Authentication)
            .unwrap()
            .unwrap()
    }

    /// What the app does: verify PIN1 on the card, then sign SHA-256 of the to-be-signed
    /// bytes with the 9A key.
    pub fn sign(&self, tbs: &ToBeSigned) -> Vec<u8> {
        self.client.select().unwrap();
        self.client.verify(PinRef::Pin1, &pin(&self.pin1)).unwrap();
        self.client
            .sign(KeySlot::Authentication, &tbs.digest().unwrap())
            .unwrap()
    }

    /// A login completion for `order`, signed by this card.
    pub fn complete_login(&self, order: &AppOrder) -> AppCompletion {
        AppCompletion {
            signature: self.sign(&ToBeSigned::for_order(order, None)),
            certificate: self.certificate(),
            new_public_key: None,
            enrollment: None,
        }
    }

    /// An enrollment approval for `order` of `new_key`, signed by this card; `store` knows
    /// the card's authentication certificate.
    pub async fn complete_enrollment(
        &self,
        order: &AppOrder,
        new_key: &[u8],
        store: &AnyStore,
    ) -> AppCompletion {
        let auth = store
            .certificates_of_card(&self.number)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.kind == CertKind::Authentication)
            .unwrap();
        let enrollment = Enrollment {
            new_public_key_sha256: eid_orders::sha256(new_key),
            card_number: self.number.clone(),
            auth_certificate_serial: auth.serial.as_bytes().to_vec(),
        };
        AppCompletion {
            signature: self.sign(&ToBeSigned::for_order(order, Some(enrollment))),
            certificate: self.certificate(),
            new_public_key: Some(new_key.to_vec()),
            enrollment: None,
        }
    }
}

impl TestCard {
    /// The code that guards the signing key: PIN2 of a two-PIN card, PIN1 of a one-PIN
    /// card.
    pub fn signing_code(&self) -> String {
        match &self.letter {
            Letter::TwoPin { pin2, .. } => pin2.clone(),
            Letter::OnePin { .. } => self.pin1.clone(),
        }
    }

    /// What the eID app does in a signing-certificate fetch before the approval, with the
    /// management key computed here from `master` (the server's part): a new key in 9C, the
    /// card's attestation of it and the request signed after the signing code. Returns the
    /// key (DER SubjectPublicKeyInfo) and the evidence.
    pub fn signing_key(&self, master: &CardMasterKey) -> (Vec<u8>, EnrollmentEvidence) {
        let c = &self.client;
        c.select().unwrap();
        let key = ManagementKey::from_bytes(*master.management_key(&self.number));
        c.authenticate_management(&key).unwrap();
        let spki = c.generate_key(KeySlot::Signing).unwrap();
        let attestation = c.attest(KeySlot::Signing).unwrap();
        let pin = if matches!(self.letter, Letter::TwoPin { .. }) {
            PinRef::Pin2
        } else {
            PinRef::Pin1
        };
        c.verify(pin, &self::pin(&self.signing_code())).unwrap();
        let request = certificate_request(c, KeySlot::Signing, &self.number, &spki).unwrap();
        (
            spki,
            EnrollmentEvidence {
                certificate_request: request,
                attestation: Some(attestation),
                attestation_key_certificate: None,
            },
        )
    }

    /// A whole enrollment completion for `order` with a new key made on the card (see
    /// [`TestCard::signing_key`]).
    pub async fn complete_signing_enrollment(
        &self,
        order: &AppOrder,
        store: &AnyStore,
        master: &CardMasterKey,
    ) -> AppCompletion {
        let (spki, evidence) = self.signing_key(master);
        let mut completion = self.complete_enrollment(order, &spki, store).await;
        completion.enrollment = Some(evidence);
        completion
    }
}

/// A personalised card in a card file, for the eID app to open.
pub struct CardFile {
    pub number: String,
    pub path: PathBuf,
    pub letter: Letter,
    /// What PIN1 is: PIN1 of a two-PIN card, the transport code of a one-PIN card (until
    /// the holder activates it in the app).
    pub pin1: String,
}

impl CardFile {
    pub(crate) fn new(number: &str, path: PathBuf, letter: Letter) -> Self {
        Self {
            number: number.into(),
            path,
            pin1: letter.initial_pin1().to_owned(),
            letter,
        }
    }
}
