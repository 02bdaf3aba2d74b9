-- Does a trades window hold option candles of its currency yet (no: COPY the candles built from its
-- trades straight into options_ohlcv)? The window's instrument is its checkpoint name ('BTC option').
SELECT EXISTS (SELECT 1 FROM {table}
               WHERE instrument_name LIKE split_part(%(instrument)s, ' ', 1) || '-%%'
                 AND ts BETWEEN %(start)s AND %(end)s)
