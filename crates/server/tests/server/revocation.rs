//! The CRL and the OCSP responder over HTTP, checked by OpenSSL as an independent client:
//! `openssl ocsp` against the responder (good, revoked with reason, unknown, another
//! issuer, the nonce, the signature checked against the delegated responder certificate),
//! `openssl verify -crl_check` with the served CRL; bad requests answered with RFC 6960's
//! error statuses; a revocation through another store handle (as `eid admin` in another
//! process) seen by the very next request; the responder certificate rolled over before
//! it ends; the CRL reissued on schedule.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_clock::{Clock as _, ManualClock, SystemClock};
use eid_server::lifecycle::CrlAfterRevocation;
use eid_store::revocation::RevocationStore;
use eid_store::{Durability, RevocationReason, SqliteStore, Store};
use eid_testkit::{ANNA, CardKind, Pki, Server};
use time::{Duration, OffsetDateTime};

use crate::certificates::{authentication, other_issuing_ca, pem};

const BO: &str = "SE2321000016-B0B0";
const ANNA_CARD: &str = "9752000001";
const BO_CARD: &str = "9752000002";
/// `OCSPResponse { responseStatus malformedRequest }` and `… unauthorized`.
const MALFORMED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x01];
const UNAUTHORIZED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x06];
/// The largest request the responder reads.
const MAX_REQUEST: usize = 64 * 1024;

/// A server over a CA with Anna's and Bo's cards, and a folder for OpenSSL's files (in the
/// fixture's): `issuing.pem`, `chain.pem` (root and issuing CA), `anna.pem`, `bo.pem`.
struct World {
    server: Server,
    files: std::path::PathBuf,
    anna: eid_store::Serial,
    bo: eid_store::Serial,
}

async fn world(clock: Option<Arc<ManualClock>>) -> World {
    let start = clock
        .as_ref()
        .map_or_else(|| SystemClock.now(), |c| c.now());
    let pki = Pki::new(start).await;
    pki.add_person(BO, "Bo").await;
    let _anna_card = pki.card(ANNA, ANNA_CARD, CardKind::TwoPin).await;
    let _bo_card = pki.card(BO, BO_CARD, CardKind::TwoPin).await;
    let files = pki.dir.path().join("openssl");
    std::fs::create_dir(&files).unwrap();
    let anna = authentication(&*pki.store, ANNA_CARD).await;
    let bo = authentication(&*pki.store, BO_CARD).await;
    write(&files, "anna.pem", pem("CERTIFICATE", &anna.der));
    write(&files, "bo.pem", pem("CERTIFICATE", &bo.der));
    write(&files, "issuing.pem", pki.ca.issuing_pem());
    write(
        &files,
        "chain.pem",
        format!("{}{}", pki.ca.root_pem(), pki.ca.issuing_pem()),
    );
    let mut builder = Server::builder(pki);
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    World {
        server: builder.start().await,
        files,
        anna: anna.serial,
        bo: bo.serial,
    }
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), content).unwrap();
}

/// Converts `crl.der` to `crl.pem`; the CRL as text.
fn crl_pem_and_text(dir: &Path) -> String {
    let (ok, out) = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(dir, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(ok, "{out}");
    out
}

/// `openssl ARGS` talking to the server (`-url`): run on a blocking thread, since the
/// server answers on this test's runtime.
async fn openssl_client(dir: &Path, args: &[&str]) -> (bool, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(&dir, &args)
    })
    .await
    .unwrap()
}

/// Runs `openssl ARGS` (on files only) in the world's folder: success and what it printed.
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

impl World {
    fn dir(&self) -> &Path {
        &self.files
    }

    fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.server.base)
    }

    /// Revokes `serial` as a revoke path does: committed, then publishing told.
    async fn revoke(&self, serial: &eid_store::Serial, reason: RevocationReason) {
        let state = &self.server.state;
        state
            .store
            .revoke_certificate(
                serial,
                reason,
                state.clock.now(),
                &self.server.pki.event("r"),
            )
            .await
            .unwrap();
        let published = eid_server::lifecycle::publish_after_revocation(
            Some(&state.revocation.crl),
            reason,
            state.clock.now(),
        )
        .await;
        assert!(
            !matches!(published, CrlAfterRevocation::NotIssued(_)),
            "{published:?}"
        );
    }

    /// The current responder certificate, written to `name`.
    async fn responder_pem(&self, name: &str) -> eid_store::revocation::ResponderRecord {
        let record = self
            .server
            .pki
            .store
            .current_ocsp_responder()
            .await
            .unwrap()
            .unwrap();
        write(self.dir(), name, pem("CERTIFICATE", &record.der));
        record
    }

    /// A DER request made by `openssl ocsp ARGS -reqout`.
    fn request(&self, args: &[&str]) -> Vec<u8> {
        let mut all = vec!["ocsp"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-reqout", "req.der"]);
        let (ok, out) = openssl(self.dir(), &all);
        assert!(ok, "{out}");
        std::fs::read(self.dir().join("req.der")).unwrap()
    }

    async fn get(&self, der: &[u8]) -> reqwest::Response {
        let encoded = STANDARD
            .encode(der)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        reqwest::get(format!("{}/{encoded}", self.ocsp_url()))
            .await
            .unwrap()
    }

    async fn post(&self, body: Vec<u8>) -> Vec<u8> {
        let r = reqwest::Client::new()
            .post(self.ocsp_url())
            .header("content-type", "application/ocsp-request")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/ocsp-response");
        r.bytes().await.unwrap().to_vec()
    }

    /// What `openssl ocsp` says of the response `der` to a request about `cert` made
    /// without a nonce, checked against the CA chain at `at`.
    fn check(&self, der: &[u8], cert: &str, at: OffsetDateTime) -> String {
        write(self.dir(), "resp.der", der);
        let at = at.unix_timestamp().to_string();
        let (ok, out) = openssl(
            self.dir(),
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-issuer",
                "issuing.pem",
                "-cert",
                cert,
                "-CAfile",
                "chain.pem",
                "-no_nonce",
                "-attime",
                &at,
                "-resp_text",
            ],
        );
        assert!(ok, "{out}");
        assert!(out.contains("Response verify OK"), "{out}");
        out
    }
}

#[tokio::test]
async fn openssl_ocsp_gets_good_revoked_unknown_and_its_nonce() {
    let w = world(None).await;
    w.revoke(&w.bo, RevocationReason::KeyCompromise).await;
    w.responder_pem("responder.pem").await;
    let url = w.ocsp_url();

    // Over the network, POST, with a nonce (OpenSSL's default), verified up the CA chain.
    let (ok, out) = openssl_client(
        w.dir(),
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "anna.pem",
            "-cert",
            "bo.pem",
            "-serial",
            "0x0123456789",
            "-url",
            &url,
            "-CAfile",
            "chain.pem",
            "-resp_text",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("anna.pem: good"), "{out}");
    assert!(out.contains("bo.pem: revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(out.contains("0x0123456789: unknown"), "{out}");
    assert!(out.contains("OCSP Nonce"), "the nonce is echoed: {out}");
    assert!(!out.contains("WARNING"), "{out}");

    // Against the delegated responder certificate alone, trusted as given (-VAfile), and
    // as an untrusted certificate that must chain to the CA (-verify_other).
    for args in [
        &["-VAfile", "responder.pem"][..],
        &["-verify_other", "responder.pem", "-CAfile", "chain.pem"][..],
    ] {
        let mut all = vec![
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "anna.pem",
            "-url",
            &url,
        ];
        all.extend_from_slice(args);
        let (ok, out) = openssl_client(w.dir(), &all).await;
        assert!(ok, "{args:?}: {out}");
        assert!(out.contains("Response verify OK"), "{args:?}: {out}");
        assert!(out.contains("anna.pem: good"), "{out}");
    }
    // A certificate that did not sign the response does not verify it.
    let (_, out) = openssl_client(
        w.dir(),
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "anna.pem",
            "-url",
            &url,
            "-VAfile",
            "anna.pem",
        ],
    )
    .await;
    assert!(!out.contains("Response verify OK"), "{out}");

    // A certificate of another CA: this responder is not authoritative for it.
    write(
        w.dir(),
        "other.pem",
        other_issuing_ca(SystemClock.now() - Duration::days(1)),
    );
    let (_, out) = openssl_client(
        w.dir(),
        &[
            "ocsp",
            "-issuer",
            "other.pem",
            "-serial",
            "0x42",
            "-url",
            &url,
            "-CAfile",
            "chain.pem",
        ],
    )
    .await;
    assert!(out.contains("Responder Error: unauthorized (6)"), "{out}");
}

#[tokio::test]
async fn get_answers_are_cached_until_another_process_revokes() {
    let w = world(None).await;
    let request = w.request(&["-issuer", "issuing.pem", "-cert", "anna.pem", "-no_nonce"]);

    let first = w.get(&request).await;
    assert_eq!(first.status(), 200);
    let h = first.headers().clone();
    assert_eq!(h["content-type"], "application/ocsp-response");
    let cache = h["cache-control"].to_str().unwrap();
    assert!(
        cache.starts_with("public, max-age=") && cache.ends_with("no-transform, must-revalidate"),
        "{cache}"
    );
    let max_age: i64 = cache
        .trim_start_matches("public, max-age=")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&max_age), "{cache}");
    for name in ["etag", "last-modified", "expires"] {
        assert!(h.contains_key(name), "{name}");
    }
    let body = first.bytes().await.unwrap().to_vec();
    let out = w.check(&body, "anna.pem", SystemClock.now());
    assert!(out.contains("anna.pem: good"), "{out}");
    assert!(!out.contains("OCSP Nonce"), "{out}");

    // Pre-signed: the same response again, and 304 to its entity tag.
    let again = w.get(&request).await;
    assert_eq!(again.headers()["etag"], h["etag"]);
    assert_eq!(again.bytes().await.unwrap().to_vec(), body);
    assert_eq!(w.server.state.revocation.ocsp.cached(), 1);
    let not_modified = reqwest::Client::new()
        .get(format!(
            "{}/{}",
            w.ocsp_url(),
            STANDARD.encode(&request).replace('/', "%2F")
        ))
        .header("if-none-match", h["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    // Another process revokes on the same database file (a second store handle: its own
    // connections and writer, as `eid admin` has); no one tells the server.
    let admin = SqliteStore::open(&w.server.pki.dir.path().join("eid.db"), Durability::Process)
        .await
        .unwrap();
    admin
        .revoke_certificate(
            &w.anna,
            RevocationReason::Superseded,
            SystemClock.now(),
            &w.server.pki.event("certificate.revoke"),
        )
        .await
        .unwrap();
    // The very next request says revoked, over GET and POST.
    let revoked = w.get(&request).await.bytes().await.unwrap().to_vec();
    assert!(
        revoked != body,
        "the kept good answer was served after the revocation"
    );
    let out = w.check(&revoked, "anna.pem", SystemClock.now());
    assert!(out.contains("anna.pem: revoked"), "{out}");
    assert!(out.contains("Reason: superseded"), "{out}");
    let posted = w.post(request.clone()).await;
    let out = w.check(&posted, "anna.pem", SystemClock.now());
    assert!(out.contains("anna.pem: revoked"), "{out}");
}

#[tokio::test]
async fn bad_requests_get_the_rfc_error_statuses() {
    let w = world(None).await;
    let good = w.request(&["-issuer", "issuing.pem", "-cert", "anna.pem", "-no_nonce"]);
    let sha512 = w.request(&["-issuer", "issuing.pem", "-sha512", "-cert", "anna.pem"]);

    // Truncated DER, an unknown CertID hash, nothing, garbage, a huge body.
    assert_eq!(w.post(good[..good.len() / 2].to_vec()).await, MALFORMED);
    assert_eq!(w.post(good[..good.len() - 1].to_vec()).await, MALFORMED);
    assert_eq!(w.post(sha512).await, MALFORMED);
    assert_eq!(w.post(Vec::new()).await, MALFORMED);
    assert_eq!(w.post(b"not DER at all".to_vec()).await, MALFORMED);
    assert_eq!(w.post(vec![0x30; 1 << 20]).await, MALFORMED);
    let mut padded = good.clone();
    padded.resize(MAX_REQUEST + 1, 0);
    assert_eq!(w.post(padded).await, MALFORMED);

    // GETs: broken base64, a broken escape, base64 of garbage, no request at all.
    let client = reqwest::Client::new();
    for path in [
        "/ocsp/!!!not-base64!!!",
        "/ocsp/MEUw%zz",
        "/ocsp/bm90IERFUg==",
        "/ocsp",
    ] {
        let r = client
            .get(format!("{}{path}", w.server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/ocsp-response");
        assert_eq!(r.bytes().await.unwrap().to_vec(), MALFORMED, "{path}");
    }

    // Another CA's certificate: unauthorized.
    write(
        w.dir(),
        "other.pem",
        other_issuing_ca(SystemClock.now() - Duration::days(1)),
    );
    let foreign = w.request(&["-issuer", "other.pem", "-serial", "0x42"]);
    assert_eq!(w.post(foreign.clone()).await, UNAUTHORIZED);
    assert_eq!(
        w.get(&foreign).await.bytes().await.unwrap().to_vec(),
        UNAUTHORIZED
    );

    // Still answering.
    let body = w.get(&good).await.bytes().await.unwrap().to_vec();
    let out = w.check(&body, "anna.pem", SystemClock.now());
    assert!(out.contains("anna.pem: good"), "{out}");
}

#[tokio::test]
async fn openssl_verify_checks_the_served_crl() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let w = world(Some(clock.clone())).await;
    let crl_url = format!("{}/crl", w.server.base);
    // A key compromise is on the CRL at once.
    w.revoke(&w.bo, RevocationReason::KeyCompromise).await;
    let r = reqwest::get(&crl_url).await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pkix-crl");
    let cache = h["cache-control"].to_str().unwrap();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let max_age: i64 = cache
        .trim_start_matches("public, max-age=")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Cached until the next scheduled reissue, 12 hours after this one.
    assert!((12 * 3600 - 5..=12 * 3600).contains(&max_age), "{cache}");
    for name in ["etag", "last-modified", "expires"] {
        assert!(h.contains_key(name), "{name}");
    }
    write(w.dir(), "crl.der", r.bytes().await.unwrap());
    let out = crl_pem_and_text(w.dir());
    assert!(out.contains(&w.bo.to_string()), "{out}");
    assert!(out.contains("Key Compromise"), "{out}");
    assert!(!out.contains(&w.anna.to_string()), "{out}");
    let not_modified = reqwest::Client::new()
        .get(&crl_url)
        .header("if-none-match", h["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let verify = |cert: &str, at: OffsetDateTime| {
        openssl(
            w.dir(),
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "chain.pem",
                "-CRLfile",
                "crl.pem",
                "-attime",
                &at.unix_timestamp().to_string(),
                cert,
            ],
        )
    };
    let (ok, out) = verify("anna.pem", clock.now());
    assert!(ok && out.contains("anna.pem: OK"), "{out}");
    let (ok, out) = verify("bo.pem", clock.now());
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // Another reason waits for the schedule: the same CRL until it is due, then a new one.
    w.revoke(&w.anna, RevocationReason::Superseded).await;
    let same = reqwest::get(&crl_url).await.unwrap();
    assert_eq!(same.headers()["etag"], h["etag"]);
    clock.advance(Duration::hours(12) + Duration::seconds(1));
    let next = reqwest::get(&crl_url).await.unwrap();
    assert_ne!(next.headers()["etag"], h["etag"]);
    write(w.dir(), "crl.der", next.bytes().await.unwrap());
    let out = crl_pem_and_text(w.dir());
    assert!(out.contains(&w.anna.to_string()), "{out}");
    let (ok, out) = verify("anna.pem", clock.now());
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

#[tokio::test]
async fn the_responder_certificate_rolls_over_before_it_ends() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let w = world(Some(clock.clone())).await;
    let first = w.responder_pem("first.pem").await;
    // Thirty days, to the whole second a certificate holds.
    assert!((first.not_after - first.issued_at - Duration::days(30)).abs() < Duration::seconds(1));
    let request = w.request(&["-issuer", "issuing.pem", "-cert", "anna.pem", "-no_nonce"]);
    let verify = |va: &str, der: &[u8], at: OffsetDateTime| {
        write(w.dir(), "resp.der", der);
        openssl(
            w.dir(),
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-issuer",
                "issuing.pem",
                "-cert",
                "anna.pem",
                "-VAfile",
                va,
                "-no_nonce",
                // OpenSSL checks the status times against its own clock, not -attime.
                "-validity_period",
                "100000000",
                "-attime",
                &at.unix_timestamp().to_string(),
            ],
        )
    };
    let body = w.get(&request).await.bytes().await.unwrap().to_vec();
    let (ok, out) = verify("first.pem", &body, clock.now());
    assert!(ok && out.contains("anna.pem: good"), "{out}");

    // Nothing changes while the certificate has more than 10 days left.
    clock.advance(Duration::days(19));
    w.server.state.revocation.maintain(clock.now()).await;
    let same = w.responder_pem("same.pem").await;
    assert_eq!(same.serial, first.serial);

    // Then a successor, recorded, before the first one ends; answers are signed by it.
    clock.advance(Duration::days(2));
    w.server.state.revocation.maintain(clock.now()).await;
    let second = w.responder_pem("second.pem").await;
    assert_ne!(second.serial, first.serial);
    assert!(first.not_after > clock.now() + Duration::days(8));
    assert!(second.not_before <= clock.now() && second.not_after > clock.now());
    let history = w.server.pki.store.ocsp_responders().await.unwrap();
    assert_eq!(
        history.iter().map(|r| &r.serial).collect::<Vec<_>>(),
        [&first.serial, &second.serial]
    );
    let body = w.get(&request).await.bytes().await.unwrap().to_vec();
    let (ok, out) = verify("second.pem", &body, clock.now());
    assert!(ok && out.contains("anna.pem: good"), "{out}");
    let (_, out) = verify("first.pem", &body, clock.now());
    assert!(!out.contains("Response verify OK"), "{out}");

    // A server started now (another node, a restart) signs with the same successor.
    let restarted = w.server.restart().await;
    let current = restarted
        .pki
        .store
        .current_ocsp_responder()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.serial, second.serial);
}
