//! A provider over a fresh SQLite store with one organisation, person, card and two clients.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_idp::{
    AuthorizeOutcome, ClientSecret, ClientSpec, KeyEncryptionKey, Provider, ProviderConfig,
    SessionId, SubjectSecret, TokenResponse,
};
use eid_store::oidc::SigningAlg;
use eid_store::{
    AuditEvent, Card, CardKind, CardState, Durability, Organisation, Person, SigningPolicy,
    SqliteStore, Store,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

pub const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);
pub const ISSUER: &str = "https://idp.example";
pub const HSA: &str = "SE2321000016-A1B2";
pub const CARD: &str = "9752000001";
pub const RP: &str = "rp";
pub const RP_CB: &str = "https://rp.example/cb";
pub const SPA: &str = "spa";
pub const SPA_CB: &str = "https://spa.example/cb";
/// A PKCE verifier and its S256 challenge (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub struct Env {
    pub idp: Provider<SqliteStore>,
    pub store: Arc<SqliteStore>,
    pub rng: StdRng,
    pub rp_secret: ClientSecret,
    _dir: TempDir,
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        at: T0,
        actor: "admin:test".into(),
        action: action.into(),
        subject: "x".into(),
        details: serde_json::json!({}),
    }
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn spec(id: &str, cb: &str, confidential: bool) -> ClientSpec {
    ClientSpec {
        client_id: id.into(),
        name: format!("Client {id}"),
        confidential,
        redirect_uris: vec![cb.into()],
        post_logout_redirect_uris: vec![format!("{cb}/bye")],
        scopes: vec!["openid".into(), "profile".into(), "mypages.api".into()],
        pkce_optional: false,
        id_token_alg: None,
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(tune: impl FnOnce(&mut ProviderConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("eid.db"), Durability::Process)
            .await
            .unwrap(),
    );
    store
        .add_organisation(
            &Organisation {
                org_number: "2321000016".into(),
                name: "Region Test".into(),
                signing_policy: SigningPolicy::SelfService,
                accept_unattested_keys: false,
                created_at: T0,
            },
            &event("organisation.add"),
        )
        .await
        .unwrap();
    store
        .add_person(
            &Person {
                hsa_id: HSA.into(),
                given_name: "Anna".into(),
                surname: "Andersson".into(),
                org_number: "2321000016".into(),
                signing_entitled: true,
                active: true,
                created_at: T0,
            },
            &event("person.add"),
        )
        .await
        .unwrap();
    for (number, holder) in [(CARD, HSA)] {
        store
            .add_card(
                &Card {
                    card_number: number.into(),
                    product_number: "610".into(),
                    kind: CardKind::TwoPin,
                    state: CardState::Active,
                    holder: holder.into(),
                    created_at: T0,
                },
                &event("card.add"),
            )
            .await
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(42);
    let mut config = ProviderConfig::new(ISSUER).unwrap();
    tune(&mut config);
    let idp = Provider::new(
        Arc::clone(&store),
        config,
        KeyEncryptionKey::generate(&mut rng),
        &SubjectSecret::generate(&mut rng),
    )
    .unwrap();
    let (_, secret) = idp
        .register_client(&spec(RP, RP_CB, true), "admin:test", T0, &mut rng)
        .await
        .unwrap();
    idp.register_client(&spec(SPA, SPA_CB, false), "admin:test", T0, &mut rng)
        .await
        .unwrap();
    idp.ensure_signing_keys(T0, &mut rng, "system")
        .await
        .unwrap();
    Env {
        idp,
        store,
        rng,
        rp_secret: secret.unwrap(),
        _dir: dir,
    }
}

impl Env {
    /// A finished card login at `at`.
    pub async fn login(&mut self, at: OffsetDateTime) -> SessionId {
        self.idp
            .create_session(HSA, CARD, at, &mut self.rng)
            .await
            .unwrap()
            .id
    }

    /// The query of a standard request of `client` with PKCE, plus `extra`.
    pub fn request(&self, client: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let cb = if client == RP { RP_CB } else { SPA_CB };
        let mut list = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", cb),
            ("scope", "openid profile mypages.api"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            list.retain(|(name, _)| name != k);
            if !v.is_empty() {
                list.push((k, v));
            }
        }
        pairs(&list)
    }

    /// Authorizes with a session; returns the code.
    pub async fn code(&mut self, client: &str, session: &SessionId, at: OffsetDateTime) -> String {
        let request = self.request(client, &[]);
        match self
            .idp
            .authorize(&request, Some(session.expose()), at, &mut self.rng)
            .await
            .unwrap()
        {
            AuthorizeOutcome::Code(response) => response.code.expose().to_owned(),
            other => panic!("expected a code, got {other:?}"),
        }
    }

    pub fn basic(&self) -> String {
        let raw = format!("{RP}:{}", self.rp_secret.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// A token request of the confidential client with `client_secret_basic`.
    pub async fn redeem(
        &mut self,
        code: &str,
        verifier: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<TokenResponse, eid_idp::TokenError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CB),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let auth = self.basic();
        self.idp
            .token(&pairs(&form), Some(&auth), at, &mut self.rng)
            .await
    }
}

pub fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Verifies `token` with the JWKS as an outside relying party would; returns header `typ`
/// and claims. (`exp` is checked by the caller: jsonwebtoken would read the wall clock.)
pub fn verify_with_jwks(jwks: &Value, token: &str, aud: &str) -> (String, Value) {
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.set_audience(&[aud]);
    validation.set_issuer(&[ISSUER]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    (header.typ.unwrap_or_default(), data.claims)
}

pub fn alg_of(token: &str) -> SigningAlg {
    let header = jsonwebtoken::decode_header(token).unwrap();
    SigningAlg::parse(&format!("{:?}", header.alg)).unwrap()
}
