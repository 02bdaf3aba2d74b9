-- A rejected payload loaded from the live collector's spool, quarantined once: a spool file whose load
-- committed but which was not yet deleted (kill -9) is loaded again, and must not quarantine twice.
-- %(since)s bounds the search (the file's write time less some slack; received_at is indexed).
INSERT INTO quarantine (dataset, instrument_name, reason, payload)
SELECT %(dataset)s, %(instrument)s::text, %(reason)s, %(payload)s
WHERE NOT EXISTS (
    SELECT 1 FROM quarantine
    WHERE received_at >= %(since)s
      AND dataset = %(dataset)s
      AND instrument_name IS NOT DISTINCT FROM %(instrument)s::text
      AND reason = %(reason)s
      AND payload = %(payload)s
)
