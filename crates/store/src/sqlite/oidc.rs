//! [`OidcStore`] on SQLite: clients, signing keys, login sessions, codes and grants
//! (migration `0003_oidc.sql`).
//!
//! Code redemption is one write job: the writer thread runs jobs one after another, so of two
//! concurrent redemptions of one code exactly one sees it unredeemed. Never stores a secret,
//! code or session id in the clear (the records carry hashes only).

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::rows::micros;
use super::{SqliteStore, append, backend_error, exec, read_error, select_row};
use crate::model::AuditEvent;
use crate::oidc::*;
use crate::{Missing, StoreError, StoreResult};

fn from_micros(col: usize, us: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Integer, Box::new(e)))
}

fn time_at(row: &Row<'_>, col: usize) -> rusqlite::Result<OffsetDateTime> {
    from_micros(col, row.get(col)?)
}

fn opt_time_at(row: &Row<'_>, col: usize) -> rusqlite::Result<Option<OffsetDateTime>> {
    row.get::<_, Option<i64>>(col)?
        .map(|us| from_micros(col, us))
        .transpose()
}

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, what.to_owned().into())
}

fn json_list(row: &Row<'_>, col: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|_| bad(col, "not a JSON list of strings"))
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn hash32(row: &Row<'_>, col: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(col)?;
    bytes
        .try_into()
        .map_err(|_| rusqlite::Error::FromSqlConversionFailure(col, Type::Blob, "hash".into()))
}

fn alg(row: &Row<'_>, col: usize) -> rusqlite::Result<SigningAlg> {
    let text: String = row.get(col)?;
    SigningAlg::parse(&text).ok_or_else(|| bad(col, "unknown algorithm"))
}

/// A unique or foreign-key violation is a refusal; anything else a backend error.
fn refused(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
            StoreError::Refused(what.into())
        } else {
            backend_error(e)
        }
    }
}

const CLIENT: &str = "client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, \
                      scopes, pkce_optional, id_token_alg, created_at";

fn client(row: &Row<'_>) -> rusqlite::Result<OidcClient> {
    let secret: Option<Vec<u8>> = row.get(2)?;
    let auth = match secret {
        None => ClientAuth::Public,
        Some(bytes) => ClientAuth::Confidential {
            secret_sha256: bytes.try_into().map_err(|_| bad(2, "secret hash"))?,
        },
    };
    Ok(OidcClient {
        client_id: row.get(0)?,
        name: row.get(1)?,
        auth,
        redirect_uris: json_list(row, 3)?,
        post_logout_redirect_uris: json_list(row, 4)?,
        scopes: json_list(row, 5)?,
        pkce_optional: row.get(6)?,
        id_token_alg: alg(row, 7)?,
        created_at: time_at(row, 8)?,
    })
}

const KEY: &str =
    "kid, alg, encrypted_private_key, public_jwk, created_at, active_from, retire_at, delete_at";

fn signing_key(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        alg: alg(row, 1)?,
        encrypted_private_key: row.get(2)?,
        public_jwk: row.get(3)?,
        created_at: time_at(row, 4)?,
        active_from: time_at(row, 5)?,
        retire_at: opt_time_at(row, 6)?,
        delete_at: opt_time_at(row, 7)?,
    })
}

const SESSION: &str = "id_sha256, hsa_id, card_number, auth_time, acr, amr, expires_at, ended_at";

fn session(row: &Row<'_>) -> rusqlite::Result<LoginSession> {
    Ok(LoginSession {
        id_sha256: hash32(row, 0)?,
        hsa_id: row.get(1)?,
        card_number: row.get(2)?,
        auth_time: time_at(row, 3)?,
        acr: row.get(4)?,
        amr: json_list(row, 5)?,
        expires_at: time_at(row, 6)?,
        ended_at: opt_time_at(row, 7)?,
    })
}

const CODE: &str = "code_sha256, client_id, redirect_uri, code_challenge, code_challenge_method, \
                    nonce, scope, session_sha256, hsa_id, auth_time, acr, amr, issued_at, \
                    expires_at, redeemed_at, grant_id";

fn code(row: &Row<'_>) -> rusqlite::Result<AuthCodeRecord> {
    Ok(AuthCodeRecord {
        code_sha256: hash32(row, 0)?,
        client_id: row.get(1)?,
        redirect_uri: row.get(2)?,
        code_challenge: row.get(3)?,
        code_challenge_method: row.get(4)?,
        nonce: row.get(5)?,
        scope: row.get(6)?,
        session_sha256: hash32(row, 7)?,
        hsa_id: row.get(8)?,
        auth_time: time_at(row, 9)?,
        acr: row.get(10)?,
        amr: json_list(row, 11)?,
        issued_at: time_at(row, 12)?,
        expires_at: time_at(row, 13)?,
        redeemed_at: opt_time_at(row, 14)?,
        grant_id: row.get(15)?,
    })
}

const GRANT: &str = "grant_id, client_id, hsa_id, session_sha256, scope, access_jti, created_at, \
                     expires_at, revoked_at";

fn grant(row: &Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        grant_id: row.get(0)?,
        client_id: row.get(1)?,
        hsa_id: row.get(2)?,
        session_sha256: hash32(row, 3)?,
        scope: row.get(4)?,
        access_jti: row.get(5)?,
        created_at: time_at(row, 6)?,
        expires_at: time_at(row, 7)?,
        revoked_at: opt_time_at(row, 8)?,
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

fn insert_client(conn: &Connection, c: &OidcClient, replace: bool) -> StoreResult<()> {
    let secret = match &c.auth {
        ClientAuth::Confidential { secret_sha256 } => Some(secret_sha256.to_vec()),
        ClientAuth::Public => None,
    };
    let verb = if replace {
        "INSERT OR REPLACE"
    } else {
        "INSERT"
    };
    exec(
        conn,
        &format!("{verb} INTO oidc_clients ({CLIENT}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            c.client_id,
            c.name,
            secret,
            to_json(&c.redirect_uris),
            to_json(&c.post_logout_redirect_uris),
            to_json(&c.scopes),
            c.pkce_optional,
            c.id_token_alg.as_str(),
            micros(c.created_at)
        ],
    )
    .map_err(refused("a client with this id already exists"))
    .map(drop)
}

fn revoke(conn: &Connection, grant_id: &str, at: OffsetDateTime) -> StoreResult<bool> {
    exec(
        conn,
        "UPDATE oidc_grants SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
        params![grant_id, micros(at)],
    )
    .map(|n| n == 1)
    .map_err(backend_error)
}

#[async_trait]
impl OidcStore for SqliteStore {
    async fn add_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()> {
        check_client(client)?;
        let (c, audit) = (client.clone(), audit.clone());
        self.write(move |conn| {
            insert_client(conn, &c, false)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn put_client(&self, client: &OidcClient, audit: &AuditEvent) -> StoreResult<()> {
        check_client(client)?;
        let (c, audit) = (client.clone(), audit.clone());
        self.write(move |conn| {
            insert_client(conn, &c, true)?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<OidcClient>> {
        let key = client_id.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {CLIENT} FROM oidc_clients WHERE client_id = ?1"),
                [key],
                client,
            )
            .optional()
        })
        .await
    }

    async fn clients(&self) -> StoreResult<Vec<OidcClient>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {CLIENT} FROM oidc_clients ORDER BY client_id"
            ))?
            .query_map([], client)?
            .collect()
        })
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, audit: &AuditEvent) -> StoreResult<()> {
        let (k, audit) = (key.clone(), audit.clone());
        self.write(move |conn| {
            exec(
                conn,
                &format!(
                    "INSERT INTO oidc_signing_keys ({KEY}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    k.kid,
                    k.alg.as_str(),
                    k.encrypted_private_key,
                    k.public_jwk,
                    micros(k.created_at),
                    micros(k.active_from),
                    k.retire_at.map(micros),
                    k.delete_at.map(micros)
                ],
            )
            .map_err(refused("a signing key with this kid already exists"))?;
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn retire_signing_key(
        &self,
        kid: &str,
        retire_at: OffsetDateTime,
        delete_at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (kid, audit) = (kid.to_owned(), audit.clone());
        self.write(move |conn| {
            let changed = exec(
                conn,
                "UPDATE oidc_signing_keys SET retire_at = ?2, delete_at = ?3 WHERE kid = ?1",
                params![kid, micros(retire_at), micros(delete_at)],
            )
            .map_err(backend_error)?;
            if changed != 1 {
                return Err(StoreError::Refused("no signing key with this kid".into()));
            }
            append(conn, &audit).map(drop)
        })
        .await
    }

    async fn signing_keys(&self, now: OffsetDateTime) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {KEY} FROM oidc_signing_keys WHERE delete_at IS NULL OR delete_at > ?1 \
                 ORDER BY active_from, created_at, kid"
            ))?
            .query_map([micros(now)], signing_key)?
            .collect()
        })
        .await
    }

    async fn add_session(&self, s: &LoginSession) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |conn| {
            let holder: Option<String> = select_row(
                conn,
                "SELECT holder FROM cards WHERE card_number = ?1",
                [&s.card_number],
                |r| r.get(0),
            )
            .optional()
            .map_err(read_error)?;
            match holder {
                None => return Err(StoreError::NotFound(Missing::Card)),
                Some(holder) if holder != s.hsa_id => {
                    return Err(StoreError::Refused(
                        "the card does not belong to this person".into(),
                    ));
                }
                Some(_) => {}
            }
            exec(
                conn,
                &format!(
                    "INSERT INTO oidc_sessions ({SESSION}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    s.id_sha256.as_slice(),
                    s.hsa_id,
                    s.card_number,
                    micros(s.auth_time),
                    s.acr,
                    to_json(&s.amr),
                    micros(s.expires_at),
                    s.ended_at.map(micros)
                ],
            )
            .map_err(refused("a session with this id already exists"))
            .map(drop)
        })
        .await
    }

    async fn session(&self, id_sha256: &[u8; 32]) -> StoreResult<Option<LoginSession>> {
        let key = id_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {SESSION} FROM oidc_sessions WHERE id_sha256 = ?1"),
                [key],
                session,
            )
            .optional()
        })
        .await
    }

    async fn end_session(&self, id_sha256: &[u8; 32], at: OffsetDateTime) -> StoreResult<bool> {
        let key = id_sha256.to_vec();
        self.write(move |conn| {
            exec(
                conn,
                "UPDATE oidc_sessions SET ended_at = ?2 WHERE id_sha256 = ?1 AND ended_at IS NULL",
                params![key, micros(at)],
            )
            .map(|n| n == 1)
            .map_err(backend_error)
        })
        .await
    }

    async fn end_sessions_of_card(
        &self,
        card_number: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<u64> {
        let (card, audit) = (card_number.to_owned(), audit.clone());
        self.write(move |conn| {
            let live = "SELECT id_sha256 FROM oidc_sessions WHERE card_number = ?1 \
                        AND ended_at IS NULL AND expires_at > ?2";
            exec(
                conn,
                &format!(
                    "UPDATE oidc_grants SET revoked_at = ?2 WHERE revoked_at IS NULL \
                     AND session_sha256 IN ({live})"
                ),
                params![card, micros(at)],
            )
            .map_err(backend_error)?;
            let ended = exec(
                conn,
                &format!("UPDATE oidc_sessions SET ended_at = ?2 WHERE id_sha256 IN ({live})"),
                params![card, micros(at)],
            )
            .map_err(backend_error)?;
            append(conn, &audit)?;
            Ok(ended as u64)
        })
        .await
    }

    async fn add_code(&self, c: &AuthCodeRecord) -> StoreResult<()> {
        let c = c.clone();
        self.write(move |conn| {
            exec(
                conn,
                &format!(
                    "INSERT INTO oidc_codes ({CODE}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ),
                params![
                    c.code_sha256.as_slice(),
                    c.client_id,
                    c.redirect_uri,
                    c.code_challenge,
                    c.code_challenge_method,
                    c.nonce,
                    c.scope,
                    c.session_sha256.as_slice(),
                    c.hsa_id,
                    micros(c.auth_time),
                    c.acr,
                    to_json(&c.amr),
                    micros(c.issued_at),
                    micros(c.expires_at),
                    c.redeemed_at.map(micros),
                    c.grant_id
                ],
            )
            .map_err(refused("the code exists or its client is unknown"))
            .map(drop)
        })
        .await
    }

    async fn code(&self, code_sha256: &[u8; 32]) -> StoreResult<Option<AuthCodeRecord>> {
        let key = code_sha256.to_vec();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {CODE} FROM oidc_codes WHERE code_sha256 = ?1"),
                [key],
                code,
            )
            .optional()
        })
        .await
    }

    async fn code_with_session(
        &self,
        code_sha256: &[u8; 32],
    ) -> StoreResult<Option<(AuthCodeRecord, Option<LoginSession>)>> {
        let key = code_sha256.to_vec();
        self.read(move |conn| {
            let Some(record) = select_row(
                conn,
                &format!("SELECT {CODE} FROM oidc_codes WHERE code_sha256 = ?1"),
                [key],
                code,
            )
            .optional()?
            else {
                return Ok(None);
            };
            let login = select_row(
                conn,
                &format!("SELECT {SESSION} FROM oidc_sessions WHERE id_sha256 = ?1"),
                [record.session_sha256.as_slice()],
                session,
            )
            .optional()?;
            Ok(Some((record, login)))
        })
        .await
    }

    async fn redeem_code(
        &self,
        code_sha256: &[u8; 32],
        now: OffsetDateTime,
        g: &GrantRecord,
        audit: &AuditEvent,
    ) -> StoreResult<Redemption> {
        let (key, g, audit) = (code_sha256.to_vec(), g.clone(), audit.clone());
        self.write(move |conn| {
            let found = select_row(
                conn,
                &format!("SELECT {CODE} FROM oidc_codes WHERE code_sha256 = ?1"),
                [&key],
                code,
            )
            .optional()
            .map_err(read_error)?;
            let Some(mut found) = found else {
                return Ok(Redemption::Unknown);
            };
            if let Some(grant_id) = found.grant_id.clone() {
                if revoke(conn, &grant_id, now)? {
                    append(conn, &audit)?;
                }
                return Ok(Redemption::Reused { grant_id });
            }
            if found.expires_at <= now {
                return Ok(Redemption::Expired);
            }
            exec(
                conn,
                &format!(
                    "INSERT INTO oidc_grants ({GRANT}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    g.grant_id,
                    g.client_id,
                    g.hsa_id,
                    g.session_sha256.as_slice(),
                    g.scope,
                    g.access_jti,
                    micros(g.created_at),
                    micros(g.expires_at),
                    g.revoked_at.map(micros)
                ],
            )
            .map_err(refused("a grant with this id or access token id exists"))?;
            exec(
                conn,
                "UPDATE oidc_codes SET redeemed_at = ?2, grant_id = ?3 WHERE code_sha256 = ?1",
                params![key, micros(now), g.grant_id],
            )
            .map_err(backend_error)?;
            found.redeemed_at = Some(now);
            found.grant_id = Some(g.grant_id);
            Ok(Redemption::Redeemed(Box::new(found)))
        })
        .await
    }

    async fn grant_by_jti(&self, access_jti: &str) -> StoreResult<Option<GrantRecord>> {
        let key = access_jti.to_owned();
        self.read(move |conn| {
            select_row(
                conn,
                &format!("SELECT {GRANT} FROM oidc_grants WHERE access_jti = ?1"),
                [key],
                grant,
            )
            .optional()
        })
        .await
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let (key, audit) = (grant_id.to_owned(), audit.clone());
        self.write(move |conn| {
            let revoked = revoke(conn, &key, at)?;
            if revoked {
                append(conn, &audit)?;
            }
            Ok(revoked)
        })
        .await
    }

    async fn purge_oidc(&self, now: OffsetDateTime) -> StoreResult<u64> {
        self.write(move |conn| {
            let now = micros(now);
            let mut gone = 0;
            for sql in [
                "DELETE FROM oidc_codes WHERE expires_at < ?1 AND (grant_id IS NULL OR \
                 grant_id NOT IN (SELECT grant_id FROM oidc_grants WHERE expires_at >= ?1))",
                "DELETE FROM oidc_grants WHERE expires_at < ?1 AND grant_id NOT IN \
                 (SELECT grant_id FROM oidc_codes WHERE grant_id IS NOT NULL)",
                "DELETE FROM oidc_sessions WHERE expires_at < ?1",
                "DELETE FROM oidc_signing_keys WHERE delete_at IS NOT NULL AND delete_at < ?1",
            ] {
                gone += exec(conn, sql, [now]).map_err(backend_error)? as u64;
            }
            Ok(gone)
        })
        .await
    }
}
