-- Room features the original left as exercises.

-- Whispers: a private message takes its place in the room's sequence like any other (so ids
-- stay gap-free for storage), but only its sender and recipient may ever read it.
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('chat', 'gif', 'system', 'whisper'));
ALTER TABLE messages ADD COLUMN to_user_id UUID;
ALTER TABLE messages ADD COLUMN to_user_name TEXT;

-- Users the owner kicked: they may not take a seat again for as long as the room exists.
CREATE TABLE room_bans (
    room_id   UUID        NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   UUID        NOT NULL,
    banned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
