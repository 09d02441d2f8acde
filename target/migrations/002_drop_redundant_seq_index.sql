-- seq comes from a sequence, so it is unique already; its UNIQUE index only
-- cost every insert one more index update. Pagination uses messages_channel_seq.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_seq_key;
