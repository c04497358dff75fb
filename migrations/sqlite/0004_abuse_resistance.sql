-- See migrations/postgres/0006 for the why.
ALTER TABLE seats ADD COLUMN address TEXT;

CREATE TABLE room_address_bans (
    room_id   TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    address   TEXT    NOT NULL,
    banned_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, address)
) WITHOUT ROWID;

CREATE INDEX messages_by_gif ON messages (gif_id) WHERE gif_id IS NOT NULL;

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
