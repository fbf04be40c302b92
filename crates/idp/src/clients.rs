//! Client registration and client authentication at the token endpoint.
//!
//! A confidential client gets a fresh 256-bit secret, shown once; only its SHA-256 is kept
//! (a high-entropy secret needs no slow hash), and it is compared in constant time. Methods:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients. Never logs or
//! stores a secret in the clear.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_store::oidc::{ClientAuth, OidcClient, SigningAlg};
use eid_store::{AuditEvent, StoreError};
use rand::CryptoRng;
use serde_json::json;
use time::OffsetDateTime;

use crate::error::{ErrorCode, TokenError};
use crate::params::{Params, form_decode, random_token, sha256};
use crate::{Backend, IdpError, Provider};

/// A client secret, shown once at registration. Never in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret, to show to the administrator once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<hidden>)")
    }
}

/// The hash under which a secret is stored (for configuration that holds hashes only).
pub fn secret_hash(secret: &str) -> [u8; 32] {
    sha256(secret.as_bytes())
}

/// What a client registration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// The `client_id`.
    pub client_id: String,
    /// Shown on the login page.
    pub name: String,
    /// Confidential (gets a secret) or public.
    pub confidential: bool,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes; `openid` is added if missing.
    pub scopes: Vec<String>,
    /// Skip PKCE (confidential clients only; refused otherwise).
    pub pkce_optional: bool,
    /// ID token algorithm, or the provider's default.
    pub id_token_alg: Option<SigningAlg>,
}

fn valid_uri(uri: &str) -> bool {
    let https = uri.starts_with("https://");
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            uri.strip_prefix(p)
                .is_some_and(|r| r.starts_with([':', '/']))
        });
    // Private-use schemes of native apps (RFC 8252 §7.1) contain a dot: `com.example.app:/cb`.
    let native = uri
        .split_once(":/")
        .is_some_and(|(scheme, _)| scheme.contains('.') && !scheme.contains('/'));
    (https || loopback || native) && !uri.contains('#') && !uri.contains(char::is_whitespace)
}

impl ClientSpec {
    fn check(&self) -> Result<(), IdpError> {
        let bad = |msg: String| Err(IdpError::Config(msg));
        let id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 128
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b':');
        if !id_ok {
            return bad(format!(
                "client id `{}` must be 1-128 printable characters without `:`",
                self.client_id
            ));
        }
        if self.redirect_uris.is_empty() {
            return bad("a client needs at least one redirect URI".into());
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if !valid_uri(uri) {
                return bad(format!(
                    "`{uri}` must be an https URL (http only on loopback) without fragment"
                ));
            }
        }
        if self.pkce_optional && !self.confidential {
            return bad("a public client can never skip PKCE".into());
        }
        Ok(())
    }

    fn record(&self, auth: ClientAuth, default_alg: SigningAlg, now: OffsetDateTime) -> OidcClient {
        let mut scopes = vec!["openid".to_string()];
        for s in &self.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        OidcClient {
            client_id: self.client_id.clone(),
            name: self.name.clone(),
            auth,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            scopes,
            pkce_optional: self.pkce_optional,
            id_token_alg: self.id_token_alg.unwrap_or(default_alg),
            created_at: now,
        }
    }
}

fn client_event(actor: &str, action: &str, c: &OidcClient, now: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: actor.into(),
        action: action.into(),
        subject: c.client_id.clone(),
        details: json!({
            "confidential": matches!(c.auth, ClientAuth::Confidential { .. }),
            "redirect_uris": c.redirect_uris,
            "scopes": c.scopes,
            "pkce_optional": c.pkce_optional,
            "id_token_alg": c.id_token_alg.as_str(),
        }),
    }
}

impl<S: Backend> Provider<S> {
    /// Registers a client (`eid admin client add`). A confidential client's fresh secret is
    /// returned once. Refused if the id is taken.
    pub async fn register_client<R: CryptoRng + ?Sized>(
        &self,
        spec: &ClientSpec,
        actor: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<(OidcClient, Option<ClientSecret>), IdpError> {
        spec.check()?;
        let secret = spec.confidential.then(|| ClientSecret(random_token(rng)));
        let auth = match &secret {
            Some(s) => ClientAuth::Confidential {
                secret_sha256: secret_hash(&s.0),
            },
            None => ClientAuth::Public,
        };
        let client = spec.record(auth, self.config.default_alg, now);
        match self
            .store
            .add_client(
                &client,
                &client_event(actor, "oidc.client.add", &client, now),
            )
            .await
        {
            Ok(()) => Ok((client, secret)),
            Err(StoreError::Refused(why)) => Err(IdpError::Config(why)),
            Err(e) => Err(e.into()),
        }
    }

    /// A new secret for confidential client `client_id` (`eid admin client rotate-secret`):
    /// returned once, its SHA-256 stored; the old secret stops working at once. Refused for
    /// an unknown or public client.
    pub async fn rotate_client_secret<R: CryptoRng + ?Sized>(
        &self,
        client_id: &str,
        actor: &str,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<(OidcClient, ClientSecret), IdpError> {
        let mut client = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| IdpError::Config(format!("no client `{client_id}`")))?;
        if client.auth == ClientAuth::Public {
            return Err(IdpError::Config(format!(
                "client `{client_id}` is public: it has no secret"
            )));
        }
        let secret = ClientSecret(random_token(rng));
        client.auth = ClientAuth::Confidential {
            secret_sha256: secret_hash(&secret.0),
        };
        self.store
            .put_client(
                &client,
                &client_event(actor, "oidc.client.rotate-secret", &client, now),
            )
            .await?;
        Ok((client, secret))
    }

    /// Registers or updates a client from the configuration, which holds the secret's
    /// SHA-256 (never the secret) for a confidential client.
    pub async fn configure_client(
        &self,
        spec: &ClientSpec,
        secret_sha256: Option<[u8; 32]>,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<OidcClient, IdpError> {
        spec.check()?;
        let auth = match (spec.confidential, secret_sha256) {
            (true, Some(hash)) => ClientAuth::Confidential {
                secret_sha256: hash,
            },
            (false, None) => ClientAuth::Public,
            (true, None) => {
                return Err(IdpError::Config(
                    "a confidential client needs a secret hash".into(),
                ));
            }
            (false, Some(_)) => {
                return Err(IdpError::Config("a public client has no secret".into()));
            }
        };
        let client = spec.record(auth, self.config.default_alg, now);
        if let Some(existing) = self.store.client(&client.client_id).await? {
            let mut same = existing.clone();
            same.created_at = now;
            if same == client {
                return Ok(existing);
            }
        }
        self.store
            .put_client(
                &client,
                &client_event(actor, "oidc.client.configure", &client, now),
            )
            .await?;
        Ok(client)
    }

    /// Authenticates the client of a token request: `client_secret_basic` (the
    /// `Authorization` header), `client_secret_post` (form), or `none` (public clients, by
    /// `client_id`). Any failure is `invalid_client`; using two methods is `invalid_request`.
    pub(crate) async fn authenticate_client(
        &self,
        form: &Params<'_>,
        authorization: Option<&str>,
    ) -> Result<OidcClient, TokenError> {
        let invalid =
            || TokenError::refused(ErrorCode::InvalidClient, "client authentication failed");
        let repeated =
            |_| TokenError::refused(ErrorCode::InvalidRequest, "a parameter is repeated");
        let form_id = form.get("client_id").map_err(repeated)?;
        let form_secret = form.get("client_secret").map_err(repeated)?;
        let basic = match authorization {
            None => None,
            Some(value) => Some(parse_basic(value).ok_or_else(invalid)?),
        };
        let (client_id, secret) = match (basic, form_secret) {
            (Some(_), Some(_)) => {
                return Err(TokenError::refused(
                    ErrorCode::InvalidRequest,
                    "use one client authentication method",
                ));
            }
            (Some((id, secret)), None) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(invalid());
                }
                (id, Some(secret))
            }
            (None, secret) => {
                let id = form_id.ok_or_else(invalid)?.to_owned();
                (id, secret.map(str::to_owned))
            }
        };
        let client = self
            .store
            .client(&client_id)
            .await
            .map_err(IdpError::from)?
            .ok_or_else(invalid)?;
        match (&client.auth, secret) {
            (ClientAuth::Public, None) => Ok(client),
            (ClientAuth::Confidential { secret_sha256 }, Some(secret)) => {
                verify_slices_are_equal(&secret_hash(&secret), secret_sha256)
                    .map_err(|_| invalid())?;
                Ok(client)
            }
            // A public client presenting a secret, or a confidential one without.
            _ => Err(invalid()),
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let (id, secret) = (form_decode(id)?, form_decode(secret)?);
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:s%2Bcret"));
        assert_eq!(
            parse_basic(&header),
            Some(("my:client".into(), "s+cret".into()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        assert!(valid_uri("https://rp.example/cb"));
        assert!(valid_uri("http://127.0.0.1:8080/cb"));
        assert!(valid_uri("com.example.app:/cb"));
        assert!(!valid_uri("http://rp.example/cb"));
        assert!(!valid_uri("https://rp.example/cb#x"));
        assert!(!valid_uri("javascript:alert(1)"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = ClientSecret("very-secret".into());
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
