//! Request parameters (a decoded query string or form), URL building, and the small encodings
//! every endpoint needs (base64url, SHA-256, random values).
//!
//! Parameters follow RFC 6749 §3.1: one sent without a value counts as omitted, and one sent
//! twice is an error. Never logs a parameter value (codes and secrets arrive here).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::CryptoRng;

/// A parameter that was sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repeated;

/// The parameters of one request.
#[derive(Default)]
pub(crate) struct Params<'a> {
    values: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(pairs: &'a [(String, String)]) -> Self {
        let mut values: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, value) in pairs {
            if !value.is_empty() {
                values
                    .entry(name.as_str())
                    .or_default()
                    .push(value.as_str());
            }
        }
        Self { values }
    }

    /// The value of `name`: `None` when absent or empty, [`Repeated`] when sent twice.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&'a str>, Repeated> {
        match self.values.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(Repeated),
        }
    }

    /// Whether `name` was sent (with a value).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` value (for `client_secret_basic`).
pub(crate) fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `uri` with `pairs` added to its query (the URI may already have one; a fragment is kept
/// out of the query, though registered URIs never have one).
pub(crate) fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = match uri.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (uri, None),
    };
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    if base.ends_with(['?', '&']) {
        sep = '\0';
    }
    for (name, value) in pairs {
        if sep != '\0' {
            out.push(sep);
        }
        sep = '&';
        out.push_str(name);
        out.push('=');
        out.push_str(&form_encode(value));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// 256 random bits, base64url (43 characters): codes, session ids, secrets.
pub(crate) fn random_token<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    b64url(&bytes)
}

/// 128 random bits, base64url: identifiers that need not be secret (grant ids, `jti`).
pub(crate) fn random_id<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    b64url(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_repeats_are_errors() {
        let pairs = vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), String::new()),
            ("c".to_string(), "x".to_string()),
            ("c".to_string(), "y".to_string()),
        ];
        let p = Params::new(&pairs);
        assert_eq!(p.get("a"), Ok(Some("1")));
        assert_eq!(p.get("b"), Ok(None));
        assert_eq!(p.get("c"), Err(Repeated));
        assert!(!p.has("b"));
    }

    #[test]
    fn queries_are_appended_and_encoded() {
        assert_eq!(
            append_query("https://rp/cb", &[("code", "a b"), ("iss", "https://x")]),
            "https://rp/cb?code=a%20b&iss=https%3A%2F%2Fx"
        );
        assert_eq!(
            append_query("https://rp/cb?x=1", &[("a", "1")]),
            "https://rp/cb?x=1&a=1"
        );
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%4"), None);
    }
}
