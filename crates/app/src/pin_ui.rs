//! PIN services in the app, so a blocked code is never a dead end (issue 5 item 6): change
//! PIN1 (*säkerhetskod*) or PIN2 (*underskriftskod*); on a two-PIN card, unblock either with
//! the PUK from the PIN letter; on a one-PIN card (7XX) the PUK is with the ID administrator,
//! so the page says to contact them (`eid admin card unblock`).
//!
//! Everything happens between this page and the card: no server is involved and no code
//! leaves the card's commands. The forms carry a per-process CSRF token (besides the
//! capability path, the Host allowlist and the Origin check of every request).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use eid_card::{CardError, CardKind, LifeCycle, Pin, PinRef, TransportError};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::pages::{self, Lang, escape};
use crate::{Inner, html};

fn t(l: Lang, sv: &'static str, en: &'static str) -> &'static str {
    match l {
        Lang::Sv => sv,
        Lang::En => en,
    }
}

/// The link to the PIN services, for pages that tell of a blocked code.
pub(crate) fn link(cap: &str, l: Lang) -> String {
    format!(
        "<p class=\"more\"><a id=\"pin-services\" href=\"/{}/pin?lang={}\">{}</a></p>",
        escape(cap),
        match l {
            Lang::Sv => "sv",
            Lang::En => "en",
        },
        t(
            l,
            "Byt PIN-kod / Lås upp med PUK",
            "Change PIN / Unblock with PUK"
        )
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinQuery {
    lang: Option<String>,
}

/// `GET /<cap>/pin`: the PIN services of the active card.
pub(crate) async fn page(State(state): State<Arc<Inner>>, Query(q): Query<PinQuery>) -> Response {
    let l = Lang::parse(q.lang.as_deref());
    html(StatusCode::OK, render(&state, l, None))
}

/// What a PIN service did: done, or why not (the words for the holder).
type Outcome = Result<&'static str, String>;

fn render(state: &Inner, l: Lang, outcome: Option<&Outcome>) -> String {
    let cap = escape(&state.capability);
    let csrf = escape(&state.pin_csrf);
    let lang = match l {
        Lang::Sv => "sv",
        Lang::En => "en",
    };
    let hidden = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"lang\" value=\"{lang}\">"
    );
    let mut body = format!(
        "<h2>{}</h2>\n",
        t(
            l,
            "Byt PIN-kod / Lås upp med PUK",
            "Change PIN / Unblock with PUK"
        )
    );
    if let Some(outcome) = outcome {
        let (class, text) = match outcome {
            Ok(done) => ("done", *done),
            Err(why) => ("problem", why.as_str()),
        };
        body.push_str(&format!(
            "<p id=\"notice\" class=\"{class}\" role=\"alert\">{}</p>\n",
            escape(text)
        ));
    }
    let card = state.open();
    let info = card.as_ref().ok().and_then(|c| c.info().ok());
    let Some((card, info)) = card.ok().zip(info) else {
        body.push_str(&format!(
            "<p id=\"card\">{}</p>",
            t(
                l,
                "Kortet saknas. Sätt i kortet och försök igen.",
                "The card is missing. Insert the card and try again."
            )
        ));
        return pages::page(&state.capability, l, &body);
    };
    body.push_str(&format!(
        "<p id=\"card\">{} {}</p>\n",
        t(l, "Kort:", "Card:"),
        escape(&info.card_number)
    ));
    let tries = |pin: PinRef| {
        card.pin_status(pin)
            .map(|s| {
                format!(
                    " ({} {})",
                    t(l, "försök kvar:", "tries left:"),
                    s.tries_left
                )
            })
            .unwrap_or_default()
    };
    let field = |name: &str, label: &str| {
        format!(
            "<p><label>{label} <input type=\"password\" name=\"{name}\" autocomplete=\"off\" inputmode=\"numeric\"></label></p>"
        )
    };
    let change = |pin: &str, title: String| {
        format!(
            "<h3>{title}</h3><form method=\"post\" action=\"/{cap}/pin/change\">{hidden}\
<input type=\"hidden\" name=\"which\" value=\"{pin}\">{}{}{}<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
            field("old", t(l, "Nuvarande kod", "Current code")),
            field("new", t(l, "Ny kod (6–8 siffror)", "New code (6–8 digits)")),
            field("again", t(l, "Ny kod igen", "New code again")),
            t(l, "Byt kod", "Change code"),
        )
    };
    if info.life_cycle == LifeCycle::NotActivated {
        body.push_str(&format!(
            "<p>{}</p>",
            t(
                l,
                "Kortet är inte aktiverat. Aktivera det med transportkoden när du legitimerar dig första gången.",
                "The card is not activated. Activate it with the transport code the first time you authenticate."
            )
        ));
        return pages::page(&state.capability, l, &body);
    }
    body.push_str(&change(
        "pin1",
        format!(
            "{}{}",
            t(l, "Byt säkerhetskod (PIN1)", "Change security code (PIN1)"),
            tries(PinRef::Pin1)
        ),
    ));
    match info.kind {
        CardKind::TwoPin => {
            body.push_str(&change(
                "pin2",
                format!("{}{}", t(l, "Byt underskriftskod (PIN2)", "Change signing code (PIN2)"), tries(PinRef::Pin2)),
            ));
            body.push_str(&format!(
                "<h3>{}{}</h3><form method=\"post\" action=\"/{cap}/pin/unblock\">{hidden}\
<p><label>{} <select name=\"which\"><option value=\"pin1\">{}</option><option value=\"pin2\">{}</option></select></label></p>\
{}{}{}<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
                t(l, "Lås upp med PUK", "Unblock with PUK"),
                tries(PinRef::Puk),
                t(l, "Kod att låsa upp", "Code to unblock"),
                t(l, "Säkerhetskod (PIN1)", "Security code (PIN1)"),
                t(l, "Underskriftskod (PIN2)", "Signing code (PIN2)"),
                field("puk", t(l, "PUK-kod från PIN-brevet", "PUK from the PIN letter")),
                field("new", t(l, "Ny kod (6–8 siffror)", "New code (6–8 digits)")),
                field("again", t(l, "Ny kod igen", "New code again")),
                t(l, "Lås upp", "Unblock"),
            ));
        }
        CardKind::OnePin => body.push_str(&format!(
            "<p id=\"contact-admin\">{}</p>",
            t(
                l,
                "Ditt kort har ingen PUK-kod hos dig: om säkerhetskoden är spärrad, kontakta din ID-administratör, som låser upp kortet. Du väljer sedan en ny säkerhetskod.",
                "Your card's PUK is not with you: if the security code is blocked, contact your ID administrator, who unblocks the card. You then choose a new security code."
            )
        )),
    }
    pages::page(&state.capability, l, &body)
}

/// A posted PIN form; the codes in zeroizing buffers.
#[derive(Debug, Default)]
struct PinForm {
    csrf: String,
    lang: Option<String>,
    which: String,
    old: Zeroizing<String>,
    puk: Zeroizing<String>,
    new: Zeroizing<String>,
    again: Zeroizing<String>,
}

impl PinForm {
    fn parse(body: &Bytes) -> Self {
        let mut f = Self::default();
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "csrf" => f.csrf = v.into_owned(),
                "lang" => f.lang = Some(v.into_owned()),
                "which" => f.which = v.into_owned(),
                "old" => f.old = Zeroizing::new(v.into_owned()),
                "puk" => f.puk = Zeroizing::new(v.into_owned()),
                "new" => f.new = Zeroizing::new(v.into_owned()),
                "again" => f.again = Zeroizing::new(v.into_owned()),
                _ => {}
            }
        }
        f
    }
}

fn checked(state: &Inner, form: &PinForm) -> Result<(Lang, PinRef), Box<Response>> {
    let ok = aws_lc_rs::constant_time::verify_slices_are_equal(
        state.pin_csrf.as_bytes(),
        form.csrf.as_bytes(),
    )
    .is_ok();
    if !ok {
        return Err(Box::new(html(
            StatusCode::FORBIDDEN,
            pages::message(&state.capability, Lang::Sv, pages::Notice::StaleForm),
        )));
    }
    let pin = match form.which.as_str() {
        "pin1" => PinRef::Pin1,
        "pin2" => PinRef::Pin2,
        _ => {
            return Err(Box::new(html(
                StatusCode::BAD_REQUEST,
                pages::message(&state.capability, Lang::Sv, pages::Notice::StaleForm),
            )));
        }
    };
    Ok((Lang::parse(form.lang.as_deref()), pin))
}

fn outcome(state: &Inner, l: Lang, result: Outcome) -> Response {
    html(StatusCode::OK, render(state, l, Some(&result)))
}

fn card_error(l: Lang, e: CardError, puk: bool) -> String {
    match e {
        CardError::WrongPin { tries_left } if tries_left > 0 => format!(
            "{} {tries_left}",
            t(l, "Fel nuvarande kod. Försök kvar:", "Wrong current code. Tries left:")
        ),
        CardError::WrongPuk { tries_left } => format!(
            "{} {tries_left}",
            t(l, "Fel PUK-kod. Försök kvar:", "Wrong PUK. Tries left:")
        ),
        CardError::WrongPin { .. } | CardError::PinBlocked if !puk => t(
            l,
            "Koden är spärrad. Lås upp den med PUK-koden (eller kontakta din ID-administratör om kortet är ett 7XX-kort).",
            "The code is blocked. Unblock it with the PUK (or contact your ID administrator for a 7XX card).",
        )
        .into(),
        CardError::PinBlocked | CardError::CardDead => t(
            l,
            "Kortet kan inte längre användas. Kontakta din ID-administratör för ett nytt kort.",
            "The card can no longer be used. Contact your ID administrator for a new card.",
        )
        .into(),
        CardError::BadPinFormat => t(
            l,
            "En PIN-kod har 6 till 8 siffror och PUK-koden 8 siffror.",
            "A PIN has 6 to 8 digits and the PUK 8 digits.",
        )
        .into(),
        CardError::CardRemoved => t(
            l,
            "Kortet saknas. Sätt i kortet och försök igen.",
            "The card is missing. Insert the card and try again.",
        )
        .into(),
        CardError::NotFound => t(l, "Kortet har ingen sådan kod.", "The card has no such code.").into(),
        CardError::Transport(TransportError::Busy) => t(
            l,
            "Kortet används av ett annat program. Försök igen om en stund.",
            "Another program is using the card. Try again in a moment.",
        )
        .into(),
        other => {
            tracing::warn!(error = %other, "a PIN service failed");
            t(l, "Kortet svarade inte som väntat. Försök igen.", "The card did not answer as expected. Try again.").into()
        }
    }
}

fn codes_differ(l: Lang) -> String {
    t(
        l,
        "De två nya koderna är olika.",
        "The two new codes differ.",
    )
    .into()
}

/// `POST /<cap>/pin/change`: a new PIN1 or PIN2 with the current one.
pub(crate) async fn change(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = PinForm::parse(&body);
    let (l, which) = match checked(&state, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if form.new != form.again {
        return outcome(&state, l, Err(codes_differ(l)));
    }
    let result = state.open().and_then(|card| {
        if card.info()?.life_cycle == LifeCycle::NotActivated {
            return Err(CardError::NotActivated);
        }
        card.change_pin(
            which,
            &Pin::new(form.old.clone()),
            &Pin::new(form.new.clone()),
        )
    });
    let done = match which {
        PinRef::Pin2 => t(
            l,
            "Underskriftskoden är bytt.",
            "The signing code is changed.",
        ),
        _ => t(
            l,
            "Säkerhetskoden är bytt.",
            "The security code is changed.",
        ),
    };
    outcome(
        &state,
        l,
        result.map(|()| done).map_err(|e| card_error(l, e, false)),
    )
}

/// `POST /<cap>/pin/unblock`: a new PIN1 or PIN2 with the PUK (two-PIN cards).
pub(crate) async fn unblock(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = PinForm::parse(&body);
    let (l, which) = match checked(&state, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if form.new != form.again {
        return outcome(&state, l, Err(codes_differ(l)));
    }
    let result = state.open().and_then(|card| {
        if card.info()?.kind == CardKind::OnePin {
            // The PUK of a 7XX card is with the ID administrator.
            return Err(CardError::Unsupported("unblock a one-PIN card here"));
        }
        card.unblock_pin(
            which,
            &Pin::new(form.puk.clone()),
            &Pin::new(form.new.clone()),
        )
    });
    let result = match result {
        Err(CardError::Unsupported(_)) => Err(t(
            l,
            "Kontakta din ID-administratör för att låsa upp kortet.",
            "Contact your ID administrator to unblock the card.",
        )
        .to_owned()),
        other => other.map_err(|e| card_error(l, e, true)),
    };
    let done = t(
        l,
        "Koden är upplåst och bytt.",
        "The code is unblocked and changed.",
    );
    outcome(&state, l, result.map(|()| done))
}
