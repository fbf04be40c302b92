//! The discovery document (`/.well-known/openid-configuration`) for the configured issuer.
//! Plain data: it never contains a key or secret.

use serde_json::{Value, json};

use crate::claims::{ACR_LOA3, CLAIMS_SUPPORTED};
use crate::{Backend, Provider};

impl<S: Backend> Provider<S> {
    /// The discovery document. `issuer` is exactly the configured issuer (the HTTP layer
    /// serves it at `<issuer>/.well-known/openid-configuration`).
    pub fn discovery(&self) -> Value {
        let c = &self.config;
        let mut scopes = vec!["openid".to_owned(), "profile".to_owned()];
        scopes.extend(c.api_scopes.iter().cloned());
        json!({
            "issuer": c.issuer,
            "authorization_endpoint": c.endpoints.authorization,
            "token_endpoint": c.endpoints.token,
            "userinfo_endpoint": c.endpoints.userinfo,
            "jwks_uri": c.endpoints.jwks,
            "end_session_endpoint": c.endpoints.end_session,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": scopes,
            "claims_supported": CLAIMS_SUPPORTED,
            "claims_parameter_supported": false,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "require_request_uri_registration": false,
            "prompt_values_supported": ["none", "login"],
            "acr_values_supported": [ACR_LOA3],
            "display_values_supported": ["page", "popup"],
            "ui_locales_supported": ["sv", "en"],
            "claim_types_supported": ["normal"],
        })
    }
}
