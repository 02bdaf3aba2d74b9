-- Active options of the given currencies (the exchange-greeks sweep when no chain snapshot is at hand).
SELECT instrument_name FROM instruments
WHERE kind = 'option' AND base_currency = ANY(%(currencies)s)
  AND expiration_timestamp > now() AND coalesce(is_active, true)
ORDER BY instrument_name
