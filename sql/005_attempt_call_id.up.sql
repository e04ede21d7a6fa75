-- Each vendor call gets an id when it is made, so that recording it is
-- idempotent: a commit whose acknowledgement was lost (connection cut
-- during COMMIT) and is retried records the call once, and counts it once.
ALTER TABLE attempts ADD COLUMN call_id uuid;
CREATE UNIQUE INDEX attempts_call_id_key ON attempts (call_id);
