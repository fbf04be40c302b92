//! Rate limits, counted in the store so every node of an installation shares them, and the
//! client address for logs.
//!
//! Two limits (DESIGN.md: never lock out by address alone; a hospital's staff share a few
//! NAT addresses):
//!
//! - **order starts per browser session** (`POST /login`): the key is the browser-session
//!   cookie;
//! - **order completions per card** (`POST /app/v1/complete`): the key is the SHA-256 of the
//!   authentication certificate the app presents, which names one card's key. Counting
//!   happens before the signature is checked, so attempts count, not only successes.
//!
//! A fixed window: window `w = floor(unix seconds / period)`; the `n`-th request in a
//! window takes slot `n` by [`Store::use_once`] of `(key, w, slot)`, trying slots from 0, so
//! the store's uniqueness makes the count exact across nodes without a counter table. When
//! all `max` slots of the window are taken the request is refused with 429 and a
//! `Retry-After` of the seconds left in the window. Slot records are kept until the window
//! ends and then purged by housekeeping (`purge_used_once`).
//!
//! `X-Forwarded-For` is believed only from a directly connected proxy listed in
//! `trusted_proxies`; it is used for logs only, never for a limit or a decision.

use std::net::{IpAddr, SocketAddr};

use aws_lc_rs::digest;
use axum::http::HeaderMap;
use eid_store::{Conflict, Store, StoreError};
use time::OffsetDateTime;

/// At most `max` events per `period_secs` seconds. `max == 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Events allowed per window.
    pub max: u32,
    /// The window's length in seconds (at least 1).
    pub period_secs: u32,
}

impl RateLimit {
    /// `max` per minute.
    pub const fn per_minute(max: u32) -> Self {
        Self {
            max,
            period_secs: 60,
        }
    }
}

/// The server's rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Order starts (`POST /login`) per browser session. Default 10 per minute.
    pub order_starts_per_session: RateLimit,
    /// Order completions (`POST /app/v1/complete`) per card. Default 10 per minute.
    pub completions_per_card: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            order_starts_per_session: RateLimit::per_minute(10),
            completions_per_card: RateLimit::per_minute(10),
        }
    }
}

/// The `use_once` purpose of order-start slots.
pub(crate) const ORDER_START: &str = "ratelimit.order-start";
/// The `use_once` purpose of completion slots.
pub(crate) const COMPLETION: &str = "ratelimit.completion";

/// Takes one slot of `limit` for `key` at `now`: `Ok(None)` if allowed, `Ok(Some(seconds))`
/// (until the window ends) if the limit is reached.
pub(crate) async fn take<S: Store + ?Sized>(
    store: &S,
    purpose: &str,
    key: &[u8],
    limit: RateLimit,
    now: OffsetDateTime,
) -> Result<Option<u64>, StoreError> {
    if limit.max == 0 {
        return Ok(None);
    }
    let period = i64::from(limit.period_secs.max(1));
    let t = now.unix_timestamp();
    let window = t.div_euclid(period);
    let window_end = (window + 1) * period;
    let keep_until =
        OffsetDateTime::from_unix_timestamp(window_end).unwrap_or(now) + time::Duration::SECOND;
    let key_hash = digest::digest(&digest::SHA256, key);
    for slot in 0..limit.max {
        let mut value = Vec::with_capacity(32 + 12);
        value.extend_from_slice(key_hash.as_ref());
        value.extend_from_slice(&window.to_be_bytes());
        value.extend_from_slice(&slot.to_be_bytes());
        match store.use_once(purpose, &value, keep_until).await {
            Ok(()) => return Ok(None),
            Err(StoreError::Conflict(Conflict::OneTimeValue)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(u64::try_from(window_end - t).unwrap_or(1).max(1)))
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// The client's address for logs: the peer, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Anyone else's
/// `X-Forwarded-For` is ignored.
pub fn client_address(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let mut forwarded: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => forwarded.push(ip),
                // A malformed chain is not believed.
                Err(_) => return Some(peer),
            }
        }
    }
    let mut client = peer;
    for ip in forwarded.into_iter().rev() {
        client = ip;
        if !trusted_proxies.contains(&ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use axum::http::HeaderValue;

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        let h = xff("198.51.100.7");
        // Not trusted by default.
        assert_eq!(client_address(Some(proxy), &h, &[]), Some(ip("127.0.0.1")));
        // From a stranger the header is ignored.
        assert_eq!(
            client_address(Some(stranger), &h, &trusted),
            Some(ip("203.0.113.9"))
        );
        // From a trusted proxy the right-most untrusted entry counts, not a spoofed
        // left-most one.
        assert_eq!(
            client_address(
                Some(proxy),
                &xff("1.2.3.4, 198.51.100.7, 10.0.0.2"),
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_address(Some(proxy), &h, &trusted),
            Some(ip("198.51.100.7"))
        );
        // No header, or a malformed one: the peer.
        assert_eq!(
            client_address(Some(proxy), &HeaderMap::new(), &trusted),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            client_address(Some(proxy), &xff("nonsense"), &trusted),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(client_address(None, &h, &trusted), None);
    }
}
