//! The card holder's side of the loopback benchmarks: a browser that keeps the server's
//! cookies by hand (reqwest's jar would not send `Secure` cookies over http) and follows no
//! redirect by itself, and the provider's card login as a browser and the eID app walk it:
//! login page → *Legitimera* → the app fetches the order, PIN1 and the card's signature,
//! completes → the order's return URL → the waiting page's poll.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_card::{Card, KeySlot, Pin, PinRef};
use eid_protocol::{AppCompleteResponse, AppFetchResponse, ToBeSigned};
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;
use zeroize::Zeroizing;

/// A browser: its cookies for the one server, and an HTTP client (keep-alive) to send with.
pub struct Browser {
    http: reqwest::Client,
    /// The server's base URL (`http://127.0.0.1:<port>`).
    base: String,
    cookies: HashMap<String, String>,
}

/// An HTTP client that follows no redirect, as the benchmarks' browsers and apps use.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// A browser's response, its cookies already taken.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The page if its status is `status`, else what `step` got instead.
    pub fn expect(self, status: u16, step: &str) -> Result<Self, String> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!(
                "{step}: status {} (expected {status}): {}",
                self.status,
                self.body.chars().take(200).collect::<String>()
            ))
        }
    }

    /// The `value` of the hidden input `name`.
    pub fn input(&self, name: &str) -> Result<String, String> {
        between(&self.body, &format!("name=\"{name}\" value=\""), "\"")
    }

    /// The autostart token of the waiting page's launch link (`id="launch"`).
    pub fn launch_token(&self) -> Result<String, String> {
        let at = self
            .body
            .find("id=\"launch\"")
            .ok_or("the waiting page has no launch link")?;
        // The link's own tag: from its `<` to its `>`.
        let open = self.body[..at].rfind('<').unwrap_or(at);
        let tag = between(&self.body[open..], "<", ">")?;
        let link = between(&tag, "href=\"", "\"")?.replace("&amp;", "&");
        link.split_once("autostarttoken=")
            .map(|(_, t)| t.to_owned())
            .ok_or_else(|| format!("not a launch link: {link}"))
    }

    /// The `Location` of a redirect.
    pub fn location(&self, step: &str) -> Result<&str, String> {
        self.location
            .as_deref()
            .ok_or_else(|| format!("{step}: no Location"))
    }
}

/// The text between the first `start` in `text` and the `end` after it.
pub fn between(text: &str, start: &str, end: &str) -> Result<String, String> {
    let from = text
        .find(start)
        .ok_or_else(|| format!("`{start}` not in the page"))?
        + start.len();
    let len = text[from..]
        .find(end)
        .ok_or_else(|| format!("no end of `{start}`"))?;
    Ok(text[from..from + len].to_owned())
}

/// One value, form-urlencoded.
pub fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `pairs` as `application/x-www-form-urlencoded`.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The decoded query parameters of `url`.
pub fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// `n` random bytes, base64url.
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An error of `step`, in words.
pub fn err<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{step}: {e}")
}

impl Browser {
    /// A browser with no cookies yet for the server at `base`.
    pub fn new(http: &reqwest::Client, base: &str) -> Self {
        Self {
            http: http.clone(),
            base: base.to_owned(),
            cookies: HashMap::new(),
        }
    }

    /// Sends from now on with `http` (the cookies stay).
    pub fn use_client(&mut self, http: &reqwest::Client) {
        self.http = http.clone();
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `url` on the server: `path` made absolute, an absolute URL as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        }
    }

    /// Sends `request` with the browser's cookies; takes the cookies the response sets.
    pub async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        step: &'static str,
    ) -> Result<Page, String> {
        let request = if self.cookies.is_empty() {
            request
        } else {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.header("cookie", header)
        };
        let response = request.send().await.map_err(err(step))?;
        let status = response.status().as_u16();
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().map_err(err(step))?;
            let Some((name, rest)) = value.split_once('=') else {
                continue;
            };
            let v = rest.split(';').next().unwrap_or_default();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(err(step))?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    /// `GET` of `url` (a path on the server, or absolute).
    pub async fn get(&mut self, url: &str, step: &'static str) -> Result<Page, String> {
        let request = self.http.get(self.url(url));
        self.send(request, step).await
    }

    /// `POST` of a form to `url` (a path on the server, or absolute).
    pub async fn post_form(
        &mut self,
        url: &str,
        pairs: &[(&str, &str)],
        step: &'static str,
    ) -> Result<Page, String> {
        let request = self
            .http
            .post(self.url(url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        self.send(request, step).await
    }

    /// `GET` of `url`, following the server's redirects (at most a few, all on the
    /// server) as a browser does: the page at the end.
    pub async fn follow(&mut self, url: &str, step: &'static str) -> Result<Page, String> {
        let mut url = self.url(url);
        for _ in 0..8 {
            let page = self.get(&url, step).await?;
            if !matches!(page.status, 302 | 303) {
                return Ok(page);
            }
            let next = self.url(page.location(step)?);
            if !next.starts_with(&format!("{}/", self.base)) {
                return Err(format!("{step}: redirected off the server to {next}"));
            }
            url = next;
        }
        Err(format!("{step}: too many redirects"))
    }

    /// The provider's card login from the authorization request `authorize` (absolute or
    /// a path) with `card` and its PIN1: login page → *Legitimera* → the eID app (order
    /// fetched, PIN1, the card's signature, completion) → the order's return → the
    /// waiting page's poll, which must see the order complete. Returns where the
    /// provider sends the browser: the client's redirect URI with the code.
    pub async fn card_login(
        &mut self,
        authorize: &str,
        card: &dyn Card,
        pin1: &Zeroizing<String>,
    ) -> Result<String, String> {
        let base = self.base.clone();
        self.card_login_split(authorize, &base, &base, card, pin1)
            .await
    }

    /// [`Browser::card_login`] with the eID app's steps sent to the server node at `app`
    /// (another node of the installation) while the browser's stay at its own; the return
    /// URL, on the installation's `public` URL, is followed at the browser's node.
    pub async fn card_login_split(
        &mut self,
        authorize: &str,
        app: &str,
        public: &str,
        card: &dyn Card,
        pin1: &Zeroizing<String>,
    ) -> Result<String, String> {
        let login = self
            .get(authorize, "login page")
            .await?
            .expect(200, "login page")?;
        let wait = self
            .post_form(
                "/login",
                &[
                    ("request", &login.input("request")?),
                    ("mac", &login.input("mac")?),
                    ("csrf", &login.input("csrf")?),
                    ("lang", &login.input("lang")?),
                    ("method", "this-device"),
                ],
                "Legitimera",
            )
            .await?
            .expect(200, "Legitimera")?;
        let back = self.app_login(app, &wait, card, pin1).await?;
        let back = back
            .strip_prefix(public)
            .filter(|path| path.starts_with('/'))
            .ok_or_else(|| format!("complete: the return URL {back} is not on {public}"))?
            .to_owned();
        let done = self.get(&back, "return").await?.expect(303, "return")?;
        // The waiting page's poll: the order is complete for the session that started it.
        let order_ref = between(&wait.body, "data-order-ref=\"", "\"")?;
        let csrf = between(&wait.body, "data-csrf=\"", "\"")?;
        let poll = self
            .http
            .post(self.url("/orders/collect"))
            .header("x-csrf-token", csrf)
            .json(&json!({ "orderRef": order_ref }));
        let collected = self.send(poll, "collect").await?.expect(200, "collect")?;
        if !collected.body.contains("\"complete\"") {
            return Err(format!("collect: not complete: {}", collected.body));
        }
        Ok(done.location("return")?.to_owned())
    }

    /// The eID app's side of a login at the server node at `at`: fetches the order of the
    /// waiting page's launch link, signs with the card after PIN1, completes; returns the
    /// return URL.
    async fn app_login(
        &self,
        at: &str,
        wait: &Page,
        card: &dyn Card,
        pin1: &Zeroizing<String>,
    ) -> Result<String, String> {
        let token = wait.launch_token().map_err(err("app"))?;
        let fetched: AppFetchResponse = self
            .http
            .post(format!("{at}/app/v1/order"))
            .json(&json!({ "autoStartToken": token }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(err("app fetch"))?
            .json()
            .await
            .map_err(err("app fetch"))?;
        let tbs = ToBeSigned::for_order(&fetched.order, None);
        let digest = tbs.digest().map_err(err("to be signed"))?;
        card.select().map_err(err("card select"))?;
        card.verify(PinRef::Pin1, &Pin::new(pin1.clone()))
            .map_err(err("PIN1"))?;
        let signature = card
            .sign(KeySlot::Authentication, &digest)
            .map_err(err("card sign"))?;
        let certificate = card
            .read_certificate(KeySlot::Authentication)
            .map_err(err("card certificate"))?
            .ok_or("card: no authentication certificate")?;
        let done: AppCompleteResponse = self
            .http
            .post(format!("{at}/app/v1/complete"))
            .bearer_auth(&fetched.app_token)
            .json(&json!({
                "signature": STANDARD.encode(signature),
                "certificate": STANDARD.encode(certificate),
            }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(err("complete"))?
            .json()
            .await
            .map_err(err("complete"))?;
        Ok(done.return_url)
    }
}
