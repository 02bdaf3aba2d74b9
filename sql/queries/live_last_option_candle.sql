-- The newest stored option candle (the option-trades cursor starts after it on a restart).
SELECT max(ts) FROM options_ohlcv WHERE ts > now() - INTERVAL '1 day'
