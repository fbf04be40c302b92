//! Arbitrary bytes as an OCSP request to the responder: never a panic; a request it accepts
//! gets a response that parses again and answers exactly as many CertIDs.
#![no_main]

use std::sync::{Arc, OnceLock};

use der::Decode;
use eid_pki::ocsp::{Responder, SerialStatus};
use eid_pki::{CaNames, CertificateAuthority, FileSigner, KeyAlgorithm, ProfileSettings, Signer};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use x509_ocsp::{BasicOcspResponse, OcspResponse, OcspResponseStatus};

fn responder() -> &'static Responder {
    static RESPONDER: OnceLock<Responder> = OnceLock::new();
    RESPONDER.get_or_init(|| {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time");
        let names = CaNames {
            country: "SE".into(),
            organisation: "Fuzz".into(),
            root_common_name: "Fuzz Root".into(),
            issuing_common_name: "Fuzz Issuing".into(),
        };
        let new = eid_pki::create_ca(&names, KeyAlgorithm::P256, t, &mut rand::rng())
            .expect("a CA");
        let signer = FileSigner::from_pkcs8_pem(&new.issuing_key_pem).expect("its key");
        let ca = CertificateAuthority::load(
            &new.root_cert_pem,
            &new.issuing_cert_pem,
            Arc::new(signer),
            ProfileSettings::new("http://fuzz.example/crl", "http://fuzz.example/ocsp"),
        )
        .expect("the CA loads");
        let key: Arc<dyn Signer> = Arc::new(FileSigner::generate(KeyAlgorithm::P256).expect("a key"));
        let cert = ca
            .ocsp_responder_certificate(key.clone(), t, t + time::Duration::days(1), &mut rand::rng())
            .expect("a responder certificate");
        Responder::new(ca.issuing_der(), &cert, key).expect("a responder")
    })
}

fuzz_target!(|data: &[u8]| {
    let responder = responder();
    let Ok(request) = responder.check_request(data) else {
        return;
    };
    let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time");
    let statuses = vec![SerialStatus::Good; request.serials().len()];
    let der = responder
        .respond(&request, &statuses, t, t, t + time::Duration::hours(1))
        .expect("an accepted request is answered");
    let response = OcspResponse::from_der(&der).expect("the response parses");
    assert_eq!(response.response_status, OcspResponseStatus::Successful);
    let bytes = response.response_bytes.expect("a successful response has bytes");
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("a basic response");
    assert_eq!(basic.tbs_response_data.responses.len(), statuses.len());
});
