//! The `enrollSign` steps beyond signing the order (`docs/protocol.md`, "Fetching a signing
//! certificate"): the management-key responses the app relays to the card, the RA step at
//! completion (called from [`Orders::app_complete`] once the PIN1 signature verified), and
//! the app's confirmation that the certificate is on the card.
//!
//! One fetch per card at a time: every management response and the completion claim the
//! card for the order in the store ([`EnrollStore::claim_card`]); while another pending,
//! unexpired `enrollSign` order holds it, the step is refused and the late order fails with
//! `alreadyInProgress`. Management responses are counted per order
//! ([`MANAGEMENT_RESPONSES_PER_ORDER`]) and audited (`card.management`), never logged with
//! their bytes.
//!
//! A fetch abandoned mid-way (the app closed after it made the key) must not hold the card
//! until it expires, so the *newer* fetch wins, at two points and never otherwise:
//!
//! - **Start.** A new `enrollSign` order supersedes the card's older orders that are not
//!   yet signed ([`Orders::start`]): they fail with `cancelled` (`order.fail`, naming the
//!   new order) in the transaction that adds the new one. Safe at any step before the
//!   signature: only a management response lets an app change the card (GENERATE, the
//!   certificate write), a claim is granted only to a pending order, and from this
//!   transaction on the older order is failed, so it gets no further response and cannot
//!   complete. What it left on the card (a key in 9C without a certificate) is what the
//!   newer fetch's app uses again.
//! - **Resume.** A signed order (its certificate issued and committed, not yet confirmed
//!   on the card) is never superseded at the start: while it holds the card, the newer
//!   order's management responses are refused (`alreadyInProgress`), since one might
//!   replace the key whose certificate was just issued. Only the newer order's completion
//!   *for the same key* takes the card over (the holder fails with `cancelled`): it
//!   delivers the same certificate again and needs no new key, which is the resume path
//!   of `docs/protocol.md` ("Nothing lost").
//!
//! So of two fetches at once for one card, one wins and the other ends with a clear
//! refusal: the older with `cancelled` when the newer starts, or the newer with
//! `alreadyInProgress` while the older holds a card with an issued certificate.

use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use eid_pki::{
    EnrollError, IssueError, SigningEnrollment, ValidAuthentication, enroll_signing_key,
};
use eid_protocol::{AppCompletion, HintCode, MANAGEMENT_BLOCK, OrderKind};
use eid_store::enroll::{CardClaim, ClaimOutcome, Delivery, EnrollStore, Resume, Supersede};
use eid_store::orders::{OrderRecord, OrderState, OrderStore};
use eid_store::{CertKind, CertificateRecord, RevocationReason, Serial, Store, StoreError};

use crate::engine::event;
use crate::{OrderError, Orders};

/// The most management-key responses one order gets: the key generation and the
/// certificate write take one each; the rest are for a card pulled out and put back.
pub const MANAGEMENT_RESPONSES_PER_ORDER: u32 = 6;

impl<S: Store + OrderStore + EnrollStore + 'static> Orders<S> {
    /// The answer to the management-key challenge of the card of the `enrollSign` order
    /// fetched with `app_token`: AES-128 of the challenge under the card's diversified key.
    /// Only for a pending, unexpired order that holds its card (no other fetch for the card
    /// is in progress), at most [`MANAGEMENT_RESPONSES_PER_ORDER`] times, audited.
    #[tracing::instrument(skip_all)]
    pub async fn management_response(
        &self,
        app_token: &str,
        challenge: &[u8],
        now: OffsetDateTime,
    ) -> Result<[u8; MANAGEMENT_BLOCK], OrderError> {
        let order = self.app_order_record(app_token).await?;
        let card = self.open_enrollment(&order, now)?;
        let challenge: [u8; MANAGEMENT_BLOCK] = challenge.try_into().map_err(|_| {
            OrderError::InvalidParameters("a management challenge has 16 bytes".into())
        })?;
        let master = self
            .card_master
            .as_ref()
            .ok_or_else(|| OrderError::Config("the server holds no card master key".into()))?;
        self.claim(&order, &card, true, None, "card.management", now)
            .await?;
        master
            .management_response(&card, &challenge)
            .ok_or_else(|| OrderError::Config("AES failed on the challenge".into()))
    }

    /// The RA step of an `enrollSign` completion whose PIN1 signature verified: claims the
    /// card, checks the request, the attestation, the key and the policy, and returns the
    /// signing certificate (issued and committed now, or the key's existing one). A refusal
    /// fails the order (`certificateErr`, or `alreadyInProgress`).
    pub(crate) async fn enroll<R: CryptoRng + ?Sized>(
        &self,
        order: &OrderRecord,
        signer: &ValidAuthentication,
        completion: &AppCompletion,
        approved_key_sha256: [u8; 32],
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<CertificateRecord, OrderError> {
        let Some(evidence) = &completion.enrollment else {
            return Err(OrderError::InvalidParameters(
                "an enrollSign completion needs the certificate request".into(),
            ));
        };
        let card = self.open_enrollment(order, now)?;
        let resume = Resume {
            key_sha256: approved_key_sha256,
            supersede: self.superseded_by(
                &order.order_ref,
                &format!("person:{}", signer.person.hsa_id),
                now,
            ),
        };
        self.claim(order, &card, false, Some(resume), "order.enroll", now)
            .await?;
        let hsa_id = signer.person.hsa_id.clone();
        let request = SigningEnrollment {
            hsa_id: &hsa_id,
            card_number: &card,
            approved_key_sha256,
            certificate_request: &evidence.certificate_request,
            attestation: evidence.attestation.as_deref(),
            attestation_key_certificate: evidence.attestation_key_certificate.as_deref(),
        };
        let store: &dyn Store = &*self.store;
        match enroll_signing_key(
            &self.ca,
            &self.vendor_roots,
            store,
            &request,
            &format!("person:{hsa_id}"),
            now,
            rng,
        )
        .await
        {
            Ok(enrolled) => {
                if enrolled.resumed {
                    tracing::info!(serial = %enrolled.record.serial, "the key's certificate is delivered again");
                }
                Ok(enrolled.record)
            }
            Err(EnrollError::Store(e) | EnrollError::Issue(IssueError::Store(e))) => Err(e.into()),
            Err(e) => {
                let why = e.to_string();
                self.fail(order, HintCode::CertificateErr, &why, now)
                    .await?;
                Err(OrderError::EnrollmentRefused {
                    reason: e.reason(),
                    details: why,
                })
            }
        }
    }

    /// The app confirms that the signing certificate `serial` is written to the card of
    /// the `enrollSign` order fetched with `app_token` (signed by the card holder, the
    /// certificate of the approved key on the order's card). Recorded once, audited
    /// (`certificate.deliver`); confirming again changes nothing. A new delivery revokes
    /// the card's other signing certificates in force as `superseded`
    /// (`certificate.revoke`, in the same store transaction): a renewal leaves exactly one
    /// valid signing certificate on the card, and the old one stays valid until the new
    /// one is written.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_delivery(
        &self,
        app_token: &str,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<(), OrderError> {
        let order = self.app_order_record(app_token).await?;
        if order.kind != OrderKind::EnrollSign.as_str() {
            return Err(OrderError::InvalidParameters(
                "only an enrollSign order delivers a certificate".into(),
            ));
        }
        let Some(signature) = &order.signature else {
            return Err(OrderError::NotPending);
        };
        let serial: Serial = serial
            .parse()
            .map_err(|_| OrderError::InvalidParameters("a serial is upper-case hex".into()))?;
        let cert = self
            .store
            .certificate(&serial)
            .await?
            .ok_or(OrderError::NotFound)?;
        if cert.kind != CertKind::Signing
            || cert.card_number.as_deref() != Some(signature.card_number.as_str())
            || Some(cert.public_key_sha256) != signature.approved_key_sha256
        {
            return Err(OrderError::InvalidParameters(
                "the certificate is not the one this order approved".into(),
            ));
        }
        let delivery = Delivery {
            serial: serial.clone(),
            card_number: signature.card_number.clone(),
            order_ref: order.order_ref.clone(),
            at: now,
            audit: event(
                now,
                &format!("person:{}", signature.hsa_id),
                "certificate.deliver",
                &serial.to_string(),
                json!({ "order": order.order_ref, "card": signature.card_number }),
            ),
            // The card's previous signing certificate is revoked only now that the new
            // one is on the card (a renewal), in the delivery's transaction.
            superseded_audit: event(
                now,
                &format!("person:{}", signature.hsa_id),
                "certificate.revoke",
                "",
                json!({
                    "reason": RevocationReason::Superseded,
                    "kind": CertKind::Signing,
                    "card": signature.card_number,
                    "supersededBy": serial.to_string(),
                }),
            ),
        };
        self.store.confirm_delivery(&delivery).await?;
        Ok(())
    }

    /// The card of a pending, unexpired `enrollSign` order.
    fn open_enrollment(
        &self,
        order: &OrderRecord,
        now: OffsetDateTime,
    ) -> Result<String, OrderError> {
        if order.kind != OrderKind::EnrollSign.as_str() {
            return Err(OrderError::InvalidParameters(
                "only an enrollSign order uses the card's management key".into(),
            ));
        }
        if order.state != OrderState::Pending {
            return Err(OrderError::NotPending);
        }
        if now >= order.expires_at {
            return Err(OrderError::Expired);
        }
        if !self.config.enroll_clients.contains(&order.requester_id) {
            return Err(OrderError::InvalidParameters(
                "a signing certificate is fetched only from My Pages".into(),
            ));
        }
        order.card_number.clone().ok_or_else(|| {
            OrderError::Store(StoreError::Corrupt(format!(
                "enrollSign order {} has no card",
                order.order_ref
            )))
        })
    }

    /// How an older order ends when the order `by` (started or resumed by `actor`)
    /// supersedes it: failed with `cancelled`, collectable as long as any failed order,
    /// audited as `order.fail` naming `by` (the store sets each entry's subject).
    pub(crate) fn superseded_by(&self, by: &str, actor: &str, now: OffsetDateTime) -> Supersede {
        Supersede {
            hint: HintCode::Cancelled.as_str().to_owned(),
            purge_after: now + self.config.failed_kept,
            audit: event(
                now,
                actor,
                "order.fail",
                by,
                json!({
                    "hint": HintCode::Cancelled.as_str(),
                    "reason": "superseded by a newer fetch for the card",
                    "supersededBy": by,
                }),
            ),
        }
    }

    /// Claims `card` for `order` (counted or not; a completion with the key it `resume`s);
    /// refused while another fetch holds it (the order then fails with
    /// `alreadyInProgress`), when the budget is spent, or when the order ended meanwhile
    /// (superseded, cancelled, expired).
    async fn claim(
        &self,
        order: &OrderRecord,
        card: &str,
        counts: bool,
        resume: Option<Resume>,
        action: &str,
        now: OffsetDateTime,
    ) -> Result<(), OrderError> {
        let claim = CardClaim {
            card_number: card.to_owned(),
            order_ref: order.order_ref.clone(),
            counts,
            max: MANAGEMENT_RESPONSES_PER_ORDER,
            until: order.expires_at,
            now,
            resume,
            audit: event(
                now,
                &format!("client:{}", order.requester_id),
                action,
                card,
                json!({ "order": order.order_ref }),
            ),
        };
        match self.store.claim_card(&claim).await? {
            ClaimOutcome::Granted(_) => Ok(()),
            ClaimOutcome::Busy { .. } => {
                self.fail(
                    order,
                    HintCode::AlreadyInProgress,
                    "another fetch for the card is in progress",
                    now,
                )
                .await?;
                Err(OrderError::AlreadyInProgress)
            }
            ClaimOutcome::Exhausted => Err(OrderError::ManagementRefused(format!(
                "an order gets at most {MANAGEMENT_RESPONSES_PER_ORDER} management responses"
            ))),
            ClaimOutcome::Ended if now >= order.expires_at => Err(OrderError::Expired),
            ClaimOutcome::Ended => Err(OrderError::NotPending),
        }
    }
}
