//! Headless Chromium through Debian's `chromedriver`: one driver process per test, one
//! WebDriver session (a fresh profile, so its own cookies) per simulated person's browser,
//! and screenshots under `target/browser/<test>/` for a person to look at.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to reach an expected state (pages poll every 2 s).
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `chromedriver`; killed on drop.
pub struct Driver {
    url: String,
    child: Child,
    shots: PathBuf,
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port. Fails loudly when Chromium is not
    /// installed: `scripts/test.sh` installs Debian's `chromium` and `chromium-driver`.
    pub async fn start(test: &str) -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test.sh does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Chromium goes with it (see `Drop`).
            .process_group(0)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{url}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("..")
            .join("browser")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self { url, child, shots }
    }

    /// A new headless browser with an empty profile.
    pub async fn browser(&self, name: &str) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-extensions",
                    "--no-first-run",
                    "--lang=sv-SE",
                    "--window-size=900,800",
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap();
        Browser {
            client,
            name: name.to_owned(),
            shots: self.shots.clone(),
            count: 0,
        }
    }
}

impl Drop for Driver {
    /// Kills chromedriver's whole process group: the browsers it started too, even when
    /// the test failed before closing them.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// What [`Browser::wait_for`] waits for.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    /// The page's text contains this.
    Text(&'a str),
    /// The URL starts with this.
    Url(&'a str),
}

/// One person's browser.
pub struct Browser {
    pub client: Client,
    name: String,
    shots: PathBuf,
    count: u32,
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Saves a screenshot as `target/browser/<test>/<nn>-<browser>-<what>.png`.
    pub async fn shot(&mut self, what: &str) {
        self.count += 1;
        let png = self.client.screenshot().await.unwrap();
        let file = self
            .shots
            .join(format!("{:02}-{}-{what}.png", self.count, self.name));
        std::fs::write(file, png).unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn fill(&self, css: &str, value: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .send_keys(value)
            .await
            .unwrap();
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.try_text().await.unwrap()
    }

    /// The visible text, or the error of a page that changed under the query (the body
    /// found was replaced by the next page's before its text was read).
    async fn try_text(&self) -> Result<String, fantoccini::error::CmdError> {
        self.client.find(Locator::Css("body")).await?.text().await
    }

    /// Waits until the page's text contains `needle`, and returns that text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        self.wait_for(Want::Text(needle)).await
    }

    /// Waits until the current URL starts with `prefix`, and returns the URL.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        self.wait_for(Want::Url(prefix)).await
    }

    /// Polls until the page is as `want` says, for at most [`PATIENCE`]; fails with what
    /// the page says instead.
    async fn wait_for(&self, want: Want<'_>) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let seen = match want {
                Want::Text(_) => self.try_text().await.unwrap_or_default(),
                Want::Url(_) => self.url().await,
            };
            if match want {
                Want::Text(needle) => seen.contains(needle),
                Want::Url(prefix) => seen.starts_with(prefix),
            } {
                return seen;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{}: waited for {want:?} at {}; the page says:\n{}",
                    self.name,
                    self.url().await,
                    self.try_text().await.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `href` of the element `css`.
    pub async fn href(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap()
    }

    /// Opens `url` in a new tab and switches to it, as the eID app opens its page in the
    /// holder's browser beside the waiting page; returns the tab it left.
    pub async fn open_tab(&self, url: &str) -> WindowHandle {
        let left = self.client.window().await.unwrap();
        let tab = self.client.new_window(true).await.unwrap();
        self.client.switch_to_window(tab.handle).await.unwrap();
        self.goto(url).await;
        left
    }

    pub async fn switch_to(&self, tab: WindowHandle) {
        self.client.switch_to_window(tab).await.unwrap();
    }
}
