//! Integration tests of the eID card: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers.

mod attestation;
mod bad_input;
mod pkcs11;
mod semantics;
mod support;
mod tearing;
