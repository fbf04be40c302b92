//! What the integration tests stand on, in layers a test picks from:
//!
//! 1. [`Pki`]: a temporary folder, a CA (P-256), an SQLite store, the organisation
//!    [`ORG`] with the person [`ANNA`], more persons on request, and personalised virtual
//!    cards ([`TestCard`] in memory, [`CardFile`] in a file) with their [`Letter`].
//! 2. [`Server`]: the real server on `127.0.0.1:0` over a [`Pki`], with settings edited by
//!    the test and clients registered before or after it starts; each client as its
//!    relying party sees it ([`Rp`]).
//! 3. [`TestApp`]: the eID app on loopback holding card files; a [`Server`] built with
//!    [`ServerBuilder::app`] points its launch links at it.
//! 4. Over HTTP: a [`Browser`] that keeps the server's cookies itself, the [`Page`]s it gets,
//!    and a relying party's authorization request, token exchange, ID token check and
//!    userinfo call ([`Rp`]).
//!
//! Everything here panics on failure: a broken fixture is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)] // Test support: a failure is the test's failure, and fixtures are never printed.

mod app;
mod browser;
mod card;
mod maker;
mod mypages;
pub mod pcsc;
mod pki;
mod rp;
mod server;
pub mod softhsm;

pub use app::TestApp;
pub use browser::{Browser, Page, between, encode, query};
pub use card::{CardFile, Letter, TestCard};
pub use eid_store::conformance::postgres::PostgresDatabase;
pub use maker::CardMaker;
pub use pki::{ANNA, ORG, Pki};
pub use rp::{AuthRequest, RP, RP_REDIRECT, Rp, challenge, random, rp_client};
pub use server::{Server, ServerBuilder};

/// The card kinds [`Pki::card`] takes: two PINs (product 610) or one (product 710).
pub use eid_store::{CardKind, SigningPolicy};

/// A stop signal for a task serving until told: dropping (or sending on) the sender ends
/// the future.
fn stop_signal() -> (
    tokio::sync::oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    (stop, async {
        let _ = stopped.await;
    })
}
