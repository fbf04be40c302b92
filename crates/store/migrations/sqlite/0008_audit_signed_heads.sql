-- Chain heads signed with the installation's audit key (crates/store/src/audit.rs). SQLite
-- has one chain, 'main'. Times are Unix microseconds.
CREATE TABLE audit_signed_heads (
    chain     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    hash      BLOB NOT NULL,
    signed_at INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
) STRICT, WITHOUT ROWID;
