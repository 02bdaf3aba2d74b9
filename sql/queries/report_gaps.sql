-- `ingest report`, open gaps: the runs of missing 1-minute candles (the ohlcv_gaps view) of the
-- instruments %(names)s that overlap [%(since)s, %(until)s), newest first, with the minutes missing
-- inside the range. The instrument filter reaches the view's scans (its window is partitioned by
-- instrument), so only those instruments' candles are read.
SELECT dataset, instrument_name, gap_start, gap_end, missing_minutes,
       (extract(epoch FROM least(gap_end, %(until)s::timestamptz)
                          - greatest(gap_start, %(since)s::timestamptz)) / 60)::bigint AS missing_in_range
FROM ohlcv_gaps
WHERE instrument_name = ANY(%(names)s::text[])
  AND gap_end > %(since)s::timestamptz AND gap_start < %(until)s::timestamptz
ORDER BY gap_start DESC, dataset, instrument_name
