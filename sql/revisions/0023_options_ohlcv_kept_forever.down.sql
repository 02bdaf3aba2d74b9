-- Revision 0023 down: options_ohlcv keeps 90 days again (its retention job comes back).
UPDATE storage_settings
SET retain_for = INTERVAL '90 days', note = 'raw option candles; options_ohlcv_1h stays'
WHERE relation = 'options_ohlcv';
UPDATE storage_settings
SET note = 'must look back less than options_ohlcv.retain_for'
WHERE relation = 'options_ohlcv_1h';

SELECT * FROM apply_storage_policies();
