//! Our virtual card in the card stacks nobody here wrote: pcscd with vsmartcard's virtual
//! reader, OpenSC's PIV driver and PKCS#11 module, `pkcs11-tool` and OpenSSL. Each test
//! runs a pcscd of its own ([`PcscDaemon`], root only) and serves card files issued by
//! the real `eid` binary with `eid card serve`.
//!
//! Here: OpenSC and OpenSSL against the card, and `eid card serve` itself. In
//! `card_stacks/`: the whole platform (server, `eid app --reader`) over the same stack.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use eid_card::{Card, CardClient, KeySlot, ManagementKey, Pin, PinRef, VirtualCard, VirtualReader};
use eid_testkit::pcsc::{OPENSC_PKCS11, PcscDaemon};
use serde_json::Value;
use zeroize::Zeroizing;

// Shared with the other test binaries; this one uses part of it.
#[allow(dead_code)]
#[path = "common/folder.rs"]
mod folder;

use folder::{EID, Folder, HOLDER, stderr};

#[path = "card_stacks/choose.rs"]
mod choose;
#[path = "card_stacks/concurrent.rs"]
mod concurrent;
#[path = "card_stacks/opensc_pkcs11.rs"]
mod opensc_pkcs11;
#[path = "card_stacks/pins.rs"]
mod pins;
#[path = "card_stacks/piv.rs"]
mod piv;
#[path = "card_stacks/pkcs11.rs"]
mod pkcs11;
#[path = "card_stacks/removal.rs"]
mod removal;
#[path = "card_stacks/seed.rs"]
mod seed;
#[path = "card_stacks/stack.rs"]
mod stack;

/// A data folder with an organisation and Anna, made with the `eid` binary.
struct Data(Folder);

impl std::ops::Deref for Data {
    type Target = Folder;

    fn deref(&self) -> &Folder {
        &self.0
    }
}

/// A card issued by `eid admin card issue`.
struct Issued {
    number: String,
    file: PathBuf,
    codes: Value,
}

impl Data {
    fn new() -> Self {
        Data(Folder::new())
    }

    fn eid(&self, args: &[&str]) -> String {
        self.ok(args)
    }

    fn issue(&self, kind: &str) -> Issued {
        let issued: Value = serde_json::from_str(&self.eid(&[
            "admin", "card", "issue", "--holder", HOLDER, "--kind", kind, "--json",
        ]))
        .unwrap();
        Issued {
            number: issued["card_number"].as_str().unwrap().to_owned(),
            file: issued["card_file"].as_str().unwrap().into(),
            codes: issued["codes"].clone(),
        }
    }

    /// A file in the test's folder.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Issued {
    fn code(&self, name: &str) -> String {
        self.codes[name].as_str().unwrap().to_owned()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `pkcs11-tool --module <OpenSC> ARGS` through the test's pcscd.
fn pkcs11(pcsc: &PcscDaemon, args: &[&str]) -> Output {
    let mut all = vec!["--module", OPENSC_PKCS11];
    all.extend_from_slice(args);
    pcsc.run("pkcs11-tool", &all)
}

fn pkcs11_ok(pcsc: &PcscDaemon, args: &[&str]) -> String {
    let out = pkcs11(pcsc, args);
    assert!(
        out.status.success(),
        "pkcs11-tool {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Signs `data` with key `id` through OpenSC (ECDSA with SHA-256, DER signature) after
/// logging in with `pin`.
fn sign(pcsc: &PcscDaemon, dir: &Path, id: &str, pin: &str, data: &Path) -> (Output, PathBuf) {
    let sig = dir.join(format!("sig-{id}-{pin}"));
    let out = pkcs11(
        pcsc,
        &[
            "--login",
            "--pin",
            pin,
            "--sign",
            "-m",
            "ECDSA-SHA256",
            "--signature-format",
            "openssl",
            "--id",
            id,
            "-i",
            text(data),
            "-o",
            text(&sig),
        ],
    );
    (out, sig)
}

/// `openssl dgst -sha256 -verify` of `sig` over `data` with the public key of the DER
/// certificate `cert`.
fn openssl_verifies(dir: &Path, cert: &Path, data: &Path, sig: &Path) -> Output {
    let public = dir.join(format!(
        "{}.pub.pem",
        cert.file_name().unwrap().to_string_lossy()
    ));
    let out = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        text(cert),
        "-noout",
        "-pubkey",
        "-out",
        text(&public),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        text(&public),
        "-signature",
        text(sig),
        text(data),
    ])
}

#[test]
fn opensc_sees_an_issued_card_as_a_piv_card_and_signs_with_its_authentication_key() {
    let data = Data::new();
    let card = data.issue("two-pin");
    let pcsc = PcscDaemon::start();
    let _served = pcsc.serve(EID, &card.file, 0);

    let readers = pcsc.readers();
    assert!(
        readers
            .lines()
            .any(|l| l.ends_with("Virtual PCD 00 00") && l.contains("Yes")),
        "{readers}"
    );
    let out = pcsc.run("opensc-tool", &["-r", "0", "-n"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Personal Identity Verification"),
        "card driver: {}",
        stdout(&out)
    );

    let slots = pkcs11_ok(&pcsc, &["-L"]);
    assert!(slots.contains("Virtual PCD 00 00"), "{slots}");
    assert!(slots.contains("token label"), "no token: {slots}");
    // Without a PIN: the certificate and the public key; the private key after PIN1.
    let public = pkcs11_ok(&pcsc, &["-O"]);
    for wanted in ["Certificate Object", "Public Key Object"] {
        let with_id = public
            .split("\n\n")
            .any(|o| o.contains(wanted) && o.contains("ID:         01"));
        assert!(with_id, "no {wanted} with id 01:\n{public}");
    }
    let objects = pkcs11_ok(&pcsc, &["--login", "--pin", &card.code("pin1"), "-O"]);
    for wanted in [
        "Certificate Object",
        "Private Key Object",
        "Public Key Object",
    ] {
        let with_id = objects
            .split("\n\n")
            .any(|o| o.contains(wanted) && o.contains("ID:         01"));
        assert!(with_id, "no {wanted} with id 01:\n{objects}");
    }

    // The certificate OpenSC reads is the one the CA issued for the card.
    let cert = data.path("auth.der");
    pkcs11_ok(
        &pcsc,
        &[
            "--read-object",
            "--type",
            "cert",
            "--id",
            "01",
            "-o",
            text(&cert),
        ],
    );
    let subject = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        text(&cert),
        "-noout",
        "-subject",
    ]);
    assert!(stdout(&subject).contains(HOLDER), "{}", stdout(&subject));

    // And the authentication key signs after PIN1; OpenSSL checks it against that certificate.
    let message = data.path("message");
    std::fs::write(&message, b"log me in").unwrap();
    let (out, sig) = sign(&pcsc, data.dir.path(), "01", &card.code("pin1"), &message);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let verified = openssl_verifies(data.dir.path(), &cert, &message, &sig);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).contains("Verified OK"));
}

/// A one-PIN card, activated by its holder, with a signing key in 9C and a certificate
/// for it written by the card management system (the test, with the card's management
/// key from the data folder's master key) before the card goes in the reader.
fn one_pin_card_with_signing_key(data: &Data) -> (Issued, String, PathBuf) {
    let card = data.issue("one-pin");
    let pin1 = "246810".to_owned();
    let mut activate = Command::new(EID)
        .args(["card", "activate", text(&card.file)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    activate
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n{pin1}\n", card.code("transport_code")).as_bytes())
        .unwrap();
    let out = activate.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cert_file = put_signing_key(data, &card);
    (card, pin1, cert_file)
}

/// Generates a 9C key on `card` (its file) under its management key and writes a
/// certificate for it; returns the certificate's file.
fn put_signing_key(data: &Data, card: &Issued) -> PathBuf {
    let master = eid_pki::CardMasterKey::load(&data.data.join("ca/card-master.key")).unwrap();
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.file).unwrap()));
    client.select().unwrap();
    client
        .authenticate_management(&ManagementKey::from_bytes(
            *master.management_key(&card.number),
        ))
        .unwrap();
    let spki = client.generate_key(KeySlot::Signing).unwrap();

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test signing CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Anna Andersson (signing)");
    params.key_usages = vec![rcgen::KeyUsagePurpose::ContentCommitment];
    let public = rcgen::SubjectPublicKeyInfo::from_der(&spki).unwrap();
    let cert = params.signed_by(&public, &issuer).unwrap();
    client
        .write_certificate(KeySlot::Signing, Some(cert.der()))
        .unwrap();
    let cert_file = data.path("signing.der");
    std::fs::write(&cert_file, cert.der()).unwrap();
    cert_file
}

#[test]
fn a_one_pin_cards_signing_key_signs_through_opensc_and_openssl_verifies() {
    let data = Data::new();
    let (card, pin1, cert) = one_pin_card_with_signing_key(&data);
    let pcsc = PcscDaemon::start();
    let _served = pcsc.serve(EID, &card.file, 1);

    let objects = pkcs11_ok(&pcsc, &["--login", "--pin", &pin1, "-O"]);
    assert!(
        objects
            .split("\n\n")
            .any(|o| o.contains("Private Key Object") && o.contains("ID:         02")),
        "no signing key (id 02):\n{objects}"
    );

    let message = data.path("contract");
    std::fs::write(&message, b"I agree to the terms").unwrap();
    let (out, sig) = sign(&pcsc, data.dir.path(), "02", &pin1, &message);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let verified = openssl_verifies(data.dir.path(), &cert, &message, &sig);
    assert!(verified.status.success(), "{}", stderr(&verified));

    // Another message, the same check: each signature needs the PIN anew, and gets it.
    let other = data.path("other");
    std::fs::write(&other, b"and to this").unwrap();
    let (out, sig2) = sign(&pcsc, data.dir.path(), "02", &pin1, &other);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let verified = openssl_verifies(data.dir.path(), &cert, &other, &sig2);
    assert!(verified.status.success(), "{}", stderr(&verified));
    // A signature does not verify over other data.
    let crossed = openssl_verifies(data.dir.path(), &cert, &message, &sig2);
    assert!(!crossed.status.success());

    // A wrong PIN signs nothing, and the card counts it.
    let (out, sig) = sign(&pcsc, data.dir.path(), "02", "13579135", &message);
    assert!(!out.status.success(), "signed with a wrong PIN");
    assert!(!sig.exists() || std::fs::read(&sig).unwrap().is_empty());
    let show: Value = serde_json::from_str(&stdout(
        &Command::new(EID)
            .args(["card", "show", text(&card.file), "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(show["tries_left"][0]["left"], 2, "{show}");
}

#[test]
fn a_pin_change_through_opensc_is_in_the_card_file() {
    let data = Data::new();
    let (card, pin1, _) = one_pin_card_with_signing_key(&data);
    let pcsc = PcscDaemon::start();
    let served = pcsc.serve(EID, &card.file, 0);
    pkcs11_ok(
        &pcsc,
        &[
            "--login",
            "--pin",
            &pin1,
            "--change-pin",
            "--new-pin",
            "97531086",
        ],
    );
    let (status, said) = served.stop();
    assert!(status.success(), "{said}");
    pcsc.wait_for_card(0, false);

    // The file is the card's memory: the new PIN is in it, the old one is not.
    let client = CardClient::new(VirtualReader::new(VirtualCard::open(&card.file).unwrap()));
    client.select().unwrap();
    let pin = |s: &str| Pin::new(Zeroizing::new(s.to_owned()));
    assert!(client.verify(PinRef::Pin1, &pin(&pin1)).is_err());
    client.verify(PinRef::Pin1, &pin("97531086")).unwrap();
}

#[test]
fn stopping_or_killing_the_server_takes_the_card_out() {
    let data = Data::new();
    let first = data.issue("two-pin");
    let second = data.issue("one-pin");
    let pcsc = PcscDaemon::start();

    // Both slots at once.
    let one = pcsc.serve(EID, &first.file, 0);
    let two = pcsc.serve(EID, &second.file, 1);
    assert!(pcsc.card_in(0) && pcsc.card_in(1), "{}", pcsc.readers());
    assert!(
        one.output()
            .contains(&format!("card {} is in the virtual reader", first.number)),
        "{}",
        one.output()
    );

    // SIGTERM: a clean stop that says the card is out.
    let (status, said) = one.stop();
    assert!(status.success(), "{said}");
    assert!(said.contains("is out of the reader"), "{said}");
    pcsc.wait_for_card(0, false);
    assert!(pcsc.card_in(1), "the other card went too");

    // `eid card show` through PC/SC: the card still in reader 1, none in reader 0.
    let shown = pcsc.run(
        EID,
        &[
            "card",
            "show",
            "--reader",
            &PcscDaemon::reader_name(1),
            "--json",
        ],
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["card_number"], second.number.as_str());
    let empty = pcsc.run(
        EID,
        &["card", "show", "--reader", &PcscDaemon::reader_name(0)],
    );
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    assert!(
        stderr(&empty).contains("no card in the reader"),
        "{}",
        stderr(&empty)
    );

    // SIGKILL: pulled out all the same.
    two.kill();
    pcsc.wait_for_card(1, false);

    // In again, then the reader goes away: the card is out and says so.
    let again = pcsc.serve(EID, &first.file, 0);
    drop(pcsc);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !again.output().contains("reader went away") {
        assert!(
            std::time::Instant::now() < deadline,
            "eid card serve did not notice: {}",
            again.output()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn serve_without_a_reader_says_so() {
    let data = Data::new();
    let card = data.issue("two-pin");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let out = Command::new(EID)
        .args(["card", "serve", text(&card.file), "--vpcd", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "no virtual reader (vpcd) at {addr}: is pcscd running with vsmartcard-vpcd?"
        )),
        "{}",
        stderr(&out)
    );
}

/// `eid card readers` lists the readers; `--watch` says each card coming and going, through
/// pcsc-lite's status changes.
#[test]
fn readers_watch_sees_a_card_come_and_go() {
    use std::io::{BufRead, BufReader};

    let data = Data::new();
    let card = data.issue("two-pin");
    let pcsc = PcscDaemon::start();
    let listed = pcsc.run(EID, &["card", "readers"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(
        stdout(&listed),
        "empty: Virtual PCD 00 00\nempty: Virtual PCD 00 01\n"
    );

    let mut watch = pcsc
        .command(EID)
        .args(["card", "readers", "--watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    for _ in 0..2 {
        assert_eq!(next()["state"], "empty");
    }
    let served = pcsc.serve(EID, &card.file, 1);
    let came = next();
    assert_eq!(came["reader"], PcscDaemon::reader_name(1).as_str());
    assert_eq!(came["state"], "card in");
    served.kill();
    let went = next();
    assert_eq!(went["reader"], PcscDaemon::reader_name(1).as_str());
    assert_eq!(went["state"], "card out");

    // Ctrl-C (SIGTERM here) ends it cleanly.
    folder::stop_cleanly(&mut watch, "eid card readers --watch");
}

/// Stock OpenSC knows one PIV PIN, the application PIN (`80`, our PIN1). A two-PIN card's
/// signing key wants PIN2 (`88`) right before each signature, which OpenSC cannot send: it
/// shows the key and its certificate, but cannot sign with it, whichever code is typed (and
/// PIN2 typed into its prompt is checked as PIN1, costing a PIN1 try). docs/card.md.
#[test]
fn a_two_pin_cards_signing_key_is_shown_but_not_usable_through_stock_opensc() {
    let data = Data::new();
    let card = data.issue("two-pin");
    let _cert = put_signing_key(&data, &card);
    let (pin1, pin2) = (card.code("pin1"), card.code("pin2"));
    let pcsc = PcscDaemon::start();
    let _served = pcsc.serve(EID, &card.file, 0);

    let objects = pkcs11_ok(&pcsc, &["-O"]);
    assert!(objects.contains("ID:         02"), "{objects}");
    let message = data.path("contract");
    std::fs::write(&message, b"I agree to the terms").unwrap();
    for code in [&pin1, &pin2] {
        let (out, _) = sign(&pcsc, data.dir.path(), "02", code, &message);
        assert!(!out.status.success(), "signed through OpenSC with {code}");
    }
    let show: Value = serde_json::from_str(&stdout(
        &Command::new(EID)
            .args(["card", "show", text(&card.file), "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(show["tries_left"][0]["code"], "PIN1", "{show}");
    assert_eq!(
        show["tries_left"][0]["left"], 2,
        "PIN2 checked as PIN1: {show}"
    );
    assert_eq!(show["tries_left"][1]["code"], "PIN2", "{show}");
    assert_eq!(show["tries_left"][1]["left"], 3, "PIN2 untouched: {show}");
}
