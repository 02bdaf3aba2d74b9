-- `ingest report`, funding history: the daily average of the annualized funding (funding_rates_daily)
-- of the UTC days that overlap [%(since)s, %(until)s).
SELECT ts, instrument_name, hours, annualized_pct
FROM funding_rates_daily
WHERE ts >= date_trunc('day', %(since)s::timestamptz, 'UTC') AND ts < %(until)s::timestamptz
ORDER BY instrument_name, ts
