-- The aggregates were refreshed over these recorded ranges (exactly the ids read: a range recorded
-- meanwhile stays for the next refresh).
DELETE FROM cagg_refresh_pending WHERE id = ANY(%(ids)s)
