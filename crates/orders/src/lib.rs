//! The order engine: every action that needs the card holder's card is an order
//! (DESIGN.md, "Orders"). [`Orders`] starts orders for a browser session, hands them to the
//! eID app by its one-time autostart token, records the app's hints, verifies its
//! completion (the card's authentication certificate and its signature over the canonical
//! [`ToBeSigned`](eid_protocol::ToBeSigned) bytes rebuilt from the stored order), and
//! completes an order only when the browser session that started it returns with the
//! one-time return secret (relay protection). Pages collect and cancel. The protocol end to
//! end is in `docs/protocol.md`.
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
mod error;
mod tokens;

pub use config::OrderConfig;
pub use engine::{NewOrder, Orders, Requester, SessionId};
pub use error::OrderError;
pub use tokens::sha256;
