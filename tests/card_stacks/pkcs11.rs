//! The whole platform with a card behind a PKCS#11 module: Anna's two-PIN card as a pair of
//! SoftHSM2 tokens ("<number> (PIN1)", "<number> (PIN2)", the PUK their SO PIN), made and
//! read with the standard tools (`softhsm2-util`, OpenSC's `pkcs11-tool`, OpenSSL); the
//! server in this process; `eid app --pkcs11 …` as a process of its own with the tokens'
//! configuration in its environment. A browser (HTTP) drives My Pages and the app's pages.
//!
//! Such a card has no management key and no attestation: the fetch is refused while the
//! organisation demands attestation, and goes through once it accepts unattested keys.

use std::process::Command;

use aws_lc_rs::digest;
use eid_clock::{Clock as _, SystemClock};
use eid_store::{CertKind, Store as _};
use eid_testkit::softhsm::{MODULE, SoftHsm, text};
use eid_testkit::{ANNA, CardKind, ORG, Pki, Server, SigningPolicy, TestApp};
use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SigningKey};

use super::EID;
use super::stack::{begin_fetch, fetch, login_dialog, login_done, with_server};

const NUMBER: &str = "9752000077";
const PIN1: &str = "135790";
const PIN2: &str = "246802";
/// The PUK: both tokens' SO PIN.
const PUK: &str = "13572468";

fn token(pin: &str) -> String {
    format!("{NUMBER} ({pin})")
}

/// A key on a token as rcgen sees it: the token signs through `pkcs11-tool` (`CKM_ECDSA`
/// over the SHA-256 digest, as SoftHSM has no `CKM_ECDSA_SHA256`; DER out).
struct TokenKey<'a> {
    hsm: &'a SoftHsm,
    label: String,
    pin: &'a str,
    id: &'a str,
    public: rcgen::SubjectPublicKeyInfo,
}

impl PublicKeyData for TokenKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.public.algorithm()
    }
}

impl SigningKey for TokenKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let (input, output) = (self.hsm.path("tbs.sha256"), self.hsm.path("tbs.sig"));
        std::fs::write(&input, digest::digest(&digest::SHA256, msg)).unwrap();
        self.hsm.tool(
            &self.label,
            &[
                "--login",
                "--pin",
                self.pin,
                "--sign",
                "-m",
                "ECDSA",
                "--signature-format",
                "openssl",
                "--id",
                self.id,
                "-i",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ],
        );
        Ok(std::fs::read(&output).unwrap())
    }
}

/// The token pair with the authentication key and its certificate (issued by the test's
/// CA, the card recorded for Anna), the server, and `eid app --pkcs11` on the tokens.
async fn start() -> (Server, SoftHsm) {
    let hsm = SoftHsm::new();
    for (pin, value) in [("PIN1", PIN1), ("PIN2", PIN2)] {
        hsm.run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                &token(pin),
                "--so-pin",
                PUK,
                "--pin",
                value,
            ],
        );
    }
    let pin1 = token("PIN1");
    hsm.tool(
        &pin1,
        &[
            "--login",
            "--pin",
            PIN1,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "01",
        ],
    );
    let public = hsm.path("auth-pub.der");
    hsm.tool(
        &pin1,
        &[
            "--read-object",
            "--type",
            "pubkey",
            "--id",
            "01",
            "-o",
            public.to_str().unwrap(),
        ],
    );
    let key = TokenKey {
        hsm: &hsm,
        label: pin1.clone(),
        pin: PIN1,
        id: "01",
        public: rcgen::SubjectPublicKeyInfo::from_der(&std::fs::read(&public).unwrap()).unwrap(),
    };
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("{NUMBER} authentication"));
    params.distinguished_name = name;
    let csr = params.serialize_request(&key).unwrap();

    let pki = Pki::new(SystemClock.now()).await;
    let certificate = pki
        .token_card(ANNA, NUMBER, CardKind::TwoPin, csr.der())
        .await;
    let cert = hsm.path("auth-cert.der");
    std::fs::write(&cert, &certificate).unwrap();
    hsm.tool(
        &pin1,
        &[
            "--login",
            "--pin",
            PIN1,
            "--write-object",
            cert.to_str().unwrap(),
            "--type",
            "cert",
            "--id",
            "01",
        ],
    );

    let mut app = hsm.command(EID);
    app.args(["app", "--pkcs11", MODULE]);
    let server = Server::builder(pki)
        .app_with(move |base| TestApp::spawn(with_server(app, base)))
        .start()
        .await;
    (server, hsm)
}

#[tokio::test]
async fn a_pkcs11_card_logs_in_and_fetches_a_signing_certificate_as_its_organisation_allows() {
    let (server, hsm) = start().await;
    let mut browser = server.browser();

    // My Pages through the app: PIN1 on the PIN1 token, the authentication key signs.
    let dialog = login_dialog(&server, &mut browser, NUMBER).await;
    let signed = server
        .app()
        .post(&mut browser, &dialog, "sign", &[("pin", PIN1)])
        .await;
    let start = login_done(&server, &mut browser, &signed).await;
    assert!(start.body.contains(NUMBER), "{}", start.body);

    // The organisation demands attestation (the fixture's policy): the token's key has
    // none, and the app says why nothing was issued.
    let dialog = begin_fetch(&server, &mut browser, &start, NUMBER).await;
    let refused = fetch(&server, &mut browser, &dialog, PIN2, PIN1).await;
    assert!(
        refused
            .body
            .contains("din organisation godtar bara nycklar som kortet visar att det har skapat"),
        "the refusal in plain words: {}",
        refused.body
    );
    let signing = || async {
        server
            .pki
            .store
            .certificates_of_card(NUMBER)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == CertKind::Signing)
            .collect::<Vec<_>>()
    };
    assert!(signing().await.is_empty(), "nothing issued");

    // Once it accepts unattested keys, the same fetch goes through (with the key the
    // refused fetch left on the PIN2 token).
    server
        .pki
        .store
        .set_organisation_policy(
            ORG,
            SigningPolicy::SelfService,
            true,
            &server.pki.event("organisation.policy"),
        )
        .await
        .unwrap();
    let start = browser.get(&format!("{}/mypages", server.base)).await;
    let dialog = begin_fetch(&server, &mut browser, &start, NUMBER).await;
    let done = fetch(&server, &mut browser, &dialog, PIN2, PIN1).await;
    assert!(done.body.contains("Hämtningen är klar"), "{}", done.body);
    let back = browser.get(&done.return_url()).await;
    assert!(back.status == 200 || back.status == 303, "{}", back.body);
    let issued = signing().await;
    assert_eq!(issued.len(), 1, "one signing certificate");

    // The certificate is on the PIN2 token with ID 02, as OpenSC's tool shows it, and it
    // is the one the CA issued.
    let pin2 = token("PIN2");
    let objects = text(&hsm.tool(&pin2, &["-O"]));
    let certificate = objects
        .split("Certificate Object")
        .nth(1)
        .unwrap_or_else(|| panic!("no certificate on the PIN2 token: {objects}"));
    assert!(certificate.contains("ID:         02"), "{objects}");
    let on_token = hsm.path("sign-cert.der");
    hsm.tool(
        &pin2,
        &[
            "--read-object",
            "--type",
            "cert",
            "--id",
            "02",
            "-o",
            on_token.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&on_token).unwrap(), issued[0].der);

    // Its key signs with PIN2, and OpenSSL verifies the signature with the certificate.
    let (data, hash, signature, public) = (
        hsm.path("data"),
        hsm.path("data.sha256"),
        hsm.path("data.sig"),
        hsm.path("sign-pub.pem"),
    );
    std::fs::write(&data, b"Anna signs this document").unwrap();
    std::fs::write(
        &hash,
        digest::digest(&digest::SHA256, b"Anna signs this document"),
    )
    .unwrap();
    hsm.tool(
        &pin2,
        &[
            "--login",
            "--pin",
            PIN2,
            "--sign",
            "-m",
            "ECDSA",
            "--signature-format",
            "openssl",
            "--id",
            "02",
            "-i",
            hash.to_str().unwrap(),
            "-o",
            signature.to_str().unwrap(),
        ],
    );
    let pem = hsm.run(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            on_token.to_str().unwrap(),
            "-pubkey",
            "-noout",
        ],
    );
    std::fs::write(&public, &pem.stdout).unwrap();
    let verified = hsm.run(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            public.to_str().unwrap(),
            "-signature",
            signature.to_str().unwrap(),
            data.to_str().unwrap(),
        ],
    );
    assert!(
        text(&verified).contains("Verified OK"),
        "{}",
        text(&verified)
    );
}

#[test]
fn a_module_that_does_not_load_is_said_at_start_up() {
    let output = Command::new(EID)
        .args(["app", "--pkcs11", "/nonexistent/libnothing.so"])
        .args(["--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("--pkcs11") && said.contains("/nonexistent/libnothing.so"),
        "{said}"
    );
}
