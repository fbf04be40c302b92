//! Arbitrary bytes as a PKCS#10 request, DER and (when UTF-8) PEM: never a panic, and an
//! accepted request must parse again to the same key.
#![no_main]

use eid_pki::Csr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = Csr::from_der(data) {
        let again = Csr::from_der(csr.der()).expect("an accepted request parses again");
        assert_eq!(again.spki_sha256(), csr.spki_sha256());
        assert!(!csr.spki_der().is_empty());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Csr::from_pem(text);
    }
});
