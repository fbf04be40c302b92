-- Signing-certificate fetches (crates/store/src/enroll.rs). Times are Unix microseconds.

-- The enrollSign order that holds a card (one at a time), until when.
CREATE TABLE card_enrollments (
    card_number TEXT PRIMARY KEY REFERENCES cards (card_number),
    order_ref   TEXT NOT NULL,
    until       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The counted steps (management-key responses) of each enrollSign order.
CREATE TABLE enrollment_steps (
    order_ref TEXT PRIMARY KEY,
    steps     INTEGER NOT NULL CHECK (steps >= 0)
) STRICT, WITHOUT ROWID;

-- Certificates the card holder's app confirmed written to their card. An issued signing
-- certificate without a row here is issued but not (yet) on the card: resumable.
CREATE TABLE certificate_deliveries (
    serial       BLOB PRIMARY KEY REFERENCES certificates (serial),
    card_number  TEXT NOT NULL,
    order_ref    TEXT NOT NULL,
    delivered_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
