//! Integration tests of the eID card: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

mod attestation;
mod bad_input;
mod pkcs11;
mod plain_piv;
// The SoftHSM2 harness of the workspace's tests (this crate cannot depend on the testkit,
// which depends on it).
mod semantics;
#[path = "../../../testkit/src/softhsm.rs"]
mod softhsm;
mod support;
mod tearing;
