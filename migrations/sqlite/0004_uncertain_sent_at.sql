-- A delivery whose reply was lost after its final "." (uncertain) most likely arrived, so it counts
-- against the rate limits as a sent one does: both now carry in sent_at the time the relay had the
-- whole message, and only they have one. Uncertain deliveries recorded before this migration get
-- the time they were marked, which is when they were attempted. They get no email.sent event here
-- (its fingerprint is computed by rapport, not in SQL): the weekly cap misses them for a week.
UPDATE deliveries SET sent_at = updated_at WHERE status = 'uncertain' AND sent_at IS NULL;

-- Rate limits are seeded from recent send times, sent or uncertain: every delivery with a sent_at.
DROP INDEX deliveries_sent_at;
CREATE INDEX deliveries_sent_at ON deliveries (sent_at) WHERE sent_at IS NOT NULL;
