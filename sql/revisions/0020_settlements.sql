-- Revision 0020: settlement, delivery and bankruptcy events (docs/datasets.md, "settlements").
--
--   settlements                    every event of get_last_settlements_by_currency, every field: the
--                                  documented ones as columns (double precision, as sent), any other
--                                  in extra (jsonb). A bankruptcy names no instrument: instrument_name ''.
--   delivery_price_disagreements   view: the days whose delivery price in index_prices (source
--                                  'delivery', get_delivery_prices) differs from the index_price of that
--                                  day's delivery events, or whose delivery events disagree among
--                                  themselves. Empty when both sources agree. A day present on one side
--                                  only is a coverage question, not a disagreement: not listed.
CREATE TABLE settlements (
    ts                   timestamptz      NOT NULL,
    currency             text             NOT NULL,
    type                 text             NOT NULL CHECK (type IN ('settlement', 'delivery', 'bankruptcy')),
    instrument_name      text             NOT NULL,
    index_price          double precision,
    mark_price           double precision,
    position             double precision,
    profit_loss          double precision,
    session_profit_loss  double precision,
    funding              double precision,
    funded               double precision,
    socialized           double precision,
    session_bankruptcy   double precision,
    session_tax          double precision,
    session_tax_rate     double precision,
    extra                jsonb,
    UNIQUE (currency, type, instrument_name, ts)
);
-- ~50 events a day per currency: a year per chunk
SELECT create_hypertable('settlements', by_range('ts', INTERVAL '365 days'));
ALTER TABLE settlements SET (timescaledb.compress, timescaledb.compress_segmentby = 'currency',
                             timescaledb.compress_orderby = 'ts DESC, type, instrument_name');

-- the delivery day of an event: 08:00 UTC of its date (events come a few ms after 08:00)
CREATE VIEW delivery_price_disagreements AS
WITH deliveries AS (
    SELECT currency,
           date_trunc('day', ts - INTERVAL '8 hours', 'UTC') + INTERVAL '8 hours' AS ts,
           min(index_price)  AS settlement_index_min,
           max(index_price)  AS settlement_index_max,
           count(*)          AS deliveries
    FROM settlements
    WHERE type = 'delivery' AND index_price IS NOT NULL
    GROUP BY 1, 2
)
SELECT d.ts,
       d.currency,
       p.index_name,
       p.price                AS delivery_price,
       d.settlement_index_min,
       d.settlement_index_max,
       d.deliveries,
       CASE WHEN d.settlement_index_min <> d.settlement_index_max
            THEN 'delivery events disagree among themselves'
            ELSE 'index_prices delivery price differs from the delivery events'
       END                    AS problem
FROM deliveries d
JOIN index_prices p ON p.index_name = lower(d.currency) || '_usd' AND p.source = 'delivery' AND p.ts = d.ts
WHERE d.settlement_index_min <> d.settlement_index_max
   OR p.price::float8 <> d.settlement_index_min;

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('settlements', '30 days', NULL, 'settlement, delivery and bankruptcy events: kept forever');
SELECT add_compression_policy('settlements', compress_after => INTERVAL '30 days');
