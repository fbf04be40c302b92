//! The PIV numbers this card uses: AID, instructions, references, algorithms, object tags.
//!
//! Shared by the emulator and the client so both sides name the same bytes. The meaning of
//! each is in `docs/card.md`.

/// The full PIV application identifier (NIST SP 800-73-4).
pub const AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
/// The shortest accepted right-truncation of [`AID`]: NIST's RID.
pub const RID_LEN: usize = 5;

/// Instruction bytes.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// CHANGE REFERENCE DATA.
    pub const CHANGE_REFERENCE: u8 = 0x24;
    /// RESET RETRY COUNTER.
    pub const RESET_RETRY: u8 = 0x2C;
    /// GENERATE ASYMMETRIC KEY PAIR.
    pub const GENERATE: u8 = 0x47;
    /// GENERAL AUTHENTICATE.
    pub const GENERAL_AUTHENTICATE: u8 = 0x87;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCB;
    /// PUT DATA.
    pub const PUT_DATA: u8 = 0xDB;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// ATTEST (vendor, as YubiKey).
    pub const ATTEST: u8 = 0xF9;
    /// GET METADATA (vendor, as YubiKey).
    pub const METADATA: u8 = 0xF7;
    /// SET MANAGEMENT KEY (vendor, as YubiKey).
    pub const SET_MANAGEMENT_KEY: u8 = 0xFF;
    /// GET SERIAL (vendor, as YubiKey): the serial number, 4 bytes big-endian. Answered
    /// by plain PIV cards (YubiKeys) only; the eID card has its card-info object instead.
    pub const GET_SERIAL: u8 = 0xF8;
}

/// The product number the platform gives a plain PIV card (a YubiKey) enrolled into it:
/// a 7XX product, so one PIN (`docs/card-stacks.md`, "Real PIV cards").
pub const ENROLLED_PIV_PRODUCT: &str = "790";

/// CLA of the last (or only) command of a chain.
pub const CLA: u8 = 0x00;
/// CLA bit of a command that is not the last of a chain.
pub const CLA_CHAIN: u8 = 0x10;

/// PIN1: the PIV application PIN.
pub const REF_PIN1: u8 = 0x80;
/// The PUK.
pub const REF_PUK: u8 = 0x81;
/// PIN2 (vendor reference; see `docs/card.md` for why `88`).
pub const REF_PIN2: u8 = 0x88;
/// The card management key.
pub const REF_MANAGEMENT: u8 = 0x9B;
/// The authentication key slot.
pub const SLOT_AUTHENTICATION: u8 = 0x9A;
/// The signing key slot.
pub const SLOT_SIGNING: u8 = 0x9C;
/// The attestation key slot.
pub const SLOT_ATTESTATION: u8 = 0xF9;

/// Algorithm: ECC P-256.
pub const ALG_P256: u8 = 0x11;
/// Algorithm: AES-128 (management key).
pub const ALG_AES128: u8 = 0x08;
/// Algorithm byte of a PIN or PUK in metadata.
pub const ALG_PIN: u8 = 0xFF;

/// Data object tags.
pub mod tag {
    /// Discovery object.
    pub const DISCOVERY: u32 = 0x7E;
    /// Card holder unique identifier.
    pub const CHUID: u32 = 0x5F_C1_02;
    /// Certificate of the 9A key.
    pub const CERT_AUTHENTICATION: u32 = 0x5F_C1_05;
    /// Certificate of the 9C key.
    pub const CERT_SIGNING: u32 = 0x5F_C1_0A;
    /// Certificate of the 9E key: not used by this card.
    pub const CERT_CARD_AUTHENTICATION: u32 = 0x5F_C1_01;
    /// Certificate of the F9 attestation key (as YubiKey).
    pub const CERT_ATTESTATION: u32 = 0x5F_FF_01;
    /// Card info (vendor): card number, product number, kind, life cycle.
    pub const CARD_INFO: u32 = 0x5F_FF_10;
}

/// Largest content of one data object.
pub const MAX_OBJECT: usize = 4096;
/// Largest data of one chained command.
pub const MAX_CHAIN: usize = 65_535;

/// Metadata PIN policies.
pub mod policy {
    /// No PIN needed.
    pub const NEVER: u8 = 0x01;
    /// PIN verified once per session.
    pub const ONCE: u8 = 0x02;
    /// PIN verified immediately before every use.
    pub const ALWAYS: u8 = 0x03;
}

const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
    0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The DER SubjectPublicKeyInfo of a P-256 point (`04‖X‖Y`, 65 bytes), as PIV's `86` tag
/// carries it.
pub fn p256_spki(point: &[u8]) -> Option<Vec<u8>> {
    (point.len() == 65 && point[0] == 0x04).then(|| [&P256_SPKI_PREFIX[..], point].concat())
}
