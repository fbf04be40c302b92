-- Revocation publishing (crates/store/src/revocation.rs). Times are Unix microseconds.

-- One row: what server nodes compare with what they cached.
CREATE TABLE revocation_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    -- Moves with every revocation (the triggers below), in the revoking transaction.
    revocations   INTEGER NOT NULL CHECK (revocations >= 0),
    -- The highest CRL number handed out.
    crl_allocated INTEGER NOT NULL CHECK (crl_allocated >= 0),
    -- The highest CRL number recorded (0: none yet).
    crl_latest    INTEGER NOT NULL CHECK (crl_latest >= 0 AND crl_latest <= crl_allocated)
) STRICT;
INSERT INTO revocation_state (id, revocations, crl_allocated, crl_latest) VALUES (1, 0, 0, 0);

-- Every way a certificate becomes revoked, whichever program or statement does it (eid serve,
-- eid admin on the same file, a revoke path written later), moves the marker in the same
-- transaction.
CREATE TRIGGER revocation_marker_on_update
AFTER UPDATE OF revoked_at, revocation_reason ON certificates
WHEN NEW.revoked_at IS NOT OLD.revoked_at OR NEW.revocation_reason IS NOT OLD.revocation_reason
BEGIN
    UPDATE revocation_state SET revocations = revocations + 1 WHERE id = 1;
END;
CREATE TRIGGER revocation_marker_on_insert
AFTER INSERT ON certificates
WHEN NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE revocation_state SET revocations = revocations + 1 WHERE id = 1;
END;

-- The revoked certificates, for the CRL, without a scan of every certificate.
CREATE INDEX certificates_revoked_by_expiry ON certificates (not_after)
    WHERE revoked_at IS NOT NULL;

-- The CRLs issued, by number.
CREATE TABLE crls (
    number      INTEGER PRIMARY KEY CHECK (number > 0),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der         BLOB NOT NULL,
    CHECK (next_update > this_update)
) STRICT;

-- The delegated OCSP responder certificates (id-kp-OCSPSigning, ocsp-nocheck), each with its
-- key sealed under a key derived from the key-encryption key. The one with the highest
-- generation is current; a successor names the one it replaces.
CREATE TABLE ocsp_responders (
    serial     BLOB PRIMARY KEY,
    generation INTEGER NOT NULL UNIQUE CHECK (generation > 0),
    der        BLOB NOT NULL,
    sealed_key BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    replaces   BLOB REFERENCES ocsp_responders (serial),
    CHECK (not_after > not_before)
) STRICT;
