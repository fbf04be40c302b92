//! Keys on the card: GENERATE (P-256 only), GENERAL AUTHENTICATE (ECDSA signing of a
//! host-supplied SHA-256 hash; management-key challenge–response) and SET MANAGEMENT KEY.
//!
//! Private keys exist only as PKCS#8 inside the card state and as parsed key pairs in
//! memory; no command returns them.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use zeroize::Zeroizing;

use super::state::{KeyState, Secret};
use super::{Answer, VirtualCard};
use crate::apdu::Command;
use crate::piv;
use crate::secret::{ManagementAlgorithm, ManagementKey};
use crate::status::Sw;
use crate::tlv;

/// A P-256 key pair from PKCS#8.
pub(super) fn parse(pkcs8: &Secret) -> Result<EcdsaKeyPair, Unspecified> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8.0).map_err(|_| Unspecified)
}

/// `86 41 04‖X‖Y`: a P-256 public key as PIV writes it.
pub(super) fn public_point_tlv(pair: &EcdsaKeyPair) -> Vec<u8> {
    tlv::encode(0x86, pair.public_key().as_ref())
}

impl VirtualCard {
    fn require_management(&self) -> Result<(), Sw> {
        if self.session.management_authenticated {
            Ok(())
        } else {
            Err(Sw::SECURITY_STATUS)
        }
    }

    pub(super) fn generate(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        self.require_management()?;
        if cmd.p1 != 0 || self.state.key_mut(cmd.p2).is_none() {
            return Err(Sw::WRONG_P1P2);
        }
        let template = tlv::only(data, 0xAC).map_err(|_| Sw::WRONG_DATA)?;
        let items = tlv::parse_all(template).map_err(|_| Sw::WRONG_DATA)?;
        if tlv::find(&items, 0x80) != Some(&[piv::ALG_P256][..]) {
            return Err(Sw::WRONG_DATA);
        }
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| Sw::INTERNAL)?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| Sw::INTERNAL)?;
        let mut next = self.state.clone();
        if let Some(slot) = next.key_mut(cmd.p2) {
            *slot = Some(KeyState {
                pkcs8: Secret::new(pkcs8.as_ref()),
            });
        }
        self.commit(next)?;
        let response = tlv::encode(0x7F49, &public_point_tlv(&pair));
        self.keys.insert(cmd.p2, pair);
        Ok(response)
    }

    pub(super) fn general_authenticate(
        &mut self,
        cmd: &Command<'_>,
        data: &[u8],
        grant: bool,
    ) -> Answer {
        match cmd.p2 {
            piv::REF_MANAGEMENT => self.management(cmd, data),
            piv::SLOT_AUTHENTICATION | piv::SLOT_SIGNING => self.sign(cmd, data, grant),
            _ => Err(Sw::WRONG_P1P2),
        }
    }

    fn sign(&mut self, cmd: &Command<'_>, data: &[u8], grant: bool) -> Answer {
        if cmd.p1 != piv::ALG_P256 {
            return Err(Sw::WRONG_P1P2);
        }
        if !self.keys.contains_key(&cmd.p2) {
            return Err(Sw::NO_REFERENCE);
        }
        let allowed = if cmd.p2 == piv::SLOT_SIGNING {
            grant
        } else {
            self.session.pin1_verified
        };
        if !allowed {
            return Err(Sw::SECURITY_STATUS);
        }
        let template = tlv::only(data, 0x7C).map_err(|_| Sw::WRONG_DATA)?;
        let items = tlv::parse_all(template).map_err(|_| Sw::WRONG_DATA)?;
        if tlv::find(&items, 0x82) != Some(&[][..]) {
            return Err(Sw::WRONG_DATA);
        }
        let hash = tlv::find(&items, 0x81).ok_or(Sw::WRONG_DATA)?;
        let digest = Digest::import_less_safe(hash, &SHA256).map_err(|_| Sw::WRONG_DATA)?;
        let pair = self.keys.get(&cmd.p2).ok_or(Sw::NO_REFERENCE)?;
        let signature = pair.sign_digest(&digest).map_err(|_| Sw::INTERNAL)?;
        Ok(tlv::encode(0x7C, &tlv::encode(0x82, signature.as_ref())))
    }

    /// One-way authentication of the host: challenge (one block of the key's cipher), then
    /// the challenge enciphered with the key. Another algorithm than the key's is refused,
    /// as a YubiKey does.
    fn management(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        let algorithm = self.state.management_algorithm;
        if cmd.p1 != algorithm.byte() {
            return Err(Sw::WRONG_P1P2);
        }
        let template = tlv::only(data, 0x7C).map_err(|_| Sw::WRONG_DATA)?;
        let items = tlv::parse_all(template).map_err(|_| Sw::WRONG_DATA)?;
        match (
            tlv::find(&items, 0x81),
            tlv::find(&items, 0x82),
            items.len(),
        ) {
            (Some([]), None, 1) => {
                self.session.management_authenticated = false;
                let mut challenge = Zeroizing::new(vec![0u8; algorithm.challenge_len()]);
                aws_lc_rs::rand::fill(&mut challenge[..]).map_err(|_| Sw::INTERNAL)?;
                let response = tlv::encode(0x7C, &tlv::encode(0x81, &challenge[..]));
                self.session.challenge = Some(challenge);
                Ok(response)
            }
            (None, Some(answer), 1) => {
                // Each challenge admits exactly one answer, right or wrong.
                let challenge = self.session.challenge.take().ok_or(Sw::CONDITIONS)?;
                let key = self.management_key().ok_or(Sw::INTERNAL)?;
                let expected = key.respond_to(&challenge).ok_or(Sw::INTERNAL)?;
                let right = verify_slices_are_equal(&expected, answer).is_ok();
                self.session.management_authenticated = right;
                if right {
                    Ok(Vec::new())
                } else {
                    Err(Sw::SECURITY_STATUS)
                }
            }
            _ => Err(Sw::WRONG_DATA),
        }
    }

    /// The management key (validated on load to fit its algorithm).
    fn management_key(&self) -> Option<ManagementKey> {
        ManagementKey::new(
            self.state.management_algorithm,
            &self.state.management_key.0,
        )
    }

    pub(super) fn set_management_key(&mut self, cmd: &Command<'_>, data: &[u8]) -> Answer {
        self.require_management()?;
        if cmd.p1 != 0xFF || !matches!(cmd.p2, 0xFF | 0xFE) {
            return Err(Sw::WRONG_P1P2);
        }
        let [algorithm, piv::REF_MANAGEMENT, length, key @ ..] = data else {
            return Err(Sw::WRONG_DATA);
        };
        let algorithm = ManagementAlgorithm::from_byte(*algorithm).ok_or(Sw::WRONG_DATA)?;
        if usize::from(*length) != algorithm.key_len() || key.len() != algorithm.key_len() {
            return Err(Sw::WRONG_DATA);
        }
        let mut next = self.state.clone();
        next.management_key = Secret::new(key);
        next.management_algorithm = algorithm;
        next.personalised = true;
        self.commit(next)?;
        Ok(Vec::new())
    }

    /// Whether the management key is still the PIV default (of its algorithm).
    pub(super) fn management_key_is_default(&self) -> bool {
        self.management_key() == Some(ManagementKey::piv_default(self.state.management_algorithm))
    }
}
