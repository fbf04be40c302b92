//! Checks of identifiers and names before they are stored. Every entry point that creates
//! records (the admin CLI, later the admin console) calls these; the messages are for an ID
//! administrator.

use crate::model::CardKind;

/// A Swedish organisation number: ten digits, the last a Luhn check digit
/// (e.g. `2321000016`). A dash after the sixth digit is accepted and removed.
pub fn org_number(input: &str) -> Result<String, String> {
    let digits: String = input.trim().replacen('-', "", 1);
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{input}` is not an organisation number (ten digits)"
        ));
    }
    if !luhn_ok(&digits) {
        return Err(format!(
            "`{input}` is not an organisation number: the check digit is wrong"
        ));
    }
    Ok(digits)
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An HSA-id of a person in organisation `org`: `SE<org>-<local id>`, the local id 1 to 31
/// letters A–Z and digits (e.g. `SE2321000016-A1B2`). Letters are upper-cased.
pub fn hsa_id(input: &str, org: &str) -> Result<String, String> {
    let id = input.trim().to_ascii_uppercase();
    let Some(local) = id
        .strip_prefix("SE")
        .and_then(|rest| rest.strip_prefix(org))
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return Err(format!(
            "`{input}` is not an HSA-id of organisation {org}: expected SE{org}-<local id>"
        ));
    };
    if local.is_empty() || local.len() > 31 || !local.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{input}`: the local part of an HSA-id is 1 to 31 letters A-Z and digits"
        ));
    }
    Ok(id)
}

/// A person's or organisation's name: 1 to 64 characters, no control characters, not only
/// spaces. Surrounding spaces are removed.
pub fn name(what: &str, input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!("the {what} must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the {what} must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// A card number: 6 to 20 digits.
pub fn card_number(input: &str) -> Result<String, String> {
    let number = input.trim();
    if !(6..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{input}` is not a card number (6 to 20 digits)"));
    }
    Ok(number.to_owned())
}

/// A product number: three digits; `7XX` exactly for one-PIN cards (DESIGN.md "Cards").
pub fn product_number(input: &str, kind: CardKind) -> Result<String, String> {
    let number = input.trim();
    if number.len() != 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{input}` is not a product number (three digits)"));
    }
    match (kind, number.starts_with('7')) {
        (CardKind::OnePin, false) => Err(format!(
            "product number {number}: one-PIN cards have product numbers 7XX"
        )),
        (CardKind::TwoPin, true) => Err(format!(
            "product number {number}: 7XX cards are one-PIN cards"
        )),
        _ => Ok(number.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_numbers() {
        assert_eq!(org_number("2321000016").unwrap(), "2321000016");
        assert_eq!(org_number("232100-0016").unwrap(), "2321000016");
        assert!(
            org_number("2321000017")
                .unwrap_err()
                .contains("check digit")
        );
        assert!(org_number("232100001").is_err());
        assert!(org_number("23210000x6").is_err());
        assert!(org_number("").is_err());
    }

    #[test]
    fn hsa_ids() {
        assert_eq!(
            hsa_id("se2321000016-a1b2", "2321000016").unwrap(),
            "SE2321000016-A1B2"
        );
        assert!(hsa_id("SE5560000001-A1", "2321000016").is_err());
        assert!(hsa_id("SE2321000016-", "2321000016").is_err());
        assert!(hsa_id("SE2321000016-A 1", "2321000016").is_err());
        assert!(hsa_id("SE2321000016-A1,CN=x", "2321000016").is_err());
        assert!(hsa_id(&format!("SE2321000016-{}", "A".repeat(32)), "2321000016").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name("surname", "  Åsa ").unwrap(), "Åsa");
        assert!(name("surname", "   ").is_err());
        assert!(name("surname", "a\nb").is_err());
        assert!(name("surname", &"x".repeat(65)).is_err());
    }

    #[test]
    fn cards() {
        assert!(card_number("9752000001").is_ok());
        assert!(card_number("12345").is_err());
        assert!(product_number("710", CardKind::OnePin).is_ok());
        assert!(product_number("610", CardKind::OnePin).is_err());
        assert!(product_number("710", CardKind::TwoPin).is_err());
        assert!(product_number("61", CardKind::TwoPin).is_err());
    }
}
