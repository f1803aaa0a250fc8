-- Hramada relay schema, version 1 (SQLite).
-- Only what clients send (ids, capability hashes, ciphertexts) and what the relay
-- must keep to enforce the API (heads, cursors, entry hashes, retirements, drop state).
-- No clock times, no client addresses.

CREATE TABLE mailboxes (
    mid       INTEGER PRIMARY KEY,          -- internal row number
    id        BLOB NOT NULL UNIQUE,         -- 16 bytes, chosen by the client
    log_seq   INTEGER NOT NULL DEFAULT 0,   -- log head
    log_hash  BLOB NOT NULL,                -- entry hash of the head (32 zero bytes if empty)
    item_head INTEGER NOT NULL DEFAULT 0,   -- highest item cursor
    drop_head INTEGER NOT NULL DEFAULT 0    -- highest drop-message cursor
);

CREATE TABLE caps (
    mid        INTEGER NOT NULL REFERENCES mailboxes (mid),
    cap_hash   BLOB NOT NULL,               -- cap_hash(capability), never the capability
    retired_at INTEGER,                     -- NULL = current; else the seq that retired it
    PRIMARY KEY (mid, cap_hash)
) WITHOUT ROWID;

CREATE TABLE entries (
    mid        INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    prev       BLOB NOT NULL,
    hash       BLOB NOT NULL,               -- entry_hash(mailbox, seq, prev, ciphertext)
    ciphertext BLOB NOT NULL,
    UNIQUE (mid, seq)
);

CREATE TABLE items (
    mid        INTEGER NOT NULL,
    cursor     INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    UNIQUE (mid, cursor)
);

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
    UNIQUE (mid, cursor)
);

CREATE INDEX drop_messages_by_drop ON drop_messages (drop_id, cursor);
