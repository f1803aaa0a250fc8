-- Hramada relay schema, version 1 (SQLite).
-- Only what clients send (ids, capability hashes, ciphertexts) and what the relay
-- must keep to enforce the API (heads, cursors, entry hashes, retirements, drop state).
-- No clock times, no client addresses.
--
-- Nothing records the order of writes across mailboxes: a mailbox's internal key is
-- random, and records are kept in WITHOUT ROWID tables keyed by (mailbox, position),
-- so no row id counts writes relay-wide. A retired capability's position is sealed
-- under a pad only its holder can derive.

CREATE TABLE mailboxes (
    mid       INTEGER PRIMARY KEY,          -- random internal key (not a creation counter)
    id        BLOB NOT NULL UNIQUE,         -- 16 bytes, chosen by the client
    log_seq   INTEGER NOT NULL DEFAULT 0,   -- log head
    log_hash  BLOB NOT NULL,                -- entry hash of the head (32 zero bytes if empty)
    item_head INTEGER NOT NULL DEFAULT 0,   -- highest item cursor
    drop_head INTEGER NOT NULL DEFAULT 0    -- highest drop-message cursor
);

CREATE TABLE caps (
    mid        INTEGER NOT NULL REFERENCES mailboxes (mid),
    cap_hash   BLOB NOT NULL,               -- cap_hash(capability), never the capability
    retired    BLOB,                        -- NULL = current; else the retirement seq, sealed
    PRIMARY KEY (mid, cap_hash)
) WITHOUT ROWID;

CREATE TABLE entries (
    mid        INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    prev       BLOB NOT NULL,
    hash       BLOB NOT NULL,               -- entry_hash(mailbox, seq, prev, ciphertext)
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (mid, seq)
) WITHOUT ROWID;

CREATE TABLE items (
    mid        INTEGER NOT NULL,
    cursor     INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (mid, cursor)
) WITHOUT ROWID;

CREATE TABLE drops (
    id             BLOB PRIMARY KEY,        -- 16 bytes, chosen by the client
    mid            INTEGER NOT NULL,
    cap_hash       BLOB NOT NULL,
    closed         INTEGER NOT NULL DEFAULT 0,
    guest_messages INTEGER NOT NULL DEFAULT 0,
    used           INTEGER NOT NULL DEFAULT 0,  -- no more guest messages; still readable
    expires        INTEGER NOT NULL DEFAULT 0   -- Unix seconds after which guests may not post; 0: never
) WITHOUT ROWID;

CREATE TABLE drop_messages (
    mid        INTEGER NOT NULL,
    cursor     INTEGER NOT NULL,            -- per mailbox, shared by its drops
    drop_id    BLOB NOT NULL,
    from_guest INTEGER NOT NULL,
    message    BLOB NOT NULL,
    PRIMARY KEY (mid, cursor)
) WITHOUT ROWID;

CREATE INDEX drop_messages_by_drop ON drop_messages (drop_id, cursor);
