//! The token objects this backend reads: keys by `CKA_ID`, public keys as
//! SubjectPublicKeyInfo, and ECDSA signatures from PKCS#11's raw form to DER.

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::{bad, card_error};
use crate::error::CardError;
use crate::piv;

/// `CKA_EC_PARAMS` of P-256: the DER OID `1.2.840.10045.3.1.7`.
pub(super) const P256_PARAMS: [u8; 10] =
    [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// Every object of `class` with `CKA_ID` `id` that the session can see.
pub(super) fn find_all(
    session: &Session,
    class: ObjectClass,
    id: u8,
) -> Result<Vec<ObjectHandle>, CardError> {
    session
        .find_objects(&[Attribute::Class(class), Attribute::Id(vec![id])])
        .map_err(card_error)
}

pub(super) fn find(
    session: &Session,
    class: ObjectClass,
    id: u8,
) -> Result<Option<ObjectHandle>, CardError> {
    Ok(find_all(session, class, id)?.into_iter().next())
}

pub(super) fn always_authenticates(
    session: &Session,
    key: ObjectHandle,
) -> Result<bool, CardError> {
    let attributes = session
        .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
        .map_err(card_error)?;
    Ok(attributes
        .iter()
        .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true))))
}

/// The SubjectPublicKeyInfo of the key pair with `id`: from the public key's `CKA_EC_POINT`,
/// else the private key's `CKA_PUBLIC_KEY_INFO`; with `CKA_LOCAL` of the object read.
pub(super) fn public_key(session: &Session, id: u8) -> Result<Option<(Vec<u8>, bool)>, CardError> {
    if let Some(key) = find(session, ObjectClass::PUBLIC_KEY, id)? {
        let attributes = session
            .get_attributes(key, &[AttributeType::EcPoint, AttributeType::Local])
            .map_err(card_error)?;
        let mut point = None;
        let mut local = false;
        for attribute in attributes {
            match attribute {
                Attribute::EcPoint(p) => point = Some(p),
                Attribute::Local(l) => local = l,
                _ => {}
            }
        }
        let point = point.ok_or_else(|| bad("the public key has no EC point"))?;
        return Ok(Some((spki_from_ec_point(&point)?, local)));
    }
    let Some(key) = find(session, ObjectClass::PRIVATE_KEY, id)? else {
        return Ok(None);
    };
    let attributes = session
        .get_attributes(key, &[AttributeType::PublicKeyInfo, AttributeType::Local])
        .map_err(card_error)?;
    let mut spki = None;
    let mut local = false;
    for attribute in attributes {
        match attribute {
            Attribute::PublicKeyInfo(s) if !s.is_empty() => spki = Some(s),
            Attribute::Local(l) => local = l,
            _ => {}
        }
    }
    let spki = spki.ok_or_else(|| bad("the key's public key cannot be read"))?;
    Ok(Some((spki, local)))
}

/// `CKA_EC_POINT` (a DER OCTET STRING around `04‖X‖Y`, or the bare point from some modules)
/// to a SubjectPublicKeyInfo.
pub(super) fn spki_from_ec_point(value: &[u8]) -> Result<Vec<u8>, CardError> {
    let point = match value {
        [0x04, 0x41, rest @ ..] if rest.len() == 0x41 => rest,
        other => other,
    };
    piv::p256_spki(point).ok_or_else(|| bad("the public key is not a P-256 point"))
}

/// A raw ECDSA signature `r‖s` to DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub(super) fn der_signature(raw: &[u8]) -> Result<Vec<u8>, CardError> {
    if raw.len() != 64 {
        return Err(bad("the signature is not a P-256 signature"));
    }
    let integer = |half: &[u8]| {
        let skip = half
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(half.len() - 1);
        let half = &half[skip..];
        let mut out = vec![0x02];
        if half[0] & 0x80 != 0 {
            out.push(half.len() as u8 + 1);
            out.push(0);
        } else {
            out.push(half.len() as u8);
        }
        out.extend_from_slice(half);
        out
    };
    let body = [integer(&raw[..32]), integer(&raw[32..])].concat();
    Ok([&[0x30, body.len() as u8][..], &body].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_signatures_become_der() {
        let mut raw = [0u8; 64];
        raw[1] = 0x80; // r = 0x80…, 31 bytes after the leading zero: needs a 00 pad.
        raw[63] = 0x01; // s = 1
        let der = der_signature(&raw).unwrap();
        assert_eq!(&der[..4], &[0x30, 2 + 32 + 3, 0x02, 32]);
        assert_eq!(der[4], 0x00);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(der_signature(&raw[..63]).is_err());
    }

    #[test]
    fn ec_points_come_wrapped_or_bare() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let wrapped = [&[0x04, 0x41][..], &point].concat();
        assert_eq!(
            spki_from_ec_point(&wrapped).unwrap(),
            spki_from_ec_point(&point).unwrap()
        );
    }
}
