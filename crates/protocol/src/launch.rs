//! `eid://` launch links: how a page on this device opens the eID app, as BankID's
//! `bankid:///?autostarttoken=…`. The link carries only the one-time autostart token; the
//! app fetches the order with it and shows and signs what the server says, never anything
//! from the link.

use std::fmt;

use crate::ProtocolError;

/// The longest link accepted.
const MAX_LINK: usize = 2048;

/// The shortest and longest autostart token accepted (the server's are 43 characters).
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// A checked launch link: `eid:///?autostarttoken=<token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct LaunchLink {
    autostart_token: String,
}

impl fmt::Debug for LaunchLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a one-time secret: never in a log.
        f.debug_struct("LaunchLink").finish_non_exhaustive()
    }
}

impl LaunchLink {
    /// Parses and checks a link. The scheme is `eid` (any case), the authority empty, the
    /// path `/`; the query has exactly one `autostarttoken` of 16 to 128 characters
    /// `A–Z a–z 0–9 - _`; BankID's `redirect` parameter and unknown parameters are
    /// ignored (nothing is taken from them); a fragment is refused.
    pub fn parse(link: &str) -> Result<Self, ProtocolError> {
        let bad = |why| Err(ProtocolError::LaunchLink(why));
        if link.len() > MAX_LINK {
            return bad("the link is too long");
        }
        let Some(rest) = link
            .get(..8)
            .filter(|head| head.eq_ignore_ascii_case("eid:///?"))
            .and_then(|_| link.get(8..))
        else {
            return bad("it does not start with eid:///?");
        };
        if rest.contains('#') {
            return bad("it has a fragment");
        }
        let mut token = None;
        for pair in rest.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != "autostarttoken" {
                continue;
            }
            if token.replace(value).is_some() {
                return bad("it has more than one autostarttoken");
            }
        }
        let Some(token) = token else {
            return bad("it has no autostarttoken");
        };
        if !Self::token_is_well_formed(token) {
            return bad("its autostarttoken is malformed");
        }
        Ok(Self {
            autostart_token: token.to_owned(),
        })
    }

    /// A link for `token`, refused unless the token is well-formed.
    pub fn new(token: &str) -> Result<Self, ProtocolError> {
        Self::parse(&format!("eid:///?autostarttoken={token}"))
    }

    /// Whether `token` has the form of an autostart token.
    pub fn token_is_well_formed(token: &str) -> bool {
        TOKEN_LEN.contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// The autostart token. A one-time secret: keep it out of logs.
    pub fn autostart_token(&self) -> &str {
        &self.autostart_token
    }

    /// The link, `eid:///?autostarttoken=<token>`.
    pub fn to_uri(&self) -> String {
        format!("eid:///?autostarttoken={}", self.autostart_token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use super::*;

    const TOKEN: &str = "Zm9vYmFyYmF6cXV4LXRva2VuX3Rlc3QtMDEyMzQ1Njc4OQ";

    #[test]
    fn good_links_are_accepted() {
        for link in [
            format!("eid:///?autostarttoken={TOKEN}"),
            format!("EID:///?autostarttoken={TOKEN}"),
            format!("eid:///?autostarttoken={TOKEN}&redirect=null"),
            format!("eid:///?redirect=null&autostarttoken={TOKEN}&future=1"),
        ] {
            let parsed = LaunchLink::parse(&link).unwrap();
            assert_eq!(parsed.autostart_token(), TOKEN);
            assert_eq!(parsed.to_uri(), format!("eid:///?autostarttoken={TOKEN}"));
        }
        assert_eq!(LaunchLink::new(TOKEN).unwrap().autostart_token(), TOKEN);
    }

    #[test]
    fn bad_links_are_refused() {
        for link in [
            String::new(),
            format!("bankid:///?autostarttoken={TOKEN}"),
            format!("eid://evil.example/?autostarttoken={TOKEN}"),
            format!("eid:/?autostarttoken={TOKEN}"),
            format!("https:///?autostarttoken={TOKEN}"),
            "eid:///?autostarttoken=".into(),
            "eid:///?autostarttoken=short".into(),
            format!("eid:///?autostarttoken={TOKEN}%20"),
            format!("eid:///?autostarttoken={TOKEN}.x"),
            format!("eid:///?autostarttoken={TOKEN}#frag"),
            format!("eid:///?autostarttoken={TOKEN}&autostarttoken={TOKEN}"),
            format!("eid:///?AUTOSTARTTOKEN={TOKEN}"),
            format!("eid:///?autostarttoken={}", "a".repeat(129)),
            format!("eid:///?x={}&autostarttoken={TOKEN}", "a".repeat(3000)),
            "eid:///?redirect=null".into(),
            "é".repeat(8),
        ] {
            assert!(LaunchLink::parse(&link).is_err(), "{link}");
        }
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let link = LaunchLink::new(TOKEN).unwrap();
        assert!(!format!("{link:?}").contains(TOKEN));
    }
}
