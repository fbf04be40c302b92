//! The order engine: every action that needs the card holder's card is an order
//! (DESIGN.md, "Orders"). [`Orders`] starts orders for a browser session, hands them to the
//! eID app by its one-time autostart token, records the app's hints, verifies its
//! completion (the card's authentication certificate and its signature over the canonical
//! [`ToBeSigned`](eid_protocol::ToBeSigned) bytes rebuilt from the stored order), and
//! completes an order only when the browser session that started it returns with the
//! one-time return secret (relay protection). Pages collect and cancel. For a
//! signing-certificate fetch (`enrollSign`, `enroll.rs`) it also answers the card's
//! management-key challenges relayed by the app (one fetch per card at a time, a newer
//! fetch superseding an older unsigned one; counted and audited), runs the RA step when
//! the completion's PIN1 approval verified ([`eid_pki::enroll_signing_key`]) and records
//! the app's confirmation that the certificate is on the card. The protocol end to end is
//! in `docs/protocol.md`.
//!
//! What this crate must never do:
//! - know HTTP: handlers extract input, call [`Orders`], map the result;
//! - keep state of its own: every order and browser session lives in the store, so any
//!   server node can answer any step;
//! - store, log or compare a raw token: tokens, session ids and secrets are stored and
//!   looked up by their SHA-256;
//! - trust anything the app sends beyond its signature: what was signed is rebuilt from the
//!   stored order, who signed comes from the store's records of the certificate;
//! - read the clock or a global RNG: `now` and the RNG are arguments.

mod app;
mod config;
mod engine;
mod enroll;
mod error;
mod tokens;
mod wait;

pub use config::OrderConfig;
pub use engine::{NewOrder, Orders, Requester, SessionId};
pub use enroll::MANAGEMENT_RESPONSES_PER_ORDER;
pub use error::OrderError;
pub use tokens::sha256;
