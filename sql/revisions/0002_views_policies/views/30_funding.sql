-- Daily funding of the perpetuals (see docs/sql-layer.md).
--   ts                   the UTC day
--   hours                hourly funding rows stored that day (24 when complete)
--   funding              sum of interest_1h over the day (a fraction: 0.0003 = 0.03 %)
--   annualized_funding   average hourly rate * 24 * 365 (= funding * 365 on a complete day)
--   annualized_pct       the same in percent
CREATE VIEW funding_rates_daily AS
SELECT time_bucket(INTERVAL '1 day', ts)          AS ts,
       instrument_name,
       count(*)                                   AS hours,
       sum(interest_1h)                           AS funding,
       avg(interest_1h) * 24 * 365                AS annualized_funding,
       avg(interest_1h) * 24 * 365 * 100          AS annualized_pct
FROM funding_rates
GROUP BY 1, 2;
