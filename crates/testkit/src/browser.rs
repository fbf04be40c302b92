//! A test browser, the pages it gets, and the little text work on URLs and forms.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// A browser: no automatic redirects; the server's cookies kept by hand (reqwest's jar
/// would not send `Secure` cookies over http) and sent only to the server.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    /// The server's base URL, no trailing slash.
    server: String,
    /// The server's cookies: name to value.
    pub cookies: HashMap<String, String>,
    /// The order reference and CSRF token of the last waiting page.
    waiting: Option<(String, String)>,
}

/// What the browser got back.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header.
    pub fn location(&self) -> String {
        self.headers[LOCATION].to_str().unwrap().to_owned()
    }

    /// The `value` of the (hidden) input `name`.
    pub fn input(&self, name: &str) -> String {
        between(&self.body, &format!("name=\"{name}\" value=\""), "\"")
    }

    /// Where the eID app's page after a completed order sends the browser (its link back
    /// to the server's return URL).
    pub fn return_url(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.body);
        between(&self.body, "id=\"return\" href=\"", "\"").replace("&amp;", "&")
    }

    /// The launch link of a waiting page: the `href` of the element with `id="launch"`
    /// (not the page's first `href`, which is its stylesheet), unescaped.
    pub fn launch_link(&self) -> String {
        let at = self
            .body
            .find("id=\"launch\"")
            .unwrap_or_else(|| panic!("no id=\"launch\" in {}", self.body));
        let start = self.body[..at].rfind('<').unwrap();
        let end = at + self.body[at..].find('>').unwrap();
        between(&self.body[start..end], " href=\"", "\"").replace("&amp;", "&")
    }

    /// The value of attribute `attr` (its first occurrence).
    pub fn attr(&self, attr: &str) -> String {
        between(&self.body, &format!("{attr}=\""), "\"")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// The text of `text` between the first `start` and the `end` after it.
pub fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    text[from..from + len].to_owned()
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

impl Browser {
    /// A browser with no cookies yet, for the server at `server` (no trailing slash).
    pub fn new(server: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            server: server.trim_end_matches('/').to_owned(),
            cookies: HashMap::new(),
            waiting: None,
        }
    }

    /// The browser's HTTP client (it follows no redirects), to build a request for
    /// [`Browser::send`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn to_server(&self, url: &str) -> bool {
        url.strip_prefix(&self.server)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    }

    /// Sends `request` to `url`, with the server's cookies if `url` is the server's; keeps
    /// the cookies the server sets (each must be a `__Host-` cookie, `Secure`, `HttpOnly`,
    /// `SameSite=Lax`, `Path=/`).
    pub async fn send(&mut self, url: &str, request: reqwest::RequestBuilder) -> Page {
        let to_server = self.to_server(url);
        let request = if to_server && !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.header("cookie", cookie)
        } else {
            request
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE).iter().filter(|_| to_server) {
            let value = value.to_str().unwrap();
            for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
                assert!(value.contains(attr), "{attr} missing in a cookie");
            }
            let (name, rest) = value.split_once('=').unwrap();
            assert!(name.starts_with("__Host-"));
            let v = rest.split(';').next().unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let r = self.http.get(url);
        self.send(url, r).await
    }

    pub async fn post_form(&mut self, url: &str, pairs: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        self.send(url, r).await
    }

    /// A JSON call of the pages' script, with its CSRF header.
    pub async fn post_json(&mut self, url: &str, body: &Value, csrf: &str) -> Page {
        let r = self.http.post(url).header("x-csrf-token", csrf).json(body);
        self.send(url, r).await
    }

    /// The same browser (its cookies, its waiting page) sending to `node` instead: one of
    /// several nodes behind one public URL.
    pub fn via(&self, node: &str) -> Browser {
        Browser {
            server: node.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    /// Remembers the order of a waiting page, for [`Browser::collect`].
    pub fn waiting_on(&mut self, wait: &Page) {
        self.waiting = Some((wait.attr("data-order-ref"), wait.attr("data-csrf")));
    }

    /// What the waiting page's poll sees of the order it waits on: (status, hint code).
    pub async fn collect(&mut self) -> (String, String) {
        let (order_ref, csrf) = self.waiting.clone().expect("a waiting page");
        let url = format!("{}/orders/collect", self.server);
        let page = self
            .post_json(&url, &json!({ "orderRef": order_ref }), &csrf)
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let v = page.json();
        (
            v["status"].as_str().unwrap_or_default().to_owned(),
            v["hintCode"].as_str().unwrap_or_default().to_owned(),
        )
    }
}
