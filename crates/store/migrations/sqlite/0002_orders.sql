-- Orders and the browser sessions that start them (docs/protocol.md). Raw tokens are never
-- stored: the autostart token, the app token, the browser session id and the return secret
-- are kept as SHA-256 hashes. Times are Unix microseconds.

CREATE TABLE orders (
    order_ref              TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'failed')),
    hint                   TEXT NOT NULL,
    autostart_token_sha256 BLOB NOT NULL UNIQUE CHECK (length(autostart_token_sha256) = 32),
    autostart_used         INTEGER NOT NULL CHECK (autostart_used IN (0, 1)),
    app_token_sha256       BLOB UNIQUE CHECK (length(app_token_sha256) = 32),
    qr_start_token         TEXT NOT NULL UNIQUE,
    qr_start_secret        TEXT NOT NULL,
    server_nonce           TEXT NOT NULL,
    browser_session_sha256 BLOB NOT NULL CHECK (length(browser_session_sha256) = 32),
    requester_id           TEXT NOT NULL,
    requester_name         TEXT NOT NULL,
    return_url             TEXT NOT NULL,
    text                   TEXT NOT NULL,
    card_number            TEXT,
    created_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL,
    purge_after            INTEGER NOT NULL,
    -- The card holder's verified signature (all or none).
    signed_at              INTEGER,
    signer_hsa_id          TEXT,
    signer_card_number     TEXT,
    signer_cert_serial     BLOB,
    signature              BLOB,
    approved_key_sha256    BLOB CHECK (length(approved_key_sha256) = 32),
    return_secret_sha256   BLOB CHECK (length(return_secret_sha256) = 32),
    returned               INTEGER NOT NULL CHECK (returned IN (0, 1)),
    CHECK ((signed_at IS NULL) = (signer_hsa_id IS NULL)
       AND (signed_at IS NULL) = (signer_card_number IS NULL)
       AND (signed_at IS NULL) = (signer_cert_serial IS NULL)
       AND (signed_at IS NULL) = (signature IS NULL)),
    CHECK (returned = 0 OR signed_at IS NOT NULL),
    CHECK (state <> 'complete' OR returned = 1)
) STRICT;
CREATE INDEX orders_by_purge ON orders (purge_after);

CREATE TABLE order_browser_sessions (
    id_sha256  BLOB PRIMARY KEY CHECK (length(id_sha256) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX order_browser_sessions_by_expiry ON order_browser_sessions (expires_at);
