//! The app's pages: the PIN dialog and its messages, in Swedish (default) or English.
//! No script and no inline style; every value from the order or a card is escaped.
//!
//! They look like the server's pages: the stylesheet is the server's very file
//! (`crates/server/static/eid.css`), compiled in and served by the app itself under its
//! capability path (the CSP is `style-src 'self'`), so there is one stylesheet in the
//! source tree and the app still links no server code. Each page is a small dialog: the
//! app's name as its title bar, then who asks and for what, the form with the focus on its
//! code field, and *Avbryt*.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use eid_card::{CardKind, LifeCycle};
use eid_protocol::OrderKind;

use crate::{CardView, Launch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Sv,
    En,
}

impl Lang {
    pub(crate) fn parse(value: Option<&str>) -> Self {
        match value {
            Some("en") => Self::En,
            _ => Self::Sv,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }

    fn t(self, sv: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Sv => sv,
            Self::En => en,
        }
    }
}

/// What a page has to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    BadLink,
    NoOrder,
    WrongServer,
    Unsupported,
    StaleForm,
    AlreadyDone,
    Expired,
    Cancelled,
    Failed,
    WrongPin(u8),
    WrongTransport(u8),
    BadFormat,
    CodesDiffer,
    Blocked(Option<CardKind>),
    Dead,
    NotActivated,
    NoActivation,
    NoCard,
    WrongCard,
    CardFailed,
    CardBusy,
}

impl Notice {
    fn text(self, l: Lang) -> String {
        match self {
            Self::BadLink => l
                .t(
                    "Länken till eID-appen är felaktig.",
                    "The link to the eID app is malformed.",
                )
                .into(),
            Self::NoOrder => l
                .t(
                    "Beställningen finns inte eller är redan öppnad. Börja om på webbsidan.",
                    "The order does not exist or was already opened. Start again on the web page.",
                )
                .into(),
            Self::WrongServer => l
                .t(
                    "Beställningen kommer från en tjänst som appen inte litar på.",
                    "The order comes from a service this app does not trust.",
                )
                .into(),
            Self::Unsupported => l
                .t(
                    "Den här appen kan ännu inte utföra den här beställningen.",
                    "This app cannot carry out this order yet.",
                )
                .into(),
            Self::StaleForm => l
                .t(
                    "Formuläret är inte längre giltigt. Börja om på webbsidan.",
                    "The form is no longer valid. Start again on the web page.",
                )
                .into(),
            Self::AlreadyDone => l
                .t(
                    "Beställningen är redan avslutad.",
                    "The order is already finished.",
                )
                .into(),
            Self::Expired => l
                .t(
                    "Tiden för beställningen har gått ut. Börja om på webbsidan.",
                    "The order has expired. Start again on the web page.",
                )
                .into(),
            Self::Cancelled => l.t("Avbrutet.", "Cancelled.").into(),
            Self::Failed => l
                .t(
                    "Det gick inte att slutföra. Försök igen från webbsidan.",
                    "It could not be completed. Try again from the web page.",
                )
                .into(),
            Self::WrongPin(n) => format!(
                "{} {n}",
                l.t(
                    "Fel säkerhetskod. Försök kvar:",
                    "Wrong security code. Tries left:"
                )
            ),
            Self::WrongTransport(n) => format!(
                "{} {n}",
                l.t(
                    "Fel transportkod. Försök kvar:",
                    "Wrong transport code. Tries left:"
                )
            ),
            Self::BadFormat => l
                .t(
                    "Säkerhetskoden har 6 till 8 siffror.",
                    "The security code has 6 to 8 digits.",
                )
                .into(),
            Self::CodesDiffer => l
                .t(
                    "De två säkerhetskoderna är olika.",
                    "The two security codes differ.",
                )
                .into(),
            Self::Blocked(Some(CardKind::TwoPin)) => l
                .t(
                    "Säkerhetskoden är spärrad efter för många felaktiga försök. Lås upp den med PUK-koden från ditt PIN-brev och försök sedan igen.",
                    "The security code is blocked after too many wrong tries. Unblock it with the PUK from your PIN letter, then try again.",
                )
                .into(),
            Self::Blocked(_) => l
                .t(
                    "Säkerhetskoden är spärrad efter för många felaktiga försök. Kontakta din ID-administratör för att låsa upp kortet.",
                    "The security code is blocked after too many wrong tries. Contact your ID administrator to unblock the card.",
                )
                .into(),
            Self::Dead => l
                .t(
                    "Kortet kan inte längre användas. Kontakta din ID-administratör för ett nytt kort.",
                    "The card can no longer be used. Contact your ID administrator for a new card.",
                )
                .into(),
            Self::NotActivated => l
                .t(
                    "Kortet är inte aktiverat. Aktivera det med transportkoden och välj din säkerhetskod.",
                    "The card is not activated. Activate it with the transport code and choose your security code.",
                )
                .into(),
            Self::NoActivation => l
                .t(
                    "Kortet behöver ingen aktivering.",
                    "The card needs no activation.",
                )
                .into(),
            Self::NoCard => l
                .t(
                    "Kortet saknas. Sätt i kortet och försök igen.",
                    "The card is missing. Insert the card and try again.",
                )
                .into(),
            Self::WrongCard => l
                .t(
                    "Beställningen gäller ett annat kort.",
                    "The order is for another card.",
                )
                .into(),
            Self::CardFailed => l
                .t(
                    "Kortet svarade inte som väntat. Försök igen.",
                    "The card did not answer as expected. Try again.",
                )
                .into(),
            Self::CardBusy => l
                .t(
                    "Kortet används av ett annat program. Försök igen om en stund.",
                    "Another program is using the card. Try again in a moment.",
                )
                .into(),
        }
    }
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The stylesheet: the server's file, compiled in (see the module's documentation).
const STYLESHEET: &str = include_str!("../../server/static/eid.css");

/// The stylesheet's path below the capability segment.
pub(crate) const STYLESHEET_PATH: &str = "eid.css";

/// `GET /<cap>/eid.css`: the stylesheet.
pub(crate) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// A page up to its `<body>`: `lang`, `extra` in the head (e.g. a refresh), the title and
/// the stylesheet of the app at capability `cap`.
fn head(cap: &str, lang: Lang, extra: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">{extra}\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>eID</title>\n<link rel=\"stylesheet\" href=\"/{}/{STYLESHEET_PATH}\"></head>\n",
        lang.code(),
        escape(cap),
    )
}

/// A whole page of the app at capability `cap`: the dialog with `body`.
pub(crate) fn page(cap: &str, lang: Lang, body: &str) -> String {
    format!(
        "{}<body>\n<main class=\"dialog\">\n<h1>eID</h1>\n{body}\n</main>\n</body></html>\n",
        head(cap, lang, "")
    )
}

/// The page that sends the browser back to the order's return URL once the order is
/// complete. Not a `303` answer to the dialog's form: browsers check the dialog's CSP
/// `form-action` on every redirect after a form post, and the server's return sends the
/// browser on to the relying party, which no app can list in advance.
pub(crate) fn returning(cap: &str, lang: Lang, return_url: &str) -> String {
    returning_with(cap, lang, return_url, lang.t("Klart.", "Done."))
}

/// [`returning`] with another message (e.g. *Hämtningen är klar.*).
pub(crate) fn returning_with(cap: &str, lang: Lang, return_url: &str, done: &str) -> String {
    let url = escape(return_url);
    format!(
        "{head}<body>\n<main class=\"dialog\">\n<h1>eID</h1>\n<p id=\"notice\" class=\"done\">{done} \
<a id=\"return\" href=\"{url}\">{go_on}</a></p>\n</main>\n</body></html>\n",
        head = head(
            cap,
            lang,
            &format!("<meta http-equiv=\"refresh\" content=\"0;url={url}\">")
        ),
        done = escape(done),
        go_on = lang.t("Tillbaka till webbsidan", "Back to the web page"),
    )
}

/// A notice's text.
pub(crate) fn notice_text(notice: Notice, lang: Lang) -> String {
    notice.text(lang)
}

/// A page with only a message; a blocked code's also offers the PIN services, so that it
/// is never a dead end.
pub(crate) fn message(cap: &str, lang: Lang, notice: Notice) -> String {
    let mut body = format!(
        "<p id=\"notice\" class=\"lead\">{}</p>",
        escape(&notice.text(lang))
    );
    if matches!(notice, Notice::Blocked(_)) {
        body.push('\n');
        body.push_str(&crate::pin_ui::link(cap, lang));
    }
    page(cap, lang, &body)
}

pub(crate) struct Dialog<'a> {
    pub cap: &'a str,
    pub id: &'a str,
    pub launch: &'a Launch,
    pub card: &'a CardView,
    pub cards: &'a [(usize, String)],
    pub notice: Option<Notice>,
}

/// The PIN dialog (or the activation form of a card that is not activated yet).
pub(crate) fn dialog(d: &Dialog<'_>) -> String {
    let l = d.launch.lang;
    let order = &d.launch.order;
    if order.kind != OrderKind::Auth {
        return message(d.cap, l, Notice::Unsupported);
    }
    let hidden = format!(
        "<input type=\"hidden\" name=\"launch\" value=\"{}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(d.id),
        escape(&d.launch.csrf)
    );
    let mut body = format!(
        "<p><strong id=\"requester\">{}</strong> {}</p>\n<p id=\"text\" class=\"what\">{}</p>\n",
        escape(&order.requester),
        l.t("ber dig att legitimera dig:", "asks you to authenticate:"),
        escape(&order.text),
    );
    let card = d.card;
    let holder = card.holder.as_deref().unwrap_or("");
    if card.present {
        body.push_str(&format!(
            "<p id=\"card\">{} {} {}</p>\n",
            l.t("Kort:", "Card:"),
            escape(&card.number),
            escape(holder)
        ));
    } else {
        body.push_str(&format!(
            "<p id=\"card\">{}</p>\n",
            escape(&Notice::NoCard.text(l))
        ));
    }
    if let Some(n) = d.notice {
        body.push_str(&format!(
            "<p id=\"notice\" class=\"problem\" role=\"alert\">{}</p>\n",
            escape(&n.text(l))
        ));
    }
    let choose = if d.cards.len() > 1 {
        let options: String = d
            .cards
            .iter()
            .map(|(i, name)| {
                format!(
                    "<option value=\"{i}\"{}>{}</option>",
                    if *i == card.index { " selected" } else { "" },
                    escape(name)
                )
            })
            .collect();
        format!(
            "<p><label>{} <select name=\"card\">{options}</select></label></p>",
            l.t("Aktivt eID:", "Active eID:")
        )
    } else {
        String::new()
    };
    let not_activated = card.life_cycle == Some(LifeCycle::NotActivated);
    if not_activated && card.kind == Some(CardKind::OnePin) {
        body.push_str(&format!(
            "<h2>{}</h2>\n<p class=\"notice\">{}</p>\n<form method=\"post\" action=\"/{cap}/activate\">{hidden}\
<p><label>{} <input type=\"password\" name=\"transport\" autocomplete=\"off\" inputmode=\"numeric\" autofocus></label></p>\
<p><label>{} <input type=\"password\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\"></label></p>\
<p><label>{} <input type=\"password\" name=\"again\" autocomplete=\"off\" inputmode=\"numeric\"></label></p>\
<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
            l.t("Aktivera ditt kort", "Activate your card"),
            l.t(
                "Ta inte ut kortet ur kortläsaren medan aktiveringen pågår.",
                "Do not remove the card from the reader during the activation."
            ),
            l.t("Transportkod", "Transport code"),
            l.t("Välj säkerhetskod (6–8 siffror)", "Choose your security code (6–8 digits)"),
            l.t("Säkerhetskoden igen", "The security code again"),
            l.t("Aktivera och legitimera", "Activate and authenticate"),
            cap = escape(d.cap),
        ));
    } else {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/{cap}/sign\">{hidden}{choose}\
<p><label for=\"pin\">{}</label> <input id=\"pin\" type=\"password\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\" autofocus></p>\
<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
            l.t("Ange din säkerhetskod", "Enter your security code"),
            l.t("Legitimera", "Authenticate"),
            cap = escape(d.cap),
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/{}/cancel\">{hidden}<p><button type=\"submit\">{}</button></p></form>",
        escape(d.cap),
        l.t("Avbryt", "Cancel")
    ));
    body.push_str(&crate::pin_ui::link(d.cap, l));
    page(d.cap, l, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_links_the_stylesheet_below_the_capability_and_nothing_inline() {
        for html in [
            page("c<ap", Lang::Sv, "<p>x</p>"),
            message("c<ap", Lang::En, Notice::Cancelled),
            returning("c<ap", Lang::Sv, "https://idp.example/r?a=1&b=2"),
        ] {
            assert!(
                html.contains("<link rel=\"stylesheet\" href=\"/c&lt;ap/eid.css\">"),
                "{html}"
            );
            assert!(
                !html.contains("style=") && !html.contains("<script"),
                "{html}"
            );
            assert!(
                html.contains("<main class=\"dialog\">\n<h1>eID</h1>"),
                "{html}"
            );
        }
        assert!(message("c", Lang::En, Notice::Cancelled).contains("<html lang=\"en\">"));
        let back = returning("c", Lang::Sv, "https://idp.example/r?a=1&b=2");
        assert!(back.contains("id=\"return\" href=\"https://idp.example/r?a=1&amp;b=2\""));
    }

    #[test]
    fn a_blocked_code_is_never_a_dead_end() {
        for kind in [Some(CardKind::TwoPin), Some(CardKind::OnePin), None] {
            let html = message("cap", Lang::Sv, Notice::Blocked(kind));
            assert!(
                html.contains("id=\"pin-services\" href=\"/cap/pin?lang=sv\""),
                "{html}"
            );
        }
        let html = message("cap", Lang::Sv, Notice::Expired);
        assert!(!html.contains("pin-services"), "{html}");
    }
}
