//! The identity provider's engine against a real SQLite store: full flows, every refusal,
//! key rotation. One test binary (STYLE.md); modules by endpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod authorize;
mod flow;
mod harness;
mod keys;
mod logout;
mod token;
