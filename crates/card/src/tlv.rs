//! BER-TLV as PIV uses it: tags of one to three bytes, definite lengths up to `82 xx xx`.
//!
//! Parsing is of untrusted input on both sides (the card parses the host's data, the client
//! the card's answers): every length is checked, nothing is indefinite, nothing recurses.

/// Appends one TLV (`tag` written in as few bytes as it needs) to `out`.
pub fn put(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = len.min(0xFFFF) as u16;
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&value[..value.len().min(0xFFFF)]);
}

/// One TLV as a new vector.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    put(&mut out, tag, value);
    out
}

/// Malformed TLV data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads one TLV from the front of `input`: `(tag, value, rest)`.
pub fn next(input: &[u8]) -> Result<(u32, &[u8], &[u8]), Malformed> {
    let (&first, mut rest) = input.split_first().ok_or(Malformed)?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Subsequent tag bytes: bit 8 set means another follows; at most three in all.
        for count in 1.. {
            let (&b, r) = rest.split_first().ok_or(Malformed)?;
            rest = r;
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
            if count == 2 {
                return Err(Malformed);
            }
        }
    }
    let (&len0, r) = rest.split_first().ok_or(Malformed)?;
    rest = r;
    let len = match len0 {
        0..=0x7F => usize::from(len0),
        0x81 => {
            let (&b, r) = rest.split_first().ok_or(Malformed)?;
            rest = r;
            usize::from(b)
        }
        0x82 => {
            let [a, b, r @ ..] = rest else {
                return Err(Malformed);
            };
            rest = r;
            usize::from(u16::from_be_bytes([*a, *b]))
        }
        _ => return Err(Malformed),
    };
    let (value, rest) = rest.split_at_checked(len).ok_or(Malformed)?;
    Ok((tag, value, rest))
}

/// All TLVs of `input` at one level, in order.
pub fn parse_all(mut input: &[u8]) -> Result<Vec<(u32, &[u8])>, Malformed> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tag, value, rest) = next(input)?;
        out.push((tag, value));
        input = rest;
    }
    Ok(out)
}

/// `input` must be exactly one TLV with `tag`: its value.
pub fn only(input: &[u8], tag: u32) -> Result<&[u8], Malformed> {
    match next(input)? {
        (t, value, []) if t == tag => Ok(value),
        _ => Err(Malformed),
    }
}

/// The value of the first TLV with `tag` among `items`.
pub fn find<'a>(items: &[(u32, &'a [u8])], tag: u32) -> Option<&'a [u8]> {
    items.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_form() {
        for len in [0, 1, 0x7F, 0x80, 0xFF, 0x100, 3000] {
            for tag in [0x53, 0x7F49, 0x5F_C1_05] {
                let value = vec![0xAB; len];
                let tlv = encode(tag, &value);
                assert_eq!(next(&tlv), Ok((tag, &value[..], &[][..])));
            }
        }
    }

    #[test]
    fn malformed_input_is_refused() {
        for bad in [
            &[][..],
            &[0x53],
            &[0x53, 0x02, 0x00],
            &[0x53, 0x83, 0, 0, 1],
            &[0x53, 0x80],
            &[0x5F],
            &[0x5F, 0x81, 0x81, 0x81, 0x00],
            &[0x53, 0x82, 0x01],
        ] {
            assert_eq!(next(bad), Err(Malformed), "{bad:02X?}");
        }
        assert_eq!(only(&[0x53, 0, 0x53, 0], 0x53), Err(Malformed));
    }
}
