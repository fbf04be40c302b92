//! Integration tests of the eID card: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

mod attestation;
mod bad_input;
mod pkcs11;
mod plain_piv;
mod semantics;
mod support;
mod tearing;

// The SoftHSM2 harness of the workspace's tests: this crate cannot depend on the testkit,
// which depends on it. This binary uses part of it.
#[allow(dead_code)]
#[path = "../../../testkit/src/softhsm.rs"]
mod softhsm;
