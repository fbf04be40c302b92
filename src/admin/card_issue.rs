//! `eid admin card issue`: personalise a new virtual card for a person. The card file is
//! made beside its final name and renamed into place only when personalisation succeeded.

use eid_store::Store;
use std::path::{Path, PathBuf};

use eid_card::{CardClient, CardProfile, VirtualCard, VirtualReader};
use eid_config::Config;
use eid_pki::CardMasterKey;
use eid_ra::{Personalisation, PinLetter, personalise};
use eid_store::{AnyStore, CardKind, validate};
use rand::RngExt;
use serde_json::json;

use super::{actor, now};
use crate::cli::{CardKindArg, Common};
use crate::context::{load_ca, open_store};
use crate::failure::{Failure, Outcome};
use crate::output;

/// The card's arguments, as given.
pub struct IssueArgs {
    pub holder: String,
    pub kind: CardKindArg,
    pub product: Option<String>,
    pub number: Option<String>,
    pub out: Option<PathBuf>,
}

pub async fn run(common: &Common, config: &Config, args: IssueArgs) -> Outcome {
    let kind = match args.kind {
        CardKindArg::TwoPin => CardKind::TwoPin,
        CardKindArg::OnePin => CardKind::OnePin,
    };
    let product = args.product.unwrap_or_else(|| match kind {
        CardKind::TwoPin => "610".into(),
        CardKind::OnePin => "710".into(),
    });
    let product = validate::product_number(&product, kind).map_err(Failure::Usage)?;
    let holder = args.holder.trim().to_ascii_uppercase();
    let store = open_store(config).await?;
    let number = match args.number {
        Some(n) => validate::card_number(&n).map_err(Failure::Usage)?,
        None => loop {
            let n = format!("9752{:08}", rand::rng().random_range(0..100_000_000u32));
            if store.card(&n).await?.is_none() {
                break n;
            }
        },
    };
    if store.card(&number).await?.is_some() {
        return Err(Failure::Refused(format!(
            "a card with number {number} exists"
        )));
    }
    let file = args
        .out
        .unwrap_or_else(|| config.cards.virtual_card_dir.join(format!("{number}.card")));
    if file.exists() {
        return Err(Failure::Usage(format!(
            "{} exists; choose another --out",
            file.display()
        )));
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Internal(format!("cannot make {}: {e}", dir.display())))?;
    }
    let letter = issue_virtual(
        config,
        store.as_ref(),
        &holder,
        kind,
        &product,
        &number,
        &file,
    )
    .await?;

    let card_file = file.display().to_string();
    if common.json {
        let codes = match &letter {
            PinLetter::TwoPin { pin1, pin2, puk } => {
                json!({ "pin1": **pin1, "pin2": **pin2, "puk": **puk })
            }
            PinLetter::OnePin { transport_code } => json!({ "transport_code": **transport_code }),
        };
        return output::json(&json!({
            "card_number": number, "product_number": product, "kind": kind,
            "holder": holder, "card_file": card_file, "codes": codes,
        }));
    }
    println!("issued card {number} (product {product}) to {holder}: {card_file}");
    match &letter {
        PinLetter::TwoPin { pin1, pin2, puk } => {
            println!("PIN letter (shown once):");
            println!("  security code (PIN1)  {}", pin1.as_str());
            println!("  signing code (PIN2)   {}", pin2.as_str());
            println!("  PUK                   {}", puk.as_str());
        }
        PinLetter::OnePin { transport_code } => {
            println!("transport code (shown once): {}", transport_code.as_str());
            println!("the holder chooses PIN1 with: eid card activate {card_file}");
        }
    }
    Ok(())
}

/// Personalises a new virtual card for `holder` in `file`: made beside it and renamed into
/// place only when personalisation succeeded. Returns the PIN letter.
pub(crate) async fn issue_virtual(
    config: &Config,
    store: &AnyStore,
    holder: &str,
    kind: CardKind,
    product: &str,
    number: &str,
    file: &Path,
) -> Outcome<PinLetter> {
    let ca = load_ca(config)?;
    let master =
        CardMasterKey::load(&config.cards.master_key).map_err(|e| Failure::Usage(e.to_string()))?;

    let tries = config.cards.tries(product);
    let profile = CardProfile {
        card_number: number.to_owned(),
        product_number: product.to_owned(),
        kind: match kind {
            CardKind::TwoPin => eid_card::CardKind::TwoPin,
            CardKind::OnePin => eid_card::CardKind::OnePin,
        },
        pin_tries: tries.pin,
        puk_tries: tries.puk,
        piv_only: false,
        management_algorithm: eid_card::ManagementAlgorithm::Aes128,
    };
    let partial = file.with_extension("card.partial");
    let blank = VirtualCard::create(&partial, profile)
        .map_err(|e| Failure::Internal(format!("cannot make the card file: {e}")))?;
    let reader = VirtualReader::new(blank);
    let client = CardClient::new(reader.clone());
    let request = Personalisation {
        holder,
        card_number: number,
        product_number: product,
        kind,
        virtual_card: true,
    };
    let result = personalise(
        &client,
        &ca,
        store,
        &master,
        &request,
        &actor(),
        now(),
        &mut rand::rng(),
    )
    .await;
    drop(client);
    drop(reader.pull_out());
    let letter = match result {
        Ok(letter) => letter,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(match e {
                eid_ra::PersonaliseError::Store(e) => e.into(),
                eid_ra::PersonaliseError::Issue(e) => e.into(),
                e => Failure::Refused(format!("the card was not issued: {e}")),
            });
        }
    };
    std::fs::rename(&partial, file)
        .map_err(|e| Failure::Internal(format!("cannot move the card file into place: {e}")))?;
    Ok(letter)
}
