DROP VIEW IF EXISTS funding_rates_daily;
