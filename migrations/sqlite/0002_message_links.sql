-- The links of each message as sent: a click token names a delivery and a link's position, and the
-- tracking server redirects only to the URL stored here, never to one taken from the request.
CREATE TABLE message_links (
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id),
    position     INTEGER NOT NULL,
    url          TEXT NOT NULL,
    PRIMARY KEY (delivery_id, position)
) STRICT, WITHOUT ROWID;

-- Rate limits are seeded from recent send times.
CREATE INDEX deliveries_sent_at ON deliveries (sent_at) WHERE status = 'sent';

-- Opens, clicks and unsubscribes are found by the delivery they are about (stats, the tracking server).
CREATE INDEX events_delivery ON events (delivery_id, kind) WHERE delivery_id IS NOT NULL;
