-- System messages record which membership change they announce (joined, left, kicked, owner,
-- renamed), so clients keep their member list current from the room's own gap-free sequence
-- instead of receiving the whole list again on every change (quadratic in a big room).
-- NULL for chats, GIFs, whispers, and system messages stored before this column existed.
ALTER TABLE messages ADD COLUMN member_change TEXT
    CHECK (member_change IN ('joined', 'left', 'kicked', 'owner', 'renamed'));
