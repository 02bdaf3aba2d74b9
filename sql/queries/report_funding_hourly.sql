-- `ingest report`, funding history: each perpetual's hourly funding over [%(since)s, %(until)s),
-- annualized like funding_rates_daily (interest_1h x 24 x 365, in percent).
SELECT ts, instrument_name, interest_1h * 24 * 365 * 100 AS annualized_pct
FROM funding_rates
WHERE ts >= %(since)s::timestamptz AND ts < %(until)s::timestamptz
ORDER BY instrument_name, ts
