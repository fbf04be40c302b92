//! `eid admin card enroll`: enrol a plain PIV card (a YubiKey) the holder already has,
//! through a PC/SC reader (docs/card-stacks.md, "Real PIV cards"). The platform takes over
//! the card's management key (diversified per card from the master key), generates the
//! authentication key in 9A and writes its certificate; the holder's PIN, typed at this
//! terminal, lets the card sign its own certificate request and goes nowhere else.

use std::io::{BufRead, IsTerminal};

use eid_card::{Card, CardError, Pin, PinRef, piv};
use eid_config::Config;
use eid_pki::CardMasterKey;
use eid_ra::{PersonaliseError, enrol, enrollable};
use serde_json::json;
use zeroize::Zeroizing;

use super::{actor, now};
use crate::card::{card_failure, open_reader};
use crate::cli::Common;
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};
use crate::output;

pub async fn run(common: &Common, config: &Config, reader: &str, holder: &str) -> Outcome {
    let holder = holder.trim().to_ascii_uppercase();
    let ca = load_ca(config)?;
    let master =
        CardMasterKey::load(&config.cards.master_key).map_err(|e| Failure::Usage(e.to_string()))?;
    let store = open_store(config).await?;

    // The whole enrolment is one step on the card: one PC/SC transaction, so no other
    // program comes between the PIN, the management key and the new key.
    let card = open_reader(reader)?;
    let info = card.info().map_err(card_failure)?;
    enrollable(&info).map_err(|e| Failure::Refused(e.to_string()))?;
    let pin = read_pin()?;
    card.verify(PinRef::Pin1, &Pin::new(pin))
        .map_err(|e| match e {
            CardError::WrongPin { tries_left } => {
                Failure::Refused(format!("wrong PIN: {tries_left} tries left"))
            }
            e => card_failure(e),
        })?;
    let number = enrol(
        &card,
        &ca,
        store.as_ref(),
        &master,
        &holder,
        &actor(),
        now(),
        &mut rand::rng(),
    )
    .await
    .map_err(|e| match e {
        PersonaliseError::Store(e) => e.into(),
        PersonaliseError::Issue(e) => e.into(),
        e => Failure::Refused(format!("the card was not enrolled: {e}")),
    })?;
    drop(card);

    if common.json {
        return output::json(&json!({
            "card_number": number, "product_number": piv::ENROLLED_PIV_PRODUCT,
            "kind": eid_store::CardKind::OnePin, "state": eid_store::CardState::Active,
            "holder": holder,
        }));
    }
    println!(
        "enrolled card {number} (product {}, one PIN) for {holder}: active, with the PIN the holder chose",
        piv::ENROLLED_PIV_PRODUCT
    );
    Ok(())
}

/// The holder's PIN: from the terminal without echo, or one line of standard input.
fn read_pin() -> Outcome<Zeroizing<String>> {
    let unreadable = |e: std::io::Error| Failure::Usage(format!("cannot read the PIN: {e}"));
    if std::io::stdin().is_terminal() {
        return Ok(Zeroizing::new(
            rpassword::prompt_password("The holder's PIN for the card: ").map_err(unreadable)?,
        ));
    }
    match std::io::stdin().lock().lines().next() {
        Some(line) => Ok(Zeroizing::new(line.map_err(unreadable)?.trim().to_owned())),
        None => Err(Failure::Usage(
            "expected the holder's PIN on standard input".into(),
        )),
    }
}
