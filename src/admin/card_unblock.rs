//! `eid admin card unblock`: the ID administrator unblocks a one-PIN (7XX) card with its
//! PUK (diversified from the card master key) and hands the holder a new transport code;
//! the holder then chooses PIN1 anew in the eID app (the administrator never knows it).
//! A two-PIN card is refused: its holder unblocks it with the PUK from the PIN letter in
//! the eID app (*Byt PIN-kod / Lås upp med PUK*).

use std::path::Path;

use eid_card::{CardClient, CardFileError, VirtualCard, VirtualReader};
use eid_config::Config;
use eid_pki::CardMasterKey;
use serde_json::json;

use super::{actor, now};
use crate::cli::Common;
use crate::context::open_store;
use crate::failure::{Failure, Outcome};
use crate::output;

pub async fn run(common: &Common, config: &Config, file: &Path) -> Outcome {
    let master =
        CardMasterKey::load(&config.cards.master_key).map_err(|e| Failure::Usage(e.to_string()))?;
    let store = open_store(config).await?;
    let card = VirtualCard::open(file).map_err(|e| match e {
        CardFileError::Io { .. } => Failure::Usage(format!("cannot open the card file: {e}")),
        other => Failure::Usage(other.to_string()),
    })?;
    let client = CardClient::new(VirtualReader::new(card));
    let code = eid_ra::unblock_one_pin(
        &client,
        store.as_ref(),
        &master,
        &actor(),
        now(),
        &mut rand::rng(),
    )
    .await
    .map_err(|e| match e {
        eid_ra::UnblockError::Store(e) => Failure::Internal(e.to_string()),
        other => Failure::Usage(other.to_string()),
    })?;
    if common.json {
        return output::json(&json!({ "transport_code": code.as_str() }));
    }
    println!("the card is unblocked and waits for its holder again");
    println!("new transport code (shown once): {}", code.as_str());
    println!(
        "the holder chooses PIN1 with it in the eID app or: eid card activate {}",
        file.display()
    );
    Ok(())
}
