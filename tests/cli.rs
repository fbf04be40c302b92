//! The `eid` command line as an operator uses it: real binary, real data folder, exit codes
//! and messages, and that a refused command changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

// Shared with the other test binaries; this one uses part of it.
#[allow(dead_code)]
#[path = "common/folder.rs"]
mod folder;

use folder::Folder;

struct Eid {
    folder: Folder,
    data: PathBuf,
}

impl Eid {
    /// A fresh, initialised data folder with one organisation and one person with a card.
    fn new() -> Self {
        let folder = Folder::new();
        let eid = Self {
            data: folder.data.clone(),
            folder,
        };
        eid.ok(&[
            "admin",
            "card",
            "register",
            "--number",
            "9752000001",
            "--product",
            "610",
            "--kind",
            "two-pin",
            "--holder",
            "SE2321000016-A1B2",
        ]);
        eid
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.folder.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command expected to fail with `code`; returns its message.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        stderr(&out)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Everything a refused command must leave as it was.
    fn snapshot(&self) -> (Value, Value, Value, Value, String) {
        (
            self.json(&["admin", "org", "list"]),
            self.json(&["admin", "person", "list"]),
            self.json(&["admin", "card", "list"]),
            self.json(&["admin", "cert", "list", "--card", "9752000001"]),
            self.ok(&["admin", "audit", "verify"]),
        )
    }

    fn csr(&self, name: &str) -> PathBuf {
        let key = self.data.with_file_name(format!("{name}.key"));
        let csr = self.data.with_file_name(format!("{name}.csr"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-subj",
                "/CN=Mallory/O=Evil/serialNumber=SE0000000000-EVIL",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-outform")
            .arg("DER")
            .arg("-out")
            .arg(&csr)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", stderr(&status));
        csr
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_refuses_an_existing_or_non_empty_folder() {
    let eid = Eid::new();
    let before = eid.snapshot();
    let msg = eid.fails(&["admin", "init"], 1);
    assert!(msg.contains("already an eid data folder"), "{msg}");
    assert_eq!(eid.snapshot(), before);

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "mine").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args(["admin", "init", "--data", path(other.path())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(other.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "init left files behind");
}

#[test]
fn an_rsa_ca_issues_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rsa");
    let out = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args([
            "admin",
            "init",
            "--key-algorithm",
            "rsa2048",
            "--data",
            path(&data),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(data.join("eid.toml")).unwrap();
    assert!(text.contains("key_algorithm = \"rsa2048\""));
    let verify = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(data.join("ca/issuing.pem"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&verify.stdout).contains("rsaEncryption"));
}

#[test]
fn issued_certificates_chain_and_take_the_subject_from_the_register() {
    let eid = Eid::new();
    let csr = eid.csr("auth");
    let out = eid.data.with_file_name("auth.pem");
    let issued = eid.json(&[
        "admin",
        "cert",
        "issue",
        "--card",
        "9752000001",
        "--profile",
        "authentication",
        "--csr",
        path(&csr),
        "--out",
        path(&out),
    ]);
    assert_eq!(issued["kind"], "authentication");
    assert_eq!(issued["hsa_id"], "SE2321000016-A1B2");
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            path(&out),
        ])
        .output()
        .unwrap();
    let subject = String::from_utf8_lossy(&text.stdout);
    assert!(
        subject.contains("serialNumber=SE2321000016-A1B2"),
        "{subject}"
    );
    assert!(
        !subject.contains("Mallory") && !subject.contains("Evil"),
        "{subject}"
    );
    let verify = Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(eid.data.join("ca/root.pem"))
        .arg("-untrusted")
        .arg(eid.data.join("ca/issuing.pem"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let eid = Eid::new();
    let csr = eid.csr("key");
    let good = std::fs::read(&csr).unwrap();
    eid.ok(&[
        "admin",
        "cert",
        "issue",
        "--card",
        "9752000001",
        "--profile",
        "authentication",
        "--csr",
        path(&csr),
    ]);
    let before = eid.snapshot();

    // A reused public key.
    let msg = eid.fails(
        &[
            "admin",
            "cert",
            "issue",
            "--card",
            "9752000001",
            "--profile",
            "signing",
            "--csr",
            path(&csr),
        ],
        1,
    );
    assert!(msg.contains("authentication key"), "{msg}");

    // A request whose signature does not verify.
    let mut bad_sig = good.clone();
    let last = bad_sig.len() - 3;
    bad_sig[last] ^= 0x55;
    let bad_sig_path = eid.data.with_file_name("badsig.csr");
    std::fs::write(&bad_sig_path, &bad_sig).unwrap();
    let msg = eid.fails(
        &[
            "admin",
            "cert",
            "issue",
            "--card",
            "9752000001",
            "--profile",
            "authentication",
            "--csr",
            path(&bad_sig_path),
        ],
        2,
    );
    assert!(msg.contains("request"), "{msg}");

    // Truncated DER.
    let cut = eid.data.with_file_name("cut.csr");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    eid.fails(
        &[
            "admin",
            "cert",
            "issue",
            "--card",
            "9752000001",
            "--profile",
            "authentication",
            "--csr",
            path(&cut),
        ],
        2,
    );

    // A duplicate HSA-id, a bad organisation number, an unknown organisation.
    let msg = eid.fails(
        &[
            "admin",
            "person",
            "add",
            "--hsa-id",
            "SE2321000016-A1B2",
            "--given-name",
            "Eve",
            "--surname",
            "Evil",
            "--org",
            "2321000016",
        ],
        1,
    );
    assert!(msg.contains("HSA-id already exists"), "{msg}");
    let msg = eid.fails(
        &[
            "admin",
            "org",
            "add",
            "--number",
            "2321000017",
            "--name",
            "X",
        ],
        2,
    );
    assert!(msg.contains("check digit"), "{msg}");
    let msg = eid.fails(
        &[
            "admin",
            "person",
            "add",
            "--hsa-id",
            "SE5560000001-X1",
            "--given-name",
            "Eve",
            "--surname",
            "Evil",
            "--org",
            "5560000001",
        ],
        1,
    );
    assert!(msg.contains("no organisation"), "{msg}");
    // A card for a holder that does not exist; a two-PIN card with a 7XX product number.
    eid.fails(
        &[
            "admin",
            "card",
            "register",
            "--number",
            "9752000009",
            "--product",
            "610",
            "--kind",
            "two-pin",
            "--holder",
            "SE2321000016-NOBODY",
        ],
        1,
    );
    eid.fails(
        &[
            "admin",
            "card",
            "register",
            "--number",
            "9752000009",
            "--product",
            "710",
            "--kind",
            "two-pin",
            "--holder",
            "SE2321000016-A1B2",
        ],
        2,
    );
    // Bad usage.
    eid.fails(&["admin", "org", "add", "--number", "2321000016"], 2);

    assert_eq!(eid.snapshot(), before);
}

#[test]
fn a_bad_configuration_value_is_named_and_nothing_runs() {
    let eid = Eid::new();
    let before = eid.snapshot();
    let file = eid.data.join("eid.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        original.replace("durability = \"process\"", "durability = \"maybe\""),
    )
    .unwrap();
    let msg = eid.fails(
        &[
            "admin",
            "org",
            "add",
            "--number",
            "5560000001",
            "--name",
            "New",
        ],
        2,
    );
    assert!(
        msg.contains("store.durability") && msg.contains("maybe"),
        "{msg}"
    );
    std::fs::write(&file, &original).unwrap();

    let out = eid.run_env(
        &[
            "admin",
            "org",
            "add",
            "--number",
            "5560000001",
            "--name",
            "New",
        ],
        &[("EID_CA__OCSP_URL", "ftp://ocsp.example")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("EID_"), "{}", stderr(&out));
    assert_eq!(eid.snapshot(), before);
}

#[test]
fn audit_verify_finds_a_changed_entry() {
    let eid = Eid::new();
    eid.ok(&["admin", "audit", "verify"]);
    let conn = rusqlite::Connection::open(eid.data.join("eid.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET actor = 'admin:someone-else' WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let msg = eid.fails(&["admin", "audit", "verify"], 1);
    assert!(msg.contains("entry 2 was changed"), "{msg}");
}

#[test]
fn lists_print_json() {
    let eid = Eid::new();
    let orgs = eid.json(&["admin", "org", "list"]);
    assert_eq!(orgs[0]["org_number"], "2321000016");
    assert_eq!(orgs[0]["signing_policy"], "self-service");
    let cards = eid.json(&["admin", "card", "list"]);
    assert_eq!(cards[0]["kind"], "two-pin");
    let report = eid.json(&["admin", "audit", "verify"]);
    assert_eq!(report["entries"], 4); // ca.create, organisation, person, card
    eid.ok(&[
        "admin",
        "org",
        "policy",
        "2321000016",
        "--signing",
        "disabled",
    ]);
    let orgs = eid.json(&["admin", "org", "list"]);
    assert_eq!(orgs[0]["signing_policy"], "disabled");
    eid.ok(&[
        "admin",
        "person",
        "entitle",
        "SE2321000016-A1B2",
        "--withdraw",
    ]);
    let persons = eid.json(&["admin", "person", "list"]);
    assert_eq!(persons[0]["signing_entitled"], false);
}

impl Eid {
    /// Runs `eid card …` (no data folder) with `stdin`.
    fn holder(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_eid"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn a_two_pin_card_is_issued_and_shown_without_secrets() {
    let eid = Eid::new();
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "two-pin",
    ]);
    let file = issued["card_file"].as_str().unwrap().to_owned();
    assert!(file.starts_with(eid.data.join("cards").to_str().unwrap()));
    let codes = &issued["codes"];
    let secrets: Vec<String> = ["pin1", "pin2", "puk"]
        .iter()
        .map(|k| codes[k].as_str().unwrap().to_owned())
        .collect();

    let out = eid.holder(&["card", "show", &file, "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "card show printed a code");
    }
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["kind"], "two-pin");
    assert_eq!(shown["state"], "active");
    assert_eq!(shown["tries_left"][1]["code"], "PIN2");
    let slots: Vec<&str> = shown["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slot"].as_str().unwrap())
        .collect();
    assert_eq!(slots, ["9A", "F9"]);
    assert!(
        shown["certificates"][0]["subject"]
            .as_str()
            .unwrap()
            .contains("serialNumber=SE2321000016-A1B2")
    );

    let card = eid.json(&["admin", "card", "list", "--holder", "SE2321000016-A1B2"]);
    assert_eq!(card.as_array().unwrap().len(), 2);
    let certs = eid.json(&[
        "admin",
        "cert",
        "list",
        "--card",
        issued["card_number"].as_str().unwrap(),
    ]);
    assert_eq!(certs.as_array().unwrap().len(), 2);
    // A two-PIN card needs no activation.
    let out = eid.holder(&["card", "activate", &file], "123456\n654321\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_one_pin_card_is_activated_by_its_holder() {
    let eid = Eid::new();
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "one-pin",
    ]);
    let file = issued["card_file"].as_str().unwrap().to_owned();
    let transport = issued["codes"]["transport_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(issued["product_number"], "710");
    let show = |eid: &Eid| -> Value {
        serde_json::from_slice(&eid.holder(&["card", "show", &file, "--json"], "").stdout).unwrap()
    };
    assert_eq!(show(&eid)["state"], "not-activated");

    let wrong = if transport == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let out = eid.holder(&["card", "activate", &file], &format!("{wrong}\n654321\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("2 tries left"), "{}", stderr(&out));
    assert_eq!(show(&eid)["tries_left"][0]["left"], 2);

    let out = eid.holder(
        &["card", "activate", &file],
        &format!("{transport}\n654321\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = show(&eid);
    assert_eq!(after["state"], "active");
    assert_eq!(after["tries_left"][0]["left"], 3);
}

#[test]
fn the_administrator_unblocks_a_one_pin_card_and_not_a_two_pin_card() {
    let eid = Eid::new();
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "one-pin",
    ]);
    let file = issued["card_file"].as_str().unwrap().to_owned();
    let transport = issued["codes"]["transport_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = eid.holder(
        &["card", "activate", &file],
        &format!("{transport}\n654321\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let unblocked = eid.json(&["admin", "card", "unblock", "--file", &file]);
    let code = unblocked["transport_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    let show: Value =
        serde_json::from_slice(&eid.holder(&["card", "show", &file, "--json"], "").stdout).unwrap();
    assert_eq!(show["state"], "not-activated");
    let out = eid.holder(&["card", "activate", &file], &format!("{code}\n135791\n"));
    assert!(out.status.success(), "{}", stderr(&out));

    let two = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "two-pin",
    ]);
    let err = eid.fails(
        &[
            "admin",
            "card",
            "unblock",
            "--file",
            two["card_file"].as_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("PIN letter"), "{err}");
}

#[test]
fn a_card_for_an_unknown_holder_is_refused_and_leaves_nothing() {
    let eid = Eid::new();
    let before = eid.snapshot();
    let msg = eid.fails(
        &[
            "admin",
            "card",
            "issue",
            "--holder",
            "SE2321000016-NOBODY",
            "--kind",
            "two-pin",
        ],
        1,
    );
    assert!(msg.contains("no person"), "{msg}");
    eid.fails(
        &[
            "admin",
            "card",
            "issue",
            "--holder",
            "SE2321000016-A1B2",
            "--kind",
            "one-pin",
            "--product",
            "610",
        ],
        2,
    );
    assert_eq!(eid.snapshot(), before);
    let cards = eid.data.join("cards");
    let left = std::fs::read_dir(&cards).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "a card file was left behind");
    // A corrupt card file is refused with a clear message and left as it was.
    let junk = eid.data.with_file_name("junk.card");
    std::fs::write(&junk, "{\"not\": \"a card\"}").unwrap();
    let out = eid.holder(&["card", "show", path(&junk)], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&junk).unwrap(),
        "{\"not\": \"a card\"}"
    );
}

#[test]
fn set_overrides_the_configuration_for_one_command() {
    let eid = Eid::new();
    let before = eid.snapshot();
    let msg = eid.fails(
        &[
            "admin",
            "org",
            "add",
            "--number",
            "5560000001",
            "--name",
            "New",
            "--set",
            "store.durability=sometimes",
        ],
        2,
    );
    assert!(
        msg.contains("store.durability") && msg.contains("sometimes"),
        "{msg}"
    );
    let msg = eid.fails(&["admin", "org", "list", "--set", "no-equals-sign"], 2);
    assert!(msg.contains("KEY=VALUE"), "{msg}");
    assert_eq!(eid.snapshot(), before);
    // A card issued with five PIN tries for this command only.
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "two-pin",
        "--set",
        "cards.pin_tries=5",
    ]);
    let out = eid.holder(
        &[
            "card",
            "show",
            issued["card_file"].as_str().unwrap(),
            "--json",
        ],
        "",
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["tries_left"][0]["total"], 5);
}

#[test]
fn a_dead_card_is_still_shown() {
    use eid_card::{Card, CardClient, Pin, PinRef, VirtualCard, VirtualReader};
    let eid = Eid::new();
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "two-pin",
    ]);
    let file = issued["card_file"].as_str().unwrap().to_owned();
    {
        let card = CardClient::new(VirtualReader::new(
            VirtualCard::open(Path::new(&file)).unwrap(),
        ));
        card.select().unwrap();
        let puk = issued["codes"]["puk"].as_str().unwrap();
        let wrong = if puk == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        for _ in 0..10 {
            let _ = card.unblock_pin(PinRef::Pin1, &Pin::from(wrong), &Pin::from("123456"));
        }
    }
    let out = eid.holder(&["card", "show", &file, "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"], "dead");
    assert_eq!(shown["certificates"].as_array().unwrap().len(), 2);
}

/// The audit log of the data folder, read through the store as `eid serve` would.
fn audit_log(data: &Path) -> Vec<eid_store::AuditEntry> {
    use eid_store::Store as _;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = eid_store::SqliteStore::open(&data.join("eid.db"), Default::default())
            .await
            .unwrap();
        store.audit_entries(0, 10_000).await.unwrap()
    })
}

#[test]
fn cert_revoke_revokes_once_and_refuses_bad_input_changing_nothing() {
    let eid = Eid::new();
    let issue = |name: &str, profile: &str| {
        let csr = eid.csr(name);
        eid.json(&[
            "admin",
            "cert",
            "issue",
            "--card",
            "9752000001",
            "--profile",
            profile,
            "--csr",
            path(&csr),
        ])["serial"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let auth = issue("auth", "authentication");
    let signing = issue("sign", "signing");
    let before = eid.snapshot();
    for (args, code, says) in [
        (
            vec!["admin", "cert", "revoke", "XYZ", "--reason", "superseded"],
            2,
            "is not a certificate serial",
        ),
        (
            vec!["admin", "cert", "revoke", "0", "--reason", "superseded"],
            2,
            "is not a certificate serial",
        ),
        (
            vec![
                "admin",
                "cert",
                "revoke",
                "0ABCDEF1",
                "--reason",
                "superseded",
            ],
            1,
            "no certificate with serial 0ABCDEF1",
        ),
        (
            vec![
                "admin",
                "cert",
                "revoke",
                &auth,
                "--reason",
                "certificate-hold",
            ],
            2,
            "certificate-hold",
        ),
        (vec!["admin", "cert", "revoke", &auth], 2, "--reason"),
    ] {
        let msg = eid.fails(&args, code);
        assert!(msg.contains(says), "{args:?}: {msg}");
        assert_eq!(eid.snapshot(), before, "{args:?} changed something");
    }

    // A key compromise: revoked, and a CRL issued at once.
    let revoked = eid.json(&[
        "admin",
        "cert",
        "revoke",
        &auth,
        "--reason",
        "key-compromise",
    ]);
    assert_eq!(revoked["certificate"]["serial"], auth.as_str());
    assert_eq!(revoked["certificate"]["status"], "revoked (keyCompromise)");
    assert!(revoked["crl_number"].as_u64().unwrap() >= 1, "{revoked}");
    // Another reason: the serial as openssl prints it with colons, in lower case; the CRL
    // waits for the schedule.
    let spaced: Vec<String> = signing
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let out = eid.ok(&[
        "admin",
        "cert",
        "revoke",
        &spaced.join(":"),
        "--reason",
        "cessation-of-operation",
    ]);
    assert!(
        out.contains(&format!(
            "revoked signing certificate {signing} (cessationOfOperation)"
        )),
        "{out}"
    );
    assert!(!out.contains("CRL"), "{out}");

    // Twice is refused, saying since when and why; nothing changes.
    let after = eid.snapshot();
    let msg = eid.fails(
        &["admin", "cert", "revoke", &auth, "--reason", "superseded"],
        1,
    );
    assert!(msg.contains("already revoked"), "{msg}");
    assert!(msg.contains("keyCompromise"), "{msg}");
    assert_eq!(eid.snapshot(), after);

    let log = audit_log(&eid.data);
    let revocations: Vec<_> = log
        .iter()
        .filter(|e| e.event.action == "certificate.revoke")
        .map(|e| &e.event)
        .collect();
    assert_eq!(revocations.len(), 2);
    assert_eq!(revocations[0].subject, auth);
    assert_eq!(revocations[0].details["reason"], "keyCompromise");
    assert!(revocations[0].actor.starts_with("admin:"));
    assert_eq!(revocations[1].subject, signing);
    assert!(log.iter().any(|e| e.event.action == "crl.issue"));
    assert!(eid.ok(&["admin", "audit", "verify"]).contains("intact"));
}

#[test]
fn card_revoke_revokes_the_card_and_every_certificate_on_it_once() {
    let eid = Eid::new();
    let issued = eid.json(&[
        "admin",
        "card",
        "issue",
        "--holder",
        "SE2321000016-A1B2",
        "--kind",
        "two-pin",
    ]);
    let number = issued["card_number"].as_str().unwrap().to_owned();
    let before = eid.snapshot();
    for (card, code, says) in [
        ("12ab", 2, "is not a card number"),
        ("9752000077", 1, "no card with number 9752000077"),
    ] {
        let msg = eid.fails(&["admin", "card", "revoke", card], code);
        assert!(msg.contains(says), "{card}: {msg}");
        assert_eq!(eid.snapshot(), before);
    }

    let done = eid.json(&["admin", "card", "revoke", &number]);
    assert_eq!(done["card"], number.as_str());
    assert_eq!(done["reason"], "keyCompromise", "a lost card by default");
    let revoked: Vec<&str> = done["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(revoked.len(), 2, "authentication and attestation: {done}");
    assert!(done["crl_number"].as_u64().unwrap() >= 1, "{done}");
    let cards = eid.json(&["admin", "card", "list"]);
    let card = cards
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["card_number"] == number.as_str())
        .unwrap();
    assert_eq!(card["state"], "revoked");
    let certs = eid.json(&["admin", "cert", "list", "--card", &number]);
    for cert in certs.as_array().unwrap() {
        assert_eq!(cert["status"], "revoked (keyCompromise)", "{cert}");
    }
    // The other card of the holder is untouched.
    let other = eid.json(&["admin", "card", "list"]);
    assert!(
        other
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["card_number"] == "9752000001" && c["state"] == "active")
    );

    let after = eid.snapshot();
    let msg = eid.fails(
        &["admin", "card", "revoke", &number, "--reason", "superseded"],
        1,
    );
    assert!(msg.contains("already revoked"), "{msg}");
    assert_eq!(eid.snapshot(), after);

    let log = audit_log(&eid.data);
    let card_entry = log
        .iter()
        .find(|e| e.event.action == "card.revoke")
        .unwrap();
    assert_eq!(card_entry.event.subject, number);
    assert!(card_entry.event.actor.starts_with("admin:"));
    let cert_entries: Vec<&str> = log
        .iter()
        .filter(|e| e.event.action == "certificate.revoke")
        .map(|e| e.event.subject.as_str())
        .collect();
    assert_eq!(cert_entries, revoked);
    assert!(eid.ok(&["admin", "audit", "verify"]).contains("intact"));
}

#[test]
fn expire_undelivered_revokes_only_what_a_fetch_left_off_the_card() {
    use eid_store::Store as _;
    let eid = Eid::new();
    let csr = eid.csr("auth");
    eid.ok(&[
        "admin",
        "cert",
        "issue",
        "--card",
        "9752000001",
        "--profile",
        "authentication",
        "--csr",
        path(&csr),
    ]);
    // Handed out by the administrator: delivered, never expired as undelivered.
    let csr = eid.csr("sign");
    let handed_out = eid.json(&[
        "admin",
        "cert",
        "issue",
        "--card",
        "9752000001",
        "--profile",
        "signing",
        "--csr",
        path(&csr),
    ])["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    // What a fetch leaves when it stops after the CA issued: a signing certificate of the
    // card, issued 30 hours ago, never confirmed on the card.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issued_at = eid_clock::Clock::now(&eid_clock::SystemClock) - time::Duration::hours(30);
    let orphan = eid_store::CertificateRecord {
        serial: "7E57AB1E".parse().unwrap(),
        kind: eid_store::CertKind::Signing,
        card_number: Some("9752000001".into()),
        hsa_id: Some("SE2321000016-A1B2".into()),
        status: eid_store::CertStatus::Valid,
        der: vec![0x30, 0x00],
        not_before: issued_at,
        not_after: issued_at + time::Duration::days(700),
        public_key_sha256: [0x7E; 32],
        issued_at,
    };
    runtime.block_on(async {
        use eid_store::EnrollStore as _;
        let store = eid_store::SqliteStore::open(&eid.data.join("eid.db"), Default::default())
            .await
            .unwrap();
        let serial = handed_out.parse().unwrap();
        assert!(
            store.delivered_at(&serial).await.unwrap().is_some(),
            "recorded as handed out when issued"
        );
        let audit = eid_store::AuditEvent {
            at: issued_at,
            actor: "person:SE2321000016-A1B2".into(),
            action: "certificate.issue".into(),
            subject: "7E57AB1E".into(),
            details: serde_json::json!({ "kind": "signing" }),
        };
        store.add_certificate(&orphan, &audit).await.unwrap();
    });

    // Not yet with a longer configured time.
    let out = eid.ok(&[
        "admin",
        "cert",
        "expire-undelivered",
        "--set",
        "ca.undelivered_revoke_after_hours=48",
    ]);
    assert!(
        out.contains("no signing certificate has waited 48 hours"),
        "{out}"
    );
    // With the default (24 hours): the orphan only.
    let revoked = eid.json(&["admin", "cert", "expire-undelivered"]);
    let serials: Vec<&str> = revoked
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["7E57AB1E"]);
    assert_eq!(revoked[0]["status"], "revoked (cessationOfOperation)");
    let certs = eid.json(&["admin", "cert", "list", "--card", "9752000001"]);
    let status = |serial: &str| {
        certs
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["serial"] == serial)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&handed_out), "valid");
    assert_eq!(status("7E57AB1E"), "revoked (cessationOfOperation)");
    // Nothing left to do.
    assert_eq!(
        eid.json(&["admin", "cert", "expire-undelivered"]),
        Value::Array(vec![])
    );
    let log = audit_log(&eid.data);
    assert_eq!(
        log.iter()
            .filter(|e| e.event.action == "certificate.revoke")
            .map(|e| e.event.subject.as_str())
            .collect::<Vec<_>>(),
        ["7E57AB1E"]
    );
    assert!(eid.ok(&["admin", "audit", "verify"]).contains("intact"));
}

#[test]
fn serve_answers_readiness_and_stops_on_sigterm() {
    use std::io::BufRead;
    let eid = Eid::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&eid.data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    folder::stop_cleanly(&mut child, "eid serve");
    // The server signed the audit log's head at start, with the data folder's key.
    let audit = eid.ok(&["admin", "audit", "verify"]);
    assert!(audit.contains("1 signed head(s) checked"), "{audit}");

    // A bad address is a clear usage error.
    let msg = eid.fails(&["serve", "--set", "server.listen=nowhere"], 2);
    assert!(msg.contains("server.listen"), "{msg}");
}

/// Every byte of every file in the data folder, to look for a secret.
fn folder_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let p = entry.unwrap().path();
        if p.is_dir() {
            folder_contains(&p, needle)
        } else {
            let bytes = std::fs::read(&p).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[test]
fn client_add_shows_the_secret_once_and_list_never() {
    let eid = Eid::new();
    let added = eid.json(&[
        "admin",
        "client",
        "add",
        "--id",
        "mypages",
        "--name",
        "Mina sidor",
        "--redirect-uri",
        "https://eid.example.org/mypages/cb",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
        "--post-logout-redirect-uri",
        "https://eid.example.org/mypages/",
        "--scope",
        "openid profile mypages.profile mypages.api",
    ]);
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{added}");
    assert_eq!(added["public"], false);
    assert_eq!(added["pkce_optional"], false);
    assert_eq!(
        added["scopes"],
        serde_json::json!(["openid", "profile", "mypages.profile", "mypages.api"])
    );
    // Stored hashed: the secret is nowhere in the data folder.
    assert!(!folder_contains(&eid.data, secret.as_bytes()));

    let text = eid.ok(&[
        "admin",
        "client",
        "add",
        "--id",
        "spa",
        "--name",
        "Appen",
        "--redirect-uri",
        "http://localhost:5173/cb",
        "--public",
    ]);
    assert!(text.contains("public client `spa`"), "{text}");
    assert!(!text.contains("secret"), "{text}");

    let list = eid.json(&["admin", "client", "list"]);
    let list_text = list.to_string();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(!list_text.contains(&secret));
    assert!(!list_text.contains("secret"), "{list_text}");
    let table = eid.ok(&["admin", "client", "list"]);
    assert!(
        table.contains("mypages") && table.contains("confidential"),
        "{table}"
    );
    assert!(table.contains("spa") && table.contains("public"), "{table}");
}

#[test]
fn a_refused_client_add_says_why_and_changes_nothing() {
    let eid = Eid::new();
    let add = |id: &str, uri: &str, extra: &[&str]| {
        let mut args = vec![
            "admin",
            "client",
            "add",
            "--id",
            id,
            "--name",
            "RP",
            "--redirect-uri",
            uri,
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, code: i32| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        eid.fails(&args, code)
    };
    let args = add("rp", "https://rp.example/cb", &[]);
    eid.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let before = (eid.json(&["admin", "client", "list"]), eid.snapshot());

    let msg = run(add("rp", "https://other.example/cb", &[]), 1);
    assert!(msg.contains("already registered"), "{msg}");
    let msg = run(add("rp2", "http://rp.example/cb", &[]), 2);
    assert!(msg.contains("http://rp.example/cb"), "{msg}");
    let msg = run(add("rp2", "https://rp.example/cb#x", &[]), 2);
    assert!(msg.contains("fragment"), "{msg}");
    let msg = run(
        add(
            "rp2",
            "https://rp.example/cb",
            &["--scope", "openid bad\"scope"],
        ),
        2,
    );
    assert!(msg.contains("scope"), "{msg}");
    let msg = run(
        add(
            "rp2",
            "https://rp.example/cb",
            &["--public", "--pkce-optional"],
        ),
        2,
    );
    assert!(msg.contains("PKCE"), "{msg}");
    let msg = run(add("a:b", "https://rp.example/cb", &[]), 2);
    assert!(msg.contains("client id"), "{msg}");

    assert_eq!(
        (eid.json(&["admin", "client", "list"]), eid.snapshot()),
        before
    );
}

#[test]
fn configured_clients_are_registered_when_serve_starts() {
    use std::io::{BufRead, Write};
    let eid = Eid::new();
    let config = eid.data.join("eid.toml");
    let good = r#"
[[oidc.clients]]
id = "mypages"
name = "Mina sidor"
redirect_uris = ["https://eid.example.org/mypages/cb"]
scopes = ["openid", "profile", "mypages.profile", "mypages.api"]
secret_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
"#;
    let original = std::fs::read_to_string(&config).unwrap();

    // A bad value is named and nothing starts.
    std::fs::write(
        &config,
        format!("{original}{}", good.replace("9f86", "zz86")),
    )
    .unwrap();
    let msg = eid.fails(&["serve", "--listen", "127.0.0.1:0"], 2);
    assert!(msg.contains("oidc.clients[0].secret_sha256"), "{msg}");

    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&config)
        .unwrap();
    file.write_all(format!("{original}{good}").as_bytes())
        .unwrap();
    drop(file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&eid.data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on "), "{line}");
    folder::stop_cleanly(&mut child, "eid serve");

    let list = eid.json(&["admin", "client", "list"]);
    assert_eq!(list[0]["client_id"], "mypages", "{list}");
    assert_eq!(list[0]["public"], false);
    assert_eq!(
        list[0]["scopes"],
        serde_json::json!(["openid", "profile", "mypages.profile", "mypages.api"])
    );
    // The configured client cannot be added again by hand.
    let msg = eid.fails(
        &[
            "admin",
            "client",
            "add",
            "--id",
            "mypages",
            "--name",
            "x",
            "--redirect-uri",
            "https://x.example/cb",
        ],
        1,
    );
    assert!(msg.contains("already registered"), "{msg}");
}

/// `eid demo` running on a folder; killed when dropped, so a failed assertion leaves no
/// process behind.
struct Demo {
    child: Option<std::process::Child>,
    /// The server's base URL.
    base: String,
    /// What it printed before it listened.
    printed: String,
}

impl Demo {
    /// Runs `eid demo` on `dir` with `extra` arguments until it listens.
    fn start(dir: &Path, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let child = Command::new(env!("CARGO_BIN_EXE_eid"))
            .args(["demo", "--port", "0", "--data"])
            .arg(dir)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut demo = Self {
            child: Some(child),
            base: String::new(),
            printed: String::new(),
        };
        let stdout = demo.child.as_mut().unwrap().stdout.take().unwrap();
        let mut out = std::io::BufReader::new(stdout);
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "eid demo ended:\n{}",
                demo.printed
            );
            if let Some(rest) = line.strip_prefix("listening on ") {
                demo.base = rest.split_whitespace().next().unwrap().to_owned();
                return demo;
            }
            demo.printed.push_str(&line);
        }
    }

    /// SIGTERM; it must stop cleanly.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        folder::stop_cleanly(&mut child, "eid demo");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_demo_makes_its_folder_once_reuses_it_and_resets_on_request() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let demo_run = Demo::start(&dir, &[]);
    let (base, printed) = (demo_run.base.clone(), demo_run.printed.clone());
    let record = dir.join("demo.json");
    let demo: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(
        std::fs::metadata(&record).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(demo["version"], 1);
    assert_eq!(demo["issuer"], base.as_str());
    assert_eq!(demo["portal_url"], format!("{base}/mypages").as_str());
    assert_eq!(
        demo["test_client"]["redirect_uri"],
        "http://127.0.0.1:3001/cb"
    );
    let cards = demo["cards"].as_array().unwrap();
    let kinds: Vec<(&str, bool, bool)> = cards
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c.get("pin2").is_some(),
                c["may_fetch_signing_certificate"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("two-pin", true, true),
            ("one-pin", false, true),
            ("two-pin", true, false)
        ]
    );
    for c in cards {
        assert!(Path::new(c["card_file"].as_str().unwrap()).exists());
        assert!(printed.contains(c["pin1"].as_str().unwrap()), "{printed}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let discovery: Value = runtime.block_on(async {
        reqwest::get(format!("{base}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(discovery["issuer"], base.as_str());
    demo_run.stop();

    // The next run reuses the folder: the same cards, codes and client secret.
    let again_run = Demo::start(&dir, &[]);
    assert!(
        again_run.printed.contains("(reused)"),
        "{}",
        again_run.printed
    );
    let again: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(again["cards"], demo["cards"]);
    assert_eq!(again["test_client"], demo["test_client"]);
    again_run.stop();

    // --reset starts afresh: new keys, new codes.
    let reset_run = Demo::start(&dir, &["--reset"]);
    assert!(reset_run.printed.contains("(new)"), "{}", reset_run.printed);
    let fresh: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_ne!(
        fresh["test_client"]["client_secret"],
        demo["test_client"]["client_secret"]
    );
    reset_run.stop();

    // A folder that is not a demo's is neither reset nor used.
    let other = Eid::new();
    for extra in [&["--reset"][..], &[]] {
        let out = Command::new(env!("CARGO_BIN_EXE_eid"))
            .args(["demo", "--port", "0", "--data"])
            .arg(&other.data)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a demo folder"));
    }
    assert!(other.data.join("eid.toml").exists());
}

#[test]
fn rotate_secret_gives_a_confidential_client_a_new_secret_once() {
    let eid = Eid::new();
    let add = |id: &str, public: bool| {
        let mut args = vec![
            "admin",
            "client",
            "add",
            "--id",
            id,
            "--name",
            "Tjänsten",
            "--redirect-uri",
            "https://rp.example/cb",
        ];
        if public {
            args.push("--public");
        }
        eid.json(&args)
    };
    let old = add("rp", false)["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    add("spa", true);
    let rotated = eid.json(&["admin", "client", "rotate-secret", "--id", "rp"]);
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(new.len() >= 43 && new != old, "{rotated}");
    assert!(!folder_contains(&eid.data, new.as_bytes()));
    let text = eid.ok(&["admin", "client", "rotate-secret", "--id", "rp"]);
    assert!(
        text.contains("shown once") && !text.contains(&new),
        "{text}"
    );

    let msg = eid.fails(&["admin", "client", "rotate-secret", "--id", "spa"], 1);
    assert!(
        msg.contains("public") && msg.contains("nothing changed"),
        "{msg}"
    );
    let msg = eid.fails(&["admin", "client", "rotate-secret", "--id", "nobody"], 1);
    assert!(msg.contains("no client `nobody`"), "{msg}");
    let audit = eid.ok(&["admin", "audit", "verify"]);
    assert!(audit.contains("intact"), "{audit}");
}

/// Runs `eid bench <args>` (self-contained: no data folder of ours); its stdout's last line
/// and its stderr.
fn bench(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eid"))
        .arg("bench")
        .args(args)
        .env_remove("EID_DATA")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{args:?}: {err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    (last, err)
}

/// `<N> <what>/s p50=<ms> p99=<ms> errors=<n>`: the rate and the error count.
fn figure(line: &str, what: &str) -> (f64, u64) {
    let words: Vec<&str> = line.split(' ').collect();
    // The figures, then any tags (`store=… nodes=…`).
    assert!(words.len() >= 5, "{line}");
    assert!(words[1] == format!("{what}/s"), "{line}");
    assert!(
        words[2].starts_with("p50=") && words[3].starts_with("p99="),
        "{line}"
    );
    for w in &words[2..4] {
        w[4..].parse::<f64>().unwrap();
    }
    let errors = words[4].strip_prefix("errors=").unwrap().parse().unwrap();
    (words[0].parse().unwrap(), errors)
}

#[test]
fn bench_login_logs_in_without_errors() {
    let (last, _) = bench(&["login", "--duration", "1", "--concurrency", "2"]);
    let (rate, errors) = figure(&last, "ceremonies");
    assert!(rate > 0.0 && errors == 0, "{last}");
    assert!(last.ends_with(" store=sqlite nodes=1"), "{last}");
}

/// Two nodes on PostgreSQL (a database of the benchmark's own on the test server, dropped
/// afterwards), each ceremony's steps spread over both.
#[test]
fn bench_login_on_two_postgresql_nodes_logs_in_without_errors() {
    let server = std::env::var("EID_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (last, _) = bench(&[
        "login",
        "--duration",
        "1",
        "--concurrency",
        "2",
        "--store",
        &server,
        "--nodes",
        "2",
    ]);
    let (rate, errors) = figure(&last, "ceremonies");
    assert!(rate > 0.0 && errors == 0, "{last}");
    assert!(last.ends_with(" store=postgres nodes=2"), "{last}");
    // SQLite is one node's store.
    let out = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args(["bench", "login", "--duration", "1", "--nodes", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--store postgres"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_enroll_fetches_without_errors_and_says_when_the_cards_ran_out() {
    let (last, err) = bench(&[
        "enroll",
        "--duration",
        "30",
        "--concurrency",
        "2",
        "--cards",
        "12",
    ]);
    let (rate, errors) = figure(&last, "enrollments");
    assert!(rate > 0.0 && errors == 0, "{last}");
    // Twelve cards do not last 30 seconds: every one fetched, and the run stopped early.
    assert!(err.contains("12 enrollments in"), "{err}");
    assert!(err.contains("ran out"), "{err}");
    assert!(err.contains("provisioned in"), "{err}");
}
