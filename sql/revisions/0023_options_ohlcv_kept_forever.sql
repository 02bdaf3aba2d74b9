-- Revision 0023: options_ohlcv is kept forever.
-- The trade backfill builds the candles of every option that ever traded, expired ones included, from
-- `trades` (kept forever): a 90-day retention on options_ohlcv dropped most of what it builds, the one
-- history of expired options no free tool offers. options_ohlcv_1h keeps its 7-day refresh window (older
-- candles a backfill stores are refreshed through cagg_refresh_pending). options_greeks keeps its 30 days.
UPDATE storage_settings
SET retain_for = NULL,
    note = 'option candles, the exchange''s and those built from trades: kept forever'
WHERE relation = 'options_ohlcv';
UPDATE storage_settings
SET note = 'hourly option candles; older buckets a backfill invalidates refresh through cagg_refresh_pending'
WHERE relation = 'options_ohlcv_1h';

-- the retention job goes (compression and refresh policies are recreated unchanged)
SELECT * FROM apply_storage_policies();
