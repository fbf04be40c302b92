-- OpenID Connect provider state (crates/store/src/oidc.rs). Times are Unix microseconds.
-- Secrets, codes and session ids are never stored: only their SHA-256 hashes.

CREATE TABLE oidc_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_sha256             BLOB CHECK (secret_sha256 IS NULL OR length(secret_sha256) = 32),
    redirect_uris             TEXT NOT NULL,  -- JSON array of exact URIs
    post_logout_redirect_uris TEXT NOT NULL,  -- JSON array of exact URIs
    scopes                    TEXT NOT NULL,  -- JSON array
    pkce_optional             INTEGER NOT NULL CHECK (pkce_optional IN (0, 1)),
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('ES256', 'RS256')),
    created_at                INTEGER NOT NULL,
    -- Only a confidential client may skip PKCE.
    CHECK (pkce_optional = 0 OR secret_sha256 IS NOT NULL)
) STRICT;

CREATE TABLE oidc_signing_keys (
    kid                   TEXT PRIMARY KEY,
    alg                   TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    encrypted_private_key BLOB NOT NULL,   -- AES-256-GCM under the key-encryption key
    public_jwk            TEXT NOT NULL,   -- JSON object, public members only
    created_at            INTEGER NOT NULL,
    active_from           INTEGER NOT NULL,
    retire_at             INTEGER,
    delete_at             INTEGER
) STRICT;

CREATE TABLE oidc_sessions (
    id_sha256   BLOB PRIMARY KEY CHECK (length(id_sha256) = 32),
    hsa_id      TEXT NOT NULL REFERENCES persons (hsa_id),
    card_number TEXT NOT NULL REFERENCES cards (card_number),
    auth_time   INTEGER NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,                -- JSON array
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX oidc_sessions_by_card ON oidc_sessions (card_number);
CREATE INDEX oidc_sessions_by_expiry ON oidc_sessions (expires_at);

CREATE TABLE oidc_codes (
    code_sha256           BLOB PRIMARY KEY CHECK (length(code_sha256) = 32),
    client_id             TEXT NOT NULL REFERENCES oidc_clients (client_id),
    redirect_uri          TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    scope                 TEXT NOT NULL,
    session_sha256        BLOB NOT NULL,
    hsa_id                TEXT NOT NULL,
    auth_time             INTEGER NOT NULL,
    acr                   TEXT NOT NULL,
    amr                   TEXT NOT NULL,      -- JSON array
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    redeemed_at           INTEGER,
    grant_id              TEXT,               -- set when redeemed
    CHECK ((redeemed_at IS NULL) = (grant_id IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX oidc_codes_by_expiry ON oidc_codes (expires_at);

CREATE TABLE oidc_grants (
    grant_id       TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients (client_id),
    hsa_id         TEXT NOT NULL,
    session_sha256 BLOB NOT NULL,
    scope          TEXT NOT NULL,
    access_jti     TEXT NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
) STRICT;
CREATE INDEX oidc_grants_by_session ON oidc_grants (session_sha256);
CREATE INDEX oidc_grants_by_expiry ON oidc_grants (expires_at);
