//! The CA key algorithms this platform supports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Algorithm of a CA key (root or issuing CA). Signatures are ECDSA with SHA-256 for P-256
/// and RSA PKCS#1 v1.5 with SHA-256 for RSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (the default: small, fast, what smart cards do well).
    #[default]
    P256,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order shown to users.
    pub const ALL: [KeyAlgorithm; 3] = [Self::P256, Self::Rsa2048, Self::Rsa3072];

    /// The name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
        }
    }

    /// The rcgen signature algorithm a key of this kind signs certificates with.
    pub(crate) fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Rsa2048 | Self::Rsa3072 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key algorithm name that is not one of `p256`, `rsa2048`, `rsa3072`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm `{0}`: use p256, rsa2048 or rsa3072")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownKeyAlgorithm(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.to_string().parse::<KeyAlgorithm>().unwrap(), alg);
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{alg}\""));
            assert_eq!(serde_json::from_str::<KeyAlgorithm>(&json).unwrap(), alg);
        }
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::P256);
        let err = "ed25519".parse::<KeyAlgorithm>().unwrap_err();
        assert!(err.to_string().contains("p256, rsa2048 or rsa3072"));
    }
}
