//! The userinfo endpoint's logic: validates a bearer access token and returns the claims its
//! scopes allow. Getting the token out of the request (header, or form body on POST) is the
//! HTTP layer's business. Never logs a token.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::claims::{AccessTokenClaims, profile};
use crate::error::{ErrorCode, OAuthError, UserinfoError};
use crate::jwt::{self, TYP_ACCESS_TOKEN};
use crate::{Backend, IdpError, Provider};

impl<S: Backend> Provider<S> {
    /// The claims for an access token: `sub` always (the token needs `openid`), and with
    /// `profile` the person's name, HSA-id and organisation. Refused (`invalid_token`) unless
    /// the token is ours (signature, `kid`, `typ: at+jwt`, issuer), unexpired, and its grant
    /// is not revoked.
    pub async fn userinfo(
        &self,
        access_token: &str,
        now: OffsetDateTime,
    ) -> Result<Value, UserinfoError> {
        let keys = self.keys(now).await?;
        let claims: AccessTokenClaims = jwt::verify(
            &keys,
            access_token,
            TYP_ACCESS_TOKEN,
            &self.config.issuer,
            None,
            now,
        )
        .map_err(|_| UserinfoError::invalid_token("the access token is not valid"))?;
        let leeway = self.config.leeway.whole_seconds();
        let t = now.unix_timestamp();
        if claims.exp + leeway <= t || claims.iat - leeway > t {
            return Err(UserinfoError::invalid_token("the access token has expired"));
        }
        let grant = self
            .store
            .grant_by_jti(&claims.jti)
            .await
            .map_err(IdpError::from)?
            .filter(|g| g.revoked_at.is_none() && g.client_id == claims.client_id)
            .ok_or_else(|| UserinfoError::invalid_token("the access token was revoked"))?;
        let scopes: Vec<&str> = grant.scope.split(' ').collect();
        if !scopes.contains(&"openid") {
            return Err(UserinfoError::Refused(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            )));
        }
        let person = self
            .store
            .person(&grant.hsa_id)
            .await
            .map_err(IdpError::from)?
            .filter(|p| p.active)
            .ok_or_else(|| UserinfoError::invalid_token("the person may no longer log in"))?;
        let mut out = Map::new();
        out.insert("sub".into(), json!(claims.sub));
        if scopes.contains(&"profile") {
            let org = self
                .store
                .organisation(&person.org_number)
                .await
                .map_err(IdpError::from)?;
            out.extend(profile(&person, org.as_ref()));
        }
        Ok(Value::Object(out))
    }
}
