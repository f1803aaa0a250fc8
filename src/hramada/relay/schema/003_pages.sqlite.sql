-- Hramada relay schema, version 3 (SQLite): key-block pages.
-- The boxes of a large suite-2 key block, as content-addressed blobs of one mailbox
-- (relay-api-v1.md, "Key-block pages"). A page is *pending* from its upload until an
-- append names it; a rotation drops every page still pending (what an abandoned
-- rotation left behind). Nothing records which entry named a page, nor when.

CREATE TABLE pages (
    mid     INTEGER NOT NULL,
    digest  BLOB NOT NULL,                  -- hash32("hramada:v1:key-block-page", page)
    pending INTEGER NOT NULL,               -- 1 until an append names it
    page    BLOB NOT NULL,
    PRIMARY KEY (mid, digest)
) WITHOUT ROWID;
