-- Revision 0018 down: drop the roll-ups of the trade tape (their refresh policies go with them).
DELETE FROM storage_settings WHERE relation IN ('trades_1m', 'trades_1h', 'liquidations_1h', 'block_trades_1h');
DROP VIEW IF EXISTS block_trades;
DROP MATERIALIZED VIEW IF EXISTS block_trades_1h;
DROP MATERIALIZED VIEW IF EXISTS liquidations_1h;
DROP MATERIALIZED VIEW IF EXISTS trades_1h;
DROP MATERIALIZED VIEW IF EXISTS trades_1m;
