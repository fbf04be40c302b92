//! `eid bench fetch --stack pkcs11`: cards as SoftHSM2 token pairs ("<number> (PIN1)",
//! "<number> (PIN2)"; docs/card-stacks.md), provisioned before the clock starts: the
//! tokens made with `softhsm2-util`, the authentication key generated on the PIN1 token, its
//! request signed there, the certificate issued by the CA and written back, the card
//! recorded for its holder. SoftHSM2 finds its tokens through `SOFTHSM2_CONF` in the
//! environment of the process that loads it, which a program cannot safely set for itself:
//! without it, [`with_softhsm`] makes a configuration of its own and runs the benchmark again
//! as a child with it.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eid_card::pkcs11::Pkcs11Module;
use eid_card::{
    Card, CardError, CardInfo, KeyMetadata, KeySlot, ManagementKey, Pin, PinRef, PinStatus,
    certificate_request,
};
use eid_pki::{CertificateAuthority, Csr, IssueRequest, Profile, issue};
use eid_store::{AnyStore, CardKind, CardState, Store};
use rand::RngExt;
use zeroize::Zeroizing;

use super::provision::{self, BenchCard};
use crate::failure::{Failure, Outcome};

const CONF: &str = "SOFTHSM2_CONF";

/// Runs the benchmark as it is when `SOFTHSM2_CONF` is set; otherwise makes a SoftHSM2
/// configuration in a temporary folder and runs this very command again with it (`None`:
/// go on here; `Some`: the child's outcome).
pub fn with_softhsm() -> Option<Outcome> {
    if std::env::var_os(CONF).is_some() {
        return None;
    }
    Some((|| {
        let dir = tempfile::Builder::new()
            .prefix("eid-bench-softhsm-")
            .tempdir()
            .map_err(|e| Failure::Internal(format!("cannot make a temporary folder: {e}")))?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens)
            .map_err(|e| Failure::Internal(format!("cannot make the token folder: {e}")))?;
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}/\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .map_err(|e| Failure::Internal(format!("cannot write {}: {e}", conf.display())))?;
        let exe = std::env::current_exe()
            .map_err(|e| Failure::Internal(format!("cannot find this program: {e}")))?;
        let status = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(CONF, &conf)
            .status()
            .map_err(|e| Failure::Internal(format!("cannot run the benchmark: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Failure::Internal(format!(
                "the benchmark ended with {status}"
            )))
        }
    })())
}

/// A card's tokens made, not yet personalised.
struct Tokens {
    hsa_id: String,
    number: String,
    pin1: Zeroizing<String>,
    pin2: Zeroizing<String>,
}

/// `count` persons, each with a two-PIN card made of a token pair in `module`. Every token
/// is made before the module is loaded: SoftHSM2 reads its token folder when it is
/// initialised, once per process.
pub async fn cards(
    store: &AnyStore,
    ca: &CertificateAuthority,
    module: &Path,
    count: usize,
) -> Outcome<Vec<BenchCard>> {
    let mut made = Vec::with_capacity(count);
    for i in 0..count {
        made.push(tokens(store, i).await?);
    }
    let mut cards = Vec::with_capacity(count);
    for tokens in made {
        cards.push(personalise(store, ca, module, tokens).await?);
    }
    Ok(cards)
}

/// Person `i` and their card's two tokens.
async fn tokens(store: &AnyStore, i: usize) -> Outcome<Tokens> {
    let (hsa_id, number) = provision::person(store, i).await?;
    let digits = |n: usize| -> Zeroizing<String> {
        let mut rng = rand::rng();
        Zeroizing::new(
            (0..n)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect(),
        )
    };
    let (pin1, pin2, puk) = (digits(6), digits(6), digits(8));
    for (which, pin) in [("PIN1", &pin1), ("PIN2", &pin2)] {
        let label = format!("{number} ({which})");
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label, "--so-pin"])
            .arg(puk.as_str())
            .arg("--pin")
            .arg(pin.as_str())
            .output()
            .map_err(|e| Failure::Usage(format!("softhsm2-util (Debian's softhsm2): {e}")))?;
        if !out.status.success() {
            return Err(Failure::Internal(format!(
                "softhsm2-util: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Ok(Tokens {
        hsa_id,
        number,
        pin1,
        pin2,
    })
}

/// The authentication key on the PIN1 token, its certificate, the card recorded.
async fn personalise(
    store: &AnyStore,
    ca: &CertificateAuthority,
    module: &Path,
    tokens: Tokens,
) -> Outcome<BenchCard> {
    let now = crate::admin::now();
    let Tokens {
        hsa_id,
        number,
        pin1,
        pin2,
    } = tokens;
    let token_failure = |e: CardError| Failure::Internal(format!("token of card {number}: {e}"));
    let token = Pkcs11Module::load(module)
        .and_then(|m| m.open(Some(&number)))
        .map_err(token_failure)?;
    token.select().map_err(token_failure)?;
    token
        .verify(PinRef::Pin1, &Pin::new(pin1.clone()))
        .map_err(token_failure)?;
    let key = token
        .generate_key(KeySlot::Authentication)
        .map_err(token_failure)?;
    let request = certificate_request(&token, KeySlot::Authentication, &number, &key)
        .map_err(token_failure)?;
    store
        .add_card(
            &eid_store::Card {
                card_number: number.clone(),
                product_number: "610".into(),
                kind: CardKind::TwoPin,
                state: CardState::Active,
                holder: hsa_id.clone(),
                created_at: now,
            },
            &super::event(now, "card.issue"),
        )
        .await?;
    let csr = Csr::from_der(&request)
        .map_err(|e| Failure::Internal(format!("the token's certificate request: {e}")))?;
    let issued = issue(
        ca,
        store,
        &IssueRequest {
            hsa_id,
            card_number: number.clone(),
            profile: Profile::Authentication,
            csr,
            // A software token: the virtual-card policy.
            virtual_card: true,
        },
        "bench",
        now,
        &mut rand::rng(),
    )
    .await
    .map_err(|e| Failure::Internal(format!("the authentication certificate: {e}")))?;
    token
        .write_certificate(KeySlot::Authentication, Some(&issued.record.der))
        .map_err(token_failure)?;
    token.reset_verified(PinRef::Pin1).map_err(token_failure)?;
    Ok(BenchCard {
        number,
        card: Box::new(token),
        reader: None,
        pin1,
        pin2,
    })
}

/// A card whose every operation is timed: the time spent in the card (for a token, in the
/// PKCS#11 module) adds up in `spent`.
#[derive(Debug)]
pub struct TimedCard<'a> {
    inner: &'a dyn Card,
    spent: Mutex<Duration>,
}

impl<'a> TimedCard<'a> {
    pub fn new(inner: &'a dyn Card) -> Self {
        TimedCard {
            inner,
            spent: Mutex::new(Duration::ZERO),
        }
    }

    /// The time spent in the card so far.
    pub fn spent(&self) -> Duration {
        self.spent.lock().map(|d| *d).unwrap_or_default()
    }

    fn time<T>(&self, op: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = op();
        if let Ok(mut spent) = self.spent.lock() {
            *spent += start.elapsed();
        }
        out
    }
}

impl Card for TimedCard<'_> {
    fn select(&self) -> Result<(), CardError> {
        self.time(|| self.inner.select())
    }
    fn info(&self) -> Result<CardInfo, CardError> {
        self.time(|| self.inner.info())
    }
    fn verify(&self, pin: PinRef, value: &Pin) -> Result<(), CardError> {
        self.time(|| self.inner.verify(pin, value))
    }
    fn is_verified(&self, pin: PinRef) -> Result<bool, CardError> {
        self.time(|| self.inner.is_verified(pin))
    }
    fn pin_status(&self, pin: PinRef) -> Result<PinStatus, CardError> {
        self.time(|| self.inner.pin_status(pin))
    }
    fn reset_verified(&self, pin: PinRef) -> Result<(), CardError> {
        self.time(|| self.inner.reset_verified(pin))
    }
    fn change_pin(&self, pin: PinRef, old: &Pin, new: &Pin) -> Result<(), CardError> {
        self.time(|| self.inner.change_pin(pin, old, new))
    }
    fn unblock_pin(&self, pin: PinRef, puk: &Pin, new: &Pin) -> Result<(), CardError> {
        self.time(|| self.inner.unblock_pin(pin, puk, new))
    }
    fn management_challenge(&self) -> Result<[u8; 16], CardError> {
        self.time(|| self.inner.management_challenge())
    }
    fn management_respond(&self, response: &[u8; 16]) -> Result<(), CardError> {
        self.time(|| self.inner.management_respond(response))
    }
    fn set_management_key(&self, key: &ManagementKey) -> Result<(), CardError> {
        self.time(|| self.inner.set_management_key(key))
    }
    fn generate_key(&self, slot: KeySlot) -> Result<Vec<u8>, CardError> {
        self.time(|| self.inner.generate_key(slot))
    }
    fn sign(&self, slot: KeySlot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        self.time(|| self.inner.sign(slot, digest))
    }
    fn sign_with_pin(
        &self,
        slot: KeySlot,
        pin: PinRef,
        value: &Pin,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        self.time(|| self.inner.sign_with_pin(slot, pin, value, digest))
    }
    fn read_certificate(&self, slot: KeySlot) -> Result<Option<Vec<u8>>, CardError> {
        self.time(|| self.inner.read_certificate(slot))
    }
    fn write_certificate(&self, slot: KeySlot, der: Option<&[u8]>) -> Result<(), CardError> {
        self.time(|| self.inner.write_certificate(slot, der))
    }
    fn attest(&self, slot: KeySlot) -> Result<Vec<u8>, CardError> {
        self.time(|| self.inner.attest(slot))
    }
    fn key_metadata(&self, slot: KeySlot) -> Result<Option<KeyMetadata>, CardError> {
        self.time(|| self.inner.key_metadata(slot))
    }
}
