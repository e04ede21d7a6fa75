-- Vendor-call trends (GET /admin/v1/trends) read the attempts of the last
-- minutes to a day: a range on started_at, which without this index is a
-- scan of every call ever made.
CREATE INDEX attempts_started_idx ON attempts (started_at);
