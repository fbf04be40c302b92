-- Times are Unix microseconds (INTEGER). Hashes and serials are BLOBs.

CREATE TABLE organisations (
    org_number             TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    signing_policy         TEXT NOT NULL CHECK (signing_policy IN ('disabled', 'self-service')),
    accept_unattested_keys INTEGER NOT NULL CHECK (accept_unattested_keys IN (0, 1)),
    created_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE persons (
    hsa_id           TEXT PRIMARY KEY,
    given_name       TEXT NOT NULL,
    surname          TEXT NOT NULL,
    org_number       TEXT NOT NULL REFERENCES organisations (org_number),
    signing_entitled INTEGER NOT NULL CHECK (signing_entitled IN (0, 1)),
    active           INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX persons_by_org ON persons (org_number);

CREATE TABLE cards (
    card_number      TEXT PRIMARY KEY,
    product_number   TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('two-pin', 'one-pin')),
    state            TEXT NOT NULL CHECK (state IN ('not-activated', 'active', 'revoked', 'dead')),
    holder           TEXT NOT NULL REFERENCES persons (hsa_id),
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX cards_by_holder ON cards (holder);

CREATE TABLE certificates (
    serial            BLOB PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('authentication', 'signing', 'attestation')),
    card_number       TEXT REFERENCES cards (card_number),
    hsa_id            TEXT,
    revoked_at        INTEGER,
    revocation_reason TEXT,
    der               BLOB NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    public_key_sha256 BLOB NOT NULL UNIQUE,
    issued_at         INTEGER NOT NULL,
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
) STRICT;
CREATE INDEX certificates_by_card ON certificates (card_number);
CREATE INDEX certificates_by_person ON certificates (hsa_id);

CREATE TABLE used_once (
    purpose    TEXT NOT NULL,
    value      BLOB NOT NULL,
    keep_until INTEGER NOT NULL,
    PRIMARY KEY (purpose, value)
) STRICT, WITHOUT ROWID;
CREATE INDEX used_once_by_expiry ON used_once (keep_until);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;

-- The newest entry, updated in the same transaction as each append.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL
) STRICT;

-- Append-only: the program never updates or deletes entries. (Whoever owns the file can drop
-- these triggers; the hash chain is what finds such a change.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
