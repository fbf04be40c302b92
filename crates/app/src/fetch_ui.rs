//! The loopback dialog of a signing-certificate fetch (seed procedure steps 5–7): the
//! signing-code form, *Hämtningen startar* with the PIN1 form, and the end (*Hämtningen är
//! klar*, then back to the web page), with a retry of the card write when the card was
//! taken out after the certificate was issued. The steps themselves are in [`crate::fetch`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use eid_card::{CardError, CardKind, Pin, TransportError};
use eid_protocol::{HintCode, OrderKind};

use crate::fetch::{self, FetchError, Link};
use crate::pages::{self, Lang, Notice, escape};
use crate::remote::RemoteError;
use crate::{CardView, Form, Inner, Launch, checked, html};

/// Where a fetch is, as the app remembers it for a launch (public data only).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// Step 1 done: the key, its request and attestation.
    pub key: Option<fetch::PreparedKey>,
    /// Step 2 done: the certificate from the server.
    pub issued: Option<fetch::IssuedCertificate>,
}

/// Which form a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Code,
    Approve,
    Deliver,
}

/// What a fetch page has to say.
#[derive(Debug, Clone)]
enum Say {
    Notice(Notice),
    WrongCode(Option<CardKind>, u8),
    WrongPin1(u8),
    Blocked2,
    IssuedNotWritten,
    InProgress,
    Refused(String),
    RefusedFor(&'static str),
    NotForKey,
    CardCannot,
}

impl Say {
    fn text(&self, l: Lang) -> String {
        match self {
            Self::Notice(n) => pages::notice_text(*n, l),
            Self::WrongCode(Some(CardKind::OnePin), n) | Self::WrongPin1(n) => format!(
                "{} {n}",
                t(l, "Fel säkerhetskod. Försök kvar:", "Wrong security code. Tries left:")
            ),
            Self::WrongCode(_, n) => format!(
                "{} {n}",
                t(l, "Fel underskriftskod. Försök kvar:", "Wrong signing code. Tries left:")
            ),
            Self::Blocked2 => t(
                l,
                "Underskriftskoden är spärrad efter för många felaktiga försök. Lås upp den med PUK-koden från ditt PIN-brev och försök sedan igen.",
                "The signing code is blocked after too many wrong tries. Unblock it with the PUK from your PIN letter, then try again.",
            )
            .into(),
            Self::IssuedNotWritten => t(
                l,
                "Certifikatet är utfärdat men ännu inte skrivet till kortet. Sätt i kortet och välj Försök igen. Inget går förlorat: du kan också börja om från Mina sidor.",
                "The certificate is issued but not yet written to the card. Insert the card and choose Try again. Nothing is lost: you can also start again from My Pages.",
            )
            .into(),
            Self::InProgress => t(
                l,
                "En annan hämtning pågår redan för det här kortet. Vänta tills den är klar eller avbruten och försök sedan igen.",
                "Another fetch is already in progress for this card. Wait until it is done or cancelled, then try again.",
            )
            .into(),
            Self::Refused(details) => format!(
                "{} {details}",
                t(l, "Hämtningen kunde inte göras:", "The fetch could not be done:")
            ),
            Self::RefusedFor(reason) => format!(
                "{} {}",
                t(l, "Inget certifikat utfärdades:", "No certificate was issued:"),
                reason_text(reason, l)
            ),
            Self::CardCannot => t(
                l,
                "Det här kortet kan inte ta emot ett underskriftscertifikat: kortet eller dess programvara saknar en funktion som behövs. Avbryt och kontakta din ID-administratör.",
                "This card cannot take a signing certificate: the card or its software lacks a function that is needed. Cancel and contact your ID administrator.",
            )
            .into(),
            Self::NotForKey => t(
                l,
                "Certifikatet från servern gäller inte nyckeln på kortet och skrevs inte. Börja om från Mina sidor.",
                "The certificate from the server is not for the key on the card and was not written. Start again from My Pages.",
            )
            .into(),
        }
    }
}

/// The refusal reasons the app has words for (others get the generic text).
const KNOWN_REASONS: [&str; 10] = [
    "notApprovedKey",
    "attestationRefused",
    "attestationRequired",
    "authenticationKey",
    "keyAlreadyCertified",
    "signingDisabled",
    "notEntitled",
    "personNotActive",
    "cardNotUsable",
    "noAuthenticationCertificate",
];

/// A refusal of the RA step (`enrollmentRefused` with its `reason`) in the holder's words.
fn reason_text(reason: &str, l: Lang) -> &'static str {
    match reason {
        "notApprovedKey" => t(
            l,
            "begäran gällde en annan nyckel än den du godkände. Börja om från Mina sidor.",
            "the request was for another key than the one you approved. Start again from My Pages.",
        ),
        "attestationRefused" => t(
            l,
            "kortet kunde inte visa att nyckeln skapades på kortet.",
            "the card could not show that the key was made on the card.",
        ),
        "attestationRequired" => t(
            l,
            "din organisation godtar bara nycklar som kortet visar att det har skapat, och kortet gav inget sådant intyg.",
            "your organisation accepts only keys the card shows it made, and the card gave no such statement.",
        ),
        "authenticationKey" => t(
            l,
            "nyckeln är kortets legitimeringsnyckel; underskriftscertifikatet behöver en egen nyckel.",
            "the key is the card's authentication key; the signing certificate needs its own key.",
        ),
        "keyAlreadyCertified" => t(
            l,
            "nyckeln har redan ett certifikat. Börja om från Mina sidor.",
            "the key already has a certificate. Start again from My Pages.",
        ),
        "signingDisabled" => t(
            l,
            "din organisation har inte beslutat att kortinnehavare får hämta underskriftscertifikat. Kontakta din ID-administratör.",
            "your organisation has not decided that card holders may fetch signing certificates. Contact your ID administrator.",
        ),
        "notEntitled" => t(
            l,
            "du har inte behörighet till ett underskriftscertifikat. Kontakta din ID-administratör.",
            "you are not entitled to a signing certificate. Contact your ID administrator.",
        ),
        _ => t(
            l,
            "kortet eller ditt konto kan inte få ett underskriftscertifikat just nu. Kontakta din ID-administratör.",
            "the card or your account cannot get a signing certificate now. Contact your ID administrator.",
        ),
    }
}

fn t(l: Lang, sv: &'static str, en: &'static str) -> &'static str {
    match l {
        Lang::Sv => sv,
        Lang::En => en,
    }
}

/// The fetch dialog of `launch` at `step`.
pub(crate) fn dialog(
    state: &Inner,
    id: &str,
    launch: &Launch,
    card: &CardView,
    step: Step,
    say: Option<&str>,
) -> String {
    let l = launch.lang;
    let order = &launch.order;
    let cap = escape(&state.capability);
    let hidden = format!(
        "<input type=\"hidden\" name=\"launch\" value=\"{}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(id),
        escape(&launch.csrf)
    );
    let mut body = format!(
        "<p><strong id=\"requester\">{}</strong> {}</p>\n<p id=\"text\" class=\"what\">{}</p>\n",
        escape(&order.requester),
        t(
            l,
            "ber dig hämta ett underskriftscertifikat till ditt kort:",
            "asks you to fetch a signing certificate onto your card:"
        ),
        escape(&order.text),
    );
    if card.present {
        body.push_str(&format!(
            "<p id=\"card\">{} {} {}</p>\n",
            t(l, "Kort:", "Card:"),
            escape(&card.number),
            escape(card.holder.as_deref().unwrap_or(""))
        ));
    } else {
        let missing = pages::notice_text(Notice::NoCard, l);
        // Said once: when the notice below is the same words, only there (as an alert).
        if say != Some(missing.as_str()) {
            body.push_str(&format!("<p id=\"card\">{}</p>\n", escape(&missing)));
        }
    }
    if let Some(say) = say {
        body.push_str(&format!(
            "<p id=\"notice\" class=\"problem\" role=\"alert\">{}</p>\n",
            escape(say)
        ));
    }
    match step {
        Step::Code => {
            let (label, help) = match card.kind {
                Some(CardKind::OnePin) => (
                    t(
                        l,
                        "Ange din säkerhetskod (PIN1)",
                        "Enter your security code (PIN1)",
                    ),
                    t(
                        l,
                        "Ditt kort har ingen underskriftskod: ange säkerhetskoden som du valde när kortet aktiverades.",
                        "Your card has no signing code: enter the security code you chose when the card was activated.",
                    ),
                ),
                _ => (
                    t(
                        l,
                        "Ange din underskriftskod (PIN2)",
                        "Enter your signing code (PIN2)",
                    ),
                    t(
                        l,
                        "Underskriftskoden står i PIN-brevet som hör till kortet.",
                        "The signing code is in the PIN letter that came with the card.",
                    ),
                ),
            };
            body.push_str(&format!(
                "<form method=\"post\" action=\"/{cap}/enroll/key\">{hidden}\
<p id=\"code-help\">{help}</p>\
<p><label for=\"pin\">{label}</label> <input id=\"pin\" type=\"password\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\" aria-describedby=\"code-help\" autofocus></p>\
<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
                t(l, "Fortsätt", "Continue"),
            ));
        }
        Step::Approve => {
            body.push_str(&format!(
                "<h2 id=\"starting\">{}</h2>\n<p id=\"warning\" class=\"notice\"><strong>{}</strong></p>\n\
<form method=\"post\" action=\"/{cap}/enroll/approve\">{hidden}\
<p><label for=\"pin\">{}</label> <input id=\"pin\" type=\"password\" name=\"pin\" autocomplete=\"off\" inputmode=\"numeric\" autofocus></p>\
<p><button type=\"submit\" class=\"primary\">{}</button></p></form>\n",
                t(l, "Hämtningen startar", "The fetch is starting"),
                t(
                    l,
                    "Ta inte ut kortet ur kortläsaren medan hämtningen pågår.",
                    "Do not remove the card from the reader during the fetch."
                ),
                t(l, "Ange din säkerhetskod (PIN1)", "Enter your security code (PIN1)"),
                t(l, "Hämta underskriftscertifikat", "Fetch signing certificate"),
            ));
        }
        Step::Deliver => {
            body.push_str(&format!(
                "<p id=\"warning\" class=\"notice\"><strong>{}</strong></p>\n\
<form method=\"post\" action=\"/{cap}/enroll/deliver\">{hidden}\
<p><button type=\"submit\" class=\"primary\" autofocus>{}</button></p></form>\n",
                t(
                    l,
                    "Ta inte ut kortet ur kortläsaren medan hämtningen pågår.",
                    "Do not remove the card from the reader during the fetch."
                ),
                t(l, "Försök igen", "Try again"),
            ));
        }
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/{cap}/cancel\">{hidden}<p><button type=\"submit\">{}</button></p></form>",
        t(l, "Avbryt", "Cancel")
    ));
    body.push_str(&crate::pin_ui::link(&state.capability, l));
    pages::page(&state.capability, l, &body)
}

fn show(state: &Inner, id: &str, launch: &Launch, step: Step, say: Option<Say>) -> Response {
    let card = state.view();
    let text = say.map(|s| s.text(launch.lang));
    html(
        StatusCode::OK,
        dialog(state, id, launch, &card, step, text.as_deref()),
    )
}

/// The end of the fetch: *Hämtningen är klar*, then the browser goes back.
fn done(state: &Inner, lang: Lang, return_url: &str) -> Response {
    html(
        StatusCode::OK,
        pages::returning_with(
            &state.capability,
            lang,
            return_url,
            t(lang, "Hämtningen är klar.", "The fetch is done."),
        ),
    )
}

fn ended(state: &Inner, id: &str, lang: Lang, say: Say) -> Response {
    state.finish(id);
    let pins = match say {
        Say::Blocked2 | Say::Notice(Notice::Blocked(_)) => {
            crate::pin_ui::link(&state.capability, lang)
        }
        _ => String::new(),
    };
    html(
        StatusCode::OK,
        pages::page(
            &state.capability,
            lang,
            &format!(
                "<p id=\"notice\" class=\"lead\">{}</p>{pins}",
                escape(&say.text(lang))
            ),
        ),
    )
}

/// The launch of a fetch form, or the page that refuses it.
fn fetch_launch(state: &Inner, form: &Form) -> Result<Launch, Box<Response>> {
    let launch = checked(state, form).map_err(|(status, page)| Box::new(html(status, page)))?;
    if launch.order.kind != OrderKind::EnrollSign {
        return Err(Box::new(html(
            StatusCode::BAD_REQUEST,
            pages::message(&state.capability, launch.lang, Notice::Unsupported),
        )));
    }
    if state.clock.now() > launch.order.expires_at {
        state.finish(&form.launch);
        return Err(Box::new(html(
            StatusCode::OK,
            pages::message(&state.capability, launch.lang, Notice::Expired),
        )));
    }
    Ok(launch)
}

fn link<'a>(state: &'a Inner, launch: &'a Launch) -> Link<'a> {
    Link {
        remote: &state.remote,
        server: launch.server,
        app_token: &launch.app_token,
        order: &launch.order,
    }
}

async fn report(state: &Inner, launch: &Launch, hint: HintCode) {
    if let Err(e) = state
        .remote
        .report(launch.server, &launch.app_token, hint)
        .await
    {
        tracing::info!(error = %e, "a hint could not be reported");
    }
}

/// A failed step: report what the server should know, then the page for it.
async fn failed(state: &Inner, id: &str, launch: &Launch, step: Step, e: FetchError) -> Response {
    tracing::info!(error = %e, "a fetch step did not go through");
    let kind = state.view().kind;
    if let Some(hint) = e.hint() {
        report(state, launch, hint).await;
    }
    let l = launch.lang;
    match e {
        FetchError::Card(CardError::WrongPin { tries_left }) if tries_left > 0 => {
            let say = match step {
                Step::Code => Say::WrongCode(kind, tries_left),
                _ => Say::WrongPin1(tries_left),
            };
            show(state, id, launch, step, Some(say))
        }
        FetchError::Card(CardError::WrongPin { .. } | CardError::PinBlocked) => {
            let say = match (step, kind) {
                (Step::Code, Some(CardKind::TwoPin)) => Say::Blocked2,
                _ => Say::Notice(Notice::Blocked(kind)),
            };
            ended(state, id, l, say)
        }
        FetchError::Card(CardError::CardDead) => ended(state, id, l, Say::Notice(Notice::Dead)),
        FetchError::Card(CardError::BadPinFormat) => show(
            state,
            id,
            launch,
            step,
            Some(Say::Notice(Notice::BadFormat)),
        ),
        FetchError::Card(CardError::CardRemoved) => {
            let say = match step {
                Step::Deliver => Say::IssuedNotWritten,
                _ => Say::Notice(Notice::NoCard),
            };
            show(state, id, launch, step, Some(say))
        }
        FetchError::WrongCard { .. } => show(
            state,
            id,
            launch,
            step,
            Some(Say::Notice(Notice::WrongCard)),
        ),
        FetchError::NotActivated | FetchError::Card(CardError::NotActivated) => {
            ended(state, id, l, Say::Notice(Notice::NotActivated))
        }
        FetchError::NotForThisKey => ended(state, id, l, Say::NotForKey),
        // Trying again will not help (e.g. a PKCS#11 module that lets no user generate
        // keys); the dialog stays, so the holder's cancel reaches the server.
        FetchError::Card(CardError::Unsupported(_)) => {
            show(state, id, launch, step, Some(Say::CardCannot))
        }
        FetchError::Server(RemoteError::Refused {
            code,
            details,
            reason,
            ..
        }) => {
            let say = match (code.as_str(), reason.as_deref()) {
                ("alreadyInProgress", _) => Say::InProgress,
                ("expiredTransaction", _) => Say::Notice(Notice::Expired),
                ("enrollmentRefused", Some(r)) if r != "other" && r != "badRequest" => {
                    Say::RefusedFor(
                        KNOWN_REASONS
                            .iter()
                            .find(|k| **k == r)
                            .copied()
                            .unwrap_or("other"),
                    )
                }
                _ => Say::Refused(details),
            };
            ended(state, id, l, say)
        }
        // The server could not be reached, or the card failed otherwise: the step can be
        // tried again (after the issue, the write: nothing is lost).
        other => {
            let say = match (step, other) {
                (_, FetchError::Card(CardError::Transport(TransportError::Busy))) => {
                    Say::Notice(Notice::CardBusy)
                }
                (Step::Deliver, _) => Say::IssuedNotWritten,
                _ => Say::Notice(Notice::CardFailed),
            };
            show(state, id, launch, step, Some(say))
        }
    }
}

/// `POST /<cap>/enroll/key`: step 5, the signing code; then *Hämtningen startar*.
pub(crate) async fn key(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match fetch_launch(&state, &form) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    if let Some(i) = form.card {
        state.set_active(i);
    }
    report(&state, &launch, HintCode::UserSign).await;
    let card = match state.open() {
        Ok(c) => c,
        Err(e) => return failed(&state, &form.launch, &launch, Step::Code, e.into()).await,
    };
    let code = Pin::new(form.pin.clone());
    match fetch::prepare_key(link(&state, &launch), &*card, &code).await {
        Ok(key) => {
            drop(code);
            let launch = state.update(&form.launch, |l| l.progress.key = Some(key));
            match launch {
                Some(launch) => show(&state, &form.launch, &launch, Step::Approve, None),
                None => html(
                    StatusCode::FORBIDDEN,
                    pages::message(&state.capability, Lang::Sv, Notice::StaleForm),
                ),
            }
        }
        Err(e) => failed(&state, &form.launch, &launch, Step::Code, e).await,
    }
}

/// `POST /<cap>/enroll/approve`: step 6a, PIN1; the certificate is issued and written.
pub(crate) async fn approve(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match fetch_launch(&state, &form) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    if launch.progress.issued.is_some() {
        return deliver_now(&state, &form.launch, &launch).await;
    }
    let Some(key) = launch.progress.key.clone() else {
        return show(&state, &form.launch, &launch, Step::Code, None);
    };
    let card = match state.open() {
        Ok(c) => c,
        Err(e) => return failed(&state, &form.launch, &launch, Step::Approve, e.into()).await,
    };
    let pin1 = Pin::new(form.pin.clone());
    let issued = fetch::approve(link(&state, &launch), &*card, &pin1, &key).await;
    drop(pin1);
    drop(card);
    match issued {
        Ok(issued) => {
            let Some(launch) =
                state.update(&form.launch, |l| l.progress.issued = Some(issued.clone()))
            else {
                return html(
                    StatusCode::FORBIDDEN,
                    pages::message(&state.capability, Lang::Sv, Notice::StaleForm),
                );
            };
            deliver_now(&state, &form.launch, &launch).await
        }
        Err(e) => failed(&state, &form.launch, &launch, Step::Approve, e).await,
    }
}

/// `POST /<cap>/enroll/deliver`: the write to the card again, after it was taken out.
pub(crate) async fn deliver(State(state): State<Arc<Inner>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let launch = match fetch_launch(&state, &form) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    deliver_now(&state, &form.launch, &launch).await
}

async fn deliver_now(state: &Inner, id: &str, launch: &Launch) -> Response {
    let Some(issued) = launch.progress.issued.clone() else {
        return show(state, id, launch, Step::Code, None);
    };
    let card = match state.open() {
        Ok(c) => c,
        Err(e) => return failed(state, id, launch, Step::Deliver, e.into()).await,
    };
    match fetch::deliver(link(state, launch), &*card, &issued).await {
        Ok(()) => {
            state.finish(id);
            done(state, launch.lang, &issued.return_url)
        }
        Err(e) => failed(state, id, launch, Step::Deliver, e).await,
    }
}
