//! [`OidcStore`] on PostgreSQL: clients, signing keys, login sessions, codes and grants.
//!
//! Each write is one serializable transaction ([`transaction!`](super::transaction)). Code
//! redemption locks the code's row first, so of concurrent redemptions of one code (on any
//! node) exactly one sees it unredeemed; the others wait, fail to serialize, and run again
//! to find it redeemed. Never stores a secret, code or session id in the clear (the records
//! carry hashes only).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{Failure, PostgresStore, all, execute, query_opt, read, rows, transaction};
use crate::model::AuditEvent;
use crate::oidc::*;
use crate::{Missing, StoreError, StoreResult};

fn corrupt(what: String) -> Failure {
    Failure::Store(StoreError::Corrupt(what))
}

fn json_list(row: &Row, col: usize) -> Result<Vec<String>, Failure> {
    let text: String = rows::get(row, col)?;
    serde_json::from_str(&text)
        .map_err(|_| corrupt(format!("column {col} is not a JSON list of strings")))
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn alg(row: &Row, col: usize) -> Result<SigningAlg, Failure> {
    let text: String = rows::get(row, col)?;
    SigningAlg::parse(&text).ok_or_else(|| corrupt(format!("unknown algorithm `{text}`")))
}

/// A violated constraint (unique, foreign key, check, not null) is a refusal; anything else
/// stays the database's error (a serialization failure is then retried).
fn refused(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Failure {
    move |e| match e.as_db_error() {
        Some(db) if db.code().code().starts_with("23") => {
            Failure::Store(StoreError::Refused(what.into()))
        }
        _ => Failure::Db(e),
    }
}

const CLIENT: &str = "client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, \
                      scopes, pkce_optional, id_token_alg, created_at";

fn client(row: &Row) -> Result<OidcClient, Failure> {
    let secret: Option<Vec<u8>> = rows::get(row, 2)?;
    let auth = match secret {
        None => ClientAuth::Public,
        Some(bytes) => ClientAuth::Confidential {
            secret_sha256: bytes
                .try_into()
                .map_err(|_| corrupt("a client's secret hash is not 32 bytes".into()))?,
        },
    };
    Ok(OidcClient {
        client_id: rows::get(row, 0)?,
        name: rows::get(row, 1)?,
        auth,
        redirect_uris: json_list(row, 3)?,
        post_logout_redirect_uris: json_list(row, 4)?,
        scopes: json_list(row, 5)?,
        pkce_optional: rows::get(row, 6)?,
        id_token_alg: alg(row, 7)?,
        created_at: rows::get(row, 8)?,
    })
}

const KEY: &str =
    "kid, alg, encrypted_private_key, public_jwk, created_at, active_from, retire_at, delete_at";

fn signing_key(row: &Row) -> Result<SigningKeyRecord, Failure> {
    Ok(SigningKeyRecord {
        kid: rows::get(row, 0)?,
        alg: alg(row, 1)?,
        encrypted_private_key: rows::get(row, 2)?,
        public_jwk: rows::get(row, 3)?,
        created_at: rows::get(row, 4)?,
        active_from: rows::get(row, 5)?,
        retire_at: rows::get(row, 6)?,
        delete_at: rows::get(row, 7)?,
    })
}

const SESSION: &str = "id_sha256, hsa_id, card_number, auth_time, acr, amr, expires_at, ended_at";

fn session(row: &Row) -> Result<LoginSession, Failure> {
    Ok(LoginSession {
        id_sha256: rows::hash32(row, 0)?,
        hsa_id: rows::get(row, 1)?,
        card_number: rows::get(row, 2)?,
        auth_time: rows::get(row, 3)?,
        acr: rows::get(row, 4)?,
        amr: json_list(row, 5)?,
        expires_at: rows::get(row, 6)?,
        ended_at: rows::get(row, 7)?,
    })
}

const CODE: &str = "code_sha256, client_id, redirect_uri, code_challenge, code_challenge_method, \
                    nonce, scope, session_sha256, hsa_id, auth_time, acr, amr, issued_at, \
                    expires_at, redeemed_at, grant_id";

fn code(row: &Row) -> Result<AuthCodeRecord, Failure> {
    Ok(AuthCodeRecord {
        code_sha256: rows::hash32(row, 0)?,
        client_id: rows::get(row, 1)?,
        redirect_uri: rows::get(row, 2)?,
        code_challenge: rows::get(row, 3)?,
        code_challenge_method: rows::get(row, 4)?,
        nonce: rows::get(row, 5)?,
        scope: rows::get(row, 6)?,
        session_sha256: rows::hash32(row, 7)?,
        hsa_id: rows::get(row, 8)?,
        auth_time: rows::get(row, 9)?,
        acr: rows::get(row, 10)?,
        amr: json_list(row, 11)?,
        issued_at: rows::get(row, 12)?,
        expires_at: rows::get(row, 13)?,
        redeemed_at: rows::get(row, 14)?,
        grant_id: rows::get(row, 15)?,
    })
}

const GRANT: &str = "grant_id, client_id, hsa_id, session_sha256, scope, access_jti, created_at, \
                     expires_at, revoked_at";

fn grant(row: &Row) -> Result<GrantRecord, Failure> {
    Ok(GrantRecord {
        grant_id: rows::get(row, 0)?,
        client_id: rows::get(row, 1)?,
        hsa_id: rows::get(row, 2)?,
        session_sha256: rows::hash32(row, 3)?,
        scope: rows::get(row, 4)?,
        access_jti: rows::get(row, 5)?,
        created_at: rows::get(row, 6)?,
        expires_at: rows::get(row, 7)?,
        revoked_at: rows::get(row, 8)?,
    })
}

fn check_client(client: &OidcClient) -> StoreResult<()> {
    if client.pkce_optional && client.auth == ClientAuth::Public {
        return Err(StoreError::Refused(
            "a public client can never skip PKCE".into(),
        ));
    }
    Ok(())
}

/// Inserts a client; with `replace`, one of the same id is replaced (every column).
async fn insert_client<C: GenericClient>(
    tx: &C,
    c: &OidcClient,
    replace: bool,
) -> Result<(), Failure> {
    let secret = match &c.auth {
        ClientAuth::Confidential { secret_sha256 } => Some(secret_sha256.to_vec()),
        ClientAuth::Public => None,
    };
    let on_conflict = if replace {
        " ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
         secret_sha256 = excluded.secret_sha256, redirect_uris = excluded.redirect_uris, \
         post_logout_redirect_uris = excluded.post_logout_redirect_uris, \
         scopes = excluded.scopes, pkce_optional = excluded.pkce_optional, \
         id_token_alg = excluded.id_token_alg, created_at = excluded.created_at"
    } else {
        ""
    };
    execute(
        tx,
        &format!(
            "INSERT INTO oidc_clients ({CLIENT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)\
             {on_conflict}"
        ),
        &[
            &c.client_id,
            &c.name,
            &secret,
            &to_json(&c.redirect_uris),
            &to_json(&c.post_logout_redirect_uris),
            &to_json(&c.scopes),
            &c.pkce_optional,
            &c.id_token_alg.as_str(),
            &rows::truncate(c.created_at),
        ],
    )
    .await
    .map_err(refused("a client with this id already exists"))?;
    Ok(())
}

/// Revokes a grant unless it is revoked already; whether this call revoked it.
async fn revoke<C: GenericClient>(
    tx: &C,
    grant_id: &str,
    at: OffsetDateTime,
) -> Result<bool, Failure> {
    let changed = execute(
        tx,
        "UPDATE oidc_grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        &[&grant_id, &rows::truncate(at)],
    )
    .await?;
    Ok(changed == 1)
}

#[async_trait]
impl OidcStore for PostgresStore {
    async fn add_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()> {
        check_client(client)?;
        transaction!(self, |tx| {
            insert_client(&tx, client, false).await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn put_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()> {
        check_client(client)?;
        transaction!(self, |tx| {
            insert_client(&tx, client, true).await?;
            self.append(&tx, audit).await?;
        })
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<OidcClient>> {
        read!(self, |c| {
            query_opt(
                c,
                &format!("SELECT {CLIENT} FROM oidc_clients WHERE client_id = $1"),
                &[&client_id],
            )
            .await?
            .map(|r| client(&r))
            .transpose()
        })
    }

    async fn clients(&self) -> StoreResult<Vec<OidcClient>> {
        read!(self, |c| {
            all(
                c,
                &format!("SELECT {CLIENT} FROM oidc_clients ORDER BY client_id"),
                &[],
                client,
            )
            .await
        })
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, audit: &AuditEvent) -> StoreResult<()> {
        let k = key;
        transaction!(self, |tx| {
            execute(
                &tx,
                &format!(
                    "INSERT INTO oidc_signing_keys ({KEY}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                &[
                    &k.kid,
                    &k.alg.as_str(),
                    &k.encrypted_private_key,
                    &k.public_jwk,
                    &rows::truncate(k.created_at),
                    &rows::truncate(k.active_from),
                    &k.retire_at.map(rows::truncate),
                    &k.delete_at.map(rows::truncate),
                ],
            )
            .await
            .map_err(refused("a signing key with this kid already exists"))?;
            self.append(&tx, audit).await?;
        })
    }

    async fn retire_signing_key(
        &self,
        kid: &str,
        retire_at: OffsetDateTime,
        delete_at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        transaction!(self, |tx| {
            let changed = execute(
                &tx,
                "UPDATE oidc_signing_keys SET retire_at = $2, delete_at = $3 WHERE kid = $1",
                &[&kid, &rows::truncate(retire_at), &rows::truncate(delete_at)],
            )
            .await?;
            if changed != 1 {
                return Err(StoreError::Refused("no signing key with this kid".into()).into());
            }
            self.append(&tx, audit).await?;
        })
    }

    async fn signing_keys(&self, now: OffsetDateTime) -> StoreResult<Vec<SigningKeyRecord>> {
        let now = rows::truncate(now);
        read!(self, |c| {
            all(
                c,
                &format!(
                    "SELECT {KEY} FROM oidc_signing_keys WHERE delete_at IS NULL OR delete_at > $1 \
                     ORDER BY active_from, created_at, kid"
                ),
                &[&now],
                signing_key,
            )
            .await
        })
    }

    async fn add_session(&self, s: &LoginSession) -> StoreResult<()> {
        transaction!(self, unaudited, |tx| {
            let holder = query_opt(
                &tx,
                "SELECT holder FROM cards WHERE card_number = $1",
                &[&s.card_number],
            )
            .await?;
            match holder {
                None => return Err(StoreError::NotFound(Missing::Card).into()),
                Some(row) if rows::get::<String>(&row, 0)? != s.hsa_id => {
                    return Err(StoreError::Refused(
                        "the card does not belong to this person".into(),
                    )
                    .into());
                }
                Some(_) => {}
            }
            execute(
                &tx,
                &format!(
                    "INSERT INTO oidc_sessions ({SESSION}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                &[
                    &s.id_sha256.as_slice(),
                    &s.hsa_id,
                    &s.card_number,
                    &rows::truncate(s.auth_time),
                    &s.acr,
                    &to_json(&s.amr),
                    &rows::truncate(s.expires_at),
                    &s.ended_at.map(rows::truncate),
                ],
            )
            .await
            .map_err(refused("a session with this id already exists"))?;
        })
    }

    async fn session(&self, id_sha256: &[u8; 32]) -> StoreResult<Option<LoginSession>> {
        read!(self, |c| session_row(c, id_sha256).await)
    }

    async fn end_session(&self, id_sha256: &[u8; 32], at: OffsetDateTime) -> StoreResult<bool> {
        transaction!(self, unaudited, |tx| {
            let changed = execute(
                &tx,
                "UPDATE oidc_sessions SET ended_at = $2 WHERE id_sha256 = $1 AND ended_at IS NULL",
                &[&id_sha256.as_slice(), &rows::truncate(at)],
            )
            .await?;
            changed == 1
        })
    }

    async fn end_sessions_of_card(
        &self,
        card_number: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<u64> {
        let at = rows::truncate(at);
        transaction!(self, |tx| {
            let live = "SELECT id_sha256 FROM oidc_sessions WHERE card_number = $1 \
                        AND ended_at IS NULL AND expires_at > $2";
            // The grants first: they are found through the sessions that are about to end.
            execute(
                &tx,
                &format!(
                    "UPDATE oidc_grants SET revoked_at = $2 WHERE revoked_at IS NULL \
                     AND session_sha256 IN ({live})"
                ),
                &[&card_number, &at],
            )
            .await?;
            let ended = execute(
                &tx,
                &format!("UPDATE oidc_sessions SET ended_at = $2 WHERE id_sha256 IN ({live})"),
                &[&card_number, &at],
            )
            .await?;
            self.append(&tx, audit).await?;
            ended
        })
    }

    async fn add_code(&self, c: &AuthCodeRecord) -> StoreResult<()> {
        transaction!(self, unaudited, |tx| {
            execute(
                &tx,
                &format!(
                    "INSERT INTO oidc_codes ({CODE}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ),
                &[
                    &c.code_sha256.as_slice(),
                    &c.client_id,
                    &c.redirect_uri,
                    &c.code_challenge,
                    &c.code_challenge_method,
                    &c.nonce,
                    &c.scope,
                    &c.session_sha256.as_slice(),
                    &c.hsa_id,
                    &rows::truncate(c.auth_time),
                    &c.acr,
                    &to_json(&c.amr),
                    &rows::truncate(c.issued_at),
                    &rows::truncate(c.expires_at),
                    &c.redeemed_at.map(rows::truncate),
                    &c.grant_id,
                ],
            )
            .await
            .map_err(refused("the code exists or its client is unknown"))?;
        })
    }

    async fn code(&self, code_sha256: &[u8; 32]) -> StoreResult<Option<AuthCodeRecord>> {
        read!(self, |c| code_row(c, code_sha256, "").await)
    }

    async fn code_with_session(
        &self,
        code_sha256: &[u8; 32],
    ) -> StoreResult<Option<(AuthCodeRecord, Option<LoginSession>)>> {
        read!(self, |c| {
            let Some(record) = code_row(c, code_sha256, "").await? else {
                return Ok(None);
            };
            let login = session_row(c, &record.session_sha256).await?;
            Ok(Some((record, login)))
        })
    }

    async fn redeem_code(
        &self,
        code_sha256: &[u8; 32],
        now: OffsetDateTime,
        g: &GrantRecord,
        audit: &AuditEvent,
    ) -> StoreResult<Redemption> {
        let stored_now = rows::truncate(now);
        transaction!(self, |tx| {
            // The row lock makes concurrent redemptions of this code wait for each other;
            // one that waited for a redemption fails to serialize and runs again.
            let found = code_row(&tx, code_sha256, " FOR UPDATE").await?;
            match found {
                None => Redemption::Unknown,
                Some(AuthCodeRecord {
                    grant_id: Some(grant_id),
                    ..
                }) => {
                    if revoke(&tx, &grant_id, now).await? {
                        self.append(&tx, audit).await?;
                    }
                    Redemption::Reused { grant_id }
                }
                Some(found) if found.expires_at <= now => Redemption::Expired,
                Some(mut found) => {
                    execute(
                        &tx,
                        &format!(
                            "INSERT INTO oidc_grants ({GRANT}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                        ),
                        &[
                            &g.grant_id,
                            &g.client_id,
                            &g.hsa_id,
                            &g.session_sha256.as_slice(),
                            &g.scope,
                            &g.access_jti,
                            &rows::truncate(g.created_at),
                            &rows::truncate(g.expires_at),
                            &g.revoked_at.map(rows::truncate),
                        ],
                    )
                    .await
                    .map_err(refused("a grant with this id or access token id exists"))?;
                    execute(
                        &tx,
                        "UPDATE oidc_codes SET redeemed_at = $2, grant_id = $3 \
                         WHERE code_sha256 = $1",
                        &[&code_sha256.as_slice(), &stored_now, &g.grant_id],
                    )
                    .await?;
                    found.redeemed_at = Some(stored_now);
                    found.grant_id = Some(g.grant_id.clone());
                    Redemption::Redeemed(Box::new(found))
                }
            }
        })
    }

    async fn grant_by_jti(&self, access_jti: &str) -> StoreResult<Option<GrantRecord>> {
        read!(self, |c| {
            query_opt(
                c,
                &format!("SELECT {GRANT} FROM oidc_grants WHERE access_jti = $1"),
                &[&access_jti],
            )
            .await?
            .map(|r| grant(&r))
            .transpose()
        })
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        transaction!(self, |tx| {
            let revoked = revoke(&tx, grant_id, at).await?;
            if revoked {
                self.append(&tx, audit).await?;
            }
            revoked
        })
    }

    async fn purge_oidc(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now = rows::truncate(now);
        transaction!(self, unaudited, |tx| {
            let mut gone = 0;
            for sql in [
                "DELETE FROM oidc_codes WHERE expires_at < $1 AND (grant_id IS NULL OR \
                 grant_id NOT IN (SELECT grant_id FROM oidc_grants WHERE expires_at >= $1))",
                "DELETE FROM oidc_grants WHERE expires_at < $1 AND grant_id NOT IN \
                 (SELECT grant_id FROM oidc_codes WHERE grant_id IS NOT NULL)",
                "DELETE FROM oidc_sessions WHERE expires_at < $1",
                "DELETE FROM oidc_signing_keys WHERE delete_at IS NOT NULL AND delete_at < $1",
            ] {
                gone += execute(&tx, sql, &[&now]).await?;
            }
            gone
        })
    }
}

async fn session_row<C: GenericClient>(
    c: &C,
    id_sha256: &[u8; 32],
) -> Result<Option<LoginSession>, Failure> {
    query_opt(
        c,
        &format!("SELECT {SESSION} FROM oidc_sessions WHERE id_sha256 = $1"),
        &[&id_sha256.as_slice()],
    )
    .await?
    .map(|r| session(&r))
    .transpose()
}

/// The code with this hash; `lock` is appended to the query (`" FOR UPDATE"` or nothing).
async fn code_row<C: GenericClient>(
    c: &C,
    code_sha256: &[u8; 32],
    lock: &str,
) -> Result<Option<AuthCodeRecord>, Failure> {
    query_opt(
        c,
        &format!("SELECT {CODE} FROM oidc_codes WHERE code_sha256 = $1{lock}"),
        &[&code_sha256.as_slice()],
    )
    .await?
    .map(|r| code(&r))
    .transpose()
}

#[cfg(test)]
mod tests {
    crate::oidc_store_conformance_tests!(super::super::tests::PostgresHarness::default());
}
