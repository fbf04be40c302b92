//! Server-rendered pages of the identity provider (login, waiting, error): Swedish
//! (`lang="sv"`) unless English is asked for, every interpolated value escaped, no inline
//! script or style (the CSP forbids them). They share My Pages' look: the one stylesheet
//! `/static/eid.css`, the same header, and the waiting page's one order script
//! (`/static/order.js`, with the login's words in `/static/login.js`).

use std::fmt::Write as _;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The language of a page: Swedish unless English is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Sv,
    En,
}

impl Lang {
    /// `lang` (`?lang=en`, or the login form's field) wins; then the first of `ui_locales`
    /// that we have; Swedish by default.
    pub(crate) fn choose(lang: Option<&str>, ui_locales: Option<&str>) -> Self {
        let pick = |tag: &str| match tag.split(['-', '_']).next() {
            Some(t) if t.eq_ignore_ascii_case("en") => Some(Self::En),
            Some(t) if t.eq_ignore_ascii_case("sv") => Some(Self::Sv),
            _ => None,
        };
        lang.and_then(pick)
            .or_else(|| ui_locales.and_then(|l| l.split(' ').find_map(pick)))
            .unwrap_or(Self::Sv)
    }

    /// The `lang` attribute value.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }

    /// The Swedish or English text.
    pub(crate) fn pick(self, sv: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Sv => sv,
            Self::En => en,
        }
    }
}

/// The stylesheet of every page (served by the `mypages` routes, cacheable).
pub(crate) const STYLESHEET: &str = "/static/eid.css";

/// A whole Swedish page: `title` (escaped here) and `body` (already HTML); `script` adds
/// the waiting page's order script with the login's words.
pub(crate) fn page(title: &str, body: &str, script: bool) -> String {
    page_in(Lang::Sv, title, body, script)
}

/// A whole page in `lang`: the header with the product name, then `title` as the page's
/// one `h1` and `body` in `main`.
pub(crate) fn page_in(lang: Lang, title: &str, body: &str, script: bool) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n",
        lang.code()
    );
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(html, "<title>{} – eID</title>", escape(title));
    let _ = writeln!(html, "<link rel=\"stylesheet\" href=\"{STYLESHEET}\">");
    if script {
        // Deferred scripts run in document order: the shared one first, then the words.
        html.push_str("<script src=\"/static/order.js\" defer></script>\n");
        html.push_str("<script src=\"/static/login.js\" defer></script>\n");
    }
    html.push_str(
        "</head>\n<body>\n<header class=\"top\">\n<p class=\"product\">eID</p>\n</header>\n",
    );
    html.push_str("<main id=\"main\" class=\"task\">\n");
    let _ = writeln!(html, "<h1>{}</h1>", escape(title));
    html.push_str(body);
    html.push_str("\n</main>\n</body>\n</html>\n");
    html
}

/// An error page's body: what happened, in words for the card holder.
pub(crate) fn error_body(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_swedish_unless_english_is_asked_for() {
        assert_eq!(Lang::choose(None, None), Lang::Sv);
        assert_eq!(Lang::choose(Some("en"), None), Lang::En);
        assert_eq!(Lang::choose(Some("fi"), Some("de en-GB")), Lang::En);
        assert_eq!(Lang::choose(Some("sv"), Some("en")), Lang::Sv);
        assert_eq!(Lang::choose(None, Some("de")), Lang::Sv);
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
        let p = page("<x>", "", false);
        assert!(p.contains("lang=\"sv\""));
        assert!(p.contains("<link rel=\"stylesheet\" href=\"/static/eid.css\">"));
        assert!(
            !p.contains("<script"),
            "a page without the order has no script"
        );
        assert!(p.contains("&lt;x&gt;"));
        assert!(!p.contains("<x>"));
    }
}
