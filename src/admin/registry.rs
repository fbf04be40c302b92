//! `eid admin org|person|card`: the register of organisations, persons and cards.

use eid_store::Store;
use eid_store::{Card, CardKind, CardState, Organisation, Person, SigningPolicy, validate};
use serde_json::json;

use super::{event, now};
use crate::cli::{CardCommand, CardKindArg, Common, OrgCommand, PersonCommand, SigningPolicyArg};
use crate::context::open_store;
use crate::failure::{Failure, Outcome};
use crate::output::{self, table, yes_no};

fn usage(result: Result<String, String>) -> Outcome<String> {
    result.map_err(Failure::Usage)
}

fn policy(arg: SigningPolicyArg) -> SigningPolicy {
    match arg {
        SigningPolicyArg::Disabled => SigningPolicy::Disabled,
        SigningPolicyArg::SelfService => SigningPolicy::SelfService,
    }
}

pub async fn org(common: &Common, cmd: OrgCommand) -> Outcome {
    // Check the arguments before touching anything.
    let config = common.config()?;
    match cmd {
        OrgCommand::Add {
            number,
            name,
            signing,
            accept_unattested_keys,
        } => {
            let org = Organisation {
                org_number: usage(validate::org_number(&number))?,
                name: usage(validate::name("organisation name", &name))?,
                signing_policy: policy(signing),
                accept_unattested_keys,
                created_at: now(),
            };
            let store = open_store(&config).await?;
            let details = json!({ "name": org.name, "signing_policy": org.signing_policy,
                "accept_unattested_keys": accept_unattested_keys });
            store
                .add_organisation(
                    &org,
                    &event(org.created_at, "organisation.add", &org.org_number, details),
                )
                .await?;
            done(
                common,
                &org,
                &format!("added organisation {} {}", org.org_number, org.name),
            )
        }
        OrgCommand::List => {
            let orgs = open_store(&config).await?.organisations().await?;
            if common.json {
                return output::json(&orgs);
            }
            let rows: Vec<Vec<String>> = orgs
                .iter()
                .map(|o| {
                    vec![
                        o.org_number.clone(),
                        o.name.clone(),
                        output::kebab(&o.signing_policy),
                        yes_no(o.accept_unattested_keys),
                    ]
                })
                .collect();
            table(&["NUMBER", "NAME", "SIGNING", "UNATTESTED KEYS"], &rows);
            Ok(())
        }
        OrgCommand::Policy {
            number,
            signing,
            accept_unattested_keys,
        } => {
            let number = usage(validate::org_number(&number))?;
            let store = open_store(&config).await?;
            let current = store.organisation(&number).await?.ok_or_else(|| {
                Failure::Refused(format!("no organisation with number {number} exists"))
            })?;
            let accept = accept_unattested_keys.unwrap_or(current.accept_unattested_keys);
            let details =
                json!({ "signing_policy": policy(signing), "accept_unattested_keys": accept });
            store
                .set_organisation_policy(
                    &number,
                    policy(signing),
                    accept,
                    &event(now(), "organisation.policy", &number, details),
                )
                .await?;
            let org = store.organisation(&number).await?;
            done(
                common,
                &org,
                &format!(
                    "organisation {number}: signing certificates {}, unattested keys {}",
                    output::kebab(&policy(signing)),
                    if accept { "accepted" } else { "refused" }
                ),
            )
        }
    }
}

pub async fn person(common: &Common, cmd: PersonCommand) -> Outcome {
    let config = common.config()?;
    match cmd {
        PersonCommand::Add {
            hsa_id,
            given_name,
            surname,
            org,
            entitled,
        } => {
            let org = usage(validate::org_number(&org))?;
            let person = Person {
                hsa_id: usage(validate::hsa_id(&hsa_id, &org))?,
                given_name: usage(validate::name("given name", &given_name))?,
                surname: usage(validate::name("surname", &surname))?,
                org_number: org,
                signing_entitled: entitled,
                active: true,
                created_at: now(),
            };
            let store = open_store(&config).await?;
            let details = json!({ "org": person.org_number, "signing_entitled": entitled });
            store
                .add_person(
                    &person,
                    &event(person.created_at, "person.add", &person.hsa_id, details),
                )
                .await
                .map_err(|e| match e {
                    eid_store::StoreError::NotFound(_) => Failure::Refused(format!(
                        "no organisation with number {} exists: add it first",
                        person.org_number
                    )),
                    e => e.into(),
                })?;
            done(
                common,
                &person,
                &format!(
                    "added {} {} ({})",
                    person.given_name, person.surname, person.hsa_id
                ),
            )
        }
        PersonCommand::List { org } => {
            let org = org.map(|o| usage(validate::org_number(&o))).transpose()?;
            let persons = open_store(&config).await?.persons(org.as_deref()).await?;
            if common.json {
                return output::json(&persons);
            }
            let rows: Vec<Vec<String>> = persons
                .iter()
                .map(|p| {
                    vec![
                        p.hsa_id.clone(),
                        p.common_name(),
                        p.org_number.clone(),
                        yes_no(p.signing_entitled),
                        yes_no(p.active),
                    ]
                })
                .collect();
            table(
                &[
                    "HSA-ID",
                    "NAME",
                    "ORGANISATION",
                    "SIGNING ENTITLED",
                    "ACTIVE",
                ],
                &rows,
            );
            Ok(())
        }
        PersonCommand::Entitle { hsa_id, withdraw } => {
            let hsa_id = hsa_id.trim().to_ascii_uppercase();
            let store = open_store(&config).await?;
            let entitled = !withdraw;
            store
                .set_signing_entitlement(
                    &hsa_id,
                    entitled,
                    &event(
                        now(),
                        "person.entitle",
                        &hsa_id,
                        json!({ "signing_entitled": entitled }),
                    ),
                )
                .await?;
            let person = store.person(&hsa_id).await?;
            done(
                common,
                &person,
                &format!(
                    "{hsa_id}: {}",
                    if entitled {
                        "entitled to a signing certificate"
                    } else {
                        "entitlement to a signing certificate withdrawn"
                    }
                ),
            )
        }
    }
}

pub async fn card(common: &Common, cmd: CardCommand) -> Outcome {
    let config = common.config()?;
    match cmd {
        CardCommand::Issue {
            holder,
            kind,
            product,
            number,
            out,
        } => {
            let args = super::card_issue::IssueArgs {
                holder,
                kind,
                product,
                number,
                out,
            };
            super::card_issue::run(common, &config, args).await
        }
        CardCommand::Register {
            number,
            product,
            kind,
            holder,
        } => {
            let kind = match kind {
                CardKindArg::TwoPin => CardKind::TwoPin,
                CardKindArg::OnePin => CardKind::OnePin,
            };
            let card = Card {
                card_number: usage(validate::card_number(&number))?,
                product_number: usage(validate::product_number(&product, kind))?,
                kind,
                state: CardState::Active,
                holder: holder.trim().to_ascii_uppercase(),
                created_at: now(),
            };
            let store = open_store(&config).await?;
            let details = json!({ "product_number": card.product_number, "kind": kind, "holder": card.holder });
            store
                .add_card(
                    &card,
                    &event(card.created_at, "card.register", &card.card_number, details),
                )
                .await?;
            done(
                common,
                &card,
                &format!("registered card {} of {}", card.card_number, card.holder),
            )
        }
        CardCommand::Enroll { reader, holder } => {
            super::card_enroll::run(common, &config, &reader, &holder).await
        }
        CardCommand::Unblock { file } => super::card_unblock::run(common, &config, &file).await,
        CardCommand::Revoke { card, reason } => {
            super::card_revoke::run(common, &config, &card, reason).await
        }
        CardCommand::List { holder } => {
            let holder = holder.map(|h| h.trim().to_ascii_uppercase());
            let cards = open_store(&config).await?.cards(holder.as_deref()).await?;
            if common.json {
                return output::json(&cards);
            }
            let rows: Vec<Vec<String>> = cards
                .iter()
                .map(|c| {
                    vec![
                        c.card_number.clone(),
                        c.product_number.clone(),
                        output::kebab(&c.kind),
                        output::kebab(&c.state),
                        c.holder.clone(),
                    ]
                })
                .collect();
            table(&["CARD", "PRODUCT", "KIND", "STATE", "HOLDER"], &rows);
            Ok(())
        }
    }
}

/// Reports a change: the record as JSON, or a sentence.
fn done<T: serde::Serialize>(common: &Common, record: &T, sentence: &str) -> Outcome {
    if common.json {
        output::json(record)
    } else {
        println!("{sentence}");
        Ok(())
    }
}
