//! The engine's settings: the server origin that goes into every to-be-signed structure,
//! and how long orders and browser sessions live.

use time::Duration;

use crate::OrderError;

/// How the engine runs. [`OrderConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderConfig {
    /// The server's origin as the eID app reaches it (`https://host[:port]`); the card
    /// signs it, so a signature made for another server is refused here.
    pub server_origin: String,
    /// How long an order may take from start to the browser's return (default 3 minutes).
    pub order_lifetime: Duration,
    /// How long a completed order stays collectable (default 3 minutes).
    pub complete_kept: Duration,
    /// How long a failed order stays collectable (default 5 minutes; an order that expired
    /// is kept as long after its expiry).
    pub failed_kept: Duration,
    /// How long a browser session of the order flow lives (default 1 hour).
    pub browser_session_lifetime: Duration,
    /// The clients that may start `enrollSign` orders (fetch a signing certificate):
    /// default `["mypages"]`, My Pages only.
    pub enroll_clients: Vec<String>,
}

impl OrderConfig {
    /// The defaults for a server at `server_origin`.
    pub fn new(server_origin: impl Into<String>) -> Self {
        Self {
            server_origin: server_origin.into(),
            order_lifetime: Duration::minutes(3),
            complete_kept: Duration::minutes(3),
            failed_kept: Duration::minutes(5),
            browser_session_lifetime: Duration::hours(1),
            enroll_clients: vec!["mypages".to_owned()],
        }
    }

    /// Refuses an origin that is not `http(s)://host[:port]` and durations that are not
    /// positive.
    pub(crate) fn check(&self) -> Result<(), OrderError> {
        let bad = |why: &str| Err(OrderError::Config(why.to_owned()));
        let origin = &self.server_origin;
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match host {
            Some(host)
                if !host.is_empty()
                    && host.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                    }) => {}
            _ => return bad("server_origin must be http(s)://host[:port], without a path"),
        }
        for (name, d) in [
            ("order_lifetime", self.order_lifetime),
            ("complete_kept", self.complete_kept),
            ("failed_kept", self.failed_kept),
            ("browser_session_lifetime", self.browser_session_lifetime),
        ] {
            if !d.is_positive() {
                return bad(&format!("{name} must be positive"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        for good in [
            "https://eid.example",
            "http://127.0.0.1:8080",
            "https://[::1]:443",
        ] {
            assert!(OrderConfig::new(good).check().is_ok(), "{good}");
        }
        for bad in [
            "",
            "eid.example",
            "https://",
            "https://eid.example/",
            "https://eid.example/path",
            "ftp://eid.example",
            "https://user@eid.example",
        ] {
            assert!(OrderConfig::new(bad).check().is_err(), "{bad}");
        }
        let mut zero = OrderConfig::new("https://eid.example");
        zero.order_lifetime = Duration::ZERO;
        assert!(zero.check().is_err());
    }
}
