//! Fetching a signing certificate onto the card (an `enrollSign` order), the card holder's
//! side: seed procedure steps 5–7 (`docs/protocol.md`, "Fetching a signing certificate").
//!
//! Three steps, each of which can be repeated after a card pulled out, a wrong code or a
//! lost connection, and each of which leaves the card and the server consistent:
//!
//! 1. [`prepare_key`] (step 5, the signing code: PIN2, or PIN1 on a one-PIN card): the key
//!    in slot 9C. A key already there without its certificate on the card (an earlier,
//!    interrupted fetch) is used again; otherwise the card generates a new one under the
//!    management key, whose challenge–response the server answers through the app. Then
//!    the card's attestation of the key (F9), the F9 key's certificate (a plain PIV card's
//!    is its maker's, which the server checks against its configured roots), and the
//!    certificate request, signed on the card by the new key right after the signing code.
//!
//!    A card without a management key (a PKCS#11 token: `management_challenge` is
//!    [`CardError::Unsupported`]) skips the challenge–response here and in step 3; its key
//!    is generated under the signing code instead, verified first. Such a card has no
//!    attestation either: the request goes without one, and the card holder's organisation
//!    decides whether it accepts an unattested key (else the server refuses with
//!    `attestationRequired`).
//! 2. [`approve`] (step 6a, PIN1): the authentication key signs the to-be-signed structure
//!    binding the order, the new key, the card and its authentication certificate; the
//!    completion carries the request and the attestation; the server answers the signing
//!    certificate (issued now, or the one the key already has).
//! 3. [`deliver`]: the certificate goes into the card's 9C certificate object (again under
//!    the relayed management key, if the card has one), is read back, and the delivery is
//!    confirmed.
//!
//! PINs go to the card only. The card is read through the [`Card`] seam, so tests can pull
//! it out at any command.

use std::sync::Arc;

use aws_lc_rs::digest;
use eid_card::{Card, CardError, CardKind, KeySlot, LifeCycle, Pin, PinRef, certificate_request};
use eid_protocol::{
    AppCompletion, AppOrder, Enrollment, EnrollmentEvidence, HintCode, OrderKind, ToBeSigned,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::remote::{Remote, RemoteError};

/// Why a step of the fetch did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The order is not a signing-certificate fetch.
    #[error("the order is not a signing-certificate fetch")]
    NotAFetch,
    /// The card said no, or was taken out (see the card error).
    #[error("{0}")]
    Card(#[from] CardError),
    /// The card in the reader is not the one the order is for.
    #[error("the order is for card {expected}, the reader holds card {found}")]
    WrongCard {
        /// The order's card.
        expected: String,
        /// The card in the reader.
        found: String,
    },
    /// A one-PIN card that is not activated yet.
    #[error("the card is not activated")]
    NotActivated,
    /// The server refused or could not be reached.
    #[error("{0}")]
    Server(#[from] RemoteError),
    /// The server's certificate is not for the key on the card: it is not written.
    #[error("the certificate from the server is not for the key on the card")]
    NotForThisKey,
    /// The card's data could not be read as expected.
    #[error("the card's data is malformed: {0}")]
    Malformed(String),
}

impl FetchError {
    /// The hint the app reports to the server for this failure, if any (whether it ends
    /// the order is [`HintCode::app_report`]).
    pub fn hint(&self) -> Option<HintCode> {
        match self {
            Self::Card(CardError::CardRemoved) => Some(HintCode::CardRemoved),
            Self::Card(CardError::PinBlocked | CardError::CardDead)
            | Self::Card(CardError::WrongPin { tries_left: 0 }) => Some(HintCode::PinBlocked),
            Self::WrongCard { .. } => Some(HintCode::WrongCard),
            Self::NotActivated | Self::Card(CardError::NotActivated) => {
                Some(HintCode::CardNotActivated)
            }
            _ => None,
        }
    }
}

/// One order on one server, as the app fetched it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link<'a> {
    pub remote: &'a Remote,
    pub server: usize,
    pub app_token: &'a str,
    pub order: &'a AppOrder,
}

/// The key that will be certified, and the card's evidence for it. Public data only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedKey {
    /// The key in slot 9C, DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// The request for it, signed on the card.
    pub certificate_request: Vec<u8>,
    /// The card's attestation of slot 9C, if it gave one.
    pub attestation: Option<Vec<u8>>,
    /// The certificate of the card's attestation key (F9), sent with the attestation: a
    /// plain PIV card's is its maker's, which the server checks against its roots.
    pub attestation_key_certificate: Option<Vec<u8>>,
    /// Whether the key was generated now (else: left by an earlier fetch and used again).
    pub generated: bool,
}

/// The signing certificate the server returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// DER.
    pub der: Vec<u8>,
    /// Its serial, upper-case hex.
    pub serial: String,
    /// Where the browser goes when the certificate is on the card.
    pub return_url: String,
}

/// The card of the order, checked: right number, usable.
fn checked_card(card: &dyn Card, order: &AppOrder) -> Result<CardKind, FetchError> {
    if order.kind != OrderKind::EnrollSign {
        return Err(FetchError::NotAFetch);
    }
    let info = card.info()?;
    if let Some(wanted) = &order.card_number
        && *wanted != info.card_number
    {
        return Err(FetchError::WrongCard {
            expected: wanted.clone(),
            found: info.card_number,
        });
    }
    match info.life_cycle {
        LifeCycle::Active => Ok(info.kind),
        LifeCycle::NotActivated => Err(FetchError::NotActivated),
        LifeCycle::Dead => Err(CardError::CardDead.into()),
        _ => Err(FetchError::Malformed("the card is not personalised".into())),
    }
}

/// Authenticates the card's management key through the server (one challenge, one
/// response). A card without one (a PKCS#11 token: its user PIN authorises key generation
/// instead) answers the challenge `Unsupported`: nothing is asked of the server and the
/// answer is `false`.
async fn management(link: Link<'_>, card: &dyn Card) -> Result<bool, FetchError> {
    let challenge = match card.management_challenge() {
        Ok(challenge) => challenge,
        Err(CardError::Unsupported(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let response = link
        .remote
        .management(link.server, link.app_token, &challenge)
        .await?;
    card.management_respond(&response)?;
    Ok(true)
}

/// Step 1: the key in 9C (used again or generated), its attestation and its certificate
/// request, signed after `signing_code` (PIN2; PIN1 on a one-PIN card).
pub(crate) async fn prepare_key(
    link: Link<'_>,
    card: &dyn Card,
    signing_code: &Pin,
) -> Result<PreparedKey, FetchError> {
    let kind = checked_card(card, link.order)?;
    let number = link.order.card_number.clone().unwrap_or_default();
    let existing = card.key_metadata(KeySlot::Signing)?;
    let on_card = card.read_certificate(KeySlot::Signing)?;
    let reusable = existing.filter(|key| {
        // A key whose certificate is already on the card is in use: a new fetch makes a
        // new key. A key without one is the key of an interrupted fetch.
        !on_card.as_deref().is_some_and(|der| {
            certificate_key(der).is_some_and(|k| same_key(&k, &key.public_key_spki))
        })
    });
    let pin = kind.pin_for(KeySlot::Signing).unwrap_or(PinRef::Pin2);
    let (public_key, generated) = match reusable {
        Some(key) => (key.public_key_spki, false),
        None => {
            if !management(link, card).await? {
                // No management key: the token generates under its user login, the signing
                // code's.
                card.verify(pin, signing_code)?;
            }
            (card.generate_key(KeySlot::Signing)?, true)
        }
    };
    // A card that cannot attest (a PKCS#11 token) sends none: the organisation's policy
    // decides whether such a key is certified.
    let attestation = match card.attest(KeySlot::Signing) {
        Ok(der) => Some(der),
        Err(CardError::NotFound | CardError::Unsupported(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let attestation_key_certificate = match attestation {
        Some(_) => card.read_certificate(KeySlot::Attestation)?,
        None => None,
    };
    // The signing key needs its PIN verified by the command just before the signature
    // (verified again on a token: its grant is for one signature, and generation used it).
    card.verify(pin, signing_code)?;
    let request = certificate_request(card, KeySlot::Signing, &number, &public_key)?;
    Ok(PreparedKey {
        public_key,
        certificate_request: request,
        attestation,
        attestation_key_certificate,
        generated,
    })
}

/// Step 2: PIN1, the authentication key's approval of the key, and the completion; the
/// server's signing certificate for the key.
pub(crate) async fn approve(
    link: Link<'_>,
    card: &dyn Card,
    pin1: &Pin,
    key: &PreparedKey,
) -> Result<IssuedCertificate, FetchError> {
    checked_card(card, link.order)?;
    let certificate = card
        .read_certificate(KeySlot::Authentication)?
        .ok_or(CardError::NotFound)?;
    let auth_serial = certificate_serial(&certificate)
        .ok_or_else(|| FetchError::Malformed("the authentication certificate".into()))?;
    let mut key_hash = [0u8; 32];
    key_hash.copy_from_slice(digest::digest(&digest::SHA256, &key.public_key).as_ref());
    let tbs = ToBeSigned::for_order(
        link.order,
        Some(Enrollment {
            new_public_key_sha256: key_hash,
            card_number: link.order.card_number.clone().unwrap_or_default(),
            auth_certificate_serial: auth_serial,
        }),
    );
    let digest = tbs
        .digest()
        .map_err(|e| FetchError::Malformed(e.to_string()))?;
    card.verify(PinRef::Pin1, pin1)?;
    let signature = card.sign(KeySlot::Authentication, &digest);
    let _ = card.reset_verified(PinRef::Pin1);
    let completion = AppCompletion {
        signature: signature?,
        certificate,
        new_public_key: Some(key.public_key.clone()),
        enrollment: Some(EnrollmentEvidence {
            certificate_request: key.certificate_request.clone(),
            attestation: key.attestation.clone(),
            attestation_key_certificate: key.attestation_key_certificate.clone(),
        }),
    };
    let (return_url, der) = link
        .remote
        .complete_enrollment(link.server, link.app_token, &completion)
        .await?;
    let serial = certificate_serial(&der)
        .map(hex_upper)
        .ok_or_else(|| FetchError::Malformed("the server's certificate".into()))?;
    Ok(IssuedCertificate {
        der,
        serial,
        return_url,
    })
}

/// Step 3: writes the certificate to the card (if it is for the card's 9C key and not
/// there yet), reads it back and confirms the delivery.
pub(crate) async fn deliver(
    link: Link<'_>,
    card: &dyn Card,
    issued: &IssuedCertificate,
) -> Result<(), FetchError> {
    checked_card(card, link.order)?;
    let key = card
        .key_metadata(KeySlot::Signing)?
        .ok_or(FetchError::NotForThisKey)?;
    let cert_key = certificate_key(&issued.der)
        .ok_or_else(|| FetchError::Malformed("the server's certificate".into()))?;
    if !same_key(&cert_key, &key.public_key_spki) {
        return Err(FetchError::NotForThisKey);
    }
    if card.read_certificate(KeySlot::Signing)?.as_deref() != Some(issued.der.as_slice()) {
        // A card without a management key writes what its session allows.
        management(link, card).await?;
        card.write_certificate(KeySlot::Signing, Some(&issued.der))?;
        if card.read_certificate(KeySlot::Signing)?.as_deref() != Some(issued.der.as_slice()) {
            return Err(FetchError::Malformed(
                "the certificate read back differs".into(),
            ));
        }
    }
    link.remote
        .delivered(link.server, link.app_token, &issued.serial)
        .await?;
    Ok(())
}

/// The serial of a DER certificate: big-endian, no leading zero bytes.
fn certificate_serial(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let raw = cert.raw_serial();
    let start = raw.iter().position(|b| *b != 0)?;
    Some(raw[start..].to_vec())
}

fn hex_upper(bytes: Vec<u8>) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The SubjectPublicKeyInfo (DER) of a DER certificate.
fn certificate_key(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.public_key().raw.to_vec())
}

/// Whether two DER SubjectPublicKeyInfos carry the same key.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    match (
        SubjectPublicKeyInfo::from_der(a),
        SubjectPublicKeyInfo::from_der(b),
    ) {
        (Ok((_, ka)), Ok((_, kb))) => {
            ka.algorithm.algorithm == kb.algorithm.algorithm
                && ka.subject_public_key.data == kb.subject_public_key.data
        }
        _ => false,
    }
}

/// The eID app's servers for fetches driven without the loopback UI: one HTTP client
/// (keep-alive), as the running app keeps one, for as many fetches as its holder makes.
#[derive(Debug, Clone)]
pub struct FetchClient {
    remote: Arc<Remote>,
}

impl FetchClient {
    /// A client for the servers at `servers` (`http(s)://host[:port]`), the only ones it
    /// will fetch orders from.
    pub fn new(servers: &[String]) -> Result<Self, FetchError> {
        let remote = Remote::new(servers)
            .map_err(|e| FetchError::Server(RemoteError::Http(e.to_string())))?;
        Ok(Self {
            remote: Arc::new(remote),
        })
    }

    /// Fetches the order with its autostart token from the first server that has it.
    pub async fn fetch(&self, autostart_token: &str) -> Result<SigningFetch, FetchError> {
        let (server, fetched) = self.remote.fetch(autostart_token).await?;
        if fetched.order.kind != OrderKind::EnrollSign {
            return Err(FetchError::NotAFetch);
        }
        Ok(SigningFetch {
            remote: Arc::clone(&self.remote),
            server,
            app_token: fetched.app_token,
            order: fetched.order,
        })
    }
}

/// A signing-certificate fetch driven without the loopback UI: the same steps the app's
/// dialog takes, for tools and tests that hold the card themselves.
#[derive(Debug)]
pub struct SigningFetch {
    remote: Arc<Remote>,
    server: usize,
    app_token: String,
    order: AppOrder,
}

impl SigningFetch {
    /// Fetches the order with its autostart token from `server` (`http(s)://host[:port]`).
    pub async fn fetch(server: &str, autostart_token: &str) -> Result<Self, FetchError> {
        FetchClient::new(&[server.to_owned()])?
            .fetch(autostart_token)
            .await
    }

    /// The order as fetched.
    pub fn order(&self) -> &AppOrder {
        &self.order
    }

    fn link(&self) -> Link<'_> {
        Link {
            remote: &self.remote,
            server: self.server,
            app_token: &self.app_token,
            order: &self.order,
        }
    }

    /// Reports a hint (`userSign`, `cardRemoved`, `userCancel`, …).
    pub async fn report(&self, hint: HintCode) -> Result<(), FetchError> {
        Ok(self
            .remote
            .report(self.server, &self.app_token, hint)
            .await?)
    }

    /// Step 1: the key in 9C (used again or generated under the relayed management key),
    /// its attestation and its certificate request, signed after the signing code.
    pub async fn prepare_key(
        &self,
        card: &dyn Card,
        signing_code: &Pin,
    ) -> Result<PreparedKey, FetchError> {
        prepare_key(self.link(), card, signing_code).await
    }

    /// Step 2: PIN1, the approval of the key, and the completion; the signing certificate.
    pub async fn approve(
        &self,
        card: &dyn Card,
        pin1: &Pin,
        key: &PreparedKey,
    ) -> Result<IssuedCertificate, FetchError> {
        approve(self.link(), card, pin1, key).await
    }

    /// Step 3: the certificate written to the card (9C), read back, and the delivery
    /// confirmed.
    pub async fn deliver(
        &self,
        card: &dyn Card,
        issued: &IssuedCertificate,
    ) -> Result<(), FetchError> {
        deliver(self.link(), card, issued).await
    }

    /// The whole fetch in the order the app's dialog takes it (`userSign` reported, then
    /// steps 1, 2 and 3), for a holder whose codes are at hand at once: `eid bench
    /// enroll`. The dialog runs the same steps one form at a time; as it does, a failure
    /// is reported to the server with its hint ([`FetchError::hint`]) and returned, and a
    /// report that does not go through does not stop the fetch.
    pub async fn run(
        &self,
        card: &dyn Card,
        signing_code: &Pin,
        pin1: &Pin,
    ) -> Result<IssuedCertificate, FetchError> {
        self.report_quietly(HintCode::UserSign).await;
        let result: Result<IssuedCertificate, FetchError> = async {
            let key = self.prepare_key(card, signing_code).await?;
            let issued = self.approve(card, pin1, &key).await?;
            self.deliver(card, &issued).await?;
            Ok(issued)
        }
        .await;
        if let Err(e) = &result
            && let Some(hint) = e.hint()
        {
            self.report_quietly(hint).await;
        }
        result
    }

    async fn report_quietly(&self, hint: HintCode) {
        if let Err(e) = self.report(hint).await {
            tracing::info!(error = %e, "a hint could not be reported");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use super::*;

    #[test]
    fn keys_serials_and_hints() {
        let a = rcgen::KeyPair::generate().unwrap();
        let b = rcgen::KeyPair::generate().unwrap();
        use rcgen::PublicKeyData as _;
        assert!(same_key(
            &a.subject_public_key_info(),
            &a.subject_public_key_info()
        ));
        assert!(!same_key(
            &a.subject_public_key_info(),
            &b.subject_public_key_info()
        ));
        assert!(!same_key(b"junk", &a.subject_public_key_info()));
        let mut params = rcgen::CertificateParams::default();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x4A, 0x0B]));
        let cert = params.self_signed(&a).unwrap();
        assert_eq!(certificate_serial(cert.der()), Some(vec![0x4A, 0x0B]));
        assert_eq!(hex_upper(vec![0x4A, 0x0B]), "4A0B");
        assert!(same_key(
            &certificate_key(cert.der()).unwrap(),
            &a.subject_public_key_info()
        ));
        assert_eq!(
            FetchError::Card(CardError::CardRemoved).hint(),
            Some(HintCode::CardRemoved)
        );
        assert_eq!(
            FetchError::Card(CardError::WrongPin { tries_left: 0 }).hint(),
            Some(HintCode::PinBlocked)
        );
        assert_eq!(FetchError::NotForThisKey.hint(), None);
    }
}
