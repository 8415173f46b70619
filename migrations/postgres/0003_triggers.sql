-- Triggered campaigns look every few seconds for events recorded since they last looked. recorded_at only
-- grows, so within a kind this index is appended to, and costs an import little.
CREATE INDEX events_kind_recorded ON events (kind, recorded_at);
