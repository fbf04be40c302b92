//! The wire types of fetching a signing certificate (`enrollSign`) beyond the order itself:
//! the relayed management-key challenge–response, the enrollment evidence the completion
//! carries, the issued certificate it answers, the delivery confirmation, and the error
//! body every app endpoint answers a refusal with. `docs/protocol.md` ("Fetching a signing
//! certificate") has the sequence.
//!
//! Nothing here is secret: a management challenge and its response are good for one
//! command session of one card, certificates are public, and no PIN ever goes on the wire.

use serde::{Deserialize, Serialize};

/// The version of the enrollment part of the app API (the endpoints under
/// `/app/v1/enroll/` and the enrollment fields of the completion). A server that changes
/// their meaning gets a new version and says so in `docs/protocol.md`.
pub const ENROLL_PROTOCOL_VERSION: u32 = 1;

/// Length of a PIV management-key challenge and of its response (AES-128 block).
pub const MANAGEMENT_BLOCK: usize = 16;

/// `POST /app/v1/enroll/management`: the card's management-key challenge, relayed by the
/// app to the server (which holds the master key and answers only for the order's card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagementChallenge {
    /// The 16 bytes the card answered to GENERAL AUTHENTICATE `08 9B` (witness request).
    #[serde(with = "crate::b64")]
    pub challenge: Vec<u8>,
}

impl ManagementChallenge {
    /// The challenge as the block the card sent, if it has the right length.
    pub fn block(&self) -> Option<[u8; MANAGEMENT_BLOCK]> {
        self.challenge.as_slice().try_into().ok()
    }
}

/// The answer to a [`ManagementChallenge`]: AES-128-ECB of the challenge under the card's
/// diversified management key, for the app to hand to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagementResponse {
    /// 16 bytes.
    #[serde(with = "crate::b64")]
    pub response: Vec<u8>,
}

/// What an `enrollSign` completion carries besides the PIN1 signature: the evidence about
/// the new key that the server checks before it issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentEvidence {
    /// PKCS#10 request (DER) for the new key, signed on the card by the key itself (proof
    /// of possession). Its subject is ignored: the subject comes from the store.
    #[serde(with = "crate::b64")]
    pub certificate_request: Vec<u8>,
    /// The card's attestation of slot 9C (DER X.509, signed by the card's F9 key, which
    /// the platform's CA certified at personalisation). Absent for a card that cannot
    /// attest; such a key is certified only where the organisation accepts unattested keys.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::option"
    )]
    pub attestation: Option<Vec<u8>>,
    /// The certificate of the card's F9 key as the card holds it (object `5FFF01`, DER),
    /// sent with the attestation. The server needs it for a plain PIV card (a YubiKey),
    /// whose F9 key its maker certified, and checks it against the maker's roots it is
    /// configured with; an eID card's is in the server's store already.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::option"
    )]
    pub attestation_key_certificate: Option<Vec<u8>>,
}

/// `POST /app/v1/enroll/delivered`: the app wrote the issued certificate to the card (9C
/// certificate object) and read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryConfirmation {
    /// The serial of the certificate now on the card (upper-case hex).
    pub certificate_serial: String,
}

/// The body of every refusal of the app API (and of the page's JSON calls):
/// `{"errorCode": …, "details": …}`. Codes the app does not know are still shown by their
/// details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code: `invalidParameters`, `tokenRefused`, `notPending`,
    /// `expiredTransaction`, `certificateErr`, `wrongCard`, `alreadyInProgress`,
    /// `enrollmentRefused`, `managementRefused`, `rateLimited`, `internalError`, …
    pub error_code: String,
    /// Plain words for the card holder or the log; never a secret.
    #[serde(default)]
    pub details: String,
    /// For `enrollmentRefused`: a stable name of the refusal (`notApprovedKey`,
    /// `attestationRefused`, `attestationRequired`, `authenticationKey`,
    /// `keyAlreadyCertified`, `signingDisabled`, `notEntitled`, `personNotActive`,
    /// `cardNotUsable`, `noAuthenticationCertificate`, `badRequest`, `other`), so the app
    /// can say it in the card holder's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use serde_json::json;

    use super::*;

    #[test]
    fn enrollment_types_are_camel_case_base64() {
        let c: ManagementChallenge =
            serde_json::from_value(json!({"challenge": "AAECAwQFBgcICQoLDA0ODw=="})).unwrap();
        assert_eq!(c.block(), Some(core::array::from_fn(|i| i as u8)));
        let short: ManagementChallenge =
            serde_json::from_value(json!({"challenge": "AAE="})).unwrap();
        assert_eq!(short.block(), None);
        assert!(
            serde_json::from_value::<ManagementChallenge>(json!({"challenge": "AAE=", "x": 1}))
                .is_err()
        );
        let evidence = EnrollmentEvidence {
            certificate_request: vec![0x30, 0x00],
            attestation: None,
            attestation_key_certificate: None,
        };
        assert_eq!(
            serde_json::to_value(&evidence).unwrap(),
            json!({"certificateRequest": "MAA="})
        );
        let d: DeliveryConfirmation =
            serde_json::from_value(json!({"certificateSerial": "4A0B"})).unwrap();
        assert_eq!(d.certificate_serial, "4A0B");
        let e: ErrorBody =
            serde_json::from_value(json!({"errorCode": "alreadyInProgress"})).unwrap();
        assert_eq!(e.details, "");
    }
}
