-- A new enrollSign order supersedes the card's older unsigned ones in the transaction that
-- adds it (crates/store/src/enroll.rs, EnrollStore::start_enrollment): they are found by
-- card. Only enrollSign orders carry a card number, so login orders stay out of the index.
CREATE INDEX orders_by_card ON orders (card_number, state) WHERE card_number IS NOT NULL;
