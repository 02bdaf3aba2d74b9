-- The live trades job after a restart: the newest stored trade of a currency and stored kinds (the
-- newest chunk first, backwards along the time index: no scan of the tape).
SELECT ts FROM trades WHERE currency = %(currency)s AND kind = ANY(%(kinds)s) ORDER BY ts DESC LIMIT 1
