//! The third layer: the eID app on loopback, holding card files (in this process), or any
//! card source (the `eid app` program as a child process, e.g. on a PC/SC reader).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use eid_app::{App, Config};

use crate::browser::{Browser, Page, encode};

/// The eID app serving on `127.0.0.1:0` until dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    /// The secret first path segment of every page.
    pub capability: String,
    /// Where launch links point: the autostart token is appended.
    pub launch_base: String,
    _running: Running,
}

/// What keeps the app running: the in-process server's stop signal, or the child process
/// (killed on drop).
enum Running {
    Task(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>),
    Process(Child),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Process(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TestApp {
    /// Starts the app with `cards` (the first is active), trusting `servers`.
    pub async fn start(cards: Vec<PathBuf>, servers: Vec<String>) -> Self {
        let app = App::bind(Config {
            cards: cards.into_iter().map(Into::into).collect(),
            servers,
            port: 0,
        })
        .await
        .unwrap();
        let url = app.url().trim_end_matches('/').to_owned();
        let capability = app.capability().to_owned();
        let launch_base = app.launch_base();
        let (stop, stopped) = crate::stop_signal();
        tokio::spawn(app.serve(stopped));
        Self {
            url,
            capability,
            launch_base,
            _running: Running::Task(stop),
        }
    }

    /// Runs `command` (an `eid app …` with its card and server options) and waits until it
    /// says where it listens ("eID app on …", "launch base …" on its standard output).
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the eID app starts");
        let stdout = child.stdout.take().expect("the app's standard output");
        let mut lines = BufReader::new(stdout).lines();
        let (mut url, mut launch_base) = (None, None);
        while url.is_none() || launch_base.is_none() {
            let line = lines
                .next()
                .expect("the app printed where it listens")
                .expect("the app's output is text");
            if let Some(u) = line.strip_prefix("eID app on ") {
                url = Some(u.trim().trim_end_matches('/').to_owned());
            } else if let Some(b) = line.strip_prefix("launch base ") {
                launch_base = Some(b.trim().to_owned());
            }
        }
        // Keep reading (and dropping) its output so the app never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let (url, launch_base) = (url.unwrap_or_default(), launch_base.unwrap_or_default());
        let capability = launch_base
            .strip_prefix(&format!("{url}/"))
            .and_then(|rest| rest.split('/').next())
            .expect("the launch base is under the app's capability")
            .to_owned();
        Self {
            url,
            capability,
            launch_base,
            _running: Running::Process(child),
        }
    }

    /// Posts `action` (`sign`, `cancel`, `activate`) of the app's dialog `page`, with its
    /// launch and CSRF fields, `extra` fields and the app's own origin, as the dialog's form
    /// does.
    pub async fn post(
        &self,
        browser: &mut Browser,
        page: &Page,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let (launch, csrf) = (page.input("launch"), page.input("csrf"));
        let mut pairs = vec![("launch", launch.as_str()), ("csrf", csrf.as_str())];
        pairs.extend_from_slice(extra);
        let url = format!("{}/{}/{action}", self.url, self.capability);
        let r = browser
            .http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.url)
            .body(encode(&pairs));
        browser.send(&url, r).await
    }
}
