//! The token endpoint: the `authorization_code` grant only.
//!
//! Order of checks: client authentication, grant type, parameters, the code (known,
//! unredeemed, unexpired, this client's, this redirect URI), PKCE (a verifier exactly when a
//! challenge was sent, S256), the session and person still valid; then the code is redeemed
//! atomically in the store. A code presented again is refused with `invalid_grant` and the
//! grant it issued is revoked, so its access token stops working at userinfo. Never logs a
//! code, verifier, secret or token.

use std::fmt;

use eid_store::AuditEvent;
use eid_store::oidc::{GrantRecord, Redemption};
use rand::CryptoRng;
use serde::Serialize;
use serde_json::{Map, json};
use time::OffsetDateTime;

use crate::claims::{
    AccessTokenClaims, CLAIM_CARD_NUMBER, IdTokenClaims, at_hash, profile, subject,
};
use crate::error::{ErrorCode, TokenError};
use crate::jwt::{self, TYP_ACCESS_TOKEN, TYP_ID_TOKEN};
use crate::params::{Params, b64url, random_id, sha256};
use crate::{Backend, IdpError, Provider};

/// Headers every token response carries (RFC 6749 §5.1).
pub const TOKEN_RESPONSE_HEADERS: [(&str, &str); 2] =
    [("Cache-Control", "no-store"), ("Pragma", "no-cache")];

/// A successful token response: serialise it as the JSON body, with
/// [`TOKEN_RESPONSE_HEADERS`]. Tokens never in `Debug` output.
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The JWT access token (RFC 9068).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The ID token.
    pub id_token: String,
    /// The granted scopes.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<hidden>")
            .field("id_token", &"<hidden>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn grant_error(description: &'static str) -> TokenError {
    TokenError::refused(ErrorCode::InvalidGrant, description)
}

impl<S: Backend> Provider<S> {
    /// Handles a token request: the decoded form and the `Authorization` header, if any.
    pub async fn token<R: CryptoRng + ?Sized>(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<TokenResponse, TokenError> {
        let (jti, grant_id) = (random_id(rng), random_id(rng));
        let p = Params::new(form);
        let client = self.authenticate_client(&p, authorization).await?;
        let get = |name| {
            p.get(name).map_err(|_| {
                TokenError::refused(ErrorCode::InvalidRequest, "a parameter is repeated")
            })
        };
        match get("grant_type")? {
            None => {
                return Err(TokenError::refused(
                    ErrorCode::InvalidRequest,
                    "grant_type is missing",
                ));
            }
            Some("authorization_code") => {}
            Some(_) => {
                return Err(TokenError::refused(
                    ErrorCode::UnsupportedGrantType,
                    "only the authorization_code grant",
                ));
            }
        }
        let code = get("code")?
            .ok_or_else(|| TokenError::refused(ErrorCode::InvalidRequest, "code is missing"))?;
        let redirect_uri = get("redirect_uri")?.ok_or_else(|| {
            TokenError::refused(ErrorCode::InvalidRequest, "redirect_uri is missing")
        })?;
        let verifier = get("code_verifier")?;
        let code_sha256 = sha256(code.as_bytes());
        let revoke_event = |grant: &str| AuditEvent {
            at: now,
            actor: format!("client:{}", client.client_id),
            action: "oidc.grant.revoke".into(),
            subject: grant.to_owned(),
            details: json!({ "reason": "authorization code used twice" }),
        };
        // The code and its session in one read; the person (and organisation) in another,
        // below. Each is read from the store for this request.
        let (record, session) = self
            .store
            .code_with_session(&code_sha256)
            .await
            .map_err(IdpError::from)?
            .ok_or_else(|| grant_error("unknown code"))?;
        let grant = GrantRecord {
            grant_id,
            client_id: client.client_id.clone(),
            hsa_id: record.hsa_id.clone(),
            session_sha256: record.session_sha256,
            scope: record.scope.clone(),
            access_jti: jti,
            created_at: now,
            expires_at: now + self.config.access_token_ttl,
            revoked_at: None,
        };
        if let Some(used) = &record.grant_id {
            // Reuse: revoke what the code issued (the store does it in the redemption).
            self.store
                .redeem_code(&code_sha256, now, &grant, &revoke_event(used))
                .await
                .map_err(IdpError::from)?;
            return Err(grant_error("the code was already used"));
        }
        if record.expires_at <= now {
            return Err(grant_error("the code has expired"));
        }
        if record.client_id != client.client_id {
            return Err(grant_error("the code was issued to another client"));
        }
        if record.redirect_uri != redirect_uri {
            return Err(grant_error(
                "redirect_uri differs from the authorization request",
            ));
        }
        match (&record.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                if !valid_verifier(v) || b64url(&sha256(v.as_bytes())) != *challenge {
                    return Err(grant_error("code_verifier does not match the challenge"));
                }
            }
            (Some(_), None) => return Err(grant_error("code_verifier is missing")),
            (None, Some(_)) => return Err(grant_error("no code_challenge was sent for this code")),
            (None, None) => {}
        }
        let card_number = session.as_ref().map(|s| s.card_number.clone());
        if !session.is_some_and(|s| s.is_live(now)) {
            return Err(grant_error("the login session has ended"));
        }
        let (person, org) = self
            .store
            .person_with_organisation(&record.hsa_id)
            .await
            .map_err(IdpError::from)?
            .filter(|(p, _)| p.active)
            .ok_or_else(|| grant_error("the person may no longer log in"))?;
        let redeemed = self
            .store
            .redeem_code(
                &code_sha256,
                now,
                &grant,
                &revoke_event("(code redeemed concurrently)"),
            )
            .await
            .map_err(IdpError::from)?;
        let record = match redeemed {
            Redemption::Redeemed(record) => *record,
            Redemption::Reused { .. } => return Err(grant_error("the code was already used")),
            _ => return Err(grant_error("the code is no longer valid")),
        };

        let sub = subject(&self.subject_key, &record.hsa_id);
        let scopes: Vec<&str> = record.scope.split(' ').collect();
        let mut login_claims = Map::new();
        if let Some(card) = &card_number {
            login_claims.insert(CLAIM_CARD_NUMBER.into(), json!(card));
        }
        let mut access_extra = login_claims.clone();
        if scopes.contains(&"profile") {
            access_extra.insert("employeeHsaId".into(), json!(person.hsa_id));
        }
        let audiences: Vec<&str> = scopes
            .iter()
            .copied()
            .filter(|s| self.config.api_scopes.iter().any(|a| a == s))
            .collect();
        let aud = match audiences.as_slice() {
            [] => json!(self.config.issuer),
            [one] => json!(one),
            many => json!(many),
        };
        let access = AccessTokenClaims {
            iss: self.config.issuer.clone(),
            sub: sub.clone(),
            aud,
            exp: (now + self.config.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            client_id: client.client_id.clone(),
            scope: record.scope.clone(),
            jti: grant.access_jti.clone(),
            acr: record.acr.clone(),
            amr: record.amr.clone(),
            extra: access_extra,
        };
        let (keys, kid) = self.signer(self.config.default_alg, now).await?;
        let key = keys
            .by_kid(&kid, now)
            .ok_or(IdpError::NoSigningKey(self.config.default_alg.as_str()))?;
        let access_token = jwt::sign(key, TYP_ACCESS_TOKEN, &access)?;

        let mut extra = if scopes.contains(&"profile") {
            profile(&person, org.as_ref())
        } else {
            Map::new()
        };
        extra.extend(login_claims);
        let id = IdTokenClaims {
            iss: self.config.issuer.clone(),
            sub,
            aud: client.client_id.clone(),
            exp: (now + self.config.id_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            nonce: record.nonce.clone(),
            acr: record.acr.clone(),
            amr: record.amr.clone(),
            at_hash: Some(at_hash(&access_token)),
            extra,
        };
        let (keys, kid) = self.signer(client.id_token_alg, now).await?;
        let key = keys
            .by_kid(&kid, now)
            .ok_or(IdpError::NoSigningKey(client.id_token_alg.as_str()))?;
        let id_token = jwt::sign(key, TYP_ID_TOKEN, &id)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl.whole_seconds(),
            id_token,
            scope: record.scope,
        })
    }
}
