//! [`FileSigner`]: a CA key held in memory, read from and written to an unencrypted PKCS#8
//! PEM file (protected by file permissions). The HSM signer will replace it in production.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256,
};
use zeroize::{Zeroize, Zeroizing};

use crate::{KeyAlgorithm, Signer, SignerError};

/// The PEM label of an unencrypted PKCS#8 private key.
const PKCS8_LABEL: &str = "PRIVATE KEY";

/// A CA key in a file: P-256 or RSA-2048/3072, through aws-lc-rs.
pub struct FileSigner {
    algorithm: KeyAlgorithm,
    key: Key,
    spki: Vec<u8>,
}

enum Key {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl fmt::Debug for FileSigner {
    /// Never shows the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSigner")
            .field("algorithm", &self.algorithm)
            .field("spki_sha256", &hex::encode(crate::sha256(&self.spki)))
            .finish_non_exhaustive()
    }
}

impl FileSigner {
    /// A new random key (from aws-lc-rs's system random source).
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, SignerError> {
        let failed = |_| SignerError::Generate(algorithm);
        let key = match algorithm {
            KeyAlgorithm::P256 => {
                Key::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(failed)?)
            }
            KeyAlgorithm::Rsa2048 => {
                Key::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?)
            }
            KeyAlgorithm::Rsa3072 => {
                Key::Rsa(RsaKeyPair::generate(KeySize::Rsa3072).map_err(failed)?)
            }
        };
        Self::from_key(algorithm, key).map_err(|_| SignerError::Generate(algorithm))
    }

    /// Reads an unencrypted PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`) and
    /// detects its algorithm.
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, SignerError> {
        let block = pem::parse(pem_text).map_err(|e| SignerError::NotPem(e.to_string()))?;
        match block.tag() {
            PKCS8_LABEL => {}
            "ENCRYPTED PRIVATE KEY" => return Err(SignerError::Encrypted),
            other => return Err(SignerError::WrongPemLabel(other.to_owned())),
        }
        let der = Zeroizing::new(block.into_contents());
        Self::from_pkcs8_der(&der)
    }

    /// Reads an unencrypted PKCS#8 DER private key and detects its algorithm.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignerError> {
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            return Self::from_key(KeyAlgorithm::P256, Key::Ec(key));
        }
        if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
            let algorithm = match key.public_modulus_len() * 8 {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                bits => return Err(SignerError::UnsupportedKey(format!("an RSA-{bits} key"))),
            };
            return Self::from_key(algorithm, Key::Rsa(key));
        }
        if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der).is_ok() {
            return Err(SignerError::UnsupportedKey("an EC P-384 key".into()));
        }
        if Ed25519KeyPair::from_pkcs8(der).is_ok() {
            return Err(SignerError::UnsupportedKey("an Ed25519 key".into()));
        }
        Err(SignerError::Corrupt)
    }

    fn from_key(algorithm: KeyAlgorithm, key: Key) -> Result<Self, SignerError> {
        let spki: Result<PublicKeyX509Der<'static>, _> = match &key {
            Key::Ec(k) => k.public_key().as_der(),
            Key::Rsa(k) => k.public_key().as_der(),
        };
        let spki = spki.map_err(|_| SignerError::BadPublicKey("cannot encode".into()))?;
        Ok(Self {
            algorithm,
            key,
            spki: spki.as_ref().to_vec(),
        })
    }

    /// The private key as unencrypted PKCS#8 PEM, wiped from memory when dropped. Write it
    /// only to a file readable by the CA's user alone.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, SignerError> {
        let der: Zeroizing<Vec<u8>> = match &self.key {
            Key::Ec(k) => Zeroizing::new(
                k.to_pkcs8v1()
                    .map_err(|_| SignerError::Export)?
                    .as_ref()
                    .to_vec(),
            ),
            Key::Rsa(k) => {
                let der: Pkcs8V1Der<'static> = k.as_der().map_err(|_| SignerError::Export)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
        };
        let block = pem::Pem::new(PKCS8_LABEL, der.to_vec());
        let text = Zeroizing::new(pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ));
        block.into_contents().zeroize();
        Ok(text)
    }
}

impl Signer for FileSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Ec(k) => k
                .sign(&rng, msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| SignerError::Sign("ECDSA signing failed".into())),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|_| SignerError::Sign("RSA signing failed".into()))?;
                Ok(sig)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem() {
        for alg in KeyAlgorithm::ALL {
            let signer = FileSigner::generate(alg).unwrap();
            let pem = signer.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let again = FileSigner::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.spki_der(), signer.spki_der());
            assert!(!format!("{again:?}").contains("BEGIN"));
        }
    }

    #[test]
    fn bad_key_files_get_clear_errors() {
        assert!(matches!(
            FileSigner::from_pkcs8_pem("not a key"),
            Err(SignerError::NotPem(_))
        ));
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![0x30, 0]));
        assert!(matches!(
            FileSigner::from_pkcs8_pem(&cert),
            Err(SignerError::WrongPemLabel(l)) if l == "CERTIFICATE"
        ));
        let enc = pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", vec![0x30, 0]));
        assert!(matches!(
            FileSigner::from_pkcs8_pem(&enc),
            Err(SignerError::Encrypted)
        ));
        let junk = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![0x30, 3, 1, 2, 3]));
        let err = FileSigner::from_pkcs8_pem(&junk).unwrap_err();
        assert!(matches!(err, SignerError::Corrupt), "{err}");

        let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
        let der = p384.to_pkcs8v1().unwrap();
        let err = FileSigner::from_pkcs8_der(der.as_ref()).unwrap_err();
        assert!(err.to_string().contains("P-384"), "{err}");

        let rsa4096 = RsaKeyPair::generate(KeySize::Rsa4096).unwrap();
        let der: Pkcs8V1Der<'static> = rsa4096.as_der().unwrap();
        let err = FileSigner::from_pkcs8_der(der.as_ref()).unwrap_err();
        assert!(err.to_string().contains("RSA-4096"), "{err}");
    }
}
