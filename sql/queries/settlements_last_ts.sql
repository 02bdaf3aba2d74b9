-- The live settlements job: the newest stored event of a currency.
SELECT ts FROM settlements WHERE currency = %(currency)s ORDER BY ts DESC LIMIT 1
