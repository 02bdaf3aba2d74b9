-- One rejected payload; never a data row.
INSERT INTO quarantine (dataset, instrument_name, reason, payload) VALUES (%s, %s, %s, %s)
