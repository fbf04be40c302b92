//! The ends of a card's and a certificate's life that change several records at once: a
//! card revoked (lost, stolen) with everything that trusted it, and the signing certificates
//! issued but never written to their card. `docs/certificates.md`, "Life cycle".
//!
//! Both are one transaction each ([`crate::Store::revoke_card`],
//! [`crate::Store::revoke_undelivered`]): a card is never left revoked with a certificate still
//! valid or a session still live, and a certificate confirmed on its card in the meantime is
//! never revoked as undelivered. Every revocation goes through the certificates table, so
//! whatever watches it (the revocation marker of [`crate::revocation`]) sees these too.

use time::OffsetDateTime;

use serde_json::{Map, Value, json};

use crate::model::{AuditEvent, CertificateRecord, RevocationReason, Serial};

/// A card to revoke, with what the audit log says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRevocation {
    /// The card.
    pub card_number: String,
    /// Why its certificates are revoked (RFC 5280 reason code).
    pub reason: RevocationReason,
    /// When.
    pub at: OffsetDateTime,
    /// `card.revoke`, appended once; the store adds the outcome to its details (an object):
    /// `certificates` (the serials revoked), `login_sessions`, `grants`, `portal_sessions`.
    pub audit: AuditEvent,
    /// `certificate.revoke`, appended once per certificate revoked with `subject` set to its
    /// serial (actor, time and details as given, plus `reason`, `kind` and `card`).
    pub certificate_audit: AuditEvent,
}

/// What revoking a card ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardRevoked {
    /// The certificates revoked now (those revoked before are left as they were).
    pub certificates: Vec<Serial>,
    /// Login sessions of the identity provider ended.
    pub login_sessions: u64,
    /// Grants (access tokens) of those sessions revoked.
    pub grants: u64,
    /// My Pages sessions made with the card, ended.
    pub portal_sessions: u64,
}

/// Signing certificates that were issued but never confirmed on their card, to revoke
/// ([`crate::Store::revoke_undelivered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeliveredRevocation {
    /// Certificates issued before this time and still not confirmed on their card are
    /// revoked.
    pub issued_before: OffsetDateTime,
    /// Why (RFC 5280 reason code).
    pub reason: RevocationReason,
    /// Now: the time of the revocation. A certificate whose card a fetch holds at this time
    /// (it may be writing that very certificate) is left for a later pass.
    pub at: OffsetDateTime,
    /// `certificate.revoke`, appended once per certificate revoked with `subject` set to its
    /// serial (actor, time and details as given, plus `reason`, `kind` and `card`).
    pub audit: AuditEvent,
}

/// `details` (an object, or wrapped in one under `details`) with `facts` added.
pub(crate) fn with_facts(
    details: &serde_json::Value,
    facts: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut object = match details {
        serde_json::Value::Object(map) => map.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("details".into(), other.clone());
            map
        }
    };
    object.extend(facts);
    serde_json::Value::Object(object)
}

/// The card's audit event of a committed [`CardRevocation`]: its template with what was
/// revoked and ended.
pub(crate) fn card_revoked_event(r: &CardRevocation, outcome: &CardRevoked) -> AuditEvent {
    let mut facts = Map::new();
    facts.insert("reason".into(), json!(r.reason));
    facts.insert(
        "certificates".into(),
        json!(
            outcome
                .certificates
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    facts.insert("login_sessions".into(), json!(outcome.login_sessions));
    facts.insert("grants".into(), json!(outcome.grants));
    facts.insert("portal_sessions".into(), json!(outcome.portal_sessions));
    AuditEvent {
        details: with_facts(&r.audit.details, facts),
        ..r.audit.clone()
    }
}

/// `template` for one certificate: its serial as the subject, its facts in the details.
pub(crate) fn certificate_event(
    template: &AuditEvent,
    cert: &CertificateRecord,
    reason: RevocationReason,
) -> AuditEvent {
    let mut facts = Map::new();
    facts.insert("reason".into(), json!(reason));
    facts.insert("kind".into(), json!(cert.kind));
    facts.insert(
        "card".into(),
        cert.card_number.as_ref().map_or(Value::Null, |c| json!(c)),
    );
    AuditEvent {
        subject: cert.serial.to_string(),
        details: with_facts(&template.details, facts),
        ..template.clone()
    }
}
