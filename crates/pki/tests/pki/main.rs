//! The integration tests of eid-pki, in one binary: a real SQLite store, real keys, and
//! OpenSSL as an independent verifier.
// Test helpers outside #[test] functions: a failure should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attestation;
mod ca_load;
mod crl;
mod harness;
mod live;
mod ocsp;
mod openssl;
mod profiles;
mod race;
mod refusals;
mod vendor_attestation;
