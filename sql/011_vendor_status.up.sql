-- The vendor's own code or status as it wrote it ("1000", "20404",
-- "ThrottlingException", "OK", or "HTTP 503" where it gave only a status):
-- vendor_code holds it only where it is a number. Added without a default,
-- so that neither table is rewritten; rows written before have it null,
-- and the store reads them as vendor_code's text (see events.go), which
-- is what the vendor wrote for every row that has a code.
ALTER TABLE events ADD COLUMN vendor_status text;
ALTER TABLE attempts ADD COLUMN vendor_status text;
