//! *Lista certifikat* and *Spärra certifikat*: the card holder sees every certificate of
//! their cards with its status (valid, expired, revoked with the time and the reason in
//! plain words), and revokes their own signing certificates.
//!
//! | route | what |
//! |---|---|
//! | `GET /mypages/certificates` | the list; `?revoked=<serial>` adds *Certifikatet är spärrat* |
//! | `POST /mypages/certificates/revoke` | (CSRF) without `confirm`: the confirmation page with the reasons; with `confirm` and a `reason`: revokes, then 303 to the list |
//!
//! Only a signing certificate in force on one of the person's own cards is revoked here.
//! The authentication certificate is what the card logs in with and what the ID
//! administrator answers for (`eid admin card revoke` for a lost card), so the page says so
//! instead of offering it. Another person's serial looks the same as one that does not
//! exist. Both steps check the form's CSRF token (a MAC of the portal session id) and that
//! the card login is recent ([`eid_portal::FRESH_LOGIN`], as for a fetch): revoking is
//! final, so whoever revokes proved presence with a card of theirs lately; else they log in
//! with a card again. The card need not be the one being revoked: a holder who lost a card
//! revokes its signing certificate after logging in with another one.
//!
//! The revocation itself is [`crate::lifecycle::revoke_certificate`] with the person as the
//! audit log's actor (`person:<HSA-id>`), which also publishes it (a key compromise gets a
//! new CRL at once). OCSP answers `revoked` from the same transaction on (the store's
//! revocation marker).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use eid_portal::{AccessClaims, ApiError, FRESH_LOGIN, PersonView, PortalError, Session};
use eid_store::{CertKind, CertificateRecord, RevocationReason, Serial, StoreError};
use time::OffsetDateTime;

use super::{failure_page, html, language, one, page, refused, to_provider_fresh, with_cookies};
use crate::html::Lang;
use crate::login::set_cookie;
use crate::oidc::{pairs, see_other};
use crate::{AppState, ServerStore};

/// The list's path.
pub(crate) const LIST_PATH: &str = "/mypages/certificates";
/// The revocation form's path.
pub(crate) const REVOKE_PATH: &str = "/mypages/certificates/revoke";

/// The reasons a card holder chooses from, as the form's values, with the RFC 5280
/// reason each stands for. A lost card, or a code that others may know, means the key may
/// be used by someone else (`keyCompromise`: relying parties distrust it at once and a
/// new CRL is issued); no longer needed is `cessationOfOperation`; wrong details (a new
/// name, another organisation) is `affiliationChanged`.
pub(crate) const REASONS: [(&str, RevocationReason); 4] = [
    ("lost", RevocationReason::KeyCompromise),
    ("code-known", RevocationReason::KeyCompromise),
    ("not-needed", RevocationReason::CessationOfOperation),
    ("details-wrong", RevocationReason::AffiliationChanged),
];

/// The reason behind the form value `value`.
fn reason(value: &str) -> Option<RevocationReason> {
    REASONS.iter().find(|(v, _)| *v == value).map(|(_, r)| *r)
}

/// The card holder behind a live portal session, or the response that ends the request:
/// no session (to the start page), an expired token (the start page renews the login), a
/// person who may not use My Pages.
struct Holder {
    session: Session,
    claims: AccessClaims,
    person: PersonView,
}

async fn holder<S: ServerStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<Holder, Response> {
    let session = super::signed_in(state, headers, lang, now).await?;
    let api = state.portal.api();
    let found = match api.verify(session.access_token(), now).await {
        Ok(claims) => api.person(&claims).await.map(|person| (claims, person)),
        Err(e) => Err(e),
    };
    match found {
        Ok((claims, person)) => Ok(Holder {
            session,
            claims,
            person,
        }),
        Err(ApiError::InvalidToken(_)) => Err(see_other("/mypages")),
        Err(e) => Err(failure_page(state, lang, &PortalError::AccessToken(e))),
    }
}

/// The certificates of the person's cards (authentication and signing), card by card,
/// oldest first.
async fn certificates_of_cards<S: ServerStore>(
    state: &AppState<S>,
    hsa_id: &str,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let mut all = Vec::new();
    for card in state.store.cards(Some(hsa_id)).await? {
        all.extend(
            state
                .store
                .certificates_of_card(&card.card_number)
                .await?
                .into_iter()
                .filter(|c| matches!(c.kind, CertKind::Authentication | CertKind::Signing)),
        );
    }
    Ok(all)
}

/// `GET /mypages/certificates`: *Lista certifikat*.
pub(crate) async fn list<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = pairs(query.unwrap_or_default().as_bytes());
    let (lang, switched) = language(&headers, &query);
    let cookies = if switched {
        vec![set_cookie(super::LANG_COOKIE, lang.code())]
    } else {
        Vec::new()
    };
    let now = state.clock.now();
    let h = match holder(&state, &headers, lang, now).await {
        Ok(h) => h,
        Err(response) => return with_cookies(response, cookies),
    };
    let certificates = match certificates_of_cards(&state, &h.person.hsa_id).await {
        Ok(c) => c,
        Err(e) => {
            return with_cookies(
                failure_page(&state, lang, &PortalError::AccessToken(e.into())),
                cookies,
            );
        }
    };
    let body = page::certificate_list(&page::CertificateList {
        product: &state.settings.product_name,
        lang,
        person: &h.person,
        certificates: &certificates,
        csrf: &state.portal.csrf_token(h.session.id()),
        revoked: one(&query, "revoked"),
        now,
    });
    with_cookies(html(StatusCode::OK, body), cookies)
}

/// `POST /mypages/certificates/revoke`: *Spärra certifikat*, the confirmation and then the
/// revocation (see the module docs for what is checked, in which order).
pub(crate) async fn revoke<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    let (lang, _) = language(&headers, &[]);
    let now = state.clock.now();
    let h = match holder(&state, &headers, lang, now).await {
        Ok(h) => h,
        Err(response) => return response,
    };
    if !one(&form, "csrf").is_some_and(|t| state.portal.csrf_ok(h.session.id(), t)) {
        return refused(&state, lang);
    }
    let Some(serial) = one(&form, "serial").and_then(|s| s.parse::<Serial>().ok()) else {
        return refused(&state, lang);
    };
    let cert = match own_certificate(&state, &h, &serial).await {
        Ok(Some(cert)) => cert,
        // Unknown, or another person's: the same answer.
        Ok(None) => return refused(&state, lang),
        Err(e) => return failure_page(&state, lang, &PortalError::AccessToken(e)),
    };
    if cert.kind != CertKind::Signing {
        return conflict(
            &state,
            lang,
            lang.pick(
                "Legitimeringscertifikatet kan du inte spärra själv: det spärras av din \
                 ID-administratör. Kontakta din ID-administratör om kortet är borttappat \
                 eller stulet.",
                "You cannot revoke the authentication certificate yourself: your ID \
                 administrator does. Contact your ID administrator if the card is lost or \
                 stolen.",
            ),
        );
    }
    if !eid_portal::eligibility::in_force(&cert, now) {
        return conflict(&state, lang, not_in_force(lang));
    }
    if h.session.auth_time.is_none_or(|t| now - t > FRESH_LOGIN) {
        // Log in with a card again, then choose *Spärra* again.
        return to_provider_fresh(&state, lang).await;
    }
    let csrf = state.portal.csrf_token(h.session.id());
    if one(&form, "confirm").is_none() {
        let body = page::revoke_confirmation(&page::RevokeConfirmation {
            product: &state.settings.product_name,
            lang,
            certificate: &cert,
            csrf: &csrf,
        });
        return html(StatusCode::OK, body);
    }
    let Some(reason) = one(&form, "reason").and_then(reason) else {
        return html(
            StatusCode::BAD_REQUEST,
            page::message(
                &state.settings.product_name,
                lang,
                lang.pick(
                    "Välj varför du spärrar certifikatet, och försök igen.",
                    "Choose why you revoke the certificate, and try again.",
                ),
            ),
        );
    };
    let actor = format!("person:{}", h.person.hsa_id);
    let revoked = crate::lifecycle::revoke_certificate(
        &*state.store,
        Some(&state.revocation.crl),
        &serial,
        reason,
        &actor,
        now,
    )
    .await;
    match revoked {
        Ok(_) => {}
        // Revoked meanwhile (another tab, the administrator): nothing more to do.
        Err(StoreError::Refused(_)) => return conflict(&state, lang, not_in_force(lang)),
        Err(e) => return failure_page(&state, lang, &PortalError::AccessToken(e.into())),
    }
    tracing::info!(serial = %serial, "my pages: signing certificate revoked by its holder");
    // A serial is upper-case hex: nothing to encode.
    see_other(&format!("{LIST_PATH}?revoked={serial}"))
}

/// The certificate `serial` if it is on one of the holder's cards.
async fn own_certificate<S: ServerStore>(
    state: &AppState<S>,
    h: &Holder,
    serial: &Serial,
) -> Result<Option<CertificateRecord>, ApiError> {
    let Some(cert) = state.store.certificate(serial).await? else {
        return Ok(None);
    };
    let Some(card) = &cert.card_number else {
        return Ok(None);
    };
    // The card's holder decides, not the certificate's subject.
    if !state.portal.api().holds_card(&h.claims, card).await? {
        return Ok(None);
    }
    Ok(Some(cert))
}

fn not_in_force(lang: Lang) -> &'static str {
    lang.pick(
        "Certifikatet är redan spärrat eller har gått ut, och kan inte spärras.",
        "The certificate is already revoked or has expired, and cannot be revoked.",
    )
}

/// A request that cannot be done for the certificate as it is: 409 with why.
fn conflict<S>(state: &AppState<S>, lang: Lang, text: &str) -> Response {
    html(
        StatusCode::CONFLICT,
        page::message(&state.settings.product_name, lang, text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_rfc_5280_reason_and_no_value_twice() {
        assert_eq!(reason("lost"), Some(RevocationReason::KeyCompromise));
        assert_eq!(
            reason("not-needed"),
            Some(RevocationReason::CessationOfOperation)
        );
        assert_eq!(
            reason("details-wrong"),
            Some(RevocationReason::AffiliationChanged)
        );
        assert_eq!(reason("superseded"), None, "the store's own reason only");
        assert_eq!(reason(""), None);
        let mut values: Vec<_> = REASONS.iter().map(|(v, _)| *v).collect();
        values.dedup();
        assert_eq!(values.len(), REASONS.len());
    }
}
