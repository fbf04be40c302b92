//! ISO 7816-4 short APDUs: parsing commands (the card's side) and building them (the
//! client's side).
//!
//! Only short APDUs exist here: data of one command is at most 255 bytes (longer data is
//! chained), a response part at most 256 bytes (longer ones come through GET RESPONSE).

use crate::status::Sw;

/// A parsed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty when there is no `Lc`).
    pub data: &'a [u8],
    /// Expected response length: `None` without `Le`, 1..=256 otherwise (`00` = 256).
    pub le: Option<usize>,
}

impl<'a> Command<'a> {
    /// Parses a short APDU. Returns the status word to answer when it is malformed.
    pub fn parse(apdu: &'a [u8]) -> Result<Self, Sw> {
        let [cla, ins, p1, p2, rest @ ..] = apdu else {
            return Err(Sw::WRONG_LENGTH);
        };
        let (data, le) = match rest {
            [] => (&[][..], None),
            [le] => (&[][..], Some(le_len(*le))),
            [0, _, ..] => return Err(Sw::WRONG_LENGTH), // extended length: unsupported
            [lc, body @ ..] => {
                let lc = usize::from(*lc);
                if body.len() == lc {
                    (body, None)
                } else if body.len() == lc + 1 {
                    (&body[..lc], body.last().map(|le| le_len(*le)))
                } else {
                    return Err(Sw::WRONG_LENGTH);
                }
            }
        };
        Ok(Command {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            le,
        })
    }
}

fn le_len(byte: u8) -> usize {
    if byte == 0 { 256 } else { usize::from(byte) }
}

/// Builds a short APDU: `data` at most 255 bytes (the caller chains longer data), `le`
/// `Some(0)` for "up to 256".
pub fn build(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + data.len());
    out.extend_from_slice(&[cla, ins, p1, p2]);
    if !data.is_empty() {
        out.push(data.len().min(255) as u8);
        out.extend_from_slice(&data[..data.len().min(255)]);
    }
    if let Some(le) = le {
        out.push(le);
    }
    out
}

/// Splits a response APDU into data and status word; `None` when shorter than 2 bytes.
pub fn split_response(response: &[u8]) -> Option<(&[u8], Sw)> {
    let (data, sw) = response.split_at_checked(response.len().checked_sub(2)?)?;
    Some((data, Sw(u16::from_be_bytes([sw[0], sw[1]]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_cases_parse() {
        let c = Command::parse(&[0, 0x20, 0xFF, 0x80]).unwrap();
        assert_eq!(
            (c.ins, c.p1, c.p2, c.data, c.le),
            (0x20, 0xFF, 0x80, &[][..], None)
        );
        let c = Command::parse(&[0, 0xC0, 0, 0, 0]).unwrap();
        assert_eq!(c.le, Some(256));
        let c = Command::parse(&[0, 0xCB, 0x3F, 0xFF, 2, 0x5C, 0]).unwrap();
        assert_eq!((c.data, c.le), (&[0x5C, 0][..], None));
        let c = Command::parse(&[0, 0xCB, 0x3F, 0xFF, 1, 0x5C, 0x10]).unwrap();
        assert_eq!((c.data, c.le), (&[0x5C][..], Some(16)));
    }

    #[test]
    fn malformed_lengths_are_refused() {
        for bad in [
            &[][..],
            &[0, 0x20, 0],
            &[0, 0xCB, 0x3F, 0xFF, 3, 1],
            &[0, 0xCB, 0x3F, 0xFF, 1, 1, 2, 3],
            &[0, 0xCB, 0x3F, 0xFF, 0, 0, 1, 0x5C],
        ] {
            assert_eq!(Command::parse(bad), Err(Sw::WRONG_LENGTH), "{bad:02X?}");
        }
    }

    #[test]
    fn built_apdus_parse_back() {
        let apdu = build(0x10, 0xDB, 0x3F, 0xFF, &[1, 2, 3], Some(0));
        let c = Command::parse(&apdu).unwrap();
        assert_eq!((c.cla, c.data, c.le), (0x10, &[1, 2, 3][..], Some(256)));
        assert_eq!(split_response(&[1, 0x90, 0]), Some((&[1][..], Sw::OK)));
        assert_eq!(split_response(&[0x90]), None);
    }
}
