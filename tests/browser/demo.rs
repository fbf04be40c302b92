//! `eid demo` as a person tries it: the real binary, its data folder and its eID app; a
//! login at the demo's test client with a demo card's codes from `demo.json`.

use std::io::BufRead;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use eid_rp::{ClientConfig, LoginOptions, RelyingParty};
use serde_json::Value;

use crate::driver::Driver;

#[tokio::test]
async fn the_demo_logs_anna_in_at_its_test_client() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let child = Command::new(env!("CARGO_BIN_EXE_eid"))
        .args(["demo", "--port", "0", "--data"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    /// Stops the demo even when an assertion fails.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
    let mut running = Running(child);
    let mut out = std::io::BufReader::new(running.0.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "eid demo ended");
        if line.starts_with("listening on ") {
            break;
        }
    }
    let demo: Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).unwrap()).unwrap();
    let client = &demo["test_client"];
    let redirect = client["redirect_uri"].as_str().unwrap();
    let rp = RelyingParty::discover(
        RelyingParty::http_client().unwrap(),
        demo["issuer"].as_str().unwrap(),
        ClientConfig {
            client_id: client["client_id"].as_str().unwrap().into(),
            client_secret: Some(client["client_secret"].as_str().unwrap().into()),
            redirect_uri: redirect.into(),
            scopes: vec!["profile".into()],
        },
    )
    .await
    .unwrap();
    let (url, pending) = rp.begin(&LoginOptions::default(), &mut rand::rng());
    let anna = &demo["cards"][0];

    let driver = Driver::start("demo").await;
    let mut b = driver.browser("anna").await;
    b.goto(&url).await;
    b.wait_for_text("eID på denna enhet").await;
    b.shot("login-page").await;
    b.click("form[action='/login'] button[type=submit]").await;
    let launch = b.href("#launch").await;
    assert!(
        launch.starts_with(demo["app_url"].as_str().unwrap()),
        "{launch}"
    );
    b.open_tab(&launch).await;
    b.wait_for_text("Ange din säkerhetskod").await;
    b.shot("app-dialog").await;
    b.fill("#pin", anna["pin1"].as_str().unwrap()).await;
    b.click("form[action$='/sign'] button[type=submit]").await;
    // Nothing listens at the test client's redirect URI: the code is read off the URL.
    let back = b.wait_for_url(redirect).await;
    let query = back.split_once('?').unwrap().1;
    let now = eid_clock::Clock::now(&eid_clock::SystemClock);
    let login = rp.finish(query, &pending, now).await.unwrap();
    assert_eq!(login.claim("name"), Some("Anna Andersson"));
}
