-- Hramada relay schema, version 2 (SQLite): each mailbox's admin set.
-- The relay-admin keys (Ed25519 public keys, derived per member and per group, used
-- for nothing else) of the group's admins, as the admins last told the relay. An
-- append that rotates the capability or changes this set must be signed by one of them.

CREATE TABLE admins (
    mid  INTEGER NOT NULL,
    key  BLOB NOT NULL,                     -- 32 bytes
    PRIMARY KEY (mid, key)
) WITHOUT ROWID;
