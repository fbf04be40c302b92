//! `eid card …`: the holder's view of a virtual card file (`show` also of a card in a PC/SC
//! reader). Reads what any card reader could read; PINs are read from the terminal without
//! echo (or from standard input) and go to the card only. `eid card serve` puts the card in
//! vsmartcard's virtual reader, where PC/SC applications (OpenSC, pkcs11-tool) use it as
//! they would a real card.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::time::Duration;

use eid_card::pcsc::{self, PcscTransport, ReaderStatus};
use eid_card::vpcd::{Ended, VpcdCard, VpcdError};
use eid_card::{
    Card, CardClient, CardError, CardKind, KeySlot, LifeCycle, Pin, PinRef, TransportError,
    VirtualCard, VirtualReader,
};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::cli::HolderCardCommand;
use crate::failure::{Failure, Outcome};
use crate::output;

/// Runs a holder's card command.
pub async fn run(cmd: HolderCardCommand) -> Outcome {
    match cmd {
        HolderCardCommand::Show { file, reader, json } => match (file, reader) {
            (_, Some(reader)) => show(&open_reader(&reader)?, json),
            (Some(file), None) => show(&open(&file)?, json),
            (None, None) => Err(Failure::Usage("name a card file or a --reader".into())),
        },
        HolderCardCommand::Readers { watch, json } => readers(watch, json).await,
        HolderCardCommand::Activate { file } => activate(&file),
        HolderCardCommand::Serve { file, vpcd } => serve(&file, &vpcd).await,
    }
}

/// Opens a virtual card file and puts it in a virtual reader.
pub fn open(file: &Path) -> Outcome<CardClient<VirtualReader>> {
    let card =
        VirtualCard::open(file).map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    let client = CardClient::new(VirtualReader::new(card));
    client.select().map_err(card_failure)?;
    Ok(client)
}

/// How long to wait for another program's operation on a card in a reader to end.
const READER_WAIT: Duration = Duration::from_secs(10);

/// The card in PC/SC reader `name`, selected, held for this command (see
/// `eid_card::pcsc`).
pub fn open_reader(name: &str) -> Outcome<CardClient<PcscTransport>> {
    // No card, a busy card, no pcscd: the card is not to be had now, nothing broke here.
    let transport = PcscTransport::connect(name, READER_WAIT).map_err(|e| match e {
        TransportError::CardRemoved => {
            Failure::Refused(format!("no card in the reader {name} (or no such reader)"))
        }
        e => Failure::Refused(format!("the reader {name}: {e}")),
    })?;
    let client = CardClient::new(transport);
    client.select().map_err(card_failure)?;
    Ok(client)
}

/// A card's refusal in plain words, with its exit code.
pub fn card_failure(e: CardError) -> Failure {
    match e {
        CardError::Transport(_) | CardError::BadResponse(_) => Failure::Internal(e.to_string()),
        e => Failure::Refused(e.to_string()),
    }
}

#[derive(Debug, Serialize)]
struct CardView {
    card_number: String,
    product_number: String,
    kind: &'static str,
    state: &'static str,
    tries_left: Vec<TriesView>,
    certificates: Vec<CertView>,
}

#[derive(Debug, Serialize)]
struct TriesView {
    code: &'static str,
    left: u8,
    total: u8,
}

#[derive(Debug, Serialize)]
struct CertView {
    slot: String,
    subject: String,
    serial: String,
    not_before: String,
    not_after: String,
    pem: String,
}

fn show(card: &dyn Card, json: bool) -> Outcome {
    let info = card.info().map_err(card_failure)?;
    let mut codes = vec![(PinRef::Pin1, "PIN1")];
    if info.kind == CardKind::TwoPin {
        codes.push((PinRef::Pin2, "PIN2"));
    }
    codes.push((PinRef::Puk, "PUK"));
    let mut tries_left = Vec::new();
    // A dead card answers only public reads: its counters are gone with it.
    let readable = info.life_cycle != LifeCycle::Dead;
    for (pin, code) in codes.into_iter().filter(|_| readable) {
        let status = card.pin_status(pin).map_err(card_failure)?;
        tries_left.push(TriesView {
            code,
            left: status.tries_left,
            total: status.tries_total,
        });
    }
    let mut certificates = Vec::new();
    for slot in [
        KeySlot::Authentication,
        KeySlot::Signing,
        KeySlot::Attestation,
    ] {
        if let Some(der) = card.read_certificate(slot).map_err(card_failure)? {
            certificates.push(describe(slot, &der)?);
        }
    }
    let view = CardView {
        card_number: info.card_number,
        product_number: info.product_number,
        kind: match info.kind {
            CardKind::TwoPin => "two-pin",
            CardKind::OnePin => "one-pin",
        },
        state: match info.life_cycle {
            LifeCycle::Blank => "blank",
            LifeCycle::NotActivated => "not-activated",
            LifeCycle::Active => "active",
            LifeCycle::Dead => "dead",
            _ => "unknown",
        },
        tries_left,
        certificates,
    };
    if json {
        return output::json(&view);
    }
    println!("card number     {}", view.card_number);
    println!("product number  {}", view.product_number);
    println!("kind            {}", view.kind);
    println!("state           {}", view.state);
    for t in &view.tries_left {
        println!("{:<16}{} of {} tries left", t.code, t.left, t.total);
    }
    for c in &view.certificates {
        println!(
            "\nslot {}: {}\n  serial {}\n  valid {} to {}\n{}",
            c.slot,
            c.subject,
            c.serial,
            c.not_before,
            c.not_after,
            c.pem.trim_end()
        );
    }
    Ok(())
}

fn describe(slot: KeySlot, der: &[u8]) -> Outcome<CertView> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| {
        Failure::Usage(format!(
            "the certificate in slot {slot} is not readable: {e}"
        ))
    })?;
    Ok(CertView {
        slot: slot.to_string(),
        subject: cert.subject().to_string(),
        serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        pem: pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())),
    })
}

fn activate(file: &Path) -> Outcome {
    let card = open(file)?;
    let info = card.info().map_err(card_failure)?;
    if info.kind != CardKind::OnePin || info.life_cycle != LifeCycle::NotActivated {
        return Err(Failure::Refused(format!(
            "card {} needs no activation (it is a {} card, {})",
            info.card_number,
            if info.kind == CardKind::OnePin {
                "one-PIN"
            } else {
                "two-PIN"
            },
            if info.life_cycle == LifeCycle::Active {
                "already active"
            } else {
                "not waiting for activation"
            }
        )));
    }
    let (transport, chosen) = read_codes()?;
    card.change_pin(PinRef::Pin1, &Pin::new(transport), &Pin::new(chosen))
        .map_err(|e| match e {
            CardError::WrongPin { tries_left } => {
                Failure::Refused(format!("wrong transport code: {tries_left} tries left"))
            }
            e => card_failure(e),
        })?;
    println!(
        "card {} is activated: your security code (PIN1) is set",
        info.card_number
    );
    Ok(())
}

/// The transport code and the new PIN1: from the terminal without echo (the new one twice),
/// or two lines of standard input.
fn read_codes() -> Outcome<(Zeroizing<String>, Zeroizing<String>)> {
    let unreadable = |e: std::io::Error| Failure::Usage(format!("cannot read the codes: {e}"));
    if std::io::stdin().is_terminal() {
        let transport =
            Zeroizing::new(rpassword::prompt_password("Transport code: ").map_err(unreadable)?);
        let chosen = Zeroizing::new(
            rpassword::prompt_password("Choose your security code (PIN1, 6-8 digits): ")
                .map_err(unreadable)?,
        );
        let again = Zeroizing::new(rpassword::prompt_password("Once more: ").map_err(unreadable)?);
        if chosen != again {
            return Err(Failure::Usage(
                "the two security codes differ; nothing was changed".into(),
            ));
        }
        return Ok((transport, chosen));
    }
    let mut lines = std::io::stdin().lock().lines();
    let mut next = || -> Outcome<Zeroizing<String>> {
        match lines.next() {
            Some(line) => Ok(Zeroizing::new(line.map_err(unreadable)?.trim().to_owned())),
            None => Err(Failure::Usage(
                "expected two lines on standard input: the transport code, then the new PIN1"
                    .into(),
            )),
        }
    };
    Ok((next()?, next()?))
}

/// Serves the card in the vpcd reader slot at `addr` until the reader goes away or a
/// signal takes the card out. The card writes its file before it answers any APDU that
/// changes it, so stopping at any moment (even SIGKILL) loses only the session.
async fn serve(file: &Path, addr: &str) -> Outcome {
    let mut card =
        VirtualCard::open(file).map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    let number = card.profile().card_number.clone();
    // Installed before the card goes in: a signal from then on takes it out cleanly.
    let stop = crate::serve::shutdown_signals()?;
    let vpcd = VpcdCard::connect(addr).map_err(|e| match e {
        VpcdError::BadAddress { .. } => Failure::Usage(e.to_string()),
        e => Failure::Refused(e.to_string()),
    })?;
    let remover = vpcd
        .remover()
        .map_err(|e| Failure::Internal(e.to_string()))?;
    let mut serving = tokio::task::spawn_blocking(move || vpcd.serve(&mut card));
    // Scripts and tests read this line to know the card is in.
    println!("card {number} is in the virtual reader at {addr} (stop to take it out)");
    let ended = tokio::select! {
        ended = &mut serving => ended,
        () = stop => {
            remover.remove();
            serving.await
        }
    };
    let ended = ended
        .map_err(|e| Failure::Internal(format!("the card stopped: {e}")))?
        .map_err(|e| Failure::Internal(e.to_string()))?;
    match ended {
        Ended::Removed => println!("card {number} is out of the reader"),
        Ended::ReaderGone => println!("the reader went away: card {number} is out"),
    }
    Ok(())
}

/// How often `readers --watch` looks for a signal between changes.
const WATCH_SLICE: Duration = Duration::from_millis(500);

/// What `eid card readers` says about one reader (and `--watch` about one change).
#[derive(Debug, Serialize)]
struct ReaderView<'a> {
    reader: &'a str,
    /// `card` or `empty` in the list; with --watch, what happened: `card in`, `card out`,
    /// `reader added`, `reader removed`.
    state: &'a str,
}

fn print_reader(view: &ReaderView<'_>, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(view) {
            println!("{line}");
        }
    } else {
        println!("{}: {}", view.state, view.reader);
    }
}

/// `eid card readers [--watch]`: the readers with their cards, then (watching) each change.
async fn readers(watch: bool, json: bool) -> Outcome {
    let unreachable = |e: TransportError| Failure::Refused(format!("the smart card service: {e}"));
    let mut known = pcsc::readers().map_err(unreachable)?;
    if known.is_empty() && !watch {
        println!("no card reader");
    }
    for r in &known {
        let state = if r.card_present { "card" } else { "empty" };
        print_reader(
            &ReaderView {
                reader: &r.name,
                state,
            },
            json,
        );
    }
    if !watch {
        return Ok(());
    }
    let mut stop = std::pin::pin!(crate::serve::shutdown_signals()?);
    loop {
        let seen = known.clone();
        let waited = tokio::task::spawn_blocking(move || pcsc::wait_for_change(&seen, WATCH_SLICE));
        let now = tokio::select! {
            now = waited => now
                .map_err(|e| Failure::Internal(format!("watching the readers stopped: {e}")))?
                .map_err(unreachable)?,
            () = &mut stop => return Ok(()),
        };
        for (reader, state) in changes(&known, &now) {
            print_reader(
                &ReaderView {
                    reader: &reader,
                    state,
                },
                json,
            );
        }
        known = now;
    }
}

/// What changed from `before` to `after`, reader by reader.
fn changes(before: &[ReaderStatus], after: &[ReaderStatus]) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for r in after {
        match before.iter().find(|b| b.name == r.name) {
            None => {
                out.push((r.name.clone(), "reader added"));
                if r.card_present {
                    out.push((r.name.clone(), "card in"));
                }
            }
            Some(b) if b.card_present != r.card_present => {
                let state = if r.card_present {
                    "card in"
                } else {
                    "card out"
                };
                out.push((r.name.clone(), state));
            }
            Some(_) => {}
        }
    }
    for b in before {
        if !after.iter().any(|r| r.name == b.name) {
            out.push((b.name.clone(), "reader removed"));
        }
    }
    out
}
