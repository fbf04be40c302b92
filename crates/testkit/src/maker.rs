//! A card maker's attestation CA, shaped as Yubico's: a root, an intermediate that issues
//! the F9 certificates, and the factory step that gives a plain PIV virtual card its F9
//! key and certificate ([`VirtualCard::install_factory_attestation`]). For testing YubiKey
//! attestation without a YubiKey: the platform trusts the maker's roots from a PEM file
//! (`[cards] vendor_attestation_roots`), as it would trust Yubico's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failure is the test's.

use eid_card::VirtualCard;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, Issuer,
    KeyPair, SubjectPublicKeyInfo,
};

/// Yubico's serial number extension, `1.3.6.1.4.1.41482.3.7` (a DER INTEGER).
const SERIAL_OID: [u64; 9] = [1, 3, 6, 1, 4, 1, 41482, 3, 7];

/// A card maker with its own attestation root and intermediate.
#[derive(Debug)]
pub struct CardMaker {
    root: Certificate,
    intermediate: Certificate,
    intermediate_params: CertificateParams,
    intermediate_key: KeyPair,
}

impl CardMaker {
    /// A new maker whose root and intermediate are named after `name`.
    pub fn new(name: &str) -> Self {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params(&format!("{name} PIV Root CA"), None);
        let root = root_params.self_signed(&root_key).unwrap();
        let intermediate_key = KeyPair::generate().unwrap();
        let intermediate_params = ca_params(&format!("{name} PIV Attestation"), Some(0));
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &Issuer::new(root_params, &root_key))
            .unwrap();
        Self {
            root,
            intermediate,
            intermediate_params,
            intermediate_key,
        }
    }

    /// The root and the intermediate, PEM: what an operator puts in
    /// `vendor_attestation_roots`.
    pub fn roots_pem(&self) -> String {
        [self.root.pem(), self.intermediate.pem()].concat()
    }

    /// The F9 certificate the factory gives the key `spki` (DER) of the card with serial
    /// number `serial`, issued by the intermediate.
    pub fn certify_attestation_key(&self, spki: &[u8], serial: u32) -> Vec<u8> {
        let mut params = CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "Yubico PIV Attestation");
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &SERIAL_OID,
                der_integer(serial),
            ));
        let issuer = Issuer::new(self.intermediate_params.clone(), &self.intermediate_key);
        params
            .signed_by(&SubjectPublicKeyInfo::from_der(spki).unwrap(), &issuer)
            .unwrap()
            .der()
            .to_vec()
    }

    /// The factory step for a plain PIV card: its F9 key and this maker's certificate.
    pub fn install(&self, card: &mut VirtualCard) {
        let serial: u32 = card.profile().card_number.parse().unwrap();
        card.install_factory_attestation(|spki| self.certify_attestation_key(spki, serial))
            .unwrap();
    }
}

fn ca_params(common_name: &str, path_len: Option<u8>) -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params
}

/// A DER INTEGER of an unsigned 32-bit number.
fn der_integer(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut content = bytes[skip..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    let mut der = vec![0x02, content.len() as u8];
    der.extend(content);
    der
}
