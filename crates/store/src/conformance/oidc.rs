//! The [`OidcStore`] part of the conformance suite: clients, signing keys, sessions, codes,
//! grants, and the race for one code. Expanded by
//! [`oidc_store_conformance_tests!`](crate::oidc_store_conformance_tests) with a [`Harness`]
//! whose store also implements [`OidcStore`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A test suite.

use std::sync::Arc;

use time::Duration;

use super::{Harness, T0, audit_len, event, race, seeded};
use crate::model::AuditEvent;
use crate::oidc::*;
use crate::{Missing, Store, StoreError};

/// Expands to one `#[tokio::test]` per OIDC conformance check, run against `$harness`.
#[macro_export]
macro_rules! oidc_store_conformance_tests {
    ($harness:expr) => {
        $crate::oidc_store_conformance_tests!(@each $harness;
            oidc_clients, oidc_signing_keys, oidc_sessions, oidc_codes_redeem_once,
            oidc_expired_and_unknown_codes, oidc_race_for_one_code, oidc_card_revocation_ends_sessions,
            oidc_revoke_grant, oidc_purge);
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::conformance::oidc::$name(&$harness).await;
        }
    )*};
}

/// A confidential client `id` with one redirect URI.
pub fn client(id: &str) -> OidcClient {
    OidcClient {
        client_id: id.into(),
        name: format!("Client {id}"),
        auth: ClientAuth::Confidential {
            secret_sha256: [7; 32],
        },
        redirect_uris: vec![format!("https://{id}.example/cb")],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        scopes: vec!["openid".into(), "profile".into()],
        pkce_optional: false,
        id_token_alg: SigningAlg::ES256,
        created_at: T0,
    }
}

fn session(id: u8, hsa: &str, card: &str) -> LoginSession {
    LoginSession {
        id_sha256: [id; 32],
        hsa_id: hsa.into(),
        card_number: card.into(),
        auth_time: T0,
        acr: "loa3".into(),
        amr: vec!["hwk".into(), "sc".into(), "pin".into()],
        expires_at: T0 + Duration::hours(8),
        ended_at: None,
    }
}

fn code(id: u8, client: &str, hsa: &str, session: u8) -> AuthCodeRecord {
    AuthCodeRecord {
        code_sha256: [id; 32],
        client_id: client.into(),
        redirect_uri: format!("https://{client}.example/cb"),
        code_challenge: Some("c".repeat(43)),
        code_challenge_method: Some("S256".into()),
        nonce: Some("n".into()),
        scope: "openid profile".into(),
        session_sha256: [session; 32],
        hsa_id: hsa.into(),
        auth_time: T0,
        acr: "loa3".into(),
        amr: vec!["sc".into()],
        issued_at: T0,
        expires_at: T0 + Duration::seconds(60),
        redeemed_at: None,
        grant_id: None,
    }
}

fn grant(id: &str, client: &str, hsa: &str, session: u8) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        client_id: client.into(),
        hsa_id: hsa.into(),
        session_sha256: [session; 32],
        scope: "openid profile".into(),
        access_jti: format!("jti-{id}"),
        created_at: T0,
        expires_at: T0 + Duration::minutes(5),
        revoked_at: None,
    }
}

fn revoke_event(grant: &str) -> AuditEvent {
    event("oidc.grant.revoke", grant)
}

/// Clients round-trip; ids are unique; a public client never skips PKCE; put replaces.
pub async fn oidc_clients<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let store = h.fresh().await;
    let c = client("rp");
    store
        .add_client(&c, &event("oidc.client.add", "rp"))
        .await
        .unwrap();
    assert_eq!(store.client("rp").await.unwrap(), Some(c.clone()));
    assert_eq!(store.client("nope").await.unwrap(), None);
    let before = audit_len(&*store).await;
    let dup = store.add_client(&c, &event("oidc.client.add", "rp")).await;
    assert!(matches!(dup, Err(StoreError::Refused(_))), "{dup:?}");
    let mut public = client("spa");
    public.auth = ClientAuth::Public;
    public.pkce_optional = true;
    let refused = store
        .add_client(&public, &event("oidc.client.add", "spa"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(audit_len(&*store).await, before);
    public.pkce_optional = false;
    store
        .add_client(&public, &event("oidc.client.add", "spa"))
        .await
        .unwrap();
    let mut changed = c.clone();
    changed.redirect_uris.push("https://rp.example/cb2".into());
    changed.id_token_alg = SigningAlg::RS256;
    store
        .put_client(&changed, &event("oidc.client.put", "rp"))
        .await
        .unwrap();
    assert_eq!(store.clients().await.unwrap(), vec![changed, public]);
    assert_eq!(audit_len(&*store).await, before + 2);
}

/// Signing keys round-trip, retire, and disappear from the list after `delete_at`.
pub async fn oidc_signing_keys<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let store = h.fresh().await;
    let key = |kid: &str, from| SigningKeyRecord {
        kid: kid.into(),
        alg: SigningAlg::ES256,
        encrypted_private_key: vec![1, 2, 3],
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: T0,
        active_from: from,
        retire_at: None,
        delete_at: None,
    };
    let k1 = key("k1", T0);
    let k2 = key("k2", T0 + Duration::days(1));
    store
        .add_signing_key(&k2, &event("oidc.key.add", "k2"))
        .await
        .unwrap();
    store
        .add_signing_key(&k1, &event("oidc.key.add", "k1"))
        .await
        .unwrap();
    let dup = store
        .add_signing_key(&k1, &event("oidc.key.add", "k1"))
        .await;
    assert!(matches!(dup, Err(StoreError::Refused(_))), "{dup:?}");
    assert_eq!(
        store.signing_keys(T0).await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );
    assert_eq!(k1.state_at(T0), KeyState::Active);
    assert_eq!(k2.state_at(T0), KeyState::Next);
    let (retire, delete) = (T0 + Duration::days(1), T0 + Duration::days(2));
    store
        .retire_signing_key("k1", retire, delete, &event("oidc.key.retire", "k1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .retire_signing_key("k9", retire, delete, &event("oidc.key.retire", "k9"))
            .await,
        Err(StoreError::Refused(_))
    ));
    let keys = store.signing_keys(retire).await.unwrap();
    assert_eq!(keys[0].state_at(retire), KeyState::Retired);
    assert_eq!(keys[1].state_at(retire), KeyState::Active);
    let later = store.signing_keys(delete).await.unwrap();
    assert_eq!(
        later.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["k2"]
    );
    assert_eq!(audit_len(&*store).await, 3);
}

/// Sessions need a card of their person; they end once.
pub async fn oidc_sessions<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa, card) = seeded(h).await;
    assert!(matches!(
        store.add_session(&session(1, &hsa, "0000")).await,
        Err(StoreError::NotFound(Missing::Card))
    ));
    assert!(matches!(
        store.add_session(&session(1, "SE1-other", &card)).await,
        Err(StoreError::Refused(_))
    ));
    let s = session(1, &hsa, &card);
    store.add_session(&s).await.unwrap();
    assert!(matches!(
        store.add_session(&s).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(store.session(&[1; 32]).await.unwrap(), Some(s.clone()));
    assert!(s.is_live(T0));
    assert!(!s.is_live(s.expires_at));
    let at = T0 + Duration::minutes(1);
    assert!(store.end_session(&[1; 32], at).await.unwrap());
    assert!(!store.end_session(&[1; 32], at).await.unwrap());
    assert!(!store.end_session(&[2; 32], at).await.unwrap());
    let ended = store.session(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(at));
    assert!(!ended.is_live(at));
}

async fn with_client_and_session<H: Harness>(h: &H) -> (Arc<H::Store>, String)
where
    H::Store: OidcStore,
{
    let (store, hsa, card) = seeded(h).await;
    store
        .add_client(&client("rp"), &event("oidc.client.add", "rp"))
        .await
        .unwrap();
    store.add_session(&session(1, &hsa, &card)).await.unwrap();
    (store, hsa)
}

/// A code is redeemed once; the second redemption revokes the grant and is audited.
pub async fn oidc_codes_redeem_once<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    let c = code(9, "rp", &hsa, 1);
    store.add_code(&c).await.unwrap();
    assert!(matches!(
        store.add_code(&c).await,
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        store.add_code(&code(10, "unknown", &hsa, 1)).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(store.code(&[9; 32]).await.unwrap(), Some(c.clone()));
    let g = grant("g1", "rp", &hsa, 1);
    let before = audit_len(&*store).await;
    let at = T0 + Duration::seconds(5);
    let Redemption::Redeemed(redeemed) = store
        .redeem_code(&[9; 32], at, &g, &revoke_event("g1"))
        .await
        .unwrap()
    else {
        panic!("the first redemption must win")
    };
    assert_eq!(redeemed.redeemed_at, Some(at));
    assert_eq!(redeemed.grant_id.as_deref(), Some("g1"));
    assert_eq!(store.code(&[9; 32]).await.unwrap(), Some(*redeemed));
    assert_eq!(store.grant_by_jti("jti-g1").await.unwrap(), Some(g));
    assert_eq!(audit_len(&*store).await, before);
    let again = store
        .redeem_code(
            &[9; 32],
            at,
            &grant("g2", "rp", &hsa, 1),
            &revoke_event("g1"),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        Redemption::Reused {
            grant_id: "g1".into()
        }
    );
    let revoked = store.grant_by_jti("jti-g1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert_eq!(store.grant_by_jti("jti-g2").await.unwrap(), None);
    assert_eq!(audit_len(&*store).await, before + 1);
    // A third use still answers Reused, without a second revocation entry.
    let third = store
        .redeem_code(
            &[9; 32],
            at,
            &grant("g3", "rp", &hsa, 1),
            &revoke_event("g1"),
        )
        .await
        .unwrap();
    assert!(matches!(third, Redemption::Reused { .. }));
    assert_eq!(audit_len(&*store).await, before + 1);
}

/// Expired and unknown codes change nothing.
pub async fn oidc_expired_and_unknown_codes<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    let c = code(9, "rp", &hsa, 1);
    store.add_code(&c).await.unwrap();
    let g = grant("g1", "rp", &hsa, 1);
    let late = store
        .redeem_code(&[9; 32], c.expires_at, &g, &revoke_event("g1"))
        .await
        .unwrap();
    assert_eq!(late, Redemption::Expired);
    let unknown = store
        .redeem_code(&[8; 32], T0, &g, &revoke_event("g1"))
        .await
        .unwrap();
    assert_eq!(unknown, Redemption::Unknown);
    assert_eq!(store.grant_by_jti("jti-g1").await.unwrap(), None);
    assert_eq!(store.code(&[9; 32]).await.unwrap(), Some(c));
}

/// Sixteen redemptions of one code at once: exactly one wins, and the grant ends revoked.
pub async fn oidc_race_for_one_code<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    store.add_code(&code(9, "rp", &hsa, 1)).await.unwrap();
    let redeemed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&redeemed);
    let (wins, losses) = race(&store, 16, move |s, i| {
        let g = grant(&format!("g{i}"), "rp", &hsa, 1);
        let counter = Arc::clone(&counter);
        async move {
            match s
                .redeem_code(&[9; 32], T0, &g, &revoke_event(&g.grant_id))
                .await?
            {
                Redemption::Redeemed(_) => {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
                Redemption::Reused { .. } => Ok(()),
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert_eq!((wins, losses.len()), (16, 0));
    assert_eq!(redeemed.load(std::sync::atomic::Ordering::SeqCst), 1);
    let code = store.code(&[9; 32]).await.unwrap().unwrap();
    let winner = code.grant_id.unwrap();
    let grant = store
        .grant_by_jti(&format!("jti-{winner}"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.revoked_at.is_some(),
        "the losers' reuse revokes the winner's grant"
    );
}

/// Ending a card's sessions revokes their grants, leaves other cards alone, and is audited.
pub async fn oidc_card_revocation_ends_sessions<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    let card = store.session(&[1; 32]).await.unwrap().unwrap().card_number;
    store
        .add_card(&super::card("9752000099", &hsa), &event("card.add", "x"))
        .await
        .unwrap();
    store.add_session(&session(2, &hsa, &card)).await.unwrap();
    store
        .add_session(&session(3, &hsa, "9752000099"))
        .await
        .unwrap();
    store.add_code(&code(9, "rp", &hsa, 1)).await.unwrap();
    let g = grant("g1", "rp", &hsa, 1);
    store
        .redeem_code(&[9; 32], T0, &g, &revoke_event("g1"))
        .await
        .unwrap();
    let before = audit_len(&*store).await;
    let at = T0 + Duration::minutes(2);
    let ended = store
        .end_sessions_of_card(&card, at, &event("oidc.sessions.end", &card))
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert!(!store.session(&[1; 32]).await.unwrap().unwrap().is_live(at));
    assert!(!store.session(&[2; 32]).await.unwrap().unwrap().is_live(at));
    assert!(store.session(&[3; 32]).await.unwrap().unwrap().is_live(at));
    assert_eq!(
        store
            .grant_by_jti("jti-g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at)
    );
    assert_eq!(audit_len(&*store).await, before + 1);
}

/// Revoking a grant works once and is audited once.
pub async fn oidc_revoke_grant<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    store.add_code(&code(9, "rp", &hsa, 1)).await.unwrap();
    store
        .redeem_code(
            &[9; 32],
            T0,
            &grant("g1", "rp", &hsa, 1),
            &revoke_event("g1"),
        )
        .await
        .unwrap();
    let before = audit_len(&*store).await;
    assert!(
        store
            .revoke_grant("g1", T0, &revoke_event("g1"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_grant("g1", T0, &revoke_event("g1"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_grant("none", T0, &revoke_event("none"))
            .await
            .unwrap()
    );
    assert_eq!(audit_len(&*store).await, before + 1);
}

/// Purging forgets what expired, but keeps a redeemed code while its grant lives.
pub async fn oidc_purge<H: Harness>(h: &H)
where
    H::Store: OidcStore,
{
    let (store, hsa) = with_client_and_session(h).await;
    store.add_code(&code(9, "rp", &hsa, 1)).await.unwrap();
    store.add_code(&code(8, "rp", &hsa, 1)).await.unwrap();
    let mut g = grant("g1", "rp", &hsa, 1);
    g.expires_at = T0 + Duration::minutes(10);
    store
        .redeem_code(&[9; 32], T0, &g, &revoke_event("g1"))
        .await
        .unwrap();
    // Both codes expired; the unredeemed one goes, the redeemed one stays for reuse detection.
    assert_eq!(
        store.purge_oidc(T0 + Duration::minutes(2)).await.unwrap(),
        1
    );
    assert!(store.code(&[9; 32]).await.unwrap().is_some());
    assert!(store.code(&[8; 32]).await.unwrap().is_none());
    // After the grant expired, code and grant go; the session after its expiry.
    assert_eq!(
        store.purge_oidc(T0 + Duration::minutes(11)).await.unwrap(),
        2
    );
    assert_eq!(store.grant_by_jti("jti-g1").await.unwrap(), None);
    assert_eq!(store.purge_oidc(T0 + Duration::hours(9)).await.unwrap(), 1);
    assert_eq!(store.session(&[1; 32]).await.unwrap(), None);
}
