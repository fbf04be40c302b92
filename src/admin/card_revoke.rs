//! `eid admin card revoke CARD [--reason R]`: a lost (stolen, destroyed) card stops working
//! at once. In one store transaction ([`Store::revoke_card`]) the card becomes revoked,
//! every valid certificate on it is revoked, the identity provider's login sessions made
//! with it end and their grants are revoked, and the My Pages sessions made with it end;
//! each with an audit entry naming the administrator. Every node reads the store on every
//! step, so from then on:
//!
//! - a login with the card is refused at the order's completion (the certificate check and
//!   the store's own check in `sign_order`, in the transaction that would sign the order);
//! - single sign-on with an earlier session of the card no longer works, and its unredeemed
//!   codes are refused at the token endpoint (their session has ended);
//! - userinfo refuses its access tokens (their grant is revoked); My Pages' pages and its
//!   API calls through a session are gone with the session. An access token that a client
//!   already holds for `mypages.api` is a self-contained JWT that the API checks without the
//!   store: it stays usable for what is left of its lifetime (at most 5 minutes) for reading,
//!   while a signing-certificate fetch is refused because the card is revoked.
//!
//! The default reason is `keyCompromise`. A lost or stolen card is out of its holder's
//! hands with its keys on it: the PINs guard them, but they may have been watched or
//! written down, and RFC 5280 §5.3.1 names keyCompromise for a private key that may be in
//! other hands. It is also the reason that tells relying parties not to trust signatures
//! dated after the revocation, and the one for which a new CRL is issued at once (OCSP
//! answers `revoked` at once in any case). A card that is merely returned or replaced
//! (the holder left, a new card) is revoked with `--reason cessation-of-operation`,
//! `affiliation-changed` or `superseded`.

use eid_store::{CardRevocation, Serial, Store, StoreError, validate};
use serde::Serialize;
use serde_json::json;

use super::{cert::publish_crl_now, event, now};
use crate::cli::{Common, ReasonArg};
use crate::context::open_store;
use crate::failure::{Failure, Outcome};
use crate::output;

/// What the command did, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Revoked {
    card: String,
    reason: eid_store::RevocationReason,
    certificates: Vec<Serial>,
    login_sessions: u64,
    grants: u64,
    portal_sessions: u64,
    crl_number: Option<u64>,
}

pub async fn run(
    common: &Common,
    config: &eid_config::Config,
    card: &str,
    reason: ReasonArg,
) -> Outcome {
    let card = validate::card_number(card).map_err(Failure::Usage)?;
    let reason = eid_store::RevocationReason::from(reason);
    let store = open_store(config).await?;
    let at = now();
    let revocation = CardRevocation {
        card_number: card.clone(),
        reason,
        at,
        audit: event(at, "card.revoke", &card, json!({})),
        certificate_audit: event(at, "certificate.revoke", &card, json!({})),
    };
    let done = store.revoke_card(&revocation).await.map_err(|e| match e {
        StoreError::NotFound(_) => Failure::Refused(format!("no card with number {card} exists")),
        StoreError::Refused(_) => Failure::Refused(format!("card {card} is already revoked")),
        e => e.into(),
    })?;
    let crl_number = if done.certificates.is_empty() {
        None
    } else {
        publish_crl_now(config, &store, reason).await
    };
    let out = Revoked {
        card,
        reason,
        certificates: done.certificates,
        login_sessions: done.login_sessions,
        grants: done.grants,
        portal_sessions: done.portal_sessions,
        crl_number,
    };
    if common.json {
        return output::json(&out);
    }
    println!("card {} revoked ({})", out.card, output::kebab(&reason));
    for serial in &out.certificates {
        println!("  certificate {serial} revoked");
    }
    println!(
        "  {} login session(s) ended, {} access token grant(s) revoked, {} My Pages session(s) ended",
        out.login_sessions, out.grants, out.portal_sessions
    );
    if let Some(number) = out.crl_number {
        println!("  CRL {number} issued");
    }
    Ok(())
}
