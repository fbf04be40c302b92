//! The canonical to-be-signed structure: what the card's authentication key signs to
//! complete an order. Versioned; version 1 is encoded as follows (also in
//! `docs/protocol.md`):
//!
//! ```text
//! "eid-tbs-v1" 0x00                      domain tag and version (11 bytes)
//! field(kind)                            wire name, ASCII: "auth", "enrollSign", ...
//! field(orderRef)                        UTF-8
//! field(serverNonce)                     UTF-8 (as the app received it)
//! field(serverOrigin)                    UTF-8, e.g. "https://eid.example"
//! field(text)                            UTF-8, exactly the text shown
//! 0x00                                   no enrollment part (every kind but enrollSign)
//!   or
//! 0x01 field(sha256(new SPKI))           32 bytes
//!      field(cardNumber)                 UTF-8
//!      field(authCertificateSerial)      big-endian, no leading zero byte
//! field(x) = length of x as u32 big-endian, then x
//! ```
//!
//! Every field has a length prefix and a fixed place, and the optional part has an explicit
//! presence byte, so two different structures never encode to the same bytes: a login
//! signature cannot be replayed as an enrollment approval, for another order, or at another
//! server. The card signs SHA-256 of these bytes ([`ToBeSigned::digest`]).

use crate::{AppOrder, OrderKind, ProtocolError};

/// The domain tag that starts every version-1 encoding: `eid-tbs-v1` and a zero byte.
pub const TBS_DOMAIN_TAG_V1: &[u8; 11] = b"eid-tbs-v1\0";

/// What the card signs to complete an order. The app builds it from the order it fetched;
/// the server rebuilds it from the order it stored; the bytes must be equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToBeSigned {
    /// What is asked.
    pub kind: OrderKind,
    /// The order's reference.
    pub order_ref: String,
    /// The server's nonce for the order.
    pub server_nonce: String,
    /// The server's origin.
    pub server_origin: String,
    /// The text shown to the card holder.
    pub text: String,
    /// For an `enrollSign` order (and only then): what is approved.
    pub enrollment: Option<Enrollment>,
}

/// The part of an enrollment approval that names the new key and the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// SHA-256 of the new signing key's DER SubjectPublicKeyInfo.
    pub new_public_key_sha256: [u8; 32],
    /// The card the key is on.
    pub card_number: String,
    /// Serial of the card's authentication certificate (big-endian, no leading zeros).
    pub auth_certificate_serial: Vec<u8>,
}

impl ToBeSigned {
    /// The structure for `order` as the app fetched it, with the enrollment part for an
    /// `enrollSign` order.
    pub fn for_order(order: &AppOrder, enrollment: Option<Enrollment>) -> Self {
        Self {
            kind: order.kind,
            order_ref: order.order_ref.clone(),
            server_nonce: order.server_nonce.clone(),
            server_origin: order.server_origin.clone(),
            text: order.text.clone(),
            enrollment,
        }
    }

    /// The version-1 encoding. Refused when the enrollment part does not match the kind,
    /// or a field is empty (all but the text) or longer than a `u32` can say.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let kind = self.kind.as_str();
        match (self.kind, &self.enrollment) {
            (OrderKind::EnrollSign, None) => {
                return Err(ProtocolError::TbsInconsistent {
                    kind,
                    problem: "lacks its enrollment part",
                });
            }
            (OrderKind::EnrollSign, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ProtocolError::TbsInconsistent {
                    kind,
                    problem: "must not have an enrollment part",
                });
            }
        }
        let mut out = Vec::with_capacity(
            128 + self.text.len() + self.order_ref.len() + self.server_origin.len(),
        );
        out.extend_from_slice(TBS_DOMAIN_TAG_V1);
        field(&mut out, "kind", kind.as_bytes())?;
        field(&mut out, "orderRef", nonempty("orderRef", &self.order_ref)?)?;
        field(
            &mut out,
            "serverNonce",
            nonempty("serverNonce", &self.server_nonce)?,
        )?;
        field(
            &mut out,
            "serverOrigin",
            nonempty("serverOrigin", &self.server_origin)?,
        )?;
        field(&mut out, "text", self.text.as_bytes())?;
        match &self.enrollment {
            None => out.push(0x00),
            Some(e) => {
                out.push(0x01);
                field(&mut out, "newPublicKeySha256", &e.new_public_key_sha256)?;
                field(
                    &mut out,
                    "cardNumber",
                    nonempty("cardNumber", &e.card_number)?,
                )?;
                let serial = &e.auth_certificate_serial;
                if serial.first().is_none_or(|b| *b == 0) {
                    return Err(ProtocolError::TbsField {
                        field: "authCertificateSerial",
                        problem: "must be non-empty big-endian bytes without a leading zero",
                    });
                }
                field(&mut out, "authCertificateSerial", serial)?;
            }
        }
        Ok(out)
    }

    /// SHA-256 of [`ToBeSigned::encode`]: the digest the card signs.
    pub fn digest(&self) -> Result<[u8; 32], ProtocolError> {
        let bytes = self.encode()?;
        let mut out = [0u8; 32];
        out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref());
        Ok(out)
    }
}

fn nonempty<'a>(name: &'static str, value: &'a str) -> Result<&'a [u8], ProtocolError> {
    if value.is_empty() {
        Err(ProtocolError::TbsField {
            field: name,
            problem: "is empty",
        })
    } else {
        Ok(value.as_bytes())
    }
}

fn field(out: &mut Vec<u8>, name: &'static str, value: &[u8]) -> Result<(), ProtocolError> {
    let len = u32::try_from(value.len()).map_err(|_| ProtocolError::TbsField {
        field: name,
        problem: "is longer than 4 GiB",
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests.
    use super::*;

    fn login() -> ToBeSigned {
        ToBeSigned {
            kind: OrderKind::Auth,
            order_ref: "r1".into(),
            server_nonce: "n1".into(),
            server_origin: "https://eid.example".into(),
            text: "Logga in".into(),
            enrollment: None,
        }
    }

    fn enrollment() -> ToBeSigned {
        ToBeSigned {
            kind: OrderKind::EnrollSign,
            text: "Hämta".into(),
            enrollment: Some(Enrollment {
                new_public_key_sha256: [0xAB; 32],
                card_number: "9752000001".into(),
                auth_certificate_serial: vec![0x4A, 0x0B],
            }),
            ..login()
        }
    }

    /// The golden vector of `docs/protocol.md`, byte by byte (digest checked with `sha256sum`).
    #[test]
    fn a_login_encodes_to_the_golden_bytes() {
        let mut expected = b"eid-tbs-v1\x00".to_vec();
        expected.extend_from_slice(b"\x00\x00\x00\x04auth");
        expected.extend_from_slice(b"\x00\x00\x00\x02r1");
        expected.extend_from_slice(b"\x00\x00\x00\x02n1");
        expected.extend_from_slice(b"\x00\x00\x00\x13https://eid.example");
        expected.extend_from_slice(b"\x00\x00\x00\x08Logga in");
        expected.push(0x00);
        let bytes = login().encode().unwrap();
        assert_eq!(bytes, expected);
        assert_eq!(
            hex::encode(&bytes),
            "6569642d7462732d763100000000046175746800000002723100000002\
             6e310000001368747470733a2f2f6569642e6578616d706c65000000084c6f67676120696e00"
        );
        assert_eq!(
            hex::encode(login().digest().unwrap()),
            "99d7456660e8cf335aa002d3316543ade1eaa93e7930bda57acaeed574aa1a80"
        );
    }

    #[test]
    fn an_enrollment_encodes_to_the_golden_bytes() {
        let mut expected = b"eid-tbs-v1\x00".to_vec();
        expected.extend_from_slice(b"\x00\x00\x00\x0aenrollSign");
        expected.extend_from_slice(b"\x00\x00\x00\x02r1");
        expected.extend_from_slice(b"\x00\x00\x00\x02n1");
        expected.extend_from_slice(b"\x00\x00\x00\x13https://eid.example");
        expected.extend_from_slice("\x00\x00\x00\x06Hämta".as_bytes());
        expected.push(0x01);
        expected.extend_from_slice(b"\x00\x00\x00\x20");
        expected.extend_from_slice(&[0xAB; 32]);
        expected.extend_from_slice(b"\x00\x00\x00\x0a9752000001");
        expected.extend_from_slice(b"\x00\x00\x00\x02\x4a\x0b");
        assert_eq!(enrollment().encode().unwrap(), expected);
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let base = login().encode().unwrap();
        let mut variants = vec![
            ToBeSigned {
                kind: OrderKind::Sign,
                ..login()
            },
            ToBeSigned {
                order_ref: "r2".into(),
                ..login()
            },
            ToBeSigned {
                server_nonce: "n2".into(),
                ..login()
            },
            ToBeSigned {
                server_origin: "https://evil.example".into(),
                ..login()
            },
            ToBeSigned {
                text: "Logga in!".into(),
                ..login()
            },
        ];
        // Moving bytes between neighbouring fields changes the encoding too.
        variants.push(ToBeSigned {
            order_ref: "r".into(),
            server_nonce: "1n1".into(),
            ..login()
        });
        for v in variants {
            assert_ne!(v.encode().unwrap(), base, "{v:?}");
            assert_ne!(v.digest().unwrap(), login().digest().unwrap());
        }
        // A login and an enrollment of the same order never share bytes.
        let mut e = enrollment();
        e.text = login().text;
        assert_ne!(e.encode().unwrap()[..base.len()], base[..]);
    }

    #[test]
    fn inconsistent_structures_are_refused() {
        let mut e = enrollment();
        e.enrollment = None;
        assert!(matches!(
            e.encode(),
            Err(ProtocolError::TbsInconsistent {
                kind: "enrollSign",
                ..
            })
        ));
        let mut l = login();
        l.enrollment = enrollment().enrollment;
        assert!(matches!(
            l.encode(),
            Err(ProtocolError::TbsInconsistent { kind: "auth", .. })
        ));
        let mut l = login();
        l.server_nonce.clear();
        assert!(matches!(
            l.encode(),
            Err(ProtocolError::TbsField {
                field: "serverNonce",
                ..
            })
        ));
        let mut e = enrollment();
        if let Some(en) = e.enrollment.as_mut() {
            en.auth_certificate_serial = vec![0, 1];
        }
        assert!(matches!(
            e.encode(),
            Err(ProtocolError::TbsField {
                field: "authCertificateSerial",
                ..
            })
        ));
    }
}
