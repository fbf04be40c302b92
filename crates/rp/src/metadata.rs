use serde::Deserialize;

use crate::RpError;

/// The parts of a provider's discovery document a code-flow relying party uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl Metadata {
    /// Fetches `{issuer}/.well-known/openid-configuration` and checks it.
    pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Self, RpError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = crate::flow::get_json(http, &url).await?;
        Self::parse(&body, issuer)
    }

    /// Checks a discovery document for `issuer` (Discovery §4.3: the `issuer` in the
    /// document must be identical to the one asked for).
    pub fn parse(body: &[u8], issuer: &str) -> Result<Self, RpError> {
        let metadata: Self = serde_json::from_slice(body).map_err(|e| RpError::BadMetadata {
            what: "discovery document",
            reason: e.to_string(),
        })?;
        if metadata.issuer != issuer {
            return Err(RpError::BadMetadata {
                what: "discovery document",
                reason: format!("it names issuer {:?}, not {issuer:?}", metadata.issuer),
            });
        }
        for (what, url) in [
            ("issuer", Some(&metadata.issuer)),
            (
                "authorization endpoint",
                Some(&metadata.authorization_endpoint),
            ),
            ("token endpoint", Some(&metadata.token_endpoint)),
            ("JWKS URI", Some(&metadata.jwks_uri)),
            ("userinfo endpoint", metadata.userinfo_endpoint.as_ref()),
            (
                "end-session endpoint",
                metadata.end_session_endpoint.as_ref(),
            ),
        ] {
            if let Some(url) = url {
                check_url(what, url)?;
            }
        }
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err(RpError::BadMetadata {
                what: "discovery document",
                reason: "the provider does not announce PKCE S256".into(),
            });
        }
        Ok(metadata)
    }
}

/// HTTPS, or plain HTTP on a loopback address only.
fn check_url(what: &'static str, url: &str) -> Result<(), RpError> {
    let loopback = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://[::1]",
        "http://localhost:",
        "http://localhost/",
    ];
    if url.starts_with("https://") || loopback.iter().any(|p| url.starts_with(p)) {
        Ok(())
    } else {
        Err(RpError::BadMetadata {
            what,
            reason: format!("{url:?} is neither HTTPS nor loopback HTTP"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(issuer: &str, extra: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize",
            "token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks",
            "code_challenge_methods_supported":["S256"]{extra}}}"#
        )
    }

    #[test]
    fn the_issuer_must_be_the_one_asked_for() {
        let body = document("https://idp.example", "");
        assert!(Metadata::parse(body.as_bytes(), "https://idp.example").is_ok());
        let e = Metadata::parse(body.as_bytes(), "https://other.example").unwrap_err();
        assert!(e.to_string().contains("names issuer"), "{e}");
    }

    #[test]
    fn plain_http_only_on_loopback_and_s256_required() {
        let body = document("http://idp.example", "");
        assert!(Metadata::parse(body.as_bytes(), "http://idp.example").is_err());
        let body = document("http://127.0.0.1:8080", "");
        assert!(Metadata::parse(body.as_bytes(), "http://127.0.0.1:8080").is_ok());
        let body = r#"{"issuer":"https://i","authorization_endpoint":"https://i/a",
            "token_endpoint":"https://i/t","jwks_uri":"https://i/j"}"#;
        let e = Metadata::parse(body.as_bytes(), "https://i").unwrap_err();
        assert!(e.to_string().contains("S256"), "{e}");
        assert!(Metadata::parse(b"not json", "https://i").is_err());
    }
}
