-- My Pages' sessions (crates/store/src/portal.rs). Times are Unix microseconds.
-- The session id is never stored, only its SHA-256; the tokens only sealed under a key
-- derived from the session id (which only the browser's cookie holds).

CREATE TABLE portal_sessions (
    id_sha256        BLOB PRIMARY KEY CHECK (length(id_sha256) = 32),
    subject          TEXT NOT NULL,       -- the ID token's `sub`
    hsa_id           TEXT,                -- `employeeHsaId`, when the provider sent it
    card_number      TEXT,                -- the card the login was made with, when known
    auth_time        INTEGER,
    sealed_tokens    BLOB NOT NULL,       -- AES-256-GCM, key derived from the session id
    tokens_expire_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);
