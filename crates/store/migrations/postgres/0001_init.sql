-- The PostgreSQL schema of the eid store: the same tables as SQLite's migrations 0001–0007,
-- with PostgreSQL's types (timestamptz, bytea, boolean) and the audit log in several hash
-- chains (one per node and lane, `docs/store.md`), so that writers on several nodes never
-- wait for one chain's head.

CREATE TABLE organisations (
    org_number             TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    signing_policy         TEXT NOT NULL CHECK (signing_policy IN ('disabled', 'self-service')),
    accept_unattested_keys BOOLEAN NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL
);

CREATE TABLE persons (
    hsa_id           TEXT PRIMARY KEY,
    given_name       TEXT NOT NULL,
    surname          TEXT NOT NULL,
    org_number       TEXT NOT NULL REFERENCES organisations (org_number),
    signing_entitled BOOLEAN NOT NULL,
    active           BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX persons_by_org ON persons (org_number);

CREATE TABLE cards (
    card_number    TEXT PRIMARY KEY,
    product_number TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('two-pin', 'one-pin')),
    state          TEXT NOT NULL CHECK (state IN ('not-activated', 'active', 'revoked', 'dead')),
    holder         TEXT NOT NULL REFERENCES persons (hsa_id),
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX cards_by_holder ON cards (holder);

CREATE TABLE certificates (
    serial            BYTEA PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('authentication', 'signing', 'attestation')),
    card_number       TEXT REFERENCES cards (card_number),
    hsa_id            TEXT,
    revoked_at        TIMESTAMPTZ,
    revocation_reason TEXT,
    der               BYTEA NOT NULL,
    not_before        TIMESTAMPTZ NOT NULL,
    not_after         TIMESTAMPTZ NOT NULL,
    public_key_sha256 BYTEA NOT NULL,
    issued_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT certificates_public_key_unique UNIQUE (public_key_sha256),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_by_card ON certificates (card_number);
CREATE INDEX certificates_by_person ON certificates (hsa_id);
CREATE INDEX certificates_revoked_by_expiry ON certificates (not_after)
    WHERE revoked_at IS NOT NULL;

CREATE TABLE used_once (
    purpose    TEXT NOT NULL,
    value      BYTEA NOT NULL,
    keep_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (purpose, value)
);
CREATE INDEX used_once_by_expiry ON used_once (keep_until);

-- The audit log: hash chains named `<node>.<lane>`. `id` orders entries across chains (in
-- the order they were written; a rolled-back write leaves a gap); `seq` is the position in
-- the entry's chain, from 1, without gaps.
CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    chain     TEXT NOT NULL,
    seq       BIGINT NOT NULL CHECK (seq > 0),
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL,
    UNIQUE (chain, seq)
);

-- Each chain's newest entry, updated in the transaction of each append. Partitioned by the
-- chain's lane: serializable transactions lock what they read by index page, and every head
-- fits on one page, so with one table every two concurrent appends would conflict and one
-- be run again; with a partition per lane only appends on the same lane of two nodes meet.
CREATE TABLE audit_heads (
    lane  INTEGER NOT NULL CHECK (lane >= 0 AND lane < 16),
    chain TEXT NOT NULL,
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (lane, chain)
) PARTITION BY LIST (lane);
CREATE TABLE audit_heads_0 PARTITION OF audit_heads FOR VALUES IN (0);
CREATE TABLE audit_heads_1 PARTITION OF audit_heads FOR VALUES IN (1);
CREATE TABLE audit_heads_2 PARTITION OF audit_heads FOR VALUES IN (2);
CREATE TABLE audit_heads_3 PARTITION OF audit_heads FOR VALUES IN (3);
CREATE TABLE audit_heads_4 PARTITION OF audit_heads FOR VALUES IN (4);
CREATE TABLE audit_heads_5 PARTITION OF audit_heads FOR VALUES IN (5);
CREATE TABLE audit_heads_6 PARTITION OF audit_heads FOR VALUES IN (6);
CREATE TABLE audit_heads_7 PARTITION OF audit_heads FOR VALUES IN (7);
CREATE TABLE audit_heads_8 PARTITION OF audit_heads FOR VALUES IN (8);
CREATE TABLE audit_heads_9 PARTITION OF audit_heads FOR VALUES IN (9);
CREATE TABLE audit_heads_10 PARTITION OF audit_heads FOR VALUES IN (10);
CREATE TABLE audit_heads_11 PARTITION OF audit_heads FOR VALUES IN (11);
CREATE TABLE audit_heads_12 PARTITION OF audit_heads FOR VALUES IN (12);
CREATE TABLE audit_heads_13 PARTITION OF audit_heads FOR VALUES IN (13);
CREATE TABLE audit_heads_14 PARTITION OF audit_heads FOR VALUES IN (14);
CREATE TABLE audit_heads_15 PARTITION OF audit_heads FOR VALUES IN (15);

-- Chain heads signed by a node with the installation's audit key (derived from the
-- key-encryption key, which the database does not hold): history up to a signed head
-- cannot be rewritten unseen by whoever administers the database alone.
CREATE TABLE audit_signed_heads (
    chain     TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- Append-only: the program never updates or deletes entries. (The database's owner can drop
-- this trigger; the hash chains and signed heads are what find such a change.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Orders and the browser sessions that start them (docs/protocol.md). Raw tokens are never
-- stored: only SHA-256 hashes.
CREATE TABLE orders (
    order_ref              TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'failed')),
    hint                   TEXT NOT NULL,
    autostart_token_sha256 BYTEA NOT NULL UNIQUE CHECK (length(autostart_token_sha256) = 32),
    autostart_used         BOOLEAN NOT NULL,
    app_token_sha256       BYTEA UNIQUE CHECK (length(app_token_sha256) = 32),
    qr_start_token         TEXT NOT NULL UNIQUE,
    qr_start_secret        TEXT NOT NULL,
    server_nonce           TEXT NOT NULL,
    browser_session_sha256 BYTEA NOT NULL CHECK (length(browser_session_sha256) = 32),
    requester_id           TEXT NOT NULL,
    requester_name         TEXT NOT NULL,
    return_url             TEXT NOT NULL,
    text                   TEXT NOT NULL,
    card_number            TEXT,
    created_at             TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ NOT NULL,
    purge_after            TIMESTAMPTZ NOT NULL,
    signed_at              TIMESTAMPTZ,
    signer_hsa_id          TEXT,
    signer_card_number     TEXT,
    signer_cert_serial     BYTEA,
    signature              BYTEA,
    approved_key_sha256    BYTEA CHECK (length(approved_key_sha256) = 32),
    return_secret_sha256   BYTEA CHECK (length(return_secret_sha256) = 32),
    returned               BOOLEAN NOT NULL,
    CHECK ((signed_at IS NULL) = (signer_hsa_id IS NULL)
       AND (signed_at IS NULL) = (signer_card_number IS NULL)
       AND (signed_at IS NULL) = (signer_cert_serial IS NULL)
       AND (signed_at IS NULL) = (signature IS NULL)),
    CHECK (NOT returned OR signed_at IS NOT NULL),
    CHECK (state <> 'complete' OR returned)
);
CREATE INDEX orders_by_purge ON orders (purge_after);
CREATE INDEX orders_by_card ON orders (card_number, state) WHERE card_number IS NOT NULL;

CREATE TABLE order_browser_sessions (
    id_sha256  BYTEA PRIMARY KEY CHECK (length(id_sha256) = 32),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_browser_sessions_by_expiry ON order_browser_sessions (expires_at);

-- OpenID Connect provider state. Secrets, codes and session ids only as SHA-256 hashes.
CREATE TABLE oidc_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_sha256             BYTEA CHECK (secret_sha256 IS NULL OR length(secret_sha256) = 32),
    redirect_uris             TEXT NOT NULL,  -- JSON array of exact URIs
    post_logout_redirect_uris TEXT NOT NULL,  -- JSON array of exact URIs
    scopes                    TEXT NOT NULL,  -- JSON array
    pkce_optional             BOOLEAN NOT NULL,
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('ES256', 'RS256')),
    created_at                TIMESTAMPTZ NOT NULL,
    CHECK (NOT pkce_optional OR secret_sha256 IS NOT NULL)
);

CREATE TABLE oidc_signing_keys (
    kid                   TEXT PRIMARY KEY,
    alg                   TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    encrypted_private_key BYTEA NOT NULL,  -- AES-256-GCM under the key-encryption key
    public_jwk            TEXT NOT NULL,   -- JSON object, public members only
    created_at            TIMESTAMPTZ NOT NULL,
    active_from           TIMESTAMPTZ NOT NULL,
    retire_at             TIMESTAMPTZ,
    delete_at             TIMESTAMPTZ
);

CREATE TABLE oidc_sessions (
    id_sha256   BYTEA PRIMARY KEY CHECK (length(id_sha256) = 32),
    hsa_id      TEXT NOT NULL REFERENCES persons (hsa_id),
    card_number TEXT NOT NULL REFERENCES cards (card_number),
    auth_time   TIMESTAMPTZ NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,                -- JSON array
    expires_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX oidc_sessions_by_card ON oidc_sessions (card_number);
CREATE INDEX oidc_sessions_by_expiry ON oidc_sessions (expires_at);

CREATE TABLE oidc_codes (
    code_sha256           BYTEA PRIMARY KEY CHECK (length(code_sha256) = 32),
    client_id             TEXT NOT NULL REFERENCES oidc_clients (client_id),
    redirect_uri          TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    scope                 TEXT NOT NULL,
    session_sha256        BYTEA NOT NULL,
    hsa_id                TEXT NOT NULL,
    auth_time             TIMESTAMPTZ NOT NULL,
    acr                   TEXT NOT NULL,
    amr                   TEXT NOT NULL,      -- JSON array
    issued_at             TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    redeemed_at           TIMESTAMPTZ,
    grant_id              TEXT,
    CHECK ((redeemed_at IS NULL) = (grant_id IS NULL))
);
CREATE INDEX oidc_codes_by_expiry ON oidc_codes (expires_at);

CREATE TABLE oidc_grants (
    grant_id       TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients (client_id),
    hsa_id         TEXT NOT NULL,
    session_sha256 BYTEA NOT NULL,
    scope          TEXT NOT NULL,
    access_jti     TEXT NOT NULL UNIQUE,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ
);
CREATE INDEX oidc_grants_by_session ON oidc_grants (session_sha256);
CREATE INDEX oidc_grants_by_expiry ON oidc_grants (expires_at);

-- My Pages' sessions: the id only as SHA-256, the tokens sealed under a key derived from it.
CREATE TABLE portal_sessions (
    id_sha256        BYTEA PRIMARY KEY CHECK (length(id_sha256) = 32),
    subject          TEXT NOT NULL,
    hsa_id           TEXT,
    card_number      TEXT,
    auth_time        TIMESTAMPTZ,
    sealed_tokens    BYTEA NOT NULL,
    tokens_expire_at TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

-- Signing-certificate fetches.
CREATE TABLE card_enrollments (
    card_number TEXT PRIMARY KEY REFERENCES cards (card_number),
    order_ref   TEXT NOT NULL,
    until       TIMESTAMPTZ NOT NULL
);

CREATE TABLE enrollment_steps (
    order_ref TEXT PRIMARY KEY,
    steps     INTEGER NOT NULL CHECK (steps >= 0)
);

CREATE TABLE certificate_deliveries (
    serial       BYTEA PRIMARY KEY REFERENCES certificates (serial),
    card_number  TEXT NOT NULL,
    order_ref    TEXT NOT NULL,
    delivered_at TIMESTAMPTZ NOT NULL
);

-- Revocation publishing: one row that nodes compare with what they cached.
CREATE TABLE revocation_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    revocations   BIGINT NOT NULL CHECK (revocations >= 0),
    crl_allocated BIGINT NOT NULL CHECK (crl_allocated >= 0),
    crl_latest    BIGINT NOT NULL CHECK (crl_latest >= 0 AND crl_latest <= crl_allocated)
);
INSERT INTO revocation_state (id, revocations, crl_allocated, crl_latest) VALUES (1, 0, 0, 0);

-- Every way a certificate becomes revoked moves the marker in the same transaction.
CREATE FUNCTION revocation_marker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE revocation_state SET revocations = revocations + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER revocation_marker_on_update
    AFTER UPDATE OF revoked_at, revocation_reason ON certificates
    FOR EACH ROW
    WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
          OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason)
    EXECUTE FUNCTION revocation_marker();
CREATE TRIGGER revocation_marker_on_insert
    AFTER INSERT ON certificates
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION revocation_marker();

CREATE TABLE crls (
    number      BIGINT PRIMARY KEY CHECK (number > 0),
    this_update TIMESTAMPTZ NOT NULL,
    next_update TIMESTAMPTZ NOT NULL,
    der         BYTEA NOT NULL,
    CHECK (next_update > this_update)
);

CREATE TABLE ocsp_responders (
    serial     BYTEA PRIMARY KEY,
    generation BIGINT NOT NULL UNIQUE CHECK (generation > 0),
    der        BYTEA NOT NULL,
    sealed_key BYTEA NOT NULL,
    not_before TIMESTAMPTZ NOT NULL,
    not_after  TIMESTAMPTZ NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    replaces   BYTEA REFERENCES ocsp_responders (serial),
    CHECK (not_after > not_before)
);
