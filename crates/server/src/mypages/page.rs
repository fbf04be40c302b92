//! The pages of My Pages, rendered on the server: Swedish by default (the words of the seed
//! procedure), English by the language switch; no script, no inline style (the stylesheet is
//! `/static/eid.css`); every interpolated value escaped. Cards expand with
//! `<details>`/`<summary>` (the green arrow), which works by keyboard and without
//! JavaScript.

use std::fmt::Write as _;

use eid_portal::{CardView, CardsView, CertificateStatus, CertificateView, PersonView};
use eid_store::{CardKind, CardState, CertKind, CertStatus, CertificateRecord, RevocationReason};
use time::OffsetDateTime;
use time::macros::format_description;

use super::portal_language;
use crate::html::{Lang, escape};

/// A notice at the top of the logged-out page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// The provider's session ended: log in again.
    Expired,
}

fn date(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// The page around `main`: `lang`, title, stylesheet, a skip link, the header with the
/// product name, the language switch and (when logged in) *Logga ut*.
fn shell(product: &str, lang: Lang, title: &str, csrf: Option<&str>, main: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} – {}</title>\n<link rel=\"stylesheet\" href=\"/static/eid.css\">\n\
         </head>\n<body>\n",
        lang.code(),
        escape(title),
        escape(product)
    );
    let _ = write!(
        html,
        "<a class=\"skip\" href=\"#main\">{}</a>\n<header class=\"top\">\n\
         <p class=\"product\"><a href=\"/mypages\">{}</a></p>\n<nav aria-label=\"{}\">\n",
        lang.pick("Hoppa till innehållet", "Skip to content"),
        escape(product),
        lang.pick("Sidans val", "Page options"),
    );
    let _ = match lang {
        Lang::Sv => writeln!(
            html,
            "<a class=\"lang\" href=\"/mypages?lang=en\" hreflang=\"en\" lang=\"en\">In English</a>"
        ),
        Lang::En => writeln!(
            html,
            "<a class=\"lang\" href=\"/mypages?lang=sv\" hreflang=\"sv\" lang=\"sv\">På svenska</a>"
        ),
    };
    if let Some(csrf) = csrf {
        let _ = writeln!(
            html,
            "<form class=\"logout\" method=\"post\" action=\"/mypages/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">{}</button></form>",
            escape(csrf),
            lang.pick("Logga ut", "Log out"),
        );
    }
    html.push_str("</nav>\n</header>\n<main id=\"main\" tabindex=\"-1\">\n");
    html.push_str(main);
    html.push_str("\n</main>\n</body>\n</html>\n");
    html
}

/// DESIGN.md "Policy", as the seed procedure says it.
fn policy(lang: Lang) -> String {
    format!(
        "<aside class=\"policy\" aria-labelledby=\"policy-title\">\n<h2 id=\"policy-title\">{}</h2>\n\
         <p>{}</p>\n<p>{}</p>\n<p>{}</p>\n</aside>",
        lang.pick("Om underskriftscertifikat", "About signing certificates"),
        lang.pick(
            "Du hämtar underskriftscertifikatet själv här; ingen beställning av en \
             ID-administratör behövs.",
            "You fetch the signing certificate yourself here; no order by an ID \
             administrator is needed."
        ),
        lang.pick(
            "Hämta ett underskriftscertifikat bara när du behöver det, och efter ett beslut \
             inom din organisation.",
            "Fetch a signing certificate only when you need one, and after a decision within \
             your organisation."
        ),
        lang.pick(
            "Att använda underskriftscertifikatet kan kräva anpassningar i den lokala \
             IT-miljön.",
            "Using the signing certificate may require adaptations of the local IT \
             environment."
        ),
    )
}

/// The start page without a session: *LOGGA IN*.
pub(crate) fn logged_out(product: &str, lang: Lang, note: Option<Note>) -> String {
    let mut main = format!("<h1>{}</h1>\n", lang.pick("Mina sidor", "My Pages"));
    if note == Some(Note::Expired) {
        let _ = writeln!(
            main,
            "<p class=\"notice\" role=\"status\">{}</p>",
            lang.pick(
                "Din inloggning har gått ut. Logga in igen.",
                "Your login has expired. Log in again."
            )
        );
    }
    let _ = writeln!(
        main,
        "<p>{}</p>\n<p><a class=\"button primary\" id=\"login\" href=\"/mypages/login?lang={}\">{}</a></p>",
        lang.pick(
            "Här ser du dina eID-kort och deras certifikat, och hämtar själv ett \
             underskriftscertifikat till ditt kort. Logga in med ditt eID-kort på denna enhet.",
            "Here you see your eID cards and their certificates, and fetch a signing \
             certificate onto your card yourself. Log in with your eID card on this device."
        ),
        lang.code(),
        lang.pick("LOGGA IN", "LOG IN"),
    );
    main.push_str(&policy(lang));
    shell(
        product,
        lang,
        lang.pick("Mina sidor", "My Pages"),
        None,
        &main,
    )
}

/// A short page with one message and a way back.
pub(crate) fn message(product: &str, lang: Lang, text: &str) -> String {
    let main = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/mypages\">{}</a></p>",
        lang.pick("Mina sidor", "My Pages"),
        escape(text),
        lang.pick("Till Mina sidor", "To My Pages"),
    );
    shell(
        product,
        lang,
        lang.pick("Mina sidor", "My Pages"),
        None,
        &main,
    )
}

/// What the logged-in start page shows.
pub(crate) struct StartPage<'a> {
    pub(crate) product: &'a str,
    pub(crate) lang: Lang,
    pub(crate) person: &'a PersonView,
    pub(crate) cards: &'a CardsView,
    pub(crate) csrf: &'a str,
    /// The card a fetch just completed for: opened, with *Hämtningen är klar*.
    pub(crate) fetched: Option<&'a str>,
}

fn kind_text(kind: CardKind, lang: Lang) -> &'static str {
    match kind {
        CardKind::TwoPin => lang.pick(
            "Kort med PIN-brev: säkerhetskod (PIN1) och underskriftskod (PIN2)",
            "Card with a PIN letter: security code (PIN1) and signing code (PIN2)",
        ),
        CardKind::OnePin => lang.pick(
            "Kort 7XX med en kod: säkerhetskod (PIN1)",
            "7XX card with one code: security code (PIN1)",
        ),
    }
}

fn state_text(state: CardState, lang: Lang) -> &'static str {
    match state {
        CardState::Active => lang.pick("Aktivt", "Active"),
        CardState::NotActivated => lang.pick("Inte aktiverat", "Not activated"),
        CardState::Revoked => lang.pick("Spärrat", "Revoked"),
        CardState::Dead => lang.pick("Obrukbart", "Unusable"),
    }
}

fn cert_kind_text(kind: CertKind, lang: Lang) -> &'static str {
    match kind {
        CertKind::Authentication => {
            lang.pick("Legitimeringscertifikat", "Authentication certificate")
        }
        CertKind::Signing => lang.pick("Underskriftscertifikat", "Signing certificate"),
        CertKind::Attestation => lang.pick("Attesteringscertifikat", "Attestation certificate"),
    }
}

fn cert_status_text(cert: &CertificateView, lang: Lang) -> String {
    match cert.status {
        CertificateStatus::Valid => lang.pick("Giltigt", "Valid").to_owned(),
        CertificateStatus::NotYetValid => {
            lang.pick("Ännu inte giltigt", "Not yet valid").to_owned()
        }
        CertificateStatus::Expired => lang.pick("Utgånget", "Expired").to_owned(),
        CertificateStatus::Revoked => format!(
            "{} {}",
            lang.pick("Spärrat", "Revoked"),
            cert.revoked_at.map(date).unwrap_or_default()
        ),
    }
}

fn certificates(card: &CardView, lang: Lang) -> String {
    let mut html = format!(
        "<h3>{}</h3>\n<table class=\"certs\">\n<thead><tr><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        lang.pick("Certifikat", "Certificates"),
        lang.pick("Certifikat", "Certificate"),
        lang.pick("Status", "Status"),
        lang.pick("Giltigt till", "Valid until"),
        lang.pick("Serienummer", "Serial number"),
    );
    for cert in &card.certificates {
        let _ = writeln!(
            html,
            "<tr class=\"cert {kind}\"><th scope=\"row\">{name}</th><td class=\"status {status}\">{text}</td>\
             <td>{until}</td><td class=\"serial\">{serial}</td></tr>",
            kind = match cert.kind {
                CertKind::Authentication => "authentication",
                CertKind::Signing => "signing",
                CertKind::Attestation => "attestation",
            },
            name = cert_kind_text(cert.kind, lang),
            status = match cert.status {
                CertificateStatus::Valid => "valid",
                CertificateStatus::NotYetValid => "not-yet-valid",
                CertificateStatus::Expired => "expired",
                CertificateStatus::Revoked => "revoked",
            },
            text = escape(&cert_status_text(cert, lang)),
            until = date(cert.not_after),
            serial = escape(&cert.serial),
        );
    }
    if !card
        .certificates
        .iter()
        .any(|c| c.kind == CertKind::Signing)
    {
        let _ = writeln!(
            html,
            "<tr class=\"cert signing none\"><th scope=\"row\">{}</th><td colspan=\"3\">{}</td></tr>",
            cert_kind_text(CertKind::Signing, lang),
            lang.pick("Inget på kortet", "None on the card"),
        );
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

/// *Hämta nytt underskriftscertifikat* when the card has had one (revoked, expired, or
/// valid and due for renewal: the old one is revoked once the new one is on the card).
fn fetch_label(card: &CardView, lang: Lang) -> &'static str {
    if card
        .certificates
        .iter()
        .any(|c| c.kind == CertKind::Signing)
    {
        lang.pick(
            "Hämta nytt underskriftscertifikat",
            "Fetch a new signing certificate",
        )
    } else {
        lang.pick("Hämta underskriftscertifikat", "Fetch signing certificate")
    }
}

/// When a valid signing certificate is renewed: it stays until the new one is on the card.
fn renewal_hint(card: &CardView, lang: Lang) -> &'static str {
    let renewing = card
        .certificates
        .iter()
        .any(|c| c.kind == CertKind::Signing && c.status == CertificateStatus::Valid);
    if renewing {
        lang.pick(
            " Ditt nuvarande underskriftscertifikat går snart ut. Det gäller tills det nya \
             finns på kortet, och spärras då.",
            " Your current signing certificate expires soon. It stays valid until the new \
             one is on the card, and is revoked then.",
        )
    } else {
        ""
    }
}

fn fetch(card: &CardView, page: &StartPage<'_>) -> String {
    let lang = page.lang;
    match card.signing_certificate_fetch.reason {
        None => {
            let code = match card.kind {
                CardKind::TwoPin => lang.pick(
                    "Du kommer att ange din underskriftskod (PIN2) från PIN-brevet, och sedan \
                     din säkerhetskod (PIN1).",
                    "You will enter your signing code (PIN2) from the PIN letter, then your \
                     security code (PIN1).",
                ),
                CardKind::OnePin => lang.pick(
                    "Ditt kort har ingen underskriftskod: du anger din säkerhetskod (PIN1), \
                     den kod du valde när kortet aktiverades.",
                    "Your card has no signing code: you enter your security code (PIN1), the \
                     code you chose when the card was activated.",
                ),
            };
            format!(
                "<form class=\"fetch\" method=\"post\" action=\"/mypages/fetch\">\n\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
                 <input type=\"hidden\" name=\"card\" value=\"{card}\">\n\
                 <p class=\"hint\" id=\"fetch-hint-{card}\">{code}{renewal}</p>\n\
                 <button type=\"submit\" class=\"primary\" aria-describedby=\"fetch-hint-{card}\">{label}</button>\n\
                 </form>\n",
                csrf = escape(page.csrf),
                card = escape(&card.card_number),
                label = fetch_label(card, lang),
                renewal = renewal_hint(card, lang),
            )
        }
        Some(reason) => format!(
            "<p class=\"reason\">{}</p>\n",
            escape(reason.text(portal_language(lang)))
        ),
    }
}

fn card(card: &CardView, page: &StartPage<'_>) -> String {
    let lang = page.lang;
    let number = escape(&card.card_number);
    let mut html = format!(
        "<details class=\"eid{}\" id=\"card-{number}\"{}>\n<summary>\
         <span class=\"name\">{} {number}</span>",
        if card.logged_in { " current" } else { "" },
        if page.fetched == Some(card.card_number.as_str()) {
            " open"
        } else {
            ""
        },
        escape(page.product),
    );
    if card.logged_in {
        let _ = write!(
            html,
            " <span class=\"badge\">{}</span>",
            lang.pick(
                "Du är inloggad med detta kort",
                "You are logged in with this card"
            )
        );
    }
    html.push_str("</summary>\n<div class=\"body\">\n<dl>\n");
    let validity = match (card.valid_from, card.valid_until) {
        (Some(from), Some(until)) => format!("{} – {}", date(from), date(until)),
        _ => "–".to_owned(),
    };
    for (term, value) in [
        (lang.pick("Kortnummer", "Card number"), number.clone()),
        (
            lang.pick("Produktnummer", "Product number"),
            escape(&card.product_number),
        ),
        (
            lang.pick("Typ", "Kind"),
            kind_text(card.kind, lang).to_owned(),
        ),
        (
            lang.pick("Status", "Status"),
            state_text(card.state, lang).to_owned(),
        ),
        (lang.pick("Giltighet", "Validity"), validity),
    ] {
        let _ = writeln!(html, "<dt>{term}</dt><dd>{value}</dd>");
    }
    html.push_str("</dl>\n");
    html.push_str(&certificates(card, lang));
    html.push_str(&fetch(card, page));
    html.push_str("</div>\n</details>\n");
    html
}

/// The start page of a logged-in card holder.
pub(crate) fn logged_in(page: &StartPage<'_>) -> String {
    let lang = page.lang;
    let person = page.person;
    let mut main = format!("<h1>{}</h1>\n", lang.pick("Mina sidor", "My Pages"));
    if page.fetched.is_some() {
        let _ = writeln!(
            main,
            "<p class=\"done\" role=\"status\"><strong>{}</strong> {}</p>",
            lang.pick("Hämtningen är klar.", "The fetch is done."),
            lang.pick(
                "Kortet har nu ett underskriftscertifikat.",
                "The card now has a signing certificate."
            ),
        );
    }
    let org = person
        .organisation
        .as_ref()
        .map(|o| format!(", {}", escape(&o.name)))
        .unwrap_or_default();
    let _ = writeln!(
        main,
        "<p class=\"who\">{} <strong>{}</strong>{org}</p>",
        lang.pick("Inloggad som", "Logged in as"),
        escape(&person.name),
    );
    let _ = writeln!(
        main,
        "<section aria-labelledby=\"eids-title\">\n<h2 id=\"eids-title\">{}</h2>",
        lang.pick("Dina eID", "Your eIDs")
    );
    if page.cards.cards.is_empty() {
        let _ = writeln!(
            main,
            "<p>{}</p>",
            lang.pick("Du har inga eID-kort.", "You have no eID cards.")
        );
    } else {
        let _ = writeln!(
            main,
            "<p class=\"help\">{}</p>",
            lang.pick(
                "Välj ett kort för att se dess uppgifter och certifikat.",
                "Choose a card to see its details and certificates."
            )
        );
    }
    for c in &page.cards.cards {
        main.push_str(&card(c, page));
    }
    let _ = writeln!(
        main,
        "<p class=\"more\"><a href=\"/mypages/certificates\">{}</a> – {}</p>",
        lang.pick("Lista certifikat", "List of certificates"),
        lang.pick(
            "alla certifikat på dina kort, och spärra ett underskriftscertifikat",
            "every certificate on your cards, and revoke a signing certificate"
        ),
    );
    main.push_str("</section>\n");
    main.push_str(&policy(lang));
    shell(
        page.product,
        lang,
        lang.pick("Mina sidor", "My Pages"),
        Some(page.csrf),
        &main,
    )
}

/// What the fetch's waiting page shows.
pub(crate) struct Waiting<'a> {
    pub(crate) product: &'a str,
    pub(crate) lang: Lang,
    pub(crate) card_number: &'a str,
    /// A two-PIN card asks for PIN2 first; a 7XX card for PIN1 (it has no PIN2).
    pub(crate) two_pin: bool,
    /// The launch link of the eID app.
    pub(crate) launch: &'a str,
    pub(crate) order_ref: &'a str,
    /// The order flow's CSRF token for `/orders/collect` and `/orders/cancel`.
    pub(crate) csrf: &'a str,
}

/// The fetch's waiting page: which codes the card will ask for, *Ta inte ut kortet*, the
/// launch link, and the order's state (the waiting pages' `/static/order.js` polls it, in
/// the words of `/static/mypages.js`).
pub(crate) fn waiting(w: &Waiting<'_>) -> String {
    let lang = w.lang;
    let codes = match (w.two_pin, lang) {
        (true, Lang::Sv) => {
            "I eID-appen anger du först din underskriftskod (PIN2) från \
                             PIN-brevet, och sedan din säkerhetskod (PIN1)."
        }
        (true, Lang::En) => {
            "In the eID app you first enter your signing code (PIN2) from the \
                             PIN letter, then your security code (PIN1)."
        }
        (false, Lang::Sv) => {
            "Ditt kort har ingen underskriftskod: i eID-appen anger du din \
                              säkerhetskod (PIN1), den kod du valde när kortet aktiverades."
        }
        (false, Lang::En) => {
            "Your card has no signing code: in the eID app you enter your \
                              security code (PIN1), the code you chose when the card was \
                              activated."
        }
    };
    let main = format!(
        "<h1>{title}</h1>\n<p>{card_text} <strong>{card}</strong></p>\n<p>{codes}</p>\n\
         <p class=\"notice\">{keep}</p>\n\
         <p><a id=\"launch\" class=\"button primary\" href=\"{launch}\">{start}</a></p>\n\
         <p id=\"status\" role=\"status\" data-order-ref=\"{order_ref}\" data-csrf=\"{csrf}\">{waiting}</p>\n\
         <p><button id=\"cancel\" type=\"button\">{cancel}</button> \
         <a href=\"/mypages\">{back}</a></p>",
        title = lang.pick("Hämta underskriftscertifikat", "Fetch signing certificate"),
        card_text = lang.pick("Kort", "Card"),
        card = escape(w.card_number),
        keep = lang.pick(
            "Ta inte ut kortet ur kortläsaren medan hämtningen pågår.",
            "Do not remove the card from the reader during the fetch."
        ),
        launch = escape(w.launch),
        start = lang.pick("Starta eID-appen", "Start the eID app"),
        order_ref = escape(w.order_ref),
        csrf = escape(w.csrf),
        waiting = lang.pick("Väntar på eID-appen …", "Waiting for the eID app …"),
        cancel = lang.pick("Avbryt", "Cancel"),
        back = lang.pick("Till Mina sidor", "To My Pages"),
    );
    let html = shell(
        w.product,
        lang,
        lang.pick("Hämta underskriftscertifikat", "Fetch signing certificate"),
        None,
        &main,
    );
    html.replacen(
        "</head>",
        "<script src=\"/static/order.js\" defer></script>\n\
         <script src=\"/static/mypages.js\" defer></script>\n</head>",
        1,
    )
}

fn date_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// Why a certificate was revoked, in the card holder's words.
fn reason_text(reason: RevocationReason, lang: Lang) -> &'static str {
    match reason {
        RevocationReason::Unspecified => lang.pick("ingen orsak angiven", "no reason given"),
        RevocationReason::KeyCompromise => lang.pick(
            "kortet eller koden kan ha kommit i orätta händer",
            "the card or its code may have fallen into the wrong hands",
        ),
        RevocationReason::AffiliationChanged => lang.pick(
            "uppgifterna i certifikatet stämmer inte längre",
            "the details in the certificate are no longer correct",
        ),
        RevocationReason::Superseded => lang.pick(
            "ersatt av ett nytt certifikat",
            "replaced by a new certificate",
        ),
        RevocationReason::CessationOfOperation => {
            lang.pick("behövs inte längre", "no longer needed")
        }
        RevocationReason::PrivilegeWithdrawn => lang.pick(
            "behörigheten har dragits in",
            "the entitlement was withdrawn",
        ),
    }
}

/// A stored certificate's status at `now` in words, with its CSS class.
fn record_status(
    cert: &CertificateRecord,
    now: OffsetDateTime,
    lang: Lang,
) -> (&'static str, String) {
    match cert.status {
        CertStatus::Revoked { at, reason } => (
            "revoked",
            format!(
                "{} {} ({})",
                lang.pick("Spärrat", "Revoked"),
                date_time(at),
                reason_text(reason, lang)
            ),
        ),
        CertStatus::Valid if now < cert.not_before => (
            "not-yet-valid",
            lang.pick("Ännu inte giltigt", "Not yet valid").to_owned(),
        ),
        CertStatus::Valid if now >= cert.not_after => {
            ("expired", lang.pick("Utgånget", "Expired").to_owned())
        }
        CertStatus::Valid => ("valid", lang.pick("Giltigt", "Valid").to_owned()),
    }
}

/// What *Lista certifikat* shows.
pub(crate) struct CertificateList<'a> {
    pub(crate) product: &'a str,
    pub(crate) lang: Lang,
    pub(crate) person: &'a PersonView,
    /// The certificates of the person's cards.
    pub(crate) certificates: &'a [CertificateRecord],
    pub(crate) csrf: &'a str,
    /// The serial just revoked: *Certifikatet är spärrat*.
    pub(crate) revoked: Option<&'a str>,
    pub(crate) now: OffsetDateTime,
}

/// *Lista certifikat*: every certificate of the person's cards with its status, serial,
/// validity and card; *Spärra* under the status of each signing certificate in force.
pub(crate) fn certificate_list(list: &CertificateList<'_>) -> String {
    let lang = list.lang;
    let mut main = format!(
        "<h1>{}</h1>\n",
        lang.pick("Lista certifikat", "List of certificates")
    );
    if let Some(serial) = list.revoked {
        let _ = writeln!(
            main,
            "<p class=\"done\" role=\"status\"><strong>{}</strong> {} <span class=\"serial\">{}</span></p>",
            lang.pick("Certifikatet är spärrat.", "The certificate is revoked."),
            lang.pick("Serienummer", "Serial number"),
            escape(serial),
        );
    }
    let _ = writeln!(
        main,
        "<p class=\"who\">{} <strong>{}</strong></p>\n<p class=\"help\">{}</p>\n<p class=\"help\">{}</p>",
        lang.pick("Inloggad som", "Logged in as"),
        escape(&list.person.name),
        lang.pick(
            "Du kan själv spärra dina underskriftscertifikat, till exempel om du har tappat \
             kortet. Ett spärrat certifikat kan inte användas igen.",
            "You can revoke your signing certificates yourself, for instance if you have \
             lost the card. A revoked certificate cannot be used again."
        ),
        lang.pick(
            "Legitimeringscertifikatet spärrar du inte själv: det gör din ID-administratör. \
             Kontakta din ID-administratör om kortet är borttappat eller stulet.",
            "You do not revoke the authentication certificate yourself: your ID \
             administrator does. Contact your ID administrator if the card is lost or stolen."
        ),
    );
    if list.certificates.is_empty() {
        let _ = writeln!(
            main,
            "<p>{}</p>",
            lang.pick("Du har inga certifikat.", "You have no certificates.")
        );
    } else {
        // Card by card (the records come so), each card a table of its own.
        let mut card: Option<&str> = None;
        for cert in list.certificates {
            let number = cert.card_number.as_deref().unwrap_or("–");
            if card != Some(number) {
                if card.is_some() {
                    main.push_str("</tbody>\n</table>\n</section>\n");
                }
                card = Some(number);
                let _ = write!(
                    main,
                    "<section class=\"card-certs\" id=\"certs-{number}\">\n<h2>{card} {number}</h2>\n\
                     <table class=\"certs all\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
                     <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
                    lang.pick("Certifikat", "Certificate"),
                    lang.pick("Status", "Status"),
                    lang.pick("Giltighet", "Validity"),
                    lang.pick("Serienummer", "Serial number"),
                    card = lang.pick("Kort", "Card"),
                    number = escape(number),
                );
            }
            let (class, status) = record_status(cert, list.now, lang);
            let serial = cert.serial.to_string();
            let action = match (cert.kind, class) {
                (CertKind::Signing, "valid") => format!(
                    "<form class=\"revoke\" method=\"post\" action=\"/mypages/certificates/revoke\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <input type=\"hidden\" name=\"serial\" value=\"{}\">\
                     <button type=\"submit\">{}</button></form>",
                    escape(list.csrf),
                    escape(&serial),
                    lang.pick("Spärra", "Revoke"),
                ),
                (CertKind::Authentication, "valid") => format!(
                    "<br><span class=\"hint\">{}</span>",
                    lang.pick(
                        "Spärras av ID-administratören",
                        "Revoked by the ID administrator",
                    )
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                main,
                "<tr class=\"cert {kind}\" id=\"cert-{serial}\"><th scope=\"row\">{name}</th>\
                 <td class=\"status {class}\">{status}{action}</td><td>{from} – {until}</td>\
                 <td class=\"serial\">{serial}</td></tr>",
                kind = match cert.kind {
                    CertKind::Authentication => "authentication",
                    CertKind::Signing => "signing",
                    CertKind::Attestation => "attestation",
                },
                name = cert_kind_text(cert.kind, lang),
                status = escape(&status),
                from = date(cert.not_before),
                until = date(cert.not_after),
                serial = escape(&serial),
            );
        }
        main.push_str("</tbody>\n</table>\n</section>\n");
    }
    let _ = writeln!(
        main,
        "<p><a href=\"/mypages\">{}</a></p>",
        lang.pick("Till Mina sidor", "To My Pages")
    );
    shell(
        list.product,
        lang,
        lang.pick("Lista certifikat", "List of certificates"),
        Some(list.csrf),
        &main,
    )
}

/// What the confirmation of *Spärra certifikat* shows.
pub(crate) struct RevokeConfirmation<'a> {
    pub(crate) product: &'a str,
    pub(crate) lang: Lang,
    /// The signing certificate to revoke.
    pub(crate) certificate: &'a CertificateRecord,
    pub(crate) csrf: &'a str,
}

/// *Spärra certifikat*: which certificate, that it is final, the reasons to choose from
/// (one is required), *Spärra certifikatet* and *Avbryt*.
pub(crate) fn revoke_confirmation(c: &RevokeConfirmation<'_>) -> String {
    let lang = c.lang;
    let cert = c.certificate;
    let mut reasons = String::new();
    for (i, (value, sv, en)) in [
        (
            "lost",
            "Jag har tappat kortet, eller kortet är stulet",
            "I have lost the card, or it was stolen",
        ),
        (
            "code-known",
            "Någon annan kan känna till min underskriftskod",
            "Someone else may know my signing code",
        ),
        (
            "not-needed",
            "Jag behöver det inte längre",
            "I no longer need it",
        ),
        (
            "details-wrong",
            "Uppgifterna i certifikatet stämmer inte",
            "The details in the certificate are not correct",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = writeln!(
            reasons,
            "<label><input type=\"radio\" name=\"reason\" id=\"reason-{value}\" \
             value=\"{value}\"{required}> {text}</label>",
            required = if i == 0 { " required" } else { "" },
            text = lang.pick(sv, en),
        );
    }
    let main = format!(
        "<h1>{title}</h1>\n<dl>\n<dt>{kind_term}</dt><dd>{kind}</dd>\n<dt>{card_term}</dt><dd>{card}</dd>\n\
         <dt>{serial_term}</dt><dd class=\"serial\">{serial}</dd>\n<dt>{validity_term}</dt><dd>{from} – {until}</dd>\n</dl>\n\
         <p class=\"notice\">{final_text}</p>\n\
         <form class=\"revoke\" method=\"post\" action=\"/mypages/certificates/revoke\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"serial\" value=\"{serial}\">\n\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\">\n\
         <fieldset class=\"choice\">\n<legend>{why}</legend>\n{reasons}</fieldset>\n\
         <p><button type=\"submit\" class=\"primary\">{button}</button> <a href=\"/mypages/certificates\">{cancel}</a></p>\n\
         </form>",
        title = lang.pick("Spärra certifikat", "Revoke certificate"),
        kind_term = lang.pick("Certifikat", "Certificate"),
        kind = cert_kind_text(cert.kind, lang),
        card_term = lang.pick("Kort", "Card"),
        card = escape(cert.card_number.as_deref().unwrap_or("–")),
        serial_term = lang.pick("Serienummer", "Serial number"),
        serial = escape(&cert.serial.to_string()),
        validity_term = lang.pick("Giltighet", "Validity"),
        from = date(cert.not_before),
        until = date(cert.not_after),
        final_text = lang.pick(
            "Spärren går inte att ångra. Du kan inte skriva under med certifikatet efter \
             spärren, men du kan hämta ett nytt underskriftscertifikat till kortet.",
            "The revocation cannot be undone. You cannot sign with the certificate after \
             it, but you can fetch a new signing certificate onto the card."
        ),
        csrf = escape(c.csrf),
        why = lang.pick(
            "Varför spärrar du certifikatet?",
            "Why do you revoke the certificate?"
        ),
        button = lang.pick("Spärra certifikatet", "Revoke the certificate"),
        cancel = lang.pick("Avbryt", "Cancel"),
    );
    shell(
        c.product,
        lang,
        lang.pick("Spärra certifikat", "Revoke certificate"),
        Some(c.csrf),
        &main,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use eid_portal::FetchRefusal;
    use eid_portal::api::{OrganisationView, SigningFetchView};
    use eid_store::SigningPolicy;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    fn person(name: &str) -> PersonView {
        PersonView {
            hsa_id: "SE2321000016-A1B2".into(),
            given_name: name.into(),
            surname: "Andersson".into(),
            name: format!("{name} Andersson"),
            organisation: Some(OrganisationView {
                number: "2321000016".into(),
                name: "Region <Exempel>".into(),
                signing_policy: SigningPolicy::SelfService,
            }),
            signing_entitled: true,
        }
    }

    fn card(number: &str, logged_in: bool, reason: Option<FetchRefusal>) -> CardView {
        CardView {
            card_number: number.into(),
            product_number: "710".into(),
            kind: CardKind::OnePin,
            state: CardState::Active,
            logged_in,
            valid_from: Some(NOW),
            valid_until: Some(NOW + time::Duration::days(730)),
            certificates: vec![CertificateView {
                kind: CertKind::Authentication,
                serial: "0A".into(),
                status: CertificateStatus::Valid,
                not_before: NOW,
                not_after: NOW + time::Duration::days(730),
                revoked_at: None,
            }],
            signing_certificate_fetch: SigningFetchView {
                allowed: reason.is_none(),
                reason,
            },
        }
    }

    fn render(lang: Lang, name: &str, cards: Vec<CardView>) -> String {
        let person = person(name);
        let cards = CardsView {
            logged_in_card: Some("9752000001".into()),
            cards,
        };
        logged_in(&StartPage {
            product: "eID <b>",
            lang,
            person: &person,
            cards: &cards,
            csrf: "tok\"en",
            fetched: None,
        })
    }

    #[test]
    fn every_value_is_escaped() {
        let html = render(Lang::Sv, "<script>alert(1)</script>", vec![]);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Andersson"));
        assert!(html.contains("Region &lt;Exempel&gt;"));
        assert!(html.contains("eID &lt;b&gt;"));
        assert!(html.contains("value=\"tok&quot;en\""));
        assert!(html.contains("Du har inga eID-kort."));
    }

    #[test]
    fn the_login_card_has_the_form_and_the_others_their_reason() {
        let html = render(
            Lang::Sv,
            "Anna",
            vec![
                card("9752000001", true, None),
                card(
                    "9752000002",
                    false,
                    Some(FetchRefusal::LoggedInWithAnotherCard),
                ),
            ],
        );
        assert_eq!(html.matches("<details class=\"eid").count(), 2);
        assert_eq!(html.matches("action=\"/mypages/fetch\"").count(), 1);
        assert_eq!(html.matches("Du är inloggad med detta kort").count(), 1);
        assert!(html.contains("<details class=\"eid current\" id=\"card-9752000001\">"));
        assert!(
            html.contains("säkerhetskod (PIN1), den kod du valde"),
            "7XX: PIN1"
        );
        assert!(html.contains("Du är inloggad med ett annat kort"));
        assert!(html.contains("Inget på kortet"));
        assert!(html.contains("2026-03-01 – 2028-02-29"));
        assert!(html.contains("<html lang=\"sv\">"));
        assert!(html.contains("action=\"/mypages/logout\""));
    }

    #[test]
    fn after_a_fetch_the_card_is_open_with_the_notice() {
        let person = person("Anna");
        let cards = CardsView {
            logged_in_card: Some("9752000001".into()),
            cards: vec![card(
                "9752000001",
                true,
                Some(FetchRefusal::AlreadyHasSigningCertificate),
            )],
        };
        let html = logged_in(&StartPage {
            product: "eID",
            lang: Lang::Sv,
            person: &person,
            cards: &cards,
            csrf: "t",
            fetched: Some("9752000001"),
        });
        assert!(html.contains("id=\"card-9752000001\" open>"));
        assert!(html.contains("Hämtningen är klar."));
        assert!(html.contains("Kortet har redan ett giltigt underskriftscertifikat."));
    }

    #[test]
    fn the_waiting_page_says_which_code_and_to_keep_the_card_in() {
        for (two_pin, code) in [
            (true, "underskriftskod (PIN2)"),
            (false, "ingen underskriftskod"),
        ] {
            let html = waiting(&Waiting {
                product: "eID",
                lang: Lang::Sv,
                card_number: "9752000001",
                two_pin,
                launch: "eid:///?autostarttoken=a&b",
                order_ref: "o",
                csrf: "c",
            });
            assert!(html.contains(code), "{code}");
            assert!(html.contains("Ta inte ut kortet ur kortläsaren medan hämtningen pågår."));
            assert!(html.contains("href=\"eid:///?autostarttoken=a&amp;b\""));
            assert!(html.contains(
                "<script src=\"/static/order.js\" defer></script>\n\
                 <script src=\"/static/mypages.js\" defer></script>\n</head>"
            ));
        }
    }

    fn record(serial: u8, kind: CertKind, status: CertStatus) -> CertificateRecord {
        CertificateRecord {
            serial: eid_store::Serial::from_be_bytes(&[serial]).unwrap(),
            kind,
            card_number: Some("9752000001".into()),
            hsa_id: Some("SE2321000016-A1B2".into()),
            status,
            der: vec![],
            not_before: NOW,
            not_after: NOW + time::Duration::days(730),
            public_key_sha256: [serial; 32],
            issued_at: NOW,
        }
    }

    #[test]
    fn the_certificate_list_says_why_and_offers_revoke_for_valid_signing_only() {
        let person = person("Anna");
        let revoked = CertStatus::Revoked {
            at: NOW + time::Duration::hours(1),
            reason: RevocationReason::Superseded,
        };
        let certificates = [
            record(0x0A, CertKind::Authentication, CertStatus::Valid),
            record(0x0B, CertKind::Signing, revoked),
            record(0x0C, CertKind::Signing, CertStatus::Valid),
        ];
        let list = |lang| {
            certificate_list(&CertificateList {
                product: "eID",
                lang,
                person: &person,
                certificates: &certificates,
                csrf: "t<",
                revoked: Some("0B<"),
                now: NOW + time::Duration::days(1),
            })
        };
        let sv = list(Lang::Sv);
        assert_eq!(
            sv.matches("action=\"/mypages/certificates/revoke\"")
                .count(),
            1
        );
        assert!(sv.contains("name=\"serial\" value=\"0C\""));
        assert!(sv.contains("Spärrat 2026-03-01 09:00 UTC (ersatt av ett nytt certifikat)"));
        assert!(sv.contains("Spärras av ID-administratören"));
        assert!(sv.contains("Certifikatet är spärrat.") && sv.contains("0B&lt;"));
        assert!(sv.contains("value=\"t&lt;\""));
        let en = list(Lang::En);
        assert!(en.contains("Revoked 2026-03-01 09:00 UTC (replaced by a new certificate)"));
        assert!(!en.contains("Spärra"));
        let confirm = revoke_confirmation(&RevokeConfirmation {
            product: "eID",
            lang: Lang::Sv,
            certificate: &certificates[2],
            csrf: "t",
        });
        assert_eq!(confirm.matches("type=\"radio\" name=\"reason\"").count(), 4);
        assert!(confirm.contains("Spärren går inte att ångra."));
    }

    #[test]
    fn english_is_english() {
        let html = render(Lang::En, "Anna", vec![card("9752000001", true, None)]);
        assert!(html.contains("<html lang=\"en\">"));
        for word in [
            "My Pages",
            "Your eIDs",
            "Fetch signing certificate",
            "Log out",
            "På svenska",
        ] {
            assert!(html.contains(word), "{word}");
        }
        assert!(!html.contains("Hämta underskriftscertifikat"));
        let out = logged_out("eID", Lang::En, Some(Note::Expired));
        assert!(out.contains("LOG IN") && out.contains("Your login has expired"));
        assert!(
            !out.contains("/mypages/logout"),
            "no logout without a session"
        );
    }
}
