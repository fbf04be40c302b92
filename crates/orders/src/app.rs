//! The eID app's side of [`Orders`]: fetch by autostart token, report hints, complete with
//! the card's signature. The completion is verified against what the server stored, never
//! against what the app says the order was.

use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use eid_pki::{ValidAuthentication, ValidationError, validate_authentication_certificate};
use eid_protocol::{
    AppCompleteResponse, AppCompletion, AppFetchResponse, AppOrder, Enrollment, HintCode,
    LaunchLink, OrderKind, ToBeSigned,
};
use eid_store::orders::{OrderRecord, OrderSignature, OrderState, OrderStore, SignOrder};
use eid_store::{CardState, EnrollStore, Store, StoreError};

use crate::engine::event;
use crate::tokens::{sha256, token};
use crate::{OrderError, Orders};

impl<S: Store + OrderStore + EnrollStore + 'static> Orders<S> {
    /// The app fetches the order with its one-time autostart token (once; while pending and
    /// unexpired). Returns the order as the app shows and signs it, and the app's token for
    /// the order's later calls. The hint becomes `started`.
    #[tracing::instrument(skip_all)]
    pub async fn app_fetch<R: CryptoRng + ?Sized>(
        &self,
        autostart_token: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AppFetchResponse, OrderError> {
        if !LaunchLink::token_is_well_formed(autostart_token) {
            return Err(OrderError::TokenRefused);
        }
        let app_token = token(rng);
        let order = self
            .store
            .claim_order(
                &sha256(autostart_token.as_bytes()),
                &sha256(app_token.as_bytes()),
                now,
            )
            .await?
            .ok_or(OrderError::TokenRefused)?;
        Ok(AppFetchResponse {
            order: self.app_order(&order)?,
            app_token,
        })
    }

    /// The app reports where it is. `started`, `userSign` and the card codes that the
    /// holder can resolve (`cardRemoved`, `cardNotActivated`, `noCardReader`, `wrongCard`)
    /// set the pending hint; `userCancel`, `pinBlocked` and `startFailed` fail the order.
    /// Codes only the server sets are refused.
    #[tracing::instrument(skip_all, fields(hint = %hint))]
    pub async fn app_report(
        &self,
        app_token: &str,
        hint: &HintCode,
        now: OffsetDateTime,
    ) -> Result<(), OrderError> {
        let Some(ends) = hint.app_report() else {
            return Err(OrderError::InvalidParameters(format!(
                "the app cannot report `{hint}`"
            )));
        };
        let order = self.app_order_record(app_token).await?;
        let changed = if ends {
            self.fail(&order, hint.clone(), "reported by the eID app", now)
                .await?
        } else {
            self.store
                .set_order_hint(&order.order_ref, hint.as_str(), now)
                .await?
        };
        match changed {
            true => Ok(()),
            false if order.state == OrderState::Pending && now >= order.expires_at => {
                Err(OrderError::Expired)
            }
            false => Err(OrderError::NotPending),
        }
    }

    /// The app completes the order with the card's signature and authentication
    /// certificate (and, for `enrollSign`, the new key). Verified: the certificate is a
    /// valid authentication certificate of this platform for an active person and a usable
    /// card (the order's card, for `enrollSign`), and the signature verifies over the
    /// to-be-signed bytes rebuilt from the stored order. Then the order is signed (a card
    /// not activated in the store becomes active) and the answer is the return URL with the
    /// order reference and a one-time secret: `<returnUrl>?orderRef=<ref>&secret=<secret>`
    /// (`&` instead of `?` when the URL has a query). A certificate or signature that is
    /// refused fails the order (`certificateErr`, or `wrongCard`).
    #[tracing::instrument(skip_all)]
    pub async fn app_complete<R: CryptoRng + ?Sized>(
        &self,
        app_token: &str,
        completion: &AppCompletion,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<AppCompleteResponse, OrderError> {
        let order = self.app_order_record(app_token).await?;
        if order.state != OrderState::Pending || order.signature.is_some() {
            return Err(OrderError::NotPending);
        }
        if now >= order.expires_at {
            return Err(OrderError::Expired);
        }
        let kind = order_kind(&order)?;
        match (kind, &completion.new_public_key) {
            (OrderKind::EnrollSign, None) => {
                return Err(OrderError::InvalidParameters(
                    "an enrollSign completion needs the new public key".into(),
                ));
            }
            (OrderKind::EnrollSign, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(OrderError::InvalidParameters(
                    "only an enrollSign completion has a new public key".into(),
                ));
            }
        }

        let store: &dyn Store = &*self.store;
        let signer = match validate_authentication_certificate(
            &self.ca,
            store,
            &completion.certificate,
            now,
        )
        .await
        {
            Ok(signer) => signer,
            Err(ValidationError::Store(e)) => return Err(e.into()),
            Err(e) => {
                self.fail(&order, HintCode::CertificateErr, &e.to_string(), now)
                    .await?;
                return Err(OrderError::Certificate(e));
            }
        };
        if let Some(expected) = &order.card_number
            && *expected != signer.card.card_number
        {
            self.fail(&order, HintCode::WrongCard, "another card signed", now)
                .await?;
            return Err(OrderError::WrongCard {
                expected: expected.clone(),
                found: signer.card.card_number,
            });
        }
        let approved_key = completion.new_public_key.as_deref().map(sha256);
        let tbs = self.to_be_signed(&order, &signer, approved_key)?;
        if signer
            .verify_signature(&tbs, &completion.signature)
            .is_err()
        {
            self.fail(
                &order,
                HintCode::CertificateErr,
                "the signature does not verify",
                now,
            )
            .await?;
            return Err(OrderError::BadSignature);
        }

        // An enrollment: the RA step, committed before the order is signed (a certificate
        // issued for an order that then cannot be signed is still the key's, resumable).
        let issued = match (kind, approved_key) {
            (OrderKind::EnrollSign, Some(key)) => Some(
                self.enroll(&order, &signer, completion, key, now, rng)
                    .await?,
            ),
            _ => None,
        };

        let secret = token(rng);
        let hsa_id = signer.person.hsa_id.clone();
        let card = signer.card.card_number.clone();
        let sign = SignOrder {
            order_ref: order.order_ref.clone(),
            app_token_sha256: sha256(app_token.as_bytes()),
            signature: OrderSignature {
                signed_at: now,
                hsa_id: hsa_id.clone(),
                card_number: card.clone(),
                certificate_serial: signer.certificate.serial.clone(),
                signature: completion.signature.clone(),
                approved_key_sha256: approved_key,
            },
            return_secret_sha256: sha256(secret.as_bytes()),
            now,
            audit: event(
                now,
                &format!("person:{hsa_id}"),
                "order.sign",
                &order.order_ref,
                json!({
                    "kind": kind,
                    "card": card,
                    "certificate": signer.certificate.serial.to_string(),
                }),
            ),
            activation: (signer.card.state == CardState::NotActivated).then(|| {
                event(
                    now,
                    &format!("person:{hsa_id}"),
                    "card.activate",
                    &card,
                    json!({ "order": order.order_ref, "proof": "PIN1 signature" }),
                )
            }),
        };
        match self.store.sign_order(&sign).await {
            Ok(true) => {}
            Ok(false) => return Err(OrderError::NotPending),
            Err(StoreError::Refused(why)) => {
                self.fail(&order, HintCode::CertificateErr, &why, now)
                    .await?;
                return Err(OrderError::SignerNoLongerValid(why));
            }
            Err(e) => return Err(e.into()),
        }
        let separator = if order.return_url.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(AppCompleteResponse {
            return_url: format!(
                "{}{separator}orderRef={}&secret={secret}",
                order.return_url, order.order_ref
            ),
            certificate: issued.map(|c| c.der),
        })
    }

    /// The order fetched with this app token.
    pub(crate) async fn app_order_record(
        &self,
        app_token: &str,
    ) -> Result<OrderRecord, OrderError> {
        if !LaunchLink::token_is_well_formed(app_token) {
            return Err(OrderError::TokenRefused);
        }
        self.store
            .order_by_app_token(&sha256(app_token.as_bytes()))
            .await?
            .ok_or(OrderError::TokenRefused)
    }

    fn app_order(&self, order: &OrderRecord) -> Result<AppOrder, OrderError> {
        Ok(AppOrder {
            order_ref: order.order_ref.clone(),
            kind: order_kind(order)?,
            requester: order.requester_name.clone(),
            text: order.text.clone(),
            server_origin: self.config.server_origin.clone(),
            server_nonce: order.server_nonce.clone(),
            expires_at: order.expires_at,
            card_number: order.card_number.clone(),
        })
    }

    /// The to-be-signed bytes, rebuilt from the stored order and the verified signer.
    fn to_be_signed(
        &self,
        order: &OrderRecord,
        signer: &ValidAuthentication,
        approved_key: Option<[u8; 32]>,
    ) -> Result<Vec<u8>, OrderError> {
        let enrollment = approved_key.map(|key| Enrollment {
            new_public_key_sha256: key,
            card_number: signer.card.card_number.clone(),
            auth_certificate_serial: signer.certificate.serial.as_bytes().to_vec(),
        });
        Ok(ToBeSigned::for_order(&self.app_order(order)?, enrollment).encode()?)
    }
}

fn order_kind(order: &OrderRecord) -> Result<OrderKind, OrderError> {
    OrderKind::parse(&order.kind).ok_or_else(|| {
        OrderError::Store(StoreError::Corrupt(format!(
            "order {} has an unknown kind `{}`",
            order.order_ref, order.kind
        )))
    })
}
