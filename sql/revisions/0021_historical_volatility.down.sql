-- Revision 0021 down: drop the historical volatility (the compression policy goes with the table).
DELETE FROM storage_settings WHERE relation = 'historical_volatility';
DROP VIEW IF EXISTS historical_volatility_gaps;
DROP TABLE IF EXISTS historical_volatility;
