//! Orders on the wire: what the relying side (the identity provider's pages) and the eID
//! app send and receive. JSON, camelCase, as the BankID relying-party API; binary fields
//! are standard base64; times RFC 3339.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::HintCode;

/// What an order asks of the card holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OrderKind {
    /// Log in: the card's authentication key (PIN1) signs the order.
    Auth,
    /// Approve fetching a signing certificate onto the card: the authentication key signs
    /// an order that names the new key, the card and the authentication certificate.
    EnrollSign,
    /// Change a PIN (later).
    ChangePin,
    /// Unblock a PIN with the PUK (later).
    UnblockPin,
    /// Sign a document with the signing key (later).
    Sign,
}

impl OrderKind {
    /// The wire name: `auth`, `enrollSign`, `changePin`, `unblockPin`, `sign`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::EnrollSign => "enrollSign",
            Self::ChangePin => "changePin",
            Self::UnblockPin => "unblockPin",
            Self::Sign => "sign",
        }
    }

    /// The kind with this wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Auth,
            Self::EnrollSign,
            Self::ChangePin,
            Self::UnblockPin,
            Self::Sign,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderStatus {
    /// Still going: see the hint code.
    Pending,
    /// Done: the card holder signed and the browser that started the order came back.
    Complete,
    /// Ended without success: see the hint code.
    Failed,
}

impl OrderStatus {
    /// The wire name: `pending`, `complete`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    /// The status with this wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Complete, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The answer to starting an order. The QR start secret is not here: it never leaves the
/// server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    /// The order's reference, for `collect` and `cancel`.
    pub order_ref: String,
    /// One-time token that lets the eID app on this device fetch the order
    /// (`eid:///?autostarttoken=<token>`).
    pub auto_start_token: String,
    /// Public part of the animated QR code (the "another device" flow, later).
    pub qr_start_token: String,
}

/// The answer to `collect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectResponse {
    /// The order collected.
    pub order_ref: String,
    /// Pending, complete or failed.
    pub status: OrderStatus,
    /// Why pending or failed; absent when complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_code: Option<HintCode>,
    /// Who signed, with which card and certificate; only when complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_data: Option<CompletionData>,
}

/// What a completed order proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionData {
    /// The card holder.
    pub user: CompletionUser,
    /// The card that signed.
    pub card_number: String,
    /// Serial of the authentication certificate that verified the signature (upper-case
    /// hex, as `openssl x509 -serial`).
    pub certificate_serial: String,
    /// The card's signature (DER ECDSA) over SHA-256 of the to-be-signed bytes.
    #[serde(with = "crate::b64")]
    pub signature: Vec<u8>,
    /// When the card holder signed.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
}

/// The card holder of a completed order, from the platform's records (never from the card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionUser {
    /// HSA-id.
    pub hsa_id: String,
    /// "Given name surname".
    pub name: String,
    /// Given name.
    pub given_name: String,
    /// Surname.
    pub surname: String,
    /// The organisation's number.
    pub org_number: String,
}

/// The order as the eID app sees it: everything it shows the card holder and everything it
/// puts into the [`ToBeSigned`](crate::ToBeSigned) structure. The app builds what the card
/// signs from this, never from the launch link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppOrder {
    /// The order's reference.
    pub order_ref: String,
    /// What is asked.
    pub kind: OrderKind,
    /// Who asks: the display name of the service (client) that started the order.
    pub requester: String,
    /// The text shown to the card holder (and signed).
    pub text: String,
    /// The server's origin (`https://host[:port]`), as the app reached it; signed.
    pub server_origin: String,
    /// The server's nonce for this order; signed.
    pub server_nonce: String,
    /// When the order expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// For an `enrollSign` order: the card it is for (another card is the wrong card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_number: Option<String>,
}

/// The answer to the app's fetch by autostart token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppFetchResponse {
    /// The order.
    pub order: AppOrder,
    /// The app's token for this order's later calls (report, complete). Secret.
    pub app_token: String,
}

/// The app's report of where it is (`started`, `userSign`, a card problem, `userCancel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    /// The hint code.
    pub hint_code: HintCode,
}

/// The app's completion: the card's signature and the certificate to verify it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppCompletion {
    /// DER ECDSA signature by the card's authentication key (9A) over SHA-256 of the
    /// to-be-signed bytes.
    #[serde(with = "crate::b64")]
    pub signature: Vec<u8>,
    /// The card's authentication certificate, DER.
    #[serde(with = "crate::b64")]
    pub certificate: Vec<u8>,
    /// For an `enrollSign` order: the new signing key, as a DER SubjectPublicKeyInfo (its
    /// SHA-256 is signed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::option"
    )]
    pub new_public_key: Option<Vec<u8>>,
    /// For an `enrollSign` order: the certificate request and the card's attestation of
    /// the new key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<crate::EnrollmentEvidence>,
}

/// The answer to a completion: where the app sends the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppCompleteResponse {
    /// The return URL with the order reference and the one-time return secret appended.
    /// For an `enrollSign` order the app opens it only after it has written the
    /// certificate to the card and confirmed the delivery.
    pub return_url: String,
    /// For an `enrollSign` order: the signing certificate (DER) of the approved key,
    /// committed before it was returned; the same certificate again when the key already
    /// had one (a resumed fetch).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::b64::option"
    )]
    pub certificate: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn kinds_and_statuses_use_their_wire_names() {
        for kind in [
            OrderKind::Auth,
            OrderKind::EnrollSign,
            OrderKind::ChangePin,
            OrderKind::UnblockPin,
            OrderKind::Sign,
        ] {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, json!(kind.as_str()));
            assert_eq!(OrderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            serde_json::to_value(OrderKind::EnrollSign).unwrap(),
            json!("enrollSign")
        );
        assert_eq!(OrderKind::parse("enroll_sign"), None);
        for status in [
            OrderStatus::Pending,
            OrderStatus::Complete,
            OrderStatus::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn start_and_collect_are_camel_case_and_round_trip() {
        let start = StartResponse {
            order_ref: "r".into(),
            auto_start_token: "a".into(),
            qr_start_token: "q".into(),
        };
        let json = serde_json::to_value(&start).unwrap();
        assert_eq!(
            json,
            json!({"orderRef": "r", "autoStartToken": "a", "qrStartToken": "q"})
        );
        assert_eq!(
            serde_json::from_value::<StartResponse>(json).unwrap(),
            start
        );

        let pending = CollectResponse {
            order_ref: "r".into(),
            status: OrderStatus::Pending,
            hint_code: Some(HintCode::UserSign),
            completion_data: None,
        };
        let json = serde_json::to_value(&pending).unwrap();
        assert_eq!(
            json,
            json!({"orderRef": "r", "status": "pending", "hintCode": "userSign"})
        );
        assert_eq!(
            serde_json::from_value::<CollectResponse>(json).unwrap(),
            pending
        );

        let complete = CollectResponse {
            order_ref: "r".into(),
            status: OrderStatus::Complete,
            hint_code: None,
            completion_data: Some(CompletionData {
                user: CompletionUser {
                    hsa_id: "SE2321000016-A1B2".into(),
                    name: "Anna Andersson".into(),
                    given_name: "Anna".into(),
                    surname: "Andersson".into(),
                    org_number: "2321000016".into(),
                },
                card_number: "9752000001".into(),
                certificate_serial: "4A0B".into(),
                signature: vec![0x30, 0x02, 0xff],
                signed_at: datetime!(2026-06-01 09:00 UTC),
            }),
        };
        let json = serde_json::to_value(&complete).unwrap();
        assert_eq!(json["completionData"]["user"]["hsaId"], "SE2321000016-A1B2");
        assert_eq!(json["completionData"]["signature"], "MAL/");
        assert_eq!(json["completionData"]["signedAt"], "2026-06-01T09:00:00Z");
        assert_eq!(
            serde_json::from_value::<CollectResponse>(json).unwrap(),
            complete
        );
    }

    #[test]
    fn an_unknown_hint_code_in_collect_is_kept() {
        let json = json!({"orderRef": "r", "status": "failed", "hintCode": "somethingNew"});
        let collect: CollectResponse = serde_json::from_value(json).unwrap();
        assert_eq!(
            collect.hint_code,
            Some(HintCode::Unknown("somethingNew".into()))
        );
    }

    #[test]
    fn app_types_round_trip() {
        let order = AppOrder {
            order_ref: "r".into(),
            kind: OrderKind::EnrollSign,
            requester: "Mina sidor".into(),
            text: "Hämta underskriftscertifikat".into(),
            server_origin: "https://eid.example".into(),
            server_nonce: "n".into(),
            expires_at: datetime!(2026-06-01 09:03 UTC),
            card_number: Some("9752000001".into()),
        };
        let fetched = AppFetchResponse {
            order,
            app_token: "t".into(),
        };
        let json = serde_json::to_value(&fetched).unwrap();
        assert_eq!(json["order"]["kind"], "enrollSign");
        assert_eq!(json["order"]["cardNumber"], "9752000001");
        assert_eq!(json["appToken"], "t");
        assert_eq!(
            serde_json::from_value::<AppFetchResponse>(json).unwrap(),
            fetched
        );

        let completion = AppCompletion {
            signature: vec![1, 2, 3],
            certificate: vec![0x30, 0x00],
            new_public_key: None,
            enrollment: None,
        };
        let json = serde_json::to_value(&completion).unwrap();
        assert_eq!(json, json!({"signature": "AQID", "certificate": "MAA="}));
        assert_eq!(
            serde_json::from_value::<AppCompletion>(json).unwrap(),
            completion
        );
        let with_key = AppCompletion {
            new_public_key: Some(vec![9]),
            ..completion
        };
        let json = serde_json::to_value(&with_key).unwrap();
        assert_eq!(json["newPublicKey"], "CQ==");
        assert_eq!(
            serde_json::from_value::<AppCompletion>(json).unwrap(),
            with_key
        );
        assert!(
            serde_json::from_value::<AppCompletion>(json!({"signature": "*", "certificate": ""}))
                .is_err()
        );

        let report: AppReport = serde_json::from_value(json!({"hintCode": "cardRemoved"})).unwrap();
        assert_eq!(report.hint_code, HintCode::CardRemoved);
    }
}
