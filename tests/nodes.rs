//! Several `eid serve` nodes on one PostgreSQL database (issue 8), as real processes of the
//! `eid` binary behind an imagined load balancer named `http://localhost`: the test sends
//! each request to the node it chooses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use eid_card::{Card, CardClient, KeySlot, Pin, PinRef, VirtualCard, VirtualReader};
use eid_protocol::{AppCompleteResponse, AppCompletion, AppFetchResponse, AppOrder, ToBeSigned};
use eid_testkit::{Browser, Page, challenge, encode, query, random};
use serde_json::{Value, json};
use zeroize::Zeroizing;

// Shared with the other test binaries; this one uses part of it.
#[allow(dead_code)]
#[path = "common/folder.rs"]
mod folder;

use folder::{Folder, HOLDER, stderr};

/// The public URL both nodes share (the load balancer's name) and the issuer.
const PUBLIC: &str = "http://localhost";
/// The relying party's redirect URI (nothing listens there: the test reads the redirect).
const REDIRECT: &str = "http://127.0.0.1:9/cb";
/// The relying party's `client_id`.
const CLIENT: &str = "rp";

/// A fresh database on the test's PostgreSQL server, dropped (forcibly) when this is dropped,
/// whether the test passed or not.
struct Database {
    /// The server's URL (its `postgres` database), for `psql`.
    server: String,
    name: String,
    /// The new database's URL.
    url: String,
}

impl Database {
    fn create() -> Self {
        let server = std::env::var("EID_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "eid_test_nodes_{}",
            eid_testkit::random(9)
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        // The server URL with its database (the last path segment) replaced.
        let (base, params) = match server.split_once('?') {
            Some((b, p)) => (b, format!("?{p}")),
            None => (server.as_str(), String::new()),
        };
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let url = if prefix.ends_with('/') {
            // No database in the URL (`postgres://host:port`): the split took the host.
            format!("{base}/{name}{params}")
        } else {
            format!("{prefix}/{name}{params}")
        };
        let db = Self { server, name, url };
        db.psql(&format!("CREATE DATABASE {}", db.name))
            .unwrap_or_else(|e| panic!("cannot create the database: {e}"));
        db
    }

    fn psql(&self, sql: &str) -> Result<(), String> {
        let out = Command::new("psql")
            .arg(&self.server)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(stderr(&out))
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// An `eid serve` node; killed (SIGKILL) when dropped, so a failed assertion leaves no
/// process behind.
struct Node {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Node {
    /// `eid serve --data DIR --listen 127.0.0.1:0 --set store.node=NAME`, until it listens.
    fn start(folder: &Folder, name: &str) -> Self {
        let child = folder
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .args(["--set", &format!("store.node={name}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut node = Self {
            child: Some(child),
            base: String::new(),
        };
        let stdout = node.child.as_mut().unwrap().stdout.take().unwrap();
        let mut out = std::io::BufReader::new(stdout);
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "node {name} ended before it listened:\n{printed}"
            );
            if let Some(rest) = line.trim().strip_prefix("listening on ") {
                node.base = rest.split_whitespace().next().unwrap().to_owned();
                break;
            }
            printed.push_str(&line);
        }
        // Keep reading what it prints, so that it never writes into a closed pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        node
    }

    /// `url` (on the public URL) sent to this node instead.
    fn at(&self, url: &str) -> String {
        let rest = url
            .strip_prefix(PUBLIC)
            .unwrap_or_else(|| panic!("{url} is not on {PUBLIC}"));
        format!("{}{rest}", self.base)
    }

    /// SIGKILL, and waits for it.
    fn kill_9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
    }

    /// SIGTERM; it must stop cleanly.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        folder::stop_cleanly(&mut child, "eid serve");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The card file as the eID app holds it: opens it, verifies PIN1, signs the order's
/// to-be-signed bytes with the authentication key, reads the 9A certificate.
fn complete_login(card_file: &Path, pin1: &str, order: &AppOrder) -> AppCompletion {
    let card = CardClient::new(VirtualReader::new(VirtualCard::open(card_file).unwrap()));
    card.select().unwrap();
    card.verify(PinRef::Pin1, &Pin::new(Zeroizing::new(pin1.to_owned())))
        .unwrap();
    let digest = ToBeSigned::for_order(order, None).digest().unwrap();
    let signature = card.sign(KeySlot::Authentication, &digest).unwrap();
    let certificate = card
        .read_certificate(KeySlot::Authentication)
        .unwrap()
        .expect("a 9A certificate");
    AppCompletion {
        signature,
        certificate,
        new_public_key: None,
        enrollment: None,
    }
}

/// The relying party's authorization request: state, nonce and PKCE (S256).
struct AuthRequest {
    state: String,
    nonce: String,
    verifier: String,
}

impl AuthRequest {
    fn new() -> Self {
        Self {
            state: random(16),
            nonce: random(16),
            verifier: random(32),
        }
    }

    /// The authorization URL, sent to `node`.
    fn url(&self, node: &Node) -> String {
        let pairs = [
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &challenge(&self.verifier)),
            ("code_challenge_method", "S256"),
        ];
        format!("{}/oidc/authorize?{}", node.base, encode(&pairs))
    }
}

/// The relying party redeems `code` at `node` (`client_secret_basic`, the PKCE verifier).
async fn token(node: &Node, code: &str, verifier: &str, secret: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let r = reqwest::Client::new()
        .post(format!("{}/oidc/token", node.base))
        .basic_auth(CLIENT, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&form))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The claims of `id_token`, checked against `node`'s JWKS, with `client_id` as the
/// audience and the public URL as the issuer.
async fn verify_id_token(node: &Node, client_id: &str, id_token: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/oidc/jwks", node.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(&kid).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[PUBLIC]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims
}

/// The waiting page's poll of its order, on the node `browser` talks to: the whole answer.
async fn collect(browser: &mut Browser, node: &Node, wait: &Page) -> Page {
    browser
        .post_json(
            &format!("{}/orders/collect", node.base),
            &json!({ "orderRef": wait.attr("data-order-ref") }),
            &wait.attr("data-csrf"),
        )
        .await
}

#[test]
fn a_node_killed_mid_ceremony_leaves_the_login_to_the_other_node() {
    let db = Database::create();
    // The ID administrator's part, all through the command line: init on PostgreSQL,
    // the organisation and Anna.
    let folder = Folder::init_with(&["--public-url", PUBLIC, "--store", &db.url]);
    let toml = std::fs::read_to_string(folder.data.join("eid.toml")).unwrap();
    assert!(toml.contains(&db.url), "{toml}");
    let issued = folder.json(&[
        "admin", "card", "issue", "--holder", HOLDER, "--kind", "two-pin",
    ]);
    let card_file = PathBuf::from(issued["card_file"].as_str().unwrap());
    let pin1 = issued["codes"]["pin1"].as_str().unwrap().to_owned();
    let added = folder.json(&[
        "admin",
        "client",
        "add",
        "--id",
        CLIENT,
        "--name",
        "Testtjänsten",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid profile",
    ]);
    let secret = added["client_secret"].as_str().unwrap().to_owned();

    // Two nodes on the same folder and database.
    let a = Node::start(&folder, "a");
    let b = Node::start(&folder, "b");
    assert_ne!(a.base, b.base);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        // On A: the authorization request, the login page, "on this device".
        let request = AuthRequest::new();
        let mut browser_a = Browser::new(&a.base);
        let login = browser_a.get(&request.url(&a)).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let wait = browser_a
            .post_form(
                &format!("{}/login", a.base),
                &[
                    ("request", &login.input("request")),
                    ("mac", &login.input("mac")),
                    ("csrf", &login.input("csrf")),
                    ("lang", &login.input("lang")),
                    ("method", "this-device"),
                ],
            )
            .await;
        assert_eq!(wait.status, 200, "{}", wait.body);
        let autostart = query(&wait.launch_link())["autostarttoken"].clone();

        // The eID app's part on A: fetch the order, report that the holder signs.
        let r = http
            .post(format!("{}/app/v1/order", a.base))
            .json(&json!({ "autoStartToken": autostart }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let fetched: AppFetchResponse = r.json().await.unwrap();
        let r = http
            .post(format!("{}/app/v1/report", a.base))
            .bearer_auth(&fetched.app_token)
            .json(&json!({ "hintCode": "userSign" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let seen = collect(&mut browser_a, &a, &wait).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        assert_eq!(seen.json()["status"], "pending", "{}", seen.body);
        assert_eq!(seen.json()["hintCode"], "userSign", "{}", seen.body);

        // A dies without a word.
        a.kill_9();

        // B sees the order where A left it.
        let mut browser_b = Browser::new(&b.base);
        browser_b.cookies = browser_a.cookies.clone();
        let seen = collect(&mut browser_b, &b, &wait).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        assert_eq!(seen.json()["status"], "pending", "{}", seen.body);
        assert_eq!(seen.json()["hintCode"], "userSign", "{}", seen.body);

        // The app completes on B with the card.
        let completion = complete_login(&card_file, &pin1, &fetched.order);
        let r = http
            .post(format!("{}/app/v1/complete", b.base))
            .bearer_auth(&fetched.app_token)
            .json(&completion)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        let done: AppCompleteResponse = serde_json::from_str(&text).unwrap();

        // Signed, the order still waits for the browser that started it: an order
        // completes only when that browser comes back with the return URL's secret.
        let seen = collect(&mut browser_b, &b, &wait).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        assert_eq!(seen.json()["status"], "pending", "{}", seen.body);

        // The browser, with A's cookies, opens the return URL on B: back to the client.
        let back = browser_b.get(&b.at(&done.return_url)).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let location = back.location();
        assert!(location.starts_with(REDIRECT), "{location}");
        let q = query(&location);
        assert_eq!(q["state"], request.state);
        assert_eq!(q["iss"], PUBLIC);
        let code = q["code"].clone();

        // The token request on B.
        let (status, tokens) = token(&b, &code, &request.verifier, &secret).await;
        assert_eq!(status, 200, "{tokens}");
        let id = verify_id_token(&b, CLIENT, tokens["id_token"].as_str().unwrap()).await;
        assert_eq!(id["iss"], PUBLIC);
        assert_eq!(id["nonce"], request.nonce.as_str());
        assert_eq!(id["given_name"], "Anna");
        // The code is spent.
        let (status, again) = token(&b, &code, &request.verifier, &secret).await;
        assert_eq!(status, 400, "{again}");

        // After the return, B's collect says the order is complete.
        let seen = collect(&mut browser_b, &b, &wait).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        assert_eq!(seen.json()["status"], "complete", "{}", seen.body);
    });

    b.stop();
    let audit = folder.ok(&["admin", "audit", "verify"]);
    assert!(audit.contains("intact"), "{audit}");
    // Each node wrote on chains of its own name (`a.0`, `b.0`, …).
    for node in ["a", "b"] {
        assert!(audit.contains(&format!("\n  {node}.")), "{audit}");
    }
}

/// `eid admin migrate-store`: an SQLite installation moves into an empty PostgreSQL
/// database; the administrator's lists and the audit log read the same from there, the
/// card's certificate still answers, and a second migration is refused.
#[test]
fn an_sqlite_installation_migrates_to_postgres_through_the_command_line() {
    let db = Database::create();
    let folder = Folder::init_with(&["--public-url", PUBLIC]);
    folder.json(&[
        "admin", "card", "issue", "--holder", HOLDER, "--kind", "two-pin",
    ]);
    let lists = |store: Option<&str>| {
        let mut out = Vec::new();
        for what in ["org", "person", "card"] {
            let mut args = vec!["admin", what, "list"];
            if let Some(url) = store {
                args.extend(["--store", url]);
            }
            out.push(folder.json(&args));
        }
        out
    };
    let before = lists(None);
    let audit_before = folder.json(&["admin", "audit", "verify"]);

    // The URL (with its password, were there one) through the environment.
    let out = folder
        .command(&["admin", "migrate-store"])
        .env("EID_MIGRATE_TO", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("certificates") && said.contains("audit_log"),
        "{said}"
    );

    assert_eq!(lists(Some(&db.url)), before);
    let audit_after = folder.json(&["admin", "audit", "verify", "--store", &db.url]);
    assert_eq!(audit_after["entries"], audit_before["entries"]);
    assert_eq!(audit_after["chains"][0]["chain"], "main");
    assert_eq!(
        audit_after["chains"][0]["head"],
        audit_before["chains"][0]["head"]
    );

    // Not twice: the database holds an installation now.
    let out = folder
        .command(&["admin", "migrate-store", "--to", &db.url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(lists(Some(&db.url)), before);
}
