//! The portal's settings.

use time::Duration;

/// The portal's `client_id` at the identity provider.
pub const CLIENT_ID: &str = "mypages";
/// The scopes the portal asks for (`openid` first).
pub const SCOPES: [&str; 4] = ["openid", "profile", "mypages.profile", "mypages.api"];
/// The API's audience (and scope).
pub const API_AUDIENCE: &str = "mypages.api";
/// Where the portal's pages live under the public URL.
pub const BASE_PATH: &str = "/mypages";
/// The callback path.
pub const CALLBACK_PATH: &str = "/mypages/signin-oidc";

/// What the portal needs to know.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The public URL of the server that serves the portal (`https://host[:port]`, no
    /// trailing slash).
    pub public_url: String,
    /// The identity provider's issuer, found by discovery (default: the same server).
    pub issuer: String,
    /// The display name of the portal at the provider (*Mina sidor*).
    pub client_name: String,
    /// How long a portal session lasts at most (default 8 hours).
    pub session_ttl: Duration,
    /// How long a login may take from *LOGGA IN* to the callback (default 10 minutes).
    pub pending_ttl: Duration,
}

impl PortalConfig {
    /// The defaults for a portal at `public_url` whose provider is the same server.
    pub fn new(public_url: &str) -> Self {
        let public_url = public_url.trim_end_matches('/').to_owned();
        Self {
            issuer: public_url.clone(),
            public_url,
            client_name: "Mina sidor".into(),
            session_ttl: Duration::hours(8),
            pending_ttl: Duration::minutes(10),
        }
    }

    /// `<public_url>/mypages/signin-oidc`.
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url)
    }

    /// `<public_url>/mypages`: where the provider sends the browser after logout.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}{BASE_PATH}", self.public_url)
    }
}
