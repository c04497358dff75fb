-- See migrations/postgres/0003 for the why.
ALTER TABLE messages ADD COLUMN member_change TEXT
    CHECK (member_change IN ('joined', 'left', 'kicked', 'owner', 'renamed'));
