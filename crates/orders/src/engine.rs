//! [`Orders`]: the browser's side of the order protocol (open a browser session, start,
//! collect, cancel, return with the one-time secret) and what both sides share. The app's
//! side is in `app.rs`.

use std::fmt;
use std::sync::Arc;

use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use eid_pki::CertificateAuthority;
use eid_protocol::{
    CollectResponse, CompletionData, CompletionUser, HintCode, OrderKind, OrderStatus,
    StartResponse,
};
use eid_store::enroll::{EnrollStore, NewEnrollment};
use eid_store::orders::{
    BrowserSession, OrderRecord, OrderState, OrderStore, Purged, ReturnOutcome, ReturnToOrder,
};
use eid_store::{AuditEvent, Store, StoreError};

use crate::tokens::{order_ref, sha256, token};
use crate::{OrderConfig, OrderError};

/// The longest text shown to the card holder, in characters.
const MAX_TEXT: usize = 1500;

/// The longest return URL, in bytes.
const MAX_RETURN_URL: usize = 2000;

/// The service that asks for the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The client's id (e.g. `mypages`); recorded and audited.
    pub client_id: String,
    /// Its display name, shown to the card holder in the app (e.g. `Mina sidor`).
    pub display_name: String,
}

/// An order to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// `auth` or `enrollSign` (the other kinds come later).
    pub kind: OrderKind,
    /// Who asks.
    pub requester: Requester,
    /// The text shown to the card holder and signed (1 to 1500 characters, no control
    /// characters but newlines).
    pub text: String,
    /// Where the app sends the browser after signing: an absolute `http(s)` URL without a
    /// fragment, chosen by the server (never taken from the browser).
    pub return_url: String,
    /// For `enrollSign`: the card the order is for (must exist and be usable); for `auth`:
    /// none.
    pub card_number: Option<String>,
}

/// A browser session id of the order flow: random, for a cookie. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The id, for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// The order engine over a store and the issuing CA (whose certificates it accepts).
#[derive(Debug)]
pub struct Orders<S> {
    pub(crate) store: Arc<S>,
    pub(crate) ca: Arc<CertificateAuthority>,
    pub(crate) config: OrderConfig,
    /// The card master key, for the management-key responses of `enrollSign` orders.
    pub(crate) card_master: Option<Arc<eid_pki::CardMasterKey>>,
    /// The card makers' attestation roots, for plain PIV cards' keys (default none).
    pub(crate) vendor_roots: Arc<eid_pki::VendorAttestationRoots>,
}

impl<S: Store + OrderStore + EnrollStore + 'static> Orders<S> {
    /// An engine; refuses an unusable configuration.
    pub fn new(
        store: Arc<S>,
        ca: Arc<CertificateAuthority>,
        config: OrderConfig,
    ) -> Result<Self, OrderError> {
        config.check()?;
        Ok(Self {
            store,
            ca,
            config,
            card_master: None,
            vendor_roots: Arc::default(),
        })
    }

    /// The engine with the card master key, from which it answers the management-key
    /// challenges of the cards of `enrollSign` orders (without it, it answers none).
    pub fn with_card_master(mut self, master: Arc<eid_pki::CardMasterKey>) -> Self {
        self.card_master = Some(master);
        self
    }

    /// The engine trusting `roots` to vouch for the attestation keys of plain PIV cards
    /// (YubiKeys) in `enrollSign` orders (without them, such cards' keys go unattested).
    pub fn with_vendor_attestation_roots(
        mut self,
        roots: Arc<eid_pki::VendorAttestationRoots>,
    ) -> Self {
        self.vendor_roots = roots;
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &OrderConfig {
        &self.config
    }

    /// Opens a browser session for the order flow; the id goes into a cookie, the store
    /// keeps its hash.
    pub async fn open_browser_session<R: CryptoRng + ?Sized>(
        &self,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<SessionId, OrderError> {
        let id = token(rng);
        self.store
            .add_browser_session(&BrowserSession {
                id_sha256: sha256(id.as_bytes()),
                created_at: now,
                expires_at: now + self.config.browser_session_lifetime,
            })
            .await?;
        Ok(SessionId(id))
    }

    /// Starts an order for `browser_session` (which must be open). Only that session may
    /// collect, cancel and complete it.
    ///
    /// An `enrollSign` order supersedes the card's older unsigned ones in the same store
    /// transaction: they fail with `cancelled` (audited `order.fail`, naming this order), so
    /// a fetch abandoned in a closed app never makes the next one wait for its expiry
    /// (`enroll.rs`, "One fetch per card").
    #[tracing::instrument(skip_all, fields(kind = %order.kind, client = %order.requester.client_id))]
    pub async fn start<R: CryptoRng + ?Sized>(
        &self,
        order: &NewOrder,
        browser_session: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<StartResponse, OrderError> {
        self.check_new_order(order).await?;
        let session = sha256(browser_session.as_bytes());
        if self.store.browser_session(&session, now).await?.is_none() {
            return Err(OrderError::NoBrowserSession);
        }
        let (reference, autostart, qr_token) = (order_ref(rng), token(rng), token(rng));
        let expires_at = now + self.config.order_lifetime;
        let record = OrderRecord {
            order_ref: reference.clone(),
            kind: order.kind.as_str().to_owned(),
            state: OrderState::Pending,
            hint: HintCode::OutstandingTransaction.as_str().to_owned(),
            autostart_token_sha256: sha256(autostart.as_bytes()),
            autostart_used: false,
            app_token_sha256: None,
            qr_start_token: qr_token.clone(),
            qr_start_secret: token(rng),
            server_nonce: token(rng),
            browser_session_sha256: session,
            requester_id: order.requester.client_id.clone(),
            requester_name: order.requester.display_name.clone(),
            return_url: order.return_url.clone(),
            text: order.text.clone(),
            card_number: order.card_number.clone(),
            created_at: now,
            expires_at,
            purge_after: expires_at + self.config.failed_kept,
            signature: None,
            return_secret_sha256: None,
            returned: false,
        };
        let actor = format!("client:{}", order.requester.client_id);
        let audit = event(
            now,
            &actor,
            "order.start",
            &reference,
            json!({ "kind": order.kind, "card": order.card_number }),
        );
        if order.kind == OrderKind::EnrollSign {
            let start = NewEnrollment {
                order: record,
                audit,
                supersede: self.superseded_by(&reference, &actor, now),
            };
            let superseded = self.store.start_enrollment(&start).await?;
            if !superseded.is_empty() {
                tracing::info!(
                    order = %reference,
                    superseded = ?superseded,
                    "a new fetch for the card superseded older ones"
                );
            }
        } else {
            self.store.add_order(&record, &audit).await?;
        }
        Ok(StartResponse {
            order_ref: reference,
            auto_start_token: autostart,
            qr_start_token: qr_token,
        })
    }

    async fn check_new_order(&self, order: &NewOrder) -> Result<(), OrderError> {
        let invalid = |why: &str| Err(OrderError::InvalidParameters(why.to_owned()));
        let r = &order.requester;
        if r.client_id.trim().is_empty() || r.display_name.trim().is_empty() {
            return invalid("the requester needs a client id and a display name");
        }
        let chars = order.text.chars().count();
        if chars == 0 || chars > MAX_TEXT {
            return invalid("the text must have 1 to 1500 characters");
        }
        if order.text.chars().any(|c| c.is_control() && c != '\n') {
            return invalid("the text must not contain control characters");
        }
        let url = &order.return_url;
        let after_scheme = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if after_scheme.is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
            || url.len() > MAX_RETURN_URL
            || url.contains('#')
            || url.bytes().any(|b| b <= b' ' || b >= 0x7f)
        {
            return invalid("the return URL must be an absolute http(s) URL without a fragment");
        }
        match (order.kind, &order.card_number) {
            (OrderKind::Auth, None) => Ok(()),
            (OrderKind::Auth, Some(_)) => invalid("a login order is not for a particular card"),
            (OrderKind::EnrollSign, _) if !self.config.enroll_clients.contains(&r.client_id) => {
                invalid("a signing certificate is fetched only from My Pages")
            }
            (OrderKind::EnrollSign, None) => invalid("an enrollSign order needs a card number"),
            (OrderKind::EnrollSign, Some(number)) => {
                let usable = self.store.card(number).await?.is_some_and(|c| {
                    matches!(
                        c.state,
                        eid_store::CardState::Active | eid_store::CardState::NotActivated
                    )
                });
                if usable {
                    Ok(())
                } else {
                    invalid("the order's card does not exist or is revoked or dead")
                }
            }
            (other, _) => Err(OrderError::InvalidParameters(format!(
                "`{other}` orders are not supported yet"
            ))),
        }
    }

    /// The order's state for the browser session that started it: pending with a hint,
    /// complete with who signed, or failed with a hint (`expiredTransaction` once a pending
    /// order is past its expiry). Collectable until it is purged (complete: 3 minutes,
    /// failed: 5 minutes by default).
    #[tracing::instrument(skip_all, fields(order = %order_ref))]
    pub async fn collect(
        &self,
        order_ref: &str,
        browser_session: &str,
        now: OffsetDateTime,
    ) -> Result<CollectResponse, OrderError> {
        let order = self.own_order(order_ref, browser_session, now).await?;
        match order.state {
            OrderState::Complete => self.completed(&order).await,
            _ => Ok(status_of(order, now)),
        }
    }

    /// [`Self::collect`] without the completion data: the state and hint only, for a
    /// caller that does not show who signed (the waiting page's poll). Same checks, one
    /// store read fewer for a complete order (the signer's person record).
    #[tracing::instrument(skip_all, fields(order = %order_ref))]
    pub async fn collect_status(
        &self,
        order_ref: &str,
        browser_session: &str,
        now: OffsetDateTime,
    ) -> Result<CollectResponse, OrderError> {
        let order = self.own_order(order_ref, browser_session, now).await?;
        Ok(status_of(order, now))
    }

    /// Cancels a pending order of this browser session (hint `cancelled`).
    #[tracing::instrument(skip_all, fields(order = %order_ref))]
    pub async fn cancel(
        &self,
        order_ref: &str,
        browser_session: &str,
        now: OffsetDateTime,
    ) -> Result<(), OrderError> {
        let order = self.own_order(order_ref, browser_session, now).await?;
        if self
            .fail(&order, HintCode::Cancelled, "cancelled by the page", now)
            .await?
        {
            Ok(())
        } else {
            Err(OrderError::NotPending)
        }
    }

    /// The browser comes back to the return URL with the order reference and the one-time
    /// secret. The order completes only if the secret is right and unspent, the order is
    /// signed and unexpired, **and** `browser_session` is the session that started it. The
    /// right secret in another session is a relayed order: it fails (`startFailed`) and
    /// [`OrderError::Relayed`] is returned.
    #[tracing::instrument(skip_all, fields(order = %order_ref))]
    pub async fn browser_return(
        &self,
        order_ref: &str,
        secret: &str,
        browser_session: &str,
        now: OffsetDateTime,
    ) -> Result<CollectResponse, OrderError> {
        let hsa_id = match self.store.order(order_ref).await? {
            Some(OrderRecord {
                signature: Some(s), ..
            }) => s.hsa_id,
            _ => return Err(OrderError::ReturnRefused),
        };
        let ret = ReturnToOrder {
            order_ref: order_ref.to_owned(),
            return_secret_sha256: sha256(secret.as_bytes()),
            browser_session_sha256: sha256(browser_session.as_bytes()),
            now,
            complete_purge_after: now + self.config.complete_kept,
            failed_purge_after: now + self.config.failed_kept,
            on_complete: event(
                now,
                &format!("person:{hsa_id}"),
                "order.complete",
                order_ref,
                json!({}),
            ),
            on_relay: event(
                now,
                "system",
                "order.fail",
                order_ref,
                json!({
                    "hint": eid_store::orders::RELAYED_HINT,
                    "reason": "the browser returned in another session than the one that started the order",
                }),
            ),
        };
        match self.store.return_to_order(&ret).await? {
            ReturnOutcome::Completed(order) => self.completed(&order).await,
            ReturnOutcome::Relayed => {
                tracing::warn!("relayed order: returned in another browser session");
                Err(OrderError::Relayed)
            }
            ReturnOutcome::Refused => Err(OrderError::ReturnRefused),
        }
    }

    /// Forgets orders and browser sessions past their time.
    pub async fn purge(&self, now: OffsetDateTime) -> Result<Purged, OrderError> {
        Ok(self.store.purge_expired_orders(now).await?)
    }

    /// The order if it exists, is not past its keeping time, and belongs to this session.
    pub(crate) async fn own_order(
        &self,
        order_ref: &str,
        browser_session: &str,
        now: OffsetDateTime,
    ) -> Result<OrderRecord, OrderError> {
        let order = self
            .store
            .order(order_ref)
            .await?
            .filter(|o| now <= o.purge_after)
            .ok_or(OrderError::NotFound)?;
        if order.browser_session_sha256 != sha256(browser_session.as_bytes()) {
            return Err(OrderError::WrongBrowserSession);
        }
        Ok(order)
    }

    async fn completed(&self, order: &OrderRecord) -> Result<CollectResponse, OrderError> {
        let corrupt = |why: &str| OrderError::Store(StoreError::Corrupt(why.to_owned()));
        let signature = order
            .signature
            .as_ref()
            .ok_or_else(|| corrupt("a complete order without a signature"))?;
        let person = self
            .store
            .person(&signature.hsa_id)
            .await?
            .ok_or_else(|| corrupt("a complete order's person is gone"))?;
        Ok(CollectResponse {
            order_ref: order.order_ref.clone(),
            status: OrderStatus::Complete,
            hint_code: None,
            completion_data: Some(CompletionData {
                user: CompletionUser {
                    name: person.common_name(),
                    hsa_id: person.hsa_id,
                    given_name: person.given_name,
                    surname: person.surname,
                    org_number: person.org_number,
                },
                card_number: signature.card_number.clone(),
                certificate_serial: signature.certificate_serial.to_string(),
                signature: signature.signature.clone(),
                signed_at: signature.signed_at,
            }),
        })
    }

    /// Fails a pending order with `hint`, audited; `false` if it was not pending.
    pub(crate) async fn fail(
        &self,
        order: &OrderRecord,
        hint: HintCode,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, OrderError> {
        let audit = event(
            now,
            "system",
            "order.fail",
            &order.order_ref,
            json!({ "hint": hint.as_str(), "reason": reason }),
        );
        Ok(self
            .store
            .fail_order(
                &order.order_ref,
                hint.as_str(),
                now + self.config.failed_kept,
                &audit,
            )
            .await?)
    }
}

/// The state and hint of an order for `collect`, without completion data.
pub(crate) fn status_of(order: OrderRecord, now: OffsetDateTime) -> CollectResponse {
    let (status, hint) = match order.state {
        OrderState::Complete => {
            return CollectResponse {
                order_ref: order.order_ref,
                status: OrderStatus::Complete,
                hint_code: None,
                completion_data: None,
            };
        }
        OrderState::Failed => (OrderStatus::Failed, HintCode::parse(&order.hint)),
        OrderState::Pending if now >= order.expires_at => {
            (OrderStatus::Failed, HintCode::ExpiredTransaction)
        }
        OrderState::Pending => (OrderStatus::Pending, HintCode::parse(&order.hint)),
    };
    CollectResponse {
        order_ref: order.order_ref,
        status,
        hint_code: Some(hint),
        completion_data: None,
    }
}

/// An audit event.
pub(crate) fn event(
    at: OffsetDateTime,
    actor: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details,
    }
}
